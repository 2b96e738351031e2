package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	// Against the import rules (see the package comment): the Guard answers with comment's
	// outcomes (ErrUnavailable, ErrRequestReused, ErrRequestInProgress) and reads its AuthorHistory.
	"github.com/commentd/commentd/internal/comment"
)

// Subject is what the Guard knows of one submission. Personal data arrives only as keyed hashes,
// except the address itself, which is needed to match ranges and is never stored or logged.
type Subject struct {
	AuthorKey string // keyed hash of the normalised email (privacy.Keyring.EmailKey)
	IPKey     string // keyed hash of the address (privacy.Keyring.IPKey), for bans; "" when unknown
	// IPLimitKey is what the ip rules count (privacy.Keyring.IPLimitKey: an IPv6 address's /64);
	// "" counts IPKey instead.
	IPLimitKey string
	IP         netip.Addr // the address, for range bans and trusted ranges; invalid when unknown
	ThreadID   string
	TextKey    string // keyed hash of DuplicateText (privacy.Keyring.TextKey); "" skips duplicate control
	RequestID  string // the client's idempotency key; "" when none
	// RequestKey identifies what the request asks for (comment.Draft.RequestKey); with RequestID
	// it tells a resend of a request from another request under the same id.
	RequestKey string
}

// Take is one rule counted against one key value.
type Take struct {
	Rule    Rule
	Subject string // the counted value: the IP or author hash, the thread id; "" for KeySite
	// Drained is when the count this take added has run off (the rule's state it left, on the
	// store's clock), as the store reports it in Result.Taken; zero when unknown. A refund past it
	// gives nothing back: the rule's state is then other submissions' counts alone.
	Drained time.Time
}

// DuplicateCheck asks the store for the duplicate marker of one text by one author.
type DuplicateCheck struct {
	AuthorKey string
	TextKey   string
	Window    time.Duration // how long the marker lives
	// RequestID is the submission's idempotency key ("" when none). The store keeps it in the
	// marker so that a retried request is told apart from a real duplicate: see DuplicateReplay.
	RequestID string
}

// RequestCheck asks the store for the marker of one request id in one thread (the scope of a
// request id). The first check of the request sets it, holding Key, for as long as the comment
// store answers that request id; a later check finds it and tells a resend (the same Key) from
// another request reusing the id, before anything is counted for either.
type RequestCheck struct {
	ThreadID  string
	RequestID string
	Key       string // Subject.RequestKey
}

// RequestSettle is Options.Settle's default: a bound, far above a submission's usual life, of the
// time from a submission's abuse check to its end (the write of its comment, or the refund of
// what it counted). A request marker younger than the bound may belong to a submission still on
// its way, which may yet be refused: a resend seeing it is answered only from the comment store's
// record (Outcome.Unsettled). An older marker whose request stored nothing was left by a
// submission that never ended (its server stopped between check and write, or Redis failed and
// its refund was lost): a resend then stores the comment.
const RequestSettle = time.Minute

// RequestState is what the store found for a RequestCheck.
type RequestState int

// The request states.
const (
	RequestNew    RequestState = iota // no marker: the store set ours (if the rules it rides with passed)
	RequestResent                     // a marker of the same request: a resend
	RequestReused                     // a marker of another request under the same id
)

// BanLookup is what a submission may be banned by.
type BanLookup struct {
	AuthorKey string
	IPKey     string // the address's keyed hash (bans of one IPv4 address, and IPv6 bans made before /64 bans)
	// NetKey is the keyed hash of an IPv6 address's /64 (privacy.Keyring.IPLimitKey), which bans of
	// an IPv6 address name; "" or IPKey for an IPv4 address.
	NetKey string
	IP     netip.Addr
}

// Query is one submission's whole abuse check, for the store to run in one round trip.
type Query struct {
	// ID is random and unique to this check. The store marks its writes with it, so that a command
	// the Redis client resends after a lost reply is not applied twice where that would matter.
	ID        string
	Takes     []Take
	Duplicate *DuplicateCheck // nil: no duplicate control
	Request   *RequestCheck   // nil: the submission has no request id
	Bans      BanLookup
	// History is the author key whose record (comment.AuthorHistory) to read, "" for none. The store
	// reads it in the author's script call, so it costs no command of its own when the author has
	// rules or a duplicate check.
	History string
	Now     time.Time // for ban expiry
}

// DuplicateState is what the store found for a DuplicateCheck.
type DuplicateState int

// The duplicate states.
const (
	DuplicateNone   DuplicateState = iota // no marker: the store set ours (if the rules it rides with passed)
	DuplicateFound                        // a marker of another submission: a duplicate
	DuplicateReplay                       // a marker of an earlier check with the same request id: a retried request
)

// Refusal is one rule that refused.
type Refusal struct {
	Rule       string
	RetryAfter time.Duration
}

// Ticket is what one Screen counted: exactly what Refund gives back, once.
type Ticket struct {
	ID        string // the Query's ID
	Takes     []Take
	Duplicate *DuplicateCheck // the marker set, or nil
	Request   *RequestCheck   // the request marker set, or nil
	// Unsure: the Screen that may have counted these failed without a reply (its deadline
	// passed, its connection broke), so it may have counted all, some or none of them. Refund then
	// gives back only what the store finds this check's own (its marker, its take mark), never a
	// count another submission took.
	Unsure bool
}

// IsZero reports whether nothing was counted.
func (t Ticket) IsZero() bool { return len(t.Takes) == 0 && t.Duplicate == nil && t.Request == nil }

// Result is what the store found and did for a Query.
type Result struct {
	// Ban is the most specific active ban (author, then address, then the narrowest range), with
	// the end of the last active ban of the subject as its ExpiresAt (zero while one is permanent):
	// the time the subject may submit again.
	Ban       *Ban
	Duplicate DuplicateState
	Request   RequestState
	// MarkerAge is how long ago the marker found was set: the request marker (RequestResent) or,
	// without one, the duplicate marker holding the request (DuplicateReplay). Zero when not known:
	// the marker then counts as young.
	MarkerAge time.Duration
	Refused   []Refusal
	// Shadowed are the shadow rules (Rule.Shadow) that would have refused, with the wait each
	// would have asked for (1µs when the store no longer knows it: a resent call). They refused
	// nothing and counted nothing: their takes are not in Taken.
	Shadowed []Refusal
	// Taken is what the store counted. The store never counts a refused take, nor a shadow rule's
	// that would have refused; it counts every other take when none is refused and there is no
	// duplicate; in between (takes kept apart for Redis Cluster
	// can't be decided together) it may have counted some, and reports exactly which.
	Taken Ticket
	// History is the author's record when the Query asked for it; an author nobody decided about
	// has a zero record, not nil.
	History *comment.AuthorHistory
}

// Store is the storage the Guard needs.
type Store interface {
	// Screen runs q: looks up bans, checks (and sets) the duplicate and request markers and counts
	// the takes.
	Screen(ctx context.Context, q Query) (Result, error)
	// Refund gives back what a Screen counted. It is best effort: a refund lost to an outage only
	// makes the limits briefly stricter. An unsure ticket (Ticket.Unsure) gives back only what the
	// store finds the check's own.
	Refund(ctx context.Context, t Ticket) error
	// Banned returns the most specific ban on l active at now, or nil, with ExpiresAt as in
	// Result.Ban.
	Banned(ctx context.Context, l BanLookup, now time.Time) (*Ban, error)
}

// Event is something the Guard reports to its Observer.
type Event int

// The events, with the label that comes with each.
const (
	EventLimited      Event = iota + 1 // a rule refused a submission; label: the rule name
	EventBanned                        // a banned subject tried to submit; label: the ban's target kind
	EventDuplicate                     // a duplicate was refused; no label
	EventFailOpen                      // the store failed and the submission went through unchecked; no label
	EventRefundFailed                  // giving back a count failed; no label
	// A shadow rule (Rule.Shadow) would have refused a submission; label: the rule name. Reported
	// where EventLimited would be, had the rule been enforced: for a submission let through, and for
	// one another rule refused; not for a duplicate, a resend or a ban reported before the rules.
	EventShadowLimited
)

func (e Event) String() string {
	switch e {
	case EventLimited:
		return "limited"
	case EventBanned:
		return "banned"
	case EventDuplicate:
		return "duplicate"
	case EventFailOpen:
		return "fail_open"
	case EventRefundFailed:
		return "refund_failed"
	case EventShadowLimited:
		return "shadow_limited"
	}
	return fmt.Sprintf("event(%d)", int(e))
}

// Observer receives the Guard's events, for metrics. Labels are rule names and target kinds only:
// a bounded set that never holds personal data. Observe must be fast and safe for concurrent use.
type Observer interface {
	Observe(e Event, label string)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(e Event, label string)

// Observe calls f.
func (f ObserverFunc) Observe(e Event, label string) { f(e, label) }

// DefaultDuplicateWindow is how long the same text from the same author in the same thread counts as
// a duplicate, when Options leave it 0.
const DefaultDuplicateWindow = 10 * time.Minute

// Options configures a Guard.
type Options struct {
	// Rules are the rate limits, checked on every submission. Empty means none: the config loader
	// puts DefaultRules here when the operator wrote no rules section.
	Rules []Rule
	// DuplicateWindow is how long a text counts as a duplicate: 0 means DefaultDuplicateWindow,
	// a negative value turns duplicate control off.
	DuplicateWindow time.Duration
	// Trusted authors and ranges skip the rate limits (not bans, not duplicate control).
	Trusted Trusted
	// FailOpen lets submissions through unchecked when the store is unavailable or slower than
	// Timeout; each is reported as EventFailOpen and logged. The default, fail closed, refuses them
	// with an error wrapping comment.ErrUnavailable.
	FailOpen bool
	// Timeout bounds the whole abuse check; 0 leaves only the caller's deadline. With FailOpen it
	// is what keeps a slow Redis from slowing every submission.
	Timeout time.Duration
	// CountBanned checks and counts a banned subject's submission like anyone else's (for shadow
	// bans): it is refused as a duplicate or over a rule exactly when it would be without the ban,
	// so the answers the site gets cannot tell a shadow-banned reader that they are banned, and a
	// banned reader cannot store rejected comments faster than the rules allow. Without it a ban
	// is reported before anything else and nothing is counted (for refusing bans openly).
	CountBanned bool
	// Settle bounds the time from a submission's abuse check to its end (see RequestSettle, the
	// default for 0): the server's bound on a call plus RefundTimeout. A resend within it of a
	// request whose first submission has not ended is refused (comment.ErrRequestInProgress); the
	// shorter it is, the sooner a resend after a crash goes through.
	Settle   time.Duration
	Observer Observer         // may be nil
	Logger   *slog.Logger     // may be nil: no logs
	Now      func() time.Time // defaults to time.Now
}

// Guard runs the abuse checks of submissions: bans, duplicate control and rate limits. Safe for
// concurrent use.
type Guard struct {
	store       Store
	rules       []Rule
	dupWin      time.Duration
	trusted     Trusted
	failOpen    bool
	timeout     time.Duration
	countBanned bool
	settle      time.Duration
	obs         Observer
	log         *slog.Logger
	now         func() time.Time
	// failOpenLog and refundLog throttle the two lines written once per submission while Redis
	// fails (warnEvery).
	failOpenLog, refundLog *Throttle
}

// warnEvery is the least time between two of the Guard's lines of one kind about a failing
// store. While Redis is down every submission goes through unchecked (FailOpen) or fails and
// cannot give its counts back: a line for each, at a busy site's hundreds of submissions a
// second, would bury the log. The Observer counts every one; the next line written says how many
// it stands for (not_logged_since).
const warnEvery = 10 * time.Second

// Throttle lets one event through per interval and counts the others, so that the next log line
// can say how many it stands for. Written here rather than taken from golang.org/x/time/rate
// (whose Sometimes does the same) because Sometimes cannot report what it skipped. The zero
// value lets every event through; grpcserver uses it for its own failure lines too.
type Throttle struct {
	every   time.Duration
	mu      sync.Mutex
	last    time.Time
	skipped int
}

// NewThrottle returns a Throttle that lets one event through per every.
func NewThrottle(every time.Duration) *Throttle { return &Throttle{every: every} }

// Allow reports whether an event at now should be logged and, if so, how many were held back
// since the last one that was.
func (t *Throttle) Allow(now time.Time) (ok bool, skipped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.every {
		t.skipped++
		return false, 0
	}
	skipped, t.last, t.skipped = t.skipped, now, 0
	return true, skipped
}

// NewGuard builds a Guard. The rules must come from ParseRules (or DefaultRules).
func NewGuard(store Store, opts Options) *Guard {
	g := &Guard{
		store:       store,
		rules:       append([]Rule(nil), opts.Rules...),
		dupWin:      opts.DuplicateWindow,
		trusted:     opts.Trusted,
		failOpen:    opts.FailOpen,
		timeout:     opts.Timeout,
		countBanned: opts.CountBanned,
		settle:      opts.Settle,
		obs:         opts.Observer,
		log:         opts.Logger,
		now:         opts.Now,
		failOpenLog: NewThrottle(warnEvery),
		refundLog:   NewThrottle(warnEvery),
	}
	if g.dupWin == 0 {
		g.dupWin = DefaultDuplicateWindow
	}
	if g.settle <= 0 {
		g.settle = RequestSettle
	}
	if g.obs == nil {
		g.obs = ObserverFunc(func(Event, string) {})
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g
}

// Outcome is a submission the Guard let through.
type Outcome struct {
	// Ban, when not nil, is the ban the subject is under. Nothing was counted, unless the Guard
	// counts banned subjects (Options.CountBanned): then Ticket holds the counts as for anyone. The
	// caller chooses how to refuse: openly (a *BannedError) or silently (store the comment as rejected).
	Ban *Ban
	// Unchecked: the store failed and FailOpen let the submission through without any check.
	Unchecked bool
	// Replay: a resend of a request already seen (same request id, same author and text); nothing
	// more was counted, so the resend gets the first answer from the comment store instead of a
	// rate-limit error.
	Replay bool
	// Unsettled: a Replay whose first submission may not have ended (its marker is younger than
	// Options.Settle): it may still be stored, or refused. The resend must be answered from the
	// comment store's record only (comment.Verdict.ResendOnly): stored by itself, it would be a
	// comment no rule counted, perhaps over a limit that is refusing the first right now.
	Unsettled bool
	// Ticket is what was counted. Pass it to Refund if a later step refuses the submission. For an
	// Unchecked submission it is what the failed check may have counted (Ticket.Unsure).
	Ticket Ticket
	// History is the author's record, read in the same round trip; nil when the submission has no
	// author key or went through Unchecked.
	History *comment.AuthorHistory
}

// Check runs every abuse check of s in one store call. It returns a *LimitError when a rule
// refuses, ErrDuplicate for a duplicate, comment.ErrRequestReused when s's request id was used
// by another request in the thread, and an error wrapping comment.ErrUnavailable when the store
// fails (unless FailOpen). A refused submission is not counted by any rule: whatever the store
// counted in the same round trip is given back. So is whatever it counted for a resend of a
// request already seen, which is let through (Outcome.Replay) for the comment store to answer
// with the first comment, whatever the rules would say now. A store failure may come after the
// store ran the check: what it may have counted is given back too, unsurely (Ticket.Unsure).
func (g *Guard) Check(ctx context.Context, s Subject) (Outcome, error) {
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	q := Query{
		ID:      newCheckID(),
		Bans:    BanLookup{AuthorKey: s.AuthorKey, IPKey: s.IPKey, NetKey: s.IPLimitKey, IP: s.IP},
		History: s.AuthorKey,
		Now:     g.now(),
	}
	if !g.trusted.Contains(s.AuthorKey, s.IP) {
		q.Takes = g.takes(s)
	}
	if g.dupWin > 0 && s.TextKey != "" && s.AuthorKey != "" {
		q.Duplicate = &DuplicateCheck{AuthorKey: s.AuthorKey, TextKey: s.TextKey, Window: g.dupWin, RequestID: s.RequestID}
	}
	if s.RequestID != "" && s.RequestKey != "" && s.ThreadID != "" {
		// Whatever the rules, duplicate control or trust: a request id names one request.
		q.Request = &RequestCheck{ThreadID: s.ThreadID, RequestID: s.RequestID, Key: s.RequestKey}
	}
	res, err := g.store.Screen(ctx, q)
	if err != nil {
		return g.failed(ctx, err, Ticket{ID: q.ID, Takes: q.Takes, Duplicate: q.Duplicate, Request: q.Request, Unsure: true})
	}
	switch {
	case res.Ban != nil && !g.countBanned:
		g.refund(ctx, res.Taken)
		g.obs.Observe(EventBanned, res.Ban.Target.Kind.String())
		o := Outcome{Ban: res.Ban, History: res.History}
		// A resend of a request let through before the ban still gets its first answer (the
		// caller lets the comment store give it): the site lost that answer, and a refusal
		// now would tell it that a stored comment was not.
		switch {
		case res.Request == RequestResent:
			o.Replay, o.Unsettled = true, res.MarkerAge < g.settle
		case res.Duplicate == DuplicateReplay:
			o.Replay, o.Unsettled = true, res.MarkerAge < g.settle
		}
		return o, nil
	case res.Request == RequestReused:
		// A bug of the site, not the reader's doing: reported before any verdict on the text.
		g.refund(ctx, res.Taken)
		return Outcome{}, fmt.Errorf("abuse check: %w", comment.ErrRequestReused)
	case res.Request == RequestResent:
		g.refund(ctx, res.Taken)
		return Outcome{Replay: true, Unsettled: res.MarkerAge < g.settle, Ban: res.Ban, History: res.History}, nil
	case res.Duplicate == DuplicateFound:
		g.refund(ctx, res.Taken)
		g.obs.Observe(EventDuplicate, "")
		return Outcome{}, ErrDuplicate
	case res.Duplicate == DuplicateReplay:
		// The request's own marker said nothing: its refund or its setting may be under way in
		// another slot, and the first submission may not have ended, unless the duplicate marker
		// is older than the settle bound. Then the first submission ended without storing its
		// comment and without giving its duplicate marker back (Redis refused the refund, or
		// the server stopped), and the resend is stored, as after an old request marker: were it
		// told to wait, it would be for the whole duplicate window.
		g.refund(ctx, res.Taken)
		return Outcome{Replay: true, Unsettled: res.MarkerAge < g.settle, Ban: res.Ban, History: res.History}, nil
	case len(res.Refused) > 0:
		g.refund(ctx, res.Taken)
		g.shadowed(ctx, res.Shadowed)
		worst := res.Refused[0]
		for _, r := range res.Refused {
			g.obs.Observe(EventLimited, r.Rule)
			if r.RetryAfter > worst.RetryAfter {
				worst = r
			}
		}
		return Outcome{}, &LimitError{Rule: worst.Rule, RetryAfter: retryDelay(worst.RetryAfter)}
	case res.Ban != nil:
		g.shadowed(ctx, res.Shadowed)
		g.obs.Observe(EventBanned, res.Ban.Target.Kind.String())
		return Outcome{Ban: res.Ban, Ticket: res.Taken, History: res.History}, nil
	}
	g.shadowed(ctx, res.Shadowed)
	return Outcome{Ticket: res.Taken, History: res.History}, nil
}

// shadowed reports the shadow rules that would have refused a submission. The log line is at
// debug, one per rule: a shadow rule being tried may refuse many submissions, and the counter is
// what an operator watches. Like every line of the Guard it names no author, address or thread.
func (g *Guard) shadowed(ctx context.Context, rs []Refusal) {
	for _, r := range rs {
		g.obs.Observe(EventShadowLimited, r.Rule)
		g.log.DebugContext(ctx, "abuse check: shadow rule would have refused the submission", "rule", r.Rule, "retry_after", r.RetryAfter.String())
	}
}

// takes lists the rules that apply to s with the value each counts. A rule on the IP is skipped
// when the site sent no address.
func (g *Guard) takes(s Subject) []Take {
	takes := make([]Take, 0, len(g.rules))
	for _, r := range g.rules {
		var v string
		switch r.Key {
		case KeyIP:
			v = s.IPLimitKey
			if v == "" {
				v = s.IPKey
			}
		case KeyAuthor:
			v = s.AuthorKey
		case KeyThread:
			v = s.ThreadID
		case KeySite:
			takes = append(takes, Take{Rule: r})
			continue
		}
		if v != "" {
			takes = append(takes, Take{Rule: r, Subject: v})
		}
	}
	return takes
}

// failed applies the failure policy to a store error. The Screen may have run in Redis all the
// same (its deadline passed, or its connection broke, after Redis ran it), setting the duplicate
// and request markers and counting the rules; maybe is what it may have counted. A submission
// refused here is not stored, so maybe is given back at once, with a context of its own (the
// check's may have ended; RefundTimeout bounds it): kept, the duplicate marker would refuse the
// same text under a new request id for the whole duplicate window. A submission let through
// unchecked carries maybe as its Ticket, given back only if it is finally not stored.
func (g *Guard) failed(ctx context.Context, err error, maybe Ticket) (Outcome, error) {
	unavailable := errors.Is(err, comment.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
	if unavailable && g.failOpen && !errors.Is(ctx.Err(), context.Canceled) {
		g.obs.Observe(EventFailOpen, "")
		if ok, skipped := g.failOpenLog.Allow(time.Now()); ok {
			g.log.WarnContext(ctx, "abuse check failed open: submission accepted unchecked", "error", err, "not_logged_since", skipped)
		}
		return Outcome{Unchecked: true, Ticket: maybe}, nil
	}
	g.refund(ctx, maybe)
	if unavailable && !errors.Is(err, comment.ErrUnavailable) {
		return Outcome{}, fmt.Errorf("abuse check: %w: %w", comment.ErrUnavailable, err)
	}
	return Outcome{}, fmt.Errorf("abuse check: %w", err)
}

// Refund gives back what a Check counted, for a submission a later step refused. It is best
// effort: a failure is reported as EventRefundFailed and logged, and only makes limits stricter
// for a while. It runs even when ctx has ended, within RefundTimeout.
func (g *Guard) Refund(ctx context.Context, t Ticket) {
	g.refund(ctx, t)
}

// refund gives t back with a context of its own, bounded by RefundTimeout: the submission's may
// have ended, or nearly, when the store's answer (a refusal) or its failure came with the
// deadline, and the refusal must not be charged all the same (its duplicate marker would refuse
// the same text, retried after the delay the reader was told, for the whole window).
func (g *Guard) refund(ctx context.Context, t Ticket) {
	if t.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RefundTimeout)
	defer cancel()
	if err := g.store.Refund(ctx, t); err != nil {
		g.obs.Observe(EventRefundFailed, "")
		if ok, skipped := g.refundLog.Allow(time.Now()); ok {
			g.log.WarnContext(ctx, "abuse check: could not give back counts of a refused submission", "error", err, "not_logged_since", skipped)
		}
	}
}

// Banned returns the most specific active ban on the author, the address (by its hash, or an IPv6
// address's /64 by its hash) or a range holding the address, or nil. It fails closed: FailOpen
// does not apply.
func (g *Guard) Banned(ctx context.Context, l BanLookup) (*Ban, error) {
	b, err := g.store.Banned(ctx, l, g.now())
	if err != nil {
		return nil, fmt.Errorf("ban check: %w", err)
	}
	return b, nil
}

// Rules returns the rules in force, for logging the configuration.
func (g *Guard) Rules() []Rule { return append([]Rule(nil), g.rules...) }

// retryDelay rounds a retry delay up to the millisecond and to at least one: a client told
// "retry after 0s" would retry at once and be refused again.
func retryDelay(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return time.Millisecond
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// newCheckID returns 96 random bits in hex.
func newCheckID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand panics itself if the system source does)
	return hex.EncodeToString(b[:])
}
