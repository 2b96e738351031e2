//go:build spamvariants

package spam

import (
	"fmt"
	"html"
	"math"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// famOfX extends familyOf with the harness's extra prefixes.
func famOfX(tok string) int {
	if len(tok) >= 2 && tok[1] == ':' {
		switch tok[:2] {
		case "k:", "q:", "o:", "x:", "y:", "z:":
			return int(numFamilies)
		}
	}
	return int(familyOf(tok))
}

func llrDen(t Totals) float64 {
	v := float64(max(t.Vocabulary, 1))
	return math.Log(float64(max(t.HamTokens, 0))+stackAlpha*v) - math.Log(float64(max(t.SpamTokens, 0))+stackAlpha*v)
}

// famSums returns per family Σ llr, Σ|llr|, n and the robinson-ish lists.
func famEv(toks []string, s, h []int64, t Totals, nf int, fam func(string) int) (sum, abs []float64, n []int, known int) {
	den := llrDen(t)
	sum, abs, n = make([]float64, nf), make([]float64, nf), make([]int, nf)
	for i, tok := range toks {
		a, b := max(s[i], 0), max(h[i], 0)
		if a+b == 0 {
			continue
		}
		f := fam(tok)
		if f < 0 {
			continue
		}
		l := logSmoothed(a) - logSmoothed(b) + den
		sum[f] += l
		abs[f] += math.Abs(l)
		n[f]++
		known++
	}
	return
}

func prior(t Totals) float64 { return math.Log(float64(t.Spam)) - math.Log(float64(t.Ham)) }

func sqrtNorm(toks []string, s, h []int64, t Totals, nf int, fam func(string) int) ([]float64, float64, int) {
	sum, _, n, known := famEv(toks, s, h, t, nf, fam)
	for f := range sum {
		sum[f] /= math.Sqrt(float64(n[f] + 1))
	}
	return sum, prior(t), known
}

func baseFam(tok string) int { return int(familyOf(tok)) }

func words(body string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range strings.ToLower(body) {
		r = fold(r)
		if r == ignoredRune || r == '\'' || r == '’' {
			continue
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x80 && isLetterOrDigit(r) {
			b.WriteRune(r)
		} else {
			flush()
		}
	}
	flush()
	return out
}

func isLetterOrDigit(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields("a an the to of and or in on at for is are was be it its this that i im me my you your u ur we our he she they them his her so if as with by from just do dont not no but all what can will have has had get got am out up") {
		stopWords[w] = true
	}
}

func harnessVariants() []variant {
	base := func(name string) variant {
		return variant{name: name, k: int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			return sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
		}}
	}
	six := func(name string, extra func(string) []string) variant {
		return variant{name: name, k: int(numFamilies) + 1, extra: extra, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			return sqrtNorm(toks, s, h, t, int(numFamilies)+1, famOfX)
		}}
	}
	pos := func(first, last []int, single bool) func(string) []string {
		return func(body string) []string {
			w := words(body)
			var out []string
			if len(w) == 0 {
				return nil
			}
			for _, k := range first {
				out = append(out, fmt.Sprintf("y:^%d %s", k, strings.Join(w[:min(k, len(w))], " ")))
			}
			for _, k := range last {
				out = append(out, fmt.Sprintf("y:$%d %s", k, strings.Join(w[max(0, len(w)-k):], " ")))
			}
			if single {
				out = append(out, "y:^1"+w[0])
			}
			return out
		}
	}
	seven := func(name string, extra func(string) []string, fam func(string) int) variant {
		return variant{name: name, k: int(numFamilies) + 2, extra: extra, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			return sqrtNorm(toks, s, h, t, int(numFamilies)+2, fam)
		}}
	}
	join := func(fs ...func(string) []string) func(string) []string {
		return func(body string) []string {
			var out []string
			for _, f := range fs {
				out = append(out, f(body)...)
			}
			return out
		}
	}
	normW := func(body string) []string {
		var out []string
		for _, x := range words(body) {
			out = append(out, "o:"+normWord(x))
		}
		return out
	}
	inWords := func(name string, extra func(string) []string) variant {
		return variant{name: name, k: int(numFamilies), extra: extra, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			return sqrtNorm(toks, s, h, t, int(numFamilies), func(tok string) int {
				if f := famOfX(tok); f < int(numFamilies) {
					return f
				}
				return int(familyWords)
			})
		}}
	}
	mm := func(fams ...family) func(toks []string, s, h []int64, t Totals) (float64, float64) {
		return func(toks []string, s, h []int64, t Totals) (float64, float64) {
			den := llrDen(t)
			hi, lo := 0.0, 0.0
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 {
					continue
				}
				if !slices.Contains(fams, familyOf(tok)) {
					continue
				}
				l := logSmoothed(a) - logSmoothed(b) + den
				hi, lo = max(hi, l), min(lo, l)
			}
			return hi, lo
		}
	}
	inWordsFam := func(tok string) int {
		if f := famOfX(tok); f < int(numFamilies) {
			return f
		}
		return int(familyWords)
	}
	topk := func(k int, fams ...family) func(toks []string, s, h []int64, t Totals) (float64, float64) {
		return func(toks []string, s, h []int64, t Totals) (float64, float64) {
			den := llrDen(t)
			var pos, neg []float64
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 || !slices.Contains(fams, familyOf(tok)) {
					continue
				}
				l := logSmoothed(a) - logSmoothed(b) + den
				if l > 0 {
					pos = append(pos, l)
				} else {
					neg = append(neg, l)
				}
			}
			slices.Sort(pos)
			slices.Sort(neg)
			var hi, lo float64
			for i := 0; i < k && i < len(pos); i++ {
				hi += pos[len(pos)-1-i] / float64(k)
			}
			for i := 0; i < k && i < len(neg); i++ {
				lo += neg[i] / float64(k)
			}
			return hi, lo
		}
	}
	if os.Getenv("HB") == "9" {
		return choiceVariants()
	}
	if os.Getenv("HB") == "8" {
		return secondRoundVariants()
	}
	if os.Getenv("HB") == "7" {
		qnames := func(body string) []string {
			body = html.UnescapeString(body)
			var out []string
			for _, m := range urlRE.FindAllString(body, -1) {
				u, err := url.Parse(m)
				if err != nil {
					continue
				}
				for k := range u.Query() {
					out = append(out, "u:q:"+strings.ToLower(k))
				}
			}
			return out
		}
		return []variant{
			{name: "link query names in links family", k: int(numFamilies), extra: qnames, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				return sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
			}},
		}
	}
	if os.Getenv("HB") == "6" {
		mk := func(name string, f func(toks []string, s, h []int64, t Totals) (float64, float64)) variant {
			return variant{name: name, k: int(numFamilies) + 2, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
				hi, lo := f(toks, s, h, t)
				return append(x, hi, lo), p, known
			}}
		}
		return []variant{
			mk("top-3 mean words,pairs,chars (+2)", topk(3, familyWords, familyPairs, familyChars)),
			mk("top-3 mean words,pairs (+2)", topk(3, familyWords, familyPairs)),
			mk("max/min all families (+2)", mm(familyWords, familyPairs, familyChars, familyLinks)),
		}
	}
	if os.Getenv("HB") == "5" {
		wp := mm(familyWords, familyPairs)
		return []variant{
			{name: "pos f123 in words + max/min", k: int(numFamilies) + 2, extra: pos([]int{1, 2, 3}, nil, false), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), inWordsFam)
				hi, lo := wp(toks, s, h, t)
				return append(x, hi, lo), p, known
			}},
			{name: "max/min all but links,shape (+2)", k: int(numFamilies) + 2, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
				hi, lo := mm(familyWords, familyPairs, familyChars)(toks, s, h, t)
				return append(x, hi, lo), p, known
			}},
			{name: "max word llr only (+1)", k: int(numFamilies) + 1, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
				hi, _ := wp(toks, s, h, t)
				return append(x, hi), p, known
			}},
			{name: "bernoulli llr", k: int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x := make([]float64, numFamilies)
				var n [numFamilies]int
				known := 0
				ls, lh := math.Log(float64(t.Spam)+2), math.Log(float64(t.Ham)+2)
				for i, tok := range toks {
					a, b := max(s[i], 0), max(h[i], 0)
					if a+b == 0 {
						continue
					}
					f := familyOf(tok)
					x[f] += logSmoothed(a) - ls - logSmoothed(b) + lh
					n[f]++
					known++
				}
				for f := range x {
					x[f] /= math.Sqrt(float64(n[f] + 1))
				}
				return x, prior(t), known
			}},
		}
	}
	if os.Getenv("HB") == "4" {
		maxmin := func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
			den := llrDen(t)
			hi, lo := 0.0, 0.0
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 {
					continue
				}
				f := familyOf(tok)
				if f != familyWords && f != familyPairs {
					continue
				}
				l := logSmoothed(a) - logSmoothed(b) + den
				hi, lo = max(hi, l), min(lo, l)
			}
			return append(x, hi, lo), p, known
		}
		return []variant{
			{name: "max/min word llr (+2)", k: int(numFamilies) + 2, ev: maxmin},
			{name: "pos f123 l123 6th + max/min", k: int(numFamilies) + 3, extra: pos([]int{1, 2, 3}, []int{1, 2, 3}, false), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies)+1, famOfX)
				y, _, _ := maxmin(toks, s, h, t)
				return append(x, y[numFamilies:]...), p, known
			}},
			{name: "pos f123 l123 6th + tanh", k: 2*int(numFamilies) + 1, extra: pos([]int{1, 2, 3}, []int{1, 2, 3}, false), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies)+1, famOfX)
				for f := range int(numFamilies) {
					x = append(x, math.Tanh(x[f]/2))
				}
				return x, p, known
			}},
		}
	}
	if os.Getenv("HB") == "3" {
		return []variant{
			inWords("pos f123 l123 in words family", pos([]int{1, 2, 3}, []int{1, 2, 3}, false)),
			inWords("pos f1 in words family", pos([]int{1}, nil, false)),
			inWords("pos f123 in words family", pos([]int{1, 2, 3}, nil, false)),
			seven("pos f123 l123 + normwords", join(pos([]int{1, 2, 3}, []int{1, 2, 3}, false), normW), func(tok string) int {
				if strings.HasPrefix(tok, "o:") {
					return int(numFamilies) + 1
				}
				return famOfX(tok)
			}),
			inWords("normwords in words family", normW),
		}
	}
	if os.Getenv("HB") == "2" {
		return []variant{
			six("pos first3 last3 first1", pos([]int{3}, []int{3}, true)),
			six("pos first1", pos([]int{1}, nil, false)),
			six("pos first2", pos([]int{2}, nil, false)),
			six("pos first3", pos([]int{3}, nil, false)),
			six("pos first4", pos([]int{4}, nil, false)),
			six("pos first1,2,3", pos([]int{1, 2, 3}, nil, false)),
			six("pos last3", pos(nil, []int{3}, false)),
			six("pos last1,2,3", pos(nil, []int{1, 2, 3}, false)),
			six("pos first1,2,3 last1,2,3", pos([]int{1, 2, 3}, []int{1, 2, 3}, false)),
			six("pos first2 last2", pos([]int{2}, []int{2}, false)),
			seven("pos first3 | last3 two families", pos([]int{3}, []int{3}, false), func(tok string) int {
				if strings.HasPrefix(tok, "y:$") {
					return int(numFamilies) + 1
				}
				return famOfX(tok)
			}),
		}
	}
	return []variant{
		base("shipped"),
		// skip-bigrams: word pairs with one or two words between (call to action phrasing)
		six("skip-bigrams gap1-2", func(body string) []string {
			w := words(body)
			var out []string
			for i := range w {
				for g := 2; g <= 3; g++ {
					if i+g < len(w) {
						out = append(out, "k:"+w[i]+" "+w[i+g])
					}
				}
			}
			return out
		}),
		six("stopword-free bigrams", func(body string) []string {
			var w []string
			for _, x := range words(body) {
				if !stopWords[x] {
					w = append(w, x)
				}
			}
			var out []string
			for i := 1; i < len(w); i++ {
				out = append(out, "q:"+w[i-1]+" "+w[i])
			}
			return out
		}),
		six("stopword-free bigrams+trigrams", func(body string) []string {
			var w []string
			for _, x := range words(body) {
				if !stopWords[x] {
					w = append(w, x)
				}
			}
			var out []string
			for i := 1; i < len(w); i++ {
				out = append(out, "q:"+w[i-1]+" "+w[i])
				if i >= 2 {
					out = append(out, "q:"+w[i-2]+" "+w[i-1]+" "+w[i])
				}
			}
			return out
		}),
		six("word trigrams", func(body string) []string {
			w := words(body)
			var out []string
			for i := 2; i < len(w); i++ {
				out = append(out, "x:"+w[i-2]+" "+w[i-1]+" "+w[i])
			}
			return out
		}),
		six("normalised words (runs to 1, leet)", func(body string) []string {
			var out []string
			for _, x := range words(body) {
				out = append(out, "o:"+normWord(x))
			}
			return out
		}),
		six("first and last 3 words", func(body string) []string {
			w := words(body)
			var out []string
			if len(w) > 0 {
				out = append(out, "y:^"+strings.Join(w[:min(3, len(w))], " "))
				out = append(out, "y:$"+strings.Join(w[max(0, len(w)-3):], " "))
				out = append(out, "y:^1"+w[0])
			}
			return out
		}),
		// Fisher/chi-square per family as inputs beside the sums
		{name: "fisher per family (+5)", k: 2 * int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
			return append(x, fisherFam(toks, s, h, t)...), p, known
		}},
		{name: "fisher per family only", k: int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			_, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
			return fisherFam(toks, s, h, t), p, known
		}},
		// complement-NB style weight normalisation: Σllr/Σ|llr| per family
		{name: "cnb normalised (+5)", k: 2 * int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			sum, abs, n, known := famEv(toks, s, h, t, int(numFamilies), baseFam)
			x := make([]float64, 0, 2*len(sum))
			for f := range sum {
				x = append(x, sum[f]/math.Sqrt(float64(n[f]+1)))
			}
			for f := range sum {
				if abs[f] > 0 {
					x = append(x, sum[f]/abs[f])
				} else {
					x = append(x, 0)
				}
			}
			return x, prior(t), known
		}},
		// per-family calibration: an intercept per family when present
		{name: "per-family presence intercepts (+5)", k: 2 * int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			sum, _, n, known := famEv(toks, s, h, t, int(numFamilies), baseFam)
			x := make([]float64, 0, 2*len(sum))
			for f := range sum {
				x = append(x, sum[f]/math.Sqrt(float64(n[f]+1)))
			}
			for f := range sum {
				x = append(x, float64(min(n[f], 1)))
			}
			return x, prior(t), known
		}},
		// per-family calibration: tanh squashing of each family's evidence
		{name: "per-family tanh(x/2) (+5)", k: 2 * int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			x, p, known := sqrtNorm(toks, s, h, t, int(numFamilies), baseFam)
			for f := range int(numFamilies) {
				x = append(x, math.Tanh(x[f]/2))
			}
			return x, p, known
		}},
		// idf-weighted llr (weights from counts): llr · log(N/df)
		{name: "llr x idf", k: int(numFamilies), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			den := llrDen(t)
			nt := float64(t.Spam + t.Ham)
			x := make([]float64, numFamilies)
			var n [numFamilies]int
			known := 0
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 {
					continue
				}
				f := familyOf(tok)
				x[f] += (logSmoothed(a) - logSmoothed(b) + den) * math.Log(1+nt/float64(a+b))
				n[f]++
				known++
			}
			for f := range x {
				x[f] /= math.Sqrt(float64(n[f] + 1))
			}
			return x, prior(t), known
		}},
	}
}

func normWord(w string) string {
	var b []rune
	for _, r := range w {
		switch r {
		case '0':
			r = 'o'
		case '1':
			r = 'i'
		case '3':
			r = 'e'
		case '4':
			r = 'a'
		case '5':
			r = 's'
		case '7':
			r = 't'
		}
		if len(b) > 0 && b[len(b)-1] == r {
			continue
		}
		b = append(b, r)
	}
	return string(b)
}

// fisherFam: per family, Robinson token probabilities combined by Fisher's method, S−H in [−1,1].
func fisherFam(toks []string, s, h []int64, t Totals) []float64 {
	nspam, nham := float64(max(t.Spam, 1)), float64(max(t.Ham, 1))
	var lnF, ln1F [numFamilies]float64
	var n [numFamilies]int
	for i, tok := range toks {
		a, b := float64(max(s[i], 0)), float64(max(h[i], 0))
		if a+b == 0 {
			continue
		}
		sr, hr := min(a/nspam, 1), min(b/nham, 1)
		p := sr / (sr + hr)
		c := a + b
		f := (unknownWordStrength*unknownWordProb + c*p) / (unknownWordStrength + c)
		fam := familyOf(tok)
		lnF[fam] += math.Log(f)
		ln1F[fam] += math.Log(1 - f)
		n[fam]++
	}
	out := make([]float64, numFamilies)
	for fam := range numFamilies {
		if n[fam] == 0 {
			continue
		}
		se := 1 - chi2Q(-2*ln1F[fam], 2*n[fam])
		he := 1 - chi2Q(-2*lnF[fam], 2*n[fam])
		out[fam] = se - he
	}
	return out
}

var urlRE = regexp.MustCompile(`(?i)https?://[^\s"'<>]+`)

// secondRoundVariants (HB=8) are the second round of docs/SPAM_QUALITY.md "What else was tried":
// changes to how the stacked model turns counts into its inputs, with the tokeniser's features
// unchanged except where a variant adds its own tokens.
func secondRoundVariants() []variant {
	nf := int(numFamilies)
	// weighted scales each token's log-likelihood ratio by w before the family sums.
	weighted := func(name string, w func(s, h int64, t Totals) float64) variant {
		return variant{name: name, k: nf, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			den := llrDen(t)
			x := make([]float64, nf)
			n := make([]int, nf)
			known := 0
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 {
					continue
				}
				f := familyOf(tok)
				x[f] += (logSmoothed(a) - logSmoothed(b) + den) * w(a, b, t)
				n[f]++
				known++
			}
			for f := range x {
				x[f] /= math.Sqrt(float64(n[f] + 1))
			}
			return x, prior(t), known
		}}
	}
	// powered divides family f's sum by (n+1)^e(f) instead of √(n+1).
	powered := func(name string, e func(f family) float64) variant {
		return variant{name: name, k: nf, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			sum, _, n, known := famEv(toks, s, h, t, nf, baseFam)
			for f := range sum {
				sum[f] /= math.Pow(float64(n[f]+1), e(family(f)))
			}
			return sum, prior(t), known
		}}
	}
	// sixthFam puts the harness's own prefixes ("t:", "z:") in a sixth family.
	sixthFam := func(tok string) int {
		if len(tok) >= 2 && (tok[:2] == "t:" || tok[:2] == "z:") {
			return nf
		}
		return baseFam(tok)
	}
	vs := []variant{
		{name: "positive and negative evidence apart (10 inputs)", k: 2 * nf, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			den := llrDen(t)
			x := make([]float64, 2*nf)
			n := make([]int, nf)
			known := 0
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 {
					continue
				}
				f := int(familyOf(tok))
				l := logSmoothed(a) - logSmoothed(b) + den
				if l > 0 {
					x[f] += l
				} else {
					x[nf+f] += l
				}
				n[f]++
				known++
			}
			for f := range nf {
				x[f] /= math.Sqrt(float64(n[f] + 1))
				x[nf+f] /= math.Sqrt(float64(n[f] + 1))
			}
			return x, prior(t), known
		}},
	}
	for _, k := range []float64{0.5, 1, 2, 4} {
		vs = append(vs, weighted(fmt.Sprintf("ratio shrunk by n/(n+%g)", k), func(s, h int64, _ Totals) float64 {
			n := float64(s + h)
			return n / (n + k)
		}))
	}
	for _, p := range []float64{0.5, 1} {
		vs = append(vs, weighted(fmt.Sprintf("ratio times Hellinger gap^%g", p), func(s, h int64, t Totals) float64 {
			return math.Pow(hellinger(s, h, t), p)
		}))
	}
	vs = append(vs,
		variant{name: "style tokens in the shape family", k: nf, extra: styleTokens("s:"), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			return sqrtNorm(toks, s, h, t, nf, baseFam)
		}},
		variant{name: "style tokens, a sixth family", k: nf + 1, extra: styleTokens("t:"), ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			return sqrtNorm(toks, s, h, t, nf+1, sixthFam)
		}},
		variant{name: "share of unseen character n-grams (+1)", k: nf + 1, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			x, p, known := sqrtNorm(toks, s, h, t, nf, baseFam)
			var grams, unseen int
			for i, tok := range toks {
				if familyOf(tok) != familyChars {
					continue
				}
				grams++
				if max(s[i], 0)+max(h[i], 0) == 0 {
					unseen++
				}
			}
			share := 0.0
			if grams > 0 {
				share = float64(unseen) / float64(grams)
			}
			return append(x, share), p, known
		}},
	)
	for _, e := range []float64{0.4, 0.6, 0.7} {
		vs = append(vs,
			powered(fmt.Sprintf("divide by (n+1)^%g", e), func(family) float64 { return e }),
			powered(fmt.Sprintf("divide character n-grams by (n+1)^%g", e), func(f family) float64 {
				if f == familyChars {
					return e
				}
				return 0.5
			}))
	}
	vs = append(vs, variant{name: "character 3-grams, a sixth family", k: nf + 1, extra: charTrigrams, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
		return sqrtNorm(toks, s, h, t, nf+1, sixthFam)
	}})
	return vs
}

// hellinger is the Hellinger distance between the token's presence in spam and in ham, each a
// Bernoulli of its count over the class's messages: 0 for a token as common in both classes, 1
// for one in every message of one class and none of the other. It stands in for information
// gain, which needs the same two rates.
func hellinger(s, h int64, t Totals) float64 {
	rs := min(float64(s)/float64(max(t.Spam, 1)), 1)
	rh := min(float64(h)/float64(max(t.Ham, 1)), 1)
	a, b := math.Sqrt(rs)-math.Sqrt(rh), math.Sqrt(1-rs)-math.Sqrt(1-rh)
	return math.Sqrt((a*a + b*b) / 2)
}

// styleTokens returns the style of a comment as tokens with the given prefix: the share of its
// letters that are capitals in tenths, and how many "!", "?" and emoji (symbols of category So)
// it has, each counted up to 3.
func styleTokens(prefix string) func(body string) []string {
	return func(body string) []string {
		body = html.UnescapeString(body)
		var letters, caps, bangs, questions, emoji int
		for _, r := range body {
			switch {
			case unicode.IsLetter(r):
				letters++
				if unicode.IsUpper(r) {
					caps++
				}
			case r == '!':
				bangs++
			case r == '?':
				questions++
			case unicode.Is(unicode.So, r):
				emoji++
			}
		}
		out := []string{
			fmt.Sprintf("%sbang%d", prefix, min(bangs, 3)),
			fmt.Sprintf("%sques%d", prefix, min(questions, 3)),
			fmt.Sprintf("%semoji%d", prefix, min(emoji, 3)),
		}
		if letters > 0 {
			out = append(out, fmt.Sprintf("%scaps%d", prefix, 10*caps/letters))
		}
		return out
	}
}

// charTrigrams returns the character 3-grams of the text the tokeniser makes its 5-grams from,
// from the same first characters, unbucketed.
func charTrigrams(body string) []string {
	t := tokenizers.Get().(*tokenizer)
	defer tokenizers.Put(t)
	t.comment(body, "", "")
	var out []string
	for i := 0; i+3 <= len(t.chars) && i < maxCharGrams; i++ {
		out = append(out, "z:"+string(t.chars[i:i+3]))
	}
	return out
}

// choiceVariants (HB=9) change the shipped model's own choices one at a time, for docs/SPAM_QUALITY.md
// "Is fitting constants on the evaluation data cheating?": the length of the character n-grams
// and how many of them a comment gives, and the smoothing. The n-grams are made again from the
// tokeniser's text and counted by bucket as it counts them, so length 5 with 500 of them is the
// shipped model.
func choiceVariants() []variant {
	nf := int(numFamilies)
	grams := func(length, bound int) variant {
		return variant{
			name:  fmt.Sprintf("character %d-grams, at most %d", length, bound),
			k:     nf,
			extra: bucketedCharGrams(length, bound),
			drop:  func(tok string) bool { return familyOf(tok) == familyChars },
			ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
				return sqrtNorm(toks, s, h, t, nf, baseFam)
			},
		}
	}
	smoothed := func(alpha float64) variant {
		return variant{name: fmt.Sprintf("smoothing %g", alpha), k: nf, ev: func(toks []string, s, h []int64, t Totals) ([]float64, float64, int) {
			v := float64(max(t.Vocabulary, 1))
			den := math.Log(float64(max(t.HamTokens, 0))+alpha*v) - math.Log(float64(max(t.SpamTokens, 0))+alpha*v)
			x := make([]float64, nf)
			n := make([]int, nf)
			known := 0
			for i, tok := range toks {
				a, b := max(s[i], 0), max(h[i], 0)
				if a+b == 0 {
					continue
				}
				f := familyOf(tok)
				x[f] += math.Log(float64(a)+alpha) - math.Log(float64(b)+alpha) + den
				n[f]++
				known++
			}
			for f := range x {
				x[f] /= math.Sqrt(float64(n[f] + 1))
			}
			return x, prior(t), known
		}}
	}
	return []variant{
		grams(5, 500),
		grams(3, 500),
		grams(4, 500),
		grams(6, 500),
		grams(5, 250),
		smoothed(0.5),
		smoothed(2),
	}
}

// bucketedCharGrams returns the first bound character n-grams of the given length of the text the
// tokeniser makes its 5-grams from, each counted by bucket as the tokeniser counts its own.
func bucketedCharGrams(length, bound int) func(body string) []string {
	return func(body string) []string {
		t := tokenizers.Get().(*tokenizer)
		defer tokenizers.Put(t)
		t.comment(body, "", "")
		var out []string
		for i := 0; i+length <= len(t.chars) && i < bound; i++ {
			bucket := hashGram(t.chars[i:i+length]) >> (64 - bitsChars)
			out = append(out, fmt.Sprintf("%s%0*x", prefixChars, (bitsChars+3)/4, bucket))
		}
		return out
	}
}
