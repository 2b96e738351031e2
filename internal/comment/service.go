package comment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commentd/commentd/internal/privacy"
)

// Store errors for a reply whose parent does not qualify. The service turns them into a
// *ValidationError on parent_id.
var (
	ErrParentNotFound     = errors.New("comment: parent not found in this thread")
	ErrParentNotPublished = errors.New("comment: parent is not published")
	ErrReplyTooDeep       = errors.New("comment: parent is nested as deep as replies may be")
)

// CreateOptions are the facts the store needs to finish a submission in one atomic step.
type CreateOptions struct {
	// RequestID makes the call idempotent: a second Create with the same thread and request id
	// returns the first comment. Empty means no idempotency.
	RequestID string
	// Fingerprint identifies what the request asked for (see Service.Submit): a second Create with
	// the same thread and request id but another fingerprint is not a resend but a reuse of the
	// request id, refused with ErrRequestReused.
	Fingerprint string
	// DefaultMode is the site-wide moderation mode, used when the thread has none of its own.
	DefaultMode Mode
	// ResendOnly: answer from the request id's record only (Verdict.ResendOnly); without a record,
	// store nothing and return ErrRequestInProgress.
	ResendOnly bool
	// SkipPreModeration publishes the comment even on a pre-moderated thread (a trusted author).
	SkipPreModeration bool
}

// Store keeps comments. Implementations must make Create atomic and safe to run twice.
type Store interface {
	// NewID returns a fresh comment id for a comment of the thread (the id may encode where the
	// thread's data lives).
	NewID(threadID string) string
	// Create stores c unless the request id was seen before, in which case it returns the earlier
	// comment and created=false when opts.Fingerprint is the earlier request's, and
	// ErrRequestReused when it is not (storing nothing). With opts.ResendOnly and no earlier
	// record it stores nothing and returns ErrRequestInProgress. In the same atomic step it checks that the thread is open
	// (ErrThreadClosed), that a reply's parent exists in the thread (ErrParentNotFound) and is
	// published (ErrParentNotPublished), and resolves the moderation mode: a comment that arrives
	// as StatePublished becomes StatePending with a PRE_MODERATION reason when the thread's mode
	// (or opts.DefaultMode when the thread has none) is ModePre. Doing this inside the store keeps a
	// submission to one round trip.
	Create(ctx context.Context, c Comment, opts CreateOptions) (stored Comment, created bool, err error)
	// Get returns one comment or ErrNotFound.
	Get(ctx context.Context, id string) (Comment, error)
	// ListPublished returns one page of a thread's published comments, oldest first (newest
	// first with p.NewestFirst), the token of the next page ("" at the end) and the thread's
	// settings (closed, and closed by age, as GetThread reports them).
	ListPublished(ctx context.Context, threadID string, p Page) (PublishedPage, error)
	// CountPublished returns the number of published comments of each thread, in order, with
	// each thread's settings.
	CountPublished(ctx context.Context, threadIDs []string) ([]ThreadCount, error)
}

// Screener is a check run on every valid submission before it is stored: rate limits, bans, spam.
// It returns an error to refuse the submission (nothing is stored), or records in v why the
// comment must be held or treated as spam.
type Screener interface {
	Screen(ctx context.Context, d *Draft, v *Verdict) error
}

// Verdict collects what the screeners decided about one submission.
type Verdict struct {
	Hold   []Reason // any entry holds the comment for a moderator
	Spam   []Reason // any entry marks the comment spam
	Reject []Reason // any entry stores the comment as rejected (e.g. a shadow ban)
	// Score is the spam score, 0..1, stored with the comment for moderators.
	Score float64
	// SkipPreModeration lets the comment through pre-moderation (the author is trusted). Any Hold,
	// Spam or Reject entry still applies.
	SkipPreModeration bool
	// ResendOnly: the submission repeats a request whose first submission may not have ended
	// (a screener saw it pass, moments ago, and counted nothing for this one). The store may only
	// answer it from that request's record; without one it refuses with ErrRequestInProgress, as
	// storing it would store a comment nothing counted, maybe one a rule is refusing right now.
	ResendOnly bool
	// RefuseNew, with ResendOnly, is the error for a submission the store finds no record of:
	// a screener would refuse it (its author is banned now, say) but let it through for the
	// store to answer a resend of a request it passed earlier. Without RefuseNew such a
	// submission gets ErrRequestInProgress (its first may still be on its way).
	RefuseNew error
	// Undo holds what screeners must revert if the comment is finally not stored (for example
	// rate-limit counts taken for it). They run with the submission's context.
	Undo []func(context.Context)
}

// Options configures a Service.
type Options struct {
	Limits      Limits
	DefaultMode Mode             // site-wide moderation mode; ModeDefault means post-moderation
	Screeners   []Screener       // run in order on every valid submission
	Now         func() time.Time // defaults to time.Now
}

// Service receives comments from sites and serves the published ones back.
type Service struct {
	store     Store
	keys      *privacy.Keyring
	limits    Limits
	mode      Mode
	screeners []Screener
	now       func() time.Time
}

// NewService builds a Service.
func NewService(store Store, keys *privacy.Keyring, opts Options) *Service {
	s := &Service{
		store:     store,
		keys:      keys,
		limits:    opts.Limits.withDefaults(),
		mode:      opts.DefaultMode,
		screeners: opts.Screeners,
		now:       opts.Now,
	}
	if s.mode == ModeDefault {
		s.mode = ModePost
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// DefaultMode returns the site-wide moderation mode in force.
func (s *Service) DefaultMode() Mode { return s.mode }

// Submit validates, screens and stores a submission. The returned comment is StatePublished or
// StatePending (or StateSpam/StateRejected when a screener decided so; the site is shown those as
// pending by the API layer's choice).
//
// A request id seen before in the thread (within the store's idempotency period) is answered by
// the store: the same request again (Draft.RequestKey; a resend, the site lost our answer) gets
// the first comment; another request under that id (another author, name, parent or body: a bug
// of the site) gets ErrRequestReused and stores nothing. The abuse screener usually recognises
// both first and counts nothing (its marker of the request id rides in its own round trip); when
// it could not (it failed open, say), what the screeners counted is given back here, as for any
// submission the store does not take.
func (s *Service) Submit(ctx context.Context, sub Submission) (Comment, error) {
	d, err := s.limits.Validate(sub)
	if err != nil {
		return Comment{}, err
	}
	var v Verdict
	// undo gives back what the screeners took for a submission that is not stored: a later
	// screener's refusal or a failure before the store is reached must not leave the counts an
	// earlier screener took (rate limits, duplicate markers) for a comment that does not exist.
	undo := func() {
		for _, u := range v.Undo {
			u(ctx)
		}
	}
	for _, sc := range s.screeners {
		if err := sc.Screen(ctx, &d, &v); err != nil {
			undo()
			return Comment{}, err
		}
	}
	id := s.store.NewID(d.ThreadID)
	authorKey, ipKey := d.Keys(s.keys)
	c := Comment{
		ID:         id,
		ThreadID:   d.ThreadID,
		ParentID:   d.ParentID,
		AuthorName: d.AuthorName,
		AuthorKey:  authorKey,
		IPKey:      ipKey,
		UserAgent:  d.UserAgent,
		Body:       d.Body,
		CreatedAt:  s.now().UTC(),
	}
	if c.EmailSealed, err = s.keys.SealEmail(d.Email, id); err != nil {
		undo()
		return Comment{}, fmt.Errorf("seal email: %w", err)
	}
	if c.IPSealed, err = s.keys.SealIP(d.IP, id); err != nil {
		undo()
		return Comment{}, fmt.Errorf("seal ip: %w", err)
	}
	c.SpamScore = v.Score
	switch {
	case len(v.Reject) > 0:
		c.State = StateRejected
		c.HoldReasons = append(append(v.Reject, v.Spam...), v.Hold...)
	case len(v.Spam) > 0:
		c.State = StateSpam
		c.HoldReasons = append(v.Spam, v.Hold...)
	case len(v.Hold) > 0:
		c.State = StatePending
		c.HoldReasons = v.Hold
	default:
		c.State = StatePublished
		c.PublishedAt = c.CreatedAt
	}
	opts := CreateOptions{RequestID: d.RequestID, DefaultMode: s.mode, SkipPreModeration: v.SkipPreModeration}
	if d.RequestID != "" {
		opts.Fingerprint = d.RequestKey(s.keys)
		opts.ResendOnly = v.ResendOnly
	}
	stored, created, err := s.store.Create(ctx, c, opts)
	if (err != nil || !created) && !s.storedAnyway(ctx, err, c.ID) {
		undo()
	}
	switch {
	case errors.Is(err, ErrRequestInProgress) && v.RefuseNew != nil:
		return Comment{}, v.RefuseNew
	case errors.Is(err, ErrParentNotFound), errors.Is(err, ErrParentNotPublished), errors.Is(err, ErrReplyTooDeep):
		return Comment{}, ParentError(err)
	case err != nil:
		return Comment{}, fmt.Errorf("store comment: %w", err)
	}
	return stored, nil
}

// ParentError turns a store's refusal of a reply's parent (ErrParentNotFound,
// ErrParentNotPublished, ErrReplyTooDeep) into the *ValidationError on parent_id that Submit returns for it, so
// that a check of a submission that stores nothing (spam.Service.Check) answers as Submit does.
// Any other error, nil included, is returned as it is.
func ParentError(err error) error {
	switch {
	case errors.Is(err, ErrParentNotFound):
		return &ValidationError{Violations: []FieldViolation{{Field: "parent_id", Description: "no such comment in this thread"}}}
	case errors.Is(err, ErrParentNotPublished):
		return &ValidationError{Violations: []FieldViolation{{Field: "parent_id", Description: "the parent comment is not published"}}}
	case errors.Is(err, ErrReplyTooDeep):
		// The site shows no reply link at that depth (Comment.depth tells it); a reader who
		// replies anyway replies to the parent's parent or starts a new comment.
		desc := "the parent comment is nested as deep as replies may be"
		var de *DepthError
		if errors.As(err, &de) {
			desc = fmt.Sprintf("the parent comment is nested as deep as replies may be (%d below a top-level comment); reply to the comment it answers instead", de.Max)
		}
		return &ValidationError{Violations: []FieldViolation{{Field: "parent_id", Description: desc}}}
	}
	return err
}

// undoProbeTimeout bounds the look-up storedAnyway makes once the submission's own context may
// have ended.
const undoProbeTimeout = 500 * time.Millisecond

// storedAnyway reports whether a Create that failed with err may have stored comment id all the
// same. A store error other than a refusal leaves the outcome unknown: the call's deadline can
// pass, or its connection break, after Redis has run the write. Undoing the screeners' work then
// would give back the counts of a stored comment and remove its duplicate marker, so the reader's
// next post of the same text under a new request id would be stored a second time. Only a
// look-up that finds no such comment lets the undo run: one that fails too (Redis still too slow)
// leaves the outcome unknown, and keeping the counts then only makes the limits briefly stricter.
func (s *Service) storedAnyway(ctx context.Context, err error, id string) bool {
	if err == nil || errors.Is(err, ErrThreadClosed) || errors.Is(err, ErrParentNotFound) ||
		errors.Is(err, ErrParentNotPublished) || errors.Is(err, ErrRequestReused) || errors.Is(err, ErrRequestInProgress) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoProbeTimeout)
	defer cancel()
	_, gerr := s.store.Get(ctx, id)
	return !errors.Is(gerr, ErrNotFound)
}

// Get returns one comment.
func (s *Service) Get(ctx context.Context, id string) (Comment, error) {
	if !ValidID(id) {
		return Comment{}, &ValidationError{Violations: []FieldViolation{{Field: "name", Description: BadCommentName(id, "comments/{id}")}}}
	}
	return s.store.Get(ctx, id)
}

// ListPublished returns one page of a thread's published comments, oldest first, or newest first
// with p.NewestFirst, and the thread's settings.
func (s *Service) ListPublished(ctx context.Context, threadID string, p Page) (PublishedPage, error) {
	if err := ValidateListPublished(threadID, p); err != nil {
		return PublishedPage{}, err
	}
	p.Size = ClampPageSize(p.Size)
	return s.store.ListPublished(ctx, threadID, p)
}

// ValidateListPublished checks a ListPublished request and returns a *ValidationError naming
// every bad field, or nil. ListPublished runs it; the API layer runs it too when a field did not
// even convert, so that one error names that field and every other bad one.
func ValidateListPublished(threadID string, p Page) error {
	var verr ValidationError
	checkThreadID(&verr, threadID)
	CheckPageSize(&verr, p.Size)
	return verr.Err()
}

// MaxCountThreads bounds one CountPublished call.
const MaxCountThreads = 100

// CountPublished returns the number of published comments of each thread, in order, with each
// thread's settings.
func (s *Service) CountPublished(ctx context.Context, threadIDs []string) ([]ThreadCount, error) {
	var verr ValidationError
	switch {
	case len(threadIDs) == 0:
		verr.Add("thread_ids", "required: 1 to 100 thread ids")
	case len(threadIDs) > MaxCountThreads:
		verr.Add("thread_ids", fmt.Sprintf("at most %d thread ids, got %d", MaxCountThreads, len(threadIDs)))
	}
	for i, t := range threadIDs {
		switch {
		case t == "":
			// A gap in the site's list (an article without an id), not a malformed id.
			verr.Add(fmt.Sprintf("thread_ids[%d]", i), "required: an empty entry; want "+ThreadIDRule)
		case !ValidThreadID(t):
			verr.Add(fmt.Sprintf("thread_ids[%d]", i), NotAThreadID)
		}
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	return s.store.CountPublished(ctx, threadIDs)
}
