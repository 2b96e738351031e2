-- campaigns_erase.lua names an author in the erased authors for a while, so that no server writes
-- a sighting of theirs to the campaign stream any more (campaigns_write.lua), and appends a marker
-- entry to the stream that tells every server to drop the erased authors' sightings from memory.
-- The marker does not name the author: the servers read the names from the set, which expires.
--
-- The set is sorted by when each name lapses, so the lapsed names go by one range deletion whose
-- cost follows what it removes: a run of many erasures (a bulk request) costs each one the same.
--
-- KEYS[1]  the erased authors (sorted set: member the author key, score when it lapses, unix ms)
-- KEYS[2]  the campaign stream
-- ARGV[1]  the author key
-- ARGV[2]  how long the author stays named, ms
--
-- Safe to run twice: a resend names the author again and appends a second marker.
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
-- The name just set lapses last: the set goes with it.
redis.call("PEXPIRE", KEYS[1], ARGV[2])
redis.call("XADD", KEYS[2], "*", "e", "1")
return 1
