package spam

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// Totals are the class-wide training counters, kept beside the per-token counts.
type Totals struct {
	Spam, Ham int64 // messages trained as each class, net of untraining
	// SpamTokens and HamTokens are the sums of all token counts of each class (each message adds
	// its number of distinct tokens). Vocabulary is the number of tokens whose spam or ham count is
	// above zero. The stacked and naive Bayes models read these three; Robinson's does not.
	SpamTokens, HamTokens, Vocabulary int64
}

// Counts is the learned classifier's state: for every token, in how many trained spam messages and
// in how many trained ham messages it occurs, plus the Totals. Every update is an integer add, so
// concurrent training from many servers needs no locking (HINCRBY-style counters), and a training
// event is undone exactly by the same call with the opposite delta.
type Counts interface {
	// TokenCounts writes the spam and ham count of each token into spam[i] and ham[i] (0 for
	// unknown ones; both slices are len(tokens) long) and returns the current totals. The caller
	// owns the slices, so the scoring path can reuse them from comment to comment.
	TokenCounts(ctx context.Context, tokens []string, spam, ham []int64) (Totals, error)
	// Train adds delta (+1 to learn, -1 to unlearn) to the count of each token in the class, to the
	// class's message total, and len(tokens)*delta to its token total; it keeps Vocabulary in step.
	// tokens are distinct. A count never goes below zero.
	Train(ctx context.Context, tokens []string, spam bool, delta int64) error
}

// ForestSource is what a Counts may also offer: the forest fitted from the examples its model was
// trained with (FitForest), nil while there is none. A stacked model's score is then mixed with the
// forest's (forestMix): the counts learn each decision at once, the forest sees the comments whole
// and makes other mistakes (docs/SPAM_QUALITY.md, "A forest beside the counts").
type ForestSource interface {
	Forest(ctx context.Context) (*Forest, error)
}

// forestMix is the stacked score's share of the score when a forest is there; the forest's
// probability has the rest. Chosen on the leave-one-video-out runs of docs/SPAM_QUALITY.md: from
// 0.5 to 0.7 every share measured lowered the moderator load about alike, 0.5 the most with
// thresholds chosen without the video scored.
const forestMix = 0.5

// forestMinClass is how many examples of each class a forest must have been fitted from before a
// score mixes it in. A forest of a few tens of comments is mixed half and half with counts that
// may have learnt far more (a model trained before the forest shipped has all its counts and no
// examples): on the YouTube learning curves a forest mixed in from 10 examples of each class marked
// 9 genuine comments spam in the first tenths of two videos, one mixed in from 50 marked 1, as the
// counts alone did (docs/SPAM_QUALITY.md).
const forestMinClass = 50

// Model chooses how token counts become a score.
type Model int

// The models. The zero value is the default.
const (
	// ModelStacked (the default) weighs naive Bayes evidence by the kind of feature: it sums the
	// tokens' log-likelihood ratios separately for words, word pairs, links, the length bucket
	// and character 5-grams, scales each sum by one over the square root of its token count, and
	// combines the five with fixed weights fitted by logistic regression (see stackWeights). Its
	// score is a calibrated probability. On the YouTube Spam Collection it separates spam from ham
	// as well as a batch logistic regression over the same features, while its state stays
	// per-token counts that single training events update (see docs/SPAM_QUALITY.md).
	ModelStacked Model = iota
	// ModelRobinson combines per-token spam probabilities with Robinson's smoothing and Fisher's
	// chi-square method (as SpamBayes does). Its score says "don't know" (near 0.5) when the
	// evidence is weak or conflicting. It ignores the character n-grams.
	ModelRobinson
	// ModelNaiveBayes is multinomial naive Bayes over distinct tokens with Laplace smoothing, in
	// log space. Its posterior is nearly always close to 0 or 1, even when wrong. It ignores the
	// character n-grams.
	ModelNaiveBayes
)

func (m Model) String() string {
	switch m {
	case ModelStacked:
		return "stacked"
	case ModelRobinson:
		return "robinson"
	case ModelNaiveBayes:
		return "naive-bayes"
	}
	return fmt.Sprintf("model(%d)", int(m))
}

// Robinson's parameters, the SpamBayes defaults, which measured as well as any we tried.
const (
	unknownWordStrength = 0.45 // s: weight of the prior against a token's own evidence
	unknownWordProb     = 0.5  // x: a token seen nowhere is neutral
	minProbStrength     = 0.1  // tokens whose probability is within this of 0.5 are ignored
	maxDiscriminators   = 150  // only the strongest tokens vote
)

// classify returns the spam probability of a message from its tokens' counts (spam[i] and ham[i]
// are the counts of tokens[i]).
func classify(m Model, tokens []string, spam, ham []int64, t Totals) float64 {
	switch m {
	case ModelNaiveBayes:
		return naiveBayes(tokens, spam, ham, t)
	case ModelRobinson:
		return robinson(tokens, spam, ham, t)
	}
	return stacked(tokens, spam, ham, t)
}

// family is the kind of a token, for ModelStacked.
type family int

const (
	familyWords family = iota // body words, numbers, words of the author's name
	familyPairs               // adjacent body words
	familyLinks               // links and email domains
	familyShape               // the length bucket
	familyChars               // character n-grams
	numFamilies
)

// familyOf tells a token's family from its prefix (see tokenize.go).
func familyOf(tok string) family {
	if len(tok) < 2 || tok[1] != ':' {
		return familyWords
	}
	switch tok[:2] {
	case prefixBigram:
		return familyPairs
	case prefixURL, prefixEmail:
		return familyLinks
	case prefixShape:
		return familyShape
	case prefixChars:
		return familyChars
	}
	return familyWords // numbers and name words
}

// Parameters of ModelStacked. The weights and bias were fitted by logistic regression on the five
// videos of the YouTube Spam Collection: every comment's family evidence was computed from the
// counts of all the other comments (its own contribution taken out, so the fit sees evidence as it
// is for an unseen comment), with the log prior odds as a fixed offset. TestStackWeightsFit repeats
// the fit (fitStack) and checks these values; refit after any change to the tokeniser. Refitting
// without each video in turn moved single weights by up to 0.8 but left the quality where it is
// (docs/SPAM_QUALITY.md). The weights are not comparable with one another: each family's evidence
// is scaled by its own token count.
var stackWeights = [numFamilies]float64{
	familyWords: 0.30,
	familyPairs: 0.36,
	familyLinks: 3.11,
	familyShape: 1.47,
	familyChars: 0.68,
}

const (
	stackBias = -0.63
	// stackAlpha is the additive smoothing of every token count.
	stackAlpha = 1.0
)

// stacked is ModelStacked: see its comment. A comment none of whose tokens was ever seen scores
// 0.5 ("cannot tell"), not the prior: nothing about it was learnt, and a moderator should see it.
func stacked(tokens []string, spam, ham []int64, t Totals) float64 {
	if t.Spam <= 0 || t.Ham <= 0 {
		return 0.5
	}
	x, prior, known := stackEvidence(tokens, spam, ham, t)
	if known == 0 {
		return 0.5
	}
	z := stackBias + prior
	for f := range numFamilies {
		z += stackWeights[f] * x[f]
	}
	return 1 / (1 + math.Exp(-z))
}

// stackEvidence returns ModelStacked's inputs: for each family Σ log-likelihood ratio / √(n+1)
// over its n known tokens, the log prior odds, and how many tokens are known. The square root
// keeps a long comment (many weak, correlated n-grams) from drowning a short one's few strong
// tokens; the +1 damps a family with a single known token. t.Spam and t.Ham must be positive.
func stackEvidence(tokens []string, spam, ham []int64, t Totals) (x [numFamilies]float64, prior float64, known int) {
	v := float64(max(t.Vocabulary, 1))
	// Multinomial: P(token | class) = (count + α) / (class token total + α·vocabulary).
	den := math.Log(float64(max(t.HamTokens, 0))+stackAlpha*v) - math.Log(float64(max(t.SpamTokens, 0))+stackAlpha*v)
	var n [numFamilies]int
	for i, tok := range tokens {
		s, h := max(spam[i], 0), max(ham[i], 0)
		if s+h == 0 {
			continue // never seen: no evidence either way
		}
		f := familyOf(tok)
		x[f] += logSmoothed(s) - logSmoothed(h) + den
		n[f]++
	}
	for f := range numFamilies {
		x[f] /= math.Sqrt(float64(n[f] + 1))
		known += n[f]
	}
	return x, math.Log(float64(t.Spam)) - math.Log(float64(t.Ham)), known
}

// logSmoothed returns log(c + stackAlpha), from a table for the small counts most tokens have.
func logSmoothed(c int64) float64 {
	if c < int64(len(logSmoothedTable)) {
		return logSmoothedTable[c]
	}
	return math.Log(float64(c) + stackAlpha)
}

var logSmoothedTable = func() (t [1024]float64) {
	for i := range t {
		t[i] = math.Log(float64(i) + stackAlpha)
	}
	return t
}()

func robinson(tokens []string, spam, ham []int64, t Totals) float64 {
	nspam, nham := float64(max(t.Spam, 1)), float64(max(t.Ham, 1))
	probs := make([]float64, 0, len(spam))
	for i := range spam {
		if familyOf(tokens[i]) == familyChars {
			continue
		}
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

// naiveBayes is ModelNaiveBayes. It skips the character n-grams, but the token totals it divides
// by count them (Totals has no breakdown by kind); that shifts every token's log ratio by the same
// amount, and its thresholds were chosen again after the n-grams came in.
func naiveBayes(tokens []string, spam, ham []int64, t Totals) float64 {
	if t.Spam <= 0 || t.Ham <= 0 {
		return 0.5
	}
	v := float64(max(t.Vocabulary, 1))
	spamDen := math.Log(float64(max(t.SpamTokens, 0)) + laplaceAlpha*v)
	hamDen := math.Log(float64(max(t.HamTokens, 0)) + laplaceAlpha*v)
	logOdds := math.Log(float64(t.Spam)) - math.Log(float64(t.Ham))
	for i := range spam {
		s, h := max(spam[i], 0), max(ham[i], 0)
		if s+h == 0 || familyOf(tokens[i]) == familyChars {
			continue // not in the vocabulary: no evidence either way
		}
		logOdds += (math.Log(float64(s)+laplaceAlpha) - spamDen - math.Log(float64(h)+laplaceAlpha) + hamDen)
	}
	return 1 / (1 + math.Exp(-logOdds))
}
