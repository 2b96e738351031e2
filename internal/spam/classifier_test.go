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
	for _, m := range []Model{ModelRobinson, ModelNaiveBayes} {
		t.Run(m.String(), func(t *testing.T) {
			if got := classify(m, []int64{0, 0}, []int64{0, 0}, totals); got != 0.5 {
				t.Errorf("classify(%s, unknown tokens) = %v, want 0.5", m, got)
			}
			spammy := classify(m, []int64{40, 30}, []int64{1, 2}, totals)
			hammy := classify(m, []int64{1, 2}, []int64{40, 30}, totals)
			if spammy <= 0.9 || hammy >= 0.1 {
				t.Errorf("classify(%s): tokens mostly in spam scored %v, mostly in ham %v; want above 0.9 and below 0.1", m, spammy, hammy)
			}
			// With equal class totals the model has no favourite: mirrored counts, mirrored score.
			if math.Abs(spammy+hammy-1) > 1e-9 {
				t.Errorf("classify(%s): mirrored counts scored %v and %v, want them to sum to 1", m, spammy, hammy)
			}
		})
	}
	// Robinson weighs by rate, not raw count: a token in 10 % of spam and 1 % of ham is spammy
	// however unequal the class totals are.
	unequal := Totals{Spam: 1000, Ham: 100}
	if got := classify(ModelRobinson, []int64{100, 100, 100}, []int64{1, 1, 1}, unequal); got <= 0.5 {
		t.Errorf("classify(robinson) of tokens in 10%% of 1000 spam and 1%% of 100 ham = %v, want above 0.5", got)
	}
}
