// Package moderation holds the rules for moderators' decisions: which state changes are allowed,
// what is recorded with each, and what a moderator may see of a comment. Storage comes in through
// the Store interface declared here.
package moderation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// ErrInvalidTransition is matched (errors.Is) by every *TransitionError.
var ErrInvalidTransition = errors.New("moderation: invalid state transition")

// TransitionError says a decision is not allowed from the comment's current state.
type TransitionError struct {
	ID       string
	From, To comment.State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("moderation: comment %s is %s and cannot become %s", e.ID, e.From, e.To)
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// Query filters the moderation queue.
type Query struct {
	State    comment.State // StatePending, StateRejected or StateSpam
	ThreadID string        // optional
}

// Store keeps comments and threads for moderators.
type Store interface {
	// Get returns one comment or comment.ErrNotFound.
	Get(ctx context.Context, id string) (comment.Comment, error)
	// Decide moves a comment to d.To and records d, atomically, provided the comment's current state
	// is one of allowedFrom; otherwise it returns a *TransitionError naming the current state. When the
	// comment already is in d.To it changes nothing and returns it (so a retried call succeeds).
	// d.From is filled in by the store.
	Decide(ctx context.Context, id string, d comment.Decision, allowedFrom []comment.State) (comment.Comment, error)
	// ListQueue returns one page of comments in q.State, oldest first, and the next page token.
	ListQueue(ctx context.Context, q Query, p comment.Page) ([]comment.Comment, string, error)
	// GetThread returns a thread's settings; a thread never configured has ModeDefault and is open.
	GetThread(ctx context.Context, threadID string) (comment.Thread, error)
	// UpdateThread sets the fields given (nil means unchanged) and returns the thread.
	UpdateThread(ctx context.Context, threadID string, mode *comment.Mode, closed *bool) (comment.Thread, error)
}

// View is the moderator's view of a comment: masked personal data only.
type View struct {
	Comment     comment.Comment
	MaskedEmail string
	MaskedIP    string
	History     comment.AuthorHistory // zero when no Histories source is configured
}

// Learner is told the outcome of every moderator decision, so the spam model learns from
// moderators. c is the comment after the decision. Learn must be idempotent per comment: it is
// called again when a decision is retried (and then changes nothing), so that a Learn that failed
// once is completed by the retry.
type Learner interface {
	Learn(ctx context.Context, c comment.Comment) error
}

// Histories reads authors' records (by keyed email hash), for the moderator's view.
type Histories interface {
	AuthorHistories(ctx context.Context, authorKeys []string) ([]comment.AuthorHistory, error)
}

// Options configures a Service.
type Options struct {
	DefaultMode comment.Mode     // site-wide moderation mode, to report a thread's effective mode
	Now         func() time.Time // defaults to time.Now
	Learner     Learner          // optional: learns from every decision
	Histories   Histories        // optional: fills View.History
}

// Service applies moderators' decisions.
type Service struct {
	store     Store
	keys      *privacy.Keyring
	mode      comment.Mode
	now       func() time.Time
	learner   Learner
	histories Histories
}

// NewService builds a Service.
func NewService(store Store, keys *privacy.Keyring, opts Options) *Service {
	s := &Service{store: store, keys: keys, mode: opts.DefaultMode, now: opts.Now, learner: opts.Learner, histories: opts.Histories}
	if s.mode == comment.ModeDefault {
		s.mode = comment.ModePost
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Action is a moderator decision.
type Action int

// The actions a moderator can take on a comment.
const (
	Approve     Action = iota + 1 // publish it
	Reject                        // never show it
	MarkSpam                      // take it down as spam; the spam model learns it
	MarkNotSpam                   // take back a spam verdict: back to the queue
	Reopen                        // undo a decision: back to the queue
)

func (a Action) String() string {
	switch a {
	case Approve:
		return "approve"
	case Reject:
		return "reject"
	case MarkSpam:
		return "mark_spam"
	case MarkNotSpam:
		return "mark_not_spam"
	case Reopen:
		return "reopen"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// rule returns the target state of an action and the states it may start from. Repeating an action
// on a comment already in its target state is always allowed and changes nothing.
func (a Action) rule() (to comment.State, from []comment.State) {
	switch a {
	case Approve:
		return comment.StatePublished, []comment.State{comment.StatePending, comment.StateRejected, comment.StateSpam}
	case Reject:
		return comment.StateRejected, []comment.State{comment.StatePending, comment.StatePublished, comment.StateSpam}
	case MarkSpam:
		return comment.StateSpam, []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected}
	case MarkNotSpam:
		// Only a spam verdict can be taken back; anything else is a different decision.
		return comment.StatePending, []comment.State{comment.StateSpam}
	case Reopen:
		return comment.StatePending, []comment.State{comment.StatePublished, comment.StateRejected, comment.StateSpam}
	}
	panic(fmt.Sprintf("moderation: unknown action %d", int(a)))
}

// ParseID accepts "comments/{id}" or a bare id and returns the id.
func ParseID(field, name string) (string, error) {
	id := strings.TrimPrefix(name, "comments/")
	if !comment.ValidID(id) {
		return "", &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: "not a comment name (want comments/{id} or an id)"}}}
	}
	return id, nil
}

// Decide applies an action by moderator to comment id with an optional reason.
func (s *Service) Decide(ctx context.Context, moderator string, a Action, id, reason string) (View, error) {
	reason, err := comment.ValidateReason("reason", reason)
	if err != nil {
		return View{}, err
	}
	to, from := a.rule()
	d := comment.Decision{Moderator: moderator, At: s.now().UTC(), To: to, Reason: reason}
	c, err := s.store.Decide(ctx, id, d, from)
	if err != nil {
		return View{}, err
	}
	if s.learner != nil {
		// The decision is stored; if learning fails the caller gets the error and a retry repeats
		// the (then no-op) decision and completes the learning.
		if err := s.learner.Learn(ctx, c); err != nil {
			return View{}, fmt.Errorf("learn from decision on %s: %w", id, err)
		}
	}
	return s.views(ctx, []comment.Comment{c})[0], nil
}

// Get returns the moderator's view of one comment.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.views(ctx, []comment.Comment{c})[0], nil
}

// ListQueue returns one page of the queue in the moderator's view.
func (s *Service) ListQueue(ctx context.Context, q Query, p comment.Page) ([]View, string, error) {
	var verr comment.ValidationError
	switch q.State {
	case comment.StateUnspecified:
		q.State = comment.StatePending
	case comment.StatePending, comment.StateRejected, comment.StateSpam:
	default:
		verr.Add("state", "want STATE_PENDING, STATE_REJECTED or STATE_SPAM")
	}
	if q.ThreadID != "" && !comment.ValidThreadID(q.ThreadID) {
		verr.Add("thread_id", "not a thread id")
	}
	if err := verr.Err(); err != nil {
		return nil, "", err
	}
	p.Size = comment.ClampPageSize(p.Size)
	cs, next, err := s.store.ListQueue(ctx, q, p)
	if err != nil {
		return nil, "", err
	}
	return s.views(ctx, cs), next, nil
}

// views builds the moderator's views of cs, with the authors' histories read in one call. A
// history that cannot be read leaves the zero history: the queue stays usable while the history
// source is down, and the view is a display aid, not a decision input.
func (s *Service) views(ctx context.Context, cs []comment.Comment) []View {
	views := make([]View, len(cs))
	for i, c := range cs {
		views[i] = s.view(c)
	}
	if s.histories == nil || len(cs) == 0 {
		return views
	}
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.AuthorKey
	}
	if hs, err := s.histories.AuthorHistories(ctx, keys); err == nil && len(hs) == len(cs) {
		for i := range views {
			views[i].History = hs[i]
		}
	}
	return views
}

// view masks the comment's personal data. A value that fails to open (a key was removed from the
// keyring, or the record was tampered with) shows as "•••" rather than failing the whole queue.
func (s *Service) view(c comment.Comment) View {
	v := View{Comment: c, MaskedEmail: "•••"}
	if e, err := s.keys.OpenEmail(c.EmailSealed, c.ID); err == nil {
		v.MaskedEmail = e.Masked()
	}
	if ip, err := s.keys.OpenIP(c.IPSealed, c.ID); err == nil {
		v.MaskedIP = ip.Masked()
	}
	return v
}

// ParseThreadID accepts "threads/{id}" or a bare id.
func ParseThreadID(field, name string) (string, error) {
	id := strings.TrimPrefix(name, "threads/")
	if !comment.ValidThreadID(id) {
		return "", &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: "not a thread name (want threads/{id} or an id)"}}}
	}
	return id, nil
}

// GetThread returns a thread's settings.
func (s *Service) GetThread(ctx context.Context, threadID string) (comment.Thread, error) {
	return s.store.GetThread(ctx, threadID)
}

// UpdateThread changes a thread's mode and/or closed flag (nil leaves a field as it is).
func (s *Service) UpdateThread(ctx context.Context, threadID string, mode *comment.Mode, closed *bool) (comment.Thread, error) {
	if mode != nil && (*mode < comment.ModeDefault || *mode > comment.ModePost) {
		return comment.Thread{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: "thread.moderation_mode", Description: "unknown mode"}}}
	}
	return s.store.UpdateThread(ctx, threadID, mode, closed)
}

// EffectiveMode returns the mode in force for t.
func (s *Service) EffectiveMode(t comment.Thread) comment.Mode {
	if t.Mode == comment.ModeDefault {
		return s.mode
	}
	return t.Mode
}
