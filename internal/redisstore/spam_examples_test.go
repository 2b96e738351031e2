package redisstore

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/spam"
)

// examplesOf returns model's examples as "class count tokens…" lines, sorted, and checks that the
// order set names exactly the examples kept.
func examplesOf(t *testing.T, ts testStore, model string) []string {
	t.Helper()
	ctx := context.Background()
	xs, err := ts.ModelExamples(ctx, model)
	if err != nil {
		t.Fatalf("ModelExamples(%q) = %v", model, err)
	}
	var out []string
	for _, x := range xs {
		class := "h"
		if x.Spam {
			class = "s"
		}
		if !slices.IsSorted(x.Tokens) {
			t.Errorf("example tokens %q are not sorted", x.Tokens)
		}
		out = append(out, strings.Join(append([]string{class, strings.Repeat("+", int(x.Count))}, x.Tokens...), " "))
	}
	slices.Sort(out)
	order, err := ts.rdb.ZCard(ctx, ts.keys.spamExampleOrder(model)).Result()
	if err != nil {
		t.Fatalf("ZCARD = %v", err)
	}
	if int(order) != len(xs) {
		t.Errorf("the order set holds %d examples, the examples hash %d", order, len(xs))
	}
	return out
}

// TestModelExamples trains and untrains a scratch model and checks the examples it keeps for its
// forest: one per distinct tokens and class, counted, without the character n-grams, and taken
// back exactly by an undo.
func TestModelExamples(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const model = "ex"
	counts := ts.ModelCounts(model)
	a := []string{"w:b", "c:zz", "w:a"}
	b := []string{"w:c", "u:x"}
	steps := []struct {
		what   string
		tokens []string
		spam   bool
		delta  int64
		want   []string
	}{
		{"first example", a, true, 1, []string{"s + w:a w:b"}},
		{"the same again counts twice", a, true, 1, []string{"s ++ w:a w:b"}},
		{"the same tokens as ham are another example", a, false, 1, []string{"h + w:a w:b", "s ++ w:a w:b"}},
		{"another", b, false, 1, []string{"h + u:x w:c", "h + w:a w:b", "s ++ w:a w:b"}},
		{"an undo takes one back", a, true, -1, []string{"h + u:x w:c", "h + w:a w:b", "s + w:a w:b"}},
		{"the last undo removes it", a, true, -1, []string{"h + u:x w:c", "h + w:a w:b"}},
		{"undoing what was never trained changes nothing", a, true, -1, []string{"h + u:x w:c", "h + w:a w:b"}},
		{"untrain the rest", b, false, -1, []string{"h + w:a w:b"}},
		{"", a, false, -1, nil},
	}
	for _, st := range steps {
		if err := counts.Train(ctx, st.tokens, st.spam, st.delta); err != nil {
			t.Fatalf("%s: Train = %v", st.what, err)
		}
		if diff := cmp.Diff(st.want, examplesOf(t, ts, model), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: examples (-want +got):\n%s", st.what, diff)
		}
	}
	for _, key := range []string{ts.keys.spamExamples(model), ts.keys.spamExampleOrder(model)} {
		if n, _ := ts.rdb.Exists(ctx, key).Result(); n != 0 {
			t.Errorf("%s still exists with every example untrained", key)
		}
	}
}

// TestModelExamplesFollowLabels: a moderator's label, changed and undone, moves the comment's
// example with it, and an erasure's move leaves no example with the old tokens.
func TestModelExamplesFollowLabels(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	orig := []string{"w:hello", "a:jane", "c:abcde"}
	anon := []string{"w:hello", "a:erased"}
	learn := func(label spam.Label) {
		t.Helper()
		if err := ts.Learn(ctx, spam.Lesson{CommentID: "c1", Tokens: orig, Anonymised: anon, Label: label}); err != nil {
			t.Fatalf("Learn(%s) = %v", label, err)
		}
	}
	learn(spam.LabelSpam)
	if diff := cmp.Diff([]string{"s + a:jane w:hello"}, examplesOf(t, ts, "")); diff != "" {
		t.Errorf("marked spam: examples (-want +got):\n%s", diff)
	}
	learn(spam.LabelHam)
	if diff := cmp.Diff([]string{"h + a:jane w:hello"}, examplesOf(t, ts, "")); diff != "" {
		t.Errorf("then approved: examples (-want +got):\n%s", diff)
	}
	if err := ts.Refeature(ctx, "c1", orig, anon); err != nil {
		t.Fatalf("Refeature = %v", err)
	}
	if diff := cmp.Diff([]string{"h + a:erased w:hello"}, examplesOf(t, ts, "")); diff != "" {
		t.Errorf("after the erasure's move: examples (-want +got):\n%s", diff)
	}
	learn(spam.LabelNone)
	if diff := cmp.Diff([]string(nil), examplesOf(t, ts, ""), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("label undone: examples (-want +got):\n%s", diff)
	}
}

// TestModelExamplesBounded: beyond the bound the oldest examples go, the counts keep everything,
// and undoing a dropped example changes no example.
func TestModelExamplesBounded(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ts.maxExamples = 3
	ctx := context.Background()
	const model = "bounded"
	counts := ts.ModelCounts(model)
	for _, w := range []string{"w:1", "w:2", "w:3", "w:4", "w:5"} {
		if err := counts.Train(ctx, []string{w}, false, 1); err != nil {
			t.Fatalf("Train(%s) = %v", w, err)
		}
	}
	want := []string{"h + w:3", "h + w:4", "h + w:5"}
	if diff := cmp.Diff(want, examplesOf(t, ts, model)); diff != "" {
		t.Errorf("5 examples trained, 3 kept: examples (-want +got):\n%s", diff)
	}
	if err := counts.Train(ctx, []string{"w:1"}, false, -1); err != nil {
		t.Fatalf("Train(w:1, -1) = %v", err)
	}
	if diff := cmp.Diff(want, examplesOf(t, ts, model)); diff != "" {
		t.Errorf("a dropped example undone: examples (-want +got):\n%s", diff)
	}
	s, h := make([]int64, 5), make([]int64, 5)
	tot, err := counts.TokenCounts(ctx, []string{"w:1", "w:2", "w:3", "w:4", "w:5"}, s, h)
	if err != nil {
		t.Fatalf("TokenCounts = %v", err)
	}
	if tot.Ham != 4 || !slices.Equal(h, []int64{0, 1, 1, 1, 1}) {
		t.Errorf("counts: %d ham, token counts %v; want 4 and [0 1 1 1 1]: the counts keep what the examples drop", tot.Ham, h)
	}
}

// TestScratchModelExamplesGo: a scratch model's examples expire with its counts and go when it is
// deleted.
func TestScratchModelExamplesGo(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const model = "gone"
	if _, err := ts.TrainModel(ctx, model, "", []spam.Labelled{{Tokens: []string{"w:a"}, Spam: true}}); err != nil {
		t.Fatalf("TrainModel = %v", err)
	}
	for _, key := range []string{ts.keys.spamExamples(model), ts.keys.spamExampleOrder(model)} {
		if ttl, err := ts.rdb.TTL(ctx, key).Result(); err != nil || ttl <= 0 {
			t.Errorf("TTL(%s) = %v, %v; want the scratch model's", key, ttl, err)
		}
	}
	if err := ts.DeleteModel(ctx, model); err != nil {
		t.Fatalf("DeleteModel = %v", err)
	}
	for _, key := range []string{ts.keys.spamExamples(model), ts.keys.spamExampleOrder(model)} {
		if n, _ := ts.rdb.Exists(ctx, key).Result(); n != 0 {
			t.Errorf("%s still exists after DeleteModel", key)
		}
	}
}

// TestErasureForgetsLeftExamples: during a rolling upgrade a label set on a new server (which
// keeps the comment's example) may be undone on an old one (which undoes the counts and the label
// only), leaving the example, with the author's name among its tokens. An erasure that reaches the
// comment afterwards must remove it, whether the comment has a label again or none, and number the
// change so that every server fits its forest again without it.
func TestErasureForgetsLeftExamples(t *testing.T) {
	t.Parallel()
	orig := []string{"w:hello", "a:jane", "c:abcde"}
	anon := []string{"w:hello", "a:erased"}
	tests := []struct {
		name string
		// relabel is the label set again after the old server's undo, if any.
		relabel spam.Label
		want    []string
	}{
		{"no label", spam.LabelNone, nil},
		{"labelled again", spam.LabelSpam, []string{"s + a:erased w:hello"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			ctx := context.Background()
			learn := func(label spam.Label) {
				t.Helper()
				if err := ts.Learn(ctx, spam.Lesson{CommentID: "c1", Tokens: orig, Anonymised: anon, Label: label}); err != nil {
					t.Fatalf("Learn(%s) = %v", label, err)
				}
			}
			learn(spam.LabelSpam)
			// What the previous release's undo leaves of the examples: the label gone, the
			// example kept.
			if err := ts.rdb.HDel(ctx, ts.keys.spamLabels(""), "c1").Err(); err != nil {
				t.Fatalf("HDEL label = %v", err)
			}
			if tt.relabel != spam.LabelNone {
				learn(tt.relabel)
			}
			seq := func() int64 {
				t.Helper()
				n, err := ts.rdb.HGet(ctx, ts.keys.spamTotals(""), "seq").Int64()
				if err != nil {
					t.Fatalf("HGET seq = %v", err)
				}
				return n
			}
			before := seq()
			if err := ts.Refeature(ctx, "c1", orig, anon); err != nil {
				t.Fatalf("Refeature = %v", err)
			}
			if diff := cmp.Diff(tt.want, examplesOf(t, ts, ""), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("after the erasure: examples (-want +got):\n%s", diff)
			}
			if after := seq(); after <= before {
				t.Errorf("the erasure left the change number at %d (before it: %d); want it moved on, so the forests are fitted again", after, before)
			}
			// A repeated erasure changes nothing more.
			if err := ts.Refeature(ctx, "c1", orig, anon); err != nil {
				t.Fatalf("Refeature again = %v", err)
			}
			if diff := cmp.Diff(tt.want, examplesOf(t, ts, ""), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("after the erasure repeated: examples (-want +got):\n%s", diff)
			}
		})
	}
}
