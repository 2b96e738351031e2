package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// statusReason returns the code of err and its ErrorInfo reason.
func statusReason(err error) (codes.Code, string, *errdetails.ErrorInfo) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason(), info
		}
	}
	return st.Code(), "", nil
}

// TestAbuseEndToEnd runs commentd with rate-limit rules from its config file and checks what a
// site gets for a rate limit, a duplicate and a ban made and lifted with commentctl, and what the
// metrics count. A shadow rule stricter than the enforced one refuses nothing and shows nowhere in
// the answers, only in its metric and the start-up log.
func TestAbuseEndToEnd(t *testing.T) {
	cfgFile := writeConfig(t, `rate-limits:
  - name: e2e-author
    key: author
    rate: 2/h
    burst: 2
  - name: e2e-shadow
    key: author
    rate: 1/h
    shadow: true
duplicate-window: 10m
ban-style: refuse
`)
	s := startCommentd(t, redistest.Shared(t), "-config", cfgFile)
	submit := s.submitter(t, "e2e-abuse")

	// A rate limit: the author's rule allows two, the third is refused with when to retry.
	for _, body := range []string{"first thought", "second thought"} {
		if _, err := submit("ann@example.com", "192.0.2.10", body); err != nil {
			t.Fatalf("SubmitComment(%q) by ann within the rule: %v", body, err)
		}
	}
	_, err := submit("ann@example.com", "192.0.2.10", "third thought")
	code, reason, _ := statusReason(err)
	if code != codes.ResourceExhausted || reason != "RATE_LIMITED" {
		t.Fatalf("third SubmitComment by ann under 2/h = %v %q, want ResourceExhausted RATE_LIMITED", code, reason)
	}
	var retry *errdetails.RetryInfo
	var quota *errdetails.QuotaFailure
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.QuotaFailure:
			quota = d
		}
	}
	if d := retry.GetRetryDelay().AsDuration(); d < 29*time.Minute || d > 30*time.Minute {
		t.Errorf("third SubmitComment by ann under 2/h: RetryInfo %v, want about 30m (one interval of the rule)", retry)
	}
	if len(quota.GetViolations()) != 1 || quota.GetViolations()[0].GetSubject() != "rule:e2e-author" {
		t.Errorf("third SubmitComment by ann: QuotaFailure %v, want one violation of rule:e2e-author", quota)
	}

	// A duplicate: the same words again, however spelled.
	bens, err := submit("ben@example.com", "192.0.2.20", "Same words.")
	if err != nil {
		t.Fatalf("SubmitComment by ben: %v", err)
	}
	_, err = submit("Ben@Example.com", "192.0.2.21", "  same WORDS ")
	if code, reason, _ := statusReason(err); code != codes.AlreadyExists || reason != "DUPLICATE_COMMENT" {
		t.Errorf("SubmitComment of the same text by ben again = %v %q, want AlreadyExists DUPLICATE_COMMENT", code, reason)
	}

	// Bans, made and lifted with commentctl.
	var byComment commentdv1.CreateBanResponse
	out := s.ctl(t, "ban", "--comment", bens.GetId(), "--for", "1h", "--reason", "e2e ban", "-o", "json")
	if err := protojson.Unmarshal([]byte(out), &byComment); err != nil {
		t.Fatalf("commentctl ban --comment -o json output is not a CreateBanResponse: %v\n%s", err, out)
	}
	ban := byComment.GetBan()
	if !strings.HasPrefix(ban.GetName(), "bans/author-") || ban.GetModerator() != "e2e-moderator" || ban.GetExpireTime() == nil {
		t.Errorf("commentctl ban --comment %s --for 1h = %v, want an author ban by e2e-moderator with an expiry", bens.GetId(), ban)
	}
	_, err = submit("ben@example.com", "198.51.100.1", "let me back in")
	code, reason, info := statusReason(err)
	if code != codes.PermissionDenied || reason != "BANNED" || info.GetMetadata()["expire_time"] != ban.GetExpireTime().AsTime().UTC().Add(time.Second-1).Truncate(time.Second).Format(time.RFC3339) {
		t.Errorf("SubmitComment by ben after the ban = %v %q %v, want PermissionDenied BANNED with the ban's expire_time rounded up to the second", code, reason, info.GetMetadata())
	}
	s.ctl(t, "ban", "--range", "203.0.113.0/24", "--reason", "e2e bot net")
	if _, err := submit("cat@example.com", "203.0.113.5", "from the banned network"); err != nil {
		if code, reason, _ := statusReason(err); code != codes.PermissionDenied || reason != "BANNED" {
			t.Errorf("SubmitComment from a banned range = %v %q, want PermissionDenied BANNED", code, reason)
		}
	} else {
		t.Errorf("SubmitComment from a banned range succeeded, want PermissionDenied BANNED")
	}
	var list commentdv1.ListBansResponse
	out = s.ctl(t, "bans", "-o", "json")
	if err := protojson.Unmarshal([]byte(out), &list); err != nil || len(list.GetBans()) != 2 {
		t.Fatalf("commentctl bans -o json = %v (%v), want the 2 bans", out, err)
	}
	table := s.ctl(t, "bans")
	for _, want := range []string{ban.GetName(), "range:203.0.113.0/24", "e2e bot net"} {
		if !strings.Contains(table, want) {
			t.Errorf("commentctl bans lacks %q:\n%s", want, table)
		}
	}
	s.ctl(t, "unban", list.GetBans()[0].GetName(), strings.TrimPrefix(list.GetBans()[1].GetName(), "bans/"))
	if _, err := submit("ben@example.com", "198.51.100.1", "back after the ban"); err != nil {
		t.Errorf("SubmitComment by ben after unban: %v, want accepted", err)
	}
	if _, err := submit("cat@example.com", "203.0.113.5", "back after the range ban"); err != nil {
		t.Errorf("SubmitComment from the range after unban: %v, want accepted", err)
	}

	// What the metrics counted, and the rules the server logged at start.
	metrics := s.metricsText(t)
	for _, want := range []string{
		`commentd_abuse_refusals_total{rule="e2e-author"} 1`,
		// ann's second (let through) and third (refused by e2e-author), ben's after the unban
		// (his duplicate and his banned submission never reached the rules).
		`commentd_abuse_shadow_refusals_total{rule="e2e-shadow"} 3`,
		`commentd_abuse_duplicates_total 1`,
		`commentd_abuse_bans_hit_total{kind="author"} 1`,
		`commentd_abuse_bans_hit_total{kind="range"} 1`,
		`commentd_abuse_fail_open_total 0`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(metrics), `commentd_abuse_refusals_total{rule="e2e-shadow"}`) {
		t.Errorf("/metrics counts refusals of the shadow rule e2e-shadow, which refuses nothing")
	}
	if log := s.log.String(); !strings.Contains(log, `"msg":"abuse controls"`) || !strings.Contains(log, "e2e-author: 2/h per author, burst 2") ||
		!strings.Contains(log, "e2e-shadow: 1/h per author, burst 1, shadow") {
		t.Errorf("commentd's log lacks the abuse controls line with the rules e2e-author and e2e-shadow (shadow):\n%s", log)
	}
}

// TestReloadAbuseRulesOnSIGHUP: after the config file's rules change, SIGHUP puts them in force
// without a restart: a tightened rule refuses the next submission, a loosened one lets it
// through, and a broken file is logged and changes nothing.
func TestReloadAbuseRulesOnSIGHUP(t *testing.T) {
	rules := func(rate, burst string) string {
		return "rate-limits:\n  - name: e2e-reload\n    key: author\n    rate: " + rate + "\n    burst: " + burst + "\n"
	}
	cfgFile := writeConfig(t, rules("10/h", "10"))
	s := startCommentd(t, redistest.Shared(t), "-config", cfgFile)
	submit := s.submitter(t, "e2e-reload")
	reloadTo := func(content, line string, n int) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("send SIGHUP: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.log.String(), line) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q log line %d within 10s of SIGHUP\n%s", line, n, s.log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	for _, body := range []string{"first thought", "second thought"} {
		if _, err := submit("ann@example.com", "192.0.2.20", body); err != nil {
			t.Fatalf("SubmitComment(%q) under 10/h, burst 10: %v", body, err)
		}
	}
	reloadTo(rules("1/h", "1"), "reload: abuse controls reloaded", 1)
	_, err := submit("ann@example.com", "192.0.2.20", "third thought")
	if code, reason, info := statusReason(err); code != codes.ResourceExhausted || reason != "RATE_LIMITED" || info.GetMetadata()["rule"] != "e2e-reload" {
		t.Fatalf("SubmitComment after SIGHUP tightened the rule to 1/h, burst 1 = %v %q %v, want ResourceExhausted RATE_LIMITED by e2e-reload", code, reason, info.GetMetadata())
	}

	// A broken file: the ERROR line, and the tight rule stays.
	reloadTo("rate-limits: [\n", "reload: config file not reloaded", 1)
	if _, err := submit("ann@example.com", "192.0.2.20", "fourth thought"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("SubmitComment after SIGHUP with a broken config file = %v, want ResourceExhausted (the rule in force stays)", err)
	}

	reloadTo(rules("100/h", "100"), "reload: abuse controls reloaded", 2)
	if _, err := submit("ann@example.com", "192.0.2.20", "fifth thought"); err != nil {
		t.Errorf("SubmitComment after SIGHUP loosened the rule to 100/h, burst 100: %v, want accepted", err)
	}
	if !strings.Contains(s.log.String(), `"rules":["e2e-reload: 100/h per author, burst 100"]`) {
		t.Errorf("no abuse controls log line with the loosened rule after the reload\n%s", s.log)
	}
}
