-- purge.lua deletes one comment that has been spam since before a cut-off, with everything of its
-- shard that belongs to it, in one atomic step: its record, its index entries, its readers'
-- reports, its review claim and its entry among the decisions not yet learnt. It lists the comment
-- among the purged comments whose label in the spam model and outcome in the author's record are
-- still to be forgotten (those live in other slots; the caller removes them, then the entry).
--
-- The comment is spam since its last decision when a moderator decided it (only a decision marks
-- a stored comment spam), else since it was created (the checks marked it). A comment that is
-- missing, no longer spam, or spam since after the cut-off is left alone, so the script is safe to
-- run twice and never deletes a comment a moderator took back or marked again meanwhile.
--
-- KEYS[1]      the comment's record
-- KEYS[2..4]   the shard's queue zsets: pending, rejected, spam
-- KEYS[5]      the comment's review claim
-- KEYS[6]      the comment's report counters
-- KEYS[7]      the comment's reporters
-- KEYS[8]      the comment's list of reports
-- KEYS[9]      the shard's decisions not yet learnt (zset)
-- KEYS[10]     the shard's purged comments still to forget (zset)
-- KEYS[11]     this call's mark (string), set when it deletes the comment
-- ARGV[1]      the comment id
-- ARGV[2]      the cut-off, unix µs: only a comment spam since then or earlier goes
-- ARGV[3]      base of the thread's published zset: append the thread id
-- ARGV[4..6]   bases of the thread's queue zsets (pending, rejected, spam): append the thread id
-- ARGV[7]      base of the shard's per-moderator claim sets: append the moderator
-- ARGV[8]      now, unix µs: the score of the entry in KEYS[10]
-- ARGV[9]      the mark's TTL, seconds
--
-- The thread's index keys and the claim holder's set are named at run time; they carry the same
-- hash tag as KEYS[1], so they are in its slot. The script reaches every one of them before its
-- first write: on a Cluster whose slot is being moved, a key no longer (or not yet) on this node
-- stops the script there ("non local key"), and stopped after a write it would have taken the
-- comment out of the spam queue and left its record, which no later run would find again.
--
-- Returns {"purged"} when this call deleted the comment, or its first sending did (a resend finds
-- the call's mark), {"missing"}, {"not_spam"} or {"young", spam since (µs)}.
local SPAM = "4"

local cur = redis.call("HMGET", KEYS[1], "state", "thread", "created", "dec_at", "author_key")
local state, thread, created, decAt, author = cur[1], cur[2], cur[3], cur[4], cur[5]
if not state then
  -- The Redis client may resend a call whose reply it lost: the first sending deleted the comment
  -- and set the call's mark, and the run must count it. Another server's purge of the comment
  -- (every server runs the retention, from the same candidates) set a mark of its own: this call
  -- deleted nothing, and counting it would count the comment twice.
  if redis.call("EXISTS", KEYS[11]) == 1 then
    return {"purged"}
  end
  return {"missing"}
end
if state ~= SPAM then
  return {"not_spam"}
end
local since = tonumber(created) or 0
if decAt and tonumber(decAt) > since then
  since = tonumber(decAt)
end
if since > tonumber(ARGV[2]) then
  return {"young", tostring(since)}
end

local id = ARGV[1]
-- Every index, not only the spam ones: a comment is in one state's, and removing it from the
-- others costs nothing and leaves nothing behind whatever an older version wrote.
local named = {ARGV[3] .. thread, ARGV[4] .. thread, ARGV[5] .. thread, ARGV[6] .. thread}
local holder = redis.call("GET", KEYS[5])
if holder then
  named[#named + 1] = ARGV[7] .. holder
end
for _, k in ipairs(named) do
  redis.call("EXISTS", k)
end

for _, k in ipairs(named) do
  redis.call("ZREM", k, id)
end
for i = 1, 3 do
  redis.call("ZREM", KEYS[1 + i], id)
end
redis.call("DEL", KEYS[1], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call("ZREM", KEYS[9], id)
redis.call("ZADD", KEYS[10], ARGV[8], id .. " " .. (author or ""))
redis.call("SET", KEYS[11], "1", "EX", ARGV[9])
return {"purged"}
