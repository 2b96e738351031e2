-- audit_append.lua appends one action to an audit stream and counts it in the moderator's daily
-- counters, once: the Redis client may resend a call whose reply it lost, and a mark drawn for
-- the call makes the resent call change nothing.
--
-- KEYS[1]   the audit stream
-- KEYS[2]   the call's mark (string)
-- KEYS[3]   the day's counters (hash); absent when the action counts nowhere (the system's, an
--           export's)
-- ARGV[1]   the mark's lifetime, seconds
-- ARGV[2]   the counter field to add 1 to (only with KEYS[3])
-- ARGV[3]   when the counters expire, unix seconds (only with KEYS[3])
-- ARGV[4..] the entry's field/value pairs
--
-- Returns 1 when appended, 0 when a first sending of this call did.
if not redis.call("SET", KEYS[2], "1", "NX", "EX", ARGV[1]) then
  return 0
end
redis.call("XADD", KEYS[1], "*", unpack(ARGV, 4))
if KEYS[3] then
  redis.call("HINCRBY", KEYS[3], ARGV[2], 1)
  redis.call("EXPIREAT", KEYS[3], ARGV[3])
end
return 1
