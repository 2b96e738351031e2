package grpcserver_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestAbuseErrorMapping runs the real abuse checks (rate limits, duplicate control and bans, on
// the Redis store) and checks how their refusals reach the site.
func TestAbuseErrorMapping(t *testing.T) {
	rule := ratelimit.Rule{Name: "ip-hourly", Key: ratelimit.KeyIP, Count: 1, Period: time.Hour, Burst: 1}
	e := newEnv(t, envOptions{
		redisAddr: redistest.Start(t).Addr,
		mode:      comment.ModePost,
		storeScreener: func(st *redisstore.Store, ring *privacy.Keyring) comment.Screener {
			g := ratelimit.NewGuard(st, ratelimit.Options{Rules: []ratelimit.Rule{rule}})
			return ratelimit.NewScreener(g, ring, ratelimit.ScreenerOptions{BanStyle: ratelimit.BanRefuse})
		},
	})
	site := e.as(t, siteKeyName)
	submit := func(email, ip, body string) error {
		r := validSubmission("abuse", body)
		r.AuthorEmail, r.ClientIp = email, ip
		_, err := e.site.SubmitComment(site, r)
		return err
	}

	t.Run("rate limited", func(t *testing.T) {
		if err := submit("ann@example.com", "192.0.2.1", "first from this address"); err != nil {
			t.Fatalf("called SubmitComment once from 192.0.2.1: %v", err)
		}
		err := submit("ben@example.com", "192.0.2.1", "second from this address")
		st, info := errorInfo(err)
		if st.Code() != codes.ResourceExhausted || info.GetReason() != grpcserver.ReasonRateLimited || info.GetMetadata()["rule"] != rule.Name {
			t.Fatalf("called SubmitComment twice from one address under %s, got %v %v, want ResourceExhausted %s rule %s", rule, st.Code(), info, grpcserver.ReasonRateLimited, rule.Name)
		}
		qf, ok := detail[*errdetails.QuotaFailure](err)
		if !ok || len(qf.GetViolations()) != 1 || qf.GetViolations()[0].GetSubject() != "rule:"+rule.Name {
			t.Errorf("called SubmitComment over the limit, got QuotaFailure %v, want one violation on rule:%s", qf, rule.Name)
		}
		ri, ok := detail[*errdetails.RetryInfo](err)
		if d := ri.GetRetryDelay().AsDuration(); !ok || d <= 0 || d > time.Hour {
			t.Errorf("called SubmitComment over the limit, got RetryInfo %v, want a delay in (0, 1h]", ri)
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		if err := submit("cat@example.com", "192.0.2.2", "the very same words"); err != nil {
			t.Fatalf("called SubmitComment with a new text: %v", err)
		}
		err := submit("cat@example.com", "192.0.2.3", "the very same words")
		if code, reason := codeReason(err); code != codes.AlreadyExists || reason != grpcserver.ReasonDuplicateComment {
			t.Errorf("called SubmitComment twice with the same text, got %v %q, want AlreadyExists %q", code, reason, grpcserver.ReasonDuplicateComment)
		}
	})

	t.Run("request id reused", func(t *testing.T) {
		// The rule lets one submission through per address and hour: any count a resend or a
		// reuse took would refuse the next real submission from that address.
		req := func(email, ip, body string) *commentdv1.SubmitCommentRequest {
			r := validSubmission("abuse", body)
			r.AuthorEmail, r.ClientIp, r.RequestId = email, ip, "form-1"
			return r
		}
		first, err := e.site.SubmitComment(site, req("eve@example.com", "192.0.2.5", "my first words"))
		if err != nil {
			t.Fatalf("called SubmitComment with request_id form-1: %v", err)
		}
		keys := e.storedKeys(t)
		again, err := e.site.SubmitComment(site, req("eve@example.com", "192.0.2.5", "my first words"))
		if err != nil || again.GetComment().GetName() != first.GetComment().GetName() {
			t.Errorf("called SubmitComment again with request_id form-1 unchanged, got %v, %v; want the first comment %s", again.GetComment().GetName(), err, first.GetComment().GetName())
		}
		for _, r := range []*commentdv1.SubmitCommentRequest{
			req("eve@example.com", "192.0.2.5", "other words"),
			req("fay@example.com", "192.0.2.6", "my first words"),
			req("fay@example.com", "192.0.2.6", "other words"),
		} {
			_, err := e.site.SubmitComment(site, r)
			if code, reason := codeReason(err); code != codes.AlreadyExists || reason != grpcserver.ReasonRequestIDReused {
				t.Errorf("called SubmitComment(request_id form-1, %s, %s, %q) after another request used it, got %v %q (%v), want AlreadyExists %q",
					r.GetAuthorEmail(), r.GetClientIp(), r.GetBody(), code, reason, err, grpcserver.ReasonRequestIDReused)
			}
		}
		var added []string
		for _, k := range e.storedKeys(t) {
			// A check whose counts were given back leaves short-lived marks (":k:", ":x:").
			if !slices.Contains(keys, k) && !strings.Contains(k, ":k:") && !strings.Contains(k, ":x:") {
				added = append(added, k)
			}
		}
		if len(added) != 0 {
			t.Errorf("after a resend and reuses of request_id form-1, got new keys %v, want none", added)
		}
		if err := submit("fay@example.com", "192.0.2.6", "other words"); err != nil {
			t.Errorf("called SubmitComment from 192.0.2.6 with a new request after the reuses from it, got %v, want it stored (the reuses counted nothing)", err)
		}
	})

	t.Run("banned", func(t *testing.T) {
		email, _ := privacy.ParseEmail("dan@example.com")
		ban, err := ratelimit.NewBans(e.store, ratelimit.BansOptions{}).Ban(t.Context(), ratelimit.BanRequest{
			Target: ratelimit.AuthorTarget(e.ring.EmailKey(email)), Duration: time.Hour, Reason: "trolling", Moderator: modKeyName,
		})
		if err != nil {
			t.Fatalf("ban dan@example.com: %v", err)
		}
		err = submit("dan@example.com", "192.0.2.4", "let me in")
		st, info := errorInfo(err)
		want := ban.ExpiresAt.UTC().Add(time.Second - 1).Truncate(time.Second).Format(time.RFC3339) // rounded up
		if st.Code() != codes.PermissionDenied || info.GetReason() != grpcserver.ReasonBanned || info.GetMetadata()["expire_time"] != want {
			t.Errorf("called SubmitComment as a banned author, got %v %v, want PermissionDenied %s expire_time %s", st.Code(), info, grpcserver.ReasonBanned, want)
		}
		for k, v := range info.GetMetadata() {
			if k != "expire_time" {
				t.Errorf("called SubmitComment as a banned author, got metadata %s=%q, want only expire_time (the ban's details are for moderators)", k, v)
			}
		}
	})

	// A reader under several bans is refused until the last of them ends: expire_time promises
	// that the ban is over by then, whichever of the bans is the most specific.
	t.Run("banned several times", func(t *testing.T) {
		bans := ratelimit.NewBans(e.store, ratelimit.BansOptions{})
		for _, tt := range []struct {
			name, email, ip, cidr string
			author, ip1, rng      time.Duration // 0: no ban of that kind; forever: a permanent one
			want                  time.Duration // the end promised; forever: none (permanent)
		}{
			{name: "author ban shorter than a range ban", email: "gus@example.com", ip: "198.51.100.7", cidr: "198.51.100.0/24",
				author: time.Hour, rng: 48 * time.Hour, want: 48 * time.Hour},
			{name: "range ban shorter than an author ban", email: "hal@example.com", ip: "203.0.113.7", cidr: "203.0.113.0/24",
				author: 48 * time.Hour, rng: time.Hour, want: 48 * time.Hour},
			{name: "address banned for good", email: "ida@example.com", ip: "192.0.2.77",
				author: time.Hour, ip1: forever, want: forever},
		} {
			t.Run(tt.name, func(t *testing.T) {
				email, _ := privacy.ParseEmail(tt.email)
				addr, _ := privacy.ParseIP(tt.ip)
				var latest time.Time
				ban := func(target ratelimit.Target, d time.Duration) {
					if d == 0 {
						return
					}
					req := ratelimit.BanRequest{Target: target, Reason: "trolling", Moderator: modKeyName}
					if d != forever {
						req.Duration = d
					}
					b, err := bans.Ban(t.Context(), req)
					if err != nil {
						t.Fatalf("ban %v for %v: %v", target.Kind, d, err)
					}
					if d == tt.want {
						latest = b.ExpiresAt
					}
				}
				ban(ratelimit.AuthorTarget(e.ring.EmailKey(email)), tt.author)
				ban(ratelimit.IPTarget(e.ring.IPKey(addr)), tt.ip1)
				if tt.cidr != "" {
					ban(ratelimit.RangeTarget(netip.MustParsePrefix(tt.cidr)), tt.rng)
				}
				err := submit(tt.email, tt.ip, "let me in")
				st, info := errorInfo(err)
				got, ok := info.GetMetadata()["expire_time"]
				want, wantOK := latest.UTC().Add(time.Second-1).Truncate(time.Second).Format(time.RFC3339), tt.want != forever
				if st.Code() != codes.PermissionDenied || info.GetReason() != grpcserver.ReasonBanned || ok != wantOK || (ok && got != want) {
					t.Errorf("called SubmitComment as %s from %s under bans (author %v, address %v, range %v), got %v %v, want PermissionDenied %s with expire_time %q (none for a permanent ban)",
						tt.email, tt.ip, tt.author, tt.ip1, tt.rng, st.Code(), info, grpcserver.ReasonBanned, map[bool]string{true: want}[wantOK])
				}
			})
		}
	})
}

// forever stands for a permanent ban in the tables above.
const forever = time.Duration(-1)
