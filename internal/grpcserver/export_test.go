package grpcserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// dumpWithoutAudit is dump without the audit stream, the statistics and the call marks of actions
// on no shard ("{audit}a", "{audit}st:<day>", "{audit}am:<token>"), which an export's audit entry
// writes.
func (e *env) dumpWithoutAudit(t *testing.T) map[string]string {
	t.Helper()
	return e.dump(t, func(k string) bool {
		return strings.HasSuffix(k, "{audit}a") || strings.Contains(k, "{audit}st:") || strings.Contains(k, "{audit}am:")
	})
}

// TestExportAuthorData answers an access request through the API: the export holds the author's
// comments and no other, oldest first, with the email and IP address as submitted and the
// decision on them; Redis is unchanged but for the audit entry, which counts without naming the
// author; after an erasure the export is empty; and the address and IP are in no log line or
// metric.
func TestExportAuthorData(t *testing.T) {
	const (
		email = "Xena.Exportable@Export-Probe.example"
		ip    = "198.51.100.23"
		ua    = "XenaBrowser/2.0"
	)
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	mod, admin := e.as(t, modKeyName), e.as(t, adminKeyName)

	var mine []*commentdv1.Comment
	for i := range 3 {
		mine = append(mine, e.submit(t, &commentdv1.SubmitCommentRequest{ThreadId: fmt.Sprintf("export-%d", i), AuthorName: "Xena", AuthorEmail: email, Body: fmt.Sprintf("mine %d", i), ClientIp: ip, UserAgent: ua}))
		e.submit(t, &commentdv1.SubmitCommentRequest{ThreadId: fmt.Sprintf("export-%d", i), AuthorName: "Kim", AuthorEmail: "kim@example.com", Body: fmt.Sprintf("theirs %d", i), ClientIp: "203.0.113.8", UserAgent: "KimBrowser/1.0"})
	}
	rejected, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: mine[1].GetName(), Reason: "off topic"})
	if err != nil {
		t.Fatalf("RejectComment(%s): %v", mine[1].GetName(), err)
	}
	mine[1] = rejected.GetComment().GetComment()

	before := e.dumpWithoutAudit(t)
	resp, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: strings.ToLower(email), Reason: "ticket 4711"})
	if err != nil {
		t.Fatalf("ExportAuthorData: %v", err)
	}
	if diff := cmp.Diff(before, e.dumpWithoutAudit(t)); diff != "" {
		t.Errorf("Redis keys after the export, audit entry aside (-before +after):\n%s", diff)
	}
	got := resp.GetComments()
	if len(got) != len(mine) {
		t.Fatalf("ExportAuthorData = %d comments; want the author's %d:\n%v", len(got), len(mine), resp)
	}
	for i, x := range got {
		if diff := cmp.Diff(mine[i].String(), x.GetComment().String()); diff != "" {
			t.Errorf("exported comment %d (-as stored +exported):\n%s", i, diff)
		}
		if x.GetAuthorEmail() != email || x.GetIpAddress() != ip || x.GetUserAgent() != ua || len(x.GetUnreadableFields()) != 0 {
			t.Errorf("exported comment %d = email %q, IP %q, user agent %q, unreadable %v; want %q, %q, %q, none",
				i, x.GetAuthorEmail(), x.GetIpAddress(), x.GetUserAgent(), x.GetUnreadableFields(), email, ip, ua)
		}
	}
	if d := got[1].GetDecision(); d.GetModerator() != modKeyName || d.GetToState() != commentdv1.State_STATE_REJECTED || d.GetReason() != "off topic" {
		t.Errorf("exported comment 1 has decision %v; want %s's rejection, \"off topic\"", d, modKeyName)
	}
	if got[0].GetDecision() != nil {
		t.Errorf("exported comment 0 has decision %v; want none", got[0].GetDecision())
	}

	audit, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: "comments"})
	if err != nil || len(audit.GetEvents()) != 1 {
		t.Fatalf("ListAuditEvents(target comments) = %v, %v; want one event", audit, err)
	}
	if ev := audit.GetEvents()[0]; ev.GetAction() != commentdv1.AuditAction_AUDIT_ACTION_EXPORT_AUTHOR_DATA || ev.GetModerator() != adminKeyName || ev.GetReason() != "3 comments exported: ticket 4711" {
		t.Errorf("audit event = %v; want EXPORT_AUTHOR_DATA by %s, reason \"3 comments exported: ticket 4711\"", ev, adminKeyName)
	}

	// A period: the second comment's creation on.
	part, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email, StartTime: mine[1].GetCreateTime()})
	if err != nil || len(part.GetComments()) != 2 || part.GetComments()[0].GetComment().GetName() != mine[1].GetName() {
		t.Errorf("ExportAuthorData(from %s's creation) = %v, %v; want it and the next", mine[1].GetName(), part, err)
	}

	if _, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email}); err != nil {
		t.Fatalf("EraseAuthorData: %v", err)
	}
	if none, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email}); err != nil || len(none.GetComments()) != 0 {
		t.Errorf("ExportAuthorData after the erasure = %v, %v; want no comments", none, err)
	}

	metrics := e.metricsText(t)
	if !strings.Contains(metrics, "ExportAuthorData") || !strings.Contains(e.logs.String(), "ExportAuthorData") {
		t.Fatalf("the metrics or the log do not mention ExportAuthorData; searching them proves nothing")
	}
	for where, text := range map[string]string{"server log": e.logs.String(), "metrics": metrics} {
		for _, secret := range []string{email, "xena.exportable", ip} {
			if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
				t.Errorf("searched the %s for %q, got a match, want none:\n%s", where, secret, text)
			}
		}
	}
}

// TestExportAuthorDataInvalid: a missing or malformed address, a reason too long or holding the
// address, or an empty or malformed period is INVALID_ARGUMENT naming each field, and nothing is audited.
func TestExportAuthorDataInvalid(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	now := timestamppb.Now()
	for _, tc := range []struct {
		name string
		req  *commentdv1.ExportAuthorDataRequest
		want []string
	}{
		{"no address", &commentdv1.ExportAuthorDataRequest{}, []string{"author_email"}},
		{"not an address", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@"}, []string{"author_email"}},
		{"display form", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "Xena <xena@example.com>"}, []string{"author_email"}},
		{"reason too long", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@example.com", Reason: strings.Repeat("r", comment.MaxReasonChars+1)}, []string{"reason"}},
		{"reason holds the address", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@example.com", Reason: "access request of Xena@Example.com"}, []string{"reason"}},
		{"reason holds the address in another spelling", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@xn--bcher-kva.example", Reason: "access request of xena@bücher.example"}, []string{"reason"}},
		{"reason holds an IP address", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@example.com", Reason: "access request from 2001:db8::7"}, []string{"reason"}},
		{"empty period", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@example.com", StartTime: now, EndTime: now}, []string{"end_time"}},
		{"bad time", &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@", StartTime: &timestamppb.Timestamp{Nanos: -1}}, []string{"author_email", "start_time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.mod.ExportAuthorData(e.as(t, adminKeyName), tc.req)
			code, reason := codeReason(err)
			if code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !cmp.Equal(badRequestFields(err), tc.want) {
				t.Errorf("ExportAuthorData(%v) = %v %q fields %v; want InvalidArgument %q fields %v", tc.req, code, reason, badRequestFields(err), grpcserver.ReasonInvalidArgument, tc.want)
			}
		})
	}
	audit, err := e.mod.ListAuditEvents(e.as(t, modKeyName), &commentdv1.ListAuditEventsRequest{Target: "comments"})
	if err != nil || len(audit.GetEvents()) != 0 {
		t.Errorf("ListAuditEvents(target comments) after refused exports = %v, %v; want none", audit, err)
	}
}
