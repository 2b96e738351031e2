-- Stores one ban, replacing any ban on the same target.
--
-- ARGV[2] target id, ARGV[3] the record (JSON), ARGV[4] created-at unix ms, ARGV[5] expires-at
-- unix ms or "0" for a ban that never expires.
local id = ARGV[2]
redis.call('HSET', KEYS[1], id, ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], id)
if ARGV[5] ~= '0' then
  redis.call('ZADD', KEYS[3], ARGV[5], id)
else
  redis.call('ZREM', KEYS[3], id)
end
return 1
