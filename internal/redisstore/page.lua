-- page.lua reads one page of an index (a zset of comment ids scored by creation time), in
-- (score, id) order, starting after a cursor, optionally filtered by fields of the records. It
-- only reads.
--
-- KEYS[1]   the index
-- ARGV[1]   cursor score (unix µs), "" for the first page
-- ARGV[2]   cursor id: the last id of the previous page
-- ARGV[3]   how many entries to return at most
-- ARGV[4]   base of the record keys (append an id); "" when neither records nor filters are used
-- ARGV[5]   "1" to return each entry's record, "0" for ids and scores only
-- ARGV[6]   only entries scored below this (unix µs), "" for no bound
-- ARGV[7]   how many index entries to look at at most, "0" for no bound
-- ARGV[8]   only records with this author_key, "" for any
-- ARGV[9]   only records whose spam score is at least this, "" for any
-- ARGV[10]  only records whose spam score is at most this, "" for any
-- ARGV[11]  only records with a hold reason of this code, "" for any
-- ARGV[12]  "1" to read the index backwards: newest first, the cursor's successors being the
--           entries before it; "0" or absent for oldest first
--
-- Returns {entries, horizon}. entries is a list of {id, score} or {id, score, record} entries, in
-- the order read, record being the comment's fields as HGETALL lists them; entries whose record
-- has gone are left out. horizon is {id, score} of the last index entry looked at when the script stopped
-- before the end of the index (the page was full or the scan bound was reached), and {} when it
-- reached the end: every entry of the index up to the horizon was considered.
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
local base, withRecords = ARGV[4], ARGV[5] == "1"
local max = "+inf"
if ARGV[6] ~= "" then
  max = "(" .. ARGV[6]
end
local scanBound = tonumber(ARGV[7])
local author, minScore, maxScore, code = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11]
local filtered = author ~= "" or minScore ~= nil or maxScore ~= nil or code ~= ""
local desc = ARGV[12] == "1"
local min, cursorScore = "-inf", nil
if cursor ~= "" then
  cursorScore = tonumber(cursor)
  if desc then
    -- The cursor is at or below any bound: the entries up to it are the ones to read.
    max = cursor
  else
    min = cursor
  end
end

-- matches reports whether the record of id passes the filters; false when it has gone.
local function matches(id)
  local f = redis.call("HMGET", base .. id, "id", "author_key", "score", "hold")
  if not f[1] then
    return false
  end
  if author ~= "" and f[2] ~= author then
    return false
  end
  local score = tonumber(f[3] or "0") or 0
  if (minScore and score < minScore) or (maxScore and score > maxScore) then
    return false
  end
  -- The hold field is a JSON list of [code, message] pairs; codes are UPPER_SNAKE, so the
  -- quoted code after "[" can only be a pair's code.
  if code ~= "" and not string.find(f[4] or "", '["' .. code .. '"', 1, true) then
    return false
  end
  return true
end

local out, scanned, horizon = {}, 0, {}
local offset, batch = 0, limit + 8
if scanBound > 0 and batch > scanBound then
  batch = scanBound
end
local done = false
while not done do
  local r
  if desc then
    r = redis.call("ZREVRANGEBYSCORE", KEYS[1], max, min, "WITHSCORES", "LIMIT", offset, batch)
  else
    r = redis.call("ZRANGEBYSCORE", KEYS[1], min, max, "WITHSCORES", "LIMIT", offset, batch)
  end
  for i = 1, #r, 2 do
    local id, score = r[i], r[i + 1]
    -- Entries of the cursor's own score come in id order (reversed when desc): skip up to it.
    local past
    if desc then
      past = after(cursorID, id)
    else
      past = after(id, cursorID)
    end
    if cursorScore == nil or tonumber(score) ~= cursorScore or past then
      scanned = scanned + 1
      if not filtered or matches(id) then
        if withRecords then
          local rec = redis.call("HGETALL", base .. id)
          if #rec > 0 then
            out[#out + 1] = {id, score, rec}
          end
        else
          out[#out + 1] = {id, score}
        end
      end
      if #out == limit or (scanBound > 0 and scanned >= scanBound) then
        -- Stopped early: whether anything follows is for the next call to find out.
        horizon = {id, score}
        done = true
        break
      end
    end
  end
  if #r < 2 * batch then
    break
  end
  offset = offset + batch
end
return {out, horizon}
