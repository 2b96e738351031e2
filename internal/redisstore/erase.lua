-- erase.lua anonymises one comment record for an erasure request, only while it still belongs to
-- the author: a record deleted meanwhile is not created again, and a record whose author key is
-- gone was anonymised already (so a repeated request counts nothing). Only the author's fields
-- change; a decision or report that changed the record meanwhile is kept.
--
-- KEYS[1]  the comment's record
-- ARGV[1]  the author key (keyed email hash) the record must hold
-- ARGV[2]  the name the record shows afterwards
-- ARGV[3]  a random token drawn for this call, left in the record ("erased"): the Redis client
--          may resend a call whose reply it lost, and the resent call must count the record the
--          first one anonymised. (One token per record: a token shared by an author's records
--          would link them.)
-- ARGV[4]  the message that replaces a hold reason's message about the author's own data
-- ARGV[5..] the beginnings of such messages (a word list's match on the name, the email domain,
--           the user agent, ...: they may quote a word of the name or the domain)
--
-- Returns 1 when this call (or its first sending) anonymised the record, 0 otherwise.
if redis.call("HGET", KEYS[1], "author_key") ~= ARGV[1] then
  if redis.call("HGET", KEYS[1], "erased") == ARGV[3] then
    return 1
  end
  return 0
end
redis.call("HDEL", KEYS[1], "email_sealed", "author_key", "ip_sealed", "ip_key", "ua")
redis.call("HSET", KEYS[1], "name", ARGV[2], "erased", ARGV[3])

local hold = redis.call("HGET", KEYS[1], "hold")
if hold then
  local reasons = cjson.decode(hold) -- [[code, message], ...]
  local changed = false
  for _, r in ipairs(reasons) do
    for i = 5, #ARGV do
      if string.sub(r[2], 1, string.len(ARGV[i])) == ARGV[i] then
        r[2] = ARGV[4]
        changed = true
        break
      end
    end
  end
  if changed then
    redis.call("HSET", KEYS[1], "hold", cjson.encode(reasons))
  end
end
return 1
