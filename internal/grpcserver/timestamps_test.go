package grpcserver_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestEarlyTimesAreNotUnset sends request times and durations set to a value that Go's zero
// time.Time or zero time.Duration also stands for: 0001-01-01T00:00:00Z, a valid Timestamp, and a
// zero lease. Each must be answered as the value it is, never as if the field were unset: an upper
// bound ("before") that no stored comment or event can meet is refused naming the field, a lower
// bound ("at or after") that early selects everything, and a zero lease is below the shortest.
func TestEarlyTimesAreNotUnset(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod, admin := e.as(t, modKeyName), e.as(t, adminKeyName)
	held := submitHeld(t, e, "early-times", 2)
	if _, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: held[0]}); err != nil {
		t.Fatalf("called ApproveComment(%s): %v", held[0], err)
	}
	yearOne := timestamppb.New(time.Time{})
	if err := yearOne.CheckValid(); err != nil {
		t.Fatalf("timestamppb.New(time.Time{}) = %v, not a valid Timestamp: %v", yearOne, err)
	}
	moonLanding := timestamppb.New(time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC))
	const email = "jane@example.com" // validSubmission's author

	refusals := []struct {
		name      string
		call      func() error
		wantField string
	}{
		{"ListQueue max_create_time year 1", func() error {
			_, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{MaxCreateTime: yearOne})
			return err
		}, "max_create_time"},
		{"ListQueue max_create_time before 1970", func() error {
			_, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{MaxCreateTime: moonLanding})
			return err
		}, "max_create_time"},
		{"ListAuditEvents end_time year 1", func() error {
			_, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{EndTime: yearOne})
			return err
		}, "end_time"},
		{"ExportAuthorData end_time year 1", func() error {
			_, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email, EndTime: yearOne})
			return err
		}, "end_time"},
		{"ClaimComments lease 0s", func() error {
			_, err := e.mod.ClaimComments(mod, &commentdv1.ClaimCommentsRequest{Lease: durationpb.New(0)})
			return err
		}, "lease"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument ||
				!slices.Equal(badRequestFields(err), []string{tc.wantField}) {
				t.Errorf("called %s, got %v %q fields %v (%v), want InvalidArgument %q on [%s]",
					tc.name, code, reason, badRequestFields(err), err, grpcserver.ReasonInvalidArgument, tc.wantField)
			}
		})
	}

	// The approval's events only: the exports below are audited too.
	allEvents, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: held[0]})
	if err != nil || len(allEvents.GetEvents()) == 0 {
		t.Fatalf("called ListAuditEvents(target %s), got %v, %v; want the approval", held[0], allEvents, err)
	}
	for name, start := range map[string]*timestamppb.Timestamp{"year 1": yearOne, "before 1970": moonLanding} {
		got, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: held[0], StartTime: start})
		if err != nil || len(got.GetEvents()) != len(allEvents.GetEvents()) {
			t.Errorf("called ListAuditEvents(target %s, start_time %s), got %d events, %v; want all %d", held[0], name, len(got.GetEvents()), err, len(allEvents.GetEvents()))
		}
		exported, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email, StartTime: start})
		if err != nil || len(exported.GetComments()) != len(held) {
			t.Errorf("called ExportAuthorData(start_time %s), got %d comments, %v; want all %d", name, len(exported.GetComments()), err, len(held))
		}
	}
}
