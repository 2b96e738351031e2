package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/commentd/commentd/internal/spam"
)

// A spam model's forest (spam.Forest) is fitted from the examples the model was trained with,
// which spam_train.lua keeps beside the counts (M:e, M:o). Every server fits its own from the same
// examples; the fit is deterministic, so they all score alike. The site's is fitted by SpamForest
// in the background, a scratch model's when it is first scored after a change.

var _ spam.ForestSource = (*modelCounts)(nil)

// ModelExamples returns the examples model ("" for the site's) keeps for its forest, in no
// particular order. It reads them with HSCAN, a page at a time, so Redis is never busy long with
// one call; an example trained or undone during the read may be seen as it was before, which the
// next fit after that change corrects.
func (s *Store) ModelExamples(ctx context.Context, model string) ([]spam.ForestExample, error) {
	key := s.keys.spamExamples(model)
	counts := make(map[string]int64)
	bodies := make(map[string]string)
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, key, cursor, "", 1000).Result()
		if err != nil {
			return nil, storeError("read spam examples", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			field, value := kv[i], kv[i+1]
			switch {
			case strings.HasPrefix(field, "n:"):
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("redisstore: read spam examples: %w: count %q", errCorrupt, value)
				}
				counts[field[2:]] = n
			case strings.HasPrefix(field, "t:"):
				bodies[field[2:]] = value
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	out := make([]spam.ForestExample, 0, len(bodies))
	for id, body := range bodies {
		n := counts[id]
		if n <= 0 {
			continue // read between the two fields' removal
		}
		class, toks, _ := strings.Cut(body, " ")
		out = append(out, spam.ForestExample{Tokens: strings.Fields(toks), Spam: class == "s", Count: n})
	}
	return out, nil
}

// forestCache holds the forests of a few scratch models, each with the change number it was
// fitted at. Evaluations score one model many times between trainings: one fit serves them all.
type forestCache struct {
	mu      sync.Mutex
	forests map[string]cachedForest
}

type cachedForest struct {
	// gen and seq name the model's state the forest was fitted at: seq alone does not, as a
	// model deleted (or expired) and trained again counts its changes from 1 again, under a new
	// gen (spam_train.lua).
	gen    string
	seq    int64
	forest *spam.Forest
}

// maxCachedForests bounds forestCache: a scratch model is an evaluation's, and few run at once.
const maxCachedForests = 4

// Forest implements spam.ForestSource for a scratch model: the forest of its examples, fitted again
// when the model changed since (or was deleted and made again). One round trip when it did not.
func (c *modelCounts) Forest(ctx context.Context) (*spam.Forest, error) {
	vals, err := c.s.rdb.HMGet(ctx, c.s.keys.spamTotals(c.model), "seq", "gen").Result()
	if err != nil {
		return nil, storeError("read spam model", err)
	}
	if vals[0] == nil {
		return nil, nil // never trained: TokenCounts says so
	}
	seqText, _ := vals[0].(string)
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redisstore: read spam model: %w: seq %q", errCorrupt, seqText)
	}
	gen, _ := vals[1].(string) // "" for a model made before gen existed
	fc := &c.s.scratchForests
	// Held while fitting: concurrent scorers of a changed model wait for one fit instead of each
	// making their own.
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f, ok := fc.forests[c.model]; ok && f.gen == gen && f.seq == seq {
		return f.forest, nil
	}
	xs, err := c.s.ModelExamples(ctx, c.model)
	if err != nil {
		return nil, err
	}
	f := spam.FitForest(xs)
	if fc.forests == nil {
		fc.forests = make(map[string]cachedForest)
	}
	if _, ok := fc.forests[c.model]; !ok && len(fc.forests) >= maxCachedForests {
		for m := range fc.forests {
			delete(fc.forests, m) // any one: the others are as likely to be scored again
			break
		}
	}
	fc.forests[c.model] = cachedForest{gen: gen, seq: seq, forest: f}
	return f, nil
}

// SpamForest fits the site model's forest on this server: once at Load, then in Run whenever the
// model changed and Every has passed since the last fit, or at once (within forestPoll) while there
// is no forest, so a new or upgraded model gets its forest as soon as it has the examples. Between
// fits a decision reaches the counts at once and the forest at the next fit.
type SpamForest struct {
	s      *Store
	m      *SpamMirror
	every  time.Duration
	log    *slog.Logger
	fitted int64     // the copy's change number at the last fit; -1 before the first
	at     time.Time // when the last fit began
}

// SpamForestOptions configures a SpamForest.
type SpamForestOptions struct {
	// Every is the least time between two fits (default forestRefitEvery): each reads every
	// example from Redis and costs CPU on every server.
	Every  time.Duration
	Logger *slog.Logger // may be nil: no logs
}

// forestRefitEvery is SpamForestOptions.Every's default.
const forestRefitEvery = 30 * time.Second

// NewSpamForest returns the fitter of m's forest.
func NewSpamForest(s *Store, m *SpamMirror, opts SpamForestOptions) *SpamForest {
	f := &SpamForest{s: s, m: m, every: opts.Every, log: opts.Logger, fitted: -1}
	if f.every <= 0 {
		f.every = forestRefitEvery
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f
}

// forestPoll is how often Run looks whether the model changed since the last fit.
const forestPoll = time.Second

// Load fits the forest now.
func (f *SpamForest) Load(ctx context.Context) error {
	seq := f.m.mirror.Seq()
	start := time.Now()
	f.at = start
	xs, err := f.s.ModelExamples(ctx, "")
	if err != nil {
		return err
	}
	forest := spam.FitForest(xs)
	f.m.forest.Store(forest)
	f.fitted = seq
	if forest != nil {
		examples, tokens, nodes := forest.Size()
		f.log.DebugContext(ctx, "spam forest fitted", "examples", examples, "tokens", tokens, "nodes", nodes,
			"took", time.Since(start).Round(time.Millisecond).String(), "model_changes", seq)
	}
	return nil
}

// Examples returns how many distinct examples the forest in use was fitted from; 0 while there is
// none (the counts then decide alone).
func (f *SpamForest) Examples() int {
	forest := f.m.forest.Load()
	if forest == nil {
		return 0
	}
	n, _, _ := forest.Size()
	return n
}

// Run fits the forest again when the model changed and Every has passed since the last fit, until
// ctx ends. A failed read is logged once per outage; the forest in use stays.
func (f *SpamForest) Run(ctx context.Context) {
	t := time.NewTicker(min(forestPoll, f.every))
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if f.m.mirror.Seq() == f.fitted || f.m.forest.Load() != nil && time.Since(f.at) < f.every {
			continue
		}
		if err := f.Load(ctx); err != nil {
			if !failing && ctx.Err() == nil {
				f.log.WarnContext(ctx, "spam forest not fitted again; keeping the one in use", "error", err.Error())
			}
			failing = true
			continue
		}
		if failing {
			f.log.InfoContext(ctx, "spam forest fitted again")
			failing = false
		}
	}
}
