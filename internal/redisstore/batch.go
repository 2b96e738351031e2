package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends the commands of concurrent callers to Redis together, in shared pipelines.
//
// Under load most of what one Redis round trip costs, on both sides, is per exchange rather than
// per command: go-redis takes a pooled connection (and checks it with a read system call), writes,
// waits and reads; Redis reads, replies and writes on that connection. Fifty submissions in flight
// pay that fifty times over. Sending together whatever callers are waiting while the previous
// exchanges are in flight pays it once per batch, and adds no delay when the store is idle: a
// caller that finds a free exchange sends at once. Each caller still waits for exactly one
// exchange, so a caller's round trips are unchanged, and the round-trip hook counts one per caller
// (see withCallers).
//
// Why not go-redis' own autopipeliner (Submit, then WaitContext with the caller's context)? It was
// tried in this one's place and the bench measured the two within noise of each other, so there is
// no speed to gain; but it is marked experimental in go-redis v9.23 ("subject to change"), and this
// is the path of every submission. This one is about a hundred lines, tested here (batch_test.go),
// and gives the round-trip hook the number of callers each exchange serves.
//
// A batch is a plain pipeline, not a transaction: each caller's commands keep their own atomicity
// (one Lua script each), and a command's error reaches only its caller.
//
// On a Cluster there is no batching (newBatcher): go-redis sends a Cluster pipeline's parts to
// their nodes and waits for all of them, so one stalled node would hold every batch, and every
// submission queued behind those, to the slowest node. There each caller sends its own pipeline, as
// without a batcher.
type batcher struct {
	rdb redis.UniversalClient
	// direct: every caller sends its own pipeline at once (no batching).
	direct bool
	// inflight bounds the exchanges in flight at once; more callers wait for the next batch.
	inflight int
	// max bounds the callers in one batch, so one exchange stays a modest write.
	max int
	// timeout bounds an exchange none of whose callers has a deadline (callers with none are
	// background work; the request path always has the gRPC deadline or -redis-timeout).
	timeout time.Duration

	mu      sync.Mutex
	running int
	pending []*batchCall
}

// batchCall is one caller's commands and the signal that their replies are in.
type batchCall struct {
	// ctx is the caller's, kept with its commands (against the rule of passing contexts only as
	// arguments) because another goroutine sends them: exec leaves the call out once it has
	// ended and bounds the exchange by its deadline.
	ctx  context.Context
	cmds []redis.Cmder
	done chan struct{}
	// sent is set before done is closed when the commands went out; a call left out because its
	// context had ended has done closed and sent false.
	sent bool
}

// Sizes of the store's batcher. Four exchanges in flight let batches form while others are on
// the wire; the bench measured 1, 2 and 4 within its noise of each other (docs/PERFORMANCE.md).
// 64 callers keep a batch's write to a few tens of kB.
const (
	batchInflight = 4
	batchMax      = 64
)

// shaScript is a script sent through evalShaCmd, with its SHA1 made once as a string that stays
// put: evalShaCmd passes a pointer to it, which costs nothing, where the string put in an
// interface cost an allocation at every call. It is the SHA1 of the source, as NewScript makes
// it and as Redis names the script when it loads it.
type shaScript struct {
	*redis.Script
	sha string
}

func newShaScript(src string) *shaScript {
	sc := redis.NewScript(src)
	return &shaScript{Script: sc, sha: sc.Hash()}
}

// evalShaCmd is an EVALSHA of sc as a command the batcher can send (what Script.EvalSha builds
// on a pipeline). The keys go in as pointers into keys, which go-redis writes (and routes by) as
// the strings they point to: a string in an interface costs an allocation of its own, and a
// submission's scripts take about twenty keys. keys must not change until the command is done.
// The script's SHA1 goes in the same way.
func evalShaCmd(ctx context.Context, sc *shaScript, keys []string, args ...any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, "evalsha", &sc.sha, len(keys))
	for i := range keys {
		cmdArgs = append(cmdArgs, &keys[i])
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	return cmd
}

// newBatcher returns the store's batcher for rdb: batching on a standalone or Sentinel-managed
// Redis, direct on a Cluster (see batcher).
func newBatcher(rdb redis.UniversalClient, inflight, max int, timeout time.Duration) *batcher {
	_, cluster := rdb.(*redis.ClusterClient)
	return &batcher{rdb: rdb, direct: cluster, inflight: inflight, max: max, timeout: timeout}
}

// do sends cmds (in order, in one exchange, possibly with other callers' commands) and returns
// nil when their replies are in: each command's outcome is then in the command (Err, Result), as
// after a pipeline. It returns ctx's error when ctx ends first; then the commands may or may not
// have been sent, and the caller must not read them (the exchange may still be writing them).
func (b *batcher) do(ctx context.Context, cmds ...redis.Cmder) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.direct {
		// Each command's error is in the command; Exec's is the first of them.
		_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, cmd := range cmds {
				_ = p.Process(ctx, cmd) // queues; Exec sends
			}
			return nil
		})
		return nil
	}
	c := &batchCall{ctx: ctx, cmds: cmds, done: make(chan struct{})}
	b.mu.Lock()
	if b.running < b.inflight {
		// A free exchange: send now, alone or with whoever queued meanwhile. In its own
		// goroutine, so that this caller, like every other, returns when its context ends (a
		// client that went away) even while Redis does not answer.
		b.running++
		batch := b.take(c)
		b.mu.Unlock()
		go b.run(batch)
	} else {
		b.pending = append(b.pending, c)
		b.mu.Unlock()
	}
	select {
	case <-c.done:
		if !c.sent {
			return ctx.Err() // left out: its context had ended
		}
		return nil
	case <-ctx.Done():
		// The commands may still be sent (or may have been): every write of this store is safe
		// to repeat, and the caller treats the outcome as unknown.
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

// run sends batch, then, while callers are waiting, the next batches on the same exchange slot;
// it frees the slot when nobody waits.
func (b *batcher) run(batch []*batchCall) {
	for {
		b.exec(batch)
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		first := b.pending[0]
		b.pending = b.pending[1:]
		batch = b.take(first)
		b.mu.Unlock()
	}
}

// exec sends one batch as one pipeline. Calls whose context has ended are left out (their
// callers have returned or are returning). The exchange is bounded by the latest deadline among
// the callers, so no caller's time is cut short by another's. (go-redis bounds a read by the
// context's deadline, not by its cancellation: that is why callers never run an exchange
// themselves, see do.)
func (b *batcher) exec(batch []*batchCall) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	live := batch[:0:0]
	var deadline time.Time
	for _, c := range batch {
		if c.ctx.Err() != nil {
			continue
		}
		c.sent = true
		live = append(live, c)
		d, ok := c.ctx.Deadline()
		if !ok {
			d = time.Now().Add(b.timeout)
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(withCallers(context.Background(), len(live)), deadline)
	defer cancel()
	p := b.rdb.Pipeline()
	for _, c := range live {
		for _, cmd := range c.cmds {
			_ = p.Process(ctx, cmd) // queues; Exec sends
		}
	}
	// Each command holds its own outcome; Exec's error is only the first of them.
	_, _ = p.Exec(ctx)
}

// callers is what withCallers puts in a batch's context: how many callers the batch serves, and
// whether the round-trip hook has counted them.
type callers struct {
	n       int
	counted atomic.Bool
}

// callersKey is the context key of *callers.
type callersKey struct{}

// withCallers marks a pipeline that carries the commands of n callers, each waiting for this one
// exchange: for each of them it is one round trip, so the hook counts n, once. (go-redis passes the
// same context to the handshake of a connection it opens for the pipeline; the handshake's own
// commands and pipeline count as they would for any pipeline.)
func withCallers(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, callersKey{}, &callers{n: n})
}

// roundTrips is how many round trips the hook counts for a pipeline sent with ctx.
func roundTrips(ctx context.Context) int {
	if c, ok := ctx.Value(callersKey{}).(*callers); ok && c.counted.CompareAndSwap(false, true) {
		return c.n
	}
	return 1
}
