package moderation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// Spam is deleted once it has been spam for the retention (WordPress: "spam comments are deleted
// after 15 days"), so that it does not grow Redis for ever. A comment is spam since the decision
// that marked it (a moderator's) or, when the checks marked it, since it was submitted. What the
// comment taught stays: the spam model's counts and the author's record keep counting it; only the
// per-comment entries that say what it taught (its label in the model, its outcome in the record)
// go with it, as no later decision on it can need them.

// SpamPurger deletes comments that have been spam for too long.
type SpamPurger interface {
	// PurgeSpam deletes up to limit comments that have been spam since before before, oldest first
	// as far as it can tell, with everything that belongs to them, and returns how many it
	// deleted. Each comment goes in one atomic step that does nothing if the comment is no longer
	// spam or became spam again after before, so servers running it at once, or beside a
	// moderator's decision, never delete a comment that is not due.
	PurgeSpam(ctx context.Context, before time.Time, limit int) (int, error)
}

// Bounds of one PurgeSpam run.
const (
	purgeSpamBatch  = 100 // comments per store call
	purgeSpamRounds = 10  // store calls per run, while each deletes a full batch
)

// PurgeSpam deletes the comments that have been spam for longer than retention, in batches, up to
// a run's bound (1,000), and returns how many it deleted. A run that deleted any records one entry
// in the audit log, by RetentionModerator, with the count.
func (s *Service) PurgeSpam(ctx context.Context, retention time.Duration) (int, error) {
	if s.purger == nil {
		return 0, unsupported("spam purger")
	}
	if retention <= 0 {
		return 0, fmt.Errorf("moderation: purge spam: retention %s: must be positive", retention)
	}
	before := s.now().Add(-retention)
	total := 0
	var err error
	for range purgeSpamRounds {
		var n int
		n, err = s.purger.PurgeSpam(ctx, before, purgeSpamBatch)
		total += n
		if err != nil {
			err = fmt.Errorf("purge spam: %w", err)
			break
		}
		if n < purgeSpamBatch {
			break
		}
	}
	if total == 0 || s.audit == nil {
		return total, err
	}
	// What was deleted is logged even when the run stopped on an error part way. The action says
	// spam was deleted; the note says how much and why, short enough for commentctl audit's reason
	// column (40 characters) to show it whole.
	note := countComments(total) + ": spam for over " + comment.ShortDuration(retention)
	if aerr := s.RecordAudit(ctx, AuditEvent{Moderator: RetentionModerator, Action: AuditPurgeSpam, Target: ErasureTarget, Reason: note}); aerr != nil {
		err = errors.Join(err, aerr)
	}
	return total, err
}
