package grpcserver_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func TestGetStatsAfterKnownActions(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod, admin := e.as(t, modKeyName), e.as(t, adminKeyName)
	// The server dates each submission, and "today", by its clock: in a test that runs over
	// midnight UTC, either may fall on the day the test began or on the next.
	began := time.Now().UTC()
	e.submit(t, validSubmission("stats-a", "one"))
	e.submit(t, validSubmission("stats-b", "two"))
	e.submit(t, validSubmission("stats-c", "SPAM three"))
	held := append(submitHeld(t, e, "stats-a", 2), submitHeld(t, e, "stats-d", 1)...)

	if _, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: held[0]}); err != nil {
		t.Fatalf("called ApproveComment: %v", err)
	}
	if _, err := e.mod.RejectComment(admin, &commentdv1.RejectCommentRequest{Name: held[1]}); err != nil {
		t.Fatalf("called RejectComment: %v", err)
	}
	if _, err := e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: held[0]}); err != nil {
		t.Fatalf("called ReopenComment: %v", err)
	}
	if _, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: "threads/stats-a", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE}}); err != nil {
		t.Fatalf("called UpdateThread: %v", err)
	}

	resp, err := e.mod.GetStats(mod, &commentdv1.GetStatsRequest{Days: 3})
	if err != nil {
		t.Fatalf("called GetStats(days 3): %v", err)
	}
	// The three days end today: the day the test began or, over midnight UTC, the next. The
	// submissions were counted on the day each was made, which over midnight may be the one
	// before: fold the figures of the days since the test began onto the last.
	today := lastDay(t, resp, began)
	day := func(d int) string { return today.AddDate(0, 0, d).Format(time.DateOnly) }
	folded := make([]*commentdv1.DailyStats, len(resp.GetDays()))
	for i, d := range resp.GetDays() {
		folded[i] = &commentdv1.DailyStats{Date: d.GetDate()}
	}
	for i, d := range resp.GetDays() {
		at := folded[i]
		if d.GetDate() >= began.Format(time.DateOnly) {
			at = folded[len(folded)-1]
		}
		at.Submitted += d.GetSubmitted()
		at.Spam += d.GetSpam()
	}
	resp.Days = folded
	want := &commentdv1.GetStatsResponse{
		Queue: []*commentdv1.StateCount{
			{State: commentdv1.State_STATE_PENDING, Count: 2}, // held[0] reopened, held[2]
			{State: commentdv1.State_STATE_REJECTED, Count: 1},
			{State: commentdv1.State_STATE_SPAM, Count: 1},
		},
		Moderators: []*commentdv1.ModeratorStats{
			{Moderator: adminKeyName, Rejected: 1},
			{Moderator: modKeyName, Approved: 1, Other: 2}, // the reopening and the thread change
		},
		Days: []*commentdv1.DailyStats{
			{Date: day(-2)}, {Date: day(-1)}, {Date: day(0), Submitted: 6, Spam: 1},
		},
	}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("called GetStats(days 3) after known actions, the days since the test began folded onto the last (-want +got):\n%s", diff)
	}

	if resp, err := e.mod.GetStats(mod, &commentdv1.GetStatsRequest{}); err != nil || len(resp.GetDays()) != 14 {
		t.Errorf("called GetStats without days, got %d days, %v; want 14", len(resp.GetDays()), err)
	} else {
		lastDay(t, resp, began)
	}
	for _, days := range []int32{-1, 91} {
		_, err := e.mod.GetStats(mod, &commentdv1.GetStatsRequest{Days: days})
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !slices.Equal(badRequestFields(err), []string{"days"}) {
			t.Errorf("called GetStats(days %d), got %v %q, want InvalidArgument on days", days, code, reason)
		}
	}
}

// lastDay returns the last day of resp's figures, today as the server saw it when it answered,
// and fails the test unless that is the day the test began (at began) or a later one up to now.
func lastDay(t *testing.T, resp *commentdv1.GetStatsResponse, began time.Time) time.Time {
	t.Helper()
	days := resp.GetDays()
	if len(days) == 0 {
		t.Fatalf("called GetStats, got no days")
	}
	last, err := time.Parse(time.DateOnly, days[len(days)-1].GetDate())
	if err != nil || last.Before(began.Truncate(24*time.Hour)) || last.After(time.Now().UTC()) {
		t.Fatalf("called GetStats, got days ending %q (%v); want today, between %s and %s", days[len(days)-1].GetDate(), err,
			began.Format(time.DateOnly), time.Now().UTC().Format(time.DateOnly))
	}
	return last
}
