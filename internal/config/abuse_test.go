package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/ratelimit"
)

// writeConfig writes a config file for one test and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "commentd.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestAbuseDefaults(t *testing.T) {
	c, err := Load([]string{"-dev"}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatalf("Load(-dev): %v", err)
	}
	want := Abuse{
		Rules:           ratelimit.DefaultRules(),
		RulesFrom:       "default",
		DuplicateWindow: 10 * time.Minute,
		BanStyle:        ratelimit.BanRefuse,
	}
	if diff := cmp.Diff(want, c.Abuse, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Load(-dev) abuse settings (-want +got):\n%s", diff)
	}
}

func TestAbuseSettings(t *testing.T) {
	rulesFile := `
rate-limits:
  - name: flood-author
    key: author
    rate: 1/15s
  - name: busy-thread
    key: thread
    rate: 600/m
    burst: 100
  - name: trial-ip
    key: ip
    rate: 1/m
    shadow: true
  - name: enforced-ip
    key: ip
    rate: 10/m
    shadow: false
abuse-trusted-ranges:
  - 192.0.2.0/24
  - 2001:db8:aa::/48
abuse-trusted-emails: [editor@example.com, Desk@Example.org]
duplicate-window: 5m
ban-style: shadow
abuse-fail-open: true
abuse-hold-unchecked: true
abuse-timeout: 150ms
`
	fileRules := []ratelimit.Rule{
		{Name: "flood-author", Key: ratelimit.KeyAuthor, Count: 1, Period: 15 * time.Second, Burst: 1},
		{Name: "busy-thread", Key: ratelimit.KeyThread, Count: 600, Period: time.Minute, Burst: 100},
		{Name: "trial-ip", Key: ratelimit.KeyIP, Count: 1, Period: time.Minute, Burst: 1, Shadow: true},
		{Name: "enforced-ip", Key: ratelimit.KeyIP, Count: 10, Period: time.Minute, Burst: 1},
	}
	tests := []struct {
		name string
		file string // config file text; "" for none
		args []string
		env  map[string]string
		want Abuse
	}{
		{
			name: "everything from the file",
			file: rulesFile,
			want: Abuse{Rules: fileRules, RulesFrom: "config file", TrustedRanges: []string{"192.0.2.0/24", "2001:db8:aa::/48"},
				TrustedEmails: []string{"editor@example.com", "Desk@Example.org"}, DuplicateWindow: 5 * time.Minute,
				BanStyle: ratelimit.BanShadow, FailOpen: true, HoldUnchecked: true, Timeout: 150 * time.Millisecond},
		},
		{
			name: "an empty list turns rate limits off",
			file: "rate-limits: []\n",
			want: Abuse{RulesFrom: "off", DuplicateWindow: 10 * time.Minute},
		},
		{
			name: "the flag turns the file's rules off",
			file: rulesFile,
			args: []string{"-rate-limits", "off", "-ban-style", "refuse", "-abuse-fail-open=false"},
			want: Abuse{RulesFrom: "off", TrustedRanges: []string{"192.0.2.0/24", "2001:db8:aa::/48"},
				TrustedEmails: []string{"editor@example.com", "Desk@Example.org"}, DuplicateWindow: 5 * time.Minute,
				BanStyle: ratelimit.BanRefuse, HoldUnchecked: true, Timeout: 150 * time.Millisecond},
		},
		{
			name: "environment: defaults back, lists comma-separated, duplicate control off",
			file: rulesFile,
			env: map[string]string{"COMMENTD_RATE_LIMITS": "default", "COMMENTD_ABUSE_TRUSTED_RANGES": "198.51.100.7, 203.0.113.0/24",
				"COMMENTD_ABUSE_TRUSTED_EMAILS": "", "COMMENTD_DUPLICATE_WINDOW": "0s", "COMMENTD_ABUSE_HOLD_UNCHECKED": "false"},
			want: Abuse{Rules: ratelimit.DefaultRules(), RulesFrom: "default", TrustedRanges: []string{"198.51.100.7", "203.0.113.0/24"},
				TrustedEmails: []string{"editor@example.com", "Desk@Example.org"}, BanStyle: ratelimit.BanShadow, FailOpen: true,
				Timeout: 150 * time.Millisecond},
		},
		{
			name: "the word default in the file",
			file: "rate-limits: default\nabuse-trusted-ranges: 192.0.2.0/24,192.0.2.77\n",
			want: Abuse{Rules: ratelimit.DefaultRules(), RulesFrom: "default", TrustedRanges: []string{"192.0.2.0/24", "192.0.2.77"},
				DuplicateWindow: 10 * time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-dev"}, tt.args...)
			if tt.file != "" {
				args = append(args, "-config", writeConfig(t, tt.file))
			}
			c, err := Load(args, envMap(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("Load(%q) with env %v: %v", args, tt.env, err)
			}
			if diff := cmp.Diff(tt.want, c.Abuse, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Load(%q) with env %v: abuse settings (-want +got):\n%s", args, tt.env, diff)
			}
		})
	}
}

func TestAbuseSettingsInvalid(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
	}{
		{name: "bad rate", file: "rate-limits:\n  - {name: a, key: ip, rate: fast}\n"},
		{name: "bad key kind", file: "rate-limits:\n  - {name: a, key: email, rate: 1/m}\n"},
		{name: "misspelt burst", file: "rate-limits:\n  - {name: a, key: ip, rate: 1/m, brust: 5}\n"},
		{name: "misspelt shadow", file: "rate-limits:\n  - {name: a, key: ip, rate: 1/m, shaddow: true}\n"},
		{name: "shadow not a boolean", file: "rate-limits:\n  - {name: a, key: ip, rate: 1/m, shadow: maybe}\n"},
		{name: "shadow a number", file: "rate-limits:\n  - {name: a, key: ip, rate: 1/m, shadow: 1}\n"},
		{name: "shadow left empty", file: "rate-limits:\n  - name: a\n    key: ip\n    rate: 1/m\n    shadow:\n"},
		{name: "shadow rule with a bad rate", file: "rate-limits:\n  - {name: a, key: ip, rate: fast, shadow: true}\n"},
		{name: "name given twice", file: "rate-limits:\n  - {name: a, key: ip, rate: 1/m}\n  - {name: a, key: author, rate: 1/m}\n"},
		{name: "misspelt burst beside a merged part", file: "rate-limits:\n  - &base {name: a, key: ip, rate: 1/m}\n  - {<<: *base, name: b, brust: 5}\n"},
		{name: "misspelt burst in the part merged", file: "rate-limits:\n  - {<<: {key: ip, brust: 5}, name: a, rate: 1/m}\n"},
		{name: "misspelt burst in a list of parts merged", file: "rate-limits:\n  - &base {name: a, key: ip, rate: 1/m}\n  - {<<: [*base, {brust: 5}], name: b}\n"},
		{name: "shadow left empty in the part merged", file: "rate-limits:\n  - {<<: {key: ip, shadow: }, name: a, rate: 1/m}\n"},
		{name: "rules not a list", file: "rate-limits: {name: a}\n"},
		{name: "rules left empty", file: "rate-limits:\n"},
		{name: "unknown word", args: []string{"-rate-limits", "sometimes"}},
		{name: "bad trusted range", args: []string{"-abuse-trusted-ranges", "192.0.2.0/33"}},
		{name: "bad trusted email", file: "abuse-trusted-emails: [not-an-address]\n"},
		{name: "bad ban style", args: []string{"-ban-style", "ghost"}},
		{name: "bad duplicate window", args: []string{"-duplicate-window", "soon"}},
		{name: "negative duplicate window", args: []string{"-duplicate-window", "-5m"}},
		{name: "negative duplicate window in the file", file: "duplicate-window: -1m\n"},
		{name: "negative abuse timeout", args: []string{"-abuse-timeout", "-1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-dev"}, tt.args...)
			if tt.file != "" {
				args = append(args, "-config", writeConfig(t, tt.file))
			}
			if _, err := Load(args, envMap(nil), io.Discard); err == nil {
				t.Errorf("Load(%q) = nil error, want an error", args)
			}
		})
	}
}

// TestFileAliases: a value written once with an anchor (&name) and named again with an alias
// (*name), or merged into a rule (<<: *name), reads as if it were written out, in every place a
// setting takes a value: a scalar, a list, a list's item, the rules, a rule and a rule's part.
func TestFileAliases(t *testing.T) {
	ip := ratelimit.RuleConfig{Name: "ip", Key: "ip", Rate: "5/m", Burst: 3}
	tests := []struct {
		name, file string
		want       func(a Abuse) bool     // for a setting other than the rules
		rules      []ratelimit.RuleConfig // the rules wanted, when the file gives some
	}{
		{name: "a duration", file: "abuse-timeout: &t 150ms\nduplicate-window: *t\n",
			want: func(a Abuse) bool { return a.DuplicateWindow == 150*time.Millisecond }},
		{name: "a list's item", file: "abuse-trusted-ranges: [&office 10.1.0.0/16, *office]\n",
			want: func(a Abuse) bool { return slices.Equal(a.TrustedRanges, []string{"10.1.0.0/16", "10.1.0.0/16"}) }},
		{name: "a rule's part", file: "rate-limits:\n  - &ip {name: ip, key: ip, rate: 5/m, burst: 3}\n  - <<: *ip\n    name: ip-trial\n    shadow: true\n",
			rules: []ratelimit.RuleConfig{ip, {Name: "ip-trial", Key: "ip", Rate: "5/m", Burst: 3, Shadow: true}}},
		{name: "a rule's parts", file: "rate-limits:\n  - &ip {name: ip, key: ip, rate: 5/m}\n  - &slow {name: slow, key: author, rate: 1/h, burst: 3}\n  - <<: [*ip, *slow]\n    name: ip-trial\n",
			rules: []ratelimit.RuleConfig{{Name: "ip", Key: "ip", Rate: "5/m"}, {Name: "slow", Key: "author", Rate: "1/h", Burst: 3}, {Name: "ip-trial", Key: "ip", Rate: "5/m", Burst: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]string{"-dev", "-config", writeConfig(t, tt.file)}, envMap(nil), io.Discard)
			switch {
			case err != nil:
				t.Fatalf("Load(config file %q) = %v, want no error", tt.file, err)
			case tt.want != nil && !tt.want(c.Abuse):
				t.Errorf("Load(config file %q) gave abuse settings %+v, want the aliased value read", tt.file, c.Abuse)
			}
			if tt.rules != nil {
				want, err := ratelimit.ParseRules(tt.rules)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, c.Abuse.Rules); diff != "" {
					t.Errorf("Load(config file %q) rules (-want +got):\n%s", tt.file, diff)
				}
			}
		})
	}
}

// TestTrustedEmailsNeverInClear checks that staff addresses appear neither in the start-up log
// line nor in the error about a mistyped one.
func TestTrustedEmailsNeverInClear(t *testing.T) {
	const staff = "night.editor@newsroom.example"
	c, err := Load([]string{"-dev", "-config", writeConfig(t, "abuse-trusted-emails: ["+staff+"]\n")}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatalf("Load with a trusted email: %v", err)
	}
	logged := fmt.Sprint(c.LogAttrs()...)
	if strings.Contains(logged, "night.editor") {
		t.Errorf("LogAttrs() = %s, want no trusted email in clear", logged)
	}
	// The count stands in for the list, in words an operator reads as written.
	attrs := c.LogAttrs()
	if i := slices.Index(attrs, any("abuse_trusted_emails")); i < 0 || i+1 >= len(attrs) || attrs[i+1] != "1 address" {
		t.Errorf("LogAttrs() = %v, want abuse_trusted_emails shown as \"1 address\"", attrs)
	}
	_, err = Load([]string{"-dev", "-abuse-trusted-emails", "night.editor@@newsroom"}, envMap(nil), io.Discard)
	if err == nil {
		t.Fatalf("Load with a malformed trusted email = nil error, want an error")
	}
	if strings.Contains(err.Error(), "night.editor") {
		t.Errorf("Load with a malformed trusted email: error %q holds the address in clear", err)
	}
}
