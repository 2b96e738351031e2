package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestClusterSlotMigration calls the store while a comment shard's slot is half moved between
// masters, as during redis-cli --cluster reshard or rebalance. A move that ends within the
// client's resends (slotRetryHook) is waited for; one that lasts longer (a script reading a record
// already moved, redirects that outlast go-redis' budget) is "not now": the store must say
// comment.ErrUnavailable, which clients retry, not a plain error (INTERNAL at the gRPC edge); and
// once the slot has settled, the call works and finds everything stored before.
func TestClusterSlotMigration(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// slotOf returns the slot of key and a master that does not serve it.
	slotOf := func(t *testing.T, key string) (slot int, other string) {
		t.Helper()
		n, err := s.rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s = %v", key, err)
		}
		owner, err := cluster.SlotOwner(ctx, int(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cluster.Addrs {
			if a != owner {
				return int(n), a
			}
		}
		t.Fatal("no other master")
		return 0, ""
	}

	// migrate starts moving the slot of thread's keys (in shard) to a master that does not serve it,
	// moves key there ahead of the others, as redis-cli moves a slot's keys one batch at a time,
	// and returns the migration, for the test to finish when it wants.
	migrate := func(t *testing.T, shard int, thread, key string) *redistest.Migration {
		t.Helper()
		slot, dst := slotOf(t, s.keys.published(shard, thread))
		m, err := cluster.StartMigration(ctx, slot, dst, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Move(ctx, key); err != nil {
			t.Fatal(err)
		}
		return m
	}

	// purgeWhileClaimSetMoves has "mod" claim the spam comment c of thread, moves the claim
	// holder's set (the last key purge.lua names at run time) to another master for longer than
	// the client's resends last, runs a purge that gives up while the move goes on (its deadline
	// passes), then, after the move, the next run (a minute later in commentd), and checks c is gone.
	purgeWhileClaimSetMoves := func(t *testing.T, thread string, shard int, c comment.Comment, cutoff, now time.Time) {
		t.Helper()
		if cs, err := s.Claim(ctx, "mod", moderation.ClaimQuery{State: comment.StateSpam, ThreadID: thread, Count: 1, Lease: time.Minute}, now); err != nil || len(cs) != 1 || cs[0].ID != c.ID {
			t.Fatalf("Claim(mod, spam of %s) = %v, %v; want %s", thread, ids(cs), err, c.ID)
		}
		m := migrate(t, shard, thread, s.keys.moderatorClaims(shard, "mod"))
		finished := finishAfter(t, m, 1500*time.Millisecond)
		short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
		_, purgeErr := s.PurgeSpam(short, cutoff, 10)
		cancelShort()
		<-finished
		if purgeErr != nil {
			if _, err := s.PurgeSpam(ctx, cutoff, 10); err != nil {
				t.Fatalf("PurgeSpam repeated after the migration = %v, want no error", err)
			}
		}
		if _, err := s.Get(ctx, c.ID); !errors.Is(err, comment.ErrNotFound) {
			t.Errorf("Get(%s) after the purge, first run while the claim set had moved (%v) = %v; want not found", c.ID, purgeErr, err)
		}
	}

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"list while a record has moved and its index has not", func(t *testing.T) {
			thread := threadInShard("migrate-list", 3)
			shard := shardOfThread(thread)
			a := mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
			b := mustCreate(t, s, draft(s, thread, 2), comment.CreateOptions{})
			m := migrate(t, shard, thread, s.keys.record(shard, b.ID))
			if _, _, err := pageOf(s.ListPublished(ctx, thread, comment.Page{})); !errors.Is(err, comment.ErrUnavailable) {
				t.Errorf("ListPublished(%s) with comment %s's record moved to the importing node = %v, want comment.ErrUnavailable", thread, b.ID, err)
			}
			if err := m.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			got, _, err := pageOf(s.ListPublished(ctx, thread, comment.Page{}))
			if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
				t.Errorf("ListPublished(%s) after the migration = %d comments, %v; want %s and %s, no error", thread, len(got), err, a.ID, b.ID)
			}
		}},
		{"submit while redirects outlast the client's budget", func(t *testing.T) {
			thread := threadInShard("migrate-submit", 9)
			shard := shardOfThread(thread)
			slot, dst := slotOf(t, s.keys.published(shard, thread))
			// The shard has no key yet, so the source answers ASK; the target does not import the
			// slot, so it answers MOVED back.
			m, err := cluster.StartMigration(ctx, slot, dst, true)
			if err != nil {
				t.Fatal(err)
			}
			c := draft(s, thread, 1)
			if _, _, err := s.Create(ctx, c, comment.CreateOptions{RequestID: "req-2"}); !errors.Is(err, comment.ErrUnavailable) {
				t.Errorf("Create(%s) while its slot's owner and target redirect to each other = %v, want comment.ErrUnavailable", c.ID, err)
			}
			if err := m.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			// The client's resend, once the slot has settled, stores the comment once.
			if _, _, err := s.Create(ctx, c, comment.CreateOptions{RequestID: "req-2"}); err != nil {
				t.Fatalf("Create(%s) resent after the migration was cancelled = %v, want no error", c.ID, err)
			}
			got, _, err := pageOf(s.ListPublished(ctx, thread, comment.Page{}))
			if err != nil || len(got) != 1 || got[0].ID != c.ID {
				t.Errorf("ListPublished(%s) after the resend = %d comments, %v; want %s once, no error", thread, len(got), err, c.ID)
			}
		}},
		{"submit while the thread's keys are split, the move ending soon", func(t *testing.T) {
			thread := threadInShard("migrate-split", 5)
			shard := shardOfThread(thread)
			before := mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
			// The thread's record has moved and its index has not: a submission's keys are on
			// both nodes, and the source answers TRYAGAIN until the move ends.
			m := migrate(t, shard, thread, s.keys.thread(shard, thread))
			finished := finishAfter(t, m, 300*time.Millisecond)
			c := draft(s, thread, 2)
			if _, _, err := s.Create(ctx, c, comment.CreateOptions{RequestID: "req-2"}); err != nil {
				t.Errorf("Create(%s) while its thread's keys are split for 300ms = %v, want no error", c.ID, err)
			}
			<-finished
			got, _, err := pageOf(s.ListPublished(ctx, thread, comment.Page{}))
			if err != nil || len(got) != 2 || got[0].ID != before.ID || got[1].ID != c.ID {
				t.Errorf("ListPublished(%s) after the migration = %d comments, %v; want %s and %s once each, no error", thread, len(got), err, before.ID, c.ID)
			}
		}},
		{"list while a record has moved, the move ending soon", func(t *testing.T) {
			thread := threadInShard("migrate-list-soon", 12)
			shard := shardOfThread(thread)
			a := mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
			b := mustCreate(t, s, draft(s, thread, 2), comment.CreateOptions{})
			m := migrate(t, shard, thread, s.keys.record(shard, a.ID))
			finished := finishAfter(t, m, 300*time.Millisecond)
			got, _, err := pageOf(s.ListPublished(ctx, thread, comment.Page{}))
			if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
				t.Errorf("ListPublished(%s) with comment %s's record moved for 300ms = %d comments, %v; want %s and %s, no error", thread, a.ID, len(got), err, a.ID, b.ID)
			}
			<-finished
		}},
		{"decide while the shard's daily counters have moved", func(t *testing.T) {
			thread := threadInShard("migrate-decide", 7)
			shard := shardOfThread(thread)
			now := time.Now()
			// Every key the decision names up front exists on the source (so the script runs
			// there, not TRYAGAIN): the record, the three shard queues, the audit stream, a claim
			// (the reopen's) and report counters; so do the thread's indexes and the claim set.
			mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
			withState := func(n int, st comment.State) comment.Comment {
				d := draft(s, thread, n)
				d.State = st
				return mustCreate(t, s, d, comment.CreateOptions{})
			}
			c := withState(2, comment.StateRejected)
			withState(3, comment.StateRejected)
			withState(4, comment.StateSpam)
			reopen := comment.Decision{Moderator: "mod", At: now, To: comment.StatePending}
			if _, err := s.Decide(ctx, c.ID, moderation.Reopen, reopen, []comment.State{comment.StateRejected}, ""); err != nil {
				t.Fatalf("Decide(%s, reopen) = %v", c.ID, err)
			}
			if _, _, err := s.AddReport(ctx, c.ID, moderation.Report{Reason: "rude", At: now}, "reader-1", 100); err != nil {
				t.Fatalf("AddReport(%s) = %v", c.ID, err)
			}
			// The counters are the last key the script writes, named at run time.
			m := migrate(t, shard, thread, s.keys.stats(shard, dayOf(now)))
			finished := finishAfter(t, m, 300*time.Millisecond)
			approve := comment.Decision{Moderator: "mod", At: now, To: comment.StatePublished}
			_, decideErr := s.Decide(ctx, c.ID, moderation.Approve, approve, approveFrom, "")
			<-finished
			if decideErr != nil {
				// The client repeats a decision that got an error, as docs/ERRORS.md asks.
				if _, err := s.Decide(ctx, c.ID, moderation.Approve, approve, approveFrom, ""); err != nil {
					t.Fatalf("Decide(%s, approve) repeated after the migration = %v, want no error", c.ID, err)
				}
			}
			got, err := s.Get(ctx, c.ID)
			if err != nil || got.State != comment.StatePublished {
				t.Errorf("Get(%s) after the approval = state %v, %v; want %v", c.ID, got.State, err, comment.StatePublished)
			}
			st, err := s.Stats(ctx, now, 1)
			if err != nil {
				t.Fatalf("Stats(%v, 1 day) = %v", now, err)
			}
			var approved int64
			for _, ms := range st.Moderators {
				if ms.Moderator == "mod" {
					approved = ms.Approved
				}
			}
			if approved != 1 {
				t.Errorf("Stats(%v, 1 day): mod approved %d, want 1 (the approval of %s, first sent while the counters' key had moved: %v)", now, approved, c.ID, decideErr)
			}
		}},
		{"report reaching the threshold while the thread's queue has moved", func(t *testing.T) {
			const threshold = 2
			thread := threadInShard("migrate-report", 11)
			shard := shardOfThread(thread)
			now := time.Now()
			// Every key the report names up front exists on the source: the record, its report
			// counters, reporters and list (the first report's), the shard's pending queue and
			// audit stream (a rejection's); so do the thread's indexes.
			c := mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
			for n := 2; n <= 3; n++ {
				d := draft(s, thread, n)
				d.State = comment.StatePending
				mustCreate(t, s, d, comment.CreateOptions{})
				if n == 3 {
					if _, err := s.Decide(ctx, d.ID, moderation.Reject, comment.Decision{Moderator: "mod", At: now, To: comment.StateRejected}, approveFrom, ""); err != nil {
						t.Fatalf("Decide(%s, reject) = %v", d.ID, err)
					}
				}
			}
			if _, _, err := s.AddReport(ctx, c.ID, moderation.Report{Reason: "rude", At: now}, "reader-1", threshold); err != nil {
				t.Fatalf("AddReport(%s, reader-1) = %v", c.ID, err)
			}
			// The thread's pending queue, which the takedown adds the comment to, named at run time.
			m := migrate(t, shard, thread, s.keys.threadQueue(shard, comment.StatePending, thread))
			finished := finishAfter(t, m, 300*time.Millisecond)
			_, _, reportErr := s.AddReport(ctx, c.ID, moderation.Report{Reason: "rude too", At: now}, "reader-2", threshold)
			<-finished
			if reportErr != nil {
				// The client repeats a call that got an error.
				if _, _, err := s.AddReport(ctx, c.ID, moderation.Report{Reason: "rude too", At: now}, "reader-2", threshold); err != nil {
					t.Fatalf("AddReport(%s, reader-2) repeated after the migration = %v, want no error", c.ID, err)
				}
			}
			got, err := s.Get(ctx, c.ID)
			if err != nil || got.State != comment.StatePending {
				t.Errorf("Get(%s) after its second report (threshold %d), first sent while the thread's pending queue had moved (%v) = state %v, %v; want %v", c.ID, threshold, reportErr, got.State, err, comment.StatePending)
			}
		}},
		{"spam purged while the claim holder's set has moved, the thread otherwise empty", func(t *testing.T) {
			thread := threadInShard("migrate-purge", 7)
			shard := shardOfThread(thread)
			created := time.Now().Add(-time.Hour)
			d := draft(s, thread, 1)
			d.State, d.CreatedAt = comment.StateSpam, created
			c := mustCreate(t, s, d, comment.CreateOptions{})
			purgeWhileClaimSetMoves(t, thread, shard, c, created.Add(time.Minute), time.Now())
		}},
		{"spam purged while the claim holder's set has moved, every other key in place", func(t *testing.T) {
			thread := threadInShard("migrate-purge-busy", 13)
			shard := shardOfThread(thread)
			now := time.Now()
			withState := func(n int, st comment.State, at time.Time) comment.Comment {
				d := draft(s, thread, n)
				d.State, d.CreatedAt = st, at
				return mustCreate(t, s, d, comment.CreateOptions{})
			}
			// A busy thread: every index of the thread and of the shard holds a comment, so the
			// purge runs on the source and reaches its writes before the claim holder's set.
			withState(1, comment.StatePublished, now)
			withState(2, comment.StatePending, now)
			withState(3, comment.StateRejected, now)
			older := withState(4, comment.StateSpam, now.Add(-2*time.Hour))
			// A published comment readers reported, which a moderator marked spam (a decision
			// not learnt yet), then claimed in the spam queue.
			c := withState(5, comment.StatePublished, now.Add(-time.Hour))
			if _, _, err := s.AddReport(ctx, c.ID, moderation.Report{Reason: "spam", At: now}, "reader-1", 100); err != nil {
				t.Fatalf("AddReport(%s) = %v", c.ID, err)
			}
			decided := now.Add(-50 * time.Minute)
			if _, err := s.Decide(ctx, c.ID, moderation.MarkSpam, comment.Decision{Moderator: "mod", At: decided, To: comment.StateSpam}, markSpamFrom, ""); err != nil {
				t.Fatalf("Decide(%s, mark spam) = %v", c.ID, err)
			}
			withState(6, comment.StateSpam, now)
			cutoff := now.Add(-10 * time.Minute)
			// An earlier run purged the older spam: its label and outcome are still to forget.
			if n, err := s.PurgeSpam(ctx, cutoff, 1); err != nil || n != 1 {
				t.Fatalf("PurgeSpam(limit 1) = %d, %v; want 1 (%s)", n, err, older.ID)
			}
			purgeWhileClaimSetMoves(t, thread, shard, c, cutoff, now)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// finishAfter finishes m after d, in the background; the returned channel closes when it has.
func finishAfter(t *testing.T, m *redistest.Migration, d time.Duration) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(d)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Finish(ctx); err != nil {
			t.Errorf("finish the migration of slot %d: %v", m.Slot, err)
		}
	}()
	return done
}
