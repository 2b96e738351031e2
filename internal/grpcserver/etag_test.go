package grpcserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// decideRPC makes one of the five decisions on name with etag, as the calls of commentctl do.
func decideRPC(ctx context.Context, mod commentdv1.ModerationServiceClient, action, name, etag string) (*commentdv1.ModeratedComment, error) {
	switch action {
	case "approve":
		r, err := mod.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name, Etag: etag})
		return r.GetComment(), err
	case "reject":
		r, err := mod.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name, Etag: etag})
		return r.GetComment(), err
	case "mark_spam":
		r, err := mod.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name, Etag: etag})
		return r.GetComment(), err
	case "mark_not_spam":
		r, err := mod.MarkNotSpam(ctx, &commentdv1.MarkNotSpamRequest{Name: name, Etag: etag})
		return r.GetComment(), err
	case "reopen":
		r, err := mod.ReopenComment(ctx, &commentdv1.ReopenCommentRequest{Name: name, Etag: etag})
		return r.GetComment(), err
	}
	panic("decideRPC: unknown action " + action)
}

// Every read of a comment gives the same etag until something is decided: the queue, GetComment,
// a claim (which changes no etag) and the decision's own answer, which gives the new one.
func TestETagStableAcrossReads(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	mod := e.as(t, modKeyName)
	c := e.submit(t, validSubmission("etag-reads", "a comment to read"))

	get := func() string {
		t.Helper()
		got, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: c.GetName()})
		if err != nil {
			t.Fatalf("GetComment(%s) = %v", c.GetName(), err)
		}
		return got.GetComment().GetEtag()
	}
	etag := get()
	if etag == "" {
		t.Fatalf("GetComment(%s) gave no etag", c.GetName())
	}
	q, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{ThreadId: "etag-reads"})
	if err != nil || len(q.GetComments()) != 1 || q.GetComments()[0].GetEtag() != etag {
		t.Errorf("ListQueue(etag-reads) = %v, %v; want the comment with etag %s", q.GetComments(), err, etag)
	}
	cl, err := e.mod.ClaimComments(mod, &commentdv1.ClaimCommentsRequest{ThreadId: "etag-reads"})
	if err != nil || len(cl.GetComments()) != 1 || cl.GetComments()[0].GetEtag() != etag {
		t.Errorf("ClaimComments(etag-reads) = %v, %v; want the comment with etag %s", cl.GetComments(), err, etag)
	}
	if again := get(); again != etag {
		t.Errorf("GetComment(%s) after a claim = etag %s; want %s as before", c.GetName(), again, etag)
	}
	approved, err := decideRPC(mod, e.mod, "approve", c.GetName(), etag)
	if err != nil {
		t.Fatalf("ApproveComment(%s, etag %s) = %v", c.GetName(), etag, err)
	}
	if approved.GetEtag() == etag || approved.GetEtag() != get() {
		t.Errorf("ApproveComment(%s) answered etag %s, GetComment then %s; want a new etag, the same in both (was %s)", c.GetName(), approved.GetEtag(), get(), etag)
	}
}

// Two moderators decide one comment from the same reading: the second decision, sent with the
// etag both read, is refused with ABORTED, ETAG_MISMATCH and the comment as it is now; it changes
// nothing, and the audit log has the first decision alone. Each of the five decisions, each from a
// state it takes, after a colleague's decision that leaves the comment in a state it takes too.
func TestDecisionWithStaleETagRefused(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	first, second := e.as(t, modKeyName), e.as(t, adminKeyName)
	tests := []struct {
		setup     []string // decisions made before both read the comment (pending at first)
		colleague string   // the first moderator's decision
		action    string   // the second's, refused
		wantState commentdv1.State
	}{
		{colleague: "reject", action: "approve", wantState: commentdv1.State_STATE_REJECTED},
		{colleague: "approve", action: "reject", wantState: commentdv1.State_STATE_PUBLISHED},
		{colleague: "approve", action: "mark_spam", wantState: commentdv1.State_STATE_PUBLISHED},
		{colleague: "mark_spam", action: "mark_not_spam", wantState: commentdv1.State_STATE_SPAM},
		{setup: []string{"approve"}, colleague: "reject", action: "reopen", wantState: commentdv1.State_STATE_REJECTED},
	}
	for i, tt := range tests {
		t.Run(tt.action+" after "+tt.colleague, func(t *testing.T) {
			c := e.submit(t, validSubmission("etag-race", fmt.Sprintf("comment %d to decide twice", i)))
			for _, a := range tt.setup {
				if _, err := decideRPC(first, e.mod, a, c.GetName(), ""); err != nil {
					t.Fatalf("%s(%s) = %v", a, c.GetName(), err)
				}
			}
			read, err := e.mod.GetComment(second, &commentdv1.ModerationServiceGetCommentRequest{Name: c.GetName()})
			if err != nil {
				t.Fatalf("GetComment(%s) = %v", c.GetName(), err)
			}
			etag := read.GetComment().GetEtag()
			audited := func() int {
				t.Helper()
				resp, err := e.mod.ListAuditEvents(second, &commentdv1.ListAuditEventsRequest{Target: c.GetName()})
				if err != nil {
					t.Fatalf("ListAuditEvents(target %s) = %v", c.GetName(), err)
				}
				return len(resp.GetEvents())
			}
			decided, err := decideRPC(first, e.mod, tt.colleague, c.GetName(), etag)
			if err != nil {
				t.Fatalf("%s(%s, etag %s) by %s = %v", tt.colleague, c.GetName(), etag, modKeyName, err)
			}
			before := audited()

			_, err = decideRPC(second, e.mod, tt.action, c.GetName(), etag)

			checkStatus(t, tt.action+" with the etag read before "+tt.colleague, err, codes.Aborted,
				&errdetails.ErrorInfo{Reason: grpcserver.ReasonETagMismatch, Domain: grpcserver.ErrorDomain, Metadata: map[string]string{
					"name": c.GetName(), "action": tt.action, "state": tt.wantState.String(), "etag": decided.GetEtag(),
					"moderator":   modKeyName,
					"decide_time": decided.GetDecision().GetDecideTime().AsTime().Format(time.RFC3339),
				}}, nil)
			now, err := e.mod.GetComment(second, &commentdv1.ModerationServiceGetCommentRequest{Name: c.GetName()})
			if err != nil {
				t.Fatalf("GetComment(%s) = %v", c.GetName(), err)
			}
			if diff := cmp.Diff(decided, now.GetComment(), protocmp.Transform()); diff != "" {
				t.Errorf("%s(%s) with a stale etag changed the comment (-after %s +now):\n%s", tt.action, c.GetName(), tt.colleague, diff)
			}
			if n := audited(); n != before {
				t.Errorf("audit entries on %s after a refused %s = %d; want %d", c.GetName(), tt.action, n, before)
			}
			// With the etag of the comment as it is now, the same decision goes through.
			if _, err := decideRPC(second, e.mod, tt.action, c.GetName(), now.GetComment().GetEtag()); err != nil {
				t.Errorf("%s(%s, etag of now) = %v; want no error", tt.action, c.GetName(), err)
			}
		})
	}
}

// A malformed etag is a bad request, named with the other bad fields.
func TestDecisionMalformedETag(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	mod := e.as(t, modKeyName)
	c := e.submit(t, validSubmission("etag-bad", "a comment"))
	for _, tt := range []struct {
		name, etag string
		want       []string
	}{
		{c.GetName(), "0123456789abcdef", []string{"etag"}},
		{"comments/", `W/"nothex"`, []string{"etag", "name"}},
	} {
		_, err := decideRPC(mod, e.mod, "approve", tt.name, tt.etag)
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument {
			t.Errorf("ApproveComment(%q, etag %q) = %v; want INVALID_ARGUMENT", tt.name, tt.etag, err)
		}
		if diff := cmp.Diff(tt.want, badRequestFields(err)); diff != "" {
			t.Errorf("ApproveComment(%q, etag %q) bad fields (-want +got):\n%s", tt.name, tt.etag, diff)
		}
	}
}

// An etag read from one comment and sent with a decision on another is refused with ABORTED,
// ETAG_MISMATCH, even where both are pending and never decided, and changes nothing: a moderator
// who pastes the wrong comment's etag is told, not let through.
func TestDecisionWithOtherCommentsETagRefused(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	mod := e.as(t, modKeyName)
	a := e.submit(t, validSubmission("etag-other", "the comment read"))
	b := e.submit(t, validSubmission("etag-other", "the comment decided"))
	read := func(name string) *commentdv1.ModeratedComment {
		t.Helper()
		got, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
		if err != nil {
			t.Fatalf("GetComment(%s) = %v", name, err)
		}
		return got.GetComment()
	}
	etagA, before := read(a.GetName()).GetEtag(), read(b.GetName())
	if etagA == before.GetEtag() {
		t.Errorf("GetComment(%s) and GetComment(%s) = etag %s both; want an etag of each", a.GetName(), b.GetName(), etagA)
	}

	_, err := decideRPC(mod, e.mod, "approve", b.GetName(), etagA)

	checkStatus(t, "approve "+b.GetName()+" with the etag of "+a.GetName(), err, codes.Aborted,
		&errdetails.ErrorInfo{Reason: grpcserver.ReasonETagMismatch, Domain: grpcserver.ErrorDomain, Metadata: map[string]string{
			"name": b.GetName(), "action": "approve", "state": commentdv1.State_STATE_PENDING.String(), "etag": before.GetEtag(),
		}}, nil)
	if diff := cmp.Diff(before, read(b.GetName()), protocmp.Transform()); diff != "" {
		t.Errorf("ApproveComment(%s) with the etag of %s changed it (-before +now):\n%s", b.GetName(), a.GetName(), diff)
	}
}
