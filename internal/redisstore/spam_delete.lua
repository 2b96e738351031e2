-- spam_delete.lua deletes a scratch spam model: its counts, totals and examples. The Redis client
-- may resend a call whose reply it lost; a mark drawn for the call, set when the model goes, makes
-- the resent call answer as the first did.
--
-- KEYS[1]   the model's token counts
-- KEYS[2]   the model's totals
-- KEYS[3]   the model's examples
-- KEYS[4]   the examples' order
-- KEYS[5]   the call's mark (string)
-- ARGV[1]   the mark's lifetime, seconds
--
-- Returns 1 when the model was deleted (by this call or its first sending), 0 when there was none.
if redis.call("UNLINK", KEYS[1], KEYS[2], KEYS[3], KEYS[4]) > 0 then
  redis.call("SET", KEYS[5], "1", "EX", ARGV[1])
  return 1
end
return redis.call("EXISTS", KEYS[5])
