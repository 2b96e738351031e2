package grpcserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// auditPages reads every page of ListAuditEvents for req with the given page size.
func auditPages(t *testing.T, ctx context.Context, e *env, req *commentdv1.ListAuditEventsRequest, size int32) []*commentdv1.AuditEvent {
	t.Helper()
	var out []*commentdv1.AuditEvent
	req.PageSize, req.PageToken = size, ""
	for range 100 {
		resp, err := e.mod.ListAuditEvents(ctx, req)
		if err != nil {
			t.Fatalf("called ListAuditEvents(%v): %v", req, err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
	t.Fatalf("called ListAuditEvents(%v), got no end after 100 pages", req)
	return nil
}

// auditTallies counts the audit log's events per moderator as GetStats counts decisions:
// approvals, rejections and spam marks, and every other action as Other, but for report
// takedowns and exports, which are no moderator's decision.
func auditTallies(events []*commentdv1.AuditEvent) map[string]*commentdv1.ModeratorStats {
	perMod := map[string]*commentdv1.ModeratorStats{}
	for _, ev := range events {
		m := perMod[ev.GetModerator()]
		if m == nil {
			m = &commentdv1.ModeratorStats{Moderator: ev.GetModerator()}
			perMod[ev.GetModerator()] = m
		}
		switch ev.GetAction() {
		case commentdv1.AuditAction_AUDIT_ACTION_APPROVE:
			m.Approved++
		case commentdv1.AuditAction_AUDIT_ACTION_REJECT:
			m.Rejected++
		case commentdv1.AuditAction_AUDIT_ACTION_MARK_SPAM:
			m.MarkedSpam++
		case commentdv1.AuditAction_AUDIT_ACTION_REPORT_TAKEDOWN, commentdv1.AuditAction_AUDIT_ACTION_EXPORT_AUTHOR_DATA:
		default:
			m.Other++
		}
	}
	return perMod
}

// checkStatsMatchAudit checks that every moderator GetStats lists has the counts of the audit
// log's tallies (auditTallies).
func checkStatsMatchAudit(t *testing.T, stats *commentdv1.GetStatsResponse, perMod map[string]*commentdv1.ModeratorStats) {
	t.Helper()
	for _, m := range stats.GetModerators() {
		w := perMod[m.GetModerator()]
		if w == nil || w.GetApproved() != m.GetApproved() || w.GetRejected() != m.GetRejected() || w.GetMarkedSpam() != m.GetMarkedSpam() || w.GetOther() != m.GetOther() {
			t.Errorf("called GetStats, got moderator %v, want %v (the audit log)", m, w)
		}
	}
}

// TestAuditLogHoldsEveryAction drives a moderation flow through the API and checks that the
// audit log holds each action with who, what, on what, the states and the reason.
func TestAuditLogHoldsEveryAction(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, threshold: 1})
	mod, admin, site := e.as(t, modKeyName), e.as(t, adminKeyName), e.as(t, siteKeyName)
	began := time.Now().Truncate(time.Millisecond)

	held := submitHeld(t, e, "audited", 2)
	published := e.submit(t, validSubmission("audited", "published")).GetName()
	// Each step waits a millisecond so the log's order is the order of the steps (entries of
	// different shards in the same millisecond have no order between them).
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("called %s: %v", name, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	_, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: held[0], Reason: "fine"})
	step("ApproveComment", err)
	_, err = e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: held[0], Reason: "again"})
	step("ApproveComment again", err) // changes nothing: not logged
	_, err = e.mod.RejectComment(admin, &commentdv1.RejectCommentRequest{Name: held[1], Reason: "off topic"})
	step("RejectComment", err)
	_, err = e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: held[1], Reason: "second look"})
	step("ReopenComment", err)
	_, err = e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/audited", Closed: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	})
	step("UpdateThread", err)
	_, err = e.site.ReportComment(site, &commentdv1.ReportCommentRequest{Name: published, Reason: "rude"})
	step("ReportComment", err)

	want := []*commentdv1.AuditEvent{ // newest first
		{Moderator: "system", Action: commentdv1.AuditAction_AUDIT_ACTION_REPORT_TAKEDOWN, Target: published,
			FromState: commentdv1.State_STATE_PUBLISHED, ToState: commentdv1.State_STATE_PENDING, Reason: "readers' reports reached the threshold of 1"},
		{Moderator: modKeyName, Action: commentdv1.AuditAction_AUDIT_ACTION_UPDATE_THREAD, Target: "threads/audited", Reason: "closed false -> true"},
		{Moderator: modKeyName, Action: commentdv1.AuditAction_AUDIT_ACTION_REOPEN, Target: held[1],
			FromState: commentdv1.State_STATE_REJECTED, ToState: commentdv1.State_STATE_PENDING, Reason: "second look"},
		{Moderator: adminKeyName, Action: commentdv1.AuditAction_AUDIT_ACTION_REJECT, Target: held[1],
			FromState: commentdv1.State_STATE_PENDING, ToState: commentdv1.State_STATE_REJECTED, Reason: "off topic"},
		{Moderator: modKeyName, Action: commentdv1.AuditAction_AUDIT_ACTION_APPROVE, Target: held[0],
			FromState: commentdv1.State_STATE_PENDING, ToState: commentdv1.State_STATE_PUBLISHED, Reason: "fine"},
	}
	ignore := protocmp.IgnoreFields(&commentdv1.AuditEvent{}, "name", "create_time")
	got := auditPages(t, mod, e, &commentdv1.ListAuditEventsRequest{}, 2)
	if diff := cmp.Diff(want, got, protocmp.Transform(), ignore); diff != "" {
		t.Fatalf("called ListAuditEvents after the flow, pages of 2 (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, ev := range got {
		ct := ev.GetCreateTime().AsTime()
		if !strings.HasPrefix(ev.GetName(), "auditEvents/") || seen[ev.GetName()] || ct.Before(began) || ct.After(time.Now()) {
			t.Errorf("called ListAuditEvents, got event %v, want a unique auditEvents/ name and a create_time during the test", ev)
		}
		seen[ev.GetName()] = true
	}

	filters := []struct {
		name string
		req  *commentdv1.ListAuditEventsRequest
		want []*commentdv1.AuditEvent
	}{
		{"moderator", &commentdv1.ListAuditEventsRequest{Moderator: modKeyName}, []*commentdv1.AuditEvent{want[1], want[2], want[4]}},
		{"target", &commentdv1.ListAuditEventsRequest{Target: held[1]}, want[2:4]},
		{"target and moderator", &commentdv1.ListAuditEventsRequest{Target: held[1], Moderator: adminKeyName}, want[3:4]},
		{"start time", &commentdv1.ListAuditEventsRequest{StartTime: got[2].GetCreateTime()}, want[:3]},
		{"end time", &commentdv1.ListAuditEventsRequest{EndTime: got[2].GetCreateTime()}, want[3:]},
		{"time range", &commentdv1.ListAuditEventsRequest{StartTime: got[3].GetCreateTime(), EndTime: got[1].GetCreateTime()}, want[2:4]},
	}
	for _, tt := range filters {
		if diff := cmp.Diff(tt.want, auditPages(t, mod, e, tt.req, 1), protocmp.Transform(), ignore); diff != "" {
			t.Errorf("called ListAuditEvents(%s), pages of 1 (-want +got):\n%s", tt.name, diff)
		}
	}

	first, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("called ListAuditEvents(page_size 1), got %v, %v; want a next page token", first, err)
	}
	refusals := []struct {
		name       string
		req        *commentdv1.ListAuditEventsRequest
		wantReason string
		wantFields []string
	}{
		{"token of another query", &commentdv1.ListAuditEventsRequest{Moderator: modKeyName, PageToken: first.GetNextPageToken()}, grpcserver.ReasonInvalidPageToken, []string{"page_token"}},
		{"end before start", &commentdv1.ListAuditEventsRequest{StartTime: timestamppb.Now(), EndTime: timestamppb.New(began)}, grpcserver.ReasonInvalidArgument, []string{"end_time"}},
		{"invalid time", &commentdv1.ListAuditEventsRequest{StartTime: &timestamppb.Timestamp{Nanos: -1}}, grpcserver.ReasonInvalidArgument, []string{"start_time"}},
	}
	for _, tt := range refusals {
		_, err := e.mod.ListAuditEvents(mod, tt.req)
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != tt.wantReason || !slices.Equal(badRequestFields(err), tt.wantFields) {
			t.Errorf("called ListAuditEvents(%s), got %v %q fields %v, want InvalidArgument %q fields %v", tt.name, code, reason, badRequestFields(err), tt.wantReason, tt.wantFields)
		}
	}
}
