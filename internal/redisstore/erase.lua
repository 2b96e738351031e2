-- erase.lua anonymises one comment record for an erasure request, only while it still belongs to
-- the author: a record deleted meanwhile is not created again, and a record whose author key is
-- gone was anonymised already (so a repeated call counts nothing). Only the author's fields
-- change; a decision or report that changed the record meanwhile is kept.
--
-- KEYS[1]  the comment's record
-- ARGV[1]  the author key (keyed email hash) the record must hold
-- ARGV[2]  the name the record shows afterwards
-- ARGV[3]  the message that replaces a hold reason's message about the author's own data
-- ARGV[4..] the beginnings of such messages (a word list's match on the name, the email domain,
--           the user agent, ...: they may quote a word of the name or the domain)
--
-- Returns 1 when the record was anonymised now, 0 otherwise.
if redis.call("HGET", KEYS[1], "author_key") ~= ARGV[1] then
  return 0
end
redis.call("HDEL", KEYS[1], "email_sealed", "author_key", "ip_sealed", "ip_key", "ua")
redis.call("HSET", KEYS[1], "name", ARGV[2])

local hold = redis.call("HGET", KEYS[1], "hold")
if hold then
  local reasons = cjson.decode(hold) -- [[code, message], ...]
  local changed = false
  for _, r in ipairs(reasons) do
    for i = 4, #ARGV do
      if string.sub(r[2], 1, string.len(ARGV[i])) == ARGV[i] then
        r[2] = ARGV[3]
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
