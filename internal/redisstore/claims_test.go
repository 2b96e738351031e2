package redisstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// seedQueue stores n pending comments spread over threads, one second apart, and returns their
// ids oldest first.
func seedQueue(t *testing.T, s *Store, threads []string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		c := mustCreate(t, s, pendingDraft(s, threads[i%len(threads)], i, t0.Add(time.Duration(i)*time.Second)), comment.CreateOptions{})
		out = append(out, c.ID)
	}
	return out
}

func claim(t *testing.T, s *Store, moderator string, q moderation.ClaimQuery) []string {
	t.Helper()
	if q.State == comment.StateUnspecified {
		q.State = comment.StatePending
	}
	if q.Lease == 0 {
		q.Lease = time.Minute
	}
	cs, err := s.Claim(context.Background(), moderator, q, time.Now())
	if err != nil {
		t.Fatalf("Claim(%s, %+v) = %v", moderator, q, err)
	}
	return ids(cs)
}

// TestClaimsNeverOverlap has many moderators claim from the same queue at once, over and over,
// and checks that every comment went to exactly one of them.
func TestClaimsNeverOverlap(t *testing.T) {
	t.Parallel()
	for _, byThread := range []bool{false, true} {
		t.Run(fmt.Sprintf("thread filter %v", byThread), func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			threads := []string{"race"}
			if !byThread {
				threads = []string{threadInShard("race", 1), threadInShard("race", 6), threadInShard("race", 12), threadInShard("race", 15)}
			}
			queued := seedQueue(t, ts.Store, threads, 120)
			q := moderation.ClaimQuery{State: comment.StatePending, Count: 3, Lease: time.Minute}
			if byThread {
				q.ThreadID = threads[0]
			}

			const moderators = 12
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				holders = map[string]string{} // comment id → the moderator holding it now
				claims  int
			)
			for m := range moderators {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("mod-%02d", m)
					for range 30 {
						cs, err := ts.Claim(context.Background(), name, q, time.Now())
						if err != nil {
							t.Errorf("Claim(%s) = %v", name, err)
							return
						}
						if len(cs) == 0 {
							return
						}
						mu.Lock()
						for _, c := range cs {
							if h, held := holders[c.ID]; held && h != name {
								t.Errorf("Claim(%s) returned %s, which %s holds", name, c.ID, h)
							}
							holders[c.ID] = name
						}
						claims += len(cs)
						// Keep the oldest, give the rest back (forgotten here first: until Release
						// returns, the claims are still this moderator's).
						var release []string
						for _, c := range cs[1:] {
							release = append(release, c.ID)
							delete(holders, c.ID)
						}
						mu.Unlock()
						if err := ts.Release(context.Background(), name, release); err != nil {
							t.Errorf("Release(%s, %v) = %v", name, release, err)
							return
						}
					}
				}()
			}
			wg.Wait()

			// Each moderator ends holding exactly the one comment it kept last.
			perModerator := map[string]int{}
			for _, id := range queued {
				shard, _ := shardOfID(id)
				h, err := ts.rdb.Get(context.Background(), ts.keys.claim(shard, id)).Result()
				if err != nil && err != redis.Nil {
					t.Fatalf("GET claim of %s: %v", id, err)
				}
				if h != "" {
					perModerator[h]++
					if holders[id] != h {
						t.Errorf("comment %s is held by %s in Redis, want %q", id, h, holders[id])
					}
				}
			}
			if len(perModerator) != moderators || claims < moderators*30 {
				t.Errorf("%d moderators hold claims after %d claimed comments, want all %d moderators after at least %d", len(perModerator), claims, moderators, moderators*30)
			}
			for name, n := range perModerator {
				if n != 1 {
					t.Errorf("moderator %s holds %d claims at the end, want 1", name, n)
				}
			}
		})
	}
}

// TestConcurrentClaimsGetDisjointComments has moderators claim once each, all at the same moment,
// from a queue with fewer comments than they ask for together.
func TestConcurrentClaimsGetDisjointComments(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	threads := []string{threadInShard("disjoint", 0), threadInShard("disjoint", 5), threadInShard("disjoint", 10)}
	queued := seedQueue(t, ts.Store, threads, 40)

	const moderators = 16
	got := make([][]string, moderators)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for m := range moderators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cs, err := ts.Claim(context.Background(), fmt.Sprintf("mod-%02d", m), moderation.ClaimQuery{State: comment.StatePending, Count: 5, Lease: time.Minute}, time.Now())
			if err != nil {
				t.Errorf("Claim(mod-%02d) = %v", m, err)
			}
			got[m] = ids(cs)
		}()
	}
	close(start)
	wg.Wait()

	owner := map[string]int{}
	total := 0
	for m, g := range got {
		for _, id := range g {
			if prev, dup := owner[id]; dup {
				t.Errorf("comment %s was claimed by mod-%02d and mod-%02d, want one moderator", id, prev, m)
			}
			owner[id] = m
		}
		total += len(g)
		if !slices.IsSortedFunc(g, func(a, b string) int { return slices.Index(queued, a) - slices.Index(queued, b) }) {
			t.Errorf("Claim(mod-%02d) = %v, want oldest first", m, g)
		}
	}
	if total != len(queued) {
		t.Errorf("the %d moderators claimed %d comments in all, want all %d queued (they asked for %d)", moderators, total, len(queued), moderators*5)
	}
}

func TestClaimReturnsOwnClaimsAndSkipsOthers(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	threads := []string{threadInShard("own", 3), threadInShard("own", 8)}
	queued := seedQueue(t, ts.Store, threads, 10)

	anna := claim(t, ts.Store, "anna", moderation.ClaimQuery{Count: 3})
	if diff := cmp.Diff(queued[:3], anna); diff != "" {
		t.Fatalf("Claim(anna, 3) (-want oldest three +got):\n%s", diff)
	}
	if diff := cmp.Diff(queued[:5], claim(t, ts.Store, "anna", moderation.ClaimQuery{Count: 5})); diff != "" {
		t.Errorf("Claim(anna, 5) again, want her three back and two more (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(queued[5:8], claim(t, ts.Store, "bert", moderation.ClaimQuery{Count: 3})); diff != "" {
		t.Errorf("Claim(bert, 3), want the oldest not held by anna (-want +got):\n%s", diff)
	}

	// Releasing gives a comment back; names not held by the caller are ignored.
	if err := ts.Release(ctx, "anna", []string{queued[0], queued[6], "not-an-id"}); err != nil {
		t.Fatalf("Release(anna) = %v", err)
	}
	if diff := cmp.Diff([]string{queued[0], queued[8]}, claim(t, ts.Store, "carl", moderation.ClaimQuery{Count: 2})); diff != "" {
		t.Errorf("Claim(carl, 2) after anna released one (-want +got):\n%s", diff)
	}

	// A decision ends the claim, whoever decides.
	if _, err := ts.Decide(ctx, queued[1], moderation.Approve, comment.Decision{Moderator: "bert", At: time.Now(), To: comment.StatePublished}, approveFrom, ""); err != nil {
		t.Fatalf("Decide(approve %s) = %v", queued[1], err)
	}
	shard, _ := shardOfID(queued[1])
	if n, err := ts.rdb.Exists(ctx, ts.keys.claim(shard, queued[1])).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS claim of %s after the decision = %d, %v; want 0", queued[1], n, err)
	}
	if diff := cmp.Diff([]string{queued[2], queued[3], queued[4], queued[9]}, claim(t, ts.Store, "anna", moderation.ClaimQuery{Count: 10})); diff != "" {
		t.Errorf("Claim(anna, 10) after her first comment was decided (-want her other claims and the one free comment +got):\n%s", diff)
	}
	// The moderator's claim set holds exactly the live claims.
	members, err := ts.rdb.ZRange(ctx, ts.keys.moderatorClaims(shard, "anna"), 0, -1).Result()
	if err != nil || slices.Contains(members, queued[1]) {
		t.Errorf("anna's claim set in shard %d = %v, %v; want no decided comment", shard, members, err)
	}
}

// TestClaimIsOldestFirst: a claim answers oldest first, as the API says, with or without a thread,
// also when the moderator's own claims are newer than comments free again (released, or whose
// lease ended): the order the review shows comments in.
func TestClaimIsOldestFirst(t *testing.T) {
	t.Parallel()
	for _, byThread := range []bool{false, true} {
		t.Run(fmt.Sprintf("thread filter %v", byThread), func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			thread := threadInShard(fmt.Sprintf("oldest-%v", byThread), 6)
			queued := seedQueue(t, ts.Store, []string{thread}, 3)
			q := moderation.ClaimQuery{Count: 2}
			if byThread {
				q.ThreadID = thread
			}
			if got := claim(t, ts.Store, "anna", q); !slices.Equal(got, queued[:2]) {
				t.Fatalf("Claim(anna, %+v) = %v, want %v", q, got, queued[:2])
			}
			if err := ts.Release(context.Background(), "anna", queued[:1]); err != nil {
				t.Fatalf("Release(anna, %s) = %v", queued[0], err)
			}
			// Her claim on the second comment, then the oldest free one: the first.
			if got := claim(t, ts.Store, "anna", q); !slices.Equal(got, queued[:2]) {
				t.Errorf("Claim(anna, %+v) after releasing %s = %v, want %v: oldest first", q, queued[0], got, queued[:2])
			}
		})
	}
}

// TestClaimSkipsSkippedComments: comments a moderator skipped and gave back are free again and the
// oldest in the queue; a claim that names them takes the next ones instead, also when they were
// the moderator's own claims, while other moderators still get them.
func TestClaimSkipsSkippedComments(t *testing.T) {
	t.Parallel()
	for _, byThread := range []bool{false, true} {
		t.Run(fmt.Sprintf("thread filter %v", byThread), func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			thread := threadInShard(fmt.Sprintf("skip-%v", byThread), 3)
			threads := []string{thread}
			if !byThread {
				threads = append(threads, threadInShard("skip", 9), threadInShard("skip", 14))
			}
			queued := seedQueue(t, ts.Store, threads, 9)
			q := moderation.ClaimQuery{Count: 3}
			if byThread {
				q.ThreadID = thread
			}
			first := claim(t, ts.Store, "anna", q)
			if err := ts.Release(context.Background(), "anna", first[:2]); err != nil {
				t.Fatalf("Release(anna, %v) = %v", first[:2], err)
			}
			// first[2] is still hers: skipped all the same, as a skip names it.
			q.Skip = first
			want := queued[3:6]
			got := claim(t, ts.Store, "anna", q)
			if !slices.Equal(got, want) {
				t.Errorf("Claim(anna, skipping %v) = %v, want %v", q.Skip, got, want)
			}
			if got := claim(t, ts.Store, "bert", moderation.ClaimQuery{Count: 2, ThreadID: q.ThreadID}); !slices.Equal(got, first[:2]) {
				t.Errorf("Claim(bert) = %v, want what anna skipped and gave back, %v", got, first[:2])
			}
		})
	}
}

// TestCommentPutBackIsClaimedForTheModerator: a moderator who takes a decision back (reopen, or
// not spam) gets the comment back in their own claims, and another moderator's claim skips it
// until the lease ends, so two moderators never review it at once.
func TestCommentPutBackIsClaimedForTheModerator(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	queued := seedQueue(t, ts.Store, []string{threadInShard("back", 5)}, 3)
	now := time.Now()
	decide := func(id string, a moderation.Action, who string, to comment.State, from []comment.State) {
		t.Helper()
		if _, err := ts.Decide(ctx, id, a, comment.Decision{Moderator: who, At: now, To: to}, from, ""); err != nil {
			t.Fatalf("Decide(%v %s by %s) = %v", a, id, who, err)
		}
	}
	all := []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected, comment.StateSpam}

	// anna rejects the oldest comment and takes it back; bert marks the next spam and takes that back.
	decide(queued[0], moderation.Reject, "anna", comment.StateRejected, all)
	decide(queued[0], moderation.Reopen, "anna", comment.StatePending, all)
	decide(queued[1], moderation.MarkSpam, "bert", comment.StateSpam, all)
	decide(queued[1], moderation.MarkNotSpam, "bert", comment.StatePending, []comment.State{comment.StateSpam})

	if got := claim(t, ts.Store, "carl", moderation.ClaimQuery{Count: 10}); !slices.Equal(got, queued[2:]) {
		t.Errorf("Claim(carl) = %v, want %v: the comments anna and bert put back are theirs", got, queued[2:])
	}
	if got := claim(t, ts.Store, "anna", moderation.ClaimQuery{Count: 10}); !slices.Equal(got, queued[:1]) {
		t.Errorf("Claim(anna) = %v, want the comment she put back, %v", got, queued[:1])
	}
	if got := claim(t, ts.Store, "bert", moderation.ClaimQuery{Count: 10}); !slices.Equal(got, queued[1:2]) {
		t.Errorf("Claim(bert) = %v, want the comment he put back, %v", got, queued[1:2])
	}
	// The claim lasts the default lease, as one ClaimComments makes.
	shard, _ := shardOfID(queued[1])
	if ttl, err := ts.rdb.PTTL(ctx, ts.keys.claim(shard, queued[1])).Result(); err != nil || ttl <= 0 || ttl > moderation.DefaultLease {
		t.Errorf("PTTL of the claim on %s = %v, %v; want at most %v", queued[1], ttl, err, moderation.DefaultLease)
	}
	// Deciding it ends that claim like any other.
	decide(queued[0], moderation.Approve, "anna", comment.StatePublished, all)
	if n, err := ts.rdb.Exists(ctx, ts.keys.claim(shard, queued[0])).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS claim of %s after approving it = %d, %v; want 0", queued[0], n, err)
	}
}

func TestClaimLeaseEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	withinSpan(t, 50*time.Millisecond, func(lease time.Duration) bool {
		ts := newTestStore(t)
		queued := seedQueue(t, ts.Store, []string{"lease"}, 2)
		start := time.Now()
		cs, err := ts.Claim(ctx, "anna", moderation.ClaimQuery{State: comment.StatePending, Count: 1, Lease: lease}, time.Now())
		claimed := time.Now()
		if err != nil || len(cs) != 1 || cs[0].ID != queued[0] {
			t.Fatalf("Claim(anna, lease %v) = %v, %v; want [%s]", lease, ids(cs), err, queued[0])
		}
		got := claim(t, ts.Store, "bert", moderation.ClaimQuery{Count: 1})
		if time.Since(start) >= lease-leaseSlack {
			return false // anna's lease may have ended before bert claimed
		}
		if !slices.Equal(got, queued[1:2]) {
			t.Errorf("Claim(bert) during anna's lease = %v, want %v", got, queued[1:2])
		}
		// Redis set anna's lease before her claim returned, so it has ended by then plus the lease.
		time.Sleep(time.Until(claimed.Add(lease + leaseSlack)))
		if got := claim(t, ts.Store, "carl", moderation.ClaimQuery{Count: 5}); !slices.Equal(got, queued[:1]) {
			t.Errorf("Claim(carl) after anna's lease ended = %v, want %v", got, queued[:1])
		}
		return true
	})
}

func TestClaimByStateAndThread(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	pending := seedQueue(t, ts.Store, []string{"st-a", "st-b"}, 4)
	sp := pendingDraft(ts.Store, "st-a", 10, t0)
	sp.State = comment.StateSpam
	spamID := mustCreate(t, ts.Store, sp, comment.CreateOptions{}).ID

	if got := claim(t, ts.Store, "anna", moderation.ClaimQuery{State: comment.StateSpam, Count: 5}); !slices.Equal(got, []string{spamID}) {
		t.Errorf("Claim(spam) = %v, want [%s]", got, spamID)
	}
	if got := claim(t, ts.Store, "anna", moderation.ClaimQuery{ThreadID: "st-b", Count: 5}); !slices.Equal(got, []string{pending[1], pending[3]}) {
		t.Errorf("Claim(pending, thread st-b) = %v, want %v", got, []string{pending[1], pending[3]})
	}
	if _, err := ts.Claim(ctx, "anna", moderation.ClaimQuery{State: comment.StateRejected, Count: 1, Lease: time.Minute}, time.Now()); err == nil {
		t.Errorf("Claim(rejected) = nil error, want one: rejected comments have no review")
	}
}

// TestModeratorClaimSetsExpire: a moderator's claim set in a shard lives no longer than the last
// lease it lists. Ended leases used to leave only on the moderator's next claim in that shard, so
// the set of a moderator who stopped reviewing, or who only takes decisions back (a reopen claims
// the comment for them), kept one entry per comment forever.
func TestModeratorClaimSetsExpire(t *testing.T) {
	t.Parallel()
	all := []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected, comment.StateSpam}
	tests := []struct {
		name  string
		lease time.Duration // the longest lease the set may list (a claim's is tried longer when the test is slow)
		act   func(t *testing.T, ts testStore, id string, lease time.Duration)
	}{
		{"claim", 50 * time.Millisecond, func(t *testing.T, ts testStore, id string, lease time.Duration) {
			cs, err := ts.Claim(context.Background(), "anna", moderation.ClaimQuery{State: comment.StatePending, Count: 1, Lease: lease}, time.Now())
			if err != nil || len(cs) != 1 || cs[0].ID != id {
				t.Fatalf("Claim(anna, lease %v) = %v, %v; want [%s]", lease, ids(cs), err, id)
			}
		}},
		{"reopen", moderation.DefaultLease, func(t *testing.T, ts testStore, id string, _ time.Duration) {
			for _, d := range []struct {
				a  moderation.Action
				to comment.State
			}{{moderation.Reject, comment.StateRejected}, {moderation.Reopen, comment.StatePending}} {
				if _, err := ts.Decide(context.Background(), id, d.a, comment.Decision{Moderator: "anna", At: time.Now(), To: d.to}, all, ""); err != nil {
					t.Fatalf("Decide(%v %s by anna) = %v", d.a, id, err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			withinSpan(t, tt.lease, func(lease time.Duration) bool {
				ts := newTestStore(t)
				id := seedQueue(t, ts.Store, []string{threadInShard("expire", 3)}, 1)[0]
				start := time.Now()
				tt.act(t, ts, id, lease)
				acted := time.Now()
				key := ts.keys.moderatorClaims(3, "anna")
				ttl, err := ts.rdb.PTTL(ctx, key).Result()
				if time.Since(start) >= lease-leaseSlack {
					return false // the set may have expired before PTTL read it
				}
				if err != nil || ttl <= 0 || ttl > lease {
					t.Fatalf("after %s, PTTL of anna's claim set = %v, %v; want a TTL of at most %v", tt.name, ttl, err, lease)
				}
				if lease > time.Second {
					return true
				}
				// Redis set the TTL before act returned, so the set is gone by then plus the lease.
				time.Sleep(time.Until(acted.Add(lease + leaseSlack)))
				if n, err := ts.rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
					t.Errorf("after %s and the end of its %v lease, EXISTS anna's claim set = %d, %v; want 0", tt.name, lease, n, err)
				}
				return true
			})
		})
	}
}

// claimRoundsHook calls before just ahead of the first pipeline of claim takes it sees, and after
// just behind it: what other moderators do between the rounds of one Claim.
type claimRoundsHook struct {
	before, after func()
	takes         int
}

func (h *claimRoundsHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *claimRoundsHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *claimRoundsHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		take := len(cmds) > 0 && slices.Contains(cmds[0].Args(), any("take"))
		if take {
			h.takes++
			if h.takes == 1 {
				h.before()
			}
		}
		err := next(ctx, cmds)
		if take && h.takes == 1 {
			h.after()
		}
		return err
	}
}

// TestClaimRoundsForgetCommentsDecidedMeanwhile has a claim need a second round (another
// moderator took the only comment of one shard between the pick and the take), and a comment it
// claimed in the first round decided by a colleague before the second. The answer holds what the
// moderator holds at its end: not the decided comment, and no more than asked for.
func TestClaimRoundsForgetCommentsDecidedMeanwhile(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	threadA, threadB := threadInShard("rounds", 2), threadInShard("rounds", 9)
	a1 := mustCreate(t, ts.Store, pendingDraft(ts.Store, threadA, 0, t0), comment.CreateOptions{}).ID
	var b []string
	for i := 1; i <= 4; i++ {
		b = append(b, mustCreate(t, ts.Store, pendingDraft(ts.Store, threadB, i, t0.Add(time.Duration(i)*time.Second)), comment.CreateOptions{}).ID)
	}

	hook := &claimRoundsHook{
		before: func() {
			if got := claim(t, ts.Store, "bob", moderation.ClaimQuery{ThreadID: threadA, Count: 1}); !slices.Equal(got, []string{a1}) {
				t.Errorf("bob's Claim(thread %s) = %v, want [%s]", threadA, got, a1)
			}
		},
		after: func() {
			d := comment.Decision{Moderator: "carol", At: time.Now(), To: comment.StateRejected}
			if _, err := ts.Decide(ctx, b[0], moderation.Reject, d, []comment.State{comment.StatePending}, ""); err != nil {
				t.Errorf("carol's Decide(reject %s) = %v", b[0], err)
			}
		},
	}
	rdb := redistest.Client(t, redistest.Shared(t))
	rdb.AddHook(hook)
	alice, err := New(ctx, rdb, Options{Prefix: ts.prefix})
	if err != nil {
		t.Fatalf("New(prefix %q) = %v", ts.prefix, err)
	}

	got := claim(t, alice, "alice", moderation.ClaimQuery{Count: 3})
	if hook.takes < 2 {
		t.Fatalf("the claim took in %d rounds, want 2 or more: the test no longer makes it go round again", hook.takes)
	}
	if want := b[1:]; !slices.Equal(got, want) {
		t.Errorf("alice's Claim(count 3) = %v, want %v (%s was rejected meanwhile, %s is bob's)", got, want, b[0], a1)
	}
	// And she holds them: bob finds none of them free.
	if got := claim(t, ts.Store, "bob", moderation.ClaimQuery{Count: 10}); len(got) != 1 || got[0] != a1 {
		t.Errorf("bob's Claim(count 10) after alice's = %v, want only his own %s", got, a1)
	}
}
