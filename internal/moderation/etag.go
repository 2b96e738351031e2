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
// which comment it is and what a decision overturns: the comment's id, its state and its last
// decision (who made it and when). Anything else that changes (a report added, the author's data
// erased) leaves it as it is, so it is a weak tag: W/"" and 16 hex digits.
//
// The id is in it so that an etag read from another comment is refused too. AIP-154 lets etags of
// different resources be alike, but then every pending comment never decided would have the same
// one, and a moderator who pasted another comment's etag would have the check pass on a comment
// they never read.
//
// Every decision changes it, as does a takedown by readers' reports (which changes the state); a
// review claim does not: a claim takes no decision and ends with its lease without any write, so a
// tag that followed claims would change between two reads that saw nothing happen.
//
// The store checks it inside the decision's atomic step, so it must compute the same text from
// the stored fields: SHA-1 of "<id>:<state>:<decision time, unix µs>:<moderator>" (the last two
// empty when no moderator has decided), the first 16 hex digits.
func ETag(c comment.Comment) string {
	var at, by string
	if d := c.Decision; d != nil {
		at, by = strconv.FormatInt(d.At.UnixMicro(), 10), d.Moderator
	}
	return weakTag(c.ID + ":" + strconv.Itoa(int(c.State)) + ":" + at + ":" + by)
}

// ThreadETag returns the version tag of t that a moderator (or a site) sends back with an update
// of the thread, so that the update is refused if the thread has changed since they read it
// (AIP-154). It has the form of ETag's, from what an update overwrites and the store keeps: the
// thread's own mode, whether a moderator closed it, and when its auto-close period ends.
//
// Closed by age is left out: it follows from the period's end and the clock, so a thread that
// closes by age keeps its tag, as nothing was written (and writing closed true back to it changes
// nothing). The period's end is in: it moves when a reopening starts a new period or the thread's
// first comment starts one, and a write-back read before either would otherwise go through
// unseen. It is zero when the server does not close threads by age, so there the period's start,
// which then bears on nothing, is not part of the tag either.
//
// The store checks it inside the update's atomic step (thread_update.lua), so it must compute
// the same text from the stored fields: SHA-1 of "<id>:<mode>:<closed>:<period end, unix µs>"
// (mode 0 for the site default, closed 1 for a moderator's close and 0 otherwise, the end empty
// when zero), the first 16 hex digits. The id is in it for the reason ETag's is: every thread on
// the site's defaults would otherwise have one etag, and an update sent with an etag read from
// another thread would pass.
func ThreadETag(t comment.Thread) string {
	closed, end := "0", ""
	if t.Closed && !t.ClosedByAge {
		closed = "1"
	}
	if !t.AutoCloseAt.IsZero() {
		end = strconv.FormatInt(t.AutoCloseAt.UnixMicro(), 10)
	}
	return weakTag(t.ID + ":" + strconv.Itoa(int(t.Mode)) + ":" + closed + ":" + end)
}

// weakTag makes an etag of a version's text: W/ and the first etagDigits hex digits of its SHA-1,
// in quotes. The Lua scripts that check etags make it the same way.
func weakTag(version string) string {
	sum := sha1.Sum([]byte(version))
	return `W/"` + hex.EncodeToString(sum[:])[:etagDigits] + `"`
}

// etagDigits is how many hex digits of the hash an etag keeps.
const etagDigits = 16

// etagPattern is the form of every etag ETag makes.
var etagPattern = regexp.MustCompile(`^W/"[0-9a-f]{16}"$`)

// ValidateETag checks an etag a client sent with a decision or a thread update: empty (no check)
// or one ETag or ThreadETag made.
func ValidateETag(field, etag string) error {
	if etag == "" || etagPattern.MatchString(etag) {
		return nil
	}
	return &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field,
		Description: `not an etag of this server: copy the etag as it was read, such as W/"0123456789abcdef", or leave it empty`}}}
}

// ErrStale is matched (errors.Is) by every *StaleError and *StaleThreadError.
var ErrStale = errors.New("moderation: changed since its etag was read")

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

// StaleThreadError says a thread update was refused because the thread has changed since the
// etag the caller sent: another update came first (or its first comment started its auto-close
// period). Nothing was changed.
type StaleThreadError struct {
	ID      string
	Current comment.Thread // the thread as it is now
}

func (e *StaleThreadError) Error() string {
	return fmt.Sprintf("moderation: update of thread %s refused: it changed since its etag was read", e.ID)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleThreadError) Is(target error) bool { return target == ErrStale }
