package spam

import (
	"context"
	"log/slog"

	"github.com/commentd/commentd/internal/comment"
)

// ReasonUnchecked is the hold reason of a comment the spam checks could not score.
const ReasonUnchecked = "SPAM_UNCHECKED"

// uncheckedScore is the score stored with a comment the spam checks could not score: the
// Scorer's own "cannot tell".
const uncheckedScore = 0.5

// ScreenerOptions configures a Screener.
type ScreenerOptions struct {
	Logger *slog.Logger // may be nil: no logs
}

// Screener runs the spam checks on every submission of a comment.Service (it implements
// comment.Screener). Run it after the abuse check, which reads the author's record into the draft.
type Screener struct {
	engine *Engine
	log    *slog.Logger
}

var _ comment.Screener = (*Screener)(nil)

// NewScreener builds a Screener.
func NewScreener(e *Engine, opts ScreenerOptions) *Screener {
	s := &Screener{engine: e, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Screen scores d and records the result in v. It never refuses a submission: when the checks
// cannot run, the comment is held for a moderator instead, since a reader's comment should not be
// lost to our own failure and an unchecked one should not be published.
func (s *Screener) Screen(ctx context.Context, d *comment.Draft, v *comment.Verdict) error {
	res, err := s.engine.Score(ctx, s.engine.Input(d))
	if err != nil {
		s.log.WarnContext(ctx, "spam check failed; comment held", "error", err.Error())
		v.Hold = append(v.Hold, comment.Reason{Code: ReasonUnchecked, Message: "the spam checks could not run"})
		// The score moderators see and filter the queue by: "cannot tell", as for a model not
		// trained enough. Left at zero it would read "surely not spam" for a comment never scored.
		v.Score = uncheckedScore
		return nil
	}
	recordVerdict(res, v)
	return nil
}
