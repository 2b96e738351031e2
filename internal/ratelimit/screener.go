package ratelimit

// This file and ban.go import comment and privacy, which the import rules keep out of ratelimit:
// Screener must take comment's types to fit comment.Screener, the keyed hashes come from
// privacy.Keyring, and bans reuse comment's validation error and page so the API maps them like
// every other. No cycle can arise: comment and privacy never import ratelimit.

import (
	"context"
	"fmt"

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
	// it as spam with reason BANNED, so no reader ever sees it (a shadow ban).
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
type Screener struct {
	guard *Guard
	keys  *privacy.Keyring
	opts  ScreenerOptions
}

// NewScreener builds a Screener.
func NewScreener(g *Guard, keys *privacy.Keyring, opts ScreenerOptions) *Screener {
	return &Screener{guard: g, keys: keys, opts: opts}
}

var _ comment.Screener = (*Screener)(nil)

// Screen checks d. It returns the Guard's refusals (*LimitError, ErrDuplicate, store errors) and,
// under BanRefuse, a *BannedError; under BanShadow a banned submission is recorded as spam in v.
func (s *Screener) Screen(ctx context.Context, d *comment.Draft, v *comment.Verdict) error {
	o, err := s.guard.Check(ctx, s.Subject(d))
	if err != nil {
		return err
	}
	switch {
	case o.Ban != nil && s.opts.BanStyle == BanShadow:
		// comment.Verdict has no "reject" outcome: spam is the state that hides a comment from
		// readers while the site sees "pending", and keeps it visible to moderators.
		v.Spam = append(v.Spam, comment.Reason{Code: ReasonBanned, Message: "the author, address or network is banned"})
	case o.Ban != nil:
		return &BannedError{Ban: *o.Ban}
	case o.Unchecked && s.opts.HoldUnchecked:
		v.Hold = append(v.Hold, comment.Reason{Code: ReasonUnchecked, Message: "abuse checks were unavailable"})
	}
	return nil
}

// Subject derives the Guard's view of a draft: keyed hashes of the email, address and text.
func (s *Screener) Subject(d *comment.Draft) Subject {
	return Subject{
		AuthorKey: s.keys.EmailKey(d.Email),
		IPKey:     s.keys.IPKey(d.IP),
		IP:        d.IP.Addr(),
		ThreadID:  d.ThreadID,
		TextKey:   s.keys.TextKey(DuplicateLabel, DuplicateText(d.ThreadID, d.Body)),
		RequestID: d.RequestID,
	}
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
