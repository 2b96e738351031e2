-- The start of every bans script: removes the bans that expired by ARGV[1] (unix ms), at most
-- 1000 per call, so the records hash does not grow with bans nobody lifted. The bans scripts are
-- this text followed by their own.
--
-- KEYS[1] the records (hash), KEYS[2] the ids by creation (zset), KEYS[3] the ids by expiry (zset).
local function purge_expired()
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, 1000)
  for _, id in ipairs(gone) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
purge_expired()
