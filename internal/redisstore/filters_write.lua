-- filters_write.lua adds or removes one word-list entry and moves the lists' version on, in one
-- atomic step, so a server that sees the new version also sees the change.
--
-- KEYS[1]   the entries (hash: id → JSON)
-- KEYS[2]   the version (string counter, moved on by ARGV[#ARGV], a random step: see
--           randomVersionStep)
-- ARGV[1]   "add" or "del"
-- ARGV[2]   the entry id
-- add:  ARGV[3] the entry's JSON, ARGV[4] the most entries the lists may hold, ARGV[5] the most
--       regex entries they may hold when the entry is one, "0" otherwise
-- del:  KEYS[3] the call's mark, ARGV[3] its lifetime in seconds: set when the entry goes, so a
--       call the Redis client resends after losing its reply answers as the first did
--
-- ARGV[#ARGV] the step the version moves by
--
-- Returns {"new", json} (added), {"old", json} (an entry with that id exists; nothing changed),
-- {"full"} (no room), {"full-regex"} (no room for another regex entry), {"deleted"} or
-- {"missing"}.
if ARGV[1] == "add" then
  local old = redis.call("HGET", KEYS[1], ARGV[2])
  if old then
    return {"old", old}
  end
  if redis.call("HLEN", KEYS[1]) >= tonumber(ARGV[4]) then
    return {"full"}
  end
  local maxRegex = tonumber(ARGV[5])
  if maxRegex > 0 then
    -- Entries are JSON as redisstore encodes them: "kind" comes right after "list", and a
    -- quote inside a value is escaped, so this finds the regex entries only.
    local n = 0
    for _, v in ipairs(redis.call("HVALS", KEYS[1])) do
      if string.find(v, '"kind":6,', 1, true) then
        n = n + 1
      end
    end
    if n >= maxRegex then
      return {"full-regex"}
    end
  end
  redis.call("HSET", KEYS[1], ARGV[2], ARGV[3])
  redis.call("INCRBY", KEYS[2], ARGV[#ARGV])
  return {"new", ARGV[3]}
end
if redis.call("HDEL", KEYS[1], ARGV[2]) == 0 then
  if redis.call("EXISTS", KEYS[3]) == 1 then
    return {"deleted"}
  end
  return {"missing"}
end
redis.call("INCRBY", KEYS[2], ARGV[#ARGV])
redis.call("SET", KEYS[3], "1", "EX", ARGV[3])
return {"deleted"}
