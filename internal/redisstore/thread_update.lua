-- thread_update.lua is every Store.UpdateThread: it reads a thread's settings, decides what to
-- write and writes it in one atomic step, so no other update comes between the reading and the
-- writing. With an etag it changes the thread only while the thread still has the etag the caller
-- read (moderation.ThreadETag); without one it changes it whatever it is. It runs twice safely
-- (go-redis may resend it): the second run finds the thread as the first left it, which is what it
-- asks for, so it changes nothing and succeeds.
--
-- A change is recorded in the shard's audit stream, and counted among the moderator's other
-- actions of the day, in the same step: written by the caller after the reply, the entry would be
-- lost with a reply that came after the call's deadline, and the moderator's resend, which finds
-- the thread changed already, changes nothing and so records nothing either.
--
-- KEYS[1]      the thread's settings hash
-- KEYS[2]      the shard's thread index (a zset: thread id, score the last change, unix µs)
-- KEYS[3]      this call's mark (a hash): the settings before the change this call made
-- KEYS[4]      the shard's audit stream (only with ARGV[8])
-- KEYS[5]      the shard's counters of the day (a hash; only with ARGV[9])
-- ARGV[1]      the new mode: "" unchanged, "0" the site default (the field is deleted), "1" pre,
--              "2" post
-- ARGV[2]      closed: "" unchanged, "1" close, "0" reopen
-- ARGV[3]      now, unix µs: a reopening starts the thread's new auto-close period then
-- ARGV[4]      the auto-close period, µs ("0": the server does not close threads by age)
-- ARGV[5]      the etag the caller read, or "" for an unconditional update
-- ARGV[6]      the thread id: its member in the index
-- ARGV[7]      the mark's TTL, seconds
-- ARGV[8]      the moderator, named in the audit entry; "" (or absent) records no entry
-- ARGV[9]      the moderator's counter field of other actions in KEYS[5]; "" counts nothing (the
--              server's own actions)
-- ARGV[10]     when KEYS[5] expires, unix seconds
--
-- Returns {status, mode, closed, first, mode, closed, first}: the settings hash's fields after the
-- call, then before it (false when absent), with status "ok" (changed, or nothing to change) or
-- "stale" (the etag differs; nothing changed). The fields before are read in the same atomic step
-- as the write, so the caller can tell what this call changed (for the audit log) even when
-- another update landed between the caller's reading of the thread and this call.
local cur = redis.call("HMGET", KEYS[1], "mode", "closed", "first")
local mode, closed, first = cur[1], cur[2], cur[3]
-- A resend of a call whose first run made its change: the thread is as the call asks, and the
-- mark tells what it was before. The mark always holds "_", so one HMGET tells whether it exists.
local marked = redis.call("HMGET", KEYS[3], "_", "mode", "closed", "first")
if marked[1] then
  return {"ok", mode, closed, first, marked[2], marked[3], marked[4]}
end
local now, period = tonumber(ARGV[3]), tonumber(ARGV[4])
-- The same test as create.lua's and Store.decodeThread's.
local byAge = period > 0 and first and closed ~= "1" and now - tonumber(first) >= period

-- The writes the update makes (Store.UpdateThread says why): a setting back at its default is
-- deleted; closing a thread closed by age changes nothing (it stays closed by age only);
-- reopening a closed thread that has a period starts a new one, and reopening an open one changes
-- nothing (its period runs on from its first comment).
local set, del = {}, {}
if ARGV[1] == "0" then
  if mode then
    del[#del + 1] = "mode"
  end
elseif ARGV[1] ~= "" and mode ~= ARGV[1] then
  set[#set + 1] = "mode"
  set[#set + 1] = ARGV[1]
end
if ARGV[2] == "1" then
  if not byAge and closed ~= "1" then
    set[#set + 1] = "closed"
    set[#set + 1] = "1"
  end
elseif ARGV[2] == "0" then
  if closed then
    del[#del + 1] = "closed"
  end
  if period > 0 and first and (closed == "1" or byAge) then
    set[#set + 1] = "first"
    set[#set + 1] = ARGV[3]
  end
end

-- Before the etag: an update that changes nothing overwrites nobody, and a resent call whose first
-- sending was applied finds the thread as it asks, with another etag (its own update's), and must
-- succeed as the first sending did.
if #set == 0 and #del == 0 then
  return {"ok", mode, closed, first, mode, closed, first}
end

-- The etag, when the caller sent one, as moderation.ThreadETag makes it: the thread id, the mode ("0" for the site
-- default), "1" for a moderator's close, and the end of the auto-close period (µs; "" when the
-- server does not close threads by age or the period has not started). %.0f prints the sum
-- exactly, as long as it is below 2^53 (a time in µs is far below it, and commentd's config takes
-- a period of at most a century); tostring would round it to 14 digits.
if ARGV[5] ~= "" then
  local ends = ""
  if period > 0 and first then
    ends = string.format("%.0f", tonumber(first) + period)
  end
  local version = ARGV[6] .. ":" .. (mode or "0") .. ":" .. (closed == "1" and "1" or "0") .. ":" .. ends
  if 'W/"' .. string.sub(redis.sha1hex(version), 1, 16) .. '"' ~= ARGV[5] then
    return {"stale", mode, closed, first, mode, closed, first}
  end
end

local was = {"_", "1"}
for i, f in ipairs({"mode", "closed", "first"}) do
  if cur[i] then
    was[#was + 1] = f
    was[#was + 1] = cur[i]
  end
end
redis.call("HSET", KEYS[3], unpack(was))
redis.call("EXPIRE", KEYS[3], ARGV[7])
if #del > 0 then
  redis.call("HDEL", KEYS[1], unpack(del))
end
if #set > 0 then
  redis.call("HSET", KEYS[1], unpack(set))
end
-- The index, in the same step: a thread is in it while it has a mode of its own or a moderator's
-- close, scored by this change, and leaves it when both are back at their defaults. "first" alone
-- (every thread with a comment has it) keeps nobody in it. A resent call changed nothing above
-- and returned before this, so a thread's score is the time of its last real change.
local after = redis.call("HMGET", KEYS[1], "mode", "closed", "first")
if after[1] or after[2] then
  redis.call("ZADD", KEYS[2], ARGV[3], ARGV[6])
else
  redis.call("ZREM", KEYS[2], ARGV[6])
end

-- The audit entry's reason, as moderation.threadChange words it from the thread before and after
-- (a thread closed by age reads "true (by age)", judged at now as Store.decodeThread does).
if ARGV[8] and ARGV[8] ~= "" then
  local function modeName(m)
    if m == "1" then
      return "pre"
    elseif m == "2" then
      return "post"
    end
    return "default"
  end
  local function closedName(c, f)
    if period > 0 and f and c ~= "1" and now - tonumber(f) >= period then
      return "true (by age)"
    end
    return c == "1" and "true" or "false"
  end
  local parts = {}
  if modeName(mode) ~= modeName(after[1]) then
    parts[#parts + 1] = "moderation mode " .. modeName(mode) .. " -> " .. modeName(after[1])
  end
  local closedBefore, closedAfter = closedName(closed, first), closedName(after[2], after[3])
  if closedBefore ~= closedAfter then
    parts[#parts + 1] = "closed " .. closedBefore .. " -> " .. closedAfter
  end
  if #parts > 0 then
    redis.call("XADD", KEYS[4], "*", "by", ARGV[8], "act", "update_thread", "target", "threads/" .. ARGV[6],
      "reason", table.concat(parts, "; "))
    if ARGV[9] ~= "" then
      redis.call("HINCRBY", KEYS[5], ARGV[9], 1)
      redis.call("EXPIREAT", KEYS[5], ARGV[10])
    end
  end
end
return {"ok", after[1], after[2], after[3], mode, closed, first}
