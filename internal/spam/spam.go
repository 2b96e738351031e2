// Package spam scores submitted comments: a learned classifier over the comment's words and links,
// trained by moderators' decisions, plus rule checks (links, word lists, honeypot, timing, user
// agent, author history) and near-duplicate campaign detection. A Scorer turns all of it into a
// score, a decision (publish, hold for a moderator, spam) and the reasons.
//
// The classifier's state lives behind the Counts interface and campaign history behind the
// Campaigns interface; both are implemented elsewhere (Redis in production). This package knows
// nothing of Redis or gRPC.
package spam

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// Decision is what the Scorer recommends for a comment.
type Decision int

// The decisions, in increasing severity.
const (
	DecisionPublish Decision = iota + 1
	DecisionHold
	DecisionSpam
)

func (d Decision) String() string {
	switch d {
	case DecisionPublish:
		return "publish"
	case DecisionHold:
		return "hold"
	case DecisionSpam:
		return "spam"
	}
	return fmt.Sprintf("decision(%d)", int(d))
}

// Reason codes the Scorer sets. They are stable: moderators' tools and metrics match on them.
const (
	ReasonClassifierSpam = "SPAM_CLASSIFIER"      // the learned score is at or above the spam threshold
	ReasonClassifierHold = "SPAM_SCORE_UNCERTAIN" // the learned score is between the thresholds
	ReasonTooManyLinks   = "TOO_MANY_LINKS"
	ReasonHoldList       = "HOLD_LIST_MATCH"
	ReasonSpamList       = "SPAM_LIST_MATCH"
	ReasonHoneypot       = "HONEYPOT_FILLED"
	ReasonTooFast        = "SUBMITTED_TOO_FAST"
	ReasonNoUserAgent    = "NO_USER_AGENT"
	ReasonAuthorSpam     = "AUTHOR_SPAM_HISTORY"
	ReasonCampaign       = "DUPLICATE_CAMPAIGN"
)

// ErrInvalidOptions is matched (errors.Is) by the error NewScorer returns for bad options, such as
// thresholds out of order or a list entry that does not compile.
var ErrInvalidOptions = errors.New("spam: invalid options")

// AuthorHistory is what moderators decided about an author's earlier comments.
type AuthorHistory struct {
	Approved, Rejected, Spam int
}

// Input is everything the Scorer looks at for one comment. Zero fields mean "not known" and the
// checks that need them are skipped, except UserAgent (see Options.Rules.AllowNoUserAgent).
type Input struct {
	Body       string
	AuthorName string
	Email      privacy.Email
	IP         privacy.IP
	UserAgent  string
	// Honeypot is the value of a form field hidden from people; anything in it means a bot.
	Honeypot string
	// FormAge is how long after the form was rendered it was submitted; nil when the site did not
	// say (zero is a form submitted at once).
	FormAge *time.Duration
	// AuthorKey is the author's keyed identity (privacy.Keyring.EmailKey), for campaign detection.
	AuthorKey string
	// IPKey is the keyed hash of the address (privacy.Keyring.IPKey), for hashed word-list entries.
	IPKey   string
	History AuthorHistory
}

// Result is the Scorer's verdict on one comment.
type Result struct {
	// Score is the learned spam probability of the content, 0 (ham) to 1 (spam); 0.5 when the
	// classifier cannot tell or is not trained enough. Rules do not change it: they act on
	// Decision and say why in Reasons.
	Score    float64
	Decision Decision
	// Reasons explain every check that held or rejected the comment, most severe first. They are
	// shown to moderators and never contain an email or IP address.
	Reasons []comment.Reason
	// SkipPreModeration is true when the author's history earns publishing without pre-moderation
	// (it never overrides a hold or spam decision).
	SkipPreModeration bool
}

// Default thresholds of each model: below HoldAt publish, from SpamAt on mark spam, in between
// hold. One set per model for every site, not tuned per data set. The scores of different models
// are not comparable (ModelStacked's is a calibrated probability, the others' are not), so each
// model has its own pair. How ModelStacked's were chosen, and what they give on data no threshold
// was chosen on, is in docs/SPAM_QUALITY.md.
const (
	DefaultHoldAt = 0.31 // ModelStacked, with its forest
	DefaultSpamAt = 0.80 // ModelStacked, with its forest
	// DefaultCountsHoldAt and DefaultCountsSpamAt decide ModelStacked's score while it has no
	// forest (fewer than 50 examples of either class kept, or none fitted yet): the counts' score
	// alone spreads otherwise than the mix and has thresholds of its own (Options.CountsHoldAt and
	// CountsSpamAt).
	DefaultCountsHoldAt = 0.24
	DefaultCountsSpamAt = 0.97
	RobinsonHoldAt      = 0.58
	RobinsonSpamAt      = 0.9996
	NaiveBayesHoldAt    = 0.0001
	NaiveBayesSpamAt    = 0.9999
	// DefaultMinTrained is how many messages of each class must be trained before the classifier
	// votes at all; below it the score is 0.5 and only the rules decide.
	DefaultMinTrained = 10
)

// Options configures a Scorer. Zero fields take the defaults.
type Options struct {
	// HoldAt and SpamAt turn the score into a decision: below HoldAt publish, from SpamAt on spam,
	// in between hold for a moderator. 0 < HoldAt <= SpamAt <= 1. Zero takes the model's default.
	HoldAt, SpamAt float64
	// CountsHoldAt and CountsSpamAt do the same for ModelStacked while its counts have no forest
	// (see ForestSource). Zero takes HoldAt and SpamAt when those are set (an operator's choice,
	// such as never marking spam without a moderator, holds with or without a forest), else
	// DefaultCountsHoldAt and DefaultCountsSpamAt.
	CountsHoldAt, CountsSpamAt float64
	// Model is the classifier; the zero value is ModelStacked.
	Model Model
	// MinTrained: see DefaultMinTrained; negative means the classifier always votes.
	MinTrained int64
	Rules      RuleOptions
	// Campaigns, when set, checks each body against recent bodies of other authors.
	Campaigns Campaigns
	Campaign  CampaignOptions
}

// Scorer scores comments and learns from moderators' decisions. It is safe for concurrent use.
type Scorer struct {
	counts Counts
	opts   Options
	rules  *rules
}

// NewScorer checks opts and builds a Scorer over counts.
func NewScorer(counts Counts, opts Options) (*Scorer, error) {
	holdAt, spamAt := DefaultHoldAt, DefaultSpamAt
	switch opts.Model {
	case ModelRobinson:
		holdAt, spamAt = RobinsonHoldAt, RobinsonSpamAt
	case ModelNaiveBayes:
		holdAt, spamAt = NaiveBayesHoldAt, NaiveBayesSpamAt
	}
	if opts.CountsHoldAt == 0 {
		opts.CountsHoldAt = cmp.Or(opts.HoldAt, DefaultCountsHoldAt)
	}
	if opts.CountsSpamAt == 0 {
		opts.CountsSpamAt = cmp.Or(opts.SpamAt, DefaultCountsSpamAt)
	}
	if opts.HoldAt == 0 {
		opts.HoldAt = holdAt
	}
	if opts.SpamAt == 0 {
		opts.SpamAt = spamAt
	}
	if opts.MinTrained == 0 {
		opts.MinTrained = DefaultMinTrained
	}
	if opts.Model != ModelStacked && opts.Model != ModelRobinson && opts.Model != ModelNaiveBayes {
		return nil, fmt.Errorf("%w: unknown model %d", ErrInvalidOptions, int(opts.Model))
	}
	if !(opts.HoldAt > 0 && opts.HoldAt <= opts.SpamAt && opts.SpamAt <= 1) {
		return nil, fmt.Errorf("%w: want 0 < hold threshold (%g) <= spam threshold (%g) <= 1", ErrInvalidOptions, opts.HoldAt, opts.SpamAt)
	}
	if !(opts.CountsHoldAt > 0 && opts.CountsHoldAt <= opts.CountsSpamAt && opts.CountsSpamAt <= 1) {
		return nil, fmt.Errorf("%w: want 0 < hold threshold without a forest (%g) <= spam threshold without a forest (%g) <= 1", ErrInvalidOptions, opts.CountsHoldAt, opts.CountsSpamAt)
	}
	opts.Campaign = opts.Campaign.withDefaults()
	r, err := compileRules(opts.Rules)
	if err != nil {
		return nil, err
	}
	return &Scorer{counts: counts, opts: opts, rules: r}, nil
}

// Score scores one comment. An error means the counts (or campaign) store failed; the caller
// decides whether to refuse the submission or hold it.
func (s *Scorer) Score(ctx context.Context, in Input) (Result, error) {
	buf := scoreBufs.Get().(*scoreBuffers)
	defer buf.release()
	a := inputAnalysisInto(buf.tokens, in)
	buf.tokens = a.tokens
	spamCounts, hamCounts := buf.counts(len(a.tokens))
	var v verdict
	s.rules.check(in, a, &v)

	totals, err := s.counts.TokenCounts(ctx, a.tokens, spamCounts, hamCounts)
	if err != nil {
		return Result{}, fmt.Errorf("spam: read token counts: %w", err)
	}
	score := 0.5
	if totals.Spam >= s.opts.MinTrained && totals.Ham >= s.opts.MinTrained {
		score = classify(s.opts.Model, a.tokens, spamCounts, hamCounts, totals)
		holdAt, spamAt := s.opts.HoldAt, s.opts.SpamAt
		if s.opts.Model == ModelStacked {
			f, err := s.forest(ctx)
			if err != nil {
				return Result{}, err
			}
			if f != nil {
				// The forest knows only the tokens of its examples, which leave out the character
				// n-grams: it ignores them without a copy of the list.
				score = forestMix*score + (1-forestMix)*f.Score(a.tokens)
			} else {
				holdAt, spamAt = s.opts.CountsHoldAt, s.opts.CountsSpamAt
			}
		}
		switch {
		case score >= spamAt:
			v.add(DecisionSpam, ReasonClassifierSpam, fmt.Sprintf("the content scored %s, at or above the spam threshold %s", scoreBeside(score, spamAt), formatScore(spamAt)))
		case score >= holdAt:
			v.add(DecisionHold, ReasonClassifierHold, fmt.Sprintf("the content scored %s, between the thresholds %s and %s", scoreBeside(score, holdAt, spamAt), formatScore(holdAt), formatScore(spamAt)))
		}
	}

	if s.opts.Campaigns != nil {
		if err := s.checkCampaign(ctx, in, &v); err != nil {
			return Result{}, err
		}
	}
	res := v.result()
	res.Score = score
	res.SkipPreModeration = res.Decision == DecisionPublish && s.rules.trusted(in.History)
	return res, nil
}

// forest returns the counts' forest, or nil when they have none or one fitted from fewer than
// forestMinClass examples of a class.
func (s *Scorer) forest(ctx context.Context) (*Forest, error) {
	fs, ok := s.counts.(ForestSource)
	if !ok {
		return nil, nil
	}
	f, err := fs.Forest(ctx)
	if err != nil {
		return nil, fmt.Errorf("spam: read the forest: %w", err)
	}
	if f == nil {
		return nil, nil
	}
	if spam, ham := f.Classes(); spam < forestMinClass || ham < forestMinClass {
		return nil, nil
	}
	return f, nil
}

// formatScore writes a threshold as configured: 0.97, 0.9996.
func formatScore(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// scoreBeside writes a score for a reason that shows it beside thresholds: with two decimals,
// or as many more as it takes to compare with each threshold as the score does. Rounded to two,
// a score of 0.9651 held below a spam threshold of 0.97 would read as 0.97.
func scoreBeside(score float64, thresholds ...float64) string {
	for prec := 2; prec < 17; prec++ {
		text := strconv.FormatFloat(score, 'f', prec, 64)
		shown, _ := strconv.ParseFloat(text, 64)
		if !slices.ContainsFunc(thresholds, func(t float64) bool { return (shown < t) != (score < t) }) {
			return text
		}
	}
	return formatScore(score)
}

// Train learns a moderator's decision about a comment: spam for "mark as spam", ham for
// "approve". A moderator who changes their mind is handled by Untrain of the old class and Train
// of the new one.
func (s *Scorer) Train(ctx context.Context, in Input, isSpam bool) error {
	if err := s.counts.Train(ctx, inputAnalysis(in).tokens, isSpam, 1); err != nil {
		return fmt.Errorf("spam: train: %w", err)
	}
	return nil
}

// Untrain exactly undoes an earlier Train(ctx, in, isSpam) with the same input.
func (s *Scorer) Untrain(ctx context.Context, in Input, isSpam bool) error {
	if err := s.counts.Train(ctx, inputAnalysis(in).tokens, isSpam, -1); err != nil {
		return fmt.Errorf("spam: untrain: %w", err)
	}
	return nil
}

func inputAnalysis(in Input) analysis { return inputAnalysisInto(nil, in) }

// inputAnalysisInto is inputAnalysis, appending the tokens to buf[:0].
func inputAnalysisInto(buf []string, in Input) analysis {
	var domain string
	if !in.Email.IsZero() {
		e := in.Email.Normalized()
		domain = e[strings.LastIndexByte(e, '@')+1:]
	}
	return analyseInto(buf, in.Body, in.AuthorName, domain)
}

// scoreBuffers are the token list and the token counts of one Score call. They are kept between
// calls (scoreBufs) because they are most of what scoring a comment allocates: a long comment has
// some 900 tokens, so 30 kB a comment for the collector to clear.
type scoreBuffers struct {
	tokens    []string
	spam, ham []int64
}

var scoreBufs = sync.Pool{New: func() any { return new(scoreBuffers) }}

// counts returns the count slices for n tokens.
func (b *scoreBuffers) counts(n int) (spamCounts, hamCounts []int64) {
	b.spam = slices.Grow(b.spam[:0], n)[:n]
	b.ham = slices.Grow(b.ham[:0], n)[:n]
	return b.spam, b.ham
}

// release returns b to the pool, dropping its references to the comment's text.
func (b *scoreBuffers) release() {
	clear(b.tokens)
	b.tokens = b.tokens[:0]
	scoreBufs.Put(b)
}

// verdict collects the findings of the checks for one comment.
type verdict struct {
	decision Decision
	findings []finding
}

type finding struct {
	decision Decision
	reason   comment.Reason
}

// add records a finding that calls for at least decision d.
func (v *verdict) add(d Decision, code, message string) {
	v.findings = append(v.findings, finding{d, comment.Reason{Code: code, Message: message}})
	v.decision = max(v.decision, d)
}

// result returns the decision (publish when nothing was found) and the reasons, most severe first.
func (v *verdict) result() Result {
	r := Result{Decision: max(v.decision, DecisionPublish)}
	slices.SortStableFunc(v.findings, func(a, b finding) int { return int(b.decision) - int(a.decision) })
	for _, f := range v.findings {
		r.Reasons = append(r.Reasons, f.reason)
	}
	return r
}
