// Package moderation holds the rules for moderators' decisions: which state changes are allowed,
// what is recorded with each, and what a moderator may see of a comment. Storage comes in through
// the Store interface declared here.
package moderation

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
	Action   Action // the decision refused; zero when not known
	From, To comment.State
}

func (e *TransitionError) Error() string {
	if allowed := e.Allowed(); allowed != nil {
		return fmt.Sprintf("moderation: comment %s is %s: %s takes only a comment that is %v", e.ID, e.From, e.Action, allowed)
	}
	return fmt.Sprintf("moderation: comment %s is %s and cannot become %s", e.ID, e.From, e.To)
}

// Allowed returns the states e.Action starts from, nil when the action is not known. It is what
// a client needs to be told: "cannot become pending" alone reads as if no action could put the
// comment back in the queue, while only this one cannot (mark not spam takes back a spam verdict,
// and reopen takes any decision back).
func (e *TransitionError) Allowed() []comment.State {
	if e.Action < Approve || e.Action > Reopen {
		return nil
	}
	_, from := e.Action.rule()
	return from
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// Query filters the moderation queue. Every filter but State is optional (zero means "any").
type Query struct {
	State         comment.State // StatePending, StateRejected or StateSpam
	ThreadID      string
	AuthorKey     string    // only this author (the keyed email hash)
	CreatedBefore time.Time // only comments created before this time
	MinScore      *float64  // only comments whose spam score is at least this
	MaxScore      *float64  // only comments whose spam score is at most this
	ReasonCode    string    // only comments with a hold reason of this code, such as "REPORTED"
}

// NeedsRecords reports whether q filters on fields of the comment record (author, spam score,
// hold reasons), which a store can only check by reading each candidate's record, as opposed to
// the queue's own order (thread, creation time).
func (q Query) NeedsRecords() bool {
	return q.AuthorKey != "" || q.MinScore != nil || q.MaxScore != nil || q.ReasonCode != ""
}

// Matches reports whether c passes every filter of q. Stores use it to check again what their
// index scan selected, so the filters mean the same in every store.
func (q Query) Matches(c comment.Comment) bool {
	switch {
	case c.State != q.State:
		return false
	case q.ThreadID != "" && c.ThreadID != q.ThreadID:
		return false
	case q.AuthorKey != "" && c.AuthorKey != q.AuthorKey:
		return false
	case !q.CreatedBefore.IsZero() && !c.CreatedAt.Before(q.CreatedBefore):
		return false
	case q.MinScore != nil && c.SpamScore < *q.MinScore:
		return false
	case q.MaxScore != nil && c.SpamScore > *q.MaxScore:
		return false
	}
	if q.ReasonCode == "" {
		return true
	}
	for _, r := range c.HoldReasons {
		if r.Code == q.ReasonCode {
			return true
		}
	}
	return false
}

// MaxQueueScan bounds how many queue entries one ListQueue call may look at per index (the
// thread's queue, or each shard's queue) when a filter needs the comments' records. A page
// that reaches the bound before it is full comes back short, possibly empty, with a next page
// token that continues the scan, so a rare author or reason never makes one call read the
// whole queue.
const MaxQueueScan = 1000

// Store keeps comments and threads for moderators.
type Store interface {
	// Get returns one comment or comment.ErrNotFound.
	Get(ctx context.Context, id string) (comment.Comment, error)
	// Decide moves a comment to d.To and records d, atomically, provided the comment's current state
	// is one of allowedFrom; otherwise it returns a *TransitionError naming the current state. When the
	// comment already is in d.To it changes nothing and returns it (so a retried call succeeds).
	// d.From is filled in by the store. In the same atomic step the store appends the action a to
	// the audit log, counts it in the statistics, ends any review claim on the comment and
	// announces the change to queue watchers; a call that changes nothing does none of these. A
	// comment the decision puts back in the queue (d.To pending) is claimed for d.Moderator for
	// DefaultLease, so that ClaimComments gives it to them and to nobody else meanwhile.
	//
	// A non-empty etag is checked in the same atomic step, after the target state and before
	// allowedFrom: when it differs from ETag of the comment as stored, nothing changes and Decide
	// returns a *StaleError holding the comment. A comment already in d.To is returned as above
	// whatever the etag: the decision changes nothing, and a call resent after its first sending
	// was applied (its etag now stale) succeeds like any retried decision.
	Decide(ctx context.Context, id string, a Action, d comment.Decision, allowedFrom []comment.State, etag string) (comment.Comment, error)
	// ListQueue returns one page of comments matching q, oldest first, and the next page token.
	// When q.NeedsRecords, a call looks at no more than MaxQueueScan entries per index and may
	// return a short (even empty) page with a next page token.
	ListQueue(ctx context.Context, q Query, p comment.Page) ([]comment.Comment, string, error)
	// GetThread returns a thread's settings; a thread never configured has ModeDefault and is open
	// unless its auto-close period has run out (then it is closed, ClosedByAge).
	GetThread(ctx context.Context, threadID string) (comment.Thread, error)
	// UpdateThread sets the fields given (nil means unchanged) and returns the thread as it was
	// just before the change and as it is after it. What it writes depends on the thread as stored
	// (a reopening starts a new auto-close period only for a closed thread, say), so it reads the
	// thread and writes it in one atomic step; before is that reading, so before and after differ
	// in what this call changed and nothing else, even while other updates of the thread run.
	//
	// A non-empty etag is checked in the same atomic step as the write: when it differs from
	// ThreadETag of the thread as stored, nothing changes and UpdateThread returns a
	// *StaleThreadError holding the thread. An update that changes nothing stored is returned as
	// without an etag, whatever the etag: a call resent after its first sending was applied (its
	// etag now stale) succeeds like any retried update.
	//
	// In the same step the store keeps the list ThreadLister reads: a thread left with a mode of
	// its own or a moderator's close is in it, as changed now; one back at both defaults is not.
	//
	// A change is appended to the audit log (AuditUpdateThread, in moderator's name, the reason
	// threadChange's) in the same atomic step, so a call whose reply is lost still records it,
	// once, and its resend, which changes nothing, records nothing more.
	UpdateThread(ctx context.Context, moderator, threadID string, mode *comment.Mode, closed *bool, etag string) (before, after comment.Thread, err error)
	ThreadLister
}

// View is the moderator's view of a comment: masked personal data only.
type View struct {
	Comment     comment.Comment
	MaskedEmail string
	MaskedIP    string
	History     comment.AuthorHistory // zero when no Histories source is configured
	Reports     []Report              // readers' reports, newest first, at most MaxReportsShown
	ReportCount int                   // distinct reports in all
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

	// The moderator workflow. Each is optional; the methods that need a missing one fail with an
	// error wrapping errors.ErrUnsupported (a wiring bug, never a client's fault).
	Audit   AuditLog    // actions other than comment decisions, and the log's reader
	Claims  Claims      // review claims
	Reports Reports     // readers' reports; also fills View.Reports
	Feed    QueueFeed   // queue events for watchers
	Stats   StatsSource // queue depths and daily counters
	// ReportThreshold is how many distinct reports take a published comment down into the queue;
	// 0 means DefaultReportThreshold.
	ReportThreshold int

	// Eraser serves erasure requests (erase.go) and Exporter access requests (export.go);
	// optional like the workflow's parts.
	Eraser   Eraser
	Exporter Exporter
	// EraseBatch is how many records one store call of an erasure or an export reads (0: 500),
	// and EraseCallTimeout bounds each such call (0: 5s).
	EraseBatch       int
	EraseCallTimeout time.Duration

	// LearnQueue lists the decisions the Learner has still to learn from (learn.go); optional.
	LearnQueue LearnQueue
	// Purger deletes spam past its retention (retention.go); optional.
	Purger SpamPurger
}

// Service applies moderators' decisions.
type Service struct {
	store     Store
	keys      *privacy.Keyring
	mode      comment.Mode
	now       func() time.Time
	learner   Learner
	histories Histories
	audit     AuditLog
	claims    Claims
	reports   Reports
	feed      QueueFeed
	stats     StatsSource
	threshold int

	eraser           Eraser
	exporter         Exporter
	eraseBatch       int
	eraseCallTimeout time.Duration

	learnQueue LearnQueue
	purger     SpamPurger

	watchReads eventReads
}

// NewService builds a Service.
func NewService(store Store, keys *privacy.Keyring, opts Options) *Service {
	s := &Service{
		store: store, keys: keys, mode: opts.DefaultMode, now: opts.Now, learner: opts.Learner, histories: opts.Histories,
		audit: opts.Audit, claims: opts.Claims, reports: opts.Reports, feed: opts.Feed, stats: opts.Stats,
		threshold: opts.ReportThreshold,
		eraser:    opts.Eraser, exporter: opts.Exporter, eraseBatch: opts.EraseBatch, eraseCallTimeout: opts.EraseCallTimeout,
		learnQueue: opts.LearnQueue, purger: opts.Purger,
	}
	if s.mode == comment.ModeDefault {
		s.mode = comment.ModePost
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.threshold <= 0 {
		s.threshold = DefaultReportThreshold
	}
	if s.eraseBatch <= 0 {
		s.eraseBatch = defaultEraseBatch
	}
	if s.eraseCallTimeout <= 0 {
		s.eraseCallTimeout = defaultEraseCallTimeout
	}
	return s
}

// unsupported is the error of a method whose collaborator was not configured.
func unsupported(what string) error {
	return fmt.Errorf("moderation: no %s configured: %w", what, errors.ErrUnsupported)
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
		return "", &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: comment.BadCommentName(id, "comments/{id} or an id")}}}
	}
	return id, nil
}

// ValidateDecisionReason checks a moderator's reason for a decision as comment.ValidateReason
// does, and refuses one that holds an email or IP address (privacy.HoldsAddress): the reason is
// kept in clear with the comment and in the audit log, both of which an erasure request leaves in
// place, so an address written there would outlive the reader's erasure. The masked forms
// moderators see (j•••@example.com, 203.0.113.x) are no addresses and may be quoted.
func ValidateDecisionReason(field, reason string) (string, error) {
	reason, err := comment.ValidateReason(field, reason)
	if err == nil && privacy.HoldsAddress(reason) {
		err = &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field,
			Description: "holds an email or IP address, which the comment and the audit log would keep after an erasure; name the comment or the masked address instead"}}}
	}
	return reason, err
}

// Decide applies an action by moderator to comment id with an optional reason. With an etag (see
// ETag) the decision is taken only if the comment has not changed since the moderator read it;
// otherwise it fails with a *StaleError and changes nothing.
func (s *Service) Decide(ctx context.Context, moderator string, a Action, id, reason, etag string) (View, error) {
	o, err := s.DecideOutcome(ctx, moderator, a, id, reason, etag)
	return o.View, err
}

// Outcome is what a decision did.
type Outcome struct {
	View View // the comment after the decision
	// Changed is false when the comment already was in the state the decision puts it in (a
	// reopening of a comment that waits in the queue): the call recorded, audited and claimed
	// nothing, and View shows the comment as it was, with the last decision taken before.
	Changed bool
}

// DecideOutcome is Decide, also telling whether the decision changed the comment, which the
// comment alone does not say: a reopened comment and one that was pending all along look alike.
func (s *Service) DecideOutcome(ctx context.Context, moderator string, a Action, id, reason, etag string) (Outcome, error) {
	reason, reasonErr := ValidateDecisionReason("reason", reason)
	var verr comment.ValidationError
	verr.AddAll(reasonErr)
	verr.AddAll(ValidateETag("etag", etag))
	if err := verr.Err(); err != nil {
		return Outcome{}, err
	}
	to, from := a.rule()
	d := comment.Decision{Moderator: moderator, At: s.now().UTC(), To: to, Reason: reason}
	c, err := s.store.Decide(ctx, id, a, d, from, etag)
	if err != nil {
		return Outcome{}, err
	}
	if s.learner != nil {
		// The decision is stored; if learning fails the caller gets the error and a retry repeats
		// the (then no-op) decision and completes the learning. Without a retry (the server
		// crashed, the moderator moved on) LearnPending completes it.
		if err := s.learn(ctx, c); err != nil {
			return Outcome{}, fmt.Errorf("learn from decision on %s: %w", id, err)
		}
	}
	s.learnt(ctx, c)
	return Outcome{View: s.views(ctx, []comment.Comment{c})[0], Changed: isDecision(c.Decision, d)}, nil
}

// isDecision reports whether got, a comment's last decision as stored, is d. The store answers a
// decision that changes nothing with the comment as it is, whose last decision is an older one or
// none. A call the store's client sent again after its first sending was applied carries the same
// decision, time included, so it still counts as the change it made. Times are compared to the
// microsecond, as stores keep them.
func isDecision(got *comment.Decision, d comment.Decision) bool {
	return got != nil && got.Moderator == d.Moderator && got.To == d.To &&
		got.At.Truncate(time.Microsecond).Equal(d.At.Truncate(time.Microsecond))
}

// maxLearnRounds bounds how often learn follows a comment that other decisions keep moving.
const maxLearnRounds = 4

// learn teaches what c, just decided, teaches, then reads the comment again and, when another
// decision has been made on it since, teaches that one. Two moderators deciding one comment at once
// (one approves while the other marks it spam) each learn after their own decision, in either
// order: without the second look, the one that learns last leaves the spam model and the author's
// record with its decision whatever decision the comment ends with. Whoever learns last reads the
// final decision after learning, so the last decision has the last word.
func (s *Service) learn(ctx context.Context, c comment.Comment) error {
	for range maxLearnRounds {
		if err := s.learner.Learn(ctx, c); err != nil {
			return err
		}
		now, err := s.store.Get(ctx, c.ID)
		switch {
		case errors.Is(err, comment.ErrNotFound):
			return nil
		case err != nil:
			return err
		case sameDecision(now.Decision, c.Decision):
			return nil
		}
		c = now
	}
	return nil
}

// sameDecision reports whether a and b are the same decision (or both none). The lesson comes
// from the last decision, not the state: readers' reports change the state without one, so a
// comment may be back in the state c had after another decision taught something else.
func sameDecision(a, b *comment.Decision) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.To == b.To && a.At.Equal(b.At)
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
	if err := q.Validate(p); err != nil {
		return nil, "", err
	}
	if q.State == comment.StateUnspecified {
		q.State = comment.StatePending
	}
	p.Size = comment.ClampPageSize(p.Size)
	cs, next, err := s.store.ListQueue(ctx, q, p)
	if err != nil {
		return nil, "", err
	}
	return s.views(ctx, cs), next, nil
}

// Validate checks a ListQueue request and returns a *comment.ValidationError naming every bad
// field, or nil. ListQueue runs it; the API layer runs it too when a field did not even convert,
// so that one error names that field and every other bad one.
func (q Query) Validate(p comment.Page) error {
	var verr comment.ValidationError
	switch q.State {
	case comment.StateUnspecified, comment.StatePending, comment.StateRejected, comment.StateSpam:
	default:
		verr.Add("state", "want STATE_PENDING, STATE_REJECTED or STATE_SPAM")
	}
	if q.ThreadID != "" && !comment.ValidThreadID(q.ThreadID) {
		verr.Add("thread_id", comment.NotAThreadID)
	}
	if q.AuthorKey != "" && !authorKeyPattern.MatchString(q.AuthorKey) {
		verr.Add("author_key", "not an author key (copy it from the moderator view)")
	}
	for _, f := range []struct {
		field string
		v     *float64
	}{{"min_spam_score", q.MinScore}, {"max_spam_score", q.MaxScore}} {
		if f.v != nil && !(*f.v >= 0 && *f.v <= 1) { // also refuses NaN
			verr.Add(f.field, "want a score from 0 to 1")
		}
	}
	if q.MinScore != nil && q.MaxScore != nil && *q.MinScore > *q.MaxScore {
		verr.Add("max_spam_score", "below min_spam_score: nothing can match")
	}
	if q.ReasonCode != "" && !reasonCodePattern.MatchString(q.ReasonCode) {
		verr.Add("reason_code", "want an UPPER_SNAKE code such as TOO_MANY_LINKS")
	}
	comment.CheckPageSize(&verr, p.Size)
	return verr.Err()
}

// Patterns of the queue filters. Author keys are the keyed hashes privacy.Keyring makes
// (base64url or hex); reason codes are the checks' UPPER_SNAKE codes.
var (
	authorKeyPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	reasonCodePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
)

// views builds the moderator's views of cs, with the authors' histories and the comments'
// reports each read in one call. A history or report summary that cannot be read leaves the
// zero value: the queue stays usable while that source is down, and both are display aids,
// not decision inputs.
func (s *Service) views(ctx context.Context, cs []comment.Comment) []View {
	views := make([]View, len(cs))
	for i, c := range cs {
		views[i] = s.view(c)
	}
	if len(cs) == 0 {
		return views
	}
	if s.histories != nil {
		keys := make([]string, len(cs))
		for i, c := range cs {
			keys[i] = c.AuthorKey
		}
		if hs, err := s.histories.AuthorHistories(ctx, keys); err == nil && len(hs) == len(cs) {
			for i := range views {
				views[i].History = hs[i]
			}
		}
	}
	if s.reports != nil {
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		if rs, err := s.reports.ReportSummaries(ctx, ids); err == nil && len(rs) == len(cs) {
			for i := range views {
				views[i].Reports, views[i].ReportCount = rs[i].Recent, rs[i].Count
			}
		}
	}
	return views
}

// view masks the comment's personal data. A value that fails to open (a key was removed from the
// keyring, or the record was tampered with) shows as "•••" rather than failing the whole queue.
func (s *Service) view(c comment.Comment) View {
	v := View{Comment: c}
	// An erased comment has no email at all, which is not a value that fails to open.
	if c.EmailSealed != "" {
		v.MaskedEmail = "•••"
		if e, err := s.keys.OpenEmail(c.EmailSealed, c.ID); err == nil {
			v.MaskedEmail = e.Masked()
		}
	}
	// No address at all (the site sent none, or an erasure took it) shows as none.
	if c.IPSealed != "" {
		v.MaskedIP = "•••"
		if ip, err := s.keys.OpenIP(c.IPSealed, c.ID); err == nil {
			v.MaskedIP = ip.Masked()
		}
	}
	return v
}

// ParseThreadID accepts "threads/{id}" or a bare id.
func ParseThreadID(field, name string) (string, error) {
	id := strings.TrimPrefix(name, "threads/")
	if !comment.ValidThreadID(id) {
		return "", &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: comment.BadName("thread", id, "threads/{id} or an id, of "+comment.ThreadIDRule)}}}
	}
	return id, nil
}

// GetThread returns a thread's settings.
func (s *Service) GetThread(ctx context.Context, threadID string) (comment.Thread, error) {
	return s.store.GetThread(ctx, threadID)
}

// UpdateThread changes a thread's mode and/or closed flag (nil leaves a field as it is) for
// moderator, and records a change in the audit log. With an etag (see ThreadETag) the update is
// made only if the thread has not changed since the moderator read it; otherwise it returns a
// *StaleThreadError.
//
// The store records the entry in the update's own atomic step (Store.UpdateThread), saying what
// this call changed from the thread as it found it there: a thread read before the update may
// have been changed by a colleague in between, and an entry made from that reading would claim
// the colleague's change (both would be logged for one change), or miss this call's (reopening
// what the colleague had just closed). Written after the update, the entry would be lost when the
// update's reply is (the call's deadline passed while Redis answered), and the moderator's resend,
// which changes nothing, would record nothing either.
func (s *Service) UpdateThread(ctx context.Context, moderator, threadID string, mode *comment.Mode, closed *bool, etag string) (comment.Thread, error) {
	var verr comment.ValidationError
	if mode != nil && (*mode < comment.ModeDefault || *mode > comment.ModePost) {
		verr.Add("thread.moderation_mode", "unknown mode")
	}
	verr.AddAll(ValidateETag("thread.etag", etag))
	if err := verr.Err(); err != nil {
		return comment.Thread{}, err
	}
	if moderator == "" || len(moderator) > maxAuditModerator {
		return comment.Thread{}, fmt.Errorf("moderation: update thread: moderator %q: want 1 to %d bytes", moderator, maxAuditModerator)
	}
	_, after, err := s.store.UpdateThread(ctx, moderator, threadID, mode, closed, etag)
	return after, err
}

// EffectiveMode returns the mode in force for t.
func (s *Service) EffectiveMode(t comment.Thread) comment.Mode {
	if t.Mode == comment.ModeDefault {
		return s.mode
	}
	return t.Mode
}
