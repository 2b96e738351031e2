package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	// Against the import rules (see the package comment): Screener fits comment.Screener and
	// hashes with privacy.Keyring.
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// BanStyle is how a banned reader's submission is refused.
type BanStyle int

// The ban styles.
const (
	// BanRefuse refuses the submission with a *BannedError (PERMISSION_DENIED): honest, and it
	// tells a troll at once that a new address is needed.
	BanRefuse BanStyle = iota
	// BanShadow accepts the submission as far as the site can tell (it is told "pending") but stores
	// it as rejected with reason BANNED, so no reader ever sees it (a shadow ban).
	BanShadow
)

// ParseBanStyle parses "refuse" or "shadow".
func ParseBanStyle(s string) (BanStyle, error) {
	switch s {
	case "refuse", "":
		return BanRefuse, nil
	case "shadow":
		return BanShadow, nil
	}
	return 0, fmt.Errorf("ban style %q: want refuse or shadow", s)
}

// Reason codes this package puts in a comment.Verdict.
const (
	ReasonBanned    = "BANNED"
	ReasonUnchecked = "ABUSE_UNCHECKED"
)

// DuplicateLabel is the label of the keyed hash of DuplicateText (privacy.Keyring.TextKey).
const DuplicateLabel = "duplicate"

// ScreenerOptions configures a Screener.
type ScreenerOptions struct {
	BanStyle BanStyle
	// HoldUnchecked holds for a moderator any comment that went through unchecked because the
	// store failed and the Guard fails open: bans could not be looked up either.
	HoldUnchecked bool
}

// Screener runs a Guard on every submission of a comment.Service (it implements comment.Screener).
// The Guard and the options can be replaced while submissions are screened (Swap).
type Screener struct {
	keys *privacy.Keyring
	cur  atomic.Pointer[screening]
}

// screening is what one Screen runs with. Swap replaces it as a whole, so a submission never sees
// the Guard of one configuration with the ban style of another.
type screening struct {
	guard *Guard
	opts  ScreenerOptions
}

// NewScreener builds a Screener.
func NewScreener(g *Guard, keys *privacy.Keyring, opts ScreenerOptions) *Screener {
	s := &Screener{keys: keys}
	s.Swap(g, opts)
	return s
}

// Swap puts g and opts in force for the submissions screened from now on (commentd's reload of
// its abuse controls). A submission being screened meanwhile ends with the Guard and options it
// started with, and its refund (comment.Verdict.Undo) gives back exactly what it counted: its
// Ticket carries the rules as they were when it was counted, intervals included. Rule states are
// keyed by rule name in the store, so a rule kept under its name keeps its counts.
func (s *Screener) Swap(g *Guard, opts ScreenerOptions) {
	s.cur.Store(&screening{guard: g, opts: opts})
}

// Options returns the options in force: those of the last Swap, or NewScreener's.
func (s *Screener) Options() ScreenerOptions { return s.cur.Load().opts }

var _ comment.Screener = (*Screener)(nil)

// Screen checks d. It returns the Guard's refusals (*LimitError, ErrDuplicate, store errors) and,
// under BanRefuse, a *BannedError; under BanShadow a banned submission is recorded as rejected in
// v. It sets d.History to the author's record read in the same round trip, for the checks that run
// after it, and registers in v.Undo the refund of what it counted, for when the comment is finally
// not stored.
func (s *Screener) Screen(ctx context.Context, d *comment.Draft, v *comment.Verdict) error {
	cur := s.cur.Load() // once: the whole submission runs under one configuration
	o, err := cur.guard.Check(ctx, s.Subject(d))
	if err != nil {
		return err
	}
	if o.History != nil {
		d.History = o.History
	}
	if !o.Ticket.IsZero() {
		v.Undo = append(v.Undo, refunder(cur.guard, o.Ticket))
	}
	if o.Replay && o.Unsettled {
		v.ResendOnly = true
	}
	switch {
	case o.Ban != nil && cur.opts.BanStyle == BanShadow:
		// Rejected rather than spam: the comment is hidden from readers (the site is shown
		// "pending") and kept for moderators, and the spam model does not learn the troll's words
		// as spam, which they need not be.
		v.Reject = append(v.Reject, comment.Reason{Code: ReasonBanned, Message: "the author, address or network is banned"})
	case o.Ban != nil && o.Replay:
		// The request was let through before the ban: the store answers it from its record.
		// Without one (the first submission never ended, or is still on its way) it is refused
		// as any new request of the banned subject is.
		v.ResendOnly = true
		if !o.Unsettled {
			v.RefuseNew = &BannedError{Ban: *o.Ban}
		}
	case o.Ban != nil:
		return &BannedError{Ban: *o.Ban}
	case o.Unchecked && cur.opts.HoldUnchecked:
		v.Hold = append(v.Hold, comment.Reason{Code: ReasonUnchecked, Message: "abuse checks were unavailable"})
	}
	return nil
}

// RefundTimeout bounds the refund of a submission the abuse check or the comment store refused,
// and that of an abuse check that failed without a reply (Guard.Check, failing closed). The refund
// runs even when the submission's own context has ended (a deadline is one way a store call fails,
// and a refusal may come just before it), so it needs a budget of its own.
const RefundTimeout = 500 * time.Millisecond

// refunder returns the Undo hook that gives t back through g, the Guard that counted it.
func refunder(g *Guard, t Ticket) func(context.Context) {
	return func(ctx context.Context) { g.Refund(ctx, t) }
}

// Subject derives the Guard's view of a draft: keyed hashes of the email, address and text.
func (s *Screener) Subject(d *comment.Draft) Subject {
	authorKey, ipKey := d.Keys(s.keys)
	limitKey := ipKey // an IPv4 address counts as itself: no second hash
	if a := d.IP.Addr(); a.IsValid() && !a.Is4() {
		limitKey = s.keys.IPLimitKey(d.IP)
	}
	return Subject{
		AuthorKey:  authorKey,
		IPKey:      ipKey,
		IPLimitKey: limitKey,
		IP:         d.IP.Addr(),
		ThreadID:   d.ThreadID,
		TextKey:    s.keys.TextKey(DuplicateLabel, DuplicateText(d.ThreadID, d.Body)),
		RequestID:  d.RequestID,
		RequestKey: requestKey(d, s.keys),
	}
}

// requestKey is d's comment.Draft.RequestKey, or "" when d has no request id (it is an HMAC of the
// body, not worth computing for nothing).
func requestKey(d *comment.Draft, k *privacy.Keyring) string {
	if d.RequestID == "" {
		return ""
	}
	return d.RequestKey(k)
}

// TrustedAuthorKeys derives trusted author keys from staff email addresses, for NewTrusted.
func TrustedAuthorKeys(keys *privacy.Keyring, emails []string) ([]string, error) {
	out := make([]string, 0, len(emails))
	for _, e := range emails {
		addr, ok := privacy.ParseEmail(e)
		if !ok {
			return nil, fmt.Errorf("trusted author %s: not an email address", privacy.MaskEmail(e))
		}
		out = append(out, keys.EmailKey(addr))
	}
	return out, nil
}
