-- campaigns_write.lua appends one server's batch of campaign sightings to the stream, leaving out
-- the sightings of the authors an erasure request named in the last minutes (campaigns_erase.lua).
-- A server may hold a sighting in memory while the erasure runs and write it just after: checked
-- here, in the same step as the write, the erased author's sighting cannot reach the stream after
-- the erasure has cleaned it, whichever server holds it and however its write is timed or resent.
--
-- Every server runs this every 50 ms, so it looks up only the batch's own authors (ZMSCORE): its
-- work follows the batch, never the number of authors erased lately, which a bulk erasure makes
-- large. Lapsed names are left to the erasures and the key's expiry (campaigns_erase.lua).
--
-- KEYS[1]  the campaign stream
-- KEYS[2]  the erased authors (sorted set: member the author key, score when it lapses, unix ms)
-- ARGV[1]  the writing server's id (the entry's "o")
-- ARGV[2]  the stream's MINID trim: the start of the campaign window, unix ms
-- ARGV[3]  the sightings, "<fp hex> <author key> <unix µs>" joined by ","
--
-- Returns the number of sightings left out.
local packed = ARGV[3]
local dropped = 0
if redis.call("EXISTS", KEYS[2]) == 1 then
  local items, authors, seen = {}, {}, {}
  for item in string.gmatch(packed, "[^,]+") do
    items[#items + 1] = item
    local a = string.match(item, "^%S+ (%S+) ")
    if a and not seen[a] then
      seen[a] = true
      authors[#authors + 1] = a
    end
  end
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local erased = {}
  -- In chunks: unpack takes a bounded number of values (a batch holds up to 10,000 sightings).
  for i = 1, #authors, 500 do
    local chunk = {unpack(authors, i, math.min(i + 499, #authors))}
    local until_ms = redis.call("ZMSCORE", KEYS[2], unpack(chunk))
    for j = 1, #chunk do
      if until_ms[j] and tonumber(until_ms[j]) > now then
        erased[chunk[j]] = true
      end
    end
  end
  if next(erased) ~= nil then
    local kept = {}
    for _, item in ipairs(items) do
      if erased[string.match(item, "^%S+ (%S+) ") or ""] then
        dropped = dropped + 1
      else
        kept[#kept + 1] = item
      end
    end
    packed = table.concat(kept, ",")
  end
end
if packed ~= "" then
  redis.call("XADD", KEYS[1], "MINID", "~", ARGV[2], "*", "o", ARGV[1], "s", packed)
end
return dropped
