-- page.lua reads one page of an index (a zset of comment ids scored by creation time), in
-- (score, id) order, starting after a cursor. It only reads.
--
-- KEYS[1]  the index
-- ARGV[1]  cursor score (unix µs), "" for the first page
-- ARGV[2]  cursor id: the last id of the previous page
-- ARGV[3]  how many entries to return at most
-- ARGV[4]  base of the record keys (append an id), or "" to return ids and scores only
--
-- Returns a list of {id, score} or {id, score, record} entries, record being the comment's fields
-- as HGETALL lists them. Entries whose record has gone are left out.
--
-- The cursor is a (score, id) pair rather than an offset so pages stay right when entries before
-- it are removed between calls. Redis orders equal scores by id bytes; after() compares the same
-- way (Lua's own string comparison follows the server's locale).
local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x > y
    end
  end
  return #a > #b
end

local cursor, cursorID = ARGV[1], ARGV[2]
local limit = tonumber(ARGV[3])
local base = ARGV[4]
local min, cursorScore = "-inf", nil
if cursor ~= "" then
  min, cursorScore = cursor, tonumber(cursor)
end

local out = {}
local offset, batch = 0, limit + 8
while #out < limit do
  local r = redis.call("ZRANGEBYSCORE", KEYS[1], min, "+inf", "WITHSCORES", "LIMIT", offset, batch)
  for i = 1, #r, 2 do
    local id, score = r[i], r[i + 1]
    if cursorScore == nil or tonumber(score) ~= cursorScore or after(id, cursorID) then
      if base == "" then
        out[#out + 1] = {id, score}
      else
        local rec = redis.call("HGETALL", base .. id)
        if #rec > 0 then
          out[#out + 1] = {id, score, rec}
        end
      end
      if #out == limit then
        break
      end
    end
  end
  if #r < 2 * batch then
    break
  end
  offset = offset + batch
end
return out
