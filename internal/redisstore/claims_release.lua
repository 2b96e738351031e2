-- claims_release.lua ends a moderator's claims on comments of one shard. Claims held by someone
-- else, or by nobody, are left as they are.
--
-- KEYS[1]   the moderator's claim set in this shard
-- ARGV[1]   the moderator
-- ARGV[2]   base of the claim keys: append a comment id
-- ARGV[3..] comment ids
--
-- Returns the number of claims ended.
local ended = 0
for i = 3, #ARGV do
  local key = ARGV[2] .. ARGV[i]
  if redis.call("GET", key) == ARGV[1] then
    redis.call("DEL", key)
    ended = ended + 1
  end
  redis.call("ZREM", KEYS[1], ARGV[i])
end
return ended
