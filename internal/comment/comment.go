// Package comment holds the rules for readers' comments: what a valid submission is, how a new
// comment is stored, and what the site may read back. It knows nothing of gRPC or Redis; storage
// comes in through the Store interface declared here.
package comment

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where a comment stands in moderation.
type State int

// The states of a comment. The numbers are stored; never renumber them.
const (
	StateUnspecified State = 0
	StatePublished   State = 1
	StatePending     State = 2
	StateRejected    State = 3
	StateSpam        State = 4
)

func (s State) String() string {
	switch s {
	case StatePublished:
		return "published"
	case StatePending:
		return "pending"
	case StateRejected:
		return "rejected"
	case StateSpam:
		return "spam"
	default:
		return fmt.Sprintf("state(%d)", int(s))
	}
}

// Valid reports whether s is one of the four real states.
func (s State) Valid() bool { return s >= StatePublished && s <= StateSpam }

// Mode is a thread's moderation mode.
type Mode int

// The moderation modes. ModeDefault means "follow the site-wide default". The numbers are stored.
const (
	ModeDefault Mode = 0
	ModePre     Mode = 1
	ModePost    Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeDefault:
		return "default"
	case ModePre:
		return "pre"
	case ModePost:
		return "post"
	default:
		return fmt.Sprintf("mode(%d)", int(m))
	}
}

// ParseMode parses "pre", "post" or "default".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "pre":
		return ModePre, nil
	case "post":
		return ModePost, nil
	case "default", "":
		return ModeDefault, nil
	}
	return 0, fmt.Errorf("moderation mode %q: want pre, post or default", s)
}

// Reason explains why a check held, rejected or scored a comment.
type Reason struct {
	Code    string // stable UPPER_SNAKE code, e.g. "PRE_MODERATION"
	Message string // short sentence for people
}

// Reason codes set by this package.
const (
	ReasonPreModeration = "PRE_MODERATION"
)

// Decision is a moderator's action on a comment.
type Decision struct {
	Moderator string // API key name of the moderator
	At        time.Time
	From, To  State
	Reason    string
}

// Comment is a stored comment. Personal data is held only sealed (EmailSealed, IPSealed, opened
// with the privacy.Keyring and the comment ID as context) and as keyed hashes (AuthorKey, IPKey).
type Comment struct {
	ID          string
	ThreadID    string
	ParentID    string
	Depth       int // how deep a reply is nested: 0 for a top-level comment, 1 for a reply to one, ...
	AuthorName  string
	EmailSealed string
	AuthorKey   string
	IPSealed    string
	IPKey       string
	UserAgent   string
	Body        string
	SpamScore   float64 // 0..1 from the spam checks at submission; 0 when unscored
	State       State
	CreatedAt   time.Time
	PublishedAt time.Time // zero unless published
	HoldReasons []Reason
	Decision    *Decision // nil until a moderator decides
}

// AuthorHistory counts one author's comments by how moderators (or the spam checks) decided them.
type AuthorHistory struct {
	Approved, Rejected, Spam int64
}

// Thread is one thread's moderation settings.
type Thread struct {
	ID   string
	Mode Mode // ModeDefault: follow the site default
	// Closed means the thread refuses new comments: a moderator closed it, or its auto-close
	// period has run out.
	Closed bool
	// ClosedByAge means Closed only because the auto-close period has run out: nobody closed it,
	// so a server whose period is longer, or off, finds it open.
	ClosedByAge bool
	// AutoCloseAt is when the auto-close period ends (or ended), whatever closed the thread; zero
	// when auto-close is off or the period has not started (no comment since the thread was
	// created, or reopened without comments).
	AutoCloseAt time.Time
}

// PublishedPage is one page of a thread's published comments, with the thread's settings read
// in the same step, so a site shows the comment form or "comments are closed" under them.
type PublishedPage struct {
	Comments []Comment
	Next     string // the next page's token, "" at the end
	Thread   Thread
}

// ThreadCount is the number of published comments of one thread, with the thread's settings.
type ThreadCount struct {
	Published int64
	Thread    Thread
}

// Page asks for one page of a list.
type Page struct {
	Size  int    // already clamped by the caller's rules; see ClampPageSize
	Token string // opaque, from a previous page's Next
	// NewestFirst asks for the list in reverse order. Only ListPublished offers it (a thread's
	// latest comments, or its last page, without paging through the older ones); a token belongs
	// to the order it was made in.
	NewestFirst bool
}

// Default and maximum page sizes for every list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ClampPageSize turns a requested page size into the one used: 0 or less means the default.
func ClampPageSize(n int) int {
	// Negative sizes are refused before this (CheckPageSize); n <= 0 keeps any caller safe.
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// CheckPageSize adds a violation to verr for a negative page size: as Google's API guides ask, a
// negative page_size is refused, and 0 asks for the default.
func CheckPageSize(verr *ValidationError, n int) {
	if n < 0 {
		verr.Add("page_size", fmt.Sprintf("negative: want 1 to %d, or 0 for the default (%d); more is lowered to %d", MaxPageSize, DefaultPageSize, MaxPageSize))
	}
}

// Sentinel errors. The gRPC layer maps each to one status code and reason.
var (
	// ErrNotFound: no comment (or thread) with that id.
	ErrNotFound = errors.New("comment: not found")
	// ErrThreadClosed: the thread accepts no new comments.
	ErrThreadClosed = errors.New("comment: thread is closed")
	// ErrRequestReused: the submission's request id already made a comment in the thread, from a
	// request with another author, name, parent or body. A resend repeats the request unchanged
	// (and gets the first comment back); a new comment needs a new request id. Nothing was stored
	// or counted.
	ErrRequestReused = errors.New("comment: request id already used for another comment")
	// ErrRequestInProgress: the submission repeats a request whose first submission has not ended
	// yet (it may still be stored, or refused). Nothing was stored or counted; sent again in a
	// moment, it gets what the first got.
	ErrRequestInProgress = errors.New("comment: the same request is still in progress")
	// ErrInvalidPageToken: the page token is not one this server issued for the same query.
	ErrInvalidPageToken = errors.New("comment: invalid page token")
	// ErrUnavailable: the store could not be reached in time. Callers may retry.
	ErrUnavailable = errors.New("comment: store unavailable")
)

// ClosedError says why a thread refused a comment. It is ErrThreadClosed (errors.Is), so
// callers that need not know why branch on the sentinel.
type ClosedError struct {
	// ByAge means the thread's auto-close period has run out and nobody closed it; false, a
	// moderator closed it.
	ByAge bool
}

func (e *ClosedError) Error() string {
	if e.ByAge {
		return ErrThreadClosed.Error() + " by age"
	}
	return ErrThreadClosed.Error() + " by a moderator"
}

// Is reports whether target is ErrThreadClosed.
func (e *ClosedError) Is(target error) bool { return target == ErrThreadClosed }

// DepthError refuses a reply to a comment nested as deep as replies may be. It is ErrReplyTooDeep
// (errors.Is).
type DepthError struct {
	Max int // the deepest a reply may be; a top-level comment is at depth 0
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("%v: replies nest at most %d deep", ErrReplyTooDeep, e.Max)
}

// Is reports whether target is ErrReplyTooDeep.
func (e *DepthError) Is(target error) bool { return target == ErrReplyTooDeep }

// FieldViolation names one bad request field and what is wrong with it.
type FieldViolation struct {
	Field       string // the request field, in the API's snake_case, e.g. "author_email"
	Description string
}

// MaxViolations bounds the violations one ValidationError lists. A request with a long list of
// bad entries (a million empty thread ids fit in one message) would otherwise be answered with an
// error larger than any client accepts, made at the cost of a gigabyte of server memory; the first
// ones are enough to fix the request.
const MaxViolations = 20

// ValidationError lists every bad field of a request, up to MaxViolations. Nothing was stored.
type ValidationError struct {
	Violations []FieldViolation
	// Omitted counts the violations left out because Violations held MaxViolations already.
	Omitted int
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid request: ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Field + ": " + v.Description)
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "; and %d more", e.Omitted)
	}
	return b.String()
}

// Add records one violation, or counts it in Omitted once Violations holds MaxViolations.
func (e *ValidationError) Add(field, description string) {
	if len(e.Violations) >= MaxViolations {
		e.Omitted++
		return
	}
	e.Violations = append(e.Violations, FieldViolation{Field: field, Description: description})
}

// AddAll records the violations of err when it is a *ValidationError, as Add records each; other
// errors are ignored. It joins the violations of two checks of one request into one error.
func (e *ValidationError) AddAll(err error) {
	var v *ValidationError
	if !errors.As(err, &v) {
		return
	}
	for _, f := range v.Violations {
		e.Add(f.Field, f.Description)
	}
	e.Omitted += v.Omitted
}

// Err returns e when it holds violations and nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Violations) == 0 {
		return nil
	}
	return e
}

// ErasedAuthorName is the author name an anonymised comment shows. A name, rather than none, keeps
// every site template and client that prints the author working unchanged; it is the name
// WordPress gives, which readers know. It says nothing about the person.
const ErasedAuthorName = "Anonymous"

// Anonymised returns c as an erasure request leaves it: the text, thread, state, times and
// decisions stay; the name becomes ErasedAuthorName, and the sealed email and IP address, their
// keyed hashes and the user agent go.
func Anonymised(c Comment) Comment {
	c.AuthorName = ErasedAuthorName
	c.EmailSealed, c.AuthorKey, c.IPSealed, c.IPKey, c.UserAgent = "", "", "", "", ""
	return c
}

// ShortDuration writes d for moderators as it would be configured, without the zero units
// time.Duration writes: "360h" and "1h30m", not "360h0m0s" and "1h30m0s". Reasons and audit notes
// that name a window or a retention use it.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
