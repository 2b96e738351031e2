//go:build spamvariants

package spam_test

// A measurement, not a check: how an extremely randomised tree ensemble ("extra trees") fitted on
// the model's own tokens would change the spam check if its probability were mixed with the
// stacked model's score. docs/SPAM_QUALITY.md ("A forest beside the counts") quotes it:
//
//	go test -tags spamvariants -count=1 -v -timeout 30m -run 'TestForestMix' ./internal/spam/
//
// FOREST_SEEDS (default "1 2 3 4") chooses the seeds, FOREST_TREES (default 100) the number of
// trees, and FOREST_DROP token prefixes the forest does not see (say "c:" for the character
// n-grams, most of a comment's tokens; the stacked model keeps them all). For each seed it prints, for the stacked model alone and for each mix: protocol (a)'s
// MCC per video at 0.5, and protocol (b)'s pooled AUC, the least load its pooled scores allow
// (thresholds chosen on them, as ChooseThresholds does) and the nested figures (thresholds chosen
// without the held-out video, as NestedLeaveOneOut does). Only the scores decide here: the link
// rule, which holds a few more comments through the Scorer, is left out for every row alike.
//
// The forest here is written for the measurement: binary token presence, a split on the best of
// √(features) candidates drawn from the features present in some but not all of the node's
// comments (the one threshold a binary feature has), grown until its leaves are pure.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

type forestNode struct {
	feature     int32 // -1 for a leaf
	left, right int32 // without and with the feature
	spamShare   float64
}

type forest [][]forestNode

// forestData is a training set: each comment's feature ids (sorted, distinct) and label.
type forestData struct {
	docs     [][]int32
	labels   []bool
	features int
}

func fitForest(d forestData, trees int, seed uint64) forest {
	rng := rand.New(rand.NewPCG(seed, 0))
	candidates := max(1, int(math.Sqrt(float64(d.features))))
	present := make([]int32, d.features) // per feature, in how many of the node's comments
	presentSpam := make([]int32, d.features)
	gini := func(n, s float64) float64 {
		if n == 0 {
			return 0
		}
		p := s / n
		return n * 2 * p * (1 - p)
	}
	f := make(forest, 0, trees)
	for range trees {
		var nodes []forestNode
		var grow func(ix []int32) int32
		grow = func(ix []int32) int32 {
			spamN := 0
			for _, i := range ix {
				if d.labels[i] {
					spamN++
				}
			}
			me := int32(len(nodes))
			nodes = append(nodes, forestNode{feature: -1, spamShare: float64(spamN) / float64(len(ix))})
			if spamN == 0 || spamN == len(ix) {
				return me
			}
			var touched []int32
			for _, i := range ix {
				for _, ft := range d.docs[i] {
					if present[ft] == 0 {
						touched = append(touched, ft)
					}
					present[ft]++
					if d.labels[i] {
						presentSpam[ft]++
					}
				}
			}
			var splits []int32
			for _, ft := range touched {
				if int(present[ft]) < len(ix) {
					splits = append(splits, ft)
				}
			}
			n, best, bestImpurity := float64(len(ix)), int32(-1), math.Inf(1)
			for j := 0; j < candidates && j < len(splits); j++ {
				r := j + rng.IntN(len(splits)-j)
				splits[j], splits[r] = splits[r], splits[j]
				ft := splits[j]
				with, withSpam := float64(present[ft]), float64(presentSpam[ft])
				impurity := gini(with, withSpam) + gini(n-with, float64(spamN)-withSpam)
				if impurity < bestImpurity {
					best, bestImpurity = ft, impurity
				}
			}
			for _, ft := range touched {
				present[ft], presentSpam[ft] = 0, 0
			}
			if best < 0 {
				return me // identical comments with both labels
			}
			var without, with []int32
			for _, i := range ix {
				if _, ok := slices.BinarySearch(d.docs[i], best); ok {
					with = append(with, i)
				} else {
					without = append(without, i)
				}
			}
			left := grow(without)
			right := grow(with)
			nodes[me].feature, nodes[me].left, nodes[me].right = best, left, right
			return me
		}
		all := make([]int32, len(d.docs))
		for i := range all {
			all[i] = int32(i)
		}
		grow(all)
		f = append(f, nodes)
	}
	return f
}

func (f forest) score(doc []int32) float64 {
	var sum float64
	for _, nodes := range f {
		n := int32(0)
		for nodes[n].feature >= 0 {
			if _, ok := slices.BinarySearch(doc, nodes[n].feature); ok {
				n = nodes[n].right
			} else {
				n = nodes[n].left
			}
		}
		sum += nodes[n].spamShare
	}
	return sum / float64(len(f))
}

// vocabulary numbers the training comments' tokens; a token first seen when scoring is left out.
type vocabulary map[string]int32

func (v vocabulary) ids(tokens []string, grow bool) []int32 {
	var out []int32
	for _, t := range tokens {
		id, ok := v[t]
		if !ok {
			if !grow {
				continue
			}
			id = int32(len(v))
			v[t] = id
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func forestInput(x spam.Example) spam.Input {
	return spam.Input{Body: x.Body, UserAgent: "Mozilla/5.0 (evaluation)"}
}

// forestTokens are the tokens of x the forest sees: all but those FOREST_DROP names.
func forestTokens(x spam.Example) []string {
	toks := spam.Features(forestInput(x))
	drop := strings.Fields(os.Getenv("FOREST_DROP"))
	if len(drop) == 0 {
		return toks
	}
	return slices.DeleteFunc(toks, func(t string) bool {
		return slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(t, p) })
	})
}

// forestScores fits a forest on train and returns its probability for each of test.
func forestScores(train, test []spam.Example, trees int, seed uint64) []float64 {
	v := vocabulary{}
	var d forestData
	for _, x := range train {
		d.docs = append(d.docs, v.ids(forestTokens(x), true))
		d.labels = append(d.labels, x.Spam)
	}
	d.features = len(v)
	f := fitForest(d, trees, seed)
	out := make([]float64, len(test))
	for i, x := range test {
		out[i] = f.score(v.ids(forestTokens(x), false))
	}
	return out
}

// stackedScores trains the stacked model on train and returns its score for each of test: the
// counts' score alone (countsOnly hides the forest the in-memory counts would mix in).
func stackedScores(t *testing.T, train, test []spam.Example) []float64 {
	t.Helper()
	ctx := context.Background()
	s, err := spam.NewScorer(countsOnly{spamtest.NewCounts()}, spam.Options{Model: spam.ModelStacked})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range train {
		if err := s.Train(ctx, forestInput(x), x.Spam); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]float64, len(test))
	for i, x := range test {
		r, err := s.Score(ctx, forestInput(x))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r.Score
	}
	return out
}

// rotation is one held-out data set's scores from models trained on the others.
type rotation struct {
	stacked, forest []float64
	labels          []bool
}

func leaveOneOutRotations(t *testing.T, ds []spam.Dataset, trees int, seed uint64) []rotation {
	out := make([]rotation, len(ds))
	for i, held := range ds {
		var train []spam.Example
		for j, d := range ds {
			if j != i {
				train = append(train, d.Examples...)
			}
		}
		out[i].stacked = stackedScores(t, train, held.Examples)
		out[i].forest = forestScores(train, held.Examples, trees, seed)
		for _, x := range held.Examples {
			out[i].labels = append(out[i].labels, x.Spam)
		}
	}
	return out
}

func (r rotation) mixed(w float64) []spam.Scored {
	out := make([]spam.Scored, len(r.labels))
	for i := range out {
		out[i] = spam.Scored{Score: w*r.stacked[i] + (1-w)*r.forest[i], Spam: r.labels[i]}
	}
	return out
}

func pooled(rs []rotation, w float64) []spam.Scored {
	var out []spam.Scored
	for _, r := range rs {
		out = append(out, r.mixed(w)...)
	}
	return out
}

func areaUnderROC(xs []spam.Scored) float64 {
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b spam.Scored) int { return cmpFloat(a.Score, b.Score) })
	var pos, neg, rankSum float64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j].Score == s[i].Score {
			j++
		}
		rank := float64(i+j+1) / 2 // ties share their mean rank
		for k := i; k < j; k++ {
			if s[k].Spam {
				rankSum += rank
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func mcc(xs []spam.Scored) float64 {
	var tp, fp, tn, fn float64
	for _, x := range xs {
		switch p := x.Score > 0.5; {
		case p && x.Spam:
			tp++
		case p:
			fp++
		case x.Spam:
			fn++
		default:
			tn++
		}
	}
	return (tp*tn - fp*fn) / math.Sqrt((tp+fp)*(tp+fn)*(tn+fp)*(tn+fn))
}

// decide counts spam published, ham lost and comments held under the thresholds.
func decide(xs []spam.Scored, holdAt, spamAt float64, o *spam.Outcomes) {
	for _, x := range xs {
		d := 1
		switch {
		case x.Score < holdAt:
			d = 0
		case x.Score >= spamAt:
			d = 2
		}
		if x.Spam {
			o.Spam[d]++
		} else {
			o.Ham[d]++
		}
	}
}

func TestForestMix(t *testing.T) {
	ds := loadYouTube(t)
	trees := 100
	if v := os.Getenv("FOREST_TREES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FOREST_TREES=%q: want a positive number", v)
		}
		trees = n
	}
	seeds := []uint64{1, 2, 3, 4}
	if v := os.Getenv("FOREST_SEEDS"); v != "" {
		seeds = nil
		for _, f := range strings.Fields(v) {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatalf("FOREST_SEEDS=%q: %v", v, err)
			}
			seeds = append(seeds, n)
		}
	}
	weights := []float64{1, 0.7, 0.6, 0.5, 0.3, 0} // of the stacked model; 1 is the model alone

	for _, seed := range seeds {
		// Protocol (a): per video, the first 70 % of each class trains.
		splits := make([]rotation, len(ds))
		for i, d := range ds {
			train, test := spam.SplitByClass(d.Examples, 0.7)
			splits[i] = rotation{stackedScores(t, train, test), forestScores(train, test, trees, seed), nil}
			for _, x := range test {
				splits[i].labels = append(splits[i].labels, x.Spam)
			}
		}
		// Protocol (b), and the nested thresholds: for each held-out video, the leave-one-out
		// rotations of the other four.
		rotations := leaveOneOutRotations(t, ds, trees, seed)
		inner := make([][]rotation, len(ds))
		for i := range ds {
			inner[i] = leaveOneOutRotations(t, slices.Delete(slices.Clone(ds), i, i+1), trees, seed)
		}
		for _, w := range weights {
			var a []string
			for _, s := range splits {
				a = append(a, fmt.Sprintf("%.3f", mcc(s.mixed(w))))
			}
			all := pooled(rotations, w)
			_, _, load := spam.ChooseThresholds(all, 0.02, 0.005)
			var nested spam.Outcomes
			for i, r := range rotations {
				holdAt, spamAt, _ := spam.ChooseThresholds(pooled(inner[i], w), 0.02, 0.005)
				decide(r.mixed(w), holdAt, spamAt, &nested)
			}
			t.Logf("seed %d, %.1f × stacked + %.1f × forest: (a) %s; (b) AUC %.4f, least load %.1f %%, nested %.1f %% / %.1f %% / %.1f %%",
				seed, w, 1-w, strings.Join(a, " "), areaUnderROC(all), 100*load,
				100*nested.SpamPublished(), 100*nested.HamLost(), 100*nested.ModeratorLoad())
		}
	}
}
