package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestEveryPathKeepsAddressesPrivate drives every call that takes an email or IP address, or free
// text that might hold one, through a commentd logging at debug level: submissions and checks
// (with addresses in the user agent), reports, decisions, thread settings, bans and their lifting,
// word-list entries added and removed, spam training, stats, an export and an erasure, refused
// calls included, down to those the auth tap refuses before reading them (with addresses in the
// method name and the request id). It then looks for the addresses in clear in every response but
// the export's (which hands them to the admin by design), the log, /metrics, and every Redis key
// and value, whatever its type.
func TestEveryPathKeepsAddressesPrivate(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr, "-log-level", "debug")
	const (
		email   = "Quokka.Probe5@leak-probe.example"
		ip4     = "198.51.100.171"
		ip6     = "2001:db8:77aa::171"
		uaIP    = "198.51.100.172"
		uaEmail = "numbat.ua@leak-probe.example"
	)
	secrets := []string{"quokka.probe5", "numbat.ua", "kiwi.train", "wombat.reason", "198.51.100.17", "2001:db8:77aa::17"}

	ctxFor := func(token string) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	site, mod := commentdv1.NewCommentServiceClient(s.conn), commentdv1.NewModerationServiceClient(s.conn)
	siteCtx, modCtx, adminCtx := ctxFor(s.siteToken), ctxFor(s.modToken), ctxFor(s.adminToken)

	var out strings.Builder // every response and status but the export's
	record := func(m proto.Message, err error) {
		if m != nil {
			out.WriteString(protojson.Format(m) + "\n")
		}
		if err != nil {
			out.WriteString(protojson.Format(status.Convert(err).Proto()) + "\n")
		}
	}
	must := func(call string, m proto.Message, err error) {
		t.Helper()
		record(m, err)
		if err != nil {
			t.Fatalf("called %s, got %v, want it done", call, err)
		}
	}
	refused := func(call string, m proto.Message, err error) {
		t.Helper()
		record(m, err)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("called %s, got %v, want InvalidArgument", call, err)
		}
	}

	// Refused by the auth tap before they are read, which writes their access log line and counts
	// them on /metrics: the method name and the request id are the client's to choose.
	for _, c := range []struct {
		ctx    context.Context
		method string
	}{
		{context.Background(), "/commentd.v1.ModerationService/" + email},
		{metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+email), "/commentd.v1.CommentService/" + ip4},
		{metadata.AppendToOutgoingContext(context.Background(), "x-request-id", ip4), commentdv1.ModerationService_ListBans_FullMethodName},
		{metadata.AppendToOutgoingContext(context.Background(), "x-request-id", ip6, "authorization", "Bearer nope"), commentdv1.CommentService_GetComment_FullMethodName},
		{metadata.AppendToOutgoingContext(siteCtx, "x-request-id", email), "/" + ip6 + "/Call"},
	} {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		err := s.conn.Invoke(ctx, c.method, &emptypb.Empty{}, &emptypb.Empty{})
		cancel()
		switch status.Code(err) {
		case codes.Unauthenticated:
			record(nil, err)
		case codes.Unimplemented:
			// gRPC's own answer to a method the server lacks, which quotes the name back to the
			// client that wrote it; the log and /metrics must still keep none of it.
		default:
			t.Errorf("called %s, got %v, want it refused", c.method, err)
		}
	}

	sub := &commentdv1.SubmitCommentRequest{ThreadId: "privacy-e2e", AuthorName: "Quokka", AuthorEmail: email, Body: "An ordinary remark.",
		ClientIp: ip4, UserAgent: "Mozilla/5.0 via " + uaIP + " (+mailto:" + uaEmail + ")", RequestId: "privacy-e2e-1"}
	first, err := site.SubmitComment(siteCtx, sub)
	must("SubmitComment", first, err)
	again, err := site.SubmitComment(siteCtx, sub)
	must("SubmitComment (resend)", again, err)
	second, err := site.SubmitComment(siteCtx, &commentdv1.SubmitCommentRequest{ThreadId: "privacy-e2e", AuthorName: "Quokka", AuthorEmail: email,
		Body: "Another remark, from the IPv6 address.", ClientIp: ip6, UserAgent: "Mozilla/5.0 [" + ip6 + "]:443"})
	must("SubmitComment (IPv6)", second, err)
	name := first.GetComment().GetName()
	check, err := site.CheckComment(siteCtx, &commentdv1.CheckCommentRequest{Comment: sub})
	must("CheckComment", check, err)
	resp, err := site.ReportComment(siteCtx, &commentdv1.ReportCommentRequest{Name: name, Reason: "off topic", ClientIp: ip6})
	must("ReportComment", resp, err)
	resp, err = site.ReportComment(siteCtx, &commentdv1.ReportCommentRequest{Name: name, Reason: "posted from " + ip4})
	refused("ReportComment (reason with an IP address)", resp, err)
	got, err := site.GetComment(siteCtx, &commentdv1.GetCommentRequest{Name: name})
	must("GetComment", got, err)
	list, err := site.ListComments(siteCtx, &commentdv1.ListCommentsRequest{ThreadId: "privacy-e2e"})
	must("ListComments", list, err)

	view, err := mod.GetComment(modCtx, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
	must("GetComment (moderator)", view, err)
	if ua := view.GetComment().GetUserAgent(); !strings.Contains(ua, "198.51.100.x") || !strings.Contains(ua, "n•••@leak-probe.example") {
		t.Errorf("called GetComment as the moderator, got user agent %q, want its addresses masked (or the probe proves nothing)", ua)
	}
	queue, err := mod.ListQueue(modCtx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING})
	must("ListQueue", queue, err)
	rej, err := mod.RejectComment(modCtx, &commentdv1.RejectCommentRequest{Name: name, Reason: "spam run from " + ip4})
	refused("RejectComment (reason with an IP address)", rej, err)
	spamResp, err := mod.MarkSpam(modCtx, &commentdv1.MarkSpamRequest{Name: second.GetComment().GetName(), Reason: "advertising"})
	must("MarkSpam", spamResp, err)
	notSpam, err := mod.MarkNotSpam(modCtx, &commentdv1.MarkNotSpamRequest{Name: second.GetComment().GetName()})
	must("MarkNotSpam", notSpam, err)
	thread, err := mod.UpdateThread(modCtx, &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/privacy-e2e", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE, Closed: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode", "closed"}},
	})
	must("UpdateThread", thread, err)
	var banNames []string
	for _, req := range []*commentdv1.CreateBanRequest{
		{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: email}, Reason: "ban evasion"},
		{Target: &commentdv1.CreateBanRequest_Ip{Ip: ip4}, Reason: "flood"},
		{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: second.GetComment().GetName()}, Reason: "flood"},
	} {
		ban, err := mod.CreateBan(modCtx, req)
		must("CreateBan", ban, err)
		banNames = append(banNames, ban.GetBan().GetName())
	}
	ban, err := mod.CreateBan(modCtx, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: name}, Reason: "also writes as wombat.reason@leak-probe.example"})
	refused("CreateBan (reason with another address)", ban, err)
	bans, err := mod.ListBans(modCtx, &commentdv1.ListBansRequest{})
	must("ListBans", bans, err)
	for _, name := range banNames[:2] {
		unban, err := mod.DeleteBan(modCtx, &commentdv1.DeleteBanRequest{Name: name})
		must("DeleteBan", unban, err)
	}
	ban, err = mod.CreateBan(modCtx, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "2001:db8:77aa::170/127"}, Reason: "flood"})
	refused("CreateBan (a range within the IPv6 address's /64)", ban, err)
	var filterNames []string
	for _, f := range []*commentdv1.Filter{
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_EMAIL, Value: email},
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_IP, Value: ip6},
		{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_IP, Value: ip4},
	} {
		cf, err := mod.CreateFilter(modCtx, &commentdv1.CreateFilterRequest{Filter: f})
		must("CreateFilter", cf, err)
		filterNames = append(filterNames, cf.GetFilter().GetName())
	}
	df, err := mod.DeleteFilter(modCtx, &commentdv1.DeleteFilterRequest{Name: filterNames[2]})
	must("DeleteFilter", df, err)
	for _, f := range []*commentdv1.Filter{
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_PHRASE, Value: "call " + ip4 + " now"},
		{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_REGEX, Value: strings.ReplaceAll(ip4, ".", `\.`)},
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_IP, Value: "2001:db8:77aa::170/127"},
	} {
		cf, err := mod.CreateFilter(modCtx, &commentdv1.CreateFilterRequest{Filter: f})
		refused("CreateFilter ("+f.GetKind().String()+" with an address)", cf, err)
	}
	filters, err := mod.ListFilters(modCtx, &commentdv1.ListFiltersRequest{})
	must("ListFilters", filters, err)

	trained, err := mod.TrainSpam(adminCtx, &commentdv1.TrainSpamRequest{Examples: []*commentdv1.TrainingExample{
		{Body: "cheap pills, write to kiwi.train@leak-probe.example or visit 198.51.100.173", Spam: true},
		{Body: "a fair point about the budget, see [2001:db8:77aa::173]", Spam: false},
	}})
	must("TrainSpam", trained, err)
	exported, err := mod.ExportAuthorData(adminCtx, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email, Reason: "request 17"})
	if err != nil || len(exported.GetComments()) != 2 {
		t.Fatalf("called ExportAuthorData, got %d comments, %v; want the author's 2", len(exported.GetComments()), err)
	}
	exp, err := mod.ExportAuthorData(adminCtx, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email, Reason: "request from " + ip6})
	refused("ExportAuthorData (reason with an IP address)", exp, err)
	erased, err := mod.EraseAuthorData(adminCtx, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email, Reason: "request 18"})
	must("EraseAuthorData", erased, err)
	audit, err := mod.ListAuditEvents(modCtx, &commentdv1.ListAuditEventsRequest{})
	must("ListAuditEvents", audit, err)
	stats, err := mod.GetStats(modCtx, &commentdv1.GetStatsRequest{Days: 1})
	must("GetStats", stats, err)

	texts := map[string]string{"responses": out.String(), "server log": s.log.String()}
	texts["/metrics"] = s.metricsText(t)
	rdb := redistest.Client(t, rs.Addr)
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS * = %d keys, %v; want what the calls stored", len(keys), err)
	}
	var stored strings.Builder
	for _, k := range keys {
		stored.WriteString(k + " " + dumpKey(t, rdb, k) + "\n")
	}
	texts["redis"] = stored.String()
	if !strings.Contains(texts["redis"], "An ordinary remark.") {
		t.Fatalf("the dump of every Redis key lacks the comment's body; the dump is broken:\n%s", texts["redis"])
	}
	// The calls reached the surfaces searched, or finding nothing there would prove nothing.
	for _, c := range []struct{ where, want string }{
		{"server log", `"method":"unknown","code":"Unauthenticated"`},
		{"server log", `"method":"` + commentdv1.ModerationService_ListBans_FullMethodName + `","code":"Unauthenticated"`},
		{"/metrics", `commentd_grpc_refused_unread_total{reason="API_KEY_INVALID"} 2`},
		{"redis", "{bans}:a"},
		{"redis", "act:unban"},
		{"redis", "{spam:filters}:a"},
		{"redis", "act:delete_filter"},
		{"redis", "act:update_thread"},
	} {
		if !strings.Contains(texts[c.where], c.want) {
			t.Errorf("searched the %s for %q, found none: the calls did not reach what this test searches", c.where, c.want)
		}
	}
	for where, text := range texts {
		lower := strings.ToLower(text)
		for _, secret := range secrets {
			if i := strings.Index(lower, secret); i >= 0 {
				t.Errorf("searched the %s for %q, found it: …%s…", where, secret, text[max(0, i-120):min(len(text), i+120)])
			}
		}
	}
}
