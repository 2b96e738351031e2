package moderation

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// Bounds of review claims, as the API documents them.
const (
	DefaultClaimCount = 10
	MaxClaimCount     = 50
	DefaultLease      = 5 * time.Minute
	MaxLease          = 30 * time.Minute
	MinLease          = time.Second
	MaxRelease        = 50
	// MaxClaimSkip bounds ClaimQuery.Skip: a review session's skipped comments, sent with each
	// claim, and read by the claim in one step.
	MaxClaimSkip = 500
)

// ClaimQuery asks for comments to review.
type ClaimQuery struct {
	State    comment.State // StatePending (the default) or StateSpam
	ThreadID string        // optional
	Count    int           // 0 means DefaultClaimCount; more than MaxClaimCount is lowered to it
	Lease    time.Duration // 0 means DefaultLease; more than MaxLease is lowered to it
	// Skip lists comment ids not to claim (at most MaxClaimSkip): those the moderator skipped. A
	// skipped comment is given back, so it is free again and, the queue being oldest first, among
	// the first a claim would take: without Skip, a moderator who skipped as many comments as a
	// claim takes would get only those back, and see an empty queue.
	Skip []string
}

// Claims leases queued comments to one moderator at a time, so moderators reviewing together
// never get the same comment. A decision on a comment ends its claim (see Store.Decide).
type Claims interface {
	// Claim leases up to q.Count comments of queue q.State (of thread q.ThreadID when set) to
	// moderator until now+q.Lease, and returns them oldest first. It takes the moderator's own
	// live claims in that queue (renewed) first, then the oldest comments nobody holds. Comments
	// another moderator holds, and those in q.Skip, are skipped. Two concurrent calls never both
	// get the same comment.
	Claim(ctx context.Context, moderator string, q ClaimQuery, now time.Time) ([]comment.Comment, error)
	// Release ends moderator's claims on ids; ids the moderator does not hold are ignored.
	Release(ctx context.Context, moderator string, ids []string) error
}

// Claim leases queued comments to moderator for review and returns them in the moderator's view
// with the time the claims end.
func (s *Service) Claim(ctx context.Context, moderator string, q ClaimQuery) ([]View, time.Time, error) {
	if s.claims == nil {
		return nil, time.Time{}, unsupported("claims store")
	}
	if err := q.Validate(); err != nil {
		return nil, time.Time{}, err
	}
	if q.State == comment.StateUnspecified {
		q.State = comment.StatePending
	}
	switch {
	case q.Count == 0:
		q.Count = DefaultClaimCount
	case q.Count > MaxClaimCount:
		q.Count = MaxClaimCount
	}
	switch {
	case q.Lease == 0:
		q.Lease = DefaultLease
	case q.Lease > MaxLease:
		q.Lease = MaxLease
	}
	// Leases are whole milliseconds in the store.
	q.Lease = q.Lease.Truncate(time.Millisecond)
	now := s.now().UTC()
	cs, err := s.claims.Claim(ctx, moderator, q, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	return s.views(ctx, cs), now.Add(q.Lease), nil
}

// Validate checks a claim request and returns a *comment.ValidationError naming every bad field,
// or nil; zero and too large counts and leases are not errors (Claim applies the defaults and
// bounds). The API layer runs it too when a field did not even convert, so that one error names
// that field and every other bad one.
func (q ClaimQuery) Validate() error {
	var verr comment.ValidationError
	switch q.State {
	case comment.StateUnspecified, comment.StatePending, comment.StateSpam:
	default:
		verr.Add("state", "want STATE_PENDING or STATE_SPAM")
	}
	if q.ThreadID != "" && !comment.ValidThreadID(q.ThreadID) {
		verr.Add("thread_id", comment.NotAThreadID)
	}
	if q.Count < 0 {
		verr.Add("count", "must not be negative")
	}
	CheckClaimSkipCount(&verr, len(q.Skip))
	switch {
	case q.Lease < 0:
		verr.Add("lease", "must not be negative")
	case q.Lease > 0 && q.Lease < MinLease:
		verr.Add("lease", fmt.Sprintf("at least %s", MinLease))
	}
	return verr.Err()
}

// CheckReleaseCount adds to verr, on "names", a release of n comments that is too long. Release
// checks it; a caller that parses the names first checks it before them too, so that a list both
// too long and holding a malformed name is refused for both at once.
func CheckReleaseCount(verr *comment.ValidationError, n int) {
	if n > MaxRelease {
		verr.Add("names", fmt.Sprintf("at most %d names, got %d", MaxRelease, n))
	}
}

// CheckClaimSkipCount adds to verr, on "skip_names", a list of n comments not to claim that is too
// long. Validate checks it; a caller that parses the names first checks it instead of parsing
// them, so that one error names the bound rather than a thousand names.
func CheckClaimSkipCount(verr *comment.ValidationError, n int) {
	if n > MaxClaimSkip {
		verr.Add("skip_names", fmt.Sprintf("at most %d names, got %d", MaxClaimSkip, n))
	}
}

// Release ends moderator's claims on the comments ids (already parsed from names).
func (s *Service) Release(ctx context.Context, moderator string, ids []string) error {
	if s.claims == nil {
		return unsupported("claims store")
	}
	var verr comment.ValidationError
	if CheckReleaseCount(&verr, len(ids)); verr.Err() != nil {
		return &verr
	}
	if len(ids) == 0 {
		return nil
	}
	return s.claims.Release(ctx, moderator, slices.Compact(slices.Sorted(slices.Values(ids))))
}
