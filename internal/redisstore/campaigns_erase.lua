-- campaigns_erase.lua names an author in the erased authors for a while, so that no server writes
-- a sighting of theirs to the campaign stream any more (campaigns_write.lua), and appends a marker
-- entry to the stream that tells every server to drop the erased authors' sightings from memory.
-- The marker does not name the author: the servers read the names from the hash, which expires.
--
-- KEYS[1]  the erased authors (hash: field the author key, value when the field lapses, unix ms)
-- KEYS[2]  the campaign stream
-- ARGV[1]  the author key
-- ARGV[2]  how long the author stays named, ms
--
-- Safe to run twice: a resend names the author again and appends a second marker.
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fields = redis.call("HGETALL", KEYS[1])
for i = 1, #fields, 2 do
  if tonumber(fields[i + 1]) <= now then
    redis.call("HDEL", KEYS[1], fields[i])
  end
end
redis.call("HSET", KEYS[1], ARGV[1], string.format("%d", now + tonumber(ARGV[2])))
-- The field just set lapses last: the hash goes with it.
redis.call("PEXPIRE", KEYS[1], ARGV[2])
redis.call("XADD", KEYS[2], "*", "e", "1")
return 1
