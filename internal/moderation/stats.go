package moderation

import (
	"context"
	"fmt"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// The period of the daily statistics, in days.
const (
	DefaultStatsDays = 14
	MaxStatsDays     = 90
)

// Stats are the moderation figures.
type Stats struct {
	Queue      []StateCount     // pending, rejected and spam, in that order
	Moderators []ModeratorStats // moderators with at least one action in the period, by name
	Days       []DayStats       // one per day of the period, oldest first
}

// StateCount is the number of comments in one queue state.
type StateCount struct {
	State comment.State
	Count int64
}

// ModeratorStats counts one moderator's actions in the period.
type ModeratorStats struct {
	Moderator  string
	Approved   int64
	Rejected   int64
	MarkedSpam int64
	Other      int64 // not-spam, reopen, bans, word lists, thread settings, erasures (not exports or spam training)
}

// DayStats counts one UTC day's submissions.
type DayStats struct {
	Day       time.Time // midnight UTC
	Submitted int64
	Spam      int64 // of those, the ones judged spam at submission or later marked spam (and not taken back)
}

// StatsSource reads the figures.
type StatsSource interface {
	// Stats returns the queue depths now and the daily figures of days UTC days starting with the
	// day of first.
	Stats(ctx context.Context, first time.Time, days int) (Stats, error)
}

// Stats returns the queue depths and the figures of the last days UTC days, today included.
// days 0 means DefaultStatsDays.
func (s *Service) Stats(ctx context.Context, days int) (Stats, error) {
	if s.stats == nil {
		return Stats{}, unsupported("stats source")
	}
	switch {
	case days == 0:
		days = DefaultStatsDays
	case days < 0 || days > MaxStatsDays:
		return Stats{}, &comment.ValidationError{Violations: []comment.FieldViolation{{
			Field: "days", Description: fmt.Sprintf("want 1 to %d (0 for %d)", MaxStatsDays, DefaultStatsDays),
		}}}
	}
	today := s.now().UTC().Truncate(24 * time.Hour)
	return s.stats.Stats(ctx, today.AddDate(0, 0, 1-days), days)
}
