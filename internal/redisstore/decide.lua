-- decide.lua applies a moderator's decision to one comment atomically: it checks the current
-- state, moves the comment between the indexes and records the decision on the record.
--
-- KEYS[1]      the comment's record
-- KEYS[2..4]   the shard's queue zsets: pending, rejected, spam
-- ARGV[1]      target state ("1" published, "3" rejected, ...)
-- ARGV[2]      the states the comment may come from, comma-separated and comma-wrapped: ",2,3,4,"
-- ARGV[3]      moderator (API key name)
-- ARGV[4]      decision time, unix µs
-- ARGV[5]      reason ("" for none)
-- ARGV[6]      base of the thread's published zset: append the thread id
-- ARGV[7..9]   bases of the thread's queue zsets (pending, rejected, spam): append the thread id
--
-- The thread's index keys are named at run time from the thread stored in the record; they carry
-- the same hash tag as KEYS[1], so they are in its slot.
--
-- Returns {"missing"}, {"denied", current state}, {"same", record} when the comment already is in
-- the target state (nothing changed), or {"ok", record}.
local PUBLISHED = "1"

local cur = redis.call("HMGET", KEYS[1], "state", "thread", "created", "id")
local from, thread, created, id = cur[1], cur[2], cur[3], cur[4]
if not from then
  return {"missing"}
end
local to = ARGV[1]
if from == to then
  return {"same", redis.call("HGETALL", KEYS[1])}
end
if not string.find(ARGV[2], "," .. from .. ",", 1, true) then
  return {"denied", from}
end

-- indexes returns the keys of the indexes a comment in state st belongs to.
local function indexes(st)
  if st == PUBLISHED then
    return {ARGV[6] .. thread}
  end
  local q = tonumber(st) - 1 -- pending 1, rejected 2, spam 3
  return {ARGV[6 + q] .. thread, KEYS[1 + q]}
end
for _, k in ipairs(indexes(from)) do
  redis.call("ZREM", k, id)
end
for _, k in ipairs(indexes(to)) do
  redis.call("ZADD", k, created, id)
end

redis.call("HSET", KEYS[1], "state", to, "dec_by", ARGV[3], "dec_at", ARGV[4],
  "dec_from", from, "dec_to", to, "dec_reason", ARGV[5])
if to == PUBLISHED then
  redis.call("HSET", KEYS[1], "published", ARGV[4])
else
  redis.call("HDEL", KEYS[1], "published")
end
return {"ok", redis.call("HGETALL", KEYS[1])}
