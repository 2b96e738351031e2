// Package ratelimit holds commentd's abuse controls: rate-limit rules (GCRA, counted per reader IP,
// author, thread or the whole site), duplicate control, and bans of authors, IP addresses and IP
// ranges. The Guard runs all of them for one submission; Screener fits it into comment.Service.
//
// The package knows nothing of Redis or gRPC: storage comes in through the Store and BanStore
// interfaces declared here, and metrics through Observer.
//
// It imports comment and privacy, which the import rules keep out of ratelimit; neither imports
// ratelimit, so no cycle can arise. From comment: Screener must take comment's types to fit
// comment.Screener, the Guard answers with comment's outcomes (ErrUnavailable, ErrRequestReused,
// ErrRequestInProgress, AuthorHistory) and bans with its validation error and page, so the API
// maps them like every other. From privacy: the keyed hashes (privacy.Keyring), how an address is
// read (its IPv4 inside a mapped, NAT64 or 6to4 form; the widest range allowed) and which
// characters are invisible, each one definition that every check comparing addresses or text
// shares. Each such import says what it is for.
package ratelimit

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KeyKind is what a rule counts submissions by.
type KeyKind int

// The kinds of key a rule may count. The names are what the config file uses.
const (
	KeyIP     KeyKind = iota + 1 // the reader's IP address (its keyed hash)
	KeyAuthor                    // the author: the keyed hash of the normalised email
	KeyThread                    // the thread commented on
	KeySite                      // every submission to this commentd
)

func (k KeyKind) String() string {
	switch k {
	case KeyIP:
		return "ip"
	case KeyAuthor:
		return "author"
	case KeyThread:
		return "thread"
	case KeySite:
		return "site"
	}
	return "key(" + strconv.Itoa(int(k)) + ")"
}

// ParseKeyKind parses "ip", "author", "thread" or "site".
func ParseKeyKind(s string) (KeyKind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ip":
		return KeyIP, nil
	case "author":
		return KeyAuthor, nil
	case "thread":
		return KeyThread, nil
	case "site":
		return KeySite, nil
	}
	return 0, fmt.Errorf("key %q: want ip, author, thread or site", s)
}

// Rule is one rate limit: at most Count submissions per Period for each value of Key, with up to
// Burst of them back to back. It is enforced with GCRA: every accepted submission pushes the key's
// "theoretical arrival time" one Interval into the future, and a submission is refused while that
// time is more than Burst intervals ahead of now. Over any window W a key therefore gets at most
// Burst + W/Interval submissions accepted, and a steady sender gets exactly Count per Period.
//
// A Shadow rule is checked and counted like any other but never refuses: where it would, its
// state stays as an enforced rule's would (the submission is not counted by it) and the Guard
// reports the would-be refusal (EventShadowLimited) instead, so an operator can try a rule on live
// traffic before enforcing it.
type Rule struct {
	Name   string        // unique, [a-z0-9_-], shown to clients and used as a metric label
	Key    KeyKind       // what is counted
	Count  int           // submissions allowed per Period, at least 1
	Period time.Duration // the period Count is measured over
	Burst  int           // submissions allowed back to back from idle, at least 1
	Shadow bool          // reported, never enforced
}

// Interval is the time one accepted submission "costs": Period/Count, rounded up to the microsecond
// (the unit the store counts in), so rounding can only make a rule stricter, never looser.
func (r Rule) Interval() time.Duration {
	if r.Count < 1 {
		return r.Period
	}
	iv := ceilDiv(int64(r.Period), int64(r.Count))
	return time.Duration(ceilDiv(iv, int64(time.Microsecond)) * int64(time.Microsecond))
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// String describes the rule for logs and docs, e.g. "flood-ip: 1/15s per ip, burst 3", with
// ", shadow" after a shadow rule.
func (r Rule) String() string {
	s := fmt.Sprintf("%s: %d/%s per %s, burst %d", r.Name, r.Count, formatPeriod(r.Period), r.Key, r.Burst)
	if r.Shadow {
		s += ", shadow"
	}
	return s
}

// Config returns the rule in its config-file form.
func (r Rule) Config() RuleConfig {
	return RuleConfig{Name: r.Name, Key: r.Key.String(), Rate: strconv.Itoa(r.Count) + "/" + formatPeriod(r.Period), Burst: r.Burst, Shadow: r.Shadow}
}

// RuleConfig is a rule as an operator writes it in the config file (YAML or JSON):
//
//	rules:
//	  - name: flood-ip   # unique; shown to clients and used as a metric label
//	    key: ip          # ip, author, thread or site
//	    rate: 1/15s      # count/period; the period is a Go duration ("15s", "1h30m") or a
//	                     # unit alone: s, m (minute), h, d (day); "2d" is two days
//	    burst: 3         # optional, default 1
//	    shadow: true     # optional, default false: report what the rule would refuse, refuse nothing
type RuleConfig struct {
	Name   string `yaml:"name" json:"name"`
	Key    string `yaml:"key" json:"key"`
	Rate   string `yaml:"rate" json:"rate"`
	Burst  int    `yaml:"burst,omitempty" json:"burst,omitempty"`
	Shadow bool   `yaml:"shadow,omitempty" json:"shadow,omitempty"`
}

// Bounds on a rule, so a typo cannot turn a rule into something the store cannot count.
const (
	MinInterval = time.Millisecond    // the finest rate: 1000 per second
	MaxPeriod   = 31 * 24 * time.Hour // the longest period: a month
	MaxBurst    = 100000
	// MaxBurstSpan bounds Burst × Interval: the time a full burst takes to drain.
	MaxBurstSpan = 366 * 24 * time.Hour
)

var ruleNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Rule checks c and returns the rule it describes.
func (c RuleConfig) Rule() (Rule, error) {
	var errs []error
	r := Rule{Name: c.Name, Burst: c.Burst, Shadow: c.Shadow}
	if !ruleNamePattern.MatchString(c.Name) {
		errs = append(errs, errors.New("name: want 1-64 characters from a-z, 0-9, '_' and '-', starting with a letter or digit"))
	}
	k, err := ParseKeyKind(c.Key)
	if err != nil {
		errs = append(errs, err)
	}
	r.Key = k
	r.Count, r.Period, err = ParseRate(c.Rate)
	if err != nil {
		errs = append(errs, err)
	} else if r.Period/time.Duration(r.Count) < MinInterval {
		errs = append(errs, fmt.Errorf("rate %q: faster than one per %s", c.Rate, MinInterval))
	}
	switch {
	case r.Burst == 0:
		r.Burst = 1
	case r.Burst < 0 || r.Burst > MaxBurst:
		errs = append(errs, fmt.Errorf("burst %d: want 1 to %d (0 means 1)", c.Burst, MaxBurst))
	}
	if r.Count > 0 && r.Period > 0 && r.Burst > 0 && r.Interval() > MaxBurstSpan/time.Duration(r.Burst) {
		// The store keeps up to burst intervals of future time in µs; a year keeps it far inside
		// the range where Lua's numbers are exact.
		errs = append(errs, fmt.Errorf("burst %d of %s: the burst would span more than %s", r.Burst, r.Interval(), MaxBurstSpan))
	}
	if err := errors.Join(errs...); err != nil {
		name := c.Name
		if name == "" {
			name = "(unnamed)"
		}
		return Rule{}, fmt.Errorf("rate-limit rule %s: %w", name, err)
	}
	return r, nil
}

// ParseRate parses "count/period": "1/15s", "20/h", "600/1m", "100/d".
func ParseRate(s string) (count int, period time.Duration, err error) {
	num, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q: want count/period such as 1/15s or 20/h", s)
	}
	count, err = strconv.Atoi(strings.TrimSpace(num))
	if err != nil || count < 1 {
		return 0, 0, fmt.Errorf("rate %q: count must be a whole number of at least 1", s)
	}
	period, err = parsePeriod(strings.TrimSpace(per))
	if err != nil {
		return 0, 0, fmt.Errorf("rate %q: %w", s, err)
	}
	return count, period, nil
}

func parsePeriod(s string) (time.Duration, error) {
	var d time.Duration
	switch {
	case s == "":
		return 0, errors.New("missing period")
	case s == "s" || s == "m" || s == "h":
		d, _ = time.ParseDuration("1" + s)
	case s == "d":
		d = 24 * time.Hour
	case strings.HasSuffix(s, "d") && !strings.ContainsAny(s[:len(s)-1], "hmsuµn"):
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil {
			return 0, fmt.Errorf("period %q: want a duration such as 15s, 1h or 1d", s)
		}
		if n > int(MaxPeriod/(24*time.Hour)) {
			// Checked before the product, which would overflow for a long enough count of days
			// and wrap round into a period that passes the bounds below ("213504d" is 25m26s).
			return 0, fmt.Errorf("period %q: want more than 0 and at most %s", s, MaxPeriod)
		}
		d = time.Duration(n) * 24 * time.Hour
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("period %q: want a duration such as 15s, 1h or 1d", s)
		}
	}
	if d <= 0 || d > MaxPeriod {
		return 0, fmt.Errorf("period %q: want more than 0 and at most %s", s, MaxPeriod)
	}
	return d, nil
}

// formatPeriod writes a period the way ParseRate reads it, in the shortest unit that is exact.
func formatPeriod(d time.Duration) string {
	switch {
	case d == time.Second:
		return "s"
	case d == time.Minute:
		return "m"
	case d == time.Hour:
		return "h"
	case d == 24*time.Hour:
		return "d"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// ParseRules checks every rule and returns them in order. Rule names must be unique. An empty or
// nil list is valid and means "no rate limits".
func ParseRules(cfgs []RuleConfig) ([]Rule, error) {
	rules := make([]Rule, 0, len(cfgs))
	seen := make(map[string]bool, len(cfgs))
	var errs []error
	for _, c := range cfgs {
		r, err := c.Rule()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("rate-limit rule %s: name given twice", r.Name))
			continue
		}
		seen[r.Name] = true
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rules, nil
}

// DefaultRules are the limits for a busy news site when the config file names none. They are
// meant to stop floods and scripts, never a reader having a heated evening: see docs/ABUSE.md.
//
// There is deliberately no site-wide rule: it would turn any flood into an outage for every
// reader (the limiter would do the attacker's work), and it would cap commentd below what it can
// serve. Capacity belongs to the deployment; an operator who wants a ceiling adds a "site" rule.
func DefaultRules() []Rule {
	return []Rule{
		// Flood control: one comment per 15 s from an author, after a burst of two, so a comment
		// and a quick correction or reply right after it both go through...
		{Name: "flood-author", Key: KeyAuthor, Count: 1, Period: 15 * time.Second, Burst: 2},
		// ...and the same per address. Offices, schools and mobile carriers put many readers
		// behind one address, hence the larger burst.
		{Name: "flood-ip", Key: KeyIP, Count: 1, Period: 15 * time.Second, Burst: 3},
		{Name: "author-hourly", Key: KeyAuthor, Count: 20, Period: time.Hour, Burst: 5},
		{Name: "ip-hourly", Key: KeyIP, Count: 60, Period: time.Hour, Burst: 10},
		// A pile-on in one thread (a bot net, a brigade) is slowed without touching other threads:
		// one a second is more than the busiest live discussion sustains.
		{Name: "thread", Key: KeyThread, Count: 60, Period: time.Minute, Burst: 30},
	}
}
