package redisstore

import (
	"context"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// slotRetryDelays are the pauses before each resend of a command a Cluster refused because its
// hash slot is moving between masters (slotMoving). go-redis follows redirects and resends
// TRYAGAIN itself, but within about a tenth of a second (three attempts); a slot with more than a
// handful of keys takes longer to move. These add up to 0.775 s, less than -redis-timeout's
// default, and the call's deadline still ends them sooner.
var slotRetryDelays = []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}

// slotMoving reports whether err is a Cluster's "this slot is moving" answer, after go-redis' own
// redirects and retries: TRYAGAIN (a command's keys are split between the two nodes), MOVED or
// ASK still held after the last redirect, or a script that reached a key already moved ("non
// local key"). Redis refuses the first three before running anything; a script it stopped part
// way is safe to run again, as every script of this store is.
func slotMoving(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	if _, ok := redis.IsAskError(err); ok {
		return true
	}
	return redis.IsTryAgainError(err) ||
		redis.HasErrorPrefix(err, "Script attempted to access a non local key in a cluster node")
}

// slotRetryHook resends, after slotRetryDelays, the commands a Cluster refused because their
// slot is moving (a reshard, a rebalance, a node added), so a call that meets a slot being moved
// waits for it instead of failing. In a pipeline only the refused commands go again. A MULTI/EXEC
// transaction is left to go-redis: a part of one cannot be resent alone.
type slotRetryHook struct {
	delays []time.Duration
}

func (h slotRetryHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (h slotRetryHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		for _, d := range h.delays {
			if !slotMoving(err) || !waited(ctx, d) {
				break
			}
			err = next(ctx, cmd)
		}
		return err
	}
}

func (h slotRetryHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if len(cmds) == 0 || cmds[0].Name() == "multi" {
			return err
		}
		resent := false
		for _, d := range h.delays {
			var again []redis.Cmder
			for _, c := range cmds {
				if slotMoving(c.Err()) {
					again = append(again, c)
				}
			}
			if len(again) == 0 || !waited(ctx, d) {
				break
			}
			resent = true
			_ = next(ctx, again) // each command's outcome is in the command
		}
		if !resent {
			return err
		}
		for _, c := range cmds {
			if err := c.Err(); err != nil {
				return err
			}
		}
		return nil
	}
}

// waited waits d (pause) and reports whether ctx is still live.
func waited(ctx context.Context, d time.Duration) bool {
	pause(ctx, d)
	return ctx.Err() == nil
}
