package spam

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// An extremely randomised tree ensemble ("extra trees") over the presence of a comment's tokens,
// to be mixed with the stacked model's score.
//
// Why beside the counts: the stacked model adds up what each token says on its own, so it cannot
// see that two tokens mean spam together and ham apart. A tree splits on tokens one after another
// and so learns such combinations, and its mistakes differ from the counts' ones: mixed half and
// half with the stacked score, a forest cut the share of comments held for moderators on the
// YouTube Spam Collection from 18.9 % to 11–12 % with thresholds that never saw the held-out
// video (docs/SPAM_QUALITY.md, "A forest beside the counts").
//
// A forest is fitted to labelled examples, not to counts, so it is fitted again from them when
// they change, on every server (see FitForest for why the fit is deterministic and what it costs).

// Forest sizes and limits.
const (
	// forestTrees is the number of trees: the measurement's figure. Fewer trees give a coarser,
	// noisier probability; the fit and the score cost grow with the number.
	forestTrees = 100
	// minForestClass is how many examples of each class (counting their Count) a forest needs.
	// Below it a tree would learn little more than the few examples themselves.
	minForestClass = 10
	// maxForestExamples bounds the distinct examples of a fit so that every node index of the
	// flat node slice fits an int32 (a tree has fewer than two nodes per distinct example). A
	// store keeps far fewer examples than this, for memory and fitting time alike.
	maxForestExamples = math.MaxInt32 / (2 * forestTrees)
	// maxForestCount caps an example's weight so that the weighted sums of a fit cannot overflow.
	maxForestCount = 1 << 32
	// forestSeed seeds each tree's random draws (with the tree's number as the stream): a fixed
	// seed makes every server fit the same forest from the same examples.
	forestSeed = 0x5eed_f07e_57c0_4ded
	// forestScoreWords is the size, in 64-bit words, of the token set Score keeps on its stack:
	// enough for a forest that splits on up to 16,384 tokens (a fit to 20,000 examples keeps about
	// 6,400, BenchmarkFitForest). A larger forest's sets come from a pool.
	forestScoreWords = 256
)

// ForestExample is one distinct labelled example: its forest tokens (distinct, any order), its
// class, and how many times it was trained (its weight, >= 1).
type ForestExample struct {
	Tokens []string
	Spam   bool
	Count  int64
}

// ForestTokens returns the tokens of a comment that a forest sees: all of Features' tokens except
// the character n-grams ("c:"), in a new slice.
//
// The n-grams are most of a comment's tokens. Leaving them out kept most of the forest's gain on
// the YouTube Spam Collection (nested load 11.5 % against 11–12 % with them, docs/SPAM_QUALITY.md)
// and makes the examples a store keeps smaller: on that collection the forest tokens are 29 % of
// Features' tokens and 26 % of their bytes. The stacked model still reads the n-grams.
// The kept tokens are copied into one new string, so keeping the result does not keep the
// n-grams' memory alive (Features' tokens all share one string).
func ForestTokens(tokens []string) []string {
	size, n := 0, 0
	for _, t := range tokens {
		if !strings.HasPrefix(t, prefixChars) {
			size += len(t)
			n++
		}
	}
	var b strings.Builder
	b.Grow(size)
	for _, t := range tokens {
		if !strings.HasPrefix(t, prefixChars) {
			b.WriteString(t)
		}
	}
	all := b.String()
	out := make([]string, 0, n)
	start := 0
	for _, t := range tokens {
		if !strings.HasPrefix(t, prefixChars) {
			out = append(out, all[start:start+len(t)])
			start += len(t)
		}
	}
	return out
}

// Forest is a fitted extra-trees forest. It is immutable, so any number of goroutines may Score
// with it.
type Forest struct {
	// vocab numbers the tokens the trees split on, in sorted order; the other tokens of the
	// examples cannot change a score and are not kept.
	vocab map[string]int32
	// nodes holds every tree in pre-order, one after another: a node's child without its token
	// is the next node, so only the child with it needs an index. One flat slice of 12-byte nodes
	// keeps a forest of some hundred thousand nodes compact and cheap for the collector to scan.
	nodes    []forestNode
	roots    []int32 // the index of each tree's root in nodes
	examples int     // distinct examples fitted
	// spamWeight and hamWeight are the examples of each class fitted, counting their Count.
	spamWeight, hamWeight int64
}

// forestNode is a split on a token or, when feature is -1, a leaf.
type forestNode struct {
	feature int32   // the token's id in vocab, or -1 for a leaf
	right   int32   // the node the comments with the token go to
	share   float32 // a leaf's weighted share of spam among its examples
}

// FitForest fits a forest of forestTrees extremely randomised trees to examples. It returns nil
// when there are fewer than minForestClass examples (counting their Count) of either class, or
// more than maxForestExamples distinct ones; examples with a Count below 1 are left out.
//
// Each tree starts from all the examples. At a node it draws up to √(distinct tokens) candidate
// tokens among those present in some but not all of the node's examples, splits on the candidate
// whose two sides have the lowest Gini impurity, weighted by Count, and grows until a node is pure
// or no token splits it (the same tokens with both classes). A leaf's value is its weighted share
// of spam; Score averages them over the trees.
//
// The fit is deterministic: the same multiset of examples gives the same forest whatever their
// order, the order of their tokens, or how a repeated example is split between entries (two
// entries with the same tokens and class are one, their Counts added). Examples and tokens are
// sorted before fitting and the random draws come from a fixed seed, so every server that fits
// from the same stored examples scores a comment alike, and a score can be reproduced.
//
// What a fit costs: its time grows with the trees, the examples' tokens and the trees' depth (see
// forestGrower for how it avoids reading every example at every level); while it runs it holds a
// few copies of the examples' token ids, and the forest it returns keeps fewer than two 12-byte
// nodes per distinct example and tree, and the tokens it splits on. BenchmarkFitForest measures
// both at 1,000 to 20,000 examples. The fit runs on one goroutine, so a caller that fits in the
// background takes one core while it lasts. Callers check for nil before scoring.
func FitForest(examples []ForestExample) *Forest {
	d, ok := newForestData(examples)
	if !ok {
		return nil
	}
	f := &Forest{examples: d.rows(), roots: make([]int32, 0, forestTrees)}
	for i, isSpam := range d.spam {
		if isSpam {
			f.spamWeight += d.weight[i]
		} else {
			f.hamWeight += d.weight[i]
		}
	}
	g := newForestGrower(d)
	for tree := range forestTrees {
		f.roots = append(f.roots, int32(len(f.nodes)))
		f.nodes = g.grow(f.nodes, rand.New(rand.NewPCG(forestSeed, uint64(tree))))
	}
	f.keepSplitTokens(d.vocab)
	return f
}

// Classes returns how many examples of each class the forest was fitted from, counting their Count.
func (f *Forest) Classes() (spam, ham int64) { return f.spamWeight, f.hamWeight }

// Score returns the forest's spam probability for a comment's forest tokens (see ForestTokens):
// the mean over trees of the weighted spam share of the leaf the comment reaches. Tokens the
// forest never saw are ignored. It does not allocate (a forest that splits on more than 16,384
// tokens takes its token sets from a pool).
//
// The comment's tokens go into a bit set indexed by token id, so each node's test is one load and
// a mask. A binary search in the comment's sorted ids, the obvious alternative, takes several
// times as long (BenchmarkForestScore compares them): a comment goes through some tens of nodes
// per tree, and each search's branches are unpredictable.
func (f *Forest) Score(tokens []string) float64 {
	var stack [forestScoreWords]uint64
	var has []uint64
	if words := (len(f.vocab) + 63) / 64; words <= len(stack) {
		has = stack[:words]
	} else {
		p := forestBitsets.Get().(*[]uint64)
		defer forestBitsets.Put(p)
		*p = slices.Grow((*p)[:0], words)[:words]
		has = *p
	}
	for _, t := range tokens {
		if id, ok := f.vocab[t]; ok {
			has[id>>6] |= 1 << (id & 63)
		}
	}
	var sum float64
	for _, n := range f.roots {
		for {
			nd := &f.nodes[n]
			if nd.feature < 0 {
				sum += float64(nd.share)
				break
			}
			if has[nd.feature>>6]&(1<<(nd.feature&63)) != 0 {
				n = nd.right
			} else {
				n++
			}
		}
	}
	if len(has) > len(stack) {
		for _, t := range tokens {
			if id, ok := f.vocab[t]; ok {
				has[id>>6] = 0
			}
		}
	}
	return sum / float64(len(f.roots))
}

// forestBitsets keeps the token sets of forests too large for Score's stack buffer. Score clears
// the bits it set before putting a set back.
var forestBitsets = sync.Pool{New: func() any { return new([]uint64) }}

// Size reports the number of distinct examples the forest was fitted to, of tokens it keeps (those
// its trees split on) and of tree nodes, for logs and metrics. A nil Forest has none.
func (f *Forest) Size() (examples, tokens, nodes int) {
	if f == nil {
		return 0, 0, 0
	}
	return f.examples, len(f.vocab), len(f.nodes)
}

// keepSplitTokens keeps in f's vocabulary only the tokens of vocab (sorted, numbered by their
// index) that some node splits on, renumbered in the same order, each in memory of its own.
func (f *Forest) keepSplitTokens(vocab []string) {
	renumber := make([]int32, len(vocab))
	for i := range f.nodes {
		if ft := f.nodes[i].feature; ft >= 0 {
			renumber[ft] = 1
		}
	}
	kept := int32(0)
	for i, used := range renumber {
		if used != 0 {
			renumber[i] = kept
			kept++
		} else {
			renumber[i] = -1
		}
	}
	f.vocab = make(map[string]int32, kept)
	for i, id := range renumber {
		if id >= 0 {
			f.vocab[strings.Clone(vocab[i])] = id
		}
	}
	for i := range f.nodes {
		if ft := f.nodes[i].feature; ft >= 0 {
			f.nodes[i].feature = renumber[ft]
		}
	}
}

// forestData is the examples of a fit in canonical form: distinct, sorted by class (ham first)
// then by their sorted token ids, tokens numbered in sorted order.
type forestData struct {
	vocab  []string // token by id, sorted
	ids    []int32  // every example's sorted token ids, one after another
	starts []int    // example i's ids are ids[starts[i]:starts[i+1]]
	spam   []bool
	weight []int64
}

func (d *forestData) rows() int              { return len(d.spam) }
func (d *forestData) tokens(i int32) []int32 { return d.ids[d.starts[i]:d.starts[i+1]] }

// newForestData puts examples in canonical form; ok is false when they are too few or too many
// for a forest.
func newForestData(examples []ForestExample) (d *forestData, ok bool) {
	var hamWeight, spamWeight int64
	ids := map[string]int32{}
	for _, x := range examples {
		if x.Count < 1 {
			continue
		}
		if x.Spam {
			spamWeight += min(x.Count, maxForestCount)
		} else {
			hamWeight += min(x.Count, maxForestCount)
		}
		for _, t := range x.Tokens {
			ids[t] = 0
		}
	}
	if hamWeight < minForestClass || spamWeight < minForestClass {
		return nil, false
	}
	d = &forestData{vocab: make([]string, 0, len(ids))}
	for t := range ids {
		d.vocab = append(d.vocab, t)
	}
	slices.Sort(d.vocab)
	for i, t := range d.vocab {
		ids[t] = int32(i)
	}

	type row struct {
		ids   []int32
		spam  bool
		count int64
	}
	rows := make([]row, 0, len(examples))
	for _, x := range examples {
		if x.Count < 1 {
			continue
		}
		r := row{ids: make([]int32, len(x.Tokens)), spam: x.Spam, count: min(x.Count, maxForestCount)}
		for i, t := range x.Tokens {
			r.ids[i] = ids[t]
		}
		slices.Sort(r.ids)
		r.ids = slices.Compact(r.ids)
		rows = append(rows, r)
	}
	// Ids follow the tokens' sorted order, so comparing sorted ids compares sorted token lists.
	cmpRow := func(a, b row) int {
		if a.spam != b.spam {
			if b.spam {
				return -1
			}
			return 1
		}
		return slices.Compare(a.ids, b.ids)
	}
	slices.SortFunc(rows, cmpRow)
	for i, r := range rows {
		if i > 0 && cmpRow(rows[i-1], r) == 0 {
			d.weight[len(d.weight)-1] = min(d.weight[len(d.weight)-1]+r.count, maxForestCount)
			continue
		}
		d.starts = append(d.starts, len(d.ids))
		d.ids = append(d.ids, r.ids...)
		d.spam = append(d.spam, r.spam)
		d.weight = append(d.weight, r.count)
	}
	d.starts = append(d.starts, len(d.ids))
	if d.rows() > maxForestExamples {
		return nil, false
	}
	return d, true
}

// forestGrower grows trees over one forestData, reusing its buffers from tree to tree.
//
// A node needs, for each token of its examples, the weight of those with it and of the spam ones
// among them. Counting them from the examples at every node would read each example's tokens once
// per level of the tree, and the trees are deep (the purest split often peels a few comments off
// the rest: a YouTube comment's leaf is some 30 to 45 nodes down, and the deepest about 200). So
// the grower counts only the smaller child's examples and takes the larger child's counts as its
// parent's minus the smaller's: an example's tokens are read at most log₂(examples) times per
// tree.
type forestGrower struct {
	d             *forestData
	candidates    int
	n, s          int64         // the weight of all examples, and of the spam ones
	rows          []int32       // the examples, each node's a contiguous range
	pos           []int32       // where each example is in rows
	postings      []int32       // the examples with each token, token after token
	postingStarts []int         // token i's examples are postings[postingStarts[i]:postingStarts[i+1]]
	marked        []bool        // for partitionByPostings: the examples it moves
	scratch       []int32       // for partitioning a range
	dense         []forestCount // per token id, the counts of the examples being counted
	arena         []forestCount // the counts of the nodes on the stack, one after another
	small         []forestCount // the counts of the smaller child of a split
	large         []forestCount // the counts of the larger one
	splits        []int32       // the indexes of the counts of a node's tokens that split it
	stack         []forestTask
}

// forestCount is, for a token and a node's examples, the weight of those with the token and of
// the spam ones among them.
type forestCount struct {
	token      int32
	with, spam int64
}

// forestTask is a node to grow: the examples rows[lo:hi], of weight n with s of it spam, whose
// token counts are arena[counts:] (the tasks' counts are stacked as the tasks are), and the node
// whose right child it is (-1 for a root or a left child, which is the node after its parent).
type forestTask struct {
	lo, hi int
	n, s   int64
	counts int
	parent int32
}

func newForestGrower(d *forestData) *forestGrower {
	g := &forestGrower{
		d:             d,
		candidates:    max(1, int(math.Sqrt(float64(len(d.vocab))))),
		rows:          make([]int32, d.rows()),
		pos:           make([]int32, d.rows()),
		marked:        make([]bool, d.rows()),
		scratch:       make([]int32, d.rows()),
		dense:         make([]forestCount, len(d.vocab)),
		postings:      make([]int32, len(d.ids)),
		postingStarts: make([]int, len(d.vocab)+1),
	}
	for _, ft := range d.ids {
		g.postingStarts[ft+1]++
	}
	for i := range d.vocab {
		g.postingStarts[i+1] += g.postingStarts[i]
	}
	next := slices.Clone(g.postingStarts[:len(d.vocab)])
	for r := range d.rows() {
		for _, ft := range d.tokens(int32(r)) {
			g.postings[next[ft]] = int32(r)
			next[ft]++
		}
	}
	for i, w := range d.weight {
		g.n += w
		if d.spam[i] {
			g.s += w
		}
	}
	return g
}

// gini is the Gini impurity of n examples' weight with s of it spam, times n: 2·s·(n−s)/n.
func gini(n, s int64) float64 {
	if n == 0 {
		return 0
	}
	return 2 * float64(s) * float64(n-s) / float64(n)
}

// grow appends one tree to nodes in pre-order. It keeps the nodes still to grow on a stack of its
// own rather than recursing: a tree over many examples can be thousands of nodes deep.
func (g *forestGrower) grow(nodes []forestNode, rng *rand.Rand) []forestNode {
	for i := range g.rows {
		g.rows[i], g.pos[i] = int32(i), int32(i)
	}
	g.arena = g.count(g.arena[:0], g.rows)
	g.clearDense(g.arena)
	g.stack = append(g.stack[:0], forestTask{lo: 0, hi: len(g.rows), n: g.n, s: g.s, parent: -1})
	for len(g.stack) > 0 {
		t := g.stack[len(g.stack)-1]
		g.stack = g.stack[:len(g.stack)-1]
		me := int32(len(nodes))
		if t.parent >= 0 {
			nodes[t.parent].right = me
		}
		nodes = append(nodes, forestNode{feature: -1, share: float32(float64(t.s) / float64(t.n))})
		counts := g.arena[t.counts:]
		best := -1
		if t.s != 0 && t.s != t.n {
			best = g.bestSplit(counts, t.n, t.s, rng)
		}
		if best < 0 { // pure, or the same tokens with both classes
			g.arena = g.arena[:t.counts]
			continue
		}
		split := counts[best]
		nodes[me].feature = split.token
		mid := g.partition(t.lo, t.hi, split.token)
		without := forestTask{lo: t.lo, hi: mid, n: t.n - split.with, s: t.s - split.spam, parent: -1}
		with := forestTask{lo: mid, hi: t.hi, n: split.with, s: split.spam, parent: me}

		withSmaller := with.hi-with.lo < without.hi-without.lo
		smaller := without
		if withSmaller {
			smaller = with
		}
		g.small = g.count(g.small[:0], g.rows[smaller.lo:smaller.hi])
		g.large = g.large[:0]
		for _, c := range counts {
			c.with -= g.dense[c.token].with
			c.spam -= g.dense[c.token].spam
			if c.with > 0 {
				g.large = append(g.large, c)
			}
		}
		g.clearDense(g.small)
		withCounts, withoutCounts := g.large, g.small
		if withSmaller {
			withCounts, withoutCounts = g.small, g.large
		}

		// The right child goes on the stack first so that the left one is grown next, right
		// after me; the parent's counts, read above, make room for theirs.
		g.arena = g.arena[:t.counts]
		with.counts = len(g.arena)
		g.arena = append(g.arena, withCounts...)
		without.counts = len(g.arena)
		g.arena = append(g.arena, withoutCounts...)
		g.stack = append(g.stack, with, without)
	}
	return nodes
}

// count appends to out the counts of the tokens of rows, in order of first sight, leaving them in
// g.dense too (for clearDense to clear).
func (g *forestGrower) count(out []forestCount, rows []int32) []forestCount {
	d := g.d
	start := len(out)
	for _, r := range rows {
		w, spam := d.weight[r], d.spam[r]
		for _, ft := range d.tokens(r) {
			c := &g.dense[ft]
			if c.with == 0 {
				out = append(out, forestCount{token: ft})
			}
			c.with += w
			if spam {
				c.spam += w
			}
		}
	}
	for i := start; i < len(out); i++ {
		c := g.dense[out[i].token]
		out[i].with, out[i].spam = c.with, c.spam
	}
	return out
}

// clearDense zeroes g.dense for the tokens of counts.
func (g *forestGrower) clearDense(counts []forestCount) {
	for _, c := range counts {
		g.dense[c.token] = forestCount{}
	}
}

// bestSplit draws the candidate tokens of a node of weight n, s of it spam, whose tokens are
// counted in counts, and returns the index in counts of the one with the lowest weighted
// impurity, or -1 when no token splits the node.
func (g *forestGrower) bestSplit(counts []forestCount, n, s int64, rng *rand.Rand) int {
	// Every weight is at least 1, so a token is missing from some example exactly when the
	// weight of those with it is less than the node's.
	g.splits = g.splits[:0]
	for i, c := range counts {
		if c.with < n {
			g.splits = append(g.splits, int32(i))
		}
	}
	best, bestImpurity := -1, math.Inf(1)
	for j := 0; j < g.candidates && j < len(g.splits); j++ {
		k := j + rng.IntN(len(g.splits)-j)
		g.splits[j], g.splits[k] = g.splits[k], g.splits[j]
		c := counts[g.splits[j]]
		if impurity := gini(c.with, c.spam) + gini(n-c.with, s-c.spam); impurity < bestImpurity {
			best, bestImpurity = int(g.splits[j]), impurity
		}
	}
	return best
}

// partition reorders the examples rows[lo:hi] so that those without token ft come first, and
// returns where those with it start. It takes the cheaper of two ways: reading each example's
// tokens, or walking the list of examples with ft and moving those of the node. The second costs
// the token's examples rather than the node's, which matters along a tree's long spine: a large
// node from which a rare token splits a few examples off.
func (g *forestGrower) partition(lo, hi int, ft int32) int {
	with := g.postings[g.postingStarts[ft]:g.postingStarts[ft+1]]
	if len(with) < hi-lo {
		return g.partitionByPostings(lo, hi, with)
	}
	rows, without, moved := g.rows[lo:hi], 0, g.scratch[:0]
	for _, r := range rows {
		if _, ok := slices.BinarySearch(g.d.tokens(r), ft); ok {
			moved = append(moved, r)
		} else {
			rows[without] = r
			without++
		}
	}
	copy(rows[without:], moved)
	for i, r := range rows {
		g.pos[r] = int32(lo + i)
	}
	return lo + without
}

// partitionByPostings is partition for the examples with (all those that have the token): the
// node's ones among them are swapped with examples without it from the end of the range.
func (g *forestGrower) partitionByPostings(lo, hi int, with []int32) int {
	mine := g.scratch[:0]
	for _, r := range with {
		if p := int(g.pos[r]); lo <= p && p < hi {
			mine = append(mine, r)
			g.marked[r] = true
		}
	}
	mid := hi - len(mine)
	q := mid
	for _, r := range mine {
		p := int(g.pos[r])
		if p >= mid {
			continue
		}
		for g.marked[g.rows[q]] {
			q++
		}
		other := g.rows[q]
		g.rows[p], g.rows[q] = other, r
		g.pos[other], g.pos[r] = int32(p), int32(q)
		q++
	}
	for _, r := range mine {
		g.marked[r] = false
	}
	return mid
}
