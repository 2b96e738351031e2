package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// etagged gives each comment the etag W/"<id>".
func etagged(mcs []*commentdv1.ModeratedComment) []*commentdv1.ModeratedComment {
	for _, mc := range mcs {
		mc.Etag = fmt.Sprintf(`W/"%s"`, mc.GetComment().GetId())
	}
	return mcs
}

// Each decision on the review screen carries the etag of the comment as claimed, so the server
// refuses it rather than overturn a decision another moderator took since.
func TestReviewDecisionsSendClaimedETag(t *testing.T) {
	t.Parallel()
	d := decidingDouble(etagged(heldComments(1, 4)))
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("a", "r", "1", "s")
	var got []proto.Message
	for _, c := range d.recorded() {
		if !slices.Contains([]string{"ClaimComments", "ReleaseComments"}, c.method) {
			got = append(got, c.req)
		}
	}
	want := []proto.Message{
		&commentdv1.ApproveCommentRequest{Name: "comments/c1", Etag: `W/"c1"`},
		&commentdv1.RejectCommentRequest{Name: "comments/c2", Reason: "off-topic", Etag: `W/"c2"`},
		&commentdv1.MarkSpamRequest{Name: "comments/c3", Etag: `W/"c3"`},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("keys a, r 1, s: decisions sent (-want +got):\n%s", diff)
	}
}

// A decision the server refuses because another moderator decided the comment meanwhile leaves
// the comment as they left it: it does not come back on screen (pressing a key on it again would
// overturn their decision), nothing is counted, and there is nothing to undo.
func TestReviewStaleDecisionLeavesComment(t *testing.T) {
	t.Parallel()
	d := decidingDouble(etagged(heldComments(1, 3)))
	d.approve = func(context.Context, *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return nil, statusErr(t, codes.Aborted, "the comment changed since its etag was read (it is STATE_REJECTED now, last decided by bert)", "ETAG_MISMATCH")
	}
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("a")

	if diff := cmp.Diff([]string{"comments/c2", "comments/c3"}, h.queued()); diff != "" {
		t.Errorf("after an approve refused as stale: queue (-want +got):\n%s", diff)
	}
	if reason := errorReason(h.m.statusErr); reason != "ETAG_MISMATCH" {
		t.Errorf("after an approve refused as stale: status error reason %q; want ETAG_MISMATCH (status %q)", reason, h.m.status)
	}
	if h.m.tally != (reviewTally{}) || len(h.m.undo) != 0 || h.m.held["comments/c1"] {
		t.Errorf("after an approve refused as stale: tally %+v, %d to undo, held %v; want nothing counted, nothing to undo, c1 not held",
			h.m.tally, len(h.m.undo), h.m.held["comments/c1"])
	}
}

// An undo reopens the comment with the etag its decision gave it, so a comment decided again by
// someone else since is left alone; the decision taken again after the undo sends the etag of the
// reopened comment.
func TestReviewUndoSendsDecisionETag(t *testing.T) {
	t.Parallel()
	d := decidingDouble(etagged(heldComments(1, 2)))
	d.approve = func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{
			Comment: &commentdv1.Comment{Name: req.GetName()}, Etag: `W/"approved"`}}, nil
	}
	d.reopenFn = func(_ context.Context, req *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		return &commentdv1.ReopenCommentResponse{Comment: &commentdv1.ModeratedComment{
			Comment: &commentdv1.Comment{Name: req.GetName()}, Etag: `W/"reopened"`}}, nil
	}
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("a", "u", "r", "2")

	wantReopen := []proto.Message{&commentdv1.ReopenCommentRequest{Name: "comments/c1", Reason: "undo in commentctl review", Etag: `W/"approved"`}}
	if diff := cmp.Diff(wantReopen, d.requests("ReopenComment"), protocmp.Transform()); diff != "" {
		t.Errorf("keys a, u: ReopenComment requests (-want +got):\n%s", diff)
	}
	wantReject := []proto.Message{&commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "abusive", Etag: `W/"reopened"`}}
	if diff := cmp.Diff(wantReject, d.requests("RejectComment"), protocmp.Transform()); diff != "" {
		t.Errorf("keys a, u, r 2: RejectComment requests (-want +got):\n%s", diff)
	}
}

// A decision key pressed on a comment whose undo is still on its way would carry the etag the
// comment had before the reopen, which the server refuses once the reopen lands: the comment would
// then drop off the screen, undecided and still claimed by us. The key waits for the reopen.
func TestReviewDecisionWaitsForUndo(t *testing.T) {
	t.Parallel()
	d := decidingDouble(etagged(heldComments(1, 2)))
	var (
		mu   sync.Mutex
		etag = `W/"c1"` // c1's etag on the server
	)
	d.approve = func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		etag = `W/"approved"`
		return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{
			Comment: &commentdv1.Comment{Name: req.GetName()}, Etag: etag}}, nil
	}
	d.reopenFn = func(_ context.Context, req *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		etag = `W/"reopened"`
		return &commentdv1.ReopenCommentResponse{Comment: &commentdv1.ModeratedComment{
			Comment: &commentdv1.Comment{Name: req.GetName()}, Etag: etag}}, nil
	}
	d.reject = func(_ context.Context, req *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		if req.GetEtag() != etag {
			return nil, statusErr(t, codes.Aborted, "the comment changed since its etag was read", "ETAG_MISMATCH")
		}
		etag = `W/"rejected"`
		return &commentdv1.RejectCommentResponse{Comment: &commentdv1.ModeratedComment{
			Comment: &commentdv1.Comment{Name: req.GetName()}, Etag: etag}}, nil
	}
	h := newReviewHarness(t, d, reviewOptions{})

	approve := h.pressWithoutRunning("a")
	undo := h.pressWithoutRunning("u")
	// r 1 on c1, back on screen at once, while the approve and the reopen are on their way.
	early := []tea.Cmd{h.pressWithoutRunning("r"), h.pressWithoutRunning("1")}
	h.run(approve)
	h.run(undo)
	for _, c := range early {
		h.run(c)
	}
	if got := h.onScreen(); got != "comments/c1" {
		t.Fatalf("a, u, r 1 before the reopen landed: on screen %q (status %q); want comments/c1, still to decide", got, h.m.status)
	}
	h.press("r", "1")

	want := []proto.Message{&commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "off-topic", Etag: `W/"reopened"`}}
	if diff := cmp.Diff(want, d.requests("RejectComment"), protocmp.Transform()); diff != "" {
		t.Errorf("a, u, r 1 before the reopen landed, then r 1: RejectComment requests (-want +got):\n%s", diff)
	}
	if h.m.statusErr != nil || h.m.tally != (reviewTally{rejected: 1}) {
		t.Errorf("a, u, r 1 before the reopen landed, then r 1: status %q (error %v), tally %+v; want c1 rejected, no error",
			h.m.status, h.m.statusErr, h.m.tally)
	}
}
