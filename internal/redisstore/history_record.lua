-- history_record.lua moves one comment's outcome in its author's record, atomically: the old
-- outcome's count goes down, the new one's up, and the outcome is remembered per comment so a
-- repeated call changes nothing. Both keys carry the author's hash tag.
--
-- KEYS[1]   the author's record (hash: "approved", "rejected", "spam" → count)
-- KEYS[2]   the author's outcomes (hash: comment id → outcome)
-- KEYS[3]   the author's erasure fence (string, set by an erasure request with the deletion of
--           the record, with a TTL): while it exists nothing is recorded, so a decision that read
--           the comment before the erasure cannot bring the record back after it
-- ARGV[1]   the comment id
-- ARGV[2]   the new outcome: "approved", "rejected", "spam", or "" for none (back in the queue)
--
-- Returns 1 when the record changed, 0 when the comment already had that outcome or the fence is up.
local id, new = ARGV[1], ARGV[2]
if redis.call("EXISTS", KEYS[3]) == 1 then
  return 0
end
local old = redis.call("HGET", KEYS[2], id) or ""
if old == new then
  return 0
end
if old ~= "" then
  if redis.call("HINCRBY", KEYS[1], old, -1) < 0 then
    redis.call("HSET", KEYS[1], old, 0)
  end
end
if new ~= "" then
  redis.call("HINCRBY", KEYS[1], new, 1)
  redis.call("HSET", KEYS[2], id, new)
else
  redis.call("HDEL", KEYS[2], id)
end
return 1
