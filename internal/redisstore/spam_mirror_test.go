package redisstore

import (
	"context"
	"sync"
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
