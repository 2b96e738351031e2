package spam

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestForestTokens(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "none", in: nil, want: []string{}},
		{name: "only n-grams", in: []string{"c:0a1b2", "c:ffff0"}, want: []string{}},
		{
			name: "every other kind kept in order",
			in:   []string{"3fa2b", "c:0a1b2", "b:1c2d3", "u:link", "u:h:0a1b", "c:ffff0", "n:12", "s:len5", "a:0f0f", "e:0a0b"},
			want: []string{"3fa2b", "b:1c2d3", "u:link", "u:h:0a1b", "n:12", "s:len5", "a:0f0f", "e:0a0b"},
		},
		{name: "a c elsewhere in the token", in: []string{"u:c:x", "cc:1"}, want: []string{"u:c:x", "cc:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := ForestTokens(in)
			if !slices.Equal(got, tt.want) || got == nil {
				t.Errorf("ForestTokens(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("ForestTokens(%q) changed its input to %q", tt.in, in)
			}
		})
	}

	// On a real comment: the n-grams are most of the tokens, and only they go.
	all := Features(Input{Body: "Check out my channel http://example.com/promo for free gift cards!!! 100% real"})
	got := ForestTokens(all)
	var want []string
	for _, tok := range all {
		if !strings.HasPrefix(tok, "c:") {
			want = append(want, tok)
		}
	}
	if !slices.Equal(got, want) || len(got) == len(all) {
		t.Errorf("ForestTokens(Features(...)) = %q, want %q (of %d tokens)", got, want, len(all))
	}
}

// forestSet builds n examples from a seed: each class has tokens of its own and both share a
// common vocabulary, drawn with Zipf frequencies so that some tokens are frequent and most rare.
func forestSet(n int, seed uint64) []ForestExample {
	rng := rand.New(rand.NewPCG(seed, 0))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(seed, 1)), 1.2, 1, 2000)
	out := make([]ForestExample, 0, n)
	for i := range n {
		x := ForestExample{Spam: i%3 == 0, Count: 1 + int64(rng.IntN(3))}
		seen := map[string]bool{}
		for range 5 + rng.IntN(20) {
			tok := fmt.Sprintf("w%d", zipf.Uint64())
			if rng.IntN(4) == 0 { // a token of the class: what makes the set learnable
				tok = fmt.Sprintf("%v%d", x.Spam, zipf.Uint64()%50)
			}
			if !seen[tok] {
				seen[tok] = true
				x.Tokens = append(x.Tokens, tok)
			}
		}
		out = append(out, x)
	}
	return out
}

func TestFitForestDeterministic(t *testing.T) {
	base := forestSet(600, 1)
	want := FitForest(base)
	if want == nil {
		t.Fatal("FitForest(600 examples) = nil")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	tests := []struct {
		name   string
		change func([]ForestExample) []ForestExample
	}{
		{"the same examples", func(xs []ForestExample) []ForestExample { return xs }},
		{"examples shuffled", func(xs []ForestExample) []ForestExample {
			rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
			return xs
		}},
		{"tokens shuffled", func(xs []ForestExample) []ForestExample {
			for _, x := range xs {
				rng.Shuffle(len(x.Tokens), func(i, j int) { x.Tokens[i], x.Tokens[j] = x.Tokens[j], x.Tokens[i] })
			}
			return xs
		}},
		{"counts split into entries", func(xs []ForestExample) []ForestExample {
			var out []ForestExample
			for _, x := range xs {
				for range x.Count {
					out = append(out, ForestExample{Tokens: x.Tokens, Spam: x.Spam, Count: 1})
				}
			}
			rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}},
		{"a token repeated", func(xs []ForestExample) []ForestExample {
			for i := range xs {
				xs[i].Tokens = append(xs[i].Tokens, xs[i].Tokens[0])
			}
			return xs
		}},
		{"examples with no weight added", func(xs []ForestExample) []ForestExample {
			return append(xs, ForestExample{Tokens: []string{"w1", "true1"}, Spam: false, Count: 0})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xs := make([]ForestExample, len(base))
			for i, x := range base {
				xs[i] = ForestExample{Tokens: slices.Clone(x.Tokens), Spam: x.Spam, Count: x.Count}
			}
			got := FitForest(tt.change(xs))
			if got == nil {
				t.Fatal("FitForest = nil")
			}
			if !reflect.DeepEqual(got, want) {
				ge, gt, gn := got.Size()
				we, wt, wn := want.Size()
				t.Errorf("FitForest(%s) fitted another forest: size %d, %d, %d, want %d, %d, %d", tt.name, ge, gt, gn, we, wt, wn)
			}
			for _, x := range base {
				if g, w := got.Score(x.Tokens), want.Score(x.Tokens); g != w {
					t.Fatalf("Score(%q) after FitForest(%s) = %v, want %v", x.Tokens, tt.name, g, w)
				}
			}
		})
	}
}

// Every leaf holds what the fit saw: routing the training examples through each tree, a leaf's
// share is the weighted spam share of those that reach it, every node is reached, and a leaf with
// both classes holds examples that no token tells apart. This checks the fit's bookkeeping (the
// counts it derives for a child from its parent's, the examples it moves at a split).
func TestFitForestLeavesMatchExamples(t *testing.T) {
	xs := slices.Concat(forestSet(800, 8), forestSet(40, 8)) // some examples twice
	f := FitForest(xs)
	if f == nil {
		t.Fatal("FitForest = nil")
	}
	type leaf struct {
		n, s  int64
		kinds map[string]bool // the examples' sorted tokens, joined
	}
	for tree, root := range f.roots {
		reached := map[int32]bool{}
		leaves := map[int32]*leaf{}
		for _, x := range xs {
			has := map[int32]bool{}
			for _, tok := range x.Tokens {
				if id, ok := f.vocab[tok]; ok {
					has[id] = true
				}
			}
			sorted := slices.Sorted(slices.Values(x.Tokens))
			n := root
			for reached[n] = true; f.nodes[n].feature >= 0; reached[n] = true {
				if has[f.nodes[n].feature] {
					n = f.nodes[n].right
				} else {
					n++
				}
			}
			l := leaves[n]
			if l == nil {
				l = &leaf{kinds: map[string]bool{}}
				leaves[n] = l
			}
			l.n += x.Count
			if x.Spam {
				l.s += x.Count
			}
			l.kinds[strings.Join(slices.Compact(sorted), " ")] = true
		}
		end := int32(len(f.nodes))
		if tree+1 < len(f.roots) {
			end = f.roots[tree+1]
		}
		for n := root; n < end; n++ {
			if !reached[n] {
				t.Errorf("tree %d: node %d (%+v) is reached by no training example", tree, n, f.nodes[n])
			}
		}
		for n, l := range leaves {
			if want := float32(float64(l.s) / float64(l.n)); f.nodes[n].share != want {
				t.Errorf("tree %d: leaf %d has share %v, want %v (%d of %d spam)", tree, n, f.nodes[n].share, want, l.s, l.n)
			}
			if l.s != 0 && l.s != l.n && len(l.kinds) > 1 {
				t.Errorf("tree %d: leaf %d holds both classes and examples a token could split: %v", tree, n, l.kinds)
			}
		}
	}
}

// examplesOf makes n examples of one class, each with a token of its own and the given ones.
func examplesOf(spam bool, n int, count int64, tokens ...string) []ForestExample {
	var out []ForestExample
	for i := range n {
		out = append(out, ForestExample{Tokens: append([]string{fmt.Sprintf("%v-%d", spam, i)}, tokens...), Spam: spam, Count: count})
	}
	return out
}

func TestFitForestNeedsBothClasses(t *testing.T) {
	tests := []struct {
		name     string
		examples []ForestExample
		fitted   bool
	}{
		{"none", nil, false},
		{"ten of each", slices.Concat(examplesOf(true, 10, 1), examplesOf(false, 10, 1)), true},
		{"nine spam", slices.Concat(examplesOf(true, 9, 1), examplesOf(false, 100, 1)), false},
		{"nine ham", slices.Concat(examplesOf(true, 100, 1), examplesOf(false, 9, 1)), false},
		{"one spam counted ten times", slices.Concat(examplesOf(true, 1, 10), examplesOf(false, 10, 1)), true},
		{"one spam counted nine times", slices.Concat(examplesOf(true, 1, 9), examplesOf(false, 10, 1)), false},
		{"spam without weight", slices.Concat(examplesOf(true, 10, 0), examplesOf(true, 10, -1), examplesOf(false, 10, 1)), false},
		{"no spam", examplesOf(false, 100, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FitForest(tt.examples)
			if (f != nil) != tt.fitted {
				t.Errorf("FitForest(%s) returned a forest: %v, want %v", tt.name, f != nil, tt.fitted)
			}
		})
	}
	if e, tok, n := (*Forest)(nil).Size(); e != 0 || tok != 0 || n != 0 {
		t.Errorf("(*Forest)(nil).Size() = %d, %d, %d, want zeros", e, tok, n)
	}
}

// forestToy is a separable set: spam says "buy" or "free" and ham "thanks" or "song", with words
// of both among them.
func forestToy() []ForestExample {
	var xs []ForestExample
	for i := range 40 {
		common := fmt.Sprintf("word%d", i%7)
		spamWord := []string{"buy", "free"}[i%2]
		hamWord := []string{"thanks", "song"}[i%2]
		xs = append(xs,
			ForestExample{Tokens: []string{spamWord, common, fmt.Sprintf("s%d", i)}, Spam: true, Count: 1},
			ForestExample{Tokens: []string{hamWord, common, fmt.Sprintf("h%d", i)}, Spam: false, Count: 1})
	}
	return xs
}

func TestForestScoresSeparableSet(t *testing.T) {
	f := FitForest(forestToy())
	if f == nil {
		t.Fatal("FitForest(toy set) = nil")
	}
	tests := []struct {
		tokens []string
		spam   bool
	}{
		{[]string{"buy", "word3"}, true},
		{[]string{"free"}, true},
		{[]string{"free", "word1", "never-seen"}, true},
		{[]string{"thanks", "word3"}, false},
		{[]string{"song"}, false},
		{[]string{"song", "word5", "never-seen"}, false},
	}
	for _, tt := range tests {
		got := f.Score(tt.tokens)
		if tt.spam && got < 0.9 || !tt.spam && got > 0.1 {
			t.Errorf("Score(%q) = %.3f, want it on the %v side (spam %v)", tt.tokens, got, map[bool]string{true: "high", false: "low"}[tt.spam], tt.spam)
		}
	}
	for _, x := range forestToy() {
		if got := f.Score(x.Tokens); got != map[bool]float64{true: 1, false: 0}[x.Spam] {
			t.Errorf("Score(%q) = %v for a training example of a pure leaf, want its class (spam %v)", x.Tokens, got, x.Spam)
		}
	}
}

func TestForestWeighsExamplesByCount(t *testing.T) {
	tests := []struct {
		name              string
		spamCount, hamCnt int64
		want              float64
	}{
		{"five spam, one ham", 5, 1, 5.0 / 6},
		{"one spam, five ham", 1, 5, 1.0 / 6},
		{"one each", 1, 1, 0.5},
		{"spam counted to the cap", math.MaxInt64, 1, float64(maxForestCount) / (maxForestCount + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The two "x" examples have the same tokens, so no tree can separate them: every tree
			// ends in a leaf holding both.
			xs := slices.Concat(forestToy(), []ForestExample{
				{Tokens: []string{"x"}, Spam: true, Count: tt.spamCount},
				{Tokens: []string{"x"}, Spam: false, Count: tt.hamCnt},
			})
			f := FitForest(xs)
			if f == nil {
				t.Fatal("FitForest = nil")
			}
			if got := f.Score([]string{"x"}); math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("Score(x) with x trained %d times as spam and %d as ham = %v, want %v", tt.spamCount, tt.hamCnt, got, tt.want)
			}
		})
	}
}

func TestForestIgnoresUnknownTokens(t *testing.T) {
	f := FitForest(forestSet(600, 2))
	unknown := []string{"never-seen", "c:00000", "u:h:nowhere"}
	for _, x := range forestSet(50, 3) {
		want := f.Score(x.Tokens)
		for _, tokens := range [][]string{
			append(slices.Clone(x.Tokens), unknown...),
			append(slices.Clone(unknown), x.Tokens...),
		} {
			if got := f.Score(tokens); got != want {
				t.Errorf("Score(%q) = %v, want %v as without the unknown tokens", tokens, got, want)
			}
		}
	}
	if got, want := f.Score(unknown), f.Score(nil); got != want {
		t.Errorf("Score(%q) = %v, want Score(nil) = %v", unknown, got, want)
	}
}

func TestForestScoreConcurrently(t *testing.T) {
	f := FitForest(forestSet(600, 4))
	comments := forestSet(200, 5)
	want := make([]float64, len(comments))
	for i, x := range comments {
		want[i] = f.Score(x.Tokens)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range comments {
				i := (i + g*25) % len(comments)
				if got := f.Score(comments[i].Tokens); got != want[i] {
					t.Errorf("Score(%q) in goroutine %d = %v, want %v", comments[i].Tokens, g, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func TestForestScoreDoesNotAllocate(t *testing.T) {
	f := FitForest(forestSet(600, 6))
	comment := forestSet(1, 7)[0].Tokens
	if n := testing.AllocsPerRun(100, func() { f.Score(comment) }); n != 0 {
		t.Errorf("Score(%q) allocates %v times per call, want 0", comment, n)
	}
}

// A forest that splits on more tokens than Score's stack buffer holds takes its token sets from a
// pool; a set must come back empty, or a comment would see the tokens of the one before it.
func TestForestScoreLargeVocabulary(t *testing.T) {
	const last = forestScoreWords*64 + 100 // an id past the stack buffer
	f := &Forest{vocab: map[string]int32{}, roots: []int32{0, 3}}
	for id := range int32(last + 1) {
		f.vocab[fmt.Sprint("t", id)] = id
	}
	f.nodes = []forestNode{
		{feature: last, right: 2}, {feature: -1, share: 0}, {feature: -1, share: 1}, // "t<last>" or not
		{feature: 5, right: 5}, {feature: -1, share: 0}, {feature: -1, share: 1}, // "t5" or not
	}
	tests := []struct {
		tokens []string
		want   float64
	}{
		{[]string{fmt.Sprint("t", last), "t5"}, 1},
		{[]string{"t6"}, 0},
		{[]string{fmt.Sprint("t", last)}, 0.5},
		{nil, 0},
		{[]string{"t5", "unknown"}, 0.5},
		{[]string{"t7"}, 0},
	}
	for range 3 {
		for _, tt := range tests {
			if got := f.Score(tt.tokens); got != tt.want {
				t.Errorf("Score(%q) on a forest of %d tokens = %v, want %v", tt.tokens, len(f.vocab), got, tt.want)
			}
		}
	}
}

// forestExamplesOf turns comments into forest examples, one per comment, as a store would keep
// them (FitForest adds up the repeated ones).
func forestExamplesOf(xs []Example) []ForestExample {
	out := make([]ForestExample, len(xs))
	for i, x := range xs {
		out[i] = ForestExample{Tokens: ForestTokens(Features(evalInput(x))), Spam: x.Spam, Count: 1}
	}
	return out
}

// rankAUC is the area under the ROC curve of scores for the labels: the chance that a spam
// comment scores above a ham one, ties counting half.
func rankAUC(scores []float64, spam []bool) float64 {
	var pairs, above float64
	for i := range scores {
		for j := range scores {
			if spam[i] && !spam[j] {
				pairs++
				switch {
				case scores[i] > scores[j]:
					above++
				case scores[i] == scores[j]:
					above += 0.5
				}
			}
		}
	}
	return above / pairs
}

// A forest fitted on four videos' comments ranks the fifth's. The floor is a little under what
// this forest measures: an AUC of 0.9821, 0.9894, 0.9907, 0.9935 and 0.9914 for Psy, KatyPerry,
// LMFAO, Eminem and Shakira held out (go test -run TestForestRanksHeldOutVideo -v ./internal/spam/),
// so a change that makes the forest rank worse fails here.
func TestForestRanksHeldOutVideo(t *testing.T) {
	const floor = 0.975
	ds, err := LoadDatasets("../../../shared/data/youtube-spam")
	if err != nil {
		t.Fatalf("the YouTube Spam Collection is needed at ../shared/data/youtube-spam beside the checkout: %v", err)
	}
	for i, held := range ds {
		var train []Example
		for j, d := range ds {
			if j != i {
				train = append(train, d.Examples...)
			}
		}
		f := FitForest(forestExamplesOf(train))
		if f == nil {
			t.Fatalf("FitForest(all but %s) = nil", held.Name)
		}
		var scores []float64
		var labels []bool
		for _, x := range forestExamplesOf(held.Examples) {
			scores = append(scores, f.Score(x.Tokens))
			labels = append(labels, x.Spam)
		}
		examples, tokens, nodes := f.Size()
		auc := rankAUC(scores, labels)
		t.Logf("forest fitted without %s (%d examples, %d tokens, %d nodes): AUC %.4f", held.Name, examples, tokens, nodes, auc)
		if auc < floor {
			t.Errorf("forest fitted without %s: AUC on its comments %.4f, want at least %.2f", held.Name, auc, floor)
		}
	}
}

// benchForestExamples builds n forest examples from the YouTube Spam Collection's comments. Past
// its 1,956 comments, each further copy of a comment drops one of its tokens and gains three from
// a Zipf-distributed vocabulary of 50,000 others, as new comments bring new words; so the examples
// are distinct and the vocabulary grows with them, though they stay closer to one another than
// 20,000 real comments would be.
func benchForestExamples(b *testing.B, n int) []ForestExample {
	b.Helper()
	ds, err := LoadDatasets("../../../shared/data/youtube-spam")
	if err != nil {
		b.Fatalf("the YouTube Spam Collection is needed at ../shared/data/youtube-spam beside the checkout: %v", err)
	}
	var base []ForestExample
	for _, d := range ds {
		base = append(base, forestExamplesOf(d.Examples)...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 50_000)
	out := make([]ForestExample, n)
	for i := range out {
		x := base[i%len(base)]
		if i >= len(base) && len(x.Tokens) > 0 {
			tokens := slices.Delete(slices.Clone(x.Tokens), i%len(x.Tokens), i%len(x.Tokens)+1)
			for range 3 {
				tokens = append(tokens, fmt.Sprintf("%05x", zipf.Uint64()))
			}
			x.Tokens = tokens
		}
		out[i] = x
	}
	return out
}

// BenchmarkFitForest measures a fit, its allocations and the forest's node count, at sizes a
// store may keep: go test -run XXX -bench FitForest -benchmem ./internal/spam/
func BenchmarkFitForest(b *testing.B) {
	for _, n := range []int{1_000, 5_000, 20_000} {
		xs := benchForestExamples(b, n)
		var tokens int
		for _, x := range xs {
			tokens += len(x.Tokens)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			var f *Forest
			for b.Loop() {
				f = FitForest(xs)
			}
			_, vocab, nodes := f.Size()
			b.ReportMetric(float64(nodes), "nodes")
			b.ReportMetric(float64(vocab), "kept-tokens")
			b.ReportMetric(float64(tokens)/float64(n), "tokens/example")
		})
	}
}

// scoreBySearch is Score with a binary search in the comment's sorted token ids instead of a bit
// set: the alternative BenchmarkForestScore compares it with.
func (f *Forest) scoreBySearch(tokens []string) float64 {
	var buf [256]int32
	ids := buf[:0]
	for _, t := range tokens {
		if id, ok := f.vocab[t]; ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var sum float64
	for _, n := range f.roots {
		for f.nodes[n].feature >= 0 {
			if _, ok := slices.BinarySearch(ids, f.nodes[n].feature); ok {
				n = f.nodes[n].right
			} else {
				n++
			}
		}
		sum += float64(f.nodes[n].share)
	}
	return sum / float64(len(f.roots))
}

// BenchmarkForestScore measures Score on the first video's comments, with a forest fitted to the
// four others' and with one fitted to 20,000 examples (see benchForestExamples), against the same
// walk with a binary search for each node's token ("search"):
// go test -run XXX -bench ForestScore -benchmem ./internal/spam/
func BenchmarkForestScore(b *testing.B) {
	all := benchForestExamples(b, 20_000)
	const held = 350 // the first video's comments
	for _, bc := range []struct {
		name  string
		train []ForestExample
	}{
		{"1606", all[held:1956]},
		{"20000", all},
	} {
		f := FitForest(bc.train)
		for i := range held {
			if got, want := f.scoreBySearch(all[i].Tokens), f.Score(all[i].Tokens); got != want {
				b.Fatalf("scoreBySearch(%q) = %v, Score = %v", all[i].Tokens, got, want)
			}
		}
		for _, way := range []struct {
			name  string
			score func([]string) float64
		}{{"bitset", f.Score}, {"search", f.scoreBySearch}} {
			b.Run(bc.name+"/"+way.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					way.score(all[i%held].Tokens)
					i++
				}
			})
		}
	}
}
