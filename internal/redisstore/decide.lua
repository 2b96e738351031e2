-- decide.lua applies a moderator's decision to one comment atomically: it checks the current
-- state, moves the comment between the indexes and records the decision on the record. In the
-- same step it appends the action to the shard's audit log, lists the comment among the decisions
-- the spam model and the author's record have still to learn, counts it in the daily counters,
-- ends any review claim on the comment (and claims a comment put back in the queue for the
-- moderator who put it back) and announces a "decided" queue event.
--
-- KEYS[1]      the comment's record
-- KEYS[2..4]   the shard's queue zsets: pending, rejected, spam
-- KEYS[5]      the shard's audit stream
-- KEYS[6]      the comment's review claim
-- KEYS[7]      the comment's report counters
-- KEYS[8]      the shard's decisions not yet learnt (zset)
-- ARGV[1]      target state ("1" published, "3" rejected, ...)
-- ARGV[2]      the states the comment may come from, comma-separated and comma-wrapped: ",2,3,4,"
-- ARGV[3]      moderator (API key name)
-- ARGV[4]      decision time, unix µs
-- ARGV[5]      reason ("" for none)
-- ARGV[6]      base of the thread's published zset: append the thread id
-- ARGV[7..9]   bases of the thread's queue zsets (pending, rejected, spam): append the thread id
-- ARGV[10]     the action, as the audit log names it ("approve", "reject", "mark_spam", ...)
-- ARGV[11]     the action's counter letter: "a" approve, "r" reject, "s" mark spam, "o" other
-- ARGV[12]     base of the shard's daily counters: append the day number
-- ARGV[13]     how long daily counters live after their day ends, seconds
-- ARGV[14]     the queue events channel
-- ARGV[15]     base of the shard's per-moderator claim sets: append the moderator
-- ARGV[16]     lease of the claim on a comment put back in the queue, ms ("0": no claim)
-- ARGV[17]     the etag the moderator read (moderation.ETag), "" for none: the decision is taken
--              only while the comment still has it
-- ARGV[18]     base of the thread's settings hash: append the thread id
--
-- The thread's index keys and settings, the claim holder's set and the daily counters are named at
-- run time;
-- they carry the same hash tag as KEYS[1], so they are in its slot.
--
-- Returns {"missing"}, {"same", record} when the comment already is in the target state (nothing
-- changed, nothing logged or counted, whatever the etag), {"stale", record} when the etag differs
-- (nothing changed), {"denied", current state}, or {"ok", record}.
local PUBLISHED, PENDING, SPAM = "1", "2", "4"
local DAY = 86400000000 -- µs

local cur = redis.call("HMGET", KEYS[1], "state", "thread", "created", "id", "dec_at", "dec_by")
local from, thread, created, id = cur[1], cur[2], cur[3], cur[4]
if not from then
  return {"missing"}
end
local to = ARGV[1]
-- Before the etag: a resent call whose first sending was applied finds the comment in the target
-- state with another etag (its own decision's), and must succeed as the first sending did.
if from == to then
  return {"same", redis.call("HGETALL", KEYS[1])}
end
-- The etag as moderation.ETag makes it: the comment's id, its state and the last decision's time
-- and moderator.
if ARGV[17] ~= "" then
  local version = id .. ":" .. from .. ":" .. (cur[5] or "") .. ":" .. (cur[6] or "")
  if 'W/"' .. string.sub(redis.sha1hex(version), 1, 16) .. '"' ~= ARGV[17] then
    return {"stale", redis.call("HGETALL", KEYS[1])}
  end
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
-- dayKey returns the key of the daily counters of the day holding time t (µs).
local function dayKey(t)
  return ARGV[12] .. math.floor(tonumber(t) / DAY)
end

local holder = redis.call("GET", KEYS[6])
local lease = tonumber(ARGV[16])

-- Every key named at run time is reached before the first write. On a Cluster whose slot is being
-- moved, a key no longer (or not yet) on this node stops the script there ("non local key"):
-- stopped here, it has changed nothing and its resend after the move makes the whole decision;
-- stopped after a write, it would leave the decision half made, and the resend, finding the
-- comment in the target state, would return "same" without counting it or announcing it.
local settings = ARGV[18] .. thread
local reached = {dayKey(ARGV[4]), settings}
for _, st in ipairs({from, to}) do
  for _, k in ipairs(indexes(st)) do
    reached[#reached + 1] = k
  end
end
if holder then
  reached[#reached + 1] = ARGV[15] .. holder
end
if to == PENDING and lease > 0 then
  reached[#reached + 1] = ARGV[15] .. ARGV[3]
end
if to == SPAM or from == SPAM then
  reached[#reached + 1] = dayKey(created)
end
for _, k in ipairs(reached) do
  redis.call("EXISTS", k)
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
  -- An approval answers the reports so far: only reports after it count towards a new takedown.
  local reports = redis.call("HGET", KEYS[7], "n")
  if reports then
    redis.call("HSET", KEYS[7], "base", reports)
  end
else
  redis.call("HDEL", KEYS[1], "published")
end

-- A comment that leaves spam or rejection for the thread (approved, or put back in the queue)
-- starts the thread's auto-close period if nothing has: create.lua starts it only at a published
-- or held comment, so a thread whose only comments were spam has none until a moderator decides
-- one of them is not. It starts now, not at the comment's submission, which may be long past.
if (to == PUBLISHED or to == PENDING) then
  redis.call("HSETNX", settings, "first", ARGV[4])
end

-- The decision ends the review, whoever held the claim.
if holder then
  redis.call("DEL", KEYS[6])
  redis.call("ZREM", ARGV[15] .. holder, id)
end
-- A comment put back in the queue (reopen, not spam) is claimed for the moderator who put it back,
-- as claims.lua would: the one taking back a decision gets to take the new one, and another
-- moderator's claim does not pick the comment up meanwhile. The lease ends it like any claim.
if to == PENDING and lease > 0 then
  local now = math.floor(tonumber(ARGV[4]) / 1000)
  local set = ARGV[15] .. ARGV[3]
  redis.call("SET", KEYS[6], ARGV[3], "PX", lease)
  -- Ended leases leave here too, and the set lives as long as its longest lease (as in
  -- claims.lua): a moderator who only takes decisions back would otherwise keep one entry per
  -- comment for ever.
  redis.call("ZREMRANGEBYSCORE", set, "-inf", now)
  redis.call("ZADD", set, now + lease, id)
  if redis.call("PTTL", set) < lease then
    redis.call("PEXPIRE", set, lease)
  end
end

redis.call("XADD", KEYS[5], "*", "by", ARGV[3], "act", ARGV[10], "target", "comments/" .. id,
  "from", from, "to", to, "reason", ARGV[5])
-- Learning runs in later calls; should they never run (a crash), this entry has it done later.
redis.call("ZADD", KEYS[8], ARGV[4], id)

-- count adds n to field of the counters of the day holding time t (µs). A day past the counters'
-- life expires at once.
local function count(t, field, n)
  local day = math.floor(tonumber(t) / DAY)
  local key = dayKey(t)
  redis.call("HINCRBY", key, field, n)
  redis.call("EXPIREAT", key, (day + 1) * 86400 + tonumber(ARGV[13]))
end
count(ARGV[4], "d:" .. ARGV[3] .. ":" .. ARGV[11], 1)
-- The spam share is per day of submission: a verdict given or taken back later changes the
-- count of the day the comment was submitted.
if to == SPAM then
  count(created, "spam", 1)
elseif from == SPAM then
  local key = dayKey(created)
  if tonumber(redis.call("HGET", key, "spam") or "0") > 0 then
    redis.call("HINCRBY", key, "spam", -1)
  end
end

-- Every decision moves the comment into or out of a queue (a published comment reopened, rejected
-- or marked spam enters one), so every decision is news to those who watch the queues.
redis.call("PUBLISH", ARGV[14], "decided " .. id .. " " .. thread .. " " .. ARGV[4])
return {"ok", redis.call("HGETALL", KEYS[1])}
