//go:build spamvariants

package spam_test

// Writes the stacked model's scores, the counts' alone (countsOnly hides the forest), under
// protocols (a) and (b) for docs/spam_baselines.py, which
// sets them beside standard classifiers and mixes them with a tree ensemble's. Behind the
// spamvariants build tag, like the variant harness: it is a measurement, not a check.
//
//	SPAM_SCORES=/tmp/scores go test -tags spamvariants -count=1 -run TestExportScores ./internal/spam/
//
// writes /tmp/scores.a.tsv (each video's test 30 %, in the order SplitByClass gives) and
// /tmp/scores.b.tsv (each video scored by a model trained on the other four, in file order), one
// line per comment: video index, row index, label, score.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

func TestExportScores(t *testing.T) {
	prefix := os.Getenv("SPAM_SCORES")
	if prefix == "" {
		t.Fatal("SPAM_SCORES must name the prefix of the two files to write")
	}
	ds := loadYouTube(t)
	ctx := context.Background()
	newScorer := func() *spam.Scorer {
		s, err := spam.NewScorer(countsOnly{spamtest.NewCounts()}, spam.Options{Model: spam.ModelStacked})
		if err != nil {
			t.Fatalf("NewScorer: %v", err)
		}
		return s
	}
	input := func(x spam.Example) spam.Input {
		return spam.Input{Body: x.Body, UserAgent: "Mozilla/5.0 (evaluation)"}
	}
	train := func(s *spam.Scorer, xs []spam.Example) {
		for _, x := range xs {
			if err := s.Train(ctx, input(x), x.Spam); err != nil {
				t.Fatalf("Train: %v", err)
			}
		}
	}
	write := func(path string, each func(emit func(video, row int, x spam.Example, s *spam.Scorer))) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		each(func(video, row int, x spam.Example, s *spam.Scorer) {
			r, err := s.Score(ctx, input(x))
			if err != nil {
				t.Fatalf("Score: %v", err)
			}
			fmt.Fprintf(w, "%d\t%d\t%t\t%.6f\n", video, row, x.Spam, r.Score)
		})
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(prefix+".a.tsv", func(emit func(int, int, spam.Example, *spam.Scorer)) {
		for i, d := range ds {
			s := newScorer()
			trainSet, testSet := spam.SplitByClass(d.Examples, 0.7)
			train(s, trainSet)
			for j, x := range testSet {
				emit(i, j, x, s)
			}
		}
	})
	write(prefix+".b.tsv", func(emit func(int, int, spam.Example, *spam.Scorer)) {
		for i, held := range ds {
			s := newScorer()
			for j, d := range ds {
				if j != i {
					train(s, d.Examples)
				}
			}
			for j, x := range held.Examples {
				emit(i, j, x, s)
			}
		}
	})
}
