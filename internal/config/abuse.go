package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
)

// Abuse is the configuration of the abuse controls: rate limits, duplicate control, trusted authors
// and networks, and how bans and a failing Redis are handled. docs/ABUSE.md explains each.
type Abuse struct {
	// Rules are the rate limits in force; empty means none. RulesFrom says where they came from:
	// "default" (ratelimit.DefaultRules), "off", or "config file" (a rate-limits list).
	Rules     []ratelimit.Rule
	RulesFrom string
	// TrustedRanges are networks (CIDR, or single addresses) that skip the rate limits.
	TrustedRanges []string
	// TrustedEmails are staff addresses that skip the rate limits. They are personal data: commentd
	// turns them into keyed hashes at start and never logs them (LogAttrs shows only their number).
	TrustedEmails []string
	// DuplicateWindow is how long the same text from the same author in the same thread counts as
	// a duplicate; 0 turns duplicate control off (validate refuses a negative one).
	DuplicateWindow time.Duration
	BanStyle        ratelimit.BanStyle
	// FailOpen lets submissions through unchecked when Redis fails the abuse check; HoldUnchecked
	// then holds them for a moderator. Timeout is the check's own budget (0: the call's deadline).
	FailOpen      bool
	HoldUnchecked bool
	Timeout       time.Duration
}

// Values of -rate-limits. A config file may give a list of rules instead.
const (
	rulesDefault = "default"
	rulesOff     = "off"
	rulesFile    = "config file"
)

// abuseSettings are the abuse controls' rows of the settings table.
func abuseSettings() []setting {

	var out []setting
	out = append(out, setting{name: "rate-limits", env: "COMMENTD_RATE_LIMITS", def: rulesDefault,
		usage: "rate limits: default (the built-in rules for a news site, docs/ABUSE.md) or off; the config file may give a list of rules instead",
		apply: setRules,
		node:  loadRules,
		show: func(c *Config) string {
			if c.Abuse.RulesFrom == rulesOff {
				return rulesOff
			}
			return fmt.Sprintf("%s (%d rules)", c.Abuse.RulesFrom, len(c.Abuse.Rules))
		},
		same: func(a, b *Config) bool {
			return a.Abuse.RulesFrom == b.Abuse.RulesFrom && slices.Equal(a.Abuse.Rules, b.Abuse.Rules)
		}})
	out = append(out, setting{name: "abuse-trusted-ranges", env: "COMMENTD_ABUSE_TRUSTED_RANGES",
		usage: "networks that skip rate limits (staff offices), comma-separated CIDRs or addresses; a list in the config file",
		apply: func(c *Config, v string) error { c.Abuse.TrustedRanges = splitList(v); return nil },
		node:  stringList(func(c *Config) *[]string { return &c.Abuse.TrustedRanges }),
		show:  func(c *Config) string { return strings.Join(c.Abuse.TrustedRanges, ",") }})
	out = append(out, setting{name: "abuse-trusted-emails", env: "COMMENTD_ABUSE_TRUSTED_EMAILS",
		usage: "staff email addresses that skip rate limits, comma-separated; a list in the config file (preferred: flags show in the process list). Hashed at start, never logged",
		apply: func(c *Config, v string) error { c.Abuse.TrustedEmails = splitList(v); return nil },
		node:  stringList(func(c *Config) *[]string { return &c.Abuse.TrustedEmails }),
		show: func(c *Config) string {
			if n := len(c.Abuse.TrustedEmails); n != 1 {
				return fmt.Sprintf("%d addresses", n)
			}
			return "1 address"
		},
		same: func(a, b *Config) bool { return slices.Equal(a.Abuse.TrustedEmails, b.Abuse.TrustedEmails) }})
	a, s := durationField(func(c *Config) *time.Duration { return &c.Abuse.DuplicateWindow })
	out = append(out, setting{name: "duplicate-window", env: "COMMENTD_DUPLICATE_WINDOW", def: ratelimit.DefaultDuplicateWindow.String(),
		usage: "the same text by the same author in the same thread within this time is refused as a duplicate; 0 turns duplicate control off",
		apply: a, show: s})
	out = append(out, setting{name: "ban-style", env: "COMMENTD_BAN_STYLE", def: "refuse",
		usage: "how a banned reader's submission is refused: refuse (PERMISSION_DENIED) or shadow (told pending, stored rejected)",
		apply: func(c *Config, v string) error {
			st, err := ratelimit.ParseBanStyle(v)
			c.Abuse.BanStyle = st
			return err
		},
		show: func(c *Config) string {
			if c.Abuse.BanStyle == ratelimit.BanShadow {
				return "shadow"
			}
			return "refuse"
		}})
	a, s = boolField(func(c *Config) *bool { return &c.Abuse.FailOpen })
	out = append(out, setting{name: "abuse-fail-open", env: "COMMENTD_ABUSE_FAIL_OPEN", def: "false", boolean: true,
		usage: "when Redis fails the abuse check, let submissions through unchecked (counted and logged) instead of refusing them",
		apply: a, show: s})
	a, s = boolField(func(c *Config) *bool { return &c.Abuse.HoldUnchecked })
	out = append(out, setting{name: "abuse-hold-unchecked", env: "COMMENTD_ABUSE_HOLD_UNCHECKED", def: "false", boolean: true,
		usage: "with -abuse-fail-open, hold every unchecked submission for a moderator (a banned reader may be among them)",
		apply: a, show: s})
	a, s = durationField(func(c *Config) *time.Duration { return &c.Abuse.Timeout })
	out = append(out, setting{name: "abuse-timeout", env: "COMMENTD_ABUSE_TIMEOUT", def: "0s",
		usage: "budget of the abuse check's Redis call; 0 leaves only the call's deadline. With -abuse-fail-open, e.g. 150ms keeps a slow Redis from slowing every submission",
		apply: a, show: s})
	return out
}

// setRules applies a word of -rate-limits.
func setRules(c *Config, v string) error {
	switch strings.TrimSpace(v) {
	case rulesDefault:
		c.Abuse.Rules, c.Abuse.RulesFrom = ratelimit.DefaultRules(), rulesDefault
	case rulesOff:
		c.Abuse.Rules, c.Abuse.RulesFrom = nil, rulesOff
	default:
		return fmt.Errorf("want default or off (or, in the config file, a list of rules), got %q", v)
	}
	return nil
}

// splitList reads a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// stringList reads a config-file key given as a list of strings or as one comma-separated string.
func stringList(p func(*Config) *[]string) func(*Config, *yaml.Node) error {
	return func(c *Config, n *yaml.Node) error {
		switch n.Kind {
		case yaml.ScalarNode:
			*p(c) = splitList(scalarValue(n))
			return nil
		case yaml.SequenceNode:
			var items []string
			for _, item := range n.Content {
				if item = deref(item); item.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: want a list of strings", item.Line)
				}
				if s := strings.TrimSpace(scalarValue(item)); s != "" {
					items = append(items, s)
				}
			}
			*p(c) = items
			return nil
		}
		return errors.New("want a list of strings")
	}
}

// ruleKeys are the keys a rule may have in the config file. Anything else is a typo we refuse,
// since a misspelt "burst" would otherwise silently become a burst of 1 (and a misspelt "shadow"
// would enforce a rule meant to be tried).
var ruleKeys = map[string]bool{"name": true, "key": true, "rate": true, "burst": true, "shadow": true}

// loadRules reads the rate-limits key of the config file: a list of rules (an empty list turns rate
// limits off), or one of the words -rate-limits takes.
func loadRules(c *Config, n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return errors.New("want a list of rules, [] for none, or default or off")
		}
		return setRules(c, n.Value)
	}
	if n.Kind != yaml.SequenceNode {
		return errors.New("want a list of rules, [] for none, or default or off")
	}
	var errs []error
	cfgs := make([]ratelimit.RuleConfig, 0, len(n.Content))
	for i, item := range n.Content {
		if item = deref(item); item.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("rule %d (line %d): want name, key, rate, burst and shadow", i+1, item.Line))
			continue
		}
		errs = append(errs, checkRuleKeys(i+1, item)...)
		var rc ratelimit.RuleConfig
		if err := item.Decode(&rc); err != nil {
			errs = append(errs, fmt.Errorf("rule %d (line %d): %w", i+1, item.Line, err))
			continue
		}
		cfgs = append(cfgs, rc)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rules, err := ratelimit.ParseRules(cfgs)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		c.Abuse.Rules, c.Abuse.RulesFrom = nil, rulesOff
		return nil
	}
	c.Abuse.Rules, c.Abuse.RulesFrom = rules, rulesFile
	return nil
}

// checkRuleKeys checks the keys of rule n's mapping m, and of the mappings it merges ("<<: *base",
// a rule's common part written once): a merged typo misleads as much as one written out.
func checkRuleKeys(n int, m *yaml.Node) []error {
	var errs []error
	for j := 0; j+1 < len(m.Content); j += 2 {
		kn, v := deref(m.Content[j]), deref(m.Content[j+1])
		switch k := kn.Value; {
		case k == "<<" && kn.ShortTag() == "!!merge":
			merged := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, mm := range merged {
				// Anything but a mapping is refused by the rule's decoding, with its line.
				if mm = deref(mm); mm.Kind == yaml.MappingNode {
					errs = append(errs, checkRuleKeys(n, mm)...)
				}
			}
		case !ruleKeys[k]:
			errs = append(errs, fmt.Errorf("rule %d (line %d): unknown key %q (want name, key, rate, burst, shadow)", n, kn.Line, k))
		case k == "shadow" && v.ShortTag() == "!!null":
			// Read as false, a "shadow:" left empty would enforce the rule it was meant to try.
			errs = append(errs, fmt.Errorf("rule %d (line %d): shadow: want true or false", n, v.Line))
		}
	}
	return errs
}

// validate checks the abuse settings that need more than their own parsing. Addresses in errors are
// masked: an operator's typo must not put a staff address in clear into a log.
func (a *Abuse) validate() []error {
	var errs []error
	if _, err := ratelimit.NewTrusted(nil, a.TrustedRanges); err != nil {
		errs = append(errs, fmt.Errorf("abuse-trusted-ranges: %w", err))
	}
	for _, e := range a.TrustedEmails {
		if _, ok := privacy.ParseEmail(e); !ok {
			errs = append(errs, fmt.Errorf("abuse-trusted-emails: %s is not an email address", privacy.MaskEmail(e)))
		}
	}
	if a.DuplicateWindow < 0 {
		// ratelimit takes any window of 0 or less as "off": a negative one, a typo for a window,
		// turned duplicate control off without a word.
		errs = append(errs, fmt.Errorf("duplicate-window %s: must not be negative (0 turns duplicate control off)", a.DuplicateWindow))
	}
	if a.Timeout < 0 {
		errs = append(errs, fmt.Errorf("abuse-timeout %s: must not be negative", a.Timeout))
	}
	return errs
}
