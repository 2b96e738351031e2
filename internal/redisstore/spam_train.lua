-- spam_train.lua applies one training step to a spam model in one atomic step: it adds to (or
-- takes from) the counts of tokens in a class, keeps the totals in step (messages, token sums,
-- vocabulary), and for the site's model appends the change to the model's stream, from which every
-- server updates its in-memory copy. A count never goes below zero.
--
-- KEYS[1]   the model's token counts (hash: "s:<token>" and "h:<token>" → count)
-- KEYS[2]   the model's totals (hash)
-- KEYS[3]   the model's labels (hash: comment id → "s" or "h", or "S", "H" or "E" (no label) once
--           an erasure request reached the comment and it teaches its anonymised features, see
--           refeature mode); label and refeature modes only
-- KEYS[4]   the model's change stream; used when ARGV[2] is not "0"
-- KEYS[5]   the step's marker (string); batch mode only
-- KEYS[6]   the model's examples (hash: "n:<id>" → how many times the example is trained, "t:<id>"
--           → its class, a space and its tokens without the character n-grams, sorted and
--           space-separated), from which every server fits the model's forest
-- KEYS[7]   the examples' order (zset: member <id>, score the model's change number when the
--           example was first trained), so that the oldest go first beyond ARGV[4]
-- ARGV[1]   mode: "label", "refeature" or "batch"
-- ARGV[2]   the stream's approximate length limit; "0": no stream (a scratch model)
-- ARGV[3]   TTL of the counts, totals and examples in seconds; "0": none
-- ARGV[4]   the most distinct examples kept
-- label mode, for a moderator's decision on one comment:
--   ARGV[5]   the comment id
--   ARGV[6]   its new label: "s" spam, "h" ham, "" none
--   ARGV[7]   n: ARGV[8..7+n] are the comment's tokens (distinct), ARGV[8+n..] its tokens as an
--             erasure request leaves it. The old label's training is undone with the tokens it
--             was taught with (the anonymised ones for "S" and "H") and the new one applied with
--             the comment's (the anonymised ones again when an erasure reached the comment: the
--             label stays upper case, "E" for none), so a comment teaches exactly one label at a
--             time and a label set twice changes nothing.
-- refeature mode, for a comment an erasure request is anonymising:
--   ARGV[5]   the comment id
--   ARGV[6]   n: ARGV[7..6+n] are the comment's tokens, ARGV[7+n..] its anonymised tokens. What
--             its label taught moves from the first to the second, and the label becomes upper
--             case to say so ("E" when there is none); a label already moved is left alone, so a
--             repeated or resent step changes nothing. The label, not the record, says which tokens the model
--             holds: an erasure that stopped after this step and before the record changed leaves
--             the record with its author, and a decision on it in the meantime still untrains
--             what the model holds. The old tokens are the author's name and email domain, and
--             the stream's earlier entries (this comment's label among them) list them: the step
--             empties the stream and writes one entry that lists no token, with the change number
--             moved on by 2, so every server's copy sees a gap and loads the model again from the
--             counts, which no longer hold them. A comment without a label has nothing to move, but
--             a label it had once (approved, then reopened) listed its tokens in the stream: the
--             stream is emptied all the same, unless it holds nothing but an emptying's entry.
-- batch mode, for training examples:
--   ARGV[5]   the marker's TTL in seconds
--   ARGV[6]   a random token drawn for this call: the marker holds it after the model's gen, so
--             a call the Redis client resends after losing its reply answers 1, as its first
--             sending did, where a later call with the same marker answers 0
--   ARGV[7..] groups: class ("s" or "h"), delta ("1" or "-1"), n, then n distinct tokens
--
-- Every application of one comment's tokens to a class (a label set or undone, a label moved to
-- anonymised tokens, a group of a batch) is also an example, added to or taken from the examples
-- with the same delta: the same tokens in the same class are one example counted several times,
-- so an undo takes back exactly what it added and an erasure's move leaves no example with the
-- old tokens (it removes any left with them, whatever its count: see forgetExamples). Beyond ARGV[4] distinct examples the oldest is dropped; undoing a dropped example
-- changes nothing.
--
-- Returns 1 when the model changed (in batch mode: by this call or its first sending), 0 when the
-- step was a repeat (same label, label already moved, or marker set by another call); label mode
-- returns 2 instead of either when an erasure reached the comment (the caller's author key is then
-- stale).
local counts, totals, labels, stream, mark = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local examples, exampleOrder = KEYS[6], KEYS[7]
local mode, streamLen, ttl, maxExamples = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local TOTALS = {"spam", "ham", "spam_tokens", "ham_tokens", "vocab", "seq"}
local SPAM, HAM, SPAM_TOKENS, HAM_TOKENS, VOCAB, SEQ = 1, 2, 3, 4, 5, 6

local tot = {}
local t = redis.call("HMGET", totals, unpack(TOTALS))
for i = 1, #TOTALS do
  tot[i] = tonumber(t[i]) or 0
end

-- gen names this life of the model: a model made (or made again after it was deleted) gets a new
-- one, from Redis' clock, and batch marks hold the gen they were set in, so the marks of a deleted
-- model never make the training of its successor a repeat. A model made before gen existed has
-- none; its marks hold "1".
local gen = redis.call("HGET", totals, "gen")
local newGen = false
if not gen and redis.call("EXISTS", totals) == 0 then
  local now = redis.call("TIME")
  gen = now[1] .. string.format("%06d", tonumber(now[2]))
  newGen = true
end

-- cur caches the counts read or written by this step, by field.
local cur = {}
local function count(field)
  local v = cur[field]
  if v == nil then
    v = tonumber(redis.call("HGET", counts, field)) or 0
    cur[field] = v
  end
  return v
end

local touched, order = {}, {}
-- forget: the step took personal tokens out of the model (refeature mode), so the stream must not
-- keep them, and the servers' copies must drop them by loading the model again.
local forget = false

-- streamHoldsTokens tells whether the stream may list tokens: it holds more than the one entry,
-- listing none, that an earlier emptying left (so erasing many comments empties it once).
local function streamHoldsTokens()
  local n = redis.call("XLEN", stream)
  if n == 0 then
    return false
  end
  if n > 1 then
    return true
  end
  local last = redis.call("XREVRANGE", stream, "+", "-", "COUNT", 1)[1][2]
  for i = 1, #last, 2 do
    if last[i] == "tok" then
      return last[i + 1] ~= "[]"
    end
  end
  return true
end

-- exampleText returns the tokens ARGV[first..last] as an example holds them: without the
-- character n-grams, sorted and space-separated.
local function exampleText(first, last)
  local toks = {}
  for i = first, last do
    if string.sub(ARGV[i], 1, 2) ~= "c:" then
      toks[#toks + 1] = ARGV[i]
    end
  end
  table.sort(toks)
  return table.concat(toks, " ")
end

local function exampleID(body)
  return string.sub(redis.sha1hex(body), 1, 24)
end

-- forgetExamples removes, whatever their count, the examples of either class with the tokens
-- ARGV[first..last], unless those are the tokens ARGV[keepFirst..keepLast] too (the comment's
-- anonymised tokens, which name nobody), and tells whether it removed any. An erasure calls it
-- for the tokens it moves away from: an example left with them (a label set by this script and
-- undone by a release that kept no examples) would hold the author's name after the erasure.
local function forgetExamples(first, last, keepFirst, keepLast)
  local text = exampleText(first, last)
  if text == exampleText(keepFirst, keepLast) then
    return false
  end
  local removed = false
  for _, class in ipairs({"s", "h"}) do
    local id = exampleID(class .. " " .. text)
    if redis.call("HDEL", examples, "n:" .. id, "t:" .. id) > 0 then
      redis.call("ZREM", exampleOrder, id)
      removed = true
    end
  end
  return removed
end

-- example adds delta to the count of the example of the tokens ARGV[first..last] in the class.
local function example(class, delta, first, last)
  local body = class .. " " .. exampleText(first, last)
  local id = exampleID(body)
  local n = tonumber(redis.call("HGET", examples, "n:" .. id)) or 0
  if n == 0 then
    if delta <= 0 then
      return -- never kept, or dropped as the oldest: nothing to take back
    end
    redis.call("HSET", examples, "n:" .. id, delta, "t:" .. id, body)
    redis.call("ZADD", exampleOrder, tot[SEQ] + 1, id)
    local over = redis.call("ZCARD", exampleOrder) - maxExamples
    if over > 0 then
      local old = redis.call("ZPOPMIN", exampleOrder, over)
      for j = 1, #old, 2 do
        redis.call("HDEL", examples, "n:" .. old[j], "t:" .. old[j])
      end
    end
  elseif n + delta <= 0 then
    redis.call("HDEL", examples, "n:" .. id, "t:" .. id)
    redis.call("ZREM", exampleOrder, id)
  else
    redis.call("HSET", examples, "n:" .. id, n + delta)
  end
end

-- apply adds delta to the class's counts of the tokens ARGV[first..last], and to its example.
local function apply(class, delta, first, last)
  example(class, delta, first, last)
  local mine, other, msgs, toks = "h:", "s:", HAM, HAM_TOKENS
  if class == "s" then
    mine, other, msgs, toks = "s:", "h:", SPAM, SPAM_TOKENS
  end
  tot[msgs] = math.max(tot[msgs] + delta, 0)
  for i = first, last do
    local tok = ARGV[i]
    local before = count(mine .. tok)
    local after = math.max(before + delta, 0)
    if after ~= before then
      if after == 0 then
        redis.call("HDEL", counts, mine .. tok)
      else
        redis.call("HSET", counts, mine .. tok, after)
      end
      cur[mine .. tok] = after
      tot[toks] = tot[toks] + after - before
      if (before == 0) ~= (after == 0) and count(other .. tok) == 0 then
        if after > 0 then
          tot[VOCAB] = tot[VOCAB] + 1
        else
          tot[VOCAB] = tot[VOCAB] - 1
        end
      end
    end
    if streamLen > 0 and not touched[tok] then
      touched[tok] = true
      order[#order + 1] = tok
    end
  end
end

local erased = false
if mode == "label" then
  local id, new, n = ARGV[5], ARGV[6], tonumber(ARGV[7])
  local old = redis.call("HGET", labels, id) or ""
  -- Once an erasure has reached the comment ("S", "H" or "E"), it teaches its anonymised tokens
  -- only, whatever the caller's copy of the record still holds: a decision read before the
  -- erasure and learnt after it must not teach the author's name again.
  erased = old == "S" or old == "H" or old == "E"
  local stored, first, last = new, 8, 7 + n
  if erased then
    stored, first, last = string.upper(new), 8 + n, #ARGV
    if new == "" then
      stored = "E"
    end
  end
  if old == stored then
    if erased then
      return 2
    end
    return 0
  end
  if old == "s" or old == "h" then
    apply(old, -1, 8, 7 + n)
  elseif old == "S" or old == "H" then
    apply(string.lower(old), -1, 8 + n, #ARGV)
  end
  if new ~= "" then
    apply(new, 1, first, last)
  end
  if stored ~= "" then
    redis.call("HSET", labels, id, stored)
  else
    redis.call("HDEL", labels, id)
  end
elseif mode == "refeature" then
  local id, n = ARGV[5], tonumber(ARGV[6])
  local label = redis.call("HGET", labels, id)
  if label == "s" or label == "h" then
    apply(label, -1, 7, 6 + n)
    forgetExamples(7, 6 + n, 7 + n, #ARGV)
    apply(label, 1, 7 + n, #ARGV)
    redis.call("HSET", labels, id, string.upper(label))
    forget = true
  elseif not label then
    -- Nothing to move; "E" says an erasure reached the comment, so a later decision teaches its
    -- anonymised tokens. A label the comment had once (approved, then reopened) left entries that
    -- list its old tokens: the stream is emptied all the same. An example it left is removed, and
    -- the change numbered, so that every server fits its forest again without it.
    redis.call("HSET", labels, id, "E")
    local removed = forgetExamples(7, 6 + n, 7 + n, #ARGV)
    if streamLen > 0 and streamHoldsTokens() then
      forget = true
    elseif not removed then
      return 1
    end
  else
    return 0
  end
else
  -- A mark counts only in the life of the model it was set in: a model deleted (or expired) and
  -- trained again under the same request ids must be trained, every step of it, not skipped.
  -- The marker holds the gen, then the token of the call that set it (a marker set before tokens
  -- existed holds the gen alone).
  local markValue = gen or "1"
  local seen = redis.call("GET", mark)
  if seen and not newGen then
    if seen == markValue .. " " .. ARGV[6] then
      return 1
    end
    if seen == markValue or string.sub(seen, 1, string.len(markValue) + 1) == markValue .. " " then
      return 0
    end
  end
  local i = 7
  while i <= #ARGV do
    local class, delta, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    apply(class, delta, i + 3, i + 2 + n)
    i = i + 3 + n
  end
  redis.call("SET", mark, markValue .. " " .. ARGV[6], "EX", ARGV[5])
end

tot[SEQ] = tot[SEQ] + 1
if forget then
  tot[SEQ] = tot[SEQ] + 1 -- a gap: a copy at the previous change cannot apply this one, and reloads
end
local fields = {}
for i = 1, #TOTALS do
  fields[#fields + 1] = TOTALS[i]
  fields[#fields + 1] = tot[i]
end
if newGen then
  fields[#fields + 1] = "gen"
  fields[#fields + 1] = gen
end
redis.call("HSET", totals, unpack(fields))
if ttl > 0 then
  redis.call("EXPIRE", counts, ttl)
  redis.call("EXPIRE", totals, ttl)
  redis.call("EXPIRE", examples, ttl)
  redis.call("EXPIRE", exampleOrder, ttl)
end

if streamLen > 0 then
  if forget then
    -- XTRIM, not DEL: the stream keeps its last ID, so the entry below still comes after the
    -- place every copy reads from.
    redis.call("XTRIM", stream, "MAXLEN", 0)
    order = {}
  end
  local flat = {}
  for _, tok in ipairs(order) do
    flat[#flat + 1] = tok
    flat[#flat + 1] = count("s:" .. tok)
    flat[#flat + 1] = count("h:" .. tok)
  end
  -- An empty Lua table encodes as "{}" (or "[]" on some servers): spell the empty list out.
  local tokJSON = "[]"
  if #flat > 0 then
    tokJSON = cjson.encode(flat)
  end
  local totText = table.concat({tot[SPAM], tot[HAM], tot[SPAM_TOKENS], tot[HAM_TOKENS], tot[VOCAB]}, " ")
  redis.call("XADD", stream, "MAXLEN", "~", streamLen, "*", "seq", tot[SEQ], "tot", totText, "tok", tokJSON)
end
if erased then
  return 2
end
return 1
