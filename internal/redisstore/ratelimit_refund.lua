-- Gives back what one check counted on one counted value (one hash slot): each rule's TAT moves
-- back one interval, and our marker (duplicate or request) is removed if it is still ours. A refund mark makes
-- a resent refund a no-op: applied twice it would make the limits looser than configured.
--
-- A count whose rule state has run past the TAT its take left has drained: the state is then
-- other submissions' counts alone, so that rule gives nothing back (moving it back would let one
-- more through than the rule allows).
--
-- An unsure refund (ARGV[2n+3] "1") is for a check whose reply was lost (its deadline passed, its
-- connection broke): it may not have run, or may have refused, and then moving the TATs back would
-- give back counts another submission took. It gives back only what the check's own marks show it
-- counted: our marker still holding our value, or, on a value without a marker, the check's take
-- mark (ratelimit_take.lua keeps it only when every rule counted). Without either it does nothing,
-- and sets no refund mark. Its takes are all the check's, so it also skips the shadow rules the
-- take mark records as not counted (see ratelimit_take.lua): they took nothing to give back. A sure
-- refund lists only what was counted.
--
-- KEYS[1]      the refund mark of the check
-- KEYS[2..n+1] the rules' states
-- KEYS[n+2]    optional: the marker (an author's duplicate marker, a thread's request marker), or,
--              for an unsure refund on a value without a marker, the check's take mark
-- KEYS[n+3]    optional, for an unsure refund with a marker and a shadow rule: the check's take mark
-- ARGV[1]      n
-- ARGV[1+i]    (i = 1..n) rule i's interval in µs
-- ARGV[1+n+i]  (i = 1..n) the TAT rule i's take left, in µs, or 0 when unknown
-- ARGV[2n+2]   the refund mark's lifetime in s
-- ARGV[2n+3]   "1" for an unsure refund, else "0"
-- ARGV[2n+4]   the value our marker holds              (only with a marker)
--
-- Returns 1 when refunded, 0 when this check was refunded before or, unsure, counted nothing here.
local n = tonumber(ARGV[1])
local marker = KEYS[n + 2]
local ours = ARGV[2 * n + 4]
local skipped -- the take mark's record of the shadow rules that did not count, if any
if ARGV[2 * n + 3] == '1' then
  local counted
  if ours then
    counted = marker and redis.call('GET', marker) == ours
    if counted and KEYS[n + 3] then
      skipped = redis.call('GET', KEYS[n + 3])
    end
  else
    skipped = marker and redis.call('GET', marker)
    counted = skipped
  end
  if not counted then
    return 0
  end
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2 * n + 2]) then
  return 0
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, n do
  local v = redis.call('GET', KEYS[i + 1])
  local drained = tonumber(ARGV[1 + n + i])
  if skipped and string.sub(skipped, i + 1, i + 1) == '1' then
    v = nil
  end
  if v and (drained == 0 or drained > now) then
    local tat = tonumber(v) - tonumber(ARGV[1 + i])
    if tat > now then
      redis.call('SET', KEYS[i + 1], tat, 'PX', math.ceil((tat - now) / 1000))
    else
      -- A TAT in the past is the idle state.
      redis.call('DEL', KEYS[i + 1])
    end
  end
end

if ours and redis.call('GET', marker) == ours then
  redis.call('DEL', marker)
end
return 1
