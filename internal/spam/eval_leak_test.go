package spam_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// leakCounts is one model's counts that remember which examples (by their token list) were
// trained into it, and what it was asked to score, so a test can prove no evaluation scores an
// example with a model that was trained on it or on its data set.
type leakCounts struct {
	*spamtest.Counts
	rec     *leakRecorder
	trained map[string]bool // examples trained, by token list
	sets    map[string]bool // data sets trained from
	scored  map[string]bool // data sets scored from
}

type leakRecorder struct {
	dataset map[string]string // token list → data set name
	models  []*leakCounts
	trains  int
	leaks   []string
}

func (r *leakRecorder) newCounts() spam.Counts {
	c := &leakCounts{Counts: spamtest.NewCounts(), rec: r, trained: map[string]bool{}, sets: map[string]bool{}, scored: map[string]bool{}}
	r.models = append(r.models, c)
	return c
}

func tokenKey(tokens []string) string { return strings.Join(tokens, "\x00") }

func (c *leakCounts) TokenCounts(ctx context.Context, tokens []string, s, h []int64) (spam.Totals, error) {
	k := tokenKey(tokens)
	if c.trained[k] {
		c.rec.leaks = append(c.rec.leaks, k)
	}
	c.scored[c.rec.dataset[k]] = true
	return c.Counts.TokenCounts(ctx, tokens, s, h)
}

func (c *leakCounts) Train(ctx context.Context, tokens []string, isSpam bool, delta int64) error {
	k := tokenKey(tokens)
	c.trained[k] = true
	c.sets[c.rec.dataset[k]] = true
	c.rec.trains++
	return c.Counts.Train(ctx, tokens, isSpam, delta)
}

// leakData is three data sets of 10 spam and 10 ham each, every body distinct.
func leakData() []spam.Dataset {
	var all []spam.Dataset
	for _, name := range []string{"alpha", "bravo", "charlie"} {
		ds := spam.Dataset{Name: name}
		for i := range 20 {
			body := fmt.Sprintf("lovely song %s %d", name, i)
			if i%2 == 0 {
				body = fmt.Sprintf("cheap pills at http://%s.example/%d buy now", name, i)
			}
			ds.Examples = append(ds.Examples, spam.Example{Body: body, Spam: i%2 == 0})
		}
		all = append(all, ds)
	}
	return all
}

func newLeakRecorder(all []spam.Dataset) *leakRecorder {
	r := &leakRecorder{dataset: map[string]string{}}
	for _, ds := range all {
		for _, x := range ds.Examples {
			r.dataset[tokenKey(spam.Features(spam.Input{Body: x.Body}))] = ds.Name
		}
	}
	return r
}

// No protocol scores an example with a model that was trained on it; leave-one-out never trains
// on any example of the data set it scores; and each protocol trains exactly what it says.
func TestEvaluationDoesNotLeak(t *testing.T) {
	ctx := context.Background()
	all := leakData()
	run := func(t *testing.T, wantTrains int, crossSet bool, f func(e spam.Evaluation) error) {
		t.Helper()
		r := newLeakRecorder(all)
		e := spam.Evaluation{NewCounts: r.newCounts, Options: spam.Options{MinTrained: -1}}
		if err := f(e); err != nil {
			t.Fatal(err)
		}
		if len(r.leaks) > 0 {
			t.Errorf("%d examples were scored by a model trained on them, first %q", len(r.leaks), r.leaks[0])
		}
		if r.trains != wantTrains {
			t.Errorf("trained %d examples in all, want %d", r.trains, wantTrains)
		}
		if crossSet {
			for i, m := range r.models {
				for name := range m.scored {
					if m.sets[name] {
						t.Errorf("model %d scored data set %s and was trained on it (trained on %v)", i, name, m.sets)
					}
				}
			}
		}
	}
	t.Run("split", func(t *testing.T) {
		run(t, 14, false, func(e spam.Evaluation) error { _, err := e.Split(ctx, all[0], 0.7); return err })
	})
	t.Run("learning curve", func(t *testing.T) {
		run(t, 20, false, func(e spam.Evaluation) error { _, err := e.LearningCurve(ctx, all[0], 10); return err })
	})
	t.Run("leave one out", func(t *testing.T) {
		run(t, 3*40, true, func(e spam.Evaluation) error { _, err := e.LeaveOneOut(ctx, all); return err })
	})
	t.Run("nested leave one out", func(t *testing.T) {
		// Per held-out set: leave-one-out over the other two (2 × 20) and the final model (40).
		run(t, 3*(2*20+40), true, func(e spam.Evaluation) error {
			_, _, err := e.NestedLeaveOneOut(ctx, all, 0.02, 0.005)
			return err
		})
	})
}
