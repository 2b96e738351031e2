-- threads_backfill.lua adds one thread configured before the thread index existed to its shard's
-- index (IndexThreads). It reads the settings and writes the index in one step, so a moderator's
-- update running beside it (thread_update.lua, which keeps the index itself) is never undone: a
-- thread put back at its defaults in between is not added again, and one the update has just
-- scored keeps its score (NX). It may run any number of times.
--
-- KEYS[1]  the thread's settings hash
-- KEYS[2]  the shard's thread index
-- ARGV[1]  the thread id
--
-- Returns 1 when it added the thread, else 0. The score is 0: when the thread was last changed is
-- not known.
local f = redis.call("HMGET", KEYS[1], "mode", "closed")
if not f[1] and not f[2] then
  return 0
end
return redis.call("ZADD", KEYS[2], "NX", 0, ARGV[1])
