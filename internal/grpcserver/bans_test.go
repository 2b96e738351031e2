package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// newBansEnv is newEnv with the abuse controls wired as commentd wires them: the ban check on
// every submission (ratelimit.Screener, in the given style, with no rate limits so that only bans
// refuse) and the ban RPCs (Options.Bans).
func newBansEnv(t *testing.T, style ratelimit.BanStyle) *env {
	t.Helper()
	e := newStoreEnv(t, redistest.Start(t).Addr)
	keys := testKeys(t, e)
	guard := ratelimit.NewGuard(e.store, ratelimit.Options{})
	screener := ratelimit.NewScreener(guard, e.ring, ratelimit.ScreenerOptions{BanStyle: style})
	e.start(t, grpcserver.Options{
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Keys:       keys,
		Comments:   comment.NewService(e.store, e.ring, comment.Options{DefaultMode: comment.ModePost, Screeners: []comment.Screener{screener}}),
		Moderation: moderation.NewService(e.store, e.ring, moderation.Options{DefaultMode: comment.ModePost, Audit: e.store, Eraser: e.store}),
		Registerer: e.reg,
		Bans:       ratelimit.NewBans(e.store, ratelimit.BansOptions{Keys: e.ring}),
	})
	return e
}

// submitAs sends a comment by email from ip to thread and returns the call's result.
func (e *env) submitAs(t *testing.T, thread, email, ip, body string) (*commentdv1.Comment, error) {
	t.Helper()
	r := validSubmission(thread, body)
	r.AuthorEmail, r.ClientIp = email, ip
	resp, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
	return resp.GetComment(), err
}

// ban calls CreateBan as the moderator and fails the test on error.
func (e *env) ban(t *testing.T, r *commentdv1.CreateBanRequest) *commentdv1.Ban {
	t.Helper()
	resp, err := e.mod.CreateBan(e.as(t, modKeyName), r)
	if err != nil {
		t.Fatalf("called CreateBan(%v): %v", r, err)
	}
	return resp.GetBan()
}

// listBans returns every ban in force, a page of two at a time, so paging is exercised too.
func (e *env) listBans(t *testing.T) []*commentdv1.Ban {
	t.Helper()
	var all []*commentdv1.Ban
	token := ""
	for range 100 {
		resp, err := e.mod.ListBans(e.as(t, modKeyName), &commentdv1.ListBansRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("called ListBans(page_token %q): %v", token, err)
		}
		all = append(all, resp.GetBans()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all
		}
	}
	t.Fatalf("called ListBans: more than 100 pages")
	return nil
}

func banNames(bs []*commentdv1.Ban) []string {
	var names []string
	for _, b := range bs {
		names = append(names, b.GetName())
	}
	return names
}

func wantBanned(t *testing.T, call string, err error) {
	t.Helper()
	if code, reason := codeReason(err); code != codes.PermissionDenied || reason != grpcserver.ReasonBanned {
		t.Errorf("%s, got %v %q, want PermissionDenied %q", call, code, reason, grpcserver.ReasonBanned)
	}
}

// TestIPv6BanCoversTheNetwork: a phone or a home network is given an IPv6 /64 and changes its
// address within it at least daily, so banning the address of an IPv6 reader's comment, or an
// IPv6 address given, bans the /64, as the rate limits count it. Another /64 is not banned.
func TestIPv6BanCoversTheNetwork(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	for _, tt := range []struct {
		name   string
		target func(c *commentdv1.Comment) *commentdv1.CreateBanRequest
	}{
		{"comment_ip", func(c *commentdv1.Comment) *commentdv1.CreateBanRequest {
			return &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: c.GetName()}, Reason: "sock puppets"}
		}},
		{"ip", func(*commentdv1.Comment) *commentdv1.CreateBanRequest {
			return &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8:77:1:aaaa:bbbb:cccc:dddd"}, Reason: "sock puppets"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rude, err := e.submitAs(t, "v6-"+tt.name, "puppet-master@example.com", "2001:db8:77:1:aaaa:bbbb:cccc:dddd", "a rude comment")
			if err != nil {
				t.Fatalf("called SubmitComment before any ban: %v", err)
			}
			b := e.ban(t, tt.target(rude))
			defer func() { // the next case starts from no ban
				if _, err := e.mod.DeleteBan(e.as(t, modKeyName), &commentdv1.DeleteBanRequest{Name: b.GetName()}); err != nil {
					t.Errorf("called DeleteBan(%s): %v", b.GetName(), err)
				}
			}()
			// The next day the phone has another address in the same /64.
			_, err = e.submitAs(t, "v6-"+tt.name, "new-puppet@example.com", "2001:db8:77:1:1111:2222:3333:4444", "I agree")
			wantBanned(t, "called SubmitComment from another address of the banned /64", err)
			if _, err := e.submitAs(t, "v6-"+tt.name, "neighbour@example.com", "2001:db8:77:2::1", "hello"); err != nil {
				t.Errorf("called SubmitComment from another /64: %v, want accepted", err)
			}
		})
	}
}

// TestBanByComment is the moderator's usual path: ban the author, then the address, of a comment
// in the queue; list the bans; lift them.
func TestBanByComment(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	mod := e.as(t, modKeyName)
	rude, err := e.submitAs(t, "news-1", "troll@example.com", "198.51.100.7", "a rude comment")
	if err != nil {
		t.Fatalf("called SubmitComment as troll@example.com before any ban: %v", err)
	}
	view, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: rude.GetName()})
	if err != nil {
		t.Fatalf("called ModerationService.GetComment(%s): %v", rude.GetName(), err)
	}
	authorKey := view.GetComment().GetAuthorKey()

	byAuthor := e.ban(t, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: rude.GetName()},
		Duration: durationpb.New(72 * time.Hour), Reason: "insults"})
	want := &commentdv1.Ban{Name: "bans/author-" + authorKey, Target: "author:" + authorKey, Reason: "insults", Moderator: modKeyName}
	if diff := cmp.Diff(want, byAuthor, protocmp.Transform(), protocmp.IgnoreFields(&commentdv1.Ban{}, "create_time", "expire_time")); diff != "" {
		t.Errorf("called CreateBan(comment_author %s), got ban (-want +got):\n%s", rude.GetName(), diff)
	}
	if d := byAuthor.GetExpireTime().AsTime().Sub(byAuthor.GetCreateTime().AsTime()); d < 72*time.Hour || d > 72*time.Hour+time.Millisecond {
		t.Errorf("called CreateBan for 72h, got create_time %v expire_time %v, want 72h apart", byAuthor.GetCreateTime(), byAuthor.GetExpireTime())
	}

	// The author is refused from anywhere, with anything; others at the same address are not.
	_, err = e.submitAs(t, "news-2", "Troll@Example.com", "192.0.2.50", "a new day, a new me")
	wantBanned(t, "called SubmitComment as the banned author from another address", err)
	if _, err := e.submitAs(t, "news-1", "neighbour@example.com", "198.51.100.7", "I share the office network"); err != nil {
		t.Errorf("called SubmitComment as another author at the banned author's address: %v, want accepted", err)
	}

	// Then the address of the comment: anybody there is refused.
	byIP := e.ban(t, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: rude.GetId()}, Reason: "sock puppets"})
	if !strings.HasPrefix(byIP.GetName(), "bans/ip-") || !strings.HasPrefix(byIP.GetTarget(), "ip:") || byIP.GetExpireTime() != nil {
		t.Errorf("called CreateBan(comment_ip %s) for good, got %v, want bans/ip-<hash>, target ip:<hash>, no expire_time", rude.GetId(), byIP)
	}
	_, err = e.submitAs(t, "news-1", "puppet@example.com", "198.51.100.7", "I agree with the troll")
	wantBanned(t, "called SubmitComment as a new author from the banned address", err)

	if got := banNames(e.listBans(t)); !cmp.Equal(got, []string{byIP.GetName(), byAuthor.GetName()}) {
		t.Errorf("called ListBans, got %v, want newest first %v", got, []string{byIP.GetName(), byAuthor.GetName()})
	}

	for _, b := range []*commentdv1.Ban{byAuthor, byIP} {
		if _, err := e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: b.GetName()}); err != nil {
			t.Fatalf("called DeleteBan(%s): %v", b.GetName(), err)
		}
	}
	if _, err := e.submitAs(t, "news-2", "troll@example.com", "198.51.100.7", "I am back"); err != nil {
		t.Errorf("called SubmitComment as the author after both bans were lifted: %v, want accepted", err)
	}
	if got := e.listBans(t); len(got) != 0 {
		t.Errorf("called ListBans after lifting every ban, got %v, want none", banNames(got))
	}
	_, err = e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: byAuthor.GetName()})
	if code, reason := codeReason(err); code != codes.NotFound || reason != grpcserver.ReasonBanNotFound {
		t.Errorf("called DeleteBan(%s) a second time, got %v %q, want NotFound %q", byAuthor.GetName(), code, reason, grpcserver.ReasonBanNotFound)
	}

	// The audit log has the ban and its lifting, newest first; the refused second lift is not there.
	audit, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: byAuthor.GetName()})
	if err != nil {
		t.Fatalf("called ListAuditEvents(target %s): %v", byAuthor.GetName(), err)
	}
	var gotAudit []string
	for _, ev := range audit.GetEvents() {
		gotAudit = append(gotAudit, fmt.Sprintf("%s %s %s %q", ev.GetAction(), ev.GetModerator(), ev.GetTarget(), ev.GetReason()))
	}
	wantAudit := []string{
		fmt.Sprintf("AUDIT_ACTION_UNBAN %s %s %q", modKeyName, byAuthor.GetName(), ""),
		fmt.Sprintf("AUDIT_ACTION_BAN %s %s %q", modKeyName, byAuthor.GetName(), "insults"),
	}
	if diff := cmp.Diff(wantAudit, gotAudit); diff != "" {
		t.Errorf("called ListAuditEvents(target %s) (-want +got):\n%s", byAuthor.GetName(), diff)
	}
}

// TestBannedAuthorsResendGetsTheFirstAnswer checks that a ban does not change what a resend of a
// request stored before the ban returns: the site lost our answer and asks again, and must learn
// that the comment it sent is stored (a BANNED refusal would tell it the opposite). A new request
// by the same author is refused.
func TestBannedAuthorsResendGetsTheFirstAnswer(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	r := validSubmission("news-1", "posted before the ban")
	r.AuthorEmail, r.ClientIp, r.RequestId = "troll@example.com", "198.51.100.7", "form-1"
	first, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
	if err != nil {
		t.Fatalf("called SubmitComment(request_id form-1) before any ban: %v", err)
	}
	e.ban(t, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"}, Reason: "trolling"})

	again, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
	if err != nil || again.GetComment().GetName() != first.GetComment().GetName() {
		t.Errorf("called SubmitComment(request_id form-1) again after the author's ban, got %s, %v; want the first comment %s",
			again.GetComment().GetName(), err, first.GetComment().GetName())
	}
	_, err = e.submitAs(t, "news-1", "troll@example.com", "198.51.100.7", "posted after the ban")
	wantBanned(t, "called SubmitComment with a new request as the banned author", err)
}

// TestShadowBan checks that under the shadow style a banned author's comment is stored rejected,
// for moderators to see, while the site is told, then and later, that it is pending.
func TestShadowBan(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanShadow)
	site, mod := e.as(t, siteKeyName), e.as(t, modKeyName)
	e.ban(t, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "Troll@Example.com"}, Reason: "trolling"})

	shadowed, err := e.submitAs(t, "news-1", "troll@example.com", "192.0.2.1", "you will never silence me")
	if err != nil || shadowed.GetState() != commentdv1.State_STATE_PENDING {
		t.Fatalf("called SubmitComment as a shadow-banned author, got %v, %v; want accepted as PENDING", shadowed.GetState(), err)
	}
	got, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: shadowed.GetName()})
	if err != nil || got.GetComment().GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("called GetComment(%s) as the site, got %v, %v; want PENDING", shadowed.GetName(), got.GetComment().GetState(), err)
	}
	view, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: shadowed.GetName()})
	if err != nil {
		t.Fatalf("called ModerationService.GetComment(%s): %v", shadowed.GetName(), err)
	}
	mc := view.GetComment()
	if mc.GetComment().GetState() != commentdv1.State_STATE_REJECTED || len(mc.GetHoldReasons()) == 0 || mc.GetHoldReasons()[0].GetCode() != ratelimit.ReasonBanned {
		t.Errorf("called ModerationService.GetComment(%s), got state %v reasons %v; want REJECTED with reason %s first",
			shadowed.GetName(), mc.GetComment().GetState(), mc.GetHoldReasons(), ratelimit.ReasonBanned)
	}
	list, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "news-1"})
	if err != nil || len(list.GetComments()) != 0 {
		t.Errorf("called ListComments(news-1), got %v, %v; want no comment (the shadow-banned one is hidden)", list.GetComments(), err)
	}
	if ok, err := e.submitAs(t, "news-1", "reader@example.com", "192.0.2.1", "a normal comment"); err != nil || ok.GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Errorf("called SubmitComment as another author, got %v, %v; want PUBLISHED", ok.GetState(), err)
	}
}

// TestBanExpiry checks that a ban stops applying, and leaves the list, the moment it expires.
func TestBanExpiry(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	b := e.ban(t, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8::42"},
		Duration: durationpb.New(700 * time.Millisecond), Reason: "cooling off"})
	_, err := e.submitAs(t, "news-1", "anyone@example.com", "2001:db8:0:0::42", "during the ban")
	wantBanned(t, "called SubmitComment from a banned address during the ban", err)
	if got := banNames(e.listBans(t)); !cmp.Equal(got, []string{b.GetName()}) {
		t.Errorf("called ListBans during the ban, got %v, want [%s]", got, b.GetName())
	}
	time.Sleep(time.Until(b.GetExpireTime().AsTime()) + 50*time.Millisecond)
	if _, err := e.submitAs(t, "news-1", "anyone@example.com", "2001:db8::42", "after the ban"); err != nil {
		t.Errorf("called SubmitComment from the address after its ban expired: %v, want accepted", err)
	}
	if got := e.listBans(t); len(got) != 0 {
		t.Errorf("called ListBans after the ban expired, got %v, want none", banNames(got))
	}
	_, err = e.mod.DeleteBan(e.as(t, modKeyName), &commentdv1.DeleteBanRequest{Name: b.GetName()})
	if code, reason := codeReason(err); code != codes.NotFound || reason != grpcserver.ReasonBanNotFound {
		t.Errorf("called DeleteBan(%s) after it expired, got %v %q, want NotFound %q", b.GetName(), code, reason, grpcserver.ReasonBanNotFound)
	}
}

// TestBanForCenturies checks that a ban longer than Go's longest duration (about 292 years) is in
// force until the time it says, and that it replaces a permanent ban on the target with itself,
// not with a ban that has already expired.
func TestBanForCenturies(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	target := &commentdv1.CreateBanRequest_IpRange{IpRange: "198.51.100.0/24"}
	e.ban(t, &commentdv1.CreateBanRequest{Target: target, Reason: "for good"})
	req := &commentdv1.CreateBanRequest{Target: target, Duration: &durationpb.Duration{Seconds: 1000 * 365 * 24 * 3600}, Reason: "a thousand years"}
	if req.GetDuration().AsDuration() != math.MaxInt64 {
		t.Fatalf("durationpb of a thousand years = %v, want the longest time.Duration", req.GetDuration().AsDuration())
	}
	b := e.ban(t, req)
	if exp := b.GetExpireTime().AsTime(); !exp.After(time.Now().AddDate(290, 0, 0)) {
		t.Errorf("called CreateBan(%v), got expire_time %v, want about 292 years from now", req, exp)
	}
	if got := banNames(e.listBans(t)); !cmp.Equal(got, []string{b.GetName()}) {
		t.Errorf("called ListBans after CreateBan(%v), got %v, want [%s]", req, got, b.GetName())
	}
	_, err := e.submitAs(t, "news-1", "anyone@example.com", "198.51.100.7", "from the banned range")
	wantBanned(t, "called SubmitComment from the range banned for a thousand years", err)
}

// TestBanRangeWithinOneDevice checks that an IPv6 range no wider than a /64 is refused (and an IPv4
// range narrower than a /29, and the 6to4 ranges that stand for one): a /64 is
// what one phone or home network is given, which an address ban counts as one reader and keeps
// only as its keyed hash, while a range is kept in clear and shown to every moderator. A range
// banned before stays listed and can be lifted by its name.
func TestBanRangeWithinOneDevice(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	mod := e.as(t, modKeyName)
	// Nor an IPv4 range of four addresses or fewer, or a 6to4 range standing for one (a 6to4 /48
	// is one IPv4 address's network).
	for _, cidr := range []string{"2001:db8:1:2::/64", "2001:db8:1:2::/100", "2001:db8:1:2:3:4:5:0/112", "2001:db8:1:2::8000/127", "203.0.113.8/30", "203.0.113.8/31", "2002:cb00:7108::/48"} {
		req := &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: cidr}, Reason: "x"}
		_, err := e.mod.CreateBan(mod, req)
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !cmp.Equal(badRequestFields(err), []string{"ip_range"}) {
			t.Errorf("called CreateBan(ip_range %q), got %v %q fields %v, want InvalidArgument on ip_range", cidr, code, reason, badRequestFields(err))
		}
	}
	if got := e.listBans(t); len(got) != 0 {
		t.Errorf("called ListBans after only refused CreateBan calls, got %v, want none", banNames(got))
	}
	stored := e.storedText(t)
	for _, network := range []string{"2001:db8:1:2", "203.0.113.8", "2002:cb00:7108"} {
		if strings.Contains(stored, network) {
			t.Errorf("after refused range bans of one reader's network, Redis holds %s in clear:\n%s", network, stored)
		}
	}
	// What such a range means is banned with ip, by the hash of its /64.
	b := e.ban(t, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8:1:2::1"}, Reason: "x"})
	_, err := e.submitAs(t, "news-1", "anyone@example.com", "2001:db8:1:2:3:4:5:6", "from the same /64")
	wantBanned(t, "called SubmitComment from another address of the /64 of "+b.GetName(), err)

	old := ratelimit.RangeTarget(netip.MustParsePrefix("2001:db8:1:2:3:4:5:0/112"))
	if _, _, err := e.store.PutBan(context.Background(), ratelimit.Ban{Target: old, Reason: "made before", Moderator: "mod-ann", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}, ratelimit.BanCall{}); err != nil {
		t.Fatalf("store a range ban as an earlier version did: %v", err)
	}
	const name = "bans/range-2001-db8-1-2-3-4-5-0-112"
	if got := banNames(e.listBans(t)); !slices.Contains(got, name) {
		t.Errorf("called ListBans with a range ban made before, got %v, want it listed as %s", got, name)
	}
	if _, err := e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: name}); err != nil {
		t.Errorf("called DeleteBan(%s) on a range ban made before: %v", name, err)
	}
}

// TestBanTargets checks every kind of target: the name each gets, that DeleteBan takes that name
// back, and that no email or single address is kept in clear.
func TestBanTargets(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	mod := e.as(t, modKeyName)
	email, _ := privacy.ParseEmail("jane@example.com")
	ip, _ := privacy.ParseIP("203.0.113.77")
	ip7, _ := privacy.ParseIP("203.0.113.7")
	kim, _ := privacy.ParseEmail("kim@example.com")
	ip42, _ := privacy.ParseIP("2001:db8::42")
	tests := []struct {
		name       string
		req        *commentdv1.CreateBanRequest
		reason     string // "test" when empty
		wantName   string
		wantTarget string
	}{
		{name: "email", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "JANE@example.com"}},
			wantName: "bans/author-" + e.ring.EmailKey(email), wantTarget: "author:" + e.ring.EmailKey(email)},
		{name: "email, reason naming other addresses masked", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "kim@example.com"}},
			reason: "also writes as k•••@example.com.au and j•••@example.com.", wantName: "bans/author-" + e.ring.EmailKey(kim), wantTarget: "author:" + e.ring.EmailKey(kim)},
		{name: "author key", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: strings.Repeat("ab", 20)}},
			wantName: "bans/author-" + strings.Repeat("ab", 20), wantTarget: "author:" + strings.Repeat("ab", 20)},
		{name: "address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "203.0.113.77"}},
			wantName: "bans/ip-" + e.ring.IPKey(ip), wantTarget: "ip:" + e.ring.IPKey(ip)},
		{name: "address, reason naming its network", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "203.0.113.7"}},
			reason: "same network as 203.0.113.x (203.0.113.0/24)", wantName: "bans/ip-" + e.ring.IPKey(ip7), wantTarget: "ip:" + e.ring.IPKey(ip7)},
		{name: "IPv6 address, reason naming its network", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8::42"}},
			reason: "same network as source:2001:db8::/48", wantName: "bans/ip-" + e.ring.IPLimitKey(ip42), wantTarget: "ip:" + e.ring.IPLimitKey(ip42)},
		{name: "IPv4 range, masked", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.77/24"}},
			wantName: "bans/range-203.0.113.0-24", wantTarget: "range:203.0.113.0/24"},
		{name: "IPv6 range", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "2001:db8:42::/48"}},
			wantName: "bans/range-2001-db8-42---48", wantTarget: "range:2001:db8:42::/48"},
		{name: "IPv6 range of two /64s", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "2001:db8:1:3::/63"}},
			wantName: "bans/range-2001-db8-1-2---63", wantTarget: "range:2001:db8:1:2::/63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Reason = tt.reason
			if tt.reason == "" {
				tt.req.Reason = "test"
			}
			b := e.ban(t, tt.req)
			if b.GetName() != tt.wantName || b.GetTarget() != tt.wantTarget {
				t.Errorf("called CreateBan(%v), got name %q target %q, want %q and %q", tt.req, b.GetName(), b.GetTarget(), tt.wantName, tt.wantTarget)
			}
			if _, err := e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: b.GetName()}); err != nil {
				t.Errorf("called DeleteBan(%s): %v", b.GetName(), err)
			}
		})
	}
	// Ban them all again and look at everything Redis holds: no email, no single address.
	for _, tt := range tests {
		e.ban(t, tt.req)
	}
	stored := strings.ToLower(e.storedText(t))
	for _, secret := range []string{"jane@example.com", "203.0.113.77"} {
		if strings.Contains(stored, secret) {
			t.Errorf("after banning by email and address, Redis holds %q in clear", secret)
		}
	}
}

func TestCreateBanInvalid(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	mod := e.as(t, modKeyName)
	noIP, err := e.submitAs(t, "news-1", "jane@example.com", "", "sent without an address")
	if err != nil {
		t.Fatalf("called SubmitComment without client_ip: %v", err)
	}
	tests := []struct {
		name       string
		req        *commentdv1.CreateBanRequest
		wantFields []string
	}{
		{name: "no target", req: &commentdv1.CreateBanRequest{Reason: "x"}, wantFields: []string{"target"}},
		{name: "no reason", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.0/8"}}, wantFields: []string{"reason"}},
		{name: "bad email and zero duration", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "not-an-email"},
			Duration: durationpb.New(0), Reason: "x"}, wantFields: []string{"author_email", "duration"}},
		{name: "negative duration", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.0/8"},
			Duration: durationpb.New(-time.Hour), Reason: "x"}, wantFields: []string{"duration"}},
		{name: "bad author key", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: "jane"}, Reason: "x"}, wantFields: []string{"author_key"}},
		{name: "range too wide", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.0/7"}, Reason: "x"}, wantFields: []string{"ip_range"}},
		{name: "range of one address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.1/32"}, Reason: "x"}, wantFields: []string{"ip_range"}},
		{name: "address that is a range", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "10.0.0.0/8"}, Reason: "x"}, wantFields: []string{"ip"}},
		{name: "comment name malformed", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/a b"}, Reason: "x"}, wantFields: []string{"comment_author"}},
		{name: "reason quotes the email banned", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "Troll@Example.com"},
			Reason: "ban evasion: troll@example.com again"}, wantFields: []string{"reason"}},
		{name: "reason quotes the email banned at the end of a sentence", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"},
			Reason: "Ban evasion by troll@example.com."}, wantFields: []string{"reason"}},
		{name: "reason quotes the email banned after a label", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"},
			Reason: "sock puppet (mailto:troll@example.com)"}, wantFields: []string{"reason"}},
		{name: "reason quotes the email banned with its domain in xn-- form", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@bücher.example"},
			Reason: "ban evasion: troll@xn--bcher-kva.example again"}, wantFields: []string{"reason"}},
		{name: "reason quotes the email banned in Unicode, banned in xn-- form", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@xn--bcher-kva.example"},
			Reason: "ban evasion: troll@bücher.example again"}, wantFields: []string{"reason"}},
		{name: "reason quotes the email banned in quotes", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"},
			Reason: "posts as 'troll@example.com' and as `troll@example.com`"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv4 address banned", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: " 203.0.113.7"},
			Reason: "spam run from 203.0.113.7"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv6 address banned in another spelling", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:0DB8:0000:0000:0000:0000:0000:0042"},
			Reason: "sock puppets on 2001:db8::42"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv6 address banned in a third spelling", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8::42"},
			Reason: "sock puppets on 2001:0DB8:0:0::42 (ip:2001:db8:0::42)"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv4 address banned with a port", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "203.0.113.7"},
			Reason: "flood from 203.0.113.7:51234"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv4 address banned after a label", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "203.0.113.7"},
			Reason: "flood, source:203.0.113.7"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv6 address banned after a label", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8::42"},
			Reason: "flood, device:2001:db8::42"}, wantFields: []string{"reason"}},
		{name: "reason quotes the IPv4 address banned in IPv6 form", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "203.0.113.7"},
			Reason: "spam run from ::ffff:203.0.113.7"}, wantFields: []string{"reason"}},
		// Any other address too: the reason is kept in clear and an erasure leaves bans in place.
		{name: "reason naming another address of the author", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "kim@example.com"},
			Reason: "also writes as kim@example.com.au"}, wantFields: []string{"reason"}},
		{name: "reason naming a neighbour's address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "203.0.113.7"},
			Reason: "same network as 203.0.113.70"}, wantFields: []string{"reason"}},
		{name: "reason naming an IPv6 address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8::42"},
			Reason: "same network as 2001:db8::4"}, wantFields: []string{"reason"}},
		{name: "reason of a range ban naming an address in it", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.0/24"},
			Reason: "bot net around 203.0.113.9"}, wantFields: []string{"reason"}},
		{name: "reason of an author-key ban naming an email address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: strings.Repeat("ab", 20)},
			Reason: "sock puppet of weasel@example.org"}, wantFields: []string{"reason"}},
		// Every bad field at once, whichever of them are checked by the ban store, after the target.
		{name: "range too wide and a reason naming an address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.0/7"},
			Reason: "the bot net of weasel@example.org"}, wantFields: []string{"ip_range", "reason"}},
		{name: "negative duration and a too long reason", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.0/8"},
			Duration: durationpb.New(-time.Hour), Reason: strings.Repeat("r", 501)}, wantFields: []string{"duration", "reason"}},
		{name: "NAT64 range and no reason", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "64:ff9b::cb00:7100/120"}},
			wantFields: []string{"ip_range", "reason"}},
		// An unknown comment is NOT_FOUND only for a request with nothing else wrong: the lookup
		// must not hide the fields the moderator can fix at once.
		{name: "unknown comment and no reason", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/00nosuchcomment"}},
			wantFields: []string{"reason"}},
		{name: "unknown comment's address and a zero duration", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: "comments/00nosuchcomment"},
			Duration: durationpb.New(0), Reason: "x"}, wantFields: []string{"duration"}},
		{name: "comment without an address", req: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: noIP.GetName()}, Reason: "x"}, wantFields: []string{"comment_ip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.mod.CreateBan(mod, tt.req)
			if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument {
				t.Fatalf("called CreateBan(%v), got %v %q, want InvalidArgument %q", tt.req, code, reason, grpcserver.ReasonInvalidArgument)
			}
			if got := badRequestFields(err); !cmp.Equal(got, tt.wantFields) {
				t.Errorf("called CreateBan(%v), got bad fields %v, want %v", tt.req, got, tt.wantFields)
			}
		})
	}

	// A malformed range is described in the form the field takes: a moderator who follows the
	// description must not be refused again.
	for _, cidr := range []string{"", "203.0.113.7", "203.0.113.0-24", "2001:db8::/200"} {
		_, err := e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: cidr}, Reason: "x"})
		br, _ := detail[*errdetails.BadRequest](err)
		if len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != "ip_range" || strings.Contains(br.GetFieldViolations()[0].GetDescription(), "range:") {
			t.Errorf("called CreateBan(ip_range %q), got %v, want one violation on ip_range that gives the range in CIDR form, not as a target id (range:...)", cidr, br)
		}
	}

	_, err = e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/00nosuchcomment"}, Reason: "x"})
	if code, reason := codeReason(err); code != codes.NotFound || reason != grpcserver.ReasonCommentNotFound {
		t.Errorf("called CreateBan on an unknown comment, got %v %q, want NotFound %q", code, reason, grpcserver.ReasonCommentNotFound)
	}
	if got := e.listBans(t); len(got) != 0 {
		t.Errorf("called ListBans after only refused CreateBan calls, got %v, want none", banNames(got))
	}

	for _, name := range []string{"", "author-" + strings.Repeat("ab", 20), "bans/", "bans/author-XYZ", "bans/range-203.0.113.7-24", "bans/range-203.0.113.0/24",
		"bans/range-2001-db8--0-48", "bans/user-1", "bans/ip-" + strings.Repeat("AB", 20)} {
		_, err := e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: name})
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !cmp.Equal(badRequestFields(err), []string{"name"}) {
			t.Errorf("called DeleteBan(%q), got %v %q fields %v, want InvalidArgument on name", name, code, reason, badRequestFields(err))
		}
	}
	_, err = e.mod.ListBans(mod, &commentdv1.ListBansRequest{PageToken: "not-a-token"})
	if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidPageToken {
		t.Errorf("called ListBans with a made-up page token, got %v %q, want InvalidArgument %q", code, reason, grpcserver.ReasonInvalidPageToken)
	}
}

// TestBansAccess checks who may call the ban RPCs, and what a server without bans answers.
func TestBansAccess(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	_, err := e.mod.ListBans(e.as(t, siteKeyName), &commentdv1.ListBansRequest{})
	if code, reason := codeReason(err); code != codes.PermissionDenied || reason != grpcserver.ReasonRoleNotAllowed {
		t.Errorf("called ListBans with a site key, got %v %q, want PermissionDenied %q", code, reason, grpcserver.ReasonRoleNotAllowed)
	}
	if _, err := e.mod.ListBans(e.as(t, adminKeyName), &commentdv1.ListBansRequest{}); err != nil {
		t.Errorf("called ListBans with an admin key: %v, want allowed", err)
	}

	bare := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	mod := bare.as(t, modKeyName)
	calls := map[string]func() error{
		"CreateBan": func() error {
			_, err := bare.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "10.0.0.0/8"}, Reason: "x"})
			return err
		},
		"ListBans": func() error { _, err := bare.mod.ListBans(mod, &commentdv1.ListBansRequest{}); return err },
		"DeleteBan": func() error {
			_, err := bare.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: "bans/range-10.0.0.0-8"})
			return err
		},
	}
	for name, call := range calls {
		if code, reason := codeReason(call()); code != codes.FailedPrecondition || reason != grpcserver.ReasonBansDisabled {
			t.Errorf("called %s on a server without Options.Bans, got %v %q, want FailedPrecondition %q", name, code, reason, grpcserver.ReasonBansDisabled)
		}
	}
}

// TestCreateBanReportsTheBanItReplaced: a target has one ban, so banning it again replaces the ban
// in force; the response names the one it ended, so the moderator sees that an hour's ban cut a
// ban for good short, and an undo can make it again.
func TestCreateBanReportsTheBanItReplaced(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	mod := e.as(t, modKeyName)
	target := &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.0/24"}
	forever := e.ban(t, &commentdv1.CreateBanRequest{Target: target, Reason: "for good"})
	resp, err := e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: target, Duration: durationpb.New(time.Hour), Reason: "an hour"})
	if err != nil {
		t.Fatalf("called CreateBan over a ban in force: %v", err)
	}
	if diff := cmp.Diff(forever, resp.GetReplacedBan(), protocmp.Transform()); diff != "" {
		t.Errorf("called CreateBan over a ban in force, got replaced_ban (-want +got):\n%s", diff)
	}
	other, err := e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "198.51.100.0/24"}, Reason: "new"})
	if err != nil || other.GetReplacedBan() != nil {
		t.Errorf("called CreateBan on a target with no ban: %v, %v; want no replaced_ban", other, err)
	}
}

// TestCreateBanRequestID: CreateBan sent again with its request_id returns the ban the first call
// stored (its times, what it replaced) and records nothing more; the request_id with another
// request is ALREADY_EXISTS REQUEST_ID_REUSED and stores nothing; without request_id a resend bans
// again, as before; a malformed request_id is INVALID_ARGUMENT with the other bad fields.
func TestCreateBanRequestID(t *testing.T) {
	e := newBansEnv(t, ratelimit.BanRefuse)
	mod := e.as(t, modKeyName)
	target := &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.0/24"}
	const name = "bans/range-203.0.113.0-24"
	audited := func(when string, want int) {
		t.Helper()
		resp, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: name})
		if err != nil {
			t.Fatalf("called ListAuditEvents(target %s): %v", name, err)
		}
		if got := len(resp.GetEvents()); got != want {
			t.Errorf("%s, the audit log of %s holds %d entries; want %d", when, name, got, want)
		}
	}
	earlier := e.ban(t, &commentdv1.CreateBanRequest{Target: target, Reason: "earlier"})

	r := &commentdv1.CreateBanRequest{Target: target, Duration: durationpb.New(time.Hour), Reason: "flood", RequestId: "9d2c6b0e-ban"}
	first, err := e.mod.CreateBan(mod, r)
	if err != nil {
		t.Fatalf("called CreateBan(%v): %v", r, err)
	}
	time.Sleep(5 * time.Millisecond) // a second ban would have another create_time
	again, err := e.mod.CreateBan(mod, r)
	if err != nil {
		t.Fatalf("called CreateBan(%v) again: %v", r, err)
	}
	if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
		t.Errorf("called CreateBan again with request_id %s: response differs from the first (-want +got):\n%s", r.GetRequestId(), diff)
	}
	if diff := cmp.Diff(earlier, again.GetReplacedBan(), protocmp.Transform()); diff != "" {
		t.Errorf("called CreateBan again with request_id %s: replaced_ban differs from the ban made before (-want +got):\n%s", r.GetRequestId(), diff)
	}
	audited("after a ban sent twice with one request_id", 2)

	for _, tt := range []struct {
		name string
		req  *commentdv1.CreateBanRequest
	}{
		{"another target", &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "198.51.100.0/24"},
			Duration: r.GetDuration(), Reason: r.GetReason(), RequestId: r.GetRequestId()}},
		{"another duration", &commentdv1.CreateBanRequest{Target: target, Duration: durationpb.New(2 * time.Hour), Reason: r.GetReason(), RequestId: r.GetRequestId()}},
		{"another reason", &commentdv1.CreateBanRequest{Target: target, Duration: r.GetDuration(), Reason: "flood!", RequestId: r.GetRequestId()}},
	} {
		_, err := e.mod.CreateBan(mod, tt.req)
		if code, reason := codeReason(err); code != codes.AlreadyExists || reason != grpcserver.ReasonRequestIDReused {
			t.Errorf("%s: called CreateBan(%v), got %v %q; want AlreadyExists %q", tt.name, tt.req, code, reason, grpcserver.ReasonRequestIDReused)
		}
	}
	if diff := cmp.Diff([]*commentdv1.Ban{first.GetBan()}, e.listBans(t), protocmp.Transform()); diff != "" {
		t.Errorf("ListBans after the request_id was reused (-want +got):\n%s", diff)
	}
	audited("after the request_id was reused", 2)

	// Without request_id, the same request bans again, replacing the first call's ban.
	plain := &commentdv1.CreateBanRequest{Target: target, Duration: r.GetDuration(), Reason: r.GetReason()}
	second, err := e.mod.CreateBan(mod, plain)
	if err != nil {
		t.Fatalf("called CreateBan(%v): %v", plain, err)
	}
	if diff := cmp.Diff(first.GetBan(), second.GetReplacedBan(), protocmp.Transform()); diff != "" {
		t.Errorf("called CreateBan without request_id: replaced_ban differs from the ban made before (-want +got):\n%s", diff)
	}
	audited("after the same ban without request_id", 3)

	bad := &commentdv1.CreateBanRequest{Target: target, RequestId: "jane@example.com"}
	_, err = e.mod.CreateBan(mod, bad)
	if got, want := badRequestFields(err), []string{"reason", "request_id"}; !cmp.Equal(got, want) {
		t.Errorf("called CreateBan(%v), got %v with fields %q; want InvalidArgument on %q", bad, status.Code(err), got, want)
	}
}
