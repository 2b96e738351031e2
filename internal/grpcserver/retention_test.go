package grpcserver_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestPurgedSpamIsNotFound: a comment the spam retention deleted is NOT_FOUND for GetComment and
// absent from ListQueue, like any missing comment, and the audit log holds the purge.
func TestPurgedSpamIsNotFound(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	held := submitHeld(t, e, "retention", 2)
	for _, name := range held {
		if _, err := e.mod.MarkSpam(mod, &commentdv1.MarkSpamRequest{Name: name}); err != nil {
			t.Fatalf("called MarkSpam(%s), got %v", name, err)
		}
	}
	// The server's purge, run as if the retention had passed.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	purger := moderation.NewService(e.store, e.ring, withWorkflow(moderation.Options{Now: later, Purger: e.store}, e.store))
	if n, err := purger.PurgeSpam(context.Background(), time.Hour); err != nil || n != 2 {
		t.Fatalf("PurgeSpam(an hour, two hours on) = %d, %v; want 2", n, err)
	}

	for _, name := range held {
		_, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
		if code, reason := codeReason(err); code != codes.NotFound || reason != grpcserver.ReasonCommentNotFound {
			t.Errorf("called GetComment(%s) after the purge, got %v %s, want NOT_FOUND %s", name, code, reason, grpcserver.ReasonCommentNotFound)
		}
	}
	queue, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_SPAM})
	if err != nil || len(queue.GetComments()) != 0 {
		t.Errorf("called ListQueue(spam) after the purge, got %v, %v; want no comments", names(queue.GetComments()), err)
	}
	audit, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Moderator: moderation.RetentionModerator})
	if err != nil || len(audit.GetEvents()) != 1 {
		t.Fatalf("called ListAuditEvents(moderator retention), got %v, %v; want one event", audit.GetEvents(), err)
	}
	if ev := audit.GetEvents()[0]; ev.GetAction() != commentdv1.AuditAction_AUDIT_ACTION_PURGE_SPAM || ev.GetTarget() != "comments" ||
		ev.GetReason() != "2 comments: spam for over 1h" {
		t.Errorf("called ListAuditEvents(moderator retention), got %v; want PURGE_SPAM of comments, reason \"2 comments: spam for over 1h\"", ev)
	}
}
