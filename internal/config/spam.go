package config

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	"github.com/commentd/commentd/internal/spam"
)

// Spam is the configuration of the spam checks. docs/SPAM.md explains each setting; the
// thresholds' defaults are the evaluated ones from package spam.
type Spam struct {
	// HoldAt and SpamAt turn the classifier's score into a decision: below HoldAt publish, from
	// SpamAt on spam, in between hold for a moderator.
	HoldAt, SpamAt float64
	// MaxLinks holds a comment with this many links or more; 0 turns the check off.
	MaxLinks int
	// MinFormAge holds a form submitted sooner than this after it was shown (when the site says);
	// 0 turns the check off.
	MinFormAge time.Duration
	// TrustAfter: an author with this many approved comments and none marked spam skips
	// pre-moderation; 0 turns trust off.
	TrustAfter int
	// HoldAuthorSpam holds comments of authors with a comment marked spam on record.
	HoldAuthorSpam bool
	// HoldNoUserAgent holds comments the site sent without a user agent.
	HoldNoUserAgent bool
	// CampaignWindow is how far back the campaign check looks for the same text from other
	// authors; 0 turns the check off.
	CampaignWindow time.Duration
	// Retention deletes a comment this long after it became spam (a moderator marked it, or the
	// checks did when it was submitted); 0 keeps spam for ever.
	Retention time.Duration
}

// DefaultSpamRetention is WordPress's "spam comments are deleted after 15 days".
const DefaultSpamRetention = 15 * 24 * time.Hour

// minSpamRetention is the shortest retention: a moderator needs time to notice a comment marked
// spam by mistake and take it back, and a comment must be left alone by the learning of its
// decision (which runs within seconds, and is retried for minutes) before it goes. A day, because
// a submission's idempotency record lives a day: a comment deleted sooner could be stored again
// by a resend of the request that made it.
const minSpamRetention = 24 * time.Hour

// DefaultTrustAfter is one approved comment, as WordPress's "comment author must have a previously
// approved comment".
const DefaultTrustAfter = 1

// spamSettings are the spam checks' rows of the settings table.
func spamSettings() []setting {
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

	var out []setting
	a, s := floatField(func(c *Config) *float64 { return &c.Spam.HoldAt })
	out = append(out, scalar("spam-hold-at", "COMMENTD_SPAM_HOLD_AT", "0", "spam score from which a comment waits for a moderator; 0: the model's default, "+ftoa(spam.DefaultHoldAt)+" ("+ftoa(spam.DefaultCountsHoldAt)+" while it has no forest)", a, s))
	a, s = floatField(func(c *Config) *float64 { return &c.Spam.SpamAt })
	out = append(out, scalar("spam-spam-at", "COMMENTD_SPAM_SPAM_AT", "0", "spam score from which a comment is spam (never published); 0: the model's default, "+ftoa(spam.DefaultSpamAt)+" ("+ftoa(spam.DefaultCountsSpamAt)+" while it has no forest); at least the hold threshold", a, s))
	a, s = intField(func(c *Config) *int { return &c.Spam.MaxLinks })
	out = append(out, scalar("spam-max-links", "COMMENTD_SPAM_MAX_LINKS", strconv.Itoa(spam.DefaultMaxLinks), "hold comments with this many links or more; 0 turns the check off", a, s))
	d, sd := durationField(func(c *Config) *time.Duration { return &c.Spam.MinFormAge })
	out = append(out, scalar("spam-min-form-age", "COMMENTD_SPAM_MIN_FORM_AGE", spam.DefaultMinFormAge.String(), "hold forms submitted sooner than this after they were shown (when the site sends form_duration); 0 turns the check off", d, sd))
	a, s = intField(func(c *Config) *int { return &c.Spam.TrustAfter })
	out = append(out, scalar("spam-trust-after", "COMMENTD_SPAM_TRUST_AFTER", strconv.Itoa(DefaultTrustAfter), "authors with this many approved comments and none marked spam skip pre-moderation; 0 trusts nobody", a, s))
	b, sb := boolField(func(c *Config) *bool { return &c.Spam.HoldAuthorSpam })
	st := scalar("spam-hold-author-spam", "COMMENTD_SPAM_HOLD_AUTHOR_SPAM", "true", "hold comments of authors who have a comment marked spam", b, sb)
	st.boolean = true
	out = append(out, st)
	b, sb = boolField(func(c *Config) *bool { return &c.Spam.HoldNoUserAgent })
	st = scalar("spam-hold-no-user-agent", "COMMENTD_SPAM_HOLD_NO_USER_AGENT", "false", "hold comments sent without a user agent (turn on only if the site always forwards the reader's)", b, sb)
	st.boolean = true
	out = append(out, st)
	d, sd = durationField(func(c *Config) *time.Duration { return &c.Spam.CampaignWindow })
	out = append(out, scalar("spam-campaign-window", "COMMENTD_SPAM_CAMPAIGN_WINDOW", spam.DefaultCampaignWindow.String(), "hold a text that other authors posted nearly the same within this window; 0 turns the check off", d, sd))
	d, sd = durationField(func(c *Config) *time.Duration { return &c.Spam.Retention })
	out = append(out, scalar("spam-retention", "COMMENTD_SPAM_RETENTION", DefaultSpamRetention.String(), "delete comments this long after they became spam, such as 360h (15 days); at least 24h; 0 keeps spam for ever", d, sd))
	return out
}

// validate checks the spam settings together.
func (s Spam) validate() []error {
	var errs []error
	// Zero takes the model's default, which differs with and without its forest (cmp.Or, as
	// spam.NewScorer fills them): both pairs the settings make must hold.
	switch {
	case s.HoldAt < 0 || s.HoldAt > 1 || s.SpamAt < 0 || s.SpamAt > 1:
		errs = append(errs, fmt.Errorf("spam-hold-at %g and spam-spam-at %g: want 0 (the default) or a score up to 1", s.HoldAt, s.SpamAt))
	case cmp.Or(s.HoldAt, spam.DefaultHoldAt) > cmp.Or(s.SpamAt, spam.DefaultSpamAt):
		errs = append(errs, fmt.Errorf("spam-hold-at %g is above the spam threshold %g: set spam-spam-at to at least it", cmp.Or(s.HoldAt, spam.DefaultHoldAt), cmp.Or(s.SpamAt, spam.DefaultSpamAt)))
	case cmp.Or(s.HoldAt, spam.DefaultCountsHoldAt) > cmp.Or(s.SpamAt, spam.DefaultCountsSpamAt):
		errs = append(errs, fmt.Errorf("spam-hold-at %g is above the spam threshold %g used while the model has no forest: set spam-spam-at to at least it", cmp.Or(s.HoldAt, spam.DefaultCountsHoldAt), cmp.Or(s.SpamAt, spam.DefaultCountsSpamAt)))
	}
	if s.MaxLinks < 0 || s.MaxLinks > 1000 {
		errs = append(errs, fmt.Errorf("spam-max-links %d: want 0 (off) to 1000", s.MaxLinks))
	}
	if s.MinFormAge < 0 || s.MinFormAge > time.Hour {
		errs = append(errs, fmt.Errorf("spam-min-form-age %s: want 0 (off) to 1h", s.MinFormAge))
	}
	if s.TrustAfter < 0 {
		errs = append(errs, fmt.Errorf("spam-trust-after %d: want 0 (off) or more", s.TrustAfter))
	}
	if s.CampaignWindow < 0 || s.CampaignWindow > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("spam-campaign-window %s: want 0 (off) to 168h", s.CampaignWindow))
	}
	if s.Retention != 0 && s.Retention < minSpamRetention {
		errs = append(errs, fmt.Errorf("spam-retention %s: want 0 (keep spam for ever) or at least %s", s.Retention, minSpamRetention))
	}
	return errs
}
