-- filters_write.lua adds or removes one word-list entry and moves the lists' version on, in one
-- atomic step, so a server that sees the new version also sees the change. The change is recorded
-- in the word lists' audit stream, and counted among the moderator's other actions of the day, in
-- the same step (record_audit): written by the caller after the reply, the entry would be lost
-- with a reply that came after the call's deadline, and the moderator's resend, which finds the
-- entry added (or gone) already, changes nothing and would record nothing either. A resend of the
-- same call by the Redis client records nothing more: an add finds its own entry and changes
-- nothing, a removal finds its mark.
--
-- KEYS[1]   the entries (hash: id → JSON)
-- KEYS[2]   the version (string counter, moved on by ARGV[3], a random step: see
--           randomVersionStep)
-- KEYS[3]   the word lists' audit stream
-- KEYS[4]   their counters of the day (hash)
-- ARGV[1]   "add" or "del"
-- ARGV[2]   the entry id
-- ARGV[3]   the step the version moves by
-- ARGV[4..9] the audit entry of the change (record_audit)
-- add:  ARGV[10] the entry's JSON, ARGV[11] the most entries the lists may hold, ARGV[12] the most
--       regex entries they may hold when the entry is one, "0" otherwise
-- del:  KEYS[5] the call's mark, ARGV[10] its lifetime in seconds: set when the entry goes, so a
--       call the Redis client resends after losing its reply answers as the first did
--
-- Returns {"new", json} (added), {"old", json} (an entry with that id exists; nothing changed),
-- {"full"} (no room), {"full-regex"} (no room for another regex entry), {"deleted"} or
-- {"missing"}.
if ARGV[1] == "add" then
  local old = redis.call("HGET", KEYS[1], ARGV[2])
  if old then
    return {"old", old}
  end
  if redis.call("HLEN", KEYS[1]) >= tonumber(ARGV[11]) then
    return {"full"}
  end
  local maxRegex = tonumber(ARGV[12])
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
  redis.call("HSET", KEYS[1], ARGV[2], ARGV[10])
  redis.call("INCRBY", KEYS[2], ARGV[3])
  record_audit(KEYS[3], KEYS[4], 4)
  return {"new", ARGV[10]}
end
if redis.call("HDEL", KEYS[1], ARGV[2]) == 0 then
  if redis.call("EXISTS", KEYS[5]) == 1 then
    return {"deleted"}
  end
  return {"missing"}
end
redis.call("INCRBY", KEYS[2], ARGV[3])
redis.call("SET", KEYS[5], "1", "EX", ARGV[10])
record_audit(KEYS[3], KEYS[4], 4)
return {"deleted"}
