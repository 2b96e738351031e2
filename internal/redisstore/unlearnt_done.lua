-- unlearnt_done.lua takes a comment off the shard's decisions not yet learnt, or postpones it,
-- unless a later decision on it replaced the entry (its score is then that decision's time, which
-- still has to be learnt).
--
-- KEYS[1]  the shard's decisions not yet learnt (zset)
-- ARGV[1]  comment id
-- ARGV[2]  the entry's score as read: the decision's time (or when it was postponed to), unix µs
-- ARGV[3]  "" to take the entry off; else the time to postpone it to, unix µs
--
-- Returns 1 when it changed the entry, else 0. Safe to run twice.
local score = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == "" then
  return redis.call("ZREM", KEYS[1], ARGV[1])
end
redis.call("ZADD", KEYS[1], "XX", ARGV[3], ARGV[1])
return 1
