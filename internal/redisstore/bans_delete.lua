-- Removes one ban. ARGV[2] target id. Returns 1 if there was an active ban, else 0.
local id = ARGV[2]
local n = redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
return n
