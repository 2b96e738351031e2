package ratelimit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		wantCount  int
		wantPeriod time.Duration
		wantErr    bool
	}{
		{in: "1/15s", wantCount: 1, wantPeriod: 15 * time.Second},
		{in: "20/h", wantCount: 20, wantPeriod: time.Hour},
		{in: "600/1m", wantCount: 600, wantPeriod: time.Minute},
		{in: " 5 / m ", wantCount: 5, wantPeriod: time.Minute},
		{in: "100/d", wantCount: 100, wantPeriod: 24 * time.Hour},
		{in: "3/2d", wantCount: 3, wantPeriod: 48 * time.Hour},
		{in: "10/1h30m", wantCount: 10, wantPeriod: 90 * time.Minute},
		{in: "15s", wantErr: true},
		{in: "0/s", wantErr: true},
		{in: "-1/s", wantErr: true},
		{in: "x/s", wantErr: true},
		{in: "1/", wantErr: true},
		{in: "1/0s", wantErr: true},
		{in: "1/-5s", wantErr: true},
		{in: "1/fortnight", wantErr: true},
		{in: "1/32d", wantErr: true},
		// A count of days whose nanoseconds overflow must not wrap round into a short period:
		// 213504 days is 25m26s once wrapped, and 2^63 days is zero.
		{in: "1/213504d", wantErr: true},
		{in: "1/9223372036854775807d", wantErr: true},
		{in: "1/99999999999999999999d", wantErr: true},
	}
	for _, tt := range tests {
		count, period, err := ParseRate(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRate(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if count != tt.wantCount || period != tt.wantPeriod {
			t.Errorf("ParseRate(%q) = %d, %s; want %d, %s", tt.in, count, period, tt.wantCount, tt.wantPeriod)
		}
	}
}

func TestRuleConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     RuleConfig
		want    Rule
		wantErr bool
	}{
		{name: "flood", cfg: RuleConfig{Name: "flood-ip", Key: "ip", Rate: "1/15s", Burst: 3},
			want: Rule{Name: "flood-ip", Key: KeyIP, Count: 1, Period: 15 * time.Second, Burst: 3}},
		{name: "burst defaults to 1", cfg: RuleConfig{Name: "hourly", Key: "Author", Rate: "20/h"},
			want: Rule{Name: "hourly", Key: KeyAuthor, Count: 20, Period: time.Hour, Burst: 1}},
		{name: "thread", cfg: RuleConfig{Name: "t", Key: "thread", Rate: "60/m", Burst: 30},
			want: Rule{Name: "t", Key: KeyThread, Count: 60, Period: time.Minute, Burst: 30}},
		{name: "site", cfg: RuleConfig{Name: "site_all", Key: "site", Rate: "1000/s"},
			want: Rule{Name: "site_all", Key: KeySite, Count: 1000, Period: time.Second, Burst: 1}},
		{name: "shadow", cfg: RuleConfig{Name: "trial", Key: "author", Rate: "10/h", Burst: 2, Shadow: true},
			want: Rule{Name: "trial", Key: KeyAuthor, Count: 10, Period: time.Hour, Burst: 2, Shadow: true}},
		{name: "shadow rule with a bad rate", cfg: RuleConfig{Name: "trial", Key: "author", Rate: "often", Shadow: true}, wantErr: true},
		{name: "empty name", cfg: RuleConfig{Key: "ip", Rate: "1/s"}, wantErr: true},
		{name: "name with braces", cfg: RuleConfig{Name: "a{b}", Key: "ip", Rate: "1/s"}, wantErr: true},
		{name: "upper-case name", cfg: RuleConfig{Name: "Flood", Key: "ip", Rate: "1/s"}, wantErr: true},
		{name: "unknown key", cfg: RuleConfig{Name: "x", Key: "email", Rate: "1/s"}, wantErr: true},
		{name: "bad rate", cfg: RuleConfig{Name: "x", Key: "ip", Rate: "often"}, wantErr: true},
		{name: "too fast", cfg: RuleConfig{Name: "x", Key: "ip", Rate: "1001/s"}, wantErr: true},
		{name: "negative burst", cfg: RuleConfig{Name: "x", Key: "ip", Rate: "1/s", Burst: -1}, wantErr: true},
		{name: "huge burst", cfg: RuleConfig{Name: "x", Key: "ip", Rate: "1/s", Burst: MaxBurst + 1}, wantErr: true},
		{name: "burst spanning years", cfg: RuleConfig{Name: "x", Key: "ip", Rate: "1/d", Burst: 400}, wantErr: true},
		{name: "burst spanning most of a year", cfg: RuleConfig{Name: "x", Key: "ip", Rate: "1/d", Burst: 366},
			want: Rule{Name: "x", Key: KeyIP, Count: 1, Period: 24 * time.Hour, Burst: 366}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Rule()
			if (err != nil) != tt.wantErr {
				t.Fatalf("%+v.Rule() error = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%+v.Rule() (-want +got):\n%s", tt.cfg, diff)
			}
		})
	}
}

func TestParseRulesRefusesDuplicateNames(t *testing.T) {
	t.Parallel()
	cfgs := []RuleConfig{
		{Name: "a", Key: "ip", Rate: "1/s"},
		{Name: "a", Key: "author", Rate: "1/s"},
	}
	if got, err := ParseRules(cfgs); err == nil {
		t.Errorf("ParseRules(%+v) = %v, nil; want an error for the repeated name", cfgs, got)
	}
	if got, err := ParseRules(nil); err != nil || len(got) != 0 {
		t.Errorf("ParseRules(nil) = %v, %v; want no rules, no error", got, err)
	}
}

func TestDefaultRulesRoundTripThroughConfig(t *testing.T) {
	t.Parallel()
	rules := DefaultRules()
	cfgs := make([]RuleConfig, len(rules))
	for i, r := range rules {
		cfgs[i] = r.Config()
	}
	got, err := ParseRules(cfgs)
	if err != nil {
		t.Fatalf("ParseRules(configs of DefaultRules()) = %v, want no error", err)
	}
	if diff := cmp.Diff(rules, got); diff != "" {
		t.Errorf("ParseRules(configs of DefaultRules()) (-want +got):\n%s", diff)
	}
}

func TestShadowRuleRoundTripsAndShows(t *testing.T) {
	t.Parallel()
	r := Rule{Name: "trial", Key: KeyIP, Count: 1, Period: 15 * time.Second, Burst: 3, Shadow: true}
	got, err := r.Config().Rule()
	if err != nil || got != r {
		t.Errorf("%+v.Config().Rule() = %+v, %v; want the rule back", r, got, err)
	}
	if s, want := r.String(), "trial: 1/15s per ip, burst 3, shadow"; s != want {
		t.Errorf("%+v.String() = %q, want %q", r, s, want)
	}
	r.Shadow = false
	if s, want := r.String(), "trial: 1/15s per ip, burst 3"; s != want {
		t.Errorf("%+v.String() = %q, want %q", r, s, want)
	}
}

func TestRuleInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule Rule
		want time.Duration
	}{
		{Rule{Count: 1, Period: 15 * time.Second}, 15 * time.Second},
		{Rule{Count: 600, Period: time.Minute}, 100 * time.Millisecond},
		// 60s/7 = 8.571428571s: rounded up to the microsecond, never down.
		{Rule{Count: 7, Period: time.Minute}, 8571429 * time.Microsecond},
		{Rule{Count: 3, Period: time.Second}, 333334 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := tt.rule.Interval(); got != tt.want {
			t.Errorf("Rule{Count: %d, Period: %s}.Interval() = %s, want %s", tt.rule.Count, tt.rule.Period, got, tt.want)
		}
	}
}
