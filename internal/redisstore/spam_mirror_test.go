package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/spam"
)

// runMirror starts m.Run until the test ends.
func runMirror(t *testing.T, m *SpamMirror) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// secondInstance is another server's store on the same Redis and prefix.
func secondInstance(t *testing.T, ts testStore) *Store {
	t.Helper()
	s, err := New(context.Background(), ts.rdb, Options{Prefix: ts.prefix})
	if err != nil {
		t.Fatalf("New(prefix %q) = %v", ts.prefix, err)
	}
	return s
}

// waitMirror waits until m holds what Redis holds for tokens, or fails after timeout.
func waitMirror(t *testing.T, what string, m *SpamMirror, ts testStore, tokens []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		want := countsOf(t, ts.ModelCounts(""), tokens)
		got := countsOf(t, m, tokens)
		diff := cmp.Diff(want, got)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %s the mirror still differs from Redis (-redis +mirror):\n%s", what, timeout, diff)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMirrorFollowsAnotherInstance trains the site model through one server's store and watches
// another server's mirror catch up.
func TestMirrorFollowsAnotherInstance(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	if _, err := ts.TrainModel(ctx, "", "", labelled(trainHamBodies, false)); err != nil {
		t.Fatalf("called TrainModel(site), got error %v", err)
	}
	other := NewSpamMirror(secondInstance(t, ts), SpamMirrorOptions{Block: 200 * time.Millisecond})
	if err := other.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	tokens := allTokens(trainSpamBodies, trainHamBodies)
	waitMirror(t, "after Load", other, ts, tokens, 0)
	runMirror(t, other)

	start := time.Now()
	if _, err := ts.TrainModel(ctx, "", "", labelled(trainSpamBodies, true)); err != nil {
		t.Fatalf("called TrainModel(site), got error %v", err)
	}
	waitMirror(t, "after training on the first instance", other, ts, tokens, 10*time.Second)
	t.Logf("mirror caught up in %s", time.Since(start))

	if err := ts.Learn(ctx, spam.Lesson{CommentID: "c1", Tokens: spam.Features(spam.Input{Body: trainHamBodies[0]}), Label: spam.LabelSpam}); err != nil {
		t.Fatalf("called Learn, got error %v", err)
	}
	waitMirror(t, "after a moderator's decision", other, ts, tokens, 10*time.Second)
}

// TestMirrorReloadsAfterMissingChanges trims the stream behind a mirror's back, as Redis does to a
// server that fell too far behind: the mirror must notice the gap and reload.
func TestMirrorReloadsAfterMissingChanges(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	m := NewSpamMirror(secondInstance(t, ts), SpamMirrorOptions{Block: 100 * time.Millisecond})
	if err := m.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	for _, x := range labelled(trainSpamBodies, true) {
		if _, err := ts.TrainModel(ctx, "", "", []spam.Labelled{x}); err != nil {
			t.Fatalf("called TrainModel, got error %v", err)
		}
	}
	if err := ts.rdb.XTrimMaxLen(ctx, ts.keys.spamStream(""), 0).Err(); err != nil {
		t.Fatalf("XTRIM MAXLEN 0: %v", err)
	}
	if _, err := ts.TrainModel(ctx, "", "", labelled(trainHamBodies, false)); err != nil {
		t.Fatalf("called TrainModel, got error %v", err)
	}
	runMirror(t, m)
	waitMirror(t, "after its place in the stream was trimmed", m, ts, allTokens(trainSpamBodies, trainHamBodies), 10*time.Second)
}

// TestMirrorReloadsAfterDataLoss deletes the model in Redis (a flushed or restarted Redis): the
// idle mirror's periodic check must notice and rebuild from what Redis holds.
func TestMirrorReloadsAfterDataLoss(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	if _, err := ts.TrainModel(ctx, "", "", labelled(trainSpamBodies, true)); err != nil {
		t.Fatalf("called TrainModel, got error %v", err)
	}
	m := NewSpamMirror(secondInstance(t, ts), SpamMirrorOptions{Block: 50 * time.Millisecond, Check: 100 * time.Millisecond})
	runMirror(t, m)
	tokens := allTokens(trainSpamBodies)
	waitMirror(t, "at start", m, ts, tokens, 10*time.Second)
	if m.Seq() == 0 {
		t.Fatalf("mirror at change 0 after loading a trained model")
	}
	if err := ts.rdb.Del(ctx, ts.keys.spamCounts(""), ts.keys.spamTotals(""), ts.keys.spamStream("")).Err(); err != nil {
		t.Fatalf("DEL the site model: %v", err)
	}
	waitMirror(t, "after the model was lost", m, ts, tokens, 10*time.Second)
	if m.Seq() != 0 {
		t.Errorf("after reloading an empty model, got mirror at change %d, want 0", m.Seq())
	}
}

func TestDecodeChangeRefusesGarbage(t *testing.T) {
	for _, values := range []map[string]any{
		{},
		{"seq": "x", "tot": "0 0 0 0 0", "tok": "[]"},
		{"seq": "1", "tot": "0 0 0", "tok": "[]"},
		{"seq": "1", "tot": "0 0 0 0 0", "tok": `["a", 1]`},
		{"seq": "1", "tot": "0 0 0 0 0", "tok": `[1, 1, 1]`},
	} {
		if _, err := decodeChange(redis.XMessage{ID: "1-0", Values: values}); err == nil {
			t.Errorf("called decodeChange(%v), got nil error, want a malformed-record error", values)
		}
	}
}

// gapFixture is a site model with labelled comments whose author an erasure request reaches, and
// another server's copy of it on a clock the test moves.
type gapFixture struct {
	ts    testStore
	m     *SpamMirror
	clock *atomic.Int64 // nanoseconds the copy's clock is ahead of start
	ids   []string
	toks  []string // every token the comments teach, before and after the erasure
}

func newGapFixture(t *testing.T, reloadAfter, reloadWithin time.Duration) gapFixture {
	t.Helper()
	ctx := context.Background()
	f := gapFixture{ts: newTestStore(t), clock: new(atomic.Int64)}
	for i := range 4 {
		id := fmt.Sprintf("gap-%d", i)
		if err := f.ts.Learn(ctx, spam.Lesson{CommentID: id, Tokens: gapTokens(i, false), Label: spam.LabelSpam}); err != nil {
			t.Fatalf("called Learn(%s), got error %v", id, err)
		}
		f.ids = append(f.ids, id)
		f.toks = append(f.toks, gapTokens(i, false)...)
		f.toks = append(f.toks, gapTokens(i, true)...)
	}
	f.m = NewSpamMirror(secondInstance(t, f.ts), SpamMirrorOptions{Block: 20 * time.Millisecond, ReloadAfter: reloadAfter, ReloadWithin: reloadWithin})
	start := time.Now()
	f.m.now = func() time.Time { return start.Add(time.Duration(f.clock.Load())) }
	if err := f.m.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	runMirror(t, f.m)
	return f
}

// gapTokens are comment i's tokens: with its author's name, or as an erasure leaves them.
func gapTokens(i int, anonymised bool) []string {
	name := fmt.Sprintf("name:author%d", i)
	if anonymised {
		name = "name:erased"
	}
	return []string{"cheap", "pills", fmt.Sprintf("shop%d", i), name}
}

// erase moves what comment i taught to its anonymised tokens, as an erasure request does: a gap
// in the changes for every copy. It returns once the copy has read the change.
func (f gapFixture) erase(t *testing.T, i int) {
	t.Helper()
	if err := f.ts.Refeature(context.Background(), f.ids[i], gapTokens(i, false), gapTokens(i, true)); err != nil {
		t.Fatalf("called Refeature(%s), got error %v", f.ids[i], err)
	}
	f.waitRead(t, fmt.Sprintf("the erasure of %s", f.ids[i]))
}

// waitRead waits until the copy has read the stream to its last entry (by applying it, patching
// it in, or loading the model after it), or fails after 10s.
func (f gapFixture) waitRead(t *testing.T, what string) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		last, err := f.ts.rdb.XRevRangeN(ctx, f.ts.keys.spamStream(""), "+", "-", 1).Result()
		if err != nil || len(last) != 1 {
			t.Fatalf("XREVRANGE the model's stream = %v, %v; want its last entry", last, err)
		}
		f.m.mu.Lock()
		at := f.m.lastID
		f.m.mu.Unlock()
		if at == last[0].ID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the copy is at stream entry %s after 10s, want %s", what, at, last[0].ID)
		}
	}
}

// waitLoads waits until the copy has loaded the model want times, or fails after 10s.
func (f gapFixture) waitLoads(t *testing.T, what string, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.m.loads.Load() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the copy loaded the model %d times after 10s, want %d", what, f.m.loads.Load(), want)
		}
	}
}

// TestMirrorCoalescesReloads: an erasure request reaching several labelled comments makes one gap
// in the changes per comment; the copy, held from reloading by its clock, reads them all, patches
// in the changes between them, and loads the whole model once when its clock lets it.
func TestMirrorCoalescesReloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newGapFixture(t, time.Minute, time.Hour)
	before := f.m.Seq()
	f.erase(t, 0)
	// A decision between the erasure's steps reaches the copy at once, gap or no gap.
	decided := append(gapTokens(9, false), "wholesale")
	if err := f.ts.Learn(ctx, spam.Lesson{CommentID: "other", Tokens: decided, Label: spam.LabelHam}); err != nil {
		t.Fatalf("called Learn(other), got error %v", err)
	}
	f.waitRead(t, "a decision after the first gap")
	if diff := cmp.Diff(countsOf(t, f.ts.ModelCounts(""), decided), countsOf(t, f.m, decided)); diff != "" {
		t.Errorf("after a decision that followed a gap, the copy's counts of its tokens differ from Redis (-redis +copy):\n%s", diff)
	}
	for i := 1; i < len(f.ids); i++ {
		f.erase(t, i)
	}
	if n := f.m.loads.Load(); n != 1 {
		t.Errorf("after %d gaps in the changes with the reload held, the copy loaded the model %d times, want 1 (the first load only)", len(f.ids), n)
	}
	if got := f.m.Seq(); got != before {
		t.Errorf("after gaps with the reload held, the copy says it holds change %d in full, want %d (the one before the first gap)", got, before)
	}

	f.clock.Add(int64(time.Minute))
	f.waitLoads(t, "after the erasure's last step and the quiet wait", 2)
	waitMirror(t, "after the reload", f.m, f.ts, append(f.toks, decided...), 0)
	if n := f.m.loads.Load(); n != 2 {
		t.Errorf("after %d gaps and one quiet wait, the copy loaded the model %d times, want 2", len(f.ids), n)
	}
}

// TestMirrorReloadWaitIsBounded: gaps that keep coming, each before the quiet wait is over, do
// not hold the copy wrong for ever: it loads the model once ReloadWithin has passed since the
// first, and the gaps after that load wait their own turn.
func TestMirrorReloadWaitIsBounded(t *testing.T) {
	t.Parallel()
	f := newGapFixture(t, time.Minute, 150*time.Second)
	f.erase(t, 0)
	f.clock.Add(int64(50 * time.Second))
	f.erase(t, 1)
	f.clock.Add(int64(50 * time.Second))
	f.erase(t, 2)
	if n := f.m.loads.Load(); n != 1 {
		t.Fatalf("after 3 gaps 50s apart with a quiet wait of 60s, the copy loaded the model %d times, want 1 (the first load only)", n)
	}
	f.clock.Add(int64(50 * time.Second)) // 150s since the first gap, 50s since the last
	f.waitLoads(t, "150s after the first gap", 2)
	waitMirror(t, "after the bounded wait", f.m, f.ts, f.toks, 0)

	f.erase(t, 3)
	if n := f.m.loads.Load(); n != 2 {
		t.Errorf("right after a gap that followed the load, the copy loaded the model %d times, want 2", n)
	}
	f.clock.Add(int64(time.Minute))
	f.waitLoads(t, "a quiet wait after the last gap", 3)
	waitMirror(t, "after the last reload", f.m, f.ts, f.toks, 0)
}
