package spam

import (
	"context"
	"math"
	"slices"
)

// Totals are the class-wide training counters, kept beside the per-token counts.
type Totals struct {
	Spam, Ham int64 // messages trained as each class, net of untraining
	// SpamTokens and HamTokens are the sums of all token counts of each class (each message adds
	// its number of distinct tokens). Vocabulary is the number of tokens whose spam or ham count is
	// above zero. Only the naive Bayes model reads these three.
	SpamTokens, HamTokens, Vocabulary int64
}

// Counts is the learned classifier's state: for every token, in how many trained spam messages and
// in how many trained ham messages it occurs, plus the Totals. Every update is an integer add, so
// concurrent training from many servers needs no locking (HINCRBY-style counters), and a training
// event is undone exactly by the same call with the opposite delta.
type Counts interface {
	// TokenCounts returns the spam and ham count of each token, in order (0 for unknown ones),
	// and the current totals.
	TokenCounts(ctx context.Context, tokens []string) (spam, ham []int64, totals Totals, err error)
	// Train adds delta (+1 to learn, -1 to unlearn) to the count of each token in the class, to the
	// class's message total, and len(tokens)*delta to its token total; it keeps Vocabulary in step.
	// tokens are distinct. A count never goes below zero.
	Train(ctx context.Context, tokens []string, spam bool, delta int64) error
}

// Model chooses how token counts become a score.
type Model int

// The models.
const (
	// ModelRobinson combines per-token spam probabilities with Robinson's smoothing and Fisher's
	// chi-square method (as SpamBayes does). Its score says "don't know" (near 0.5) when the
	// evidence is weak or conflicting, which is what a hold-for-a-moderator band needs.
	ModelRobinson Model = iota
	// ModelNaiveBayes is multinomial naive Bayes over distinct tokens with Laplace smoothing, in
	// log space. Its posterior is nearly always close to 0 or 1, even when wrong.
	ModelNaiveBayes
)

func (m Model) String() string {
	if m == ModelNaiveBayes {
		return "naive-bayes"
	}
	return "robinson"
}

// Robinson's parameters, the SpamBayes defaults, which measured as well as any we tried.
const (
	unknownWordStrength = 0.45 // s: weight of the prior against a token's own evidence
	unknownWordProb     = 0.5  // x: a token seen nowhere is neutral
	minProbStrength     = 0.1  // tokens whose probability is within this of 0.5 are ignored
	maxDiscriminators   = 150  // only the strongest tokens vote
)

// classify returns the spam probability of a message from its tokens' counts.
func classify(m Model, spam, ham []int64, t Totals) float64 {
	if m == ModelNaiveBayes {
		return naiveBayes(spam, ham, t)
	}
	return robinson(spam, ham, t)
}

func robinson(spam, ham []int64, t Totals) float64 {
	nspam, nham := float64(max(t.Spam, 1)), float64(max(t.Ham, 1))
	probs := make([]float64, 0, len(spam))
	for i := range spam {
		s, h := float64(max(spam[i], 0)), float64(max(ham[i], 0))
		n := s + h
		if n == 0 {
			continue
		}
		// The ratios (not the raw counts) make the classes comparable when one was trained
		// more than the other.
		sr, hr := min(s/nspam, 1), min(h/nham, 1)
		p := sr / (sr + hr)
		f := (unknownWordStrength*unknownWordProb + n*p) / (unknownWordStrength + n)
		if math.Abs(f-0.5) >= minProbStrength {
			probs = append(probs, f)
		}
	}
	if len(probs) == 0 {
		return 0.5
	}
	if len(probs) > maxDiscriminators {
		slices.SortFunc(probs, func(a, b float64) int {
			da, db := math.Abs(a-0.5), math.Abs(b-0.5)
			switch {
			case da > db:
				return -1
			case da < db:
				return 1
			}
			return 0
		})
		probs = probs[:maxDiscriminators]
	}
	var sumLnF, sumLn1F float64
	for _, f := range probs {
		sumLnF += math.Log(f)
		sumLn1F += math.Log(1 - f)
	}
	n := len(probs)
	// Under the hypothesis "these probabilities are random", -2·Σln(x) is chi-square with 2n
	// degrees of freedom. Many spammy tokens make Π(1-f) unusually small, so spamEvidence nears 1;
	// many hammy ones do the same for hamEvidence. The score is their balance: 0.5 when neither or
	// both hold.
	spamEvidence := 1 - chi2Q(-2*sumLn1F, 2*n)
	hamEvidence := 1 - chi2Q(-2*sumLnF, 2*n)
	return (spamEvidence - hamEvidence + 1) / 2
}

// chi2Q is the probability that a chi-square variable with v (even) degrees of freedom exceeds x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}

const laplaceAlpha = 0.3

func naiveBayes(spam, ham []int64, t Totals) float64 {
	if t.Spam <= 0 || t.Ham <= 0 {
		return 0.5
	}
	v := float64(max(t.Vocabulary, 1))
	spamDen := math.Log(float64(max(t.SpamTokens, 0)) + laplaceAlpha*v)
	hamDen := math.Log(float64(max(t.HamTokens, 0)) + laplaceAlpha*v)
	logOdds := math.Log(float64(t.Spam)) - math.Log(float64(t.Ham))
	for i := range spam {
		s, h := max(spam[i], 0), max(ham[i], 0)
		if s+h == 0 {
			continue // not in the vocabulary: no evidence either way
		}
		logOdds += (math.Log(float64(s)+laplaceAlpha) - spamDen - math.Log(float64(h)+laplaceAlpha) + hamDen)
	}
	return 1 / (1 + math.Exp(-logOdds))
}
