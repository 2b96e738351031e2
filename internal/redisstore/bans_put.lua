-- Stores one ban, replacing any ban on the same target, and returns the record of the ban it
-- replaced if that one was still in force at the new ban's creation (ARGV[4]), else "". The
-- caller can then tell the moderator, and an undo can put the earlier ban back instead of leaving
-- the target unbanned. A resend of the same call (go-redis retries a write whose reply it lost)
-- finds its own record and reports nothing replaced, not itself.
--
-- The ban is recorded in the bans' audit stream and counted among the moderator's other actions of
-- the day in the same step (record_audit): written by the caller after the reply, the entry would
-- be lost with a reply that came after the call's deadline. The call's mark keeps a resend from
-- recording it twice.
--
-- A call with a client's request id (KEYS[7]) is answered from the record of the first call with
-- that id, when there is one, and changes and records nothing: with the same fingerprint (the
-- same request sent again) by what that call stored and replaced, whatever became of the ban
-- since; with another (the id reused for another ban) by a refusal. Otherwise its ban is stored
-- and the record written in the same step, so a resend, even one that comes while Redis still
-- runs the first, finds either nothing done or everything.
--
-- KEYS[4] the call's mark, KEYS[5] the bans' audit stream, KEYS[6] their counters of the day,
-- KEYS[7] (only with a request id) the request's record. ARGV[2] target id, ARGV[3] the record
-- (JSON), ARGV[4] created-at unix ms, ARGV[5] expires-at unix ms or "0" for a ban that never
-- expires, ARGV[6] the mark's lifetime in s, ARGV[7..12] the audit entry (record_audit),
-- ARGV[13] the request's fingerprint and ARGV[14] its record's lifetime in s (with KEYS[7]).
--
-- Returns {"stored", the replaced ban's record or ""}, {"resent", the first call's ban's record,
-- the record of the ban it replaced or ""} or {"reused"}.
if KEYS[7] then
  local first = redis.call('HMGET', KEYS[7], 'f', 'b', 'r')
  if first[1] then
    if first[1] ~= ARGV[13] then
      return {'reused'}
    end
    return {'resent', first[2] or '', first[3] or ''}
  end
end
local id = ARGV[2]
local old = redis.call('HGET', KEYS[1], id)
if old == ARGV[3] then
  old = false
elseif old then
  local ends = redis.call('ZSCORE', KEYS[3], id)
  if ends and tonumber(ends) <= tonumber(ARGV[4]) then
    old = false
  end
end
redis.call('HSET', KEYS[1], id, ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], id)
if ARGV[5] ~= '0' then
  redis.call('ZADD', KEYS[3], ARGV[5], id)
else
  redis.call('ZREM', KEYS[3], id)
end
if redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[6]) then
  record_audit(KEYS[5], KEYS[6], 7)
end
if KEYS[7] then
  redis.call('HSET', KEYS[7], 'f', ARGV[13], 'b', ARGV[3], 'r', old or '')
  redis.call('EXPIRE', KEYS[7], ARGV[14])
end
return {'stored', old or ''}
