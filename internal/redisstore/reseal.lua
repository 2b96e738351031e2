-- reseal.lua replaces one sealed field of a comment record (key rotation), only if the field
-- still holds the value the caller read: a rotation running beside the servers never undoes a
-- change they made meanwhile.
--
-- KEYS[1]  the comment's record
-- ARGV[1]  the field: email_sealed or ip_sealed
-- ARGV[2]  the value read
-- ARGV[3]  the value to write
--
-- Returns 1 when the field holds ARGV[3] afterwards (written now, or by a first run of this call
-- whose reply was lost: the new value has a fresh nonce, so nothing else can equal it), and 0 when
-- it holds anything else: it changed, or the record is gone (HSET would create it again).
local cur = redis.call("HGET", KEYS[1], ARGV[1])
if cur == ARGV[3] then
  return 1
end
if cur ~= ARGV[2] then
  return 0
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[3])
return 1
