-- reports.lua records one reader's report against a comment and, when the reports reach the
-- threshold, takes the published comment down into the queue, in one atomic step.
--
-- KEYS[1]   the comment's record
-- KEYS[2]   the comment's report counters ("n", "base")
-- KEYS[3]   the comment's set of reporters
-- KEYS[4]   the comment's list of newest reports
-- KEYS[5]   the shard's pending queue
-- KEYS[6]   the shard's audit stream
-- ARGV[1]   the reporter's keyed hash, never "": a reporter counts once, so a call the Redis
--           client resends after losing its reply does not count the report twice
-- ARGV[2]   the report as the list keeps it: "<unix µs> <reason>"
-- ARGV[3]   the threshold: reports since the last approval that take a published comment down
-- ARGV[4]   how many reports the list keeps
-- ARGV[5]   base of the thread's published zset: append the thread id
-- ARGV[6]   base of the thread's pending zset: append the thread id
-- ARGV[7]   the hold reason to add, as one JSON [code, message] pair; not added again to a comment
--           that has its code already
-- ARGV[8]   the moderator recorded for the takedown ("system")
-- ARGV[9]   the takedown's action name in the audit log
-- ARGV[10]  the audit entry's reason
-- ARGV[11]  the queue events channel
-- ARGV[12]  now, unix µs
--
-- Returns {"missing"}, or {status, count, record} with status "dup" (the reporter had reported
-- the comment before, by this call's first sending or another: nothing changed), "ok"
-- (counted) or "down" (counted and taken down).
local PUBLISHED, PENDING = "1", "2"

local cur = redis.call("HMGET", KEYS[1], "state", "thread", "created", "id")
local state, thread, created, id = cur[1], cur[2], cur[3], cur[4]
if not state then
  return {"missing"}
end
-- The thread's indexes a takedown moves the comment between are named at run time, so they are
-- reached before the first write. On a Cluster whose slot is being moved, a key no longer (or not
-- yet) on this node stops the script there ("non local key"): stopped here, it has changed
-- nothing and its resend after the move counts the report; stopped at the takedown, it would have
-- counted the report, and the resend, finding it counted, would answer "dup" and never take the
-- comment down.
if state == PUBLISHED then
  redis.call("EXISTS", ARGV[5] .. thread)
  redis.call("EXISTS", ARGV[6] .. thread)
end
if redis.call("SADD", KEYS[3], ARGV[1]) == 0 then
  return {"dup", tonumber(redis.call("HGET", KEYS[2], "n") or "0"), redis.call("HGETALL", KEYS[1])}
end

local n = redis.call("HINCRBY", KEYS[2], "n", 1)
redis.call("LPUSH", KEYS[4], ARGV[2])
redis.call("LTRIM", KEYS[4], 0, tonumber(ARGV[4]) - 1)

local since = n - tonumber(redis.call("HGET", KEYS[2], "base") or "0")
if state ~= PUBLISHED or since < tonumber(ARGV[3]) then
  return {"ok", n, redis.call("HGETALL", KEYS[1])}
end

redis.call("ZREM", ARGV[5] .. thread, id)
redis.call("ZADD", ARGV[6] .. thread, created, id)
redis.call("ZADD", KEYS[5], created, id)
-- The hold field is a JSON list of pairs; the new pair goes at its end, unless an earlier takedown
-- (the comment was approved since) left it there: moderators would see the reason once per
-- takedown. Codes are UPPER_SNAKE, so the quoted code after "[" can only be a pair's code.
local hold = redis.call("HGET", KEYS[1], "hold")
local code = string.match(ARGV[7], '^%["[^"]*"')
if hold and code and string.find(hold, code, 1, true) then
  -- held for this reason already
elseif hold and string.sub(hold, -1) == "]" and hold ~= "[]" then
  hold = string.sub(hold, 1, -2) .. "," .. ARGV[7] .. "]"
else
  hold = "[" .. ARGV[7] .. "]"
end
redis.call("HSET", KEYS[1], "state", PENDING, "hold", hold)
redis.call("HDEL", KEYS[1], "published")
redis.call("XADD", KEYS[6], "*", "by", ARGV[8], "act", ARGV[9], "target", "comments/" .. id,
  "from", PUBLISHED, "to", PENDING, "reason", ARGV[10])
redis.call("PUBLISH", ARGV[11], "reported " .. id .. " " .. thread .. " " .. ARGV[12])
return {"down", n, redis.call("HGETALL", KEYS[1])}
