package grpcserver_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestSiteKeysShareOneSite: as the README says, every key that may call CommentService acts for
// the one site: another key gets a comment held for a moderator, and resending its request_id
// unchanged gets that comment back, with another request REQUEST_ID_REUSED.
func TestSiteKeysShareOneSite(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	r := validSubmission("shared-site", "a held comment")
	r.RequestId = "form-1"
	first := e.submit(t, r)
	got, err := e.site.GetComment(e.as(t, adminKeyName), &commentdv1.GetCommentRequest{Name: first.GetName()})
	if err != nil || got.GetComment().GetId() != first.GetId() || got.GetComment().GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("called GetComment(%s) with another key, got %v, %v; want the held comment", first.GetName(), got.GetComment(), err)
	}
	again, err := e.site.SubmitComment(e.as(t, adminKeyName), r)
	if err != nil || again.GetComment().GetId() != first.GetId() {
		t.Errorf("called SubmitComment with another key and the same request_id, got %v, %v; want comment %s", again.GetComment(), err, first.GetId())
	}
	other := validSubmission("shared-site", "another body")
	other.RequestId = "form-1"
	_, err = e.site.SubmitComment(e.as(t, adminKeyName), other)
	if code, reason := codeReason(err); code != codes.AlreadyExists || reason != "REQUEST_ID_REUSED" {
		t.Errorf("called SubmitComment with another key, the same request_id and another body, got %v; want ALREADY_EXISTS REQUEST_ID_REUSED", err)
	}
}
