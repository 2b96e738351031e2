-- create.lua stores one new comment, its index entries and its idempotency record in one atomic
-- step. Running it twice with the same arguments stores nothing new the second time (go-redis
-- may resend a write whose reply was lost).
--
-- KEYS[1]      record key of the new comment
-- KEYS[2]      the thread's settings hash
-- KEYS[3]      the record key the parent has if it is in this thread (unused without a parent)
-- KEYS[4]      the idempotency record (unused without a request id)
-- KEYS[5]      the thread's published zset
-- KEYS[6..8]   the thread's queue zsets: pending, rejected, spam
-- KEYS[9..11]  the shard's queue zsets: pending, rejected, spam
-- KEYS[12]     the fingerprint of the request that made the idempotency record (unused without a
--              request id)
-- ARGV[1]      thread id
-- ARGV[2]      parent id, "" for a top-level comment
-- ARGV[3]      the request's fingerprint (32 hex digits) when the call has a request id (KEYS[4]
--              and KEYS[12] are used), "" without one
-- ARGV[4]      idempotency record TTL, seconds
-- ARGV[5]      site default mode: "1" pre, "2" post
-- ARGV[6]      state as submitted: "1" published, "2" pending, "3" rejected, "4" spam
-- ARGV[7]      publication time as submitted, unix µs ("" unless published)
-- ARGV[8]      hold field as submitted ("" for none)
-- ARGV[9]      hold field to store when pre-moderation holds the comment; "" when the author
--              is trusted to skip pre-moderation (then pre-moderation does not hold it)
-- ARGV[10]     creation time, unix µs: the score in every index
-- ARGV[11]     comment id
-- ARGV[12]     auto-close period, µs: a thread whose period started longer ago refuses new
--              comments; "0" never
-- ARGV[13]     base of the shard's daily counters: append the day number
-- ARGV[14]     how long daily counters live after their day ends, seconds
-- ARGV[15]     the queue events channel
-- ARGV[16]     the deepest a reply may be nested (a top-level comment is at depth 0): a reply to a
--              comment at this depth is refused; "0" no bound
-- ARGV[17]     "1": a resend only (comment.CreateOptions.ResendOnly): answer from the idempotency
--              record, and store nothing without one; else "0"
-- ARGV[18..]   field/value pairs stored as they are
--
-- Returns one of
--   {"new", state, published, hold, depth}
--                    stored now: the fields of ARGV[18..] plus "state", "created" and, when not
--                    "", "published", "hold" and "depth" ("" for a top-level comment, which
--                    stores none; the caller knows the rest, so the record is not sent back)
--   {"own", record}  this same comment was stored by an earlier run of this call
--   {"dup", record}  the request id was seen before, with this fingerprint (a resend); the record
--                    is the earlier comment
-- (record being the stored fields as HGETALL lists them), or a refusal: {"closed", by} (by being
-- "moderator" or "age": what closed the thread; a moderator's close is checked first),
-- {"no_parent"}, {"parent_unpublished"}, {"too_deep"} (the parent is at ARGV[16]'s depth), {"reused"} (the request id was seen before with another
-- fingerprint: another request under the same id), {"in_progress"} (a resend only, and the request
-- id has no record yet).
--
-- A new published or held comment also starts the thread's auto-close period if it has none
-- ("first" in the settings hash; spam and rejected comments start none), counts in the day's
-- "sub" (and "spam") counters, and announces a "held" or "spam" queue event. Nothing is written
-- for a refusal or a repeated call.
local PUBLISHED, PENDING, SPAM, PRE = "1", "2", "4", "1"
local DAY = 86400000000 -- µs

-- Idempotency comes first: a retried request must get its comment back even if the thread has
-- been closed since.
if ARGV[3] ~= "" then
  local earlier = redis.call("GET", KEYS[4])
  if earlier then
    -- The record key alone, which servers of earlier versions read too (they share Redis during a
    -- rolling upgrade), with the request's fingerprint in KEYS[12]. One version wrote the record
    -- key, "/" and the fingerprint instead: the record key's 33rd character from the end is the
    -- "{" of the hash tag (then "sNN}c:" and the 26-character id), never "/". A record without a
    -- fingerprint (written before they were kept, or by an earlier version's server) cannot be
    -- told from another request, and is answered as a resend, as it was when it was written.
    local key, fingerprint = earlier, nil
    if #earlier > 33 and string.sub(earlier, -33, -33) == "/" then
      key, fingerprint = string.sub(earlier, 1, -34), string.sub(earlier, -32)
    else
      fingerprint = redis.call("GET", KEYS[12]) or nil
    end
    local rec = redis.call("HGETALL", key)
    if #rec > 0 then
      if key == KEYS[1] then
        return {"own", rec}
      end
      if fingerprint and fingerprint ~= ARGV[3] then
        return {"reused"}
      end
      return {"dup", rec}
    end
  end
end
-- A resend whose first submission may still be on its way (or being refused) must not store the
-- comment in its place: nothing counted it.
if ARGV[3] ~= "" and ARGV[17] == "1" then
  return {"in_progress"}
end
-- Without a request id, a resent call finds its own record. With one, the idempotency record
-- above, written in the same step as the comment, already did; the EXISTS would be one more
-- command on every submission for nothing.
if ARGV[3] == "" and redis.call("EXISTS", KEYS[1]) == 1 then
  return {"own", redis.call("HGETALL", KEYS[1])}
end

local settings = redis.call("HMGET", KEYS[2], "mode", "closed", "first")
if settings[2] == "1" then
  return {"closed", "moderator"}
end
local period = tonumber(ARGV[12])
if period > 0 and settings[3] and tonumber(ARGV[10]) - tonumber(settings[3]) >= period then
  return {"closed", "age"}
end

local depth = 0
if ARGV[2] ~= "" then
  local parent = redis.call("HMGET", KEYS[3], "thread", "state", "depth", "parent")
  if parent[1] ~= ARGV[1] then
    return {"no_parent"}
  end
  if parent[2] ~= PUBLISHED then
    return {"parent_unpublished"}
  end
  -- A reply stored before replies kept their depth has a parent and no depth: it is at depth 1 at
  -- least, and taken as 1.
  depth = tonumber(parent[3] or (parent[4] and "1") or "0") + 1
  local most = tonumber(ARGV[16])
  if most > 0 and depth > most then
    return {"too_deep"}
  end
end

local mode = settings[1]
if not mode then
  mode = ARGV[5]
end
local state, published, hold = ARGV[6], ARGV[7], ARGV[8]
if state == PUBLISHED and mode == PRE and ARGV[9] ~= "" then
  state, published, hold = PENDING, "", ARGV[9]
end

local id, score = ARGV[11], ARGV[10]
local fields = {"state", state, "created", score, unpack(ARGV, 18)}
if depth > 0 then
  fields[#fields + 1] = "depth"
  fields[#fields + 1] = depth
end
if published ~= "" then
  fields[#fields + 1] = "published"
  fields[#fields + 1] = published
end
if hold ~= "" then
  fields[#fields + 1] = "hold"
  fields[#fields + 1] = hold
end
redis.call("HSET", KEYS[1], unpack(fields))
if state == PUBLISHED then
  redis.call("ZADD", KEYS[5], score, id)
else
  local q = tonumber(state) - 1 -- pending 1, rejected 2, spam 3
  redis.call("ZADD", KEYS[5 + q], score, id)
  redis.call("ZADD", KEYS[8 + q], score, id)
end
if ARGV[3] ~= "" then
  redis.call("SET", KEYS[4], KEYS[1], "EX", ARGV[4])
  redis.call("SET", KEYS[12], ARGV[3], "EX", ARGV[4])
end
-- Only a comment that is not spam (published or held) starts the period: a spammer posting to
-- an article id ahead of its publication must not start its clock early. Spam and comments the
-- spam checks rejected are stored without starting it. A comment marked spam by a moderator later
-- leaves the period it started running.
if not settings[3] and (state == PUBLISHED or state == PENDING) then
  redis.call("HSET", KEYS[2], "first", score)
end

-- Daily counters: the key of a day long gone expires at once, so old submissions replayed from
-- a backup never keep one alive. Whoever creates a day's key sets its expiry (decide.lua does
-- too), so it is set here only when this is the day's first submission.
local day = math.floor(tonumber(score) / DAY)
local counters = ARGV[13] .. day
local first = redis.call("HINCRBY", counters, "sub", 1) == 1
if state == SPAM then
  redis.call("HINCRBY", counters, "spam", 1)
end
if first then
  redis.call("EXPIREAT", counters, (day + 1) * 86400 + tonumber(ARGV[14]))
end

if state == PENDING then
  redis.call("PUBLISH", ARGV[15], "held " .. id .. " " .. ARGV[1] .. " " .. score)
elseif state == SPAM then
  redis.call("PUBLISH", ARGV[15], "spam " .. id .. " " .. ARGV[1] .. " " .. score)
end
return {"new", state, published, hold, depth > 0 and tostring(depth) or ""}
