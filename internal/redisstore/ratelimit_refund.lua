-- Gives back what one check counted on one counted value (one hash slot): each rule's TAT moves
-- back one interval, and our marker (duplicate or request) is removed if it is still ours. A refund mark makes
-- a resent refund a no-op: applied twice it would make the limits looser than configured.
--
-- KEYS[1]      the refund mark of the check
-- KEYS[2..n+1] the rules' states
-- KEYS[n+2]    optional: the marker (an author's duplicate marker, a thread's request marker)
-- ARGV[1]      n
-- ARGV[1+i]    (i = 1..n) rule i's interval in µs
-- ARGV[n+2]    the refund mark's lifetime in s
-- ARGV[n+3]    the value our marker holds              (only with a marker)
--
-- Returns 1 when refunded, 0 when this check was refunded before.
local n = tonumber(ARGV[1])
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[n + 2]) then
  return 0
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, n do
  local v = redis.call('GET', KEYS[i + 1])
  if v then
    local tat = tonumber(v) - tonumber(ARGV[1 + i])
    if tat > now then
      redis.call('SET', KEYS[i + 1], tat, 'PX', math.ceil((tat - now) / 1000))
    else
      -- A TAT in the past is the idle state.
      redis.call('DEL', KEYS[i + 1])
    end
  end
end

local marker = KEYS[n + 2]
if marker and redis.call('GET', marker) == ARGV[n + 3] then
  redis.call('DEL', marker)
end
return 1
