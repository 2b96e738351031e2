-- Checks, and only when all pass counts, the rate-limit rules on one counted value (one hash slot)
-- and, for an author, the duplicate marker of the submitted text. GCRA: a rule's state is its
-- theoretical arrival time (TAT); a submission moves it one interval on from max(TAT, now), and is
-- refused while the moved TAT would lie more than burst intervals ahead of now. Integer µs of
-- Redis' own clock throughout, so every commentd instance agrees and nothing is lost to rounding
-- (µs since 1970 stay far below 2^53, where Lua's doubles stop being exact).
--
-- KEYS[1..n]   the rules' states (string, TAT in µs)
-- KEYS[n+1]    optional: the duplicate marker
-- ARGV[1]      n
-- ARGV[2i], ARGV[2i+1]  (i = 1..n) rule i's interval in µs and its burst
-- ARGV[2n+2]   marker lifetime in ms                   (only with a marker)
-- ARGV[2n+3]   the value our marker holds              (only with a marker)
-- ARGV[2n+4]   the prefix of markers set by earlier checks with the same request id, or ""
--
-- Returns {status, wait_1, ..., wait_n}: status 0 every rule counted (and our marker set);
-- 1 duplicate and 2 replay (a marker with our request id): nothing counted; 3 refused: nothing
-- counted, wait_i > 0 is how many µs rule i needs before it would pass.
local n = tonumber(ARGV[1])
local marker = KEYS[n + 1]

if marker then
  local seen = redis.call('GET', marker)
  if seen then
    local ours = ARGV[2 * n + 3]
    local replay = ARGV[2 * n + 4]
    if seen == ours then
      -- The client resent this very call after losing the reply: it was counted already.
      local out = {0}
      for i = 1, n do out[i + 1] = 0 end
      return out
    end
    if replay ~= '' and string.sub(seen, 1, string.len(replay)) == replay then
      return {2}
    end
    return {1}
  end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {0}
local tats = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = now
  local v = redis.call('GET', KEYS[i])
  if v then
    tat = math.max(tonumber(v), now)
  end
  local new_tat = tat + interval
  local wait = new_tat - burst * interval - now
  if wait > 0 then
    out[1] = 3
    out[i + 1] = wait
  else
    out[i + 1] = 0
  end
  tats[i] = new_tat
end
if out[1] ~= 0 then
  return out
end

for i = 1, n do
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000))
end
if marker then
  redis.call('SET', marker, ARGV[2 * n + 3], 'PX', ARGV[2 * n + 2])
end
return out
