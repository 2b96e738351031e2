package redisstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/spam"
)

// forestExamples are n spam comments that share "w:buy" and n ham ones that share "w:thanks",
// each with a token of its own: what a forest needs to tell the classes apart.
func forestExamples(n int, tag string) []spam.Labelled {
	var xs []spam.Labelled
	for i := range n {
		xs = append(xs,
			spam.Labelled{Tokens: []string{"w:buy", fmt.Sprintf("w:%s-s%d", tag, i), "c:aaaaa"}, Spam: true},
			spam.Labelled{Tokens: []string{"w:thanks", fmt.Sprintf("w:%s-h%d", tag, i), "c:bbbbb"}})
	}
	return xs
}

// TestSpamForestFitsSiteModel: a server fits the site model's forest from the examples in Redis at
// Load, none while either class has fewer than ten, and fits it again in Run after the model
// changed. Two servers fit the same forest.
func TestSpamForestFitsSiteModel(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	m := NewSpamMirror(ts.Store, SpamMirrorOptions{Block: 50 * time.Millisecond})
	f := NewSpamForest(ts.Store, m, SpamForestOptions{Every: 20 * time.Millisecond})

	if _, err := ts.TrainModel(ctx, "", "", forestExamples(9, "a")); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatalf("SpamMirror.Load = %v", err)
	}
	if err := f.Load(ctx); err != nil {
		t.Fatalf("SpamForest.Load = %v", err)
	}
	if got, _ := m.Forest(ctx); got != nil {
		t.Fatalf("with 9 examples of each class the forest is %v, want none", got)
	}

	if _, err := ts.TrainModel(ctx, "", "", forestExamples(1, "b")); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	runMirror(t, m)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(runCtx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	// A liveness bound, not a timing: the fit follows the change within a few of its periods.
	deadline := time.Now().Add(20 * time.Second)
	var forest *spam.Forest
	for forest == nil {
		if time.Now().After(deadline) {
			t.Fatal("the forest was not fitted after the tenth example of each class")
		}
		time.Sleep(10 * time.Millisecond)
		forest, _ = m.Forest(ctx)
	}
	if s, h := forest.Score([]string{"w:buy"}), forest.Score([]string{"w:thanks"}); s <= 0.5 || h >= 0.5 {
		t.Errorf("forest scores a spam token %.3f and a ham token %.3f, want above and below 0.5", s, h)
	}
	if examples, _, _ := forest.Size(); examples != 20 {
		t.Errorf("forest fitted on %d examples, want 20", examples)
	}

	// Another server fits the same forest from the same examples.
	other := secondInstance(t, ts)
	m2 := NewSpamMirror(other, SpamMirrorOptions{})
	if err := m2.Load(ctx); err != nil {
		t.Fatalf("SpamMirror.Load = %v", err)
	}
	if err := NewSpamForest(other, m2, SpamForestOptions{}).Load(ctx); err != nil {
		t.Fatalf("SpamForest.Load = %v", err)
	}
	forest2, _ := m2.Forest(ctx)
	for _, probe := range [][]string{{"w:buy"}, {"w:thanks"}, {"w:buy", "w:thanks"}, {"w:a-s3"}, {"w:b-h0", "w:buy"}} {
		if a, b := forest.Score(probe), forest2.Score(probe); a != b {
			t.Errorf("two servers' forests score %q %v and %v, want the same", probe, a, b)
		}
	}
}

// TestScratchModelForest: a scratch model's forest is fitted when it is first asked for, kept
// while the model does not change, and fitted again after it does.
func TestScratchModelForest(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const model = "forest"
	counts := ts.ModelCounts(model).(spam.ForestSource)
	if f, err := counts.Forest(ctx); f != nil || err != nil {
		t.Fatalf("Forest of a model never trained = %v, %v; want none", f, err)
	}
	if _, err := ts.TrainModel(ctx, model, "", forestExamples(10, "a")); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	first, err := counts.Forest(ctx)
	if err != nil || first == nil {
		t.Fatalf("Forest after 10 examples of each class = %v, %v; want one", first, err)
	}
	again, _ := counts.Forest(ctx)
	if again != first {
		t.Error("Forest asked again with no change in between fitted another")
	}
	if _, err := ts.TrainModel(ctx, model, "", forestExamples(2, "b")); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	after, _ := counts.Forest(ctx)
	if after == first {
		t.Fatal("Forest after more training is the one fitted before it")
	}
	if examples, _, _ := after.Size(); examples != 24 {
		t.Errorf("forest fitted on %d examples, want 24", examples)
	}
}

// TestScratchModelForestMadeAgain: a scratch model deleted and trained again under its name counts
// its changes from 1 again; its forest is fitted from its own examples, not taken from the cache
// of the model deleted, whose change number it has.
func TestScratchModelForestMadeAgain(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const model = "again"
	counts := ts.ModelCounts(model).(spam.ForestSource)
	if _, err := ts.TrainModel(ctx, model, "", forestExamples(10, "a")); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	if f, err := counts.Forest(ctx); err != nil || f == nil {
		t.Fatalf("Forest after 10 examples of each class = %v, %v; want one", f, err)
	}
	if err := ts.DeleteModel(ctx, model); err != nil {
		t.Fatalf("DeleteModel = %v", err)
	}
	// One training call, as before the deletion: the same change number.
	if _, err := ts.TrainModel(ctx, model, "", forestExamples(1, "b")); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	if f, err := counts.Forest(ctx); err != nil || f != nil {
		examples, _, _ := f.Size()
		t.Errorf("Forest of the model made again with 1 example of each class = a forest of %d examples, %v; want none (the deleted model's forest was kept)", examples, err)
	}
}
