package moderation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// A decision is stored in one atomic step, and the Learner (the spam model, the author's record)
// learns from it in later calls. A crash in between (of commentd, or of Redis before it wrote the
// learning) would leave the model and the record out of step with the decision for good, unless
// the moderator happened to repeat it. So the store lists every decision as not yet learnt in the
// decision's own step (LearnQueue), Decide takes it off once it has learnt, and LearnPending, run
// in the background by every server, learns what is left.

// Unlearnt is a decision the Learner has still to learn from.
type Unlearnt struct {
	ID string
	// At is the decision's time, which tells this decision from a later one on the comment, or,
	// once its learning failed, the time it was postponed to (PostponeLearning).
	At time.Time
}

// LearnQueue keeps the decisions not yet learnt. The Store lists a decision in it in the same
// atomic step as the decision itself.
type LearnQueue interface {
	// UnlearntDecisions returns up to limit of the decisions made before before and not yet
	// learnt, oldest first.
	UnlearntDecisions(ctx context.Context, before time.Time, limit int) ([]Unlearnt, error)
	// MarkLearnt takes the decision on id listed at at off the list, unless a later decision on
	// the comment replaced it.
	MarkLearnt(ctx context.Context, id string, at time.Time) error
	// PostponeLearning moves the entry of id listed at at to until, unless a later decision on the
	// comment replaced it.
	PostponeLearning(ctx context.Context, id string, at, until time.Time) error
}

// learnPendingBatch bounds the decisions one LearnPending call learns.
const learnPendingBatch = 100

// learnRetryAfter is how long a decision whose learning failed waits before LearnPending tries it
// again: the oldest come first, so without it a batch of decisions that keep failing (a corrupt
// record, say) would hold up every later one.
const learnRetryAfter = 10 * time.Minute

// learnt takes c's decision off the decisions not yet learnt. A failure is not the caller's: the
// decision and its learning are done, and LearnPending takes the entry off later.
func (s *Service) learnt(ctx context.Context, c comment.Comment) {
	if s.learnQueue == nil || c.Decision == nil {
		return
	}
	_ = s.learnQueue.MarkLearnt(ctx, c.ID, c.Decision.At)
}

// LearnPending learns from the decisions made more than grace ago that were not learnt (the
// server that stored them stopped before it learnt, or failed to), oldest first, up to a batch,
// and returns how many it finished. Learning is idempotent (the Learner teaches what the
// comment's last decision says, once), so servers running it at once, or beside the Decide that is about
// to learn, only repeat each other's work; grace keeps it out of the way of the Decide calls in
// flight. Without a Learner it only clears the list.
//
// A decision that fails stays listed, postponed by learnRetryAfter, and the batch goes on, so
// decisions that keep failing cannot hold up the others; the error names each failed comment.
// Reading the list failing stops it.
func (s *Service) LearnPending(ctx context.Context, grace time.Duration) (int, error) {
	if s.learnQueue == nil {
		return 0, unsupported("learn queue")
	}
	ds, err := s.learnQueue.UnlearntDecisions(ctx, s.now().Add(-grace), learnPendingBatch)
	if err != nil {
		return 0, fmt.Errorf("learn pending decisions: %w", err)
	}
	done := 0
	var errs []error
	for _, d := range ds {
		if err := s.learnPending(ctx, d); err != nil {
			errs = append(errs, fmt.Errorf("learn pending decision on %s: %w", d.ID, err))
			if ctx.Err() != nil {
				break
			}
			if err := s.learnQueue.PostponeLearning(ctx, d.ID, d.At, s.now().Add(learnRetryAfter)); err != nil {
				errs = append(errs, fmt.Errorf("postpone learning from decision on %s: %w", d.ID, err))
			}
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// learnPending learns from one listed decision and takes it off the list.
func (s *Service) learnPending(ctx context.Context, d Unlearnt) error {
	if s.learner != nil {
		c, err := s.store.Get(ctx, d.ID)
		switch {
		case errors.Is(err, comment.ErrNotFound):
			// Gone: nothing to learn.
		case err != nil:
			return err
		default:
			if err := s.learn(ctx, c); err != nil {
				return err
			}
		}
	}
	return s.learnQueue.MarkLearnt(ctx, d.ID, d.At)
}
