package grpcserver_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func TestReportsTakeACommentDown(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, threshold: 2})
	site, mod := e.as(t, siteKeyName), e.as(t, modKeyName)
	c := e.submit(t, validSubmission("reports", "a published comment"))
	watcher := openWatch(t, e, &commentdv1.WatchQueueRequest{})

	const ip1, ip2 = "198.51.100.23", "2001:db8::77"
	steps := []struct {
		req       *commentdv1.ReportCommentRequest
		wantCount int32
		wantState commentdv1.State
	}{
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "insulting", ClientIp: ip1}, 1, commentdv1.State_STATE_PUBLISHED},
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "still insulting", ClientIp: ip1}, 1, commentdv1.State_STATE_PUBLISHED},
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "agreed", ClientIp: ip2}, 2, commentdv1.State_STATE_PENDING},
		{&commentdv1.ReportCommentRequest{Name: c.GetName()}, 3, commentdv1.State_STATE_PENDING},
	}
	for i, st := range steps {
		resp, err := e.site.ReportComment(site, st.req)
		if err != nil || resp.GetReportCount() != st.wantCount || resp.GetComment().GetState() != st.wantState {
			t.Fatalf("called ReportComment #%d (%q from %q), got count %d state %v, %v; want %d, %v",
				i, st.req.GetReason(), st.req.GetClientIp(), resp.GetReportCount(), resp.GetComment().GetState(), err, st.wantCount, st.wantState)
		}
	}

	ev := recv(t, watcher)
	if ev.GetKind() != commentdv1.QueueEventKind_QUEUE_EVENT_KIND_REPORTED || ev.GetComment().GetComment().GetName() != c.GetName() {
		t.Errorf("called WatchQueue, got %v after the takedown, want REPORTED %s", ev, c.GetName())
	}
	got, err := ctxGet(mod, e, c.GetName())
	if err != nil {
		t.Fatalf("called GetComment: %v", err)
	}
	var reasons []string
	for _, r := range got.GetReports() {
		reasons = append(reasons, r.GetReason())
		if r.GetCreateTime() == nil {
			t.Errorf("called GetComment, got report %v without a time", r)
		}
	}
	if got.GetReportCount() != 3 || !slices.Equal(reasons, []string{"", "agreed", "insulting"}) {
		t.Errorf("called GetComment after the reports, got report_count %d and reasons %q, want 3 and the newest first", got.GetReportCount(), reasons)
	}
	var codes []string
	for _, r := range got.GetHoldReasons() {
		codes = append(codes, r.GetCode())
	}
	if !slices.Contains(codes, moderation.ReasonReported) {
		t.Errorf("called GetComment after the takedown, got hold reasons %v, want %s among them", codes, moderation.ReasonReported)
	}
	queue, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{ReasonCode: moderation.ReasonReported})
	if err != nil || !slices.Equal(names(queue.GetComments()), []string{c.GetName()}) {
		t.Errorf("called ListQueue(reason_code REPORTED), got %v, %v; want [%s]", names(queue.GetComments()), err, c.GetName())
	}
	audit, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: c.GetName()})
	if err != nil || len(audit.GetEvents()) != 1 || audit.GetEvents()[0].GetModerator() != moderation.SystemModerator ||
		audit.GetEvents()[0].GetAction() != commentdv1.AuditAction_AUDIT_ACTION_REPORT_TAKEDOWN {
		t.Errorf("called ListAuditEvents(target the comment), got %v, %v; want one REPORT_TAKEDOWN by system", audit.GetEvents(), err)
	}
	// The site's view of the comment agrees.
	if view, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: c.GetName()}); err != nil || view.GetComment().GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("called GetComment as the site, got %v, %v; want PENDING", view.GetComment().GetState(), err)
	}
	for _, ip := range []string{ip1, ip2} {
		if stored := e.storedText(t); strings.Contains(stored, ip) {
			t.Errorf("searched Redis for the reporter's address %s, got a match, want only its keyed hash", ip)
		}
	}
}

// TestReportsWithoutAddressCountOncePerKey: a site that sends no client_ip cannot tell its readers
// apart, so its reports of a comment count as one reader's; one reader clicking "report" as often
// as the threshold no longer takes the comment down. Another API key's reports are another's.
func TestReportsWithoutAddressCountOncePerKey(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, threshold: 2})
	c := e.submit(t, validSubmission("anonymous-reports", "a published comment"))
	steps := []struct {
		key       string
		wantCount int32
		wantState commentdv1.State
	}{
		{siteKeyName, 1, commentdv1.State_STATE_PUBLISHED},
		{siteKeyName, 1, commentdv1.State_STATE_PUBLISHED},
		{siteKeyName, 1, commentdv1.State_STATE_PUBLISHED},
		{adminKeyName, 2, commentdv1.State_STATE_PENDING},
	}
	for i, st := range steps {
		resp, err := e.site.ReportComment(e.as(t, st.key), &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "rude"})
		if err != nil || resp.GetReportCount() != st.wantCount || resp.GetComment().GetState() != st.wantState {
			t.Fatalf("called ReportComment #%d without client_ip as %s, got count %d state %v, %v; want %d, %v",
				i, st.key, resp.GetReportCount(), resp.GetComment().GetState(), err, st.wantCount, st.wantState)
		}
	}
}

// TestReportsByReporterID: a site whose readers sign in tells them apart by its own id of them,
// whatever their address; only a keyed hash of the id is stored.
func TestReportsByReporterID(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, threshold: 2})
	c := e.submit(t, validSubmission("signed-in-reports", "a published comment"))
	const office = "198.51.100.40"
	steps := []struct {
		req       *commentdv1.ReportCommentRequest
		wantCount int32
		wantState commentdv1.State
	}{
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), ReporterId: "account-1717", ClientIp: office}, 1, commentdv1.State_STATE_PUBLISHED},
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), ReporterId: "account-1717", ClientIp: "203.0.113.41"}, 1, commentdv1.State_STATE_PUBLISHED},
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), ReporterId: "account-1717"}, 1, commentdv1.State_STATE_PUBLISHED},
		{&commentdv1.ReportCommentRequest{Name: c.GetName(), ReporterId: "account-2828", ClientIp: office}, 2, commentdv1.State_STATE_PENDING},
	}
	for i, st := range steps {
		resp, err := e.site.ReportComment(e.as(t, siteKeyName), st.req)
		if err != nil || resp.GetReportCount() != st.wantCount || resp.GetComment().GetState() != st.wantState {
			t.Fatalf("called ReportComment #%d (reporter %q from %q), got count %d state %v, %v; want %d, %v",
				i, st.req.GetReporterId(), st.req.GetClientIp(), resp.GetReportCount(), resp.GetComment().GetState(), err, st.wantCount, st.wantState)
		}
	}
	if stored := e.storedText(t); strings.Contains(stored, "account-1717") || strings.Contains(stored, "account-2828") {
		t.Errorf("searched Redis for the reporter ids, got a match, want only their keyed hashes")
	}
}

func TestReportCommentRefusals(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	site := e.as(t, siteKeyName)
	c := e.submit(t, validSubmission("refusals", "fine"))
	tests := []struct {
		name       string
		req        *commentdv1.ReportCommentRequest
		wantCode   codes.Code
		wantReason string
		wantFields []string
	}{
		{"bad ip", &commentdv1.ReportCommentRequest{Name: c.GetName(), ClientIp: "not-an-ip"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"client_ip"}},
		{"long reason", &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: strings.Repeat("x", 501)}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reason"}},
		{"bad name", &commentdv1.ReportCommentRequest{Name: "threads/x"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"name"}},
		{"reason with a line break", &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "rude\nand off topic"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reason"}},
		{"unspecified client_ip", &commentdv1.ReportCommentRequest{Name: c.GetName(), ClientIp: "::"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"client_ip"}},
		{"reason with an email address", &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "spam, the author is jane.doe@example.com again"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reason"}},
		{"reason with an IP address", &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "spam, posted from 198.51.100.7 again"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reason"}},
		{"reason with a line separator", &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "rude\u2028and off topic"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reason"}},
		{"reporter id with a space", &commentdv1.ReportCommentRequest{Name: c.GetName(), ReporterId: "account 42"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reporter_id"}},
		{"reason with a direction override", &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "rude \u202enimda"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"reason"}},
		{"bad name, ip and reason", &commentdv1.ReportCommentRequest{Name: "comments/", ClientIp: "not-an-ip", Reason: "x\x00y"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"client_ip", "name", "reason"}},
		{"bare id", &commentdv1.ReportCommentRequest{Name: c.GetId(), ClientIp: "not-an-ip"}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"client_ip"}},
		{"unknown comment", &commentdv1.ReportCommentRequest{Name: "comments/00ffffffffffffffffffffffff"}, codes.NotFound, grpcserver.ReasonCommentNotFound, nil},
	}
	for _, tt := range tests {
		_, err := e.site.ReportComment(site, tt.req)
		if code, reason := codeReason(err); code != tt.wantCode || reason != tt.wantReason || !slices.Equal(badRequestFields(err), tt.wantFields) {
			t.Errorf("called ReportComment(%s), got %v %q fields %v, want %v %q fields %v", tt.name, code, reason, badRequestFields(err), tt.wantCode, tt.wantReason, tt.wantFields)
		}
	}
}

// TestReportsOnACommentNotPublished: a report against a comment a moderator rejected is counted
// and takes nothing down; the answer shows the comment as GetComment does.
func TestReportsOnACommentNotPublished(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, threshold: 1})
	site := e.as(t, siteKeyName)
	c := e.submit(t, validSubmission("stale-page", "rejected soon"))
	if _, err := e.mod.RejectComment(e.as(t, modKeyName), &commentdv1.RejectCommentRequest{Name: c.GetName()}); err != nil {
		t.Fatalf("called RejectComment(%s): %v", c.GetName(), err)
	}
	for i, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		resp, err := e.site.ReportComment(site, &commentdv1.ReportCommentRequest{Name: c.GetName(), ClientIp: ip})
		if err != nil || resp.GetReportCount() != int32(i+1) || resp.GetComment().GetState() != commentdv1.State_STATE_REJECTED {
			t.Errorf("called ReportComment(%s from %s) on a rejected comment, got count %d state %v, %v; want %d, REJECTED",
				c.GetName(), ip, resp.GetReportCount(), resp.GetComment().GetState(), err, i+1)
		}
	}
}
