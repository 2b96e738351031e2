package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func TestStoppedRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb, err := NewClient("redis://" + srv.Addr)
	if err != nil {
		t.Fatalf("NewClient(%s) = %v", srv.Addr, err)
	}
	defer rdb.Close()
	s, err := New(context.Background(), rdb, Options{})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	c := draft(s, "down", 1)
	mustCreate(t, s, c, comment.CreateOptions{})
	srv.Stop()

	const deadline = 1500 * time.Millisecond
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", s.Ping},
		{"Create", func(ctx context.Context) error {
			_, _, err := s.Create(ctx, draft(s, "down", 2), comment.CreateOptions{RequestID: "x"})
			return err
		}},
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, c.ID); return err }},
		{"ListPublished", func(ctx context.Context) error {
			_, _, err := pageOf(s.ListPublished(ctx, "down", comment.Page{Size: 5}))
			return err
		}},
		{"CountPublished", func(ctx context.Context) error {
			_, err := publishedCounts(s.CountPublished(ctx, []string{"down"}))
			return err
		}},
		{"Decide", func(ctx context.Context) error {
			_, err := s.Decide(ctx, c.ID, moderation.Reject, comment.Decision{To: comment.StateRejected}, rejectFrom, "")
			return err
		}},
		{"ListQueue", func(ctx context.Context) error {
			_, _, err := s.ListQueue(ctx, moderation.Query{State: comment.StatePending}, comment.Page{Size: 5})
			return err
		}},
		{"GetThread", func(ctx context.Context) error { _, err := s.GetThread(ctx, "down"); return err }},
		{"UpdateThread", func(ctx context.Context) error {
			closed := true
			_, _, err := s.UpdateThread(ctx, "", "down", nil, &closed, "")
			return err
		}},
		{"New", func(ctx context.Context) error { _, err := New(ctx, rdb, Options{}); return err }},
		{"CheckDurability", func(ctx context.Context) error { _, err := CheckDurability(ctx, rdb); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- tt.call(ctx) }()
			// Nothing brings Redis back: a call that does not give up by itself never returns.
			// How soon it gives up is no assertion here, as a loaded machine (two CPUs, the race
			// detector, other test binaries) stretches it past the deadline by a second or more;
			// that the deadline cuts a call short is TestUnresponsiveRedisHonoursDeadline's part.
			select {
			case err := <-done:
				t.Logf("%s with Redis stopped gave up after %v", tt.name, time.Since(start).Round(time.Millisecond))
				if !errors.Is(err, comment.ErrUnavailable) {
					t.Errorf("%s with Redis stopped = %v, want ErrUnavailable", tt.name, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s with Redis stopped and a %v deadline still running after 30s; want it to give up with ErrUnavailable", tt.name, deadline)
			}
		})
	}
}

// TestRestartedRedisLosesScripts: a restarted Redis has no scripts cached. Single script calls
// fall back to EVAL; the pipelined queue read, which cannot, reloads them.
func TestRestartedRedisLosesScripts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.Client(t, srv.Addr)
	ctx := context.Background()
	s, err := New(ctx, rdb, Options{})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	q := moderation.Query{State: comment.StatePending}
	for round := range 2 {
		srv.Stop()
		srv.Restart(t)
		if round == 0 {
			// The pipelined read meets NOSCRIPT first.
			if page, _, err := s.ListQueue(ctx, q, comment.Page{Size: 5}); err != nil || len(page) != 0 {
				t.Fatalf("ListQueue on a restarted, empty Redis = %d comments, %v; want none, no error", len(page), err)
			}
		}
		c := draft(s, "restarted", round)
		c.State, c.PublishedAt = comment.StatePending, time.Time{}
		if _, _, err := s.Create(ctx, c, comment.CreateOptions{}); err != nil {
			t.Fatalf("round %d: Create after a restart = %v, want no error", round, err)
		}
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
		page, _, err := s.ListQueue(ctx, q, comment.Page{Size: 5})
		if err != nil || len(page) != 1 || page[0].ID != c.ID {
			t.Fatalf("round %d: ListQueue after SCRIPT FLUSH = %v, %v; want [%s]", round, ids(page), err, c.ID)
		}
	}
}

// TestUnresponsiveRedisHonoursDeadline: a server that accepts commands but does not answer
// (paused) must not hold a caller past its context deadline.
func TestUnresponsiveRedisHonoursDeadline(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb, err := NewClient(srv.Addr)
	if err != nil {
		t.Fatalf("NewClient(%s) = %v", srv.Addr, err)
	}
	defer rdb.Close()
	s, err := New(context.Background(), rdb, Options{})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	c := mustCreate(t, s, draft(s, "paused", 1), comment.CreateOptions{})
	admin := redistest.Client(t, srv.Addr)
	// The pause outlasts the read timeout, so only the deadline or the read timeout can end the call.
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", (readTimeout + time.Second).Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err = s.Get(ctx, c.ID)
	took := time.Since(start)
	if !errors.Is(err, comment.ErrUnavailable) {
		t.Errorf("Get on a paused Redis = %v, want ErrUnavailable", err)
	}
	// Without the deadline reaching Redis the call would wait for the client's own read timeout
	// (and then retry until the pause ends): ending before it, it ended at the deadline, however
	// late a loaded machine woke it up.
	if took >= readTimeout {
		t.Errorf("Get on a paused Redis took %v, want it to give up at the %v deadline, before the client's %v read timeout", took, deadline, readTimeout)
	}
}

// TestRefusedWritesAreUnavailable: a master refuses every write, and the write does nothing,
// while it cannot take it:
//   - with min-replicas-to-write, NOREPLICAS while fewer replicas are in sync, for instance in the
//     moment a Sentinel promotes its replica;
//   - with maxmemory and noeviction (what commentd requires), OOM while memory is full. Redis
//     refuses a script there only at its first write, and only if that write may add memory; a
//     script whose first write is a removal (Decide's) goes through whole, so it is not among
//     the calls refused.
//
// A retry succeeds once the replicas answer or memory is freed (the operator's part), so it is an
// unavailable store, not a bug: UNAVAILABLE for the caller, and nothing half written.
func TestRefusedWritesAreUnavailable(t *testing.T) {
	t.Parallel()
	for _, refusal := range []struct {
		name   string
		config []string // CONFIG SET pairs that make the master refuse writes
		decide bool     // Decide is refused too
	}{
		{"too few replicas", []string{"min-replicas-to-write", "1"}, true},
		{"out of memory", []string{"maxmemory-policy", "noeviction", "maxmemory", "1"}, false},
	} {
		t.Run(refusal.name, func(t *testing.T) {
			t.Parallel()
			testRefusedWrites(t, refusal.config, refusal.decide)
		})
	}
}

func testRefusedWrites(t *testing.T, config []string, decideRefused bool) {
	srv := redistest.Start(t)
	rdb := redistest.Client(t, srv.Addr)
	ctx := context.Background()
	s, err := New(ctx, rdb, Options{})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	c := draft(s, "refused", 1)
	c.State, c.PublishedAt = comment.StatePending, time.Time{}
	mustCreate(t, s, c, comment.CreateOptions{})
	// From now on every write is refused.
	for i := 0; i < len(config); i += 2 {
		if err := rdb.ConfigSet(ctx, config[i], config[i+1]).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", config[i], config[i+1], err)
		}
	}
	sub := subjectOf(t, "jane@example.com", "", "refused", "hello")
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Create", func(ctx context.Context) error {
			_, _, err := s.Create(ctx, draft(s, "refused", 2), comment.CreateOptions{RequestID: "x"})
			return err
		}},
		{"Decide", func(ctx context.Context) error {
			_, err := s.Decide(ctx, c.ID, moderation.Reject, comment.Decision{Moderator: "m", At: t0, To: comment.StateRejected}, rejectFrom, "")
			return err
		}},
		{"UpdateThread", func(ctx context.Context) error {
			closed := true
			_, _, err := s.UpdateThread(ctx, "", "refused", nil, &closed, "")
			return err
		}},
		{"Screen", func(ctx context.Context) error {
			_, err := s.Screen(ctx, ratelimit.Query{
				ID:        "refusedcheck000000000000",
				Takes:     []ratelimit.Take{{Rule: rule("author", ratelimit.KeyAuthor, 1, time.Hour, 5), Subject: sub.AuthorKey}},
				Duplicate: &ratelimit.DuplicateCheck{AuthorKey: sub.AuthorKey, TextKey: sub.TextKey, Window: time.Minute},
			})
			return err
		}},
	}
	for _, tt := range calls {
		if tt.name == "Decide" && !decideRefused {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := tt.call(ctx); !errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("%s on a master refusing writes = %v, want ErrUnavailable", tt.name, err)
		}
		cancel()
	}
	// Nothing was written: the comment is still pending, and the thread is not closed.
	if got, err := s.Get(ctx, c.ID); err != nil || got.State != comment.StatePending {
		t.Errorf("Get(%s) after the refused writes = state %v, %v; want pending", c.ID, got.State, err)
	}
	if th, err := s.GetThread(ctx, "refused"); err != nil || th.Closed {
		t.Errorf("GetThread(refused) after the refused writes = %+v, %v; want open", th, err)
	}
}
