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
-- A shadow rule is checked and counted like the others, but where it would refuse it refuses
-- nothing: its state stays as an enforced rule's would on a refusal, the other rules count as if
-- it were not there, and the reply reports the would-be wait. The take mark then records which
-- shadow rules did not count, for a resent call and for an unsure refund (ratelimit_refund.lua).
--
-- KEYS[1..n]   the rules' states (string, TAT in µs)
-- then         the marker                              (only when ARGV[2] is "1")
-- then         the author's record (hash), only read   (only when ARGV[3] is "1")
-- then         the check's take mark (string)          (optional: given when there is no marker,
--                                                       and with a marker when a rule is shadow)
-- ARGV[1]      n
-- ARGV[2]      "1" when a marker follows the rules' keys, else "0"
-- ARGV[3]      "1" when the author's record follows, else "0"
-- ARGV[3i+1], ARGV[3i+2], ARGV[3i+3]  (i = 1..n) rule i's interval in µs, its burst, and "1" when
--              it is a shadow rule, else "0"
-- ARGV[3n+4]   marker lifetime in ms                   (only with a marker)
-- ARGV[3n+5]   the value our marker holds              (only with a marker)
-- ARGV[3n+6]   the prefix of markers set by earlier checks of the same request, or ""
-- ARGV[#ARGV]  take mark lifetime in ms                (only with a take mark)
--
-- A call the client resends after losing the reply must not count twice: the marker holds the
-- check's own value, and a value without one has the take mark, kept when it counts. The take mark
-- holds "1", or, when shadow rules did not count, "S" and one character per rule: "1" for a shadow
-- rule that did not count, "0" for the others.
--
-- Returns {status, approved, rejected, spam, wait_1, ..., wait_n}: the record's counts (0 without
-- a record); status 0 every enforced rule counted (and our marker set), and wait_i is then rule
-- i's new TAT (0 when a resent call finds it counted already), which a refund after it gives
-- nothing back, or, for a shadow rule that would have refused and did not count, minus its wait
-- in µs (-1 when a resent call finds it did not count); 1 duplicate (another's marker) and
-- 2 replay (a marker with our replay prefix): nothing counted, no waits, and a fifth value: the
-- marker's remaining life in ms (its age is its lifetime less that); 3 refused: nothing
-- counted, wait_i > 0 is how many µs enforced rule i needs before it would pass, and wait_i < 0
-- minus the wait of a shadow rule that would have refused too.
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

-- The reply to a call the client resent after losing the reply: it was counted already, but for
-- the shadow rules its take mark records as not counted.
local function resent()
  local skipped = taken and redis.call('GET', taken)
  for i = 1, n do
    if skipped and string.sub(skipped, i + 1, i + 1) == '1' then
      out[i + 4] = -1
    else
      out[i + 4] = 0
    end
  end
  return out
end

if record then
  local h = redis.call('HMGET', record, 'approved', 'rejected', 'spam')
  for i = 1, 3 do
    out[i + 1] = tonumber(h[i]) or 0
  end
end

if marker then
  local seen = redis.call('GET', marker)
  if seen then
    local ours = ARGV[3 * n + 5]
    local replay = ARGV[3 * n + 6]
    if seen == ours then
      return resent()
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
-- Without a marker, the take mark is set first, and taken away again when a rule refuses: one
-- command on the path where every rule counts, where a check and a set would be two.
if taken and not marker and not redis.call('SET', taken, '1', 'PX', ARGV[#ARGV], 'NX') then
  return resent()
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local skips = false
for i = 1, n do
  local interval = tonumber(ARGV[3 * i + 1])
  local burst = tonumber(ARGV[3 * i + 2])
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
  if wait > 0 and ARGV[3 * i + 3] == '1' then
    -- A shadow rule: reported, and not counted, whatever the others do.
    out[i + 4] = -wait
    skips = true
  elseif wait > 0 then
    out[1] = 3
    out[i + 4] = wait
  else
    out[i + 4] = 0
  end
  tats[i] = new_tat
end
if out[1] ~= 0 then
  if taken and not marker then
    redis.call('DEL', taken)
  end
  return out
end

-- A TAT goes to Redis as a Lua number, which Redis writes with 17 significant digits: exact for
-- µs since 1970 (16 digits), and cheaper than formatting it here.
for i = 1, n do
  if out[i + 4] == 0 then
    redis.call('SET', KEYS[i], tats[i], 'PX', math.ceil((tats[i] - now) / 1000))
    out[i + 4] = tats[i]
  end
end
if skips and taken then
  local rec = {'S'}
  for i = 1, n do
    rec[i + 1] = out[i + 4] < 0 and '1' or '0'
  end
  redis.call('SET', taken, table.concat(rec), 'PX', ARGV[#ARGV])
end
if marker then
  redis.call('SET', marker, ARGV[3 * n + 5], 'PX', ARGV[3 * n + 4])
end
return out
