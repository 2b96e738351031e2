-- Checks, and only when all pass counts, the rate-limit rules on one counted value (one hash slot)
-- and one marker: for an author, the duplicate marker of the submitted text; for a thread, the
-- marker of the submission's request id (then "duplicate" below means another request under the
-- same id, and "replay" a resend of the same request). It also reads the author's record
-- (approved/rejected/spam counts), which lives in the same slot, so the spam check gets it in the
-- same round trip. GCRA: a rule's state is its theoretical arrival time (TAT); a submission moves it
-- one interval on from max(TAT, now), and is refused while the moved TAT would lie more than burst
-- intervals ahead of now. Integer µs of Redis' own clock throughout, so every commentd instance
-- agrees and nothing is lost to rounding (µs since 1970 stay far below 2^53, where Lua's doubles
-- stop being exact).
--
-- KEYS[1..n]   the rules' states (string, TAT in µs)
-- then         the marker                              (only when ARGV[2] is "1")
-- then         the author's record (hash), only read   (only when ARGV[3] is "1")
-- then         the check's take mark (string)          (optional: given when there is no marker)
-- ARGV[1]      n
-- ARGV[2]      "1" when a marker follows the rules' keys, else "0"
-- ARGV[3]      "1" when the author's record follows, else "0"
-- ARGV[2i+2], ARGV[2i+3]  (i = 1..n) rule i's interval in µs and its burst
-- ARGV[2n+4]   marker lifetime in ms                   (only with a marker)
-- ARGV[2n+5]   the value our marker holds              (only with a marker)
-- ARGV[2n+6]   the prefix of markers set by earlier checks of the same request, or ""
-- ARGV[#ARGV]  take mark lifetime in ms                (only with a take mark)
--
-- A call the client resends after losing the reply must not count twice: the marker holds the
-- check's own value, and a value without one has the take mark, kept when it counts.
--
-- Returns {status, approved, rejected, spam, wait_1, ..., wait_n}: the record's counts (0 without
-- a record); status 0 every rule counted (and our marker set), and wait_i is then rule i's new TAT
-- (0 when a resent call finds it counted already), which a refund after it gives nothing back; 1
-- duplicate (another's marker) and
-- 2 replay (a marker with our replay prefix): nothing counted, no waits, and a fifth value: the
-- marker's remaining life in ms (its age is its lifetime less that); 3 refused: nothing
-- counted, wait_i > 0 is how many µs rule i needs before it would pass.
local n = tonumber(ARGV[1])
local k = n + 1
local marker, record
if ARGV[2] == '1' then
  marker = KEYS[k]
  k = k + 1
end
if ARGV[3] == '1' then
  record = KEYS[k]
  k = k + 1
end
local taken = KEYS[k]

local out = {0, 0, 0, 0}
if record then
  local h = redis.call('HMGET', record, 'approved', 'rejected', 'spam')
  for i = 1, 3 do
    out[i + 1] = tonumber(h[i]) or 0
  end
end

if marker then
  local seen = redis.call('GET', marker)
  if seen then
    local ours = ARGV[2 * n + 5]
    local replay = ARGV[2 * n + 6]
    if seen == ours then
      -- The client resent this very call after losing the reply: it was counted already.
      for i = 1, n do out[i + 4] = 0 end
      return out
    end
    if replay ~= '' and string.sub(seen, 1, string.len(replay)) == replay then
      out[1] = 2
      out[5] = redis.call('PTTL', marker)
    else
      out[1] = 1
    end
    return out
  end
end

if n == 0 and not marker then
  return out
end
-- The take mark is set first, and taken away again when a rule refuses: one command on the path
-- where every rule counts, where a check and a set would be two.
if taken and not redis.call('SET', taken, '1', 'PX', ARGV[#ARGV], 'NX') then
  -- The client resent this very call after losing the reply: it was counted already.
  for i = 1, n do out[i + 4] = 0 end
  return out
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i + 2])
  local burst = tonumber(ARGV[2 * i + 3])
  local tat = now
  local v = redis.call('GET', KEYS[i])
  if v then
    tat = math.max(tonumber(v), now)
    -- A TAT more than a full burst ahead was set under a stricter rule of the same name (the
    -- operator changed it and restarted): the rule in force caps it there, a burst spent, so the
    -- value waits one of its intervals, not until the old rule would have let it through. Written
    -- back, or the next check would find the old TAT and be refused again after that wait.
    local cap = now + burst * interval
    if tat > cap then
      tat = cap
      redis.call('SET', KEYS[i], cap, 'PX', math.ceil(burst * interval / 1000))
    end
  end
  local new_tat = tat + interval
  local wait = new_tat - burst * interval - now
  if wait > 0 then
    out[1] = 3
    out[i + 4] = wait
  else
    out[i + 4] = 0
  end
  tats[i] = new_tat
end
if out[1] ~= 0 then
  if taken then
    redis.call('DEL', taken)
  end
  return out
end

-- A TAT goes to Redis as a Lua number, which Redis writes with 17 significant digits: exact for
-- µs since 1970 (16 digits), and cheaper than formatting it here.
for i = 1, n do
  redis.call('SET', KEYS[i], tats[i], 'PX', math.ceil((tats[i] - now) / 1000))
  out[i + 4] = tats[i]
end
if marker then
  redis.call('SET', marker, ARGV[2 * n + 5], 'PX', ARGV[2 * n + 4])
end
return out
