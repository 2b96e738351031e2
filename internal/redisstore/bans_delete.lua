-- Removes one ban. ARGV[2] target id. KEYS[4] the call's unban mark, ARGV[3] its lifetime in s:
-- set when the ban goes, so a call the Redis client resends after losing its reply still answers
-- that there was a ban. Returns 1 if there was an active ban (or the first sending of this call
-- removed it), else 0.
local id = ARGV[2]
-- The purge removes at most 1000 expired bans a call: a record it left may be expired already,
-- and removing it lifts no ban in force.
local expires = redis.call('ZSCORE', KEYS[3], id)
local expired = expires and tonumber(expires) <= tonumber(ARGV[1])
local n = redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
if n == 1 and not expired then
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[3])
  return 1
end
return redis.call('EXISTS', KEYS[4])
