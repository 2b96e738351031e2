-- unlearnt_done.lua takes a comment off the shard's decisions not yet learnt, unless a later
-- decision on it replaced the entry (its score is then that decision's time, which still has to be
-- learnt).
--
-- KEYS[1]  the shard's decisions not yet learnt (zset)
-- ARGV[1]  comment id
-- ARGV[2]  the time of the decision that was learnt, unix µs
--
-- Returns 1 when it took the entry off, else 0. Safe to run twice.
local score = redis.call("ZSCORE", KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call("ZREM", KEYS[1], ARGV[1])
end
return 0
