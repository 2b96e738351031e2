package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// gateHook holds the first pipeline the client sends until release is closed, and records how
// many commands each pipeline carried, so a test can line callers up behind an exchange in flight.
type gateHook struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	sizes   []int
}

func newGateHook() *gateHook { return &gateHook{release: make(chan struct{})} }

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.once.Do(func() { <-h.release })
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *gateHook) pipelines() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

// gatedClient is a client for the shared test server whose connections (one for single commands,
// one for pipelines) are already set up, with gate installed after that: go-redis sends a new
// connection's handshake through the pipeline hooks too.
func gatedClient(t *testing.T, gate *gateHook) *redis.Client {
	t.Helper()
	rdb := redistest.Client(t, redistest.Shared(t))
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error { return p.Ping(context.Background()).Err() }); err != nil {
		t.Fatal(err)
	}
	rdb.AddHook(gate)
	return rdb
}

// gatedBatcher is a batcher with one exchange in flight on a gatedClient, and a key prefix.
func gatedBatcher(t *testing.T) (*gateHook, *redis.Client, *batcher, string) {
	t.Helper()
	gate := newGateHook()
	rdb := gatedClient(t, gate)
	return gate, rdb, newBatcher(rdb, 1, 64, time.Second), redistest.Prefix(t)
}

// waitState waits until the batcher has running exchanges in flight and pending callers queued.
func waitState(t *testing.T, b *batcher, running, pending int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		r, p := b.running, len(b.pending)
		b.mu.Unlock()
		if r == running && p == pending {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batcher has %d exchanges in flight and %d callers queued, want %d and %d", r, p, running, pending)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatcherSendsWaitingCallersTogether(t *testing.T) {
	gate, rdb, b, prefix := gatedBatcher(t)
	var trips atomic.Int64
	rdb.AddHook(RoundTripHook(func() { trips.Add(1) }))
	ctx := context.Background()

	const callers = 10
	results := make([]int64, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	call := func(i int) {
		defer wg.Done()
		key := prefix + "n" + string(rune('a'+i))
		incr := redis.NewIntCmd(ctx, "incrby", key, i+1)
		get := redis.NewStringCmd(ctx, "get", key)
		if errs[i] = b.do(ctx, incr, get); errs[i] == nil {
			results[i], errs[i] = get.Int64()
		}
	}
	wg.Add(1)
	go call(0) // takes the only exchange and is held by the gate
	waitState(t, b, 1, 0)
	for i := 1; i < callers; i++ {
		wg.Add(1)
		go call(i)
	}
	waitState(t, b, 1, callers-1)
	close(gate.release)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil || results[i] != int64(i+1) {
			t.Errorf("caller %d: got %d, %v; want %d", i, results[i], errs[i], i+1)
		}
	}
	// The first caller went alone; the nine who waited went together in the next exchange.
	if got := gate.pipelines(); len(got) != 2 || got[0] != 2 || got[1] != 2*(callers-1) {
		t.Errorf("pipelines carried %v commands, want [2 %d]", got, 2*(callers-1))
	}
	// Each caller waited for one exchange: one round trip each.
	if got := trips.Load(); got != callers {
		t.Errorf("round-trip hook counted %d, want %d (one per caller)", got, callers)
	}
}

func TestBatcherReturnsAtTheCallersDeadline(t *testing.T) {
	gate, rdb, b, prefix := gatedBatcher(t)

	first := make(chan error, 1)
	firstCmd := redis.NewStatusCmd(context.Background(), "set", prefix+"first", "1")
	go func() { first <- b.do(context.Background(), firstCmd) }()
	waitState(t, b, 1, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	late := redis.NewStatusCmd(ctx, "set", prefix+"late", "1")
	start := time.Now()
	err := b.do(ctx, late)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued caller got %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("queued caller returned after %v, long after its 50ms deadline", waited)
	}

	close(gate.release)
	if err := <-first; err != nil || firstCmd.Err() != nil {
		t.Fatalf("first caller: %v, %v", err, firstCmd.Err())
	}
	// A caller that gave up before its batch left is not sent: nobody would read the reply.
	waitState(t, b, 0, 0)
	if n, err := rdb.Exists(context.Background(), prefix+"late").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS of the late caller's key: %d, %v; want 0", n, err)
	}
}

func TestBatcherKeepsErrorsWithTheirCaller(t *testing.T) {
	gate, rdb, b, prefix := gatedBatcher(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, prefix+"text", "not a number", 0).Err(); err != nil {
		t.Fatal(err)
	}

	go func() { _ = b.do(ctx, redis.NewStatusCmd(ctx, "ping")) }()
	waitState(t, b, 1, 0)
	bad := redis.NewIntCmd(ctx, "incr", prefix+"text")
	good := redis.NewIntCmd(ctx, "incr", prefix+"count")
	var wg sync.WaitGroup
	var badErr, goodErr error
	wg.Add(2)
	go func() { defer wg.Done(); badErr = b.do(ctx, bad) }()
	go func() { defer wg.Done(); goodErr = b.do(ctx, good) }()
	waitState(t, b, 1, 2)
	close(gate.release)
	wg.Wait()

	if badErr != nil || goodErr != nil {
		t.Fatalf("do: %v, %v; want nil (outcomes are in the commands)", badErr, goodErr)
	}
	var reply redis.Error
	if !errors.As(bad.Err(), &reply) {
		t.Errorf("INCR of a string: %v, want Redis' error reply", bad.Err())
	}
	if n, err := good.Result(); err != nil || n != 1 {
		t.Errorf("INCR in the same batch: %d, %v; want 1, nil", n, err)
	}
	if got := gate.pipelines(); len(got) != 2 || got[1] != 2 {
		t.Errorf("pipelines carried %v commands, want the two INCRs together in the second", got)
	}
}

func TestBatcherUnreachableRedis(t *testing.T) {
	// A port nothing listens on: every command of the batch carries the network error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	b := newBatcher(rdb, 1, 64, time.Second)
	cmd := redis.NewStatusCmd(context.Background(), "ping")
	if err := b.do(context.Background(), cmd); err != nil {
		t.Fatalf("do: %v", err)
	}
	if cmd.Err() == nil || !unavailable(cmd.Err()) {
		t.Errorf("PING to a closed port: %v, want an unavailability error", cmd.Err())
	}
}

func TestBatcherCallerLeftOutGetsItsContextError(t *testing.T) {
	// A caller whose deadline passes before its batch leaves is left out of it; it must get its
	// context's error, never nil with an empty command.
	rdb := redistest.Client(t, redistest.Shared(t))
	b := newBatcher(rdb, 1, 64, time.Second)
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		cmd := redis.NewStatusCmd(ctx, "ping")
		b.mu.Lock() // the deadline passes while do waits for the lock
		res := make(chan error, 1)
		go func() { res <- b.do(ctx, cmd) }()
		time.Sleep(20 * time.Millisecond)
		// The deadline's timer may not have fired yet on a loaded machine, and until it has,
		// ctx.Err() is nil and the call is sent: wait for it, so the caller is past its deadline
		// when its batch leaves.
		<-ctx.Done()
		b.mu.Unlock()
		if err := <-res; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run %d: do returned %v for a caller past its deadline, want context.DeadlineExceeded", i, err)
		}
		cancel()
	}
}

func TestBatcherCountsCallersOnceOnANewConnection(t *testing.T) {
	// A fresh client: the batch's pipeline opens a connection, whose handshake goes through the
	// hooks with the batch's context. The callers count once; the handshake counts what it counts
	// for any pipeline (measured first, on another fresh client).
	ctx := context.Background()
	counted := func() (*redis.Client, *atomic.Int64) {
		rdb := redistest.Client(t, redistest.Shared(t))
		n := new(atomic.Int64)
		rdb.AddHook(RoundTripHook(func() { n.Add(1) }))
		return rdb, n
	}
	plain, plainTrips := counted()
	if _, err := plain.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	handshake := plainTrips.Load() - 1

	rdb, trips := counted()
	b := newBatcher(rdb, 1, 64, time.Second)
	const callers = 5
	batch := make([]*batchCall, callers)
	for i := range batch {
		batch[i] = &batchCall{ctx: ctx, cmds: []redis.Cmder{redis.NewStatusCmd(ctx, "ping")}, done: make(chan struct{})}
	}
	b.exec(batch)
	for i, c := range batch {
		if err := c.cmds[0].Err(); err != nil || !c.sent {
			t.Fatalf("caller %d: sent %v, %v", i, c.sent, err)
		}
	}
	if got, want := trips.Load(), callers+handshake; got != want {
		t.Errorf("round-trip hook counted %d, want %d (one per caller, plus the handshake's %d)", got, want, handshake)
	}
}

func TestBatcherClusterNodeStall(t *testing.T) {
	// On a Cluster, a paused node must hold up only the submissions whose keys it serves.
	t.Parallel()
	cluster := redistest.StartCluster(t)
	rdb, err := NewClient("redis+cluster://" + strings.Join(cluster.Addrs, ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	cc := rdb.(*redis.ClusterClient)
	ctx := context.Background()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	nodeOf := func(shard int) string {
		c, err := cc.MasterForKey(ctx, s.keys.thread(shard, threadInShard("stall", shard)))
		if err != nil {
			t.Fatal(err)
		}
		return c.Options().Addr
	}
	slowShard, fastShard := 0, -1
	for sh := 1; sh < numShards && fastShard < 0; sh++ {
		if nodeOf(sh) != nodeOf(slowShard) {
			fastShard = sh
		}
	}
	for _, sh := range []int{slowShard, fastShard} {
		mustCreate(t, s, draft(s, threadInShard("stall", sh), sh), comment.CreateOptions{})
	}
	slowNode := redis.NewClient(&redis.Options{Addr: nodeOf(slowShard)})
	t.Cleanup(func() { slowNode.Close() })
	if err := slowNode.Do(ctx, "client", "pause", "1500", "all").Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 2 * batchInflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, _, _ = s.Create(c, draft(s, threadInShard("stall", slowShard), 10+i), comment.CreateOptions{})
		}()
	}
	time.Sleep(100 * time.Millisecond) // those are now waiting on the paused node
	c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, _, err := s.Create(c, draft(s, threadInShard("stall", fastShard), 99), comment.CreateOptions{}); err != nil {
		t.Errorf("Create on a healthy node while another node is paused: %v", err)
	}
	wg.Wait()
}

func TestBatcherCallerCancelledWhileRunningTheExchange(t *testing.T) {
	// A client that goes away cancels its call's context. The caller that runs the exchange
	// itself must not be kept until its deadline when Redis does not answer.
	srv := redistest.Start(t)
	rdb := redistest.Client(t, srv.Addr)
	ctx := context.Background()
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	b := newBatcher(rdb, 1, 64, time.Second)
	if err := rdb.Do(ctx, "client", "pause", "2000", "all").Err(); err != nil {
		t.Fatal(err)
	}
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	cmd := redis.NewStatusCmd(callCtx, "ping")
	start := time.Now()
	err := b.do(callCtx, cmd)
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("cancelled after 100ms, do returned after %v (Redis paused for 2s)", waited)
	}
	if err == nil && cmd.Err() == nil {
		t.Errorf("do and the command both report success while Redis was paused")
	}
}
