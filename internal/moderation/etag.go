package moderation

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/commentd/commentd/internal/comment"
)

// ETag returns the version tag of c that a moderator sends back with a decision, so that the
// decision is refused if the comment has changed since they read it (AIP-154). It is derived from
// what a decision overturns: the comment's state and its last decision (who made it and when).
// Anything else that changes (a report added, the author's data erased) leaves it as it is, so it
// is a weak tag: W/"" and 16 hex digits.
//
// Every decision changes it, as does a takedown by readers' reports (which changes the state); a
// review claim does not: a claim takes no decision and ends with its lease without any write, so a
// tag that followed claims would change between two reads that saw nothing happen.
//
// The store checks it inside the decision's atomic step, so it must compute the same text from
// the stored fields: SHA-1 of "<state>:<decision time, unix µs>:<moderator>" (the last two empty
// when no moderator has decided), the first 16 hex digits.
func ETag(c comment.Comment) string {
	var at, by string
	if d := c.Decision; d != nil {
		at, by = strconv.FormatInt(d.At.UnixMicro(), 10), d.Moderator
	}
	sum := sha1.Sum([]byte(strconv.Itoa(int(c.State)) + ":" + at + ":" + by))
	return `W/"` + hex.EncodeToString(sum[:])[:etagDigits] + `"`
}

// etagDigits is how many hex digits of the hash an etag keeps.
const etagDigits = 16

// etagPattern is the form of every etag ETag makes.
var etagPattern = regexp.MustCompile(`^W/"[0-9a-f]{16}"$`)

// ValidateETag checks an etag a client sent with a decision: empty (no check) or one ETag made.
func ValidateETag(field, etag string) error {
	if etag == "" || etagPattern.MatchString(etag) {
		return nil
	}
	return &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field,
		Description: `not an etag of this server: copy the comment's etag as it is, such as W/"0123456789abcdef", or leave it empty`}}}
}

// ErrStale is matched (errors.Is) by every *StaleError.
var ErrStale = errors.New("moderation: comment changed since its etag was read")

// StaleError says a decision was refused because the comment has changed since the etag the
// moderator sent: another decision (or readers' reports) came first. Nothing was changed.
type StaleError struct {
	ID      string
	Action  Action          // the decision refused
	Current comment.Comment // the comment as it is now
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("moderation: %s on comment %s refused: it changed since its etag was read and is %s now", e.Action, e.ID, e.Current.State)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }
