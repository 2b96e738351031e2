package spam

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// EngineOptions configures an Engine.
type EngineOptions struct {
	// Scorer is the Scorer's configuration. Its Rules.HoldList and Rules.SpamList are fixed
	// entries that apply before (and beside) the word lists set with SetFilters. Campaigns, when
	// set, is recorded into by Score; Check only reads it, and only if it implements Peeker.
	Scorer Options
	// IgnoreAuthorSpam stops holding comments of authors with comments marked spam on record.
	// Such authors still never count as trusted.
	IgnoreAuthorSpam bool
}

// Peeker is implemented by Campaigns stores that can answer without recording the sighting, for
// checks that must leave no trace.
type Peeker interface {
	Peek(ctx context.Context, s Sighting, window time.Duration) ([]Sighting, error)
}

// Engine holds the Scorer in force and swaps in a new one when the word lists change, so a
// moderator's new entry applies to the next comment without a restart. Email and single-address
// entries are matched by keyed hash: the address itself is never kept in a list. Safe for
// concurrent use.
type Engine struct {
	keys *privacy.Keyring
	site Counts
	opts EngineOptions
	cur  atomic.Pointer[engineState]
}

// engineState is one compiled configuration; it is never changed once published.
type engineState struct {
	score  *Scorer               // the site's counts; records campaign sightings
	check  *Scorer               // the same rules; campaign sightings only read
	hashed map[string]FilterList // keyed hashes of email and single-address entries; spam wins
}

// NewEngine builds an Engine over the site model's counts, with empty word lists.
func NewEngine(site Counts, keys *privacy.Keyring, opts EngineOptions) (*Engine, error) {
	e := &Engine{keys: keys, site: site, opts: opts}
	if err := e.SetFilters(nil); err != nil {
		return nil, err
	}
	return e, nil
}

// namesFor returns a copy of names as long as list: entries past the end of names get none.
func namesFor(list, names []string) []string {
	out := make([]string, len(list))
	copy(out, names)
	return out
}

// SetFilters compiles the word lists fs into a new Scorer and puts it in force. On an error the
// Scorer in force is kept.
func (e *Engine) SetFilters(fs []Filter) error {
	o := e.opts.Scorer
	o.Rules.HoldList = slices.Clone(o.Rules.HoldList)
	o.Rules.SpamList = slices.Clone(o.Rules.SpamList)
	// A pattern from a filter is named by the filter's resource name in reasons, so a moderator
	// can find it in "filters list".
	o.Rules.HoldNames = namesFor(o.Rules.HoldList, o.Rules.HoldNames)
	o.Rules.SpamNames = namesFor(o.Rules.SpamList, o.Rules.SpamNames)
	hashed := make(map[string]FilterList)
	for _, f := range fs {
		if f.Hash != "" {
			hashed[f.Hash] = max(hashed[f.Hash], f.List)
			continue
		}
		switch f.List {
		case FilterListHold:
			o.Rules.HoldList = append(o.Rules.HoldList, f.entry())
			o.Rules.HoldNames = append(o.Rules.HoldNames, "filters/"+f.ID)
		case FilterListSpam:
			o.Rules.SpamList = append(o.Rules.SpamList, f.entry())
			o.Rules.SpamNames = append(o.Rules.SpamNames, "filters/"+f.ID)
		}
	}
	score, err := NewScorer(e.site, o)
	if err != nil {
		return err
	}
	o.Campaigns = nil
	if p, ok := e.opts.Scorer.Campaigns.(Peeker); ok {
		o.Campaigns = peekOnly{p}
	}
	check, err := NewScorer(e.site, o)
	if err != nil {
		return err
	}
	e.cur.Store(&engineState{score: score, check: check, hashed: hashed})
	return nil
}

// peekOnly answers Observe without recording.
type peekOnly struct{ p Peeker }

func (p peekOnly) Observe(ctx context.Context, s Sighting, window time.Duration, _ int) ([]Sighting, error) {
	return p.p.Peek(ctx, s, window)
}

// Input builds the Scorer's input for a draft. The author's record is the one the abuse check
// read in its round trip (zero when it read none).
func (e *Engine) Input(d *comment.Draft) Input {
	authorKey, ipKey := d.Keys(e.keys)
	in := Input{
		Body:       d.Body,
		AuthorName: d.AuthorName,
		Email:      d.Email,
		IP:         d.IP,
		UserAgent:  d.UserAgent,
		Honeypot:   d.Honeypot,
		FormAge:    d.FormAge,
		AuthorKey:  authorKey,
		IPKey:      ipKey,
	}
	if h := d.History; h != nil {
		in.History = AuthorHistory{Approved: int(h.Approved), Rejected: int(h.Rejected), Spam: int(h.Spam)}
	}
	return in
}

// Score scores a submission with the site's model and records its campaign sighting.
func (e *Engine) Score(ctx context.Context, in Input) (Result, error) {
	st := e.cur.Load()
	res, err := st.score.Score(ctx, in)
	if err != nil {
		return Result{}, err
	}
	return e.finish(st, in, res), nil
}

// Check scores like Score but leaves no trace: no campaign sighting is recorded. counts is the
// model to score with; nil means the site's.
func (e *Engine) Check(ctx context.Context, in Input, counts Counts) (Result, error) {
	st := e.cur.Load()
	s := st.check
	if counts != nil {
		// The compiled rules are shared; only the counts differ.
		s = &Scorer{counts: counts, opts: s.opts, rules: s.rules}
	}
	res, err := s.Score(ctx, in)
	if err != nil {
		return Result{}, err
	}
	return e.finish(st, in, res), nil
}

// finish applies what the Scorer cannot see: entries matched by keyed hash, and the choice to
// ignore an author's spam record.
func (e *Engine) finish(st *engineState, in Input, res Result) Result {
	if len(st.hashed) > 0 {
		list, what := e.hashedMatch(st, in)
		switch list {
		case FilterListSpam:
			r := comment.Reason{Code: ReasonSpamList, Message: what + " on the spam list"}
			if !slices.Contains(res.Reasons, r) { // an address entry and a range entry say the same
				res.Reasons = append([]comment.Reason{r}, res.Reasons...)
			}
			res.Decision = DecisionSpam
		case FilterListHold:
			r := comment.Reason{Code: ReasonHoldList, Message: what + " on the hold list"}
			if !slices.Contains(res.Reasons, r) {
				res.Reasons = append(res.Reasons, r)
			}
			res.Decision = max(res.Decision, DecisionHold)
		}
	}
	if e.opts.IgnoreAuthorSpam {
		// Every finding holds or marks spam, and a spam finding keeps the decision at spam, so a
		// held comment whose only reason was the author's record is publishable.
		res.Reasons = slices.DeleteFunc(res.Reasons, func(r comment.Reason) bool { return r.Code == ReasonAuthorSpam })
		if res.Decision == DecisionHold && len(res.Reasons) == 0 {
			res.Decision = DecisionPublish
		}
	}
	if res.Decision != DecisionPublish {
		res.SkipPreModeration = false
	}
	return res
}

// hashedMatch returns the most severe list whose hashed entries match the author's address or IP,
// and what matched, worded without the address.
func (e *Engine) hashedMatch(st *engineState, in Input) (FilterList, string) {
	var list FilterList
	var what string
	if k := in.AuthorKey; k != "" && st.hashed[k] > list {
		list, what = st.hashed[k], aboutAuthor+"email address is"
	}
	if k := in.IPKey; k != "" && st.hashed[k] > list {
		list, what = st.hashed[k], aboutAuthor+"IP address is"
	}
	return list, what
}

// recordVerdict records r in v the way comment.Service expects: every reason of a spam result as spam,
// of a held result as hold; the score; and whether the author skips pre-moderation.
func recordVerdict(r Result, v *comment.Verdict) {
	switch r.Decision {
	case DecisionSpam:
		v.Spam = append(v.Spam, r.Reasons...)
	case DecisionHold:
		v.Hold = append(v.Hold, r.Reasons...)
	}
	v.Score = r.Score
	v.SkipPreModeration = v.SkipPreModeration || r.SkipPreModeration
}
