package main

import (
	"testing"

	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestShadowBanRateLimitedLikeAnyone: under ban-style shadow a banned reader is counted by the
// rate limits, and the refusal is the very answer an unbanned reader gets (docs/ABUSE.md: "too
// fast" answers do not give the ban away).
func TestShadowBanRateLimitedLikeAnyone(t *testing.T) {
	cfgFile := writeConfig(t, `rate-limits:
  - name: e2e-ip
    key: ip
    rate: 1/h
    burst: 1
ban-style: shadow
`)
	s := startCommentd(t, redistest.Shared(t), "-config", cfgFile)
	submit := s.submitter(t, "e2e-shadow")
	s.ctl(t, "ban", "--range", "203.0.113.0/24", "--reason", "e2e shadow")

	refusal := func(email, ip string) *status.Status {
		t.Helper()
		if _, err := submit(email, ip, "first words from "+ip); err != nil {
			t.Fatalf("first SubmitComment from %s: %v, want accepted", ip, err)
		}
		_, err := submit(email, ip, "second words from "+ip)
		if err == nil {
			t.Fatalf("second SubmitComment from %s under 1/h per ip succeeded, want RATE_LIMITED", ip)
		}
		return status.Convert(err)
	}
	banned := refusal("troll@example.com", "203.0.113.5")
	free := refusal("reader@example.com", "198.51.100.5")
	if banned.Code() != free.Code() || banned.Message() != free.Message() {
		t.Errorf("rate-limit refusal of a shadow-banned reader = %v %q, of an unbanned reader %v %q: want the same", banned.Code(), banned.Message(), free.Code(), free.Message())
	}
	bp, fp := banned.Proto(), free.Proto()
	if len(bp.GetDetails()) != len(fp.GetDetails()) {
		t.Fatalf("details of the refusals: shadow-banned %v, unbanned %v: want the same kinds", bp.GetDetails(), fp.GetDetails())
	}
	for i := range bp.GetDetails() {
		if bp.Details[i].GetTypeUrl() != fp.Details[i].GetTypeUrl() {
			t.Errorf("detail %d: shadow-banned %s, unbanned %s", i, bp.Details[i].GetTypeUrl(), fp.Details[i].GetTypeUrl())
		}
	}
}
