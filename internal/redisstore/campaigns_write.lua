-- campaigns_write.lua appends one server's batch of campaign sightings to the stream, leaving out
-- the sightings of the authors an erasure request named in the last minutes (campaigns_erase.lua).
-- A server may hold a sighting in memory while the erasure runs and write it just after: checked
-- here, in the same step as the write, the erased author's sighting cannot reach the stream after
-- the erasure has cleaned it, whichever server holds it and however its write is timed or resent.
--
-- KEYS[1]  the campaign stream
-- KEYS[2]  the erased authors (hash: field the author key, value when the field lapses, unix ms)
-- ARGV[1]  the writing server's id (the entry's "o")
-- ARGV[2]  the stream's MINID trim: the start of the campaign window, unix ms
-- ARGV[3]  the sightings, "<fp hex> <author key> <unix µs>" joined by ","
--
-- Returns the number of sightings left out.
local packed = ARGV[3]
local dropped = 0
if redis.call("EXISTS", KEYS[2]) == 1 then
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local erased = {}
  local fields = redis.call("HGETALL", KEYS[2])
  for i = 1, #fields, 2 do
    if tonumber(fields[i + 1]) <= now then
      redis.call("HDEL", KEYS[2], fields[i]) -- lapsed: the hash names the author no longer
    else
      erased[fields[i]] = true
    end
  end
  local kept = {}
  for item in string.gmatch(packed, "[^,]+") do
    if erased[string.match(item, "^%S+ (%S+) ") or ""] then
      dropped = dropped + 1
    else
      kept[#kept + 1] = item
    end
  end
  packed = table.concat(kept, ",")
end
if packed ~= "" then
  redis.call("XADD", KEYS[1], "MINID", "~", ARGV[2], "*", "o", ARGV[1], "s", packed)
end
return dropped
