-- erase.lua anonymises one comment record for an erasure request, only while it still belongs to
-- the author: a record deleted meanwhile is not created again, and a record whose author key is
-- gone was anonymised already (so a repeated call counts nothing). Only the author's fields
-- change; a decision or report that changed the record meanwhile is kept.
--
-- KEYS[1]  the comment's record
-- ARGV[1]  the author key (keyed email hash) the record must hold
-- ARGV[2]  the name the record shows afterwards
--
-- Returns 1 when the record was anonymised now, 0 otherwise.
if redis.call("HGET", KEYS[1], "author_key") ~= ARGV[1] then
  return 0
end
redis.call("HDEL", KEYS[1], "email_sealed", "author_key", "ip_sealed", "ip_key", "ua")
redis.call("HSET", KEYS[1], "name", ARGV[2])
return 1
