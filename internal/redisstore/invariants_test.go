package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// TestRandomSequenceKeepsInvariants runs seeded random sequences of submissions, decisions,
// readers' reports, claims, releases, erasures and spam purges, and after every step checks what
// every path must keep true: each comment is in exactly the indexes its state implies (so
// CountPublished and the queue depths count what the records say), no index, claim, report key or
// entry among the decisions not yet learnt outlives its comment, a claim is in its holder's set,
// and the day's counters count every submission, every decision that changed a comment, and
// every comment of the day that is spam or was deleted as spam.
func TestRandomSequenceKeepsInvariants(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			runRandomSequence(t, seed, 150)
		})
	}
}

// decisionRules are the actions' target states and the states they take, as moderation.Action
// defines them.
var decisionRules = map[moderation.Action]struct {
	to   comment.State
	from []comment.State
}{
	moderation.Approve:     {comment.StatePublished, []comment.State{comment.StatePending, comment.StateRejected, comment.StateSpam}},
	moderation.Reject:      {comment.StateRejected, []comment.State{comment.StatePending, comment.StatePublished, comment.StateSpam}},
	moderation.MarkSpam:    {comment.StateSpam, []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected}},
	moderation.MarkNotSpam: {comment.StatePending, []comment.State{comment.StateSpam}},
	moderation.Reopen:      {comment.StatePending, []comment.State{comment.StatePublished, comment.StateRejected, comment.StateSpam}},
}

// sequenceState is what a random sequence has done, for the checks.
type sequenceState struct {
	ids       []string
	threads   []string
	created   int            // comments stored
	decisions map[string]int // moderatorField → decisions that changed a comment
	day       int64          // the day every comment is created on
}

func runRandomSequence(t *testing.T, seed uint64, steps int) {
	ts := newTestStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0))
	// Two threads of one shard and one of another: shard queues mix threads.
	base := time.Now().Truncate(24 * time.Hour).Add(time.Hour)
	st := sequenceState{
		threads:   []string{"seq-a", threadInShard("seq-b", shardOfThread("seq-a")), "seq-c"},
		decisions: map[string]int{},
		day:       dayOf(base),
	}
	moderators := []string{"anna", "bert"}
	authors := func() string { return fmt.Sprintf("%040x", rng.IntN(3)) }
	pick := func() string { return st.ids[rng.IntN(len(st.ids))] }
	for step := range steps {
		var did string
		switch op := rng.IntN(20); {
		case op < 6 || len(st.ids) == 0:
			c := draft(ts.Store, st.threads[rng.IntN(len(st.threads))], step)
			c.CreatedAt = base.Add(time.Duration(step) * time.Second)
			c.AuthorKey = authors()
			c.State = []comment.State{comment.StatePublished, comment.StatePending, comment.StateRejected, comment.StateSpam}[rng.IntN(4)]
			c.PublishedAt = time.Time{}
			if c.State == comment.StatePublished {
				c.PublishedAt = c.CreatedAt
			}
			var opts comment.CreateOptions
			if rng.IntN(2) == 0 {
				// Few request ids, so some are resends and some reuses.
				opts.RequestID = fmt.Sprint("req-", rng.IntN(8))
				opts.Fingerprint = fmt.Sprint(rng.IntN(2))
			}
			_, created, err := ts.Create(ctx, c, opts)
			did = fmt.Sprintf("Create(%s, %v, request id %q) = created %v, %v", c.ID, c.State, opts.RequestID, created, err)
			if err == nil && created {
				st.ids = append(st.ids, c.ID)
				st.created++
			}
		case op < 11:
			id, a, mod := pick(), moderation.Action(1+rng.IntN(5)), moderators[rng.IntN(2)]
			r := decisionRules[a]
			before, gerr := ts.Get(ctx, id)
			_, err := ts.Decide(ctx, id, a, comment.Decision{To: r.to, Moderator: mod, At: time.Now()}, r.from, "")
			did = fmt.Sprintf("Decide(%s, %v by %s) = %v", id, a, mod, err)
			if gerr == nil && err == nil && before.State != r.to {
				st.decisions[moderatorField(mod, counterLetter(a.Audit()))]++
			}
		case op < 13:
			id, reporter := pick(), []string{fmt.Sprint("reader-", step), "ip-1", "ip-2"}[rng.IntN(3)]
			_, n, err := ts.AddReport(ctx, id, moderation.Report{Reason: "rude", At: time.Now()}, reporter, 2)
			did = fmt.Sprintf("AddReport(%s, reporter %q) = %d, %v", id, reporter, n, err)
		case op < 15:
			q := moderation.ClaimQuery{State: []comment.State{comment.StatePending, comment.StateSpam}[rng.IntN(2)], Count: 1 + rng.IntN(3), Lease: time.Hour}
			if rng.IntN(2) == 0 {
				q.ThreadID = st.threads[rng.IntN(len(st.threads))]
			}
			mod := moderators[rng.IntN(2)]
			got, err := ts.Claim(ctx, mod, q, time.Now())
			did = fmt.Sprintf("Claim(%s, %+v) = %d comments, %v", mod, q, len(got), err)
		case op < 16:
			id, mod := pick(), moderators[rng.IntN(2)]
			did = fmt.Sprintf("Release(%s, %s) = %v", mod, id, ts.Release(ctx, mod, []string{id}))
		case op < 17:
			author := authors()
			n, err := ts.EraseAuthor(ctx, []string{author}, moderation.EraseOptions{Name: comment.ErasedAuthorName})
			did = fmt.Sprintf("EraseAuthor(%s) = %d, %v", author, n, err)
		default:
			limit := 1 + rng.IntN(3)
			n, err := ts.PurgeSpam(ctx, time.Now().Add(time.Hour), limit)
			did = fmt.Sprintf("PurgeSpam(limit %d) = %d, %v", limit, n, err)
		}
		checkSequence(t, ts, st, fmt.Sprintf("step %d, after %s", step, did))
		if t.Failed() {
			return
		}
	}
}

// checkSequence checks the invariants on everything under ts's prefix; at says when.
func checkSequence(t *testing.T, ts testStore, st sequenceState, at string) {
	t.Helper()
	ctx := context.Background()
	records := map[string]map[string]string{}
	for _, id := range st.ids {
		shard, _ := shardOfID(id)
		if m := ts.rdb.HGetAll(ctx, ts.keys.record(shard, id)).Val(); len(m) > 0 {
			records[id] = m
		}
	}
	spam := 0
	for _, id := range st.ids {
		rec, ok := records[id]
		if !ok {
			spam++ // deleted by the spam retention, counted as spam on its day
			continue
		}
		state, err := parseState(rec[fState])
		if err != nil {
			t.Fatalf("%s: comment %s has state %q", at, id, rec[fState])
		}
		if state == comment.StateSpam {
			spam++
		}
		if got, want := indexMembership(t, ts, rec[fThread], id), wantMembership(state); !slices.Equal(got, want) {
			t.Errorf("%s: comment %s (%v) is in indexes %v, want %v", at, id, state, got, want)
		}
		if _, published := rec[fPublished]; published != (state == comment.StatePublished) {
			t.Errorf("%s: comment %s (%v) has a publication time: %v", at, id, state, published)
		}
		if n := strings.Count(rec[fHold], `["`+moderation.ReasonReported+`"`); n > 1 {
			t.Errorf("%s: comment %s is held as reported %d times", at, id, n)
		}
	}

	// Every key under the prefix belongs to a comment that exists, or is shared.
	for _, key := range scanKeys(t, ts.rdb, ts.prefix) {
		shard := -1
		for s := range numShards {
			if strings.HasPrefix(key, ts.keys.tag(s)) {
				shard = s
			}
		}
		if shard < 0 {
			continue
		}
		rest := strings.TrimPrefix(key, ts.keys.tag(shard))
		kind, name, _ := strings.Cut(rest, ":")
		switch kind {
		case "p", "q":
			// p:<thread>, q:<state>:<thread> or the shard's q:<state>.
			state, thread := "1", name
			if kind == "q" {
				state, thread, _ = strings.Cut(name, ":")
			}
			for _, id := range ts.rdb.ZRange(ctx, key, 0, -1).Val() {
				rec, ok := records[id]
				switch {
				case !ok:
					t.Errorf("%s: index %s lists %s, which is gone", at, key, id)
				case rec[fState] != state || (thread != "" && rec[fThread] != thread):
					t.Errorf("%s: index %s lists %s, of state %s in thread %s", at, key, id, rec[fState], rec[fThread])
				}
			}
		case "cl", "rp", "rr", "rl":
			if _, ok := records[name]; !ok {
				t.Errorf("%s: %s outlives its comment", at, key)
			}
			if kind == "cl" {
				holder := ts.rdb.Get(ctx, key).Val()
				if err := ts.rdb.ZScore(ctx, ts.keys.moderatorClaims(shard, holder), name).Err(); err != nil {
					t.Errorf("%s: claim %s of %s is not in the holder's claim set: %v", at, key, holder, err)
				}
			}
		case "cm":
			for _, id := range ts.rdb.ZRange(ctx, key, 0, -1).Val() {
				if holder, err := ts.rdb.Get(ctx, ts.keys.claim(shard, id)).Result(); err != nil || holder != name {
					t.Errorf("%s: claim set %s lists %s, held by %q (%v)", at, key, id, holder, err)
				}
			}
		case "ul":
			for _, id := range ts.rdb.ZRange(ctx, key, 0, -1).Val() {
				if _, ok := records[id]; !ok {
					t.Errorf("%s: %s lists %s, which is gone", at, key, id)
				}
			}
		}
		if ttl := ts.rdb.TTL(ctx, key).Val(); kind == "cl" || kind == "cm" || kind == "st" || kind == "r" || kind == "rf" {
			if ttl < 0 {
				t.Errorf("%s: %s has no TTL (%v), keys.go says it expires", at, key, ttl)
			}
		}
	}

	// The counters, summed over the shards, of the comments' day and the next (a decision, timed
	// now, may come after midnight).
	counted := map[string]int{}
	for i := range 2 * numShards {
		for f, v := range ts.rdb.HGetAll(ctx, ts.keys.stats(i%numShards, st.day+int64(i/numShards))).Val() {
			var n int
			fmt.Sscan(v, &n)
			counted[f] += n
		}
	}
	want := map[string]int{"sub": st.created, "spam": spam}
	for f, n := range st.decisions {
		want[f] = n
	}
	for f := range counted {
		if counted[f] == 0 && want[f] == 0 {
			delete(counted, f)
		}
	}
	for f := range want {
		if want[f] == 0 && counted[f] == 0 {
			delete(want, f)
		}
	}
	if fmt.Sprint(counted) != fmt.Sprint(want) {
		t.Errorf("%s: the day's counters = %v, want %v", at, counted, want)
	}
}
