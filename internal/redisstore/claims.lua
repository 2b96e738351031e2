-- claims.lua picks and leases queued comments of one shard to a moderator for review. A claim is
-- a string key per comment holding the moderator's name, with the lease as its TTL, and an entry
-- in the moderator's claim set. The script runs atomically, so two moderators claiming at once
-- never both get a comment.
--
-- KEYS[1]   the queue to claim from (a thread's or the shard's zset of comment ids)
-- KEYS[2]   the moderator's claim set in this shard
-- ARGV[1]   mode: "take" picks and claims up to ARGV[4] comments; "pick" only picks them (nothing
--           is written but the removal of ended leases)
-- ARGV[2]   the moderator
-- ARGV[3]   now, unix ms
-- ARGV[4]   how many comments to pick
-- ARGV[5]   the lease, ms
-- ARGV[6]   base of the claim keys: append a comment id
-- ARGV[7]   base of the record keys: append a comment id
-- ARGV[8]   how many queue entries to look at at most
-- ARGV[9..] comment ids not to pick (the moderator skipped them); they count among the entries
--           looked at
--
-- Picking takes first the moderator's own live claims on comments still in the queue, oldest
-- first, then the oldest comments nobody holds; comments another moderator holds are skipped.
-- Returns a list of {id, score, own} ("own" "1" for the moderator's own claim, "0" otherwise),
-- plus the record as HGETALL lists it in mode "take". A comment whose record is gone is left out.
local mode, moderator, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local count, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local claimBase, recordBase, scanBound = ARGV[6], ARGV[7], tonumber(ARGV[8])
local skip = {}
for i = 9, #ARGV do
  skip[ARGV[i]] = true
end

-- Ended leases: their claim keys expired by themselves.
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now)

local out = {}

-- add takes comment id (score its creation time) into the result, claiming it unless picking.
local function add(id, score, own)
  local item = {id, score, own}
  if mode ~= "pick" then
    local rec = redis.call("HGETALL", recordBase .. id)
    if #rec == 0 then
      return
    end
    redis.call("SET", claimBase .. id, moderator, "PX", lease)
    redis.call("ZADD", KEYS[2], now + lease, id)
    -- The set lives as long as its longest lease, so a moderator who never claims in this shard
    -- again does not leave it behind for ever. Redis' clock times it, as it times the claim keys.
    if redis.call("PTTL", KEYS[2]) < lease then
      redis.call("PEXPIRE", KEYS[2], lease)
    end
    item[4] = rec
  end
  out[#out + 1] = item
end

-- holder returns who holds comment id: false for nobody.
local function holder(id)
  return redis.call("GET", claimBase .. id)
end

-- The moderator's own live claims on comments still in this queue, oldest first.
local own = {}
for _, id in ipairs(redis.call("ZRANGE", KEYS[2], 0, -1)) do
  local score = redis.call("ZSCORE", KEYS[1], id)
  if score and not skip[id] and holder(id) == moderator then
    own[#own + 1] = {id, score}
  end
end
table.sort(own, function(a, b)
  local x, y = tonumber(a[2]), tonumber(b[2])
  if x ~= y then
    return x < y
  end
  return a[1] < b[1]
end)
for i = 1, math.min(#own, count) do
  add(own[i][1], own[i][2], "1")
end

-- Then the oldest comments nobody holds.
local offset, batch, scanned = 0, math.min(count * 2 + 16, scanBound), 0
while #out < count and scanned < scanBound do
  local r = redis.call("ZRANGE", KEYS[1], offset, offset + batch - 1, "WITHSCORES")
  for i = 1, #r, 2 do
    scanned = scanned + 1
    if not skip[r[i]] and not holder(r[i]) then
      add(r[i], r[i + 1], "0")
      if #out == count then
        break
      end
    end
    if scanned >= scanBound then
      break
    end
  end
  if #r < 2 * batch then
    break
  end
  offset = offset + batch
end
return out
