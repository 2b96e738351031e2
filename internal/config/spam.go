package config

import (
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
}

// DefaultTrustAfter is one approved comment, as WordPress's "comment author must have a previously
// approved comment".
const DefaultTrustAfter = 1

// spamSettings are the spam checks' rows of the settings table.
func spamSettings() []setting {
	float := func(p func(*Spam) *float64) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("want a number such as 0.5, got %q", v)
				}
				*p(&c.Spam) = f
				return nil
			}, func(c *Config) string {
				return strconv.FormatFloat(*p(&c.Spam), 'g', -1, 64)
			}
	}
	integer := func(p func(*Spam) *int) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("want a whole number, got %q", v)
				}
				*p(&c.Spam) = n
				return nil
			}, func(c *Config) string {
				return strconv.Itoa(*p(&c.Spam))
			}
	}
	boolean := func(p func(*Spam) *bool) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("want true or false, got %q", v)
				}
				*p(&c.Spam) = b
				return nil
			}, func(c *Config) string {
				return strconv.FormatBool(*p(&c.Spam))
			}
	}
	duration := func(p func(*Spam) *time.Duration) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("want a duration such as 3s, got %q", v)
				}
				*p(&c.Spam) = d
				return nil
			}, func(c *Config) string {
				return p(&c.Spam).String()
			}
	}
	mk := func(name, env, def, usage string, apply func(*Config, string) error, show func(*Config) string) setting {
		return setting{name: name, env: env, def: def, usage: usage, apply: apply, show: show}
	}
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

	var out []setting
	a, s := float(func(c *Spam) *float64 { return &c.HoldAt })
	out = append(out, mk("spam-hold-at", "COMMENTD_SPAM_HOLD_AT", ftoa(spam.DefaultHoldAt), "spam score from which a comment waits for a moderator", a, s))
	a, s = float(func(c *Spam) *float64 { return &c.SpamAt })
	out = append(out, mk("spam-spam-at", "COMMENTD_SPAM_SPAM_AT", ftoa(spam.DefaultSpamAt), "spam score from which a comment is spam (never published); at least -spam-hold-at", a, s))
	a, s = integer(func(c *Spam) *int { return &c.MaxLinks })
	out = append(out, mk("spam-max-links", "COMMENTD_SPAM_MAX_LINKS", strconv.Itoa(spam.DefaultMaxLinks), "hold comments with this many links or more; 0 turns the check off", a, s))
	d, sd := duration(func(c *Spam) *time.Duration { return &c.MinFormAge })
	out = append(out, mk("spam-min-form-age", "COMMENTD_SPAM_MIN_FORM_AGE", spam.DefaultMinFormAge.String(), "hold forms submitted sooner than this after they were shown (when the site sends form_duration); 0 turns the check off", d, sd))
	a, s = integer(func(c *Spam) *int { return &c.TrustAfter })
	out = append(out, mk("spam-trust-after", "COMMENTD_SPAM_TRUST_AFTER", strconv.Itoa(DefaultTrustAfter), "authors with this many approved comments and none marked spam skip pre-moderation; 0 trusts nobody", a, s))
	b, sb := boolean(func(c *Spam) *bool { return &c.HoldAuthorSpam })
	st := mk("spam-hold-author-spam", "COMMENTD_SPAM_HOLD_AUTHOR_SPAM", "true", "hold comments of authors who have a comment marked spam", b, sb)
	st.boolean = true
	out = append(out, st)
	b, sb = boolean(func(c *Spam) *bool { return &c.HoldNoUserAgent })
	st = mk("spam-hold-no-user-agent", "COMMENTD_SPAM_HOLD_NO_USER_AGENT", "false", "hold comments sent without a user agent (turn on only if the site always forwards the reader's)", b, sb)
	st.boolean = true
	out = append(out, st)
	d, sd = duration(func(c *Spam) *time.Duration { return &c.CampaignWindow })
	out = append(out, mk("spam-campaign-window", "COMMENTD_SPAM_CAMPAIGN_WINDOW", spam.DefaultCampaignWindow.String(), "hold a text that other authors posted nearly the same within this window; 0 turns the check off", d, sd))
	return out
}

// validate checks the spam settings together.
func (s Spam) validate() []error {
	var errs []error
	if !(s.HoldAt > 0 && s.HoldAt <= s.SpamAt && s.SpamAt <= 1) {
		errs = append(errs, fmt.Errorf("spam-hold-at %g and spam-spam-at %g: want 0 < hold <= spam <= 1", s.HoldAt, s.SpamAt))
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
	return errs
}
