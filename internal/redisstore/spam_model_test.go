package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

var (
	trainSpamBodies = []string{
		"win a free iphone now, click my profile link",
		"free gift cards for everyone, click now",
		"click the link for free money today",
		"cheap followers, click my profile link now",
	}
	trainHamBodies = []string{
		"the minister's figures in the third paragraph do not add up",
		"a thoughtful piece on the council budget, thank you",
		"the interview with the mayor was fair and balanced",
	}
)

// labelled turns bodies into training examples.
func labelled(bodies []string, isSpam bool) []spam.Labelled {
	out := make([]spam.Labelled, len(bodies))
	for i, b := range bodies {
		out[i] = spam.Labelled{Tokens: spam.Features(spam.Input{Body: b}), Spam: isSpam}
	}
	return out
}

// allTokens returns every token of the bodies, sorted, without repeats.
func allTokens(bodies ...[]string) []string {
	var out []string
	for _, bs := range bodies {
		for _, b := range bs {
			out = append(out, spam.Features(spam.Input{Body: b})...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// countsOf reads every token's counts and the totals from c.
type countsView struct {
	Spam, Ham []int64
	Totals    spam.Totals
}

func countsOf(t *testing.T, c spam.Counts, tokens []string) countsView {
	t.Helper()
	// Stale values in the caller's slices must be overwritten.
	s, h := slices.Repeat([]int64{-1}, len(tokens)), slices.Repeat([]int64{-1}, len(tokens))
	tot, err := c.TokenCounts(context.Background(), tokens, s, h)
	if err != nil {
		t.Fatalf("called TokenCounts(%d tokens), got error %v", len(tokens), err)
	}
	return countsView{s, h, tot}
}

// TestTrainModelMatchesReference trains a model in Redis and the in-memory reference with the same
// steps, including untraining past zero, and compares every count and total.
func TestTrainModelMatchesReference(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"", "eval-1"} {
		t.Run("model "+model, func(t *testing.T) {
			ts := newTestStore(t)
			ctx := context.Background()
			ref := spamtest.NewCounts()
			redis := ts.ModelCounts(model)

			steps := []struct {
				name   string
				bodies []string
				spam   bool
				delta  int64
			}{
				{"spam", trainSpamBodies, true, 1},
				{"ham", trainHamBodies, false, 1},
				{"untrain one spam", trainSpamBodies[:1], true, -1},
				{"untrain a ham twice", append(trainHamBodies[:1:1], trainHamBodies[0]), false, -1},
				{"untrain what was never trained", []string{"nothing like the others at all"}, true, -1},
			}
			tokens := allTokens(trainSpamBodies, trainHamBodies, []string{"nothing like the others at all"})
			for _, st := range steps {
				for _, b := range st.bodies {
					toks := spam.Features(spam.Input{Body: b})
					ref.Train(ctx, toks, st.spam, st.delta)
					if st.delta > 0 {
						if _, err := ts.TrainModel(ctx, model, "", []spam.Labelled{{Tokens: toks, Spam: st.spam}}); err != nil {
							t.Fatalf("called TrainModel(%q) for step %s, got error %v", model, st.name, err)
						}
					} else if err := redis.Train(ctx, toks, st.spam, st.delta); err != nil {
						t.Fatalf("called Train(delta %d) for step %s, got error %v", st.delta, st.name, err)
					}
				}
				if diff := cmp.Diff(countsOf(t, ref, tokens), countsOf(t, redis, tokens)); diff != "" {
					t.Fatalf("after step %s, Redis differs from the reference counts (-ref +redis):\n%s", st.name, diff)
				}
			}
		})
	}
}

// severalSteps returns enough distinct examples for several training steps of spamStepTokens token
// occurrences, their bodies starting with word; every spamEvery-th one is spam.
func severalSteps(word string, spamEvery int) []spam.Labelled {
	var xs []spam.Labelled
	for i := 0; len(xs)*10 < 3*spamStepTokens; i++ {
		body := fmt.Sprintf("%s number %d with a few words in it w%d x%d", word, i, i, i*7)
		xs = append(xs, spam.Labelled{Tokens: spam.Features(spam.Input{Body: body}), Spam: i%spamEvery == 0})
	}
	return xs
}

func TestTrainModelSplitsBigCalls(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	xs := severalSteps("example", 2)
	if _, err := ts.TrainModel(ctx, "big", "", xs); err != nil {
		t.Fatalf("called TrainModel(%d examples), got error %v", len(xs), err)
	}
	got := countsOf(t, ts.ModelCounts("big"), []string{"example"}).Totals
	if int(got.Spam+got.Ham) != len(xs) {
		t.Errorf("called TrainModel(%d examples), got %d spam + %d ham trained, want all of them", len(xs), got.Spam, got.Ham)
	}
}

func TestScratchModelLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	if _, err := ts.ModelCounts("eval-x").TokenCounts(ctx, []string{"a"}, make([]int64, 1), make([]int64, 1)); !errors.Is(err, spam.ErrModelNotFound) {
		t.Fatalf("called TokenCounts on a model never trained, got %v, want ErrModelNotFound", err)
	}
	if _, err := ts.TrainModel(ctx, "eval-x", "", labelled(trainSpamBodies, true)); err != nil {
		t.Fatalf("called TrainModel(eval-x), got error %v", err)
	}
	for _, k := range []string{ts.keys.spamCounts("eval-x"), ts.keys.spamTotals("eval-x")} {
		ttl, err := ts.rdb.TTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > scratchModelTTL*time.Second {
			t.Errorf("called TTL %s on a scratch model's key, got %v, %v; want a TTL up to %ds", k, ttl, err, scratchModelTTL)
		}
	}
	if n, err := ts.rdb.Exists(ctx, ts.keys.spamStream("eval-x"), ts.keys.spamStream("")).Result(); err != nil || n != 0 {
		t.Errorf("called EXISTS on the change streams after training a scratch model, got %d, %v; want none (scratch models are not mirrored)", n, err)
	}
	if err := ts.DeleteModel(ctx, "eval-x"); err != nil {
		t.Fatalf("called DeleteModel(eval-x), got error %v", err)
	}
	if err := ts.DeleteModel(ctx, "eval-x"); !errors.Is(err, spam.ErrModelNotFound) {
		t.Errorf("called DeleteModel(eval-x) twice, got %v, want ErrModelNotFound", err)
	}
	if keys := scanKeys(t, ts.rdb, ts.keys.spamModelTag("eval-x")); len(keys) != 0 {
		// Batch markers expire on their own within a minute; counts and totals must be gone.
		for _, k := range keys {
			if k == ts.keys.spamCounts("eval-x") || k == ts.keys.spamTotals("eval-x") {
				t.Errorf("after DeleteModel, key %s is still there", k)
			}
		}
	}
	if err := ts.DeleteModel(ctx, ""); err == nil {
		t.Errorf("called DeleteModel(site model), got nil, want a refusal")
	}
}

// TestTrainStepResentOnce runs the same batch step twice, as go-redis does when a reply is lost:
// the second run must change nothing.
func TestTrainStepResentOnce(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys, args := ts.modelArgs("eval-r", "batch", "fixed-mark")
	args = append(args, spamBatchMarkTTL, "call-token", "s", 1, 2, "free", "money")
	for i := range 2 {
		if err := spamTrainScript.Run(ctx, ts.rdb, keys, args...).Err(); err != nil {
			t.Fatalf("run %d of the same training step, got error %v", i+1, err)
		}
	}
	got := countsOf(t, ts.ModelCounts("eval-r"), []string{"free", "money"})
	want := countsView{Spam: []int64{1, 1}, Ham: []int64{0, 0}, Totals: spam.Totals{Spam: 1, SpamTokens: 2, Vocabulary: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after running one training step twice, got counts diff (-want +got):\n%s", diff)
	}
}

// failAfterScripts lets pass script calls (EVALSHA or EVAL) succeed and fails the next one before
// it reaches Redis, as a connection lost mid-call would; every other command passes. A failed
// EVALSHA (NOSCRIPT, then retried as EVAL) does not count. pass < 0 lets everything through.
type failAfterScripts struct {
	pass, ok int
	failed   bool
}

func (f *failAfterScripts) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failAfterScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		name := cmd.Name()
		if name != "evalsha" && name != "eval" {
			return next(ctx, cmd)
		}
		if f.pass >= 0 && f.ok == f.pass && !f.failed {
			f.failed = true
			err := errors.New("connection lost (injected)")
			cmd.SetErr(err)
			return err
		}
		err := next(ctx, cmd)
		if err == nil {
			f.ok++
		}
		return err
	}
}

func (f *failAfterScripts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A training call with a request id that failed after its first step, sent again, trains every
// example exactly once; the same id with other examples trains those.
func TestTrainModelRequestIDResend(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	xs := severalSteps("resent", 3)
	totals := func() int64 {
		t.Helper()
		got := countsOf(t, ts.ModelCounts("resend"), []string{"resent"}).Totals
		return got.Spam + got.Ham
	}

	fail := &failAfterScripts{pass: 1}
	ts.rdb.AddHook(fail)
	if repeated, err := ts.TrainModel(ctx, "resend", "req-1", xs); err == nil || repeated != 0 {
		t.Fatalf("called TrainModel with its second step failing, got %d repeated and error %v; want 0 and an error", repeated, err)
	}
	partial := totals()
	if partial == 0 || partial >= int64(len(xs)) {
		t.Fatalf("after a call that failed at its second step, got %d of %d examples trained; want the first step's only", partial, len(xs))
	}

	repeated, err := ts.TrainModel(ctx, "resend", "req-1", xs)
	if err != nil {
		t.Fatalf("called TrainModel again with the same request id, got error %v", err)
	}
	if got := totals(); got != int64(len(xs)) || int64(repeated) != partial {
		t.Errorf("after resending the failed call, got %d examples trained and %d reported repeated, want %d (each once) and %d", got, repeated, len(xs), partial)
	}
	repeated, err = ts.TrainModel(ctx, "resend", "req-1", xs)
	if err != nil {
		t.Fatalf("called TrainModel a third time, got error %v", err)
	}
	if got := totals(); got != int64(len(xs)) || repeated != len(xs) {
		t.Errorf("after a third send of a completed call, got %d examples trained and %d reported repeated, want %d and %d", got, repeated, len(xs), len(xs))
	}

	other := xs[:2]
	other = []spam.Labelled{{Tokens: append(slices.Clone(other[0].Tokens), "w:another"), Spam: true}}
	if _, err := ts.TrainModel(ctx, "resend", "req-1", other); err != nil {
		t.Fatalf("called TrainModel with the same request id and other examples, got error %v", err)
	}
	if got := totals(); got != int64(len(xs))+1 {
		t.Errorf("after reusing the request id for another example, got %d examples trained, want %d", got, len(xs)+1)
	}
	flipped := []spam.Labelled{{Tokens: xs[0].Tokens, Spam: !xs[0].Spam}}
	for _, x := range [][]spam.Labelled{xs[:1], flipped} {
		if _, err := ts.TrainModel(ctx, "resend", "req-2", x); err != nil {
			t.Fatalf("called TrainModel(req-2), got error %v", err)
		}
	}
	if got := totals(); got != int64(len(xs))+3 {
		t.Errorf("after one example and the same with the other label under one request id, got %d examples trained, want %d", got, len(xs)+3)
	}
	if _, err := ts.TrainModel(ctx, "resend", "", xs[:1]); err != nil {
		t.Fatalf("called TrainModel without a request id, got error %v", err)
	}
	if _, err := ts.TrainModel(ctx, "resend", "", xs[:1]); err != nil {
		t.Fatalf("called TrainModel without a request id again, got error %v", err)
	}
	if got := totals(); got != int64(len(xs))+5 {
		t.Errorf("after two calls without a request id, got %d examples trained, want %d (each call trains)", got, len(xs)+5)
	}
}

// A model deleted and trained again under the same request id is trained, every step of it: the
// marks of the deleted model do not make the new training a repeat. A scratch model is deleted
// with DeleteModel; the site's model by deleting its keys, as docs/SPAM.md tells operators to.
func TestTrainModelRequestIDAfterDelete(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	xs := severalSteps("again", 3)
	tests := []struct {
		name, model string
		remove      func() error
	}{
		{"scratch model", "eval-again", func() error { return ts.DeleteModel(ctx, "eval-again") }},
		{"site model", "", func() error {
			k := ts.keys
			return ts.rdb.Del(ctx, k.spamCounts(""), k.spamTotals(""), k.spamLabels(""), k.spamStream("")).Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ts.TrainModel(ctx, tt.model, "req-1", xs); err != nil {
				t.Fatalf("called TrainModel(%q), got error %v", tt.model, err)
			}
			if err := tt.remove(); err != nil {
				t.Fatalf("deleting model %q: %v", tt.model, err)
			}
			repeated, err := ts.TrainModel(ctx, tt.model, "req-1", xs)
			if err != nil || repeated != 0 {
				t.Fatalf("called TrainModel(%q) again after deleting it, with the same request id, got %d repeated and error %v; want 0 and nil", tt.model, repeated, err)
			}
			got := countsOf(t, ts.ModelCounts(tt.model), []string{"again"}).Totals
			if int(got.Spam+got.Ham) != len(xs) {
				t.Errorf("after training deleted model %q again with %d examples, got %d spam + %d ham trained, want all of them", tt.model, len(xs), got.Spam, got.Ham)
			}
			// The new model's marks hold: a resend of the same call is still a repeat.
			repeated, err = ts.TrainModel(ctx, tt.model, "req-1", xs)
			if err != nil || repeated != len(xs) {
				t.Errorf("called TrainModel(%q) a third time with the same request id, got %d repeated and error %v; want %d and nil", tt.model, repeated, err, len(xs))
			}
		})
	}
}

// BenchmarkModelMemory measures the largest a site's model can grow in Redis: it trains every
// feature the tokeniser can make (spam.FeatureKinds: every bucket of every kind counted by bucket;
// the 28,737 tokens of finite kinds, 1.3% of the bound, are left out) once as spam and once as ham
// into a new redis-server of its own, and reports the counts hash's size (MEMORY USAGE) and Redis's
// whole used_memory per feature. The timing is of no interest.
//
//	go test -run XXX -bench BenchmarkModelMemory -benchtime 1x ./internal/redisstore/
func BenchmarkModelMemory(b *testing.B) {
	for range b.N {
		s, rdb := storeOfItsOwnRedis(b)
		ctx := context.Background()
		before := usedMemory(b, rdb)
		var features int
		var batch []string
		flush := func() {
			if len(batch) == 0 {
				return
			}
			if _, err := s.TrainModel(ctx, "", "", []spam.Labelled{{Tokens: batch, Spam: true}, {Tokens: batch}}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		for _, kind := range spam.FeatureKinds() {
			digits := int(kind.Bits+3) / 4
			for bucket := range 1 << kind.Bits {
				batch = append(batch, fmt.Sprintf("%s%0*x", kind.Prefix, digits, bucket))
				features++
				if len(batch) == spamStepTokens/2 {
					flush()
				}
			}
		}
		flush()
		// The two examples the batches made are no part of what the counts take; examples are
		// bounded on their own (BenchmarkExampleMemory).
		if err := rdb.Unlink(ctx, s.keys.spamExamples(""), s.keys.spamExampleOrder("")).Err(); err != nil {
			b.Fatal(err)
		}
		hash, err := rdb.MemoryUsage(ctx, s.keys.spamCounts(""), 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(features), "features")
		b.ReportMetric(float64(hash)/float64(features), "counts-B/feature")
		b.ReportMetric(float64(usedMemory(b, rdb)-before)/float64(features), "redis-B/feature")
	}
}

// BenchmarkExampleMemory measures what the site model's examples (the forest's training set) take
// in Redis at their bound, spamMaxExamples: it trains that many distinct comments of 10 to 80
// words (drawn from 5,000 made-up words, so most word pairs are new, as in real comments) into a
// new redis-server of its own, and reports the examples' hash and order set (MEMORY USAGE) per
// example and in all. The timing is of no interest.
//
//	go test -run XXX -bench BenchmarkExampleMemory -benchtime 1x ./internal/redisstore/
func BenchmarkExampleMemory(b *testing.B) {
	for range b.N {
		s, rdb := storeOfItsOwnRedis(b)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		var batch []spam.Labelled
		var tokens int
		for i := range spamMaxExamples {
			words := make([]string, 10+rng.IntN(71))
			for j := range words {
				words[j] = fmt.Sprintf("w%d", rng.IntN(5000))
			}
			toks := spam.Features(spam.Input{Body: strings.Join(words, " ")})
			tokens += len(spam.ForestTokens(toks))
			batch = append(batch, spam.Labelled{Tokens: toks, Spam: i%2 == 0})
			if len(batch) == 100 {
				if _, err := s.TrainModel(ctx, "", "", batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		var total int64
		for _, key := range []string{s.keys.spamExamples(""), s.keys.spamExampleOrder("")} {
			n, err := rdb.MemoryUsage(ctx, key, 0).Result()
			if err != nil {
				b.Fatal(err)
			}
			total += n
		}
		b.ReportMetric(float64(tokens)/spamMaxExamples, "tokens/example")
		b.ReportMetric(float64(total)/spamMaxExamples, "B/example")
		b.ReportMetric(float64(total)/(1<<20), "MiB")
	}
}

func usedMemory(tb testing.TB, rdb redis.UniversalClient) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("INFO memory has no used_memory")
	return 0
}

// TestEarlierSiteModels: a site model trained under an earlier feature version is listed with its
// training, so commentd can say at start why the current model is empty; the current version's
// model and an empty earlier one are not.
func TestEarlierSiteModels(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	if got, err := ts.EarlierSiteModels(ctx); err != nil || len(got) != 0 {
		t.Fatalf("EarlierSiteModels on an empty Redis = %v, %v; want none", got, err)
	}
	if spam.FeatureVersion < 3 {
		t.Fatalf("spam.FeatureVersion = %d: the test needs two earlier versions", spam.FeatureVersion)
	}
	old := spam.FeatureVersion - 1
	if err := ts.rdb.HSet(ctx, ts.keys.siteModelTotalsAt(old), "spam", 3, "ham", 5, "seq", 8).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ts.rdb.HSet(ctx, ts.keys.siteModelTotalsAt(old-1), "spam", 0, "ham", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.TrainModel(ctx, "", "", []spam.Labelled{{Tokens: []string{"cash"}, Spam: true}}); err != nil {
		t.Fatal(err)
	}
	got, err := ts.EarlierSiteModels(ctx)
	if err != nil {
		t.Fatalf("EarlierSiteModels = %v", err)
	}
	if want := []EarlierSiteModel{{FeatureVersion: old, Spam: 3, Ham: 5}}; !slices.Equal(got, want) {
		t.Errorf("EarlierSiteModels = %+v, want %+v", got, want)
	}
}
