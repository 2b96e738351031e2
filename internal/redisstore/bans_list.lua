-- Returns one page of the bans in force at ARGV[1] (unix ms), newest first: a flat list of (id,
-- created-at ms, record) triples, one more than asked for when there are more (the caller drops it
-- and makes the next page token).
--
-- ARGV[2] page size; ARGV[3] the created-at ms of the last ban of the previous page, or "" for the
-- first page; ARGV[4] that ban's id. The next page starts strictly after that ban in the order
-- (created-at desc, id desc), which is the order ZREVRANGEBYSCORE returns, so bans added or
-- removed between two calls shift nothing.
-- below reports whether id a sorts before id b as Redis orders equal scores: by bytes. Lua's own
-- string comparison follows the server's locale, which in most locales other than C skips the
-- punctuation of ids such as "range-192.0.2.0-24".
local function below(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

local want = 3 * (tonumber(ARGV[2]) + 1)
local after_score = ARGV[3]
local after_id = ARGV[4]
local max = '+inf'
if after_score ~= '' then
  max = after_score
end
local out = {}
local offset = 0
while #out < want do
  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[2], max, '-inf', 'WITHSCORES', 'LIMIT', offset, 100)
  if #batch == 0 then
    break
  end
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    -- Entries with the cursor's own score come first, in id order desc; skip up to the cursor.
    if after_score == '' or tonumber(score) < tonumber(after_score) or below(id, after_id) then
      local rec = redis.call('HGET', KEYS[1], id)
      -- The purge removes at most 1000 expired bans a call: one left over is skipped here, or it
      -- would take the place of a ban in force and, at the end of the page, end the listing.
      local expires = redis.call('ZSCORE', KEYS[3], id)
      if rec and not (expires and tonumber(expires) <= tonumber(ARGV[1])) then
        out[#out + 1] = id
        out[#out + 1] = score
        out[#out + 1] = rec
        if #out >= want then
          break
        end
      end
    end
  end
  offset = offset + #batch / 2
end
return out
