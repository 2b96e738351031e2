package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. The gRPC layer maps each to one status code and reason.
var (
	// ErrLimited is matched (errors.Is) by every *LimitError.
	ErrLimited = errors.New("ratelimit: rate limit exceeded")
	// ErrDuplicate: the author posted the same text to the same thread a moment ago. Nothing was
	// stored. The gRPC layer maps it to ALREADY_EXISTS.
	ErrDuplicate = errors.New("ratelimit: duplicate comment")
	// ErrBanned is matched by every *BannedError.
	ErrBanned = errors.New("ratelimit: banned")
	// ErrBanNotFound: no active ban on that target.
	ErrBanNotFound = errors.New("ratelimit: ban not found")
)

// LimitError refuses a submission that is over a rate-limit rule. Nothing was stored or counted.
// The gRPC layer maps it to RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure.
type LimitError struct {
	Rule       string        // the rule's name; when several refused, the one with the longest wait
	RetryAfter time.Duration // how long until the same submission would pass every rule, at least 1ms
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ratelimit: over rule %s, retry after %s", e.Rule, e.RetryAfter)
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimited }

// BannedError refuses a submission from a banned author, address or range. It is returned by
// Screener when the operator chose to refuse banned readers openly (BanRefuse); the gRPC layer maps
// it to PERMISSION_DENIED. It carries the ban so the caller may say until when, but the ban's reason
// and moderator are for moderators, not for the site.
type BannedError struct {
	Ban Ban
}

func (e *BannedError) Error() string {
	if e.Ban.ExpiresAt.IsZero() {
		return fmt.Sprintf("ratelimit: banned (%s) for good", e.Ban.Target.Kind)
	}
	return fmt.Sprintf("ratelimit: banned (%s) until %s", e.Ban.Target.Kind, e.Ban.ExpiresAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBanned) true.
func (e *BannedError) Is(target error) bool { return target == ErrBanned }
