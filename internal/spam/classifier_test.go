package spam

import (
	"math"
	"testing"
)

func TestChi2Q(t *testing.T) {
	tests := []struct {
		x2   float64
		v    int
		want float64
	}{
		{0, 2, 1},
		{0, 10, 1},
		{3, 2, math.Exp(-1.5)},               // two degrees of freedom: Q = e^(-x/2)
		{4, 4, math.Exp(-2) * (1 + 2)},       // four: e^(-m)(1 + m), m = x/2
		{6, 6, math.Exp(-3) * (1 + 3 + 4.5)}, // six: e^(-m)(1 + m + m²/2)
	}
	for _, tt := range tests {
		if got := chi2Q(tt.x2, tt.v); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("chi2Q(%v, %d) = %v, want %v", tt.x2, tt.v, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	totals := Totals{Spam: 100, Ham: 100, SpamTokens: 1000, HamTokens: 1000, Vocabulary: 500}
	// One token of each family the stacked model weighs, so every model has evidence to use.
	tokens := []string{"cheap", "b:cheap pills", "u:h:pills.example", "s:len5", "c: chea"}
	mostlySpam := []int64{40, 30, 20, 60, 40}
	mostlyHam := []int64{1, 2, 1, 3, 1}
	for _, m := range []Model{ModelStacked, ModelRobinson, ModelNaiveBayes} {
		t.Run(m.String(), func(t *testing.T) {
			if got := classify(m, tokens, make([]int64, 5), make([]int64, 5), totals); got != 0.5 {
				t.Errorf("classify(%s, unknown tokens) = %v, want 0.5", m, got)
			}
			if got := classify(m, tokens, mostlySpam, mostlyHam, Totals{Spam: 100}); m != ModelRobinson && got != 0.5 {
				// (Robinson's rates need no ham total; the Scorer's MinTrained keeps it quiet.)
				t.Errorf("classify(%s) with no ham trained = %v, want 0.5", m, got)
			}
			spammy := classify(m, tokens, mostlySpam, mostlyHam, totals)
			hammy := classify(m, tokens, mostlyHam, mostlySpam, totals)
			if spammy <= 0.9 || hammy >= 0.1 {
				t.Errorf("classify(%s): tokens mostly in spam scored %v, mostly in ham %v; want above 0.9 and below 0.1", m, spammy, hammy)
			}
		})
	}
	// Without a bias, equal class totals leave a model no favourite: mirrored counts, mirrored
	// score. (The stacked model has a fitted bias, so this does not hold for it.)
	for _, m := range []Model{ModelRobinson, ModelNaiveBayes} {
		spammy := classify(m, tokens, mostlySpam, mostlyHam, totals)
		hammy := classify(m, tokens, mostlyHam, mostlySpam, totals)
		if math.Abs(spammy+hammy-1) > 1e-9 {
			t.Errorf("classify(%s): mirrored counts scored %v and %v, want them to sum to 1", m, spammy, hammy)
		}
	}
	// Robinson weighs by rate, not raw count: a token in 10 % of spam and 1 % of ham is spammy
	// however unequal the class totals are.
	unequal := Totals{Spam: 1000, Ham: 100}
	if got := classify(ModelRobinson, []string{"a", "b", "c"}, []int64{100, 100, 100}, []int64{1, 1, 1}, unequal); got <= 0.5 {
		t.Errorf("classify(robinson) of tokens in 10%% of 1000 spam and 1%% of 100 ham = %v, want above 0.5", got)
	}
}

// The older models were measured without character n-grams; they must not see them.
func TestOlderModelsIgnoreCharGrams(t *testing.T) {
	totals := Totals{Spam: 100, Ham: 100, SpamTokens: 1000, HamTokens: 1000, Vocabulary: 500}
	words := []string{"cheap", "pills"}
	withChars := []string{"cheap", "pills", "c: chea", "c:cheap"}
	for _, m := range []Model{ModelRobinson, ModelNaiveBayes} {
		want := classify(m, words, []int64{30, 20}, []int64{2, 3}, totals)
		if got := classify(m, withChars, []int64{30, 20, 1, 1}, []int64{2, 3, 90, 90}, totals); got != want {
			t.Errorf("classify(%s) with hammy character n-grams added = %v, want %v as without them", m, got, want)
		}
	}
}

func TestStacked(t *testing.T) {
	totals := Totals{Spam: 100, Ham: 100, SpamTokens: 1000, HamTokens: 1000, Vocabulary: 500}
	score := func(tokens []string, spam, ham []int64, tt Totals) float64 {
		return classify(ModelStacked, tokens, spam, ham, tt)
	}
	// The same counts weigh more on a link than on a word: links are the stronger evidence.
	if link, word := score([]string{"u:h:pills.example"}, []int64{20}, []int64{2}, totals), score([]string{"pills"}, []int64{20}, []int64{2}, totals); link <= word {
		t.Errorf("stacked score of a link in 20 spam and 2 ham = %v, of a word with the same counts %v; want the link's higher", link, word)
	}
	// More spam evidence, higher score.
	one := score([]string{"pills"}, []int64{20}, []int64{2}, totals)
	two := score([]string{"pills", "cheap"}, []int64{20, 20}, []int64{2, 2}, totals)
	if two <= one {
		t.Errorf("stacked score of two spammy words = %v, of one = %v; want two higher", two, one)
	}
	// The prior counts: the same token scores higher where more spam than ham was trained.
	balanced := score([]string{"pills"}, []int64{10}, []int64{10}, Totals{Spam: 100, Ham: 100, SpamTokens: 1000, HamTokens: 1000, Vocabulary: 500})
	spammySite := score([]string{"pills"}, []int64{90}, []int64{10}, Totals{Spam: 900, Ham: 100, SpamTokens: 9000, HamTokens: 1000, Vocabulary: 500})
	if spammySite <= balanced {
		t.Errorf("stacked score with 9 times more spam trained = %v, with balanced classes %v; want it higher", spammySite, balanced)
	}
	// The score is a probability, however extreme the counts.
	for _, c := range [][2]int64{{1 << 40, 0}, {0, 1 << 40}} {
		if got := score([]string{"u:link", "pills"}, []int64{c[0], c[0]}, []int64{c[1], c[1]}, Totals{Spam: 1 << 40, Ham: 1 << 40, SpamTokens: 1 << 41, HamTokens: 1 << 41, Vocabulary: 2}); !(got >= 0 && got <= 1) {
			t.Errorf("stacked score with counts %v = %v, want within [0, 1]", c, got)
		}
	}
}

func TestFamilyOf(t *testing.T) {
	tests := []struct {
		token string
		want  family
	}{
		{"subscribe", familyWords},
		{"long", familyWords},
		{"n:2015", familyWords},
		{"a:jane", familyWords},
		{"b:check out", familyPairs},
		{"u:link", familyLinks},
		{"u:h:example.com", familyLinks},
		{"e:example.org", familyLinks},
		{"s:len5", familyShape},
		{"c:check", familyChars},
		{"c", familyWords},
	}
	for _, tt := range tests {
		if got := familyOf(tt.token); got != tt.want {
			t.Errorf("familyOf(%q) = %d, want %d", tt.token, got, tt.want)
		}
	}
}

func TestLogSmoothed(t *testing.T) {
	for _, c := range []int64{0, 1, 7, 1023, 1024, 1 << 20} {
		if got, want := logSmoothed(c), math.Log(float64(c)+stackAlpha); math.Abs(got-want) > 1e-12 {
			t.Errorf("logSmoothed(%d) = %v, want %v", c, got, want)
		}
	}
}

// The shipped weights must be what the documented fit gives on the documented data, so anyone can
// check where they come from (and refit after changing the tokeniser).
func TestStackWeightsFit(t *testing.T) {
	ds, err := LoadDatasets("../../../shared/data/youtube-spam")
	if err != nil {
		t.Fatalf("the YouTube Spam Collection is needed at ../shared/data/youtube-spam beside the checkout: %v", err)
	}
	var all []Example
	for _, d := range ds {
		all = append(all, d.Examples...)
	}
	w, bias := fitStack(all)
	t.Logf("fitStack(YouTube Spam Collection) = weights %.4f, bias %.4f", w, bias)
	// The shipped values are the fit rounded to two decimals.
	const tolerance = 0.005 + 1e-9
	for f := range numFamilies {
		if math.Abs(w[f]-stackWeights[f]) > tolerance {
			t.Errorf("fitStack(YouTube Spam Collection) weight of family %d = %.4f, shipped %.2f; refit and update stackWeights", f, w[f], stackWeights[f])
		}
	}
	if math.Abs(bias-stackBias) > tolerance {
		t.Errorf("fitStack(YouTube Spam Collection) bias = %.4f, shipped %.2f; refit and update stackBias", bias, stackBias)
	}
}

func TestFitLogistic(t *testing.T) {
	// Data drawn exactly from P(y=1) = σ(2x - 1) in expectation: for each x, weight the two labels
	// by their probabilities (as repeated rows), and the maximum-likelihood fit is (2, -1).
	var rows [][]float64
	var offsets, labels []float64
	for _, x := range []float64{-2, -1, 0, 0.5, 1, 2, 3} {
		p := 1 / (1 + math.Exp(-(2*x - 1)))
		n := 1000
		pos := int(math.Round(p * float64(n)))
		for i := range n {
			r := make([]float64, numFamilies+1)
			r[0], r[numFamilies] = x, 1
			rows = append(rows, r)
			offsets = append(offsets, 0)
			label := 0.0
			if i < pos {
				label = 1
			}
			labels = append(labels, label)
		}
	}
	beta := fitLogistic(rows, offsets, labels)
	if math.Abs(beta[0]-2) > 0.01 || math.Abs(beta[numFamilies]+1) > 0.01 {
		t.Errorf("fitLogistic(rows from σ(2x - 1)) = weight %.4f, bias %.4f; want 2 and -1", beta[0], beta[numFamilies])
	}
}
