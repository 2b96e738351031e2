-- Removes one ban. ARGV[2] target id. KEYS[4] the call's unban mark, ARGV[3] its lifetime in s:
-- set when the ban goes, so a call the Redis client resends after losing its reply still answers
-- that there was a ban. Returns 1 if there was an active ban (or the first sending of this call
-- removed it), else 0.
--
-- Lifting the ban is recorded in the bans' audit stream (KEYS[5]) and counted among the moderator's
-- other actions of the day (KEYS[6]) in the same step, from ARGV[4..9] (record_audit): written by
-- the caller after the reply, the entry would be lost with a reply that came after the call's
-- deadline, and the moderator's resend, which finds no ban, would record nothing. A resend of the
-- same call finds the mark and records nothing more.
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
  record_audit(KEYS[5], KEYS[6], 4)
  return 1
end
return redis.call('EXISTS', KEYS[4])
