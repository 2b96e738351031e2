package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

func TestReportsTakeDownAtTheThreshold(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const threshold = 3
	c := draft(ts.Store, "reported", 1)
	c.HoldReasons = []comment.Reason{{Code: "TOO_MANY_LINKS", Message: "three links"}}
	c = mustCreate(t, ts.Store, c, comment.CreateOptions{})
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	steps := []struct {
		reporter  string
		reason    string
		wantCount int
		wantState comment.State
	}{
		{"ip-a", "rude", 1, comment.StatePublished},
		{"ip-a", "rude again: the same reader counts once", 1, comment.StatePublished},
		{"ip-b", "off topic", 2, comment.StatePublished},
		{"ip-c", "spam link", 3, comment.StatePending},
		{"ip-d", "after the takedown", 4, comment.StatePending},
	}
	for i, st := range steps {
		got, n, err := ts.AddReport(ctx, c.ID, moderation.Report{Reason: st.reason, At: at(i)}, st.reporter, threshold)
		if err != nil || n != st.wantCount || got.State != st.wantState {
			t.Fatalf("report %d (%s by %q) = state %v, count %d, %v; want %v, %d", i, st.reason, st.reporter, got.State, n, err, st.wantState, st.wantCount)
		}
	}

	got, err := ts.Get(ctx, c.ID)
	if err != nil {
		t.Fatalf("Get(%s) = %v", c.ID, err)
	}
	want := c
	want.State, want.PublishedAt = comment.StatePending, time.Time{}
	want.HoldReasons = append(want.HoldReasons, comment.Reason{Code: moderation.ReasonReported, Message: moderation.ReportedMessage})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get after the takedown (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMembership(comment.StatePending), indexMembership(t, ts, c.ThreadID, c.ID)); diff != "" {
		t.Errorf("indexes holding %s after the takedown (-want +got):\n%s", c.ID, diff)
	}
	reported, _, err := ts.ListQueue(ctx, moderation.Query{State: comment.StatePending, ReasonCode: moderation.ReasonReported}, comment.Page{Size: 10})
	if err != nil || !slices.Equal(ids(reported), []string{c.ID}) {
		t.Errorf("ListQueue(reason REPORTED) = %v, %v; want [%s]", ids(reported), err, c.ID)
	}

	sums, err := ts.ReportSummaries(ctx, []string{c.ID, ts.NewID("reported"), "not-ours"})
	if err != nil {
		t.Fatalf("ReportSummaries = %v", err)
	}
	wantSums := []moderation.ReportSummary{
		{Count: 4, Recent: []moderation.Report{
			{Reason: "after the takedown", At: at(4)}, {Reason: "spam link", At: at(3)},
			{Reason: "off topic", At: at(2)}, {Reason: "rude", At: at(0)},
		}},
		{}, {},
	}
	if diff := cmp.Diff(wantSums, sums); diff != "" {
		t.Errorf("ReportSummaries (-want +got):\n%s", diff)
	}

	events := listAudit(t, ts.Store, moderation.AuditQuery{Target: "comments/" + c.ID}, 10)
	wantEvents := []moderation.AuditEvent{{
		Moderator: moderation.SystemModerator, Action: moderation.AuditReportTakedown, Target: "comments/" + c.ID,
		From: comment.StatePublished, To: comment.StatePending, Reason: fmt.Sprintf("readers' reports reached the threshold of %d", threshold),
	}}
	if diff := cmp.Diff(wantEvents, events, ignoreIDAndTime); diff != "" {
		t.Errorf("ListAudit(the reported comment) (-want +got):\n%s", diff)
	}
}

func TestApprovalStartsANewReportCount(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := mustCreate(t, ts.Store, draft(ts.Store, "re-reported", 1), comment.CreateOptions{})
	report := func(reporter string) (comment.State, int) {
		t.Helper()
		got, n, err := ts.AddReport(ctx, c.ID, moderation.Report{At: time.Now()}, reporter, 2)
		if err != nil {
			t.Fatalf("AddReport(%s by %s) = %v", c.ID, reporter, err)
		}
		return got.State, n
	}
	report("a")
	if st, n := report("b"); st != comment.StatePending || n != 2 {
		t.Fatalf("second report = %v, %d; want taken down to pending, 2", st, n)
	}
	if _, err := ts.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: time.Now(), To: comment.StatePublished}, approveFrom, ""); err != nil {
		t.Fatalf("Decide(approve %s) = %v", c.ID, err)
	}
	if st, n := report("c"); st != comment.StatePublished || n != 3 {
		t.Errorf("first report after the approval = %v, %d; want still published, 3", st, n)
	}
	if st, n := report("d"); st != comment.StatePending || n != 4 {
		t.Errorf("second report after the approval = %v, %d; want taken down again, 4", st, n)
	}
	// The second takedown has the reason of the first: moderators see it once.
	got, err := ts.Get(ctx, c.ID)
	want := []comment.Reason{{Code: moderation.ReasonReported, Message: moderation.ReportedMessage}}
	if err != nil {
		t.Fatalf("Get(%s) = %v", c.ID, err)
	}
	if diff := cmp.Diff(want, got.HoldReasons); diff != "" {
		t.Errorf("Get(%s) after two takedowns: hold reasons (-want +got):\n%s", c.ID, diff)
	}
}

func TestReportsOnUnpublishedComments(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	for _, st := range []comment.State{comment.StatePending, comment.StateRejected, comment.StateSpam} {
		c := pendingDraft(ts.Store, "unpublished", int(st), t0)
		c.State = st
		c = mustCreate(t, ts.Store, c, comment.CreateOptions{})
		before := indexMembership(t, ts, c.ThreadID, c.ID)
		for i := range 3 {
			got, n, err := ts.AddReport(ctx, c.ID, moderation.Report{At: time.Now()}, fmt.Sprintf("ip-%d", i), 1)
			if err != nil || n != i+1 || got.State != st {
				t.Errorf("AddReport #%d on a %v comment = state %v, count %d, %v; want %v, %d", i, st, got.State, n, err, st, i+1)
			}
		}
		if diff := cmp.Diff(before, indexMembership(t, ts, c.ThreadID, c.ID)); diff != "" {
			t.Errorf("indexes of a reported %v comment (-before +after):\n%s", st, diff)
		}
	}
	for _, id := range []string{ts.NewID("unpublished"), "not-ours", ""} {
		if _, _, err := ts.AddReport(ctx, id, moderation.Report{At: time.Now()}, "ip-a", 1); !errors.Is(err, comment.ErrNotFound) {
			t.Errorf("AddReport(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if events := listAudit(t, ts.Store, moderation.AuditQuery{}, 10); len(events) != 0 {
		t.Errorf("ListAudit after reports that took nothing down = %+v, want nothing", events)
	}
}

// TestReportWithoutReporterRefused: every report names its reader (moderation.Service.Report
// always passes a keyed hash), since the set of reporters is what tells a resent call from a new
// report; a call without one is a programming error, refused before anything is counted.
func TestReportWithoutReporterRefused(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := mustCreate(t, ts.Store, draft(ts.Store, "unnamed-report", 1), comment.CreateOptions{})
	for i := range 2 {
		got, n, err := ts.AddReport(ctx, c.ID, moderation.Report{Reason: "rude", At: t0}, "", 1)
		if err == nil || errors.Is(err, comment.ErrNotFound) {
			t.Fatalf("AddReport(%s, no reporter, threshold 1) #%d = state %v, count %d, %v; want an error, not ErrNotFound", c.ID, i+1, got.State, n, err)
		}
	}
	sums, err := ts.ReportSummaries(ctx, []string{c.ID})
	if err != nil {
		t.Fatalf("ReportSummaries(%s) = %v", c.ID, err)
	}
	if diff := cmp.Diff([]moderation.ReportSummary{{}}, sums); diff != "" {
		t.Errorf("ReportSummaries(%s) after reports without a reporter (-want +got):\n%s", c.ID, diff)
	}
	if got, err := ts.Get(ctx, c.ID); err != nil || got.State != comment.StatePublished {
		t.Errorf("Get(%s) after reports without a reporter (threshold 1) = state %v, %v; want %v", c.ID, got.State, err, comment.StatePublished)
	}
	shard, _ := shardOfID(c.ID)
	if n, err := ts.rdb.Exists(ctx, ts.keys.reporters(shard, c.ID)).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS the reporters of %s after reports without a reporter = %d, %v; want 0", c.ID, n, err)
	}
}
