package spam

import (
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

type xdoc struct {
	tokens []string
	spam   bool
	body   string
}

type xcounts struct {
	m map[string][2]int64
	t Totals
}

func newX() *xcounts { return &xcounts{m: map[string][2]int64{}} }

func (c *xcounts) train(d xdoc, delta int64) {
	cl := classIndex(d.spam)
	if d.spam {
		c.t.Spam += delta
		c.t.SpamTokens += delta * int64(len(d.tokens))
	} else {
		c.t.Ham += delta
		c.t.HamTokens += delta * int64(len(d.tokens))
	}
	for _, tok := range d.tokens {
		v := c.m[tok]
		was := v != [2]int64{}
		v[cl] += delta
		now := v != [2]int64{}
		if !was && now {
			c.t.Vocabulary++
		} else if was && !now {
			c.t.Vocabulary--
		}
		if now {
			c.m[tok] = v
		} else {
			delete(c.m, tok)
		}
	}
}

func (c *xcounts) lookup(toks []string) (s, h []int64) {
	s, h = make([]int64, len(toks)), make([]int64, len(toks))
	for i, tok := range toks {
		v := c.m[tok]
		s[i], h[i] = v[0], v[1]
	}
	return
}

// feature variant: returns feature vector (without bias) and prior, and whether abstain
type featFn func(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool)

func baseFeat(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool) {
	x, prior, known := stackEvidence(tokens, s, h, t)
	return x[:], prior, known == 0
}

func sigm(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func fitGen(rows [][]float64, offsets, labels []float64) []float64 {
	k := len(rows[0]) + 1
	beta := make([]float64, k)
	for range 60 {
		grad := make([]float64, k)
		hess := make([][]float64, k)
		for j := range hess {
			hess[j] = make([]float64, k)
		}
		for i, r := range rows {
			x := append(slices.Clone(r), 1)
			z := offsets[i]
			for j := range k {
				z += beta[j] * x[j]
			}
			p := sigm(z)
			for j := range k {
				grad[j] += (labels[i] - p) * x[j]
				for l := range k {
					hess[j][l] += p * (1 - p) * x[j] * x[l]
				}
			}
		}
		for j := range k {
			hess[j][j] += 1e-6
		}
		step := solveGen(hess, grad)
		ch := 0.0
		for j := range k {
			beta[j] += step[j]
			ch = max(ch, math.Abs(step[j]))
		}
		if ch < 1e-10 {
			break
		}
	}
	return beta
}

func solveGen(a [][]float64, b []float64) []float64 {
	k := len(b)
	for c := range k {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < k; r++ {
			f := a[r][c] / a[c][c]
			for j := c; j < k; j++ {
				a[r][j] -= f * a[c][j]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, k)
	for r := k - 1; r >= 0; r-- {
		s := b[r]
		for j := r + 1; j < k; j++ {
			s -= a[r][j] * x[j]
		}
		x[r] = s / a[r][r]
	}
	return x
}

func fitAll(docs []xdoc, f featFn) []float64 {
	c := newX()
	for _, d := range docs {
		c.train(d, 1)
	}
	var rows [][]float64
	var offs, labs []float64
	for _, d := range docs {
		c.train(d, -1)
		s, h := c.lookup(d.tokens)
		x, prior, _ := f(d.tokens, s, h, c.t)
		c.train(d, 1)
		rows = append(rows, x)
		offs = append(offs, prior)
		l := 0.0
		if d.spam {
			l = 1
		}
		labs = append(labs, l)
	}
	return fitGen(rows, offs, labs)
}

func scoreWith(c *xcounts, d xdoc, f featFn, beta []float64) float64 {
	if c.t.Spam < 10 || c.t.Ham < 10 {
		return 0.5
	}
	s, h := c.lookup(d.tokens)
	x, prior, abstain := f(d.tokens, s, h, c.t)
	if abstain {
		return 0.5
	}
	z := prior + beta[len(beta)-1]
	for j := range x {
		z += beta[j] * x[j]
	}
	return sigm(z)
}

func mccOf(sc []Scored) float64 {
	var c Confusion
	for _, x := range sc {
		p := x.Score > 0.5
		switch {
		case x.Spam && p:
			c.TP++
		case x.Spam:
			c.FN++
		case p:
			c.FP++
		default:
			c.TN++
		}
	}
	return c.MCC()
}

func looScores(vids [][]xdoc, f featFn, beta []float64) [][]Scored {
	out := make([][]Scored, len(vids))
	for i := range vids {
		c := newX()
		for j := range vids {
			if j != i {
				for _, d := range vids[j] {
					c.train(d, 1)
				}
			}
		}
		for _, d := range vids[i] {
			out[i] = append(out[i], Scored{scoreWith(c, d, f, beta), d.spam})
		}
	}
	return out
}

func outcomesAt(sc []Scored, hold, spamAt float64) (pub, lost, load float64) {
	var ns, nh, p, l, held int
	for _, x := range sc {
		if x.Spam {
			ns++
			if x.Score < hold {
				p++
			}
		} else {
			nh++
			if x.Score >= spamAt {
				l++
			}
		}
		if x.Score >= hold && x.Score < spamAt {
			held++
		}
	}
	return ratio(p, ns), ratio(l, nh), ratio(held, ns+nh)
}

func evalVariant(t *testing.T, name string, vids [][]xdoc, names []string, f featFn, verbose bool) {
	var all []xdoc
	for _, v := range vids {
		all = append(all, v...)
	}
	beta := fitAll(all, f)
	// (a)
	var amcc []float64
	for vi, v := range vids {
		var ex []Example
		for _, d := range v {
			ex = append(ex, Example{Body: d.body, Spam: d.spam})
		}
		// replicate SplitByClass on docs
		var ns, nh int
		for _, d := range v {
			if d.spam {
				ns++
			} else {
				nh++
			}
		}
		cs, ch := int(math.Round(0.7*float64(ns))), int(math.Round(0.7*float64(nh)))
		var ss, sh int
		c := newX()
		var test []xdoc
		for _, d := range v {
			in := false
			if d.spam {
				in = ss < cs
				ss++
			} else {
				in = sh < ch
				sh++
			}
			if in {
				c.train(d, 1)
			} else {
				test = append(test, d)
			}
		}
		var sc []Scored
		for _, d := range test {
			p := scoreWith(c, d, f, beta)
			sc = append(sc, Scored{p, d.spam})
			if verbose && (p > 0.5) != d.spam {
				fmt.Fprintf(os.Stderr, "  MISS %s spam=%v p=%.3f %q\n", names[vi], d.spam, p, d.body)
			}
		}
		amcc = append(amcc, mccOf(sc))
	}
	// (b)
	loo := looScores(vids, f, beta)
	var pooled []Scored
	var lmcc float64
	for _, s := range loo {
		pooled = append(pooled, s...)
		lmcc += mccOf(s) / float64(len(loo))
	}
	_, _, optLoad := ChooseThresholds(pooled, 0.02, 0.005)
	// nested
	var nPub, nLost, nHeld, nS, nH, nN int
	for i := range vids {
		others := slices.Delete(slices.Clone(vids), i, i+1)
		ls := looScores(others, f, beta)
		var p []Scored
		for _, s := range ls {
			p = append(p, s...)
		}
		ho, sa, _ := ChooseThresholds(p, 0.02, 0.005)
		for _, x := range loo[i] {
			nN++
			if x.Spam {
				nS++
				if x.Score < ho {
					nPub++
				}
			} else {
				nH++
				if x.Score >= sa {
					nLost++
				}
			}
			if x.Score >= ho && x.Score < sa {
				nHeld++
			}
		}
	}
	dp, dl, dload := outcomesAt(pooled, 0.24, 0.97)
	var am float64
	for _, m := range amcc {
		am += m / 5
	}
	t.Logf("%-28s a=%.3f [%.3f %.3f %.3f %.3f %.3f] looMCC=%.3f optLoad=%.1f%% nested pub/lost/load=%.1f/%.1f/%.1f%% default=%.1f/%.1f/%.1f beta=%.2f",
		name, am, amcc[0], amcc[1], amcc[2], amcc[3], amcc[4], lmcc, 100*optLoad,
		100*ratio(nPub, nS), 100*ratio(nLost, nH), 100*ratio(nHeld, nN), 100*dp, 100*dl, 100*dload, beta)
}

func loadX(t *testing.T, tok func(string) []string) ([][]xdoc, []string) {
	ds, err := LoadDatasets("../../../shared/data/youtube-spam")
	if err != nil {
		t.Fatal(err)
	}
	var vids [][]xdoc
	var names []string
	for _, d := range ds {
		var v []xdoc
		for _, x := range d.Examples {
			v = append(v, xdoc{tokens: tok(x.Body), spam: x.Spam, body: x.Body})
		}
		vids = append(vids, v)
		names = append(names, d.Name)
	}
	return vids, names
}

func TestWQ2Exp(t *testing.T) {
	vids, names := loadX(t, func(b string) []string { return analyse(b, "", "").tokens })
	evalVariant(t, "base", vids, names, baseFeat, os.Getenv("WQ2V") != "")
}

func posNegFeat(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool) {
	v := float64(max(t.Vocabulary, 1))
	den := math.Log(float64(max(t.HamTokens, 0))+stackAlpha*v) - math.Log(float64(max(t.SpamTokens, 0))+stackAlpha*v)
	var x [2 * numFamilies]float64
	var n [numFamilies]int
	known := 0
	for i, tok := range tokens {
		a, b := max(s[i], 0), max(h[i], 0)
		if a+b == 0 {
			continue
		}
		f := familyOf(tok)
		l := logSmoothed(a) - logSmoothed(b) + den
		if l > 0 {
			x[2*f] += l
		} else {
			x[2*f+1] += l
		}
		n[f]++
		known++
	}
	for f := range numFamilies {
		q := math.Sqrt(float64(n[f] + 1))
		x[2*f] /= q
		x[2*f+1] /= q
	}
	return x[:], math.Log(float64(t.Spam)) - math.Log(float64(t.Ham)), known == 0
}

func shrinkFeat(k float64) featFn {
	return func(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool) {
		v := float64(max(t.Vocabulary, 1))
		den := math.Log(float64(max(t.HamTokens, 0))+stackAlpha*v) - math.Log(float64(max(t.SpamTokens, 0))+stackAlpha*v)
		var x [numFamilies]float64
		var n [numFamilies]float64
		known := 0
		for i, tok := range tokens {
			a, b := max(s[i], 0), max(h[i], 0)
			if a+b == 0 {
				continue
			}
			f := familyOf(tok)
			c := float64(a+b) / (float64(a+b) + k)
			x[f] += c * (logSmoothed(a) - logSmoothed(b) + den)
			n[f] += 1
			known++
		}
		for f := range numFamilies {
			x[f] /= math.Sqrt(n[f] + 1)
		}
		return x[:], math.Log(float64(t.Spam)) - math.Log(float64(t.Ham)), known == 0
	}
}

// style tokens from the raw body
func styleTokens(body string) []string {
	var up, low, excl, q int
	emoji := false
	for _, r := range body {
		switch {
		case r >= 'A' && r <= 'Z':
			up++
		case r >= 'a' && r <= 'z':
			low++
		case r == '!':
			excl++
		case r == '?':
			q++
		case r >= 0x1F300:
			emoji = true
		}
	}
	var out []string
	if up+low >= 8 {
		fr := float64(up) / float64(up+low)
		switch {
		case fr > 0.8:
			out = append(out, "s:caps3")
		case fr > 0.3:
			out = append(out, "s:caps2")
		case up == 0:
			out = append(out, "s:caps0")
		default:
			out = append(out, "s:caps1")
		}
	}
	switch {
	case excl == 0:
		out = append(out, "s:ex0")
	case excl == 1:
		out = append(out, "s:ex1")
	case excl <= 3:
		out = append(out, "s:ex2")
	default:
		out = append(out, "s:ex3")
	}
	if q > 0 {
		out = append(out, "s:q")
	}
	if emoji {
		out = append(out, "s:emoji")
	}
	return out
}

func TestWQ2Variants(t *testing.T) {
	vids, names := loadX(t, func(b string) []string { return analyse(b, "", "").tokens })
	evalVariant(t, "posneg", vids, names, posNegFeat, false)
	for _, k := range []float64{0.5, 1, 2, 4} {
		evalVariant(t, fmt.Sprintf("shrink%.1f", k), vids, names, shrinkFeat(k), false)
	}
	v2, _ := loadX(t, func(b string) []string { return append(analyse(b, "", "").tokens, styleTokens(b)...) })
	evalVariant(t, "style", v2, names, baseFeat, false)
	evalVariant(t, "style+posneg", v2, names, posNegFeat, false)
}

func styleFamFeat(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool) {
	var base, sty []int
	for i, tok := range tokens {
		if len(tok) > 2 && tok[:2] == "s:" && tok[2] != 'l' {
			sty = append(sty, i)
		} else {
			base = append(base, i)
		}
	}
	pick := func(ix []int) ([]string, []int64, []int64) {
		var a []string
		var b, c []int64
		for _, i := range ix {
			a, b, c = append(a, tokens[i]), append(b, s[i]), append(c, h[i])
		}
		return a, b, c
	}
	bt, bs, bh := pick(base)
	x, prior, known := stackEvidence(bt, bs, bh, t)
	st, ss, sh := pick(sty)
	y, _, _ := stackEvidence(st, ss, sh, t) // all in familyShape
	return append(x[:], y[familyShape]), prior, known == 0
}

func noveltyFeat(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool) {
	x, prior, known := stackEvidence(tokens, s, h, t)
	var nc, kc int
	for i, tok := range tokens {
		if familyOf(tok) == familyChars {
			nc++
			if s[i]+h[i] > 0 {
				kc++
			}
		}
	}
	nov := 0.0
	if nc > 0 {
		nov = 1 - float64(kc)/float64(nc)
	}
	return append(x[:], nov), prior, known == 0
}

func expFeat(e float64) featFn {
	return func(tokens []string, s, h []int64, t Totals) ([]float64, float64, bool) {
		v := float64(max(t.Vocabulary, 1))
		den := math.Log(float64(max(t.HamTokens, 0))+stackAlpha*v) - math.Log(float64(max(t.SpamTokens, 0))+stackAlpha*v)
		var x [numFamilies]float64
		var n [numFamilies]float64
		known := 0
		for i, tok := range tokens {
			a, b := max(s[i], 0), max(h[i], 0)
			if a+b == 0 {
				continue
			}
			f := familyOf(tok)
			x[f] += logSmoothed(a) - logSmoothed(b) + den
			n[f]++
			known++
		}
		for f := range numFamilies {
			x[f] /= math.Pow(n[f]+1, e)
		}
		return x[:], math.Log(float64(t.Spam)) - math.Log(float64(t.Ham)), known == 0
	}
}

func TestWQ2Variants2(t *testing.T) {
	vids, names := loadX(t, func(b string) []string { return analyse(b, "", "").tokens })
	evalVariant(t, "novelty", vids, names, noveltyFeat, false)
	for _, e := range []float64{0.4, 0.6, 0.7} {
		evalVariant(t, fmt.Sprintf("exp%.1f", e), vids, names, expFeat(e), false)
	}
	v2, _ := loadX(t, func(b string) []string { return append(analyse(b, "", "").tokens, styleTokens(b)...) })
	evalVariant(t, "stylefam", v2, names, styleFamFeat, false)
}
