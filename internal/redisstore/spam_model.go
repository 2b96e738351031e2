package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/spam"
)

// Spam models (spam.ModelStore, spam.Lessons). Every training step is one run of spam_train.lua:
// atomic, so concurrent training from many servers needs no locking, and safe to resend, so the
// client's retries never count twice. The site's model also appends each change to its stream,
// which every server's SpamMirror applies; a scratch model (for evaluations) is read directly and
// expires unless trained again.

var (
	//go:embed spam_train.lua
	spamTrainSrc    string
	spamTrainScript = redis.NewScript(spamTrainSrc)
	//go:embed spam_delete.lua
	spamDeleteSrc    string
	spamDeleteScript = redis.NewScript(spamDeleteSrc)
)

var (
	_ spam.ModelStore = (*Store)(nil)
	_ spam.Lessons    = (*Store)(nil)
	_ spam.Counts     = (*modelCounts)(nil)
)

// spamStepTokens bounds the token occurrences of one training step, so that one script call keeps
// Redis busy for milliseconds, not for the whole of a 1,000-example call.
const spamStepTokens = 5000

// modelArgs returns the script's keys and its ARGV[1..4] for model in mode.
func (s *Store) modelArgs(model, mode, markID string) (keys []string, args []any) {
	k := s.keys
	mark := k.spamBatchMark(model, "-")
	if markID != "" {
		mark = k.spamBatchMark(model, markID)
	}
	keys = []string{k.spamCounts(model), k.spamTotals(model), k.spamLabels(model), k.spamStream(model), mark,
		k.spamExamples(model), k.spamExampleOrder(model)}
	streamLen, ttl := spamStreamLen, 0
	if model != "" {
		streamLen, ttl = 0, scratchModelTTL
	}
	return keys, []any{mode, streamLen, ttl, s.maxExamples}
}

// TrainModel trains examples into model ("" for the site's) in steps of at most spamStepTokens
// token occurrences. Each step is atomic and marked, so one the Redis client resends is applied
// once; a call that fails part way has applied its first steps. Without a requestID a step's mark
// is random and short-lived. With one, the mark is derived from the request id, the step's place
// and its content and kept for trainRequestMarkTTL, so the same call sent again skips the steps
// that were applied and applies the rest. It returns how many examples were in steps found applied
// already.
func (s *Store) TrainModel(ctx context.Context, model, requestID string, examples []spam.Labelled) (repeated int, err error) {
	for step := 0; len(examples) > 0; step++ {
		n, size := 0, 0
		for n < len(examples) && (n == 0 || size+len(examples[n].Tokens) <= spamStepTokens) {
			size += len(examples[n].Tokens)
			n++
		}
		groups := make([]trainGroup, n)
		for i, x := range examples[:n] {
			groups[i] = trainGroup{tokens: x.Tokens, spam: x.Spam, delta: 1}
		}
		mark, ttl := newMarkID(), spamBatchMarkTTL
		if requestID != "" {
			mark, ttl = requestMarkID(requestID, step, groups), trainRequestMarkTTL
		}
		applied, err := s.trainStep(ctx, model, mark, ttl, groups)
		if err != nil {
			return repeated, err
		}
		if !applied {
			repeated += n
		}
		examples = examples[n:]
	}
	return repeated, nil
}

type trainGroup struct {
	tokens []string
	spam   bool
	delta  int64
}

// trainStep runs one batch-mode step under mark, which lives ttl seconds once set. applied is
// false when the mark was there already.
func (s *Store) trainStep(ctx context.Context, model, mark string, ttl int, groups []trainGroup) (applied bool, err error) {
	keys, args := s.modelArgs(model, "batch", mark)
	// The call's token tells the script a resend of this call from a later call under the same mark.
	args = append(args, ttl, newMarkID())
	for _, g := range groups {
		class := "h"
		if g.spam {
			class = "s"
		}
		args = append(args, class, g.delta, len(g.tokens))
		for _, t := range g.tokens {
			args = append(args, t)
		}
	}
	n, err := spamTrainScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, storeError("train spam model", err)
	}
	return n == 1, nil
}

// requestMarkID returns the mark of a step of a training call with a request id: a hash of the id,
// the step's place in the call and its examples, so a resend of the same call finds the marks of
// the steps the first one applied, and a call that reuses the id for other examples does not.
func requestMarkID(requestID string, step int, groups []trainGroup) string {
	h := sha256.New()
	var num [8]byte
	binary.BigEndian.PutUint64(num[:], uint64(len(requestID)))
	h.Write(num[:])
	h.Write([]byte(requestID))
	binary.BigEndian.PutUint64(num[:], uint64(step))
	h.Write(num[:])
	for _, g := range groups {
		class := byte('h')
		if g.spam {
			class = 's'
		}
		binary.BigEndian.PutUint64(num[:], uint64(len(g.tokens)))
		h.Write([]byte{class})
		h.Write(num[:])
		for _, t := range g.tokens {
			binary.BigEndian.PutUint64(num[:], uint64(len(t)))
			h.Write(num[:])
			h.Write([]byte(t))
		}
	}
	return "r" + hex.EncodeToString(h.Sum(nil)[:16])
}

// newMarkID returns 96 random bits in hex.
func newMarkID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand panics itself if the system source does)
	return hex.EncodeToString(b[:])
}

// Learn implements spam.Lessons: the comment's label in the site's model (one script on the
// model's slot), then its outcome in the author's record (one script on the author's slot). Each
// is idempotent, so a Learn that failed between the two is completed by its retry. Two round trips,
// off the submission path.
func (s *Store) Learn(ctx context.Context, l spam.Lesson) error {
	label := ""
	switch l.Label {
	case spam.LabelSpam:
		label = "s"
	case spam.LabelHam:
		label = "h"
	}
	keys, args := s.modelArgs("", "label", "")
	args = append(args, l.CommentID, label, len(l.Tokens))
	for _, t := range l.Tokens {
		args = append(args, t)
	}
	for _, t := range l.Anonymised {
		args = append(args, t)
	}
	n, err := spamTrainScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return storeError("learn from decision", err)
	}
	if n == 2 || l.AuthorKey == "" {
		// 2: an erasure request reached the comment, so the lesson's author key is one the erasure
		// deleted the record of (the decision read the comment before it); it is not brought back.
		return nil
	}
	// An erasure may run whole between the two steps and delete the author's record before the
	// outcome reaches it: the fence it leaves refuses the outcome (history_record.lua).
	return s.recordOutcome(ctx, l.AuthorKey, l.CommentID, l.Outcome)
}

// Refeature implements spam.Lessons: what comment id's label taught the site's model moves from
// the tokens from to the tokens to, in one script call on the model's slot, and the label records
// that it did, so a resent call (or an erasure repeated after a failure) moves nothing twice.
func (s *Store) Refeature(ctx context.Context, id string, from, to []string) error {
	keys, args := s.modelArgs("", "refeature", "")
	args = append(args, id, len(from))
	for _, t := range from {
		args = append(args, t)
	}
	for _, t := range to {
		args = append(args, t)
	}
	if err := spamTrainScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return storeError("move what a comment taught", err)
	}
	return nil
}

// ModelCounts implements spam.ModelStore: the counts of a scratch model, read from Redis on every
// call.
func (s *Store) ModelCounts(model string) spam.Counts {
	return &modelCounts{s: s, model: model}
}

// modelCounts reads a model's counts straight from Redis: one round trip per TokenCounts.
type modelCounts struct {
	s     *Store
	model string
}

// totalFields are the totals fields in the order TokenCounts reads them.
var totalFields = []string{"spam", "ham", "spam_tokens", "ham_tokens", "vocab", "seq"}

func (c *modelCounts) TokenCounts(ctx context.Context, tokens []string, spamCounts, hamCounts []int64) (spam.Totals, error) {
	fields := make([]string, 0, 2*len(tokens))
	for _, t := range tokens {
		fields = append(fields, "s:"+t, "h:"+t)
	}
	var countsCmd, totalsCmd *redis.SliceCmd
	_, err := c.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		totalsCmd = p.HMGet(ctx, c.s.keys.spamTotals(c.model), totalFields...)
		if len(fields) > 0 {
			countsCmd = p.HMGet(ctx, c.s.keys.spamCounts(c.model), fields...)
		}
		return nil
	})
	if err != nil {
		return spam.Totals{}, storeError("read spam model", err)
	}
	tv := totalsCmd.Val()
	if tv[len(tv)-1] == nil && c.model != "" {
		// Every training step sets "seq": a scratch model without it was never trained (the
		// site's model always exists, empty until trained).
		return spam.Totals{}, fmt.Errorf("redisstore: read spam model %q: %w", c.model, spam.ErrModelNotFound)
	}
	tot, err := parseInts(tv)
	if err != nil {
		return spam.Totals{}, fmt.Errorf("redisstore: read spam model %q: %w", c.model, err)
	}
	totals := spam.Totals{Spam: tot[0], Ham: tot[1], SpamTokens: tot[2], HamTokens: tot[3], Vocabulary: tot[4]}
	clear(spamCounts)
	clear(hamCounts)
	if countsCmd != nil {
		n, err := parseInts(countsCmd.Val())
		if err != nil {
			return spam.Totals{}, fmt.Errorf("redisstore: read spam model %q: %w", c.model, err)
		}
		for i := range tokens {
			spamCounts[i], hamCounts[i] = n[2*i], n[2*i+1]
		}
	}
	return totals, nil
}

func (c *modelCounts) Train(ctx context.Context, tokens []string, isSpam bool, delta int64) error {
	_, err := c.s.trainStep(ctx, c.model, newMarkID(), spamBatchMarkTTL, []trainGroup{{tokens: tokens, spam: isSpam, delta: delta}})
	return err
}

// parseInts reads HMGET values: nil is 0.
func parseInts(vals []any) ([]int64, error) {
	out := make([]int64, len(vals))
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: count is %T", errCorrupt, v)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: count %q", errCorrupt, s)
		}
		out[i] = n
	}
	return out, nil
}

// DeleteModel implements spam.ModelStore for scratch models. The site's model is refused here
// too: only an operator deletes it, by hand.
func (s *Store) DeleteModel(ctx context.Context, model string) error {
	if model == "" {
		return fmt.Errorf("redisstore: delete spam model: the site's model cannot be deleted")
	}
	keys := []string{s.keys.spamCounts(model), s.keys.spamTotals(model), s.keys.spamExamples(model), s.keys.spamExampleOrder(model),
		s.keys.spamDeleteMark(model, newMarkID())}
	n, err := spamDeleteScript.Run(ctx, s.rdb, keys, spamDeleteMarkTTL).Int()
	if err != nil {
		return storeError("delete spam model", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: delete spam model %q: %w", model, spam.ErrModelNotFound)
	}
	return nil
}

// EarlierSiteModel is a site model trained under an earlier spam.FeatureVersion.
type EarlierSiteModel struct {
	FeatureVersion int
	Spam, Ham      int64 // the comments it was trained with
}

// EarlierSiteModels lists the site models of earlier feature versions that hold training. The
// current tokeniser cannot use their counts, so after an upgrade that changes the version the
// site's model starts empty; commentd says so at start, rather than letting moderators wonder why
// the checks forgot what they were taught. One command per version (each has a slot of its own).
func (s *Store) EarlierSiteModels(ctx context.Context) ([]EarlierSiteModel, error) {
	var out []EarlierSiteModel
	for v := 1; v < spam.FeatureVersion; v++ {
		vals, err := s.rdb.HMGet(ctx, s.keys.siteModelTotalsAt(v), "spam", "ham").Result()
		if err != nil {
			return nil, storeError("read earlier spam models", err)
		}
		count := func(v any) int64 {
			s, _ := v.(string) // nil: no such model
			n, _ := strconv.ParseInt(s, 10, 64)
			return n
		}
		m := EarlierSiteModel{FeatureVersion: v, Spam: count(vals[0]), Ham: count(vals[1])}
		if m.Spam > 0 || m.Ham > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}
