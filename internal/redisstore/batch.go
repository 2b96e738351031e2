package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends the commands of concurrent callers to Redis together, in shared pipelines.
//
// Under load most of what one Redis round trip costs, on both sides, is per exchange rather than
// per command: go-redis takes a pooled connection (and checks it with a read system call), writes,
// waits and reads; Redis reads, replies and writes on that connection. Fifty submissions in flight
// pay that fifty times over. Sending together whatever callers are waiting while the previous
// exchanges are in flight (as rueidis' auto-pipelining does; go-redis has nothing like it) pays it
// once per batch, and adds no delay when the store is idle: a caller that finds a free exchange
// sends at once. Each caller still waits for exactly one exchange, so a caller's round trips are
// unchanged, and the round-trip hook counts one per caller (see withCallers).
//
// go-redis (v9.23) has an autopipeliner of its own, but it is marked experimental, and a command
// queued there no longer honours its context: a caller would wait out the client's read timeout
// rather than its gRPC deadline, which every Redis call of a submission must respect. This one
// returns at the caller's deadline whatever the exchange is doing, in about a hundred lines.
//
// A batch is a plain pipeline, not a transaction: each caller's commands keep their own atomicity
// (one Lua script each), and a command's error reaches only its caller. On a Cluster, go-redis
// splits the pipeline by node, as it does any pipeline.
type batcher struct {
	rdb redis.UniversalClient
	// inflight bounds the exchanges in flight at once; more callers wait for the next batch.
	inflight int
	// max bounds the callers in one batch, so one exchange stays a modest write.
	max int
	// timeout bounds an exchange none of whose callers has a deadline.
	timeout time.Duration

	mu      sync.Mutex
	running int
	pending []*batchCall
}

// batchCall is one caller's commands and the signal that their replies are in.
type batchCall struct {
	ctx  context.Context
	cmds []redis.Cmder
	done chan struct{}
}

// Sizes of the store's batcher. Two exchanges in flight let one batch form while the other is on
// the wire; with more, batches get smaller and the savings with them (the bench measured 1, 2 and
// 4 within its noise of each other, see docs/PERFORMANCE.md). 64 callers keep a batch's write to
// a few tens of kB.
const (
	batchInflight = 2
	batchMax      = 64
)

// evalShaCmd is an EVALSHA of sc as a command the batcher can send (what Script.EvalSha builds
// on a pipeline).
func evalShaCmd(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, "evalsha", sc.Hash(), len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	return cmd
}

func newBatcher(rdb redis.UniversalClient, inflight, max int, timeout time.Duration) *batcher {
	return &batcher{rdb: rdb, inflight: inflight, max: max, timeout: timeout}
}

// do sends cmds (in order, in one exchange, possibly with other callers' commands) and returns
// when their replies are in, or with ctx's error when ctx ends first. Each command's outcome is
// in the command (Err, Result), as after a pipeline.
func (b *batcher) do(ctx context.Context, cmds ...redis.Cmder) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &batchCall{ctx: ctx, cmds: cmds, done: make(chan struct{})}
	b.mu.Lock()
	if b.running < b.inflight {
		// A free exchange: send now, alone or with whoever queued meanwhile.
		b.running++
		batch := b.take(c)
		b.mu.Unlock()
		b.run(batch)
	} else {
		b.pending = append(b.pending, c)
		b.mu.Unlock()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		// The commands may still be sent (or may have been): every write of this store is safe
		// to repeat, and the caller treats the outcome as unknown. The commands themselves belong
		// to the exchange until it ends; the caller must not read them.
		return ctx.Err()
	}
}

// take returns first plus up to max-1 pending calls. b.mu must be held.
func (b *batcher) take(first *batchCall) []*batchCall {
	n := min(len(b.pending), b.max-1)
	batch := make([]*batchCall, 0, n+1)
	batch = append(batch, first)
	batch = append(batch, b.pending[:n]...)
	b.pending = append(b.pending[:0], b.pending[n:]...)
	return batch
}

// run sends batch, then, while callers are waiting, hands the exchange to the next batch in a new
// goroutine: the caller that ran this batch returns as soon as its own replies are in.
func (b *batcher) run(batch []*batchCall) {
	b.exec(batch)
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.running--
		b.mu.Unlock()
		return
	}
	first := b.pending[0]
	b.pending = b.pending[1:]
	next := b.take(first)
	b.mu.Unlock()
	go b.run(next)
}

// exec sends one batch as one pipeline. Calls whose context has ended are left out (their
// callers have returned). The exchange is bounded by the latest deadline among the callers, so
// no caller's time is cut short by another's.
func (b *batcher) exec(batch []*batchCall) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	var deadline time.Time
	live := 0
	for _, c := range batch {
		if c.ctx.Err() != nil {
			continue
		}
		live++
		d, ok := c.ctx.Deadline()
		if !ok {
			d = time.Now().Add(b.timeout)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	if live == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(withCallers(context.Background(), live), deadline)
	defer cancel()
	p := b.rdb.Pipeline()
	for _, c := range batch {
		if c.ctx.Err() != nil {
			continue
		}
		for _, cmd := range c.cmds {
			_ = p.Process(ctx, cmd) // queues; Exec sends
		}
	}
	// Each command holds its own outcome; Exec's error is only the first of them.
	_, _ = p.Exec(ctx)
}
