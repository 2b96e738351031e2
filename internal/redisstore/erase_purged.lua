-- erase_purged.lua takes an author key out of a shard's list of purged comments still to forget
-- (purge.lua): each entry "<id> <author key>" of that author becomes "<id> " with the same score,
-- as purge.lua writes it for a comment an erasure had anonymised. The entry still has the purge
-- forget the comment's label; the outcome it would have removed went with the author's record.
--
-- KEYS[1]  the shard's purged comments still to forget (zset)
-- ARGV[1]  the author key
--
-- Returns how many entries it rewrote. Safe to run twice: a second run finds none.
local suffix = " " .. ARGV[1]
local entries = redis.call("ZRANGE", KEYS[1], 0, -1, "WITHSCORES")
local n = 0
for i = 1, #entries, 2 do
  local member = entries[i]
  if string.sub(member, -string.len(suffix)) == suffix then
    redis.call("ZREM", KEYS[1], member)
    redis.call("ZADD", KEYS[1], entries[i + 1], string.sub(member, 1, string.len(member) - string.len(ARGV[1])))
    n = n + 1
  end
end
return n
