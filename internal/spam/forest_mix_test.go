package spam_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// countsOnly hides the forest of the counts it wraps.
type countsOnly struct{ spam.Counts }

// TestScoreMixesForest: with a forest of 50 examples of each class or more beside the counts, the
// stacked model's score is half its own and half the forest's; the other models, a younger forest
// and a classifier that does not vote yet leave it out.
func TestScoreMixesForest(t *testing.T) {
	ctx := context.Background()
	train := func(counts *spamtest.Counts, n int) {
		t.Helper()
		for i := range n {
			for _, x := range []struct {
				body string
				spam bool
			}{
				{fmt.Sprintf("buy cheap watches now, offer %d at example.com/shop", i), true},
				{fmt.Sprintf("thanks for the article, point %d was well made", i), false},
			} {
				s, _ := spam.NewScorer(counts, spam.Options{})
				if err := s.Train(ctx, spam.Input{Body: x.body}, x.spam); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	probe := spam.Input{Body: "cheap watches, thanks for the offer", UserAgent: "test"}
	tests := []struct {
		name    string
		model   spam.Model
		trained int
		mixed   bool
	}{
		{"stacked mixes the forest in", spam.ModelStacked, 60, true},
		{"Robinson ignores it", spam.ModelRobinson, 60, false},
		{"naive Bayes ignores it", spam.ModelNaiveBayes, 60, false},
		{"a forest of fewer than 50 of each class is left out", spam.ModelStacked, 40, false},
		{"no vote before ten of each class", spam.ModelStacked, 9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := spamtest.NewCounts()
			train(counts, tt.trained)
			with, err := spam.NewScorer(counts, spam.Options{Model: tt.model})
			if err != nil {
				t.Fatal(err)
			}
			without, _ := spam.NewScorer(countsOnly{counts}, spam.Options{Model: tt.model})
			got, err := with.Score(ctx, probe)
			if err != nil {
				t.Fatalf("Score = %v", err)
			}
			alone, _ := without.Score(ctx, probe)
			want := alone.Score
			if tt.mixed {
				f, _ := counts.Forest(ctx)
				if f == nil {
					t.Fatal("no forest after 60 examples of each class")
				}
				want = 0.5*alone.Score + 0.5*f.Score(spam.Features(probe))
				if want == alone.Score {
					t.Fatal("the forest scores the probe as the counts do: the test shows nothing")
				}
			}
			if got.Score != want {
				t.Errorf("Score = %v, want %v (the counts alone: %v)", got.Score, want, alone.Score)
			}
		})
	}
}

// TestThresholdsWithoutForest: by default the stacked model decides with DefaultCountsHoldAt and
// DefaultCountsSpamAt while it has no forest and with DefaultHoldAt and DefaultSpamAt once it has
// one; thresholds set in the options hold in both cases.
func TestThresholdsWithoutForest(t *testing.T) {
	ctx := context.Background()
	counts := spamtest.NewCounts()
	for i := range 60 {
		s, _ := spam.NewScorer(counts, spam.Options{})
		if err := s.Train(ctx, spam.Input{Body: fmt.Sprintf("buy cheap watches now, offer %d at example.com/shop", i)}, true); err != nil {
			t.Fatal(err)
		}
		if err := s.Train(ctx, spam.Input{Body: fmt.Sprintf("thanks for the article, point %d was well made", i)}, false); err != nil {
			t.Fatal(err)
		}
	}
	probe := spam.Input{Body: "buy cheap watches now at example.com/shop", UserAgent: "test"}
	set := spam.Options{HoldAt: 0.3, SpamAt: 1}
	tests := []struct {
		name           string
		counts         spam.Counts
		opts           spam.Options
		holdAt, spamAt float64
	}{
		{"defaults, no forest", countsOnly{counts}, spam.Options{}, spam.DefaultCountsHoldAt, spam.DefaultCountsSpamAt},
		{"defaults, forest", counts, spam.Options{}, spam.DefaultHoldAt, spam.DefaultSpamAt},
		{"set, no forest", countsOnly{counts}, set, 0.3, 1},
		{"set, forest", counts, set, 0.3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := spam.NewScorer(tt.counts, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Score(ctx, probe)
			if err != nil {
				t.Fatalf("Score = %v", err)
			}
			var msgs []string
			for _, reason := range r.Reasons {
				msgs = append(msgs, reason.Message)
			}
			text := strings.Join(msgs, "; ")
			spamReason := fmt.Sprintf("spam threshold %v", tt.spamAt)
			holdReason := fmt.Sprintf("between the thresholds %v and %v", tt.holdAt, tt.spamAt)
			if r.Score < tt.holdAt || !strings.Contains(text, spamReason) && !strings.Contains(text, holdReason) {
				t.Errorf("score %.3f gave reasons %q, want %q or %q", r.Score, text, spamReason, holdReason)
			}
		})
	}
}
