package redisstore

import (
	"context"
	"net"

	"github.com/redis/go-redis/v9"
)

// RoundTripHook returns a go-redis hook that calls count once per network round trip the
// application asks for: once per single command and once per pipeline or MULTI/EXEC
// transaction, so a server can export Redis round trips per RPC and a benchmark can read them.
//
// It counts what the caller sends, not what go-redis does underneath: a retry after a network
// error, a Cluster redirection (MOVED/ASK) or a Cluster pipeline split across nodes (sent in
// parallel) is not counted again; a resend after a Cluster slot move (slotRetryHook, which NewClient
// adds before this hook can be) is, as it is another round trip. A Script.Run that falls back from EVALSHA to EVAL is two
// commands and counts twice, as it is two round trips. The commands go-redis sends to set up a
// new connection (HELLO, AUTH, CLIENT SETINFO, ...) pass through the hook and are counted too:
// they are real round trips, paid once per connection. A pipeline that carries several callers'
// commands at once (batcher) counts once per caller: each of them waited for one exchange.
func RoundTripHook(count func()) redis.Hook {
	return roundTripHook{count: count}
}

type roundTripHook struct {
	count func()
}

func (h roundTripHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (h roundTripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count()
		return next(ctx, cmd)
	}
}

func (h roundTripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for range roundTrips(ctx) {
			h.count()
		}
		return next(ctx, cmds)
	}
}
