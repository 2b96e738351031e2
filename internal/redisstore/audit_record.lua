-- audit_record.lua is the start of the scripts that record their change in the audit log
-- themselves (bans_put.lua, bans_delete.lua, filters_write.lua): each is this text followed by
-- its own, so the entry is written in the change's atomic step, in its slot.
--
-- record_audit(stream, counters, i) appends one entry to stream and counts it in the moderator's
-- counters of the day, from ARGV[i..i+5] as Store.auditStep makes them: the counter field of
-- counters to add 1 to ("" counts nothing), when counters expire (unix seconds), then the entry's
-- moderator, action, target and reason.
local function record_audit(stream, counters, i)
  redis.call("XADD", stream, "*", "by", ARGV[i + 2], "act", ARGV[i + 3], "target", ARGV[i + 4], "reason", ARGV[i + 5])
  if ARGV[i] ~= "" then
    redis.call("HINCRBY", counters, ARGV[i], 1)
    redis.call("EXPIREAT", counters, ARGV[i + 1])
  end
end
