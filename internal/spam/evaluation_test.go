package spam

// The evaluation of the Scorer on labelled data sets that docs/SPAM_QUALITY.md reports: the
// package's tests run it on the YouTube Spam Collection (eval_test.go), and the fit of the stacked
// model's weights (fitStack) is checked against the shipped values. It lives in a test file
// because only tests run it: an operator measures a model on their own data through the real
// server path, with commentctl spam eval.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// Dataset is a named list of examples, in their original order.
type Dataset struct {
	Name     string
	Examples []Example
}

// ErrNoData is returned by LoadDatasets when the directory holds no data set.
var ErrNoData = errors.New("spam: no data sets found")

// LoadDatasets reads every *.csv (see ReadCSV) and *.jsonl (see ReadJSONLines) file in dir, in
// file name order. A data set is named after its file without the extension.
func LoadDatasets(dir string) ([]Dataset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load data sets: %w", err)
	}
	var out []Dataset
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".csv" && ext != ".jsonl") {
			continue
		}
		ds, err := loadDataset(filepath.Join(dir, e.Name()), ext)
		if err != nil {
			return nil, err
		}
		out = append(out, ds)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w in %s (want *.csv or *.jsonl files)", ErrNoData, dir)
	}
	return out, nil
}

func loadDataset(path, ext string) (Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return Dataset{}, fmt.Errorf("load data set: %w", err)
	}
	defer f.Close()
	var ex []Example
	if ext == ".csv" {
		ex, err = ReadCSV(f)
	} else {
		ex, err = ReadJSONLines(f)
	}
	if err != nil {
		return Dataset{}, fmt.Errorf("load %s: %w", filepath.Base(path), err)
	}
	return Dataset{Name: strings.TrimSuffix(filepath.Base(path), ext), Examples: ex}, nil
}

// Evaluation runs the Scorer over labelled data.
type Evaluation struct {
	// NewCounts returns empty counts for each run (for example spamtest.NewCounts, or a Redis
	// store under a fresh prefix).
	NewCounts func() Counts
	Options   Options
}

// evalUserAgent is the user agent every evaluated comment claims: the data sets carry no request
// metadata, and "missing" would hold every comment. No honeypot, form age, author or history is
// set either, so of the rules only the link count and word lists (if configured) act.
const evalUserAgent = "Mozilla/5.0 (evaluation)"

func (e Evaluation) scorer() (*Scorer, error) {
	return NewScorer(e.NewCounts(), e.Options)
}

func evalInput(x Example) Input { return Input{Body: x.Body, UserAgent: evalUserAgent} }

func trainAll(ctx context.Context, s *Scorer, xs []Example) error {
	for _, x := range xs {
		if err := s.Train(ctx, evalInput(x), x.Spam); err != nil {
			return err
		}
	}
	return nil
}

func scoreAll(ctx context.Context, s *Scorer, xs []Example) (Tally, error) {
	var t Tally
	for _, x := range xs {
		r, err := s.Score(ctx, evalInput(x))
		if err != nil {
			return Tally{}, err
		}
		t.Add(x.Spam, r)
	}
	return t, nil
}

// SplitByClass returns the first share of the spam and the first share of the ham examples (in
// their order) as training data and the rest as test data, so both sides keep the class balance
// and no later comment trains a prediction of an earlier one.
func SplitByClass(xs []Example, share float64) (train, test []Example) {
	var nSpam, nHam int
	for _, x := range xs {
		if x.Spam {
			nSpam++
		} else {
			nHam++
		}
	}
	cutSpam, cutHam := int(math.Round(share*float64(nSpam))), int(math.Round(share*float64(nHam)))
	var seenSpam, seenHam int
	for _, x := range xs {
		var inTrain bool
		if x.Spam {
			inTrain = seenSpam < cutSpam
			seenSpam++
		} else {
			inTrain = seenHam < cutHam
			seenHam++
		}
		if inTrain {
			train = append(train, x)
		} else {
			test = append(test, x)
		}
	}
	return train, test
}

// Split trains on the first share of each class of ds and tests on the rest.
func (e Evaluation) Split(ctx context.Context, ds Dataset, share float64) (Tally, error) {
	s, err := e.scorer()
	if err != nil {
		return Tally{}, err
	}
	train, test := SplitByClass(ds.Examples, share)
	if err := trainAll(ctx, s, train); err != nil {
		return Tally{}, fmt.Errorf("split %s: %w", ds.Name, err)
	}
	return scoreAll(ctx, s, test)
}

// LeaveOneOut trains on all data sets but one and tests on that one, for each in turn.
func (e Evaluation) LeaveOneOut(ctx context.Context, all []Dataset) ([]Tally, error) {
	out, _, err := e.leaveOneOutTallies(ctx, all)
	return out, err
}

// leaveOneOutTallies is LeaveOneOut, and beside it the same counted over the held-out examples
// that have no copy in the training data sets only (see Report.LeaveOneOutNovel).
func (e Evaluation) leaveOneOutTallies(ctx context.Context, all []Dataset) (every, novel []Tally, err error) {
	keys := make([]map[string]bool, len(all)) // the feature keys of each data set
	for i, ds := range all {
		keys[i] = make(map[string]bool, len(ds.Examples))
		for _, x := range ds.Examples {
			keys[i][featureKey(x)] = true
		}
	}
	copied := func(i int, x Example) bool {
		k := featureKey(x)
		for j := range all {
			if j != i && keys[j][k] {
				return true
			}
		}
		return false
	}
	every, novel = make([]Tally, len(all)), make([]Tally, len(all))
	err = e.leaveOneOut(ctx, all, func(i int, x Example, r Result) {
		every[i].Add(x.Spam, r)
		if !copied(i, x) {
			novel[i].Add(x.Spam, r)
		}
	})
	return every, novel, err
}

// featureKey identifies an example by what the classifier sees of it: two comments with the same
// key are copies for the model, even if their spelling, case or spacing differ.
func featureKey(x Example) string { return strings.Join(Features(evalInput(x)), "\x00") }

// Scored is one example's learned score and label.
type Scored struct {
	Score float64
	Spam  bool
}

// LeaveOneOutScores returns the score of every example from a model trained on the other data
// sets, for choosing thresholds (see ChooseThresholds).
func (e Evaluation) LeaveOneOutScores(ctx context.Context, all []Dataset) ([]Scored, error) {
	var out []Scored
	err := e.leaveOneOut(ctx, all, func(_ int, x Example, r Result) { out = append(out, Scored{r.Score, x.Spam}) })
	return out, err
}

func (e Evaluation) leaveOneOut(ctx context.Context, all []Dataset, visit func(i int, x Example, r Result)) error {
	for i, held := range all {
		s, err := e.scorer()
		if err != nil {
			return err
		}
		for j, ds := range all {
			if j != i {
				if err := trainAll(ctx, s, ds.Examples); err != nil {
					return fmt.Errorf("leave out %s: %w", held.Name, err)
				}
			}
		}
		for _, x := range held.Examples {
			r, err := s.Score(ctx, evalInput(x))
			if err != nil {
				return fmt.Errorf("leave out %s: %w", held.Name, err)
			}
			visit(i, x, r)
		}
	}
	return nil
}

// ChooseThresholds returns the hold and spam thresholds that hold the fewest examples while at
// most maxSpamPublished of the spam scores below holdAt (published) and at most maxHamLost of the
// ham scores at or above spamAt (marked spam); load is the share held. Only the scores count:
// holds by rules come on top.
func ChooseThresholds(xs []Scored, maxSpamPublished, maxHamLost float64) (holdAt, spamAt, load float64) {
	var spamScores, hamScores []float64
	for _, x := range xs {
		if x.Spam {
			spamScores = append(spamScores, x.Score)
		} else {
			hamScores = append(hamScores, x.Score)
		}
	}
	if len(spamScores) == 0 || len(hamScores) == 0 {
		return 0.5, 0.5, 0
	}
	slices.Sort(spamScores)
	slices.Sort(hamScores)
	// Allowed counts; the epsilon keeps 0.02·50 = 1 from flooring to 0.
	spamAllowed := int(maxSpamPublished*float64(len(spamScores)) + 1e-9)
	hamAllowed := int(maxHamLost*float64(len(hamScores)) + 1e-9)
	// The highest hold threshold that publishes no more than spamAllowed spam is the score of the
	// next spam up; ties with it are held.
	holdAt = 1
	if spamAllowed < len(spamScores) {
		holdAt = spamScores[spamAllowed]
	}
	// The lowest spam threshold that blocks no more than hamAllowed ham lies just above the next
	// ham down.
	spamAt = 1
	if hamAllowed < len(hamScores) {
		spamAt = min(math.Nextafter(hamScores[len(hamScores)-1-hamAllowed], 2), 1)
	}
	if spamAt < holdAt {
		holdAt = spamAt
	}
	held := 0
	for _, x := range xs {
		if x.Score >= holdAt && x.Score < spamAt {
			held++
		}
	}
	return holdAt, spamAt, ratio(held, len(xs))
}

// Thresholds are a hold and a spam threshold (see Options.HoldAt and SpamAt).
type Thresholds struct {
	HoldAt, SpamAt float64
}

// NestedLeaveOneOut is the leave-one-out protocol with thresholds that never saw the held-out
// data set: for each data set in turn, it chooses the thresholds with ChooseThresholds on the
// leave-one-out scores of the other data sets alone (each of them scored by a model trained on
// the remaining ones), then trains on all the others and decides the held-out set with those
// thresholds. It returns the tally and the thresholds of each rotation. e.Options' thresholds are
// not used.
func (e Evaluation) NestedLeaveOneOut(ctx context.Context, all []Dataset, maxSpamPublished, maxHamLost float64) ([]Tally, []Thresholds, error) {
	tallies := make([]Tally, len(all))
	chosen := make([]Thresholds, len(all))
	for i, held := range all {
		others := slices.Delete(slices.Clone(all), i, i+1)
		scores, err := e.LeaveOneOutScores(ctx, others)
		if err != nil {
			return nil, nil, fmt.Errorf("nested, leave out %s: %w", held.Name, err)
		}
		holdAt, spamAt, _ := ChooseThresholds(scores, maxSpamPublished, maxHamLost)
		// NewScorer wants 0 < holdAt; a score of exactly 0 only comes from underflow.
		th := Thresholds{HoldAt: max(holdAt, math.SmallestNonzeroFloat64), SpamAt: max(spamAt, math.SmallestNonzeroFloat64)}
		opts := e.Options
		// The chosen pair decides the score with a forest and without one alike.
		opts.HoldAt, opts.SpamAt = th.HoldAt, th.SpamAt
		opts.CountsHoldAt, opts.CountsSpamAt = th.HoldAt, th.SpamAt
		s, err := NewScorer(e.NewCounts(), opts)
		if err != nil {
			return nil, nil, err
		}
		for _, ds := range others {
			if err := trainAll(ctx, s, ds.Examples); err != nil {
				return nil, nil, fmt.Errorf("nested, leave out %s: %w", held.Name, err)
			}
		}
		t, err := scoreAll(ctx, s, held.Examples)
		if err != nil {
			return nil, nil, fmt.Errorf("nested, leave out %s: %w", held.Name, err)
		}
		tallies[i], chosen[i] = t, th
	}
	return tallies, chosen, nil
}

// LearningCurve starts untrained and feeds ds in order, as if a moderator decided every comment
// right after it was scored (it is then trained with its label). It returns the quality of each
// of steps equal slices of the data.
func (e Evaluation) LearningCurve(ctx context.Context, ds Dataset, steps int) ([]Tally, error) {
	s, err := e.scorer()
	if err != nil {
		return nil, err
	}
	out := make([]Tally, steps)
	n := len(ds.Examples)
	for i, x := range ds.Examples {
		r, err := s.Score(ctx, evalInput(x))
		if err != nil {
			return nil, fmt.Errorf("learning curve %s: %w", ds.Name, err)
		}
		out[i*steps/n].Add(x.Spam, r)
		if err := s.Train(ctx, evalInput(x), x.Spam); err != nil {
			return nil, fmt.Errorf("learning curve %s: %w", ds.Name, err)
		}
	}
	return out, nil
}

// Report holds the results of the three protocols, one entry per data set, in data set order.
type Report struct {
	Names       []string
	Thresholds  Thresholds // the thresholds the Scorer decided with (its defaults unless set)
	Split       []Tally    // train on the first 70 % of each class, test on the rest
	LeaveOneOut []Tally    // train on the other data sets
	// LeaveOneOutNovel is LeaveOneOut counted over the held-out examples with no copy in the
	// training data sets only: the same spam is often posted under several videos, and a copy is
	// easy for a model that has seen it.
	LeaveOneOutNovel []Tally
	Curves           [][]Tally // learning curve per data set, 10 steps
	// Nested and NestedThresholds, when set (see NestedLeaveOneOut), are the leave-one-out
	// protocol with thresholds chosen without the held-out data set. Run does not fill them.
	Nested           []Tally
	NestedThresholds []Thresholds
}

// SplitShare and CurveSteps are the protocols' fixed parameters.
const (
	SplitShare = 0.7
	CurveSteps = 10
)

// Run runs the three protocols on all.
func (e Evaluation) Run(ctx context.Context, all []Dataset) (Report, error) {
	s, err := e.scorer()
	if err != nil {
		return Report{}, err
	}
	r := Report{Thresholds: Thresholds{HoldAt: s.opts.HoldAt, SpamAt: s.opts.SpamAt}}
	if _, forest := e.NewCounts().(ForestSource); !forest && e.Options.Model == ModelStacked {
		r.Thresholds = Thresholds{HoldAt: s.opts.CountsHoldAt, SpamAt: s.opts.CountsSpamAt}
	}
	for _, ds := range all {
		r.Names = append(r.Names, ds.Name)
		t, err := e.Split(ctx, ds, SplitShare)
		if err != nil {
			return Report{}, err
		}
		r.Split = append(r.Split, t)
		c, err := e.LearningCurve(ctx, ds, CurveSteps)
		if err != nil {
			return Report{}, err
		}
		r.Curves = append(r.Curves, c)
	}
	if r.LeaveOneOut, r.LeaveOneOutNovel, err = e.leaveOneOutTallies(ctx, all); err != nil {
		return Report{}, err
	}
	return r, nil
}

// Mean returns the mean of f over the tallies (the macro average across data sets).
func Mean(ts []Tally, f func(Tally) float64) float64 {
	if len(ts) == 0 {
		return 0
	}
	var s float64
	for _, t := range ts {
		s += f(t)
	}
	return s / float64(len(ts))
}

// table is one printed table of a Report.
type table struct {
	title, first string
	names        []string
	rows         []Tally
	mean         []Tally // when set, a last row with the mean of these
}

// Write prints the report as plain-text tables: percentages with one decimal, MCC with three.
func (r Report) Write(w io.Writer) error {
	var pooled Tally
	for _, t := range r.LeaveOneOut {
		pooled.Merge(t)
	}
	tables := []table{
		{
			title: fmt.Sprintf("(a) per data set: train on the first %.0f%% of each class, test on the rest", 100*SplitShare),
			first: "data set", names: r.Names, rows: r.Split, mean: r.Split,
		},
		{
			title: fmt.Sprintf("(b) leave one data set out: train on the others, test on it (pooled: all predictions together); hold from %.4g, spam from %.4g",
				r.Thresholds.HoldAt, r.Thresholds.SpamAt),
			first: "left out", names: append(slices.Clone(r.Names), "pooled"), rows: append(slices.Clone(r.LeaveOneOut), pooled), mean: r.LeaveOneOut,
		},
	}
	if len(r.LeaveOneOutNovel) == len(r.Names) {
		var pooledNovel Tally
		for _, t := range r.LeaveOneOutNovel {
			pooledNovel.Merge(t)
		}
		tables = append(tables, table{
			title: "(b, without copies) the same, counting only the held-out comments whose features match no training comment's",
			first: "left out", names: append(slices.Clone(r.Names), "pooled"), rows: append(slices.Clone(r.LeaveOneOutNovel), pooledNovel), mean: r.LeaveOneOutNovel,
		})
	}
	if len(r.Nested) == len(r.Names) && len(r.NestedThresholds) == len(r.Names) {
		var pooledNested Tally
		names := slices.Clone(r.Names)
		for i, t := range r.Nested {
			pooledNested.Merge(t)
			names[i] = fmt.Sprintf("%s (hold %.3f, spam %.4f)", names[i], r.NestedThresholds[i].HoldAt, r.NestedThresholds[i].SpamAt)
		}
		tables = append(tables, table{
			title: "(b, nested) leave one data set out, thresholds chosen on the other data sets' leave-one-out scores only",
			first: "left out", names: append(names, "pooled"), rows: append(slices.Clone(r.Nested), pooledNested), mean: r.Nested,
		})
	}
	for i, c := range r.Curves {
		tb := table{title: "(c) learning curve, " + r.Names[i] + ": untrained, each comment scored, then trained with its label", first: "step", rows: c}
		for j := range c {
			tb.names = append(tb.names, fmt.Sprintf("%d-%d%%", 100*j/len(c), 100*(j+1)/len(c)))
		}
		tables = append(tables, tb)
	}
	const legend = "SC: spam caught, BH: ham blocked, Acc, F1 and MCC count a score above 0.5 as spam.\n" +
		"spam published, ham lost (marked spam) and moderator load (share held) use the Scorer's decisions.\n"
	if _, err := io.WriteString(w, legend); err != nil {
		return err
	}
	for _, tb := range tables {
		if err := tb.write(w); err != nil {
			return err
		}
	}
	return nil
}

func (tb table) write(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "\n%s\n", tb.title); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tn\tSC%%\tBH%%\tAcc%%\tF1%%\tMCC\tspam published%%\tham lost%%\tmoderator load%%\t\n", tb.first)
	for i, t := range tb.rows {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.3f\t%.1f\t%.1f\t%.1f\t\n", tb.names[i], t.TP+t.FN+t.FP+t.TN,
			100*t.SpamCaught(), 100*t.HamBlocked(), 100*t.Accuracy(), 100*t.F1(), t.MCC(),
			100*t.SpamPublished(), 100*t.HamLost(), 100*t.ModeratorLoad())
	}
	if tb.mean != nil {
		m := func(f func(Tally) float64) float64 { return Mean(tb.mean, f) }
		fmt.Fprintf(tw, "mean\t\t%.1f\t%.1f\t%.1f\t%.1f\t%.3f\t%.1f\t%.1f\t%.1f\t\n",
			100*m(Tally.SpamCaught), 100*m(Tally.HamBlocked), 100*m(Tally.Accuracy), 100*m(Tally.F1), m(Tally.MCC),
			100*m(Tally.SpamPublished), 100*m(Tally.HamLost), 100*m(Tally.ModeratorLoad))
	}
	return tw.Flush()
}

// fitStack fits ModelStacked's weights and bias on labelled examples, the way the shipped values
// (stackWeights, stackBias) were fitted: it trains the counts on all of them, then computes each
// example's family evidence from the counts without its own contribution (exactly as if it had
// never been trained, so the fit sees evidence as it is for an unseen comment), and fits a
// logistic regression of the labels on the evidence, with the log prior odds as a fixed offset.
func fitStack(xs []Example) (w [numFamilies]float64, bias float64) {
	type doc struct {
		tokens []string
		spam   bool
	}
	counts := make(map[string][2]int64) // [0] spam, [1] ham
	var t Totals
	docs := make([]doc, 0, len(xs))
	for _, x := range xs {
		d := doc{tokens: analyse(x.Body, "", "").tokens, spam: x.Spam}
		docs = append(docs, d)
		class := classIndex(x.Spam)
		if x.Spam {
			t.Spam++
			t.SpamTokens += int64(len(d.tokens))
		} else {
			t.Ham++
			t.HamTokens += int64(len(d.tokens))
		}
		for _, tok := range d.tokens {
			c := counts[tok]
			c[class]++
			counts[tok] = c
		}
	}
	t.Vocabulary = int64(len(counts))

	rows := make([][]float64, len(docs)) // evidence, then 1 for the bias
	offsets := make([]float64, len(docs))
	labels := make([]float64, len(docs))
	for i, d := range docs {
		class := classIndex(d.spam)
		own := t
		spamCounts := make([]int64, len(d.tokens))
		hamCounts := make([]int64, len(d.tokens))
		for j, tok := range d.tokens {
			c := counts[tok]
			c[class]--
			spamCounts[j], hamCounts[j] = c[0], c[1]
			if c == [2]int64{} {
				own.Vocabulary--
			}
		}
		if d.spam {
			own.Spam--
			own.SpamTokens -= int64(len(d.tokens))
		} else {
			own.Ham--
			own.HamTokens -= int64(len(d.tokens))
		}
		x, prior, _ := stackEvidence(d.tokens, spamCounts, hamCounts, own)
		rows[i] = append(x[:], 1)
		offsets[i] = prior
		if d.spam {
			labels[i] = 1
		}
	}
	beta := fitLogistic(rows, offsets, labels)
	copy(w[:], beta[:numFamilies])
	return w, beta[numFamilies]
}

func classIndex(isSpam bool) int {
	if isSpam {
		return 0
	}
	return 1
}

// fitLogistic fits P(y=1) = σ(offset + β·x) by Newton's method (iteratively reweighted least
// squares), with a tiny ridge penalty (in the gradient and the Hessian alike) that keeps the
// normal equations solvable when a family never occurs. Every row
// has the same length, the number of coefficients; the model's fit has numFamilies + 1 (the
// evidence, then 1 for the bias), the variant harness (build tag spamvariants) more.
func fitLogistic(rows [][]float64, offsets, labels []float64) []float64 {
	k := len(rows[0])
	beta := make([]float64, k)
	for range 100 {
		grad := make([]float64, k)
		hess := make([][]float64, k)
		for j := range hess {
			hess[j] = make([]float64, k)
		}
		for i, x := range rows {
			z := offsets[i]
			for j := range k {
				z += beta[j] * x[j]
			}
			p := 1 / (1 + math.Exp(-z))
			for j := range k {
				grad[j] += (labels[i] - p) * x[j]
				for l := range k {
					hess[j][l] += p * (1 - p) * x[j] * x[l]
				}
			}
		}
		for j := range k {
			hess[j][j] += 1e-6
			grad[j] -= 1e-6 * beta[j]
		}
		step := solve(hess, grad)
		var change float64
		for j := range k {
			beta[j] += step[j]
			change = max(change, math.Abs(step[j]))
		}
		if change < 1e-10 {
			break
		}
	}
	return beta
}

// solve solves a·x = b by Gaussian elimination with partial pivoting, in place; a is positive
// definite here.
func solve(a [][]float64, b []float64) []float64 {
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
