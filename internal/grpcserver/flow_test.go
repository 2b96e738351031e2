package grpcserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// flagScreener is a stand-in for the spam and ban checks: a body containing "SPAM" is judged spam,
// one containing "HOLD" is held. It only decides; storage stays the real store.
type flagScreener struct{}

func (flagScreener) Screen(_ context.Context, d *comment.Draft, v *comment.Verdict) error {
	if strings.Contains(d.Body, "SPAM") {
		v.Spam = append(v.Spam, comment.Reason{Code: "TEST_SPAM", Message: "looks like spam"})
	}
	if strings.Contains(d.Body, "HOLD") {
		v.Hold = append(v.Hold, comment.Reason{Code: "TEST_HOLD", Message: "held for a look"})
	}
	return nil
}

func TestSiteFlow(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, screeners: []comment.Screener{flagScreener{}}})
	site := e.as(t, siteKeyName)

	// Post-moderation publishes at once.
	first := e.submit(t, validSubmission("post-thread", "first!"))
	if first.GetState() != commentdv1.State_STATE_PUBLISHED || first.GetPublishTime() == nil || first.GetCreateTime() == nil {
		t.Errorf("called SubmitComment on a post-moderated thread, got state %v publish_time %v create_time %v; want PUBLISHED with both times",
			first.GetState(), first.GetPublishTime(), first.GetCreateTime())
	}
	if first.GetName() != "comments/"+first.GetId() || first.GetThreadId() != "post-thread" || first.GetAuthorName() != "Jane Reader" || first.GetBody() != "first!" {
		t.Errorf("called SubmitComment, got %v, want name comments/{id}, the thread, author name and body as sent", first)
	}

	// Pre-moderation holds.
	e.setMode(t, "pre-thread", commentdv1.ModerationMode_MODERATION_MODE_PRE)
	held := e.submit(t, validSubmission("pre-thread", "please approve me"))
	if held.GetState() != commentdv1.State_STATE_PENDING || held.GetPublishTime() != nil {
		t.Errorf("called SubmitComment on a pre-moderated thread, got state %v publish_time %v; want PENDING, unset", held.GetState(), held.GetPublishTime())
	}

	// Shadow handling: what the screeners judged spam looks pending to the site, there and later.
	spam := e.submit(t, validSubmission("post-thread", "buy SPAM now"))
	if spam.GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("called SubmitComment with a body the screeners judge spam, got state %v, want PENDING (the site must not tell)", spam.GetState())
	}
	got, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: spam.GetName()})
	if err != nil || got.GetComment().GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("called GetComment(%s) on a spam comment, got %v, %v; want PENDING, nil", spam.GetName(), got.GetComment().GetState(), err)
	}
	modView, err := e.mod.GetComment(e.as(t, modKeyName), &commentdv1.ModerationServiceGetCommentRequest{Name: spam.GetName()})
	if err != nil || modView.GetComment().GetComment().GetState() != commentdv1.State_STATE_SPAM {
		t.Errorf("called ModerationService.GetComment(%s), got %v, %v; want the true state SPAM", spam.GetName(), modView.GetComment().GetComment().GetState(), err)
	}

	// Retrying with the same request_id returns the first comment.
	req := validSubmission("post-thread", "said once")
	req.RequestId = "retry-me-1"
	once := e.submit(t, req)
	again := e.submit(t, req)
	if diff := cmp.Diff(once, again, protocmp.Transform()); diff != "" {
		t.Errorf("called SubmitComment twice with request_id %q, got a different second result (-first +second):\n%s", req.RequestId, diff)
	}

	// Five more published comments: the thread now has first, once and these five, oldest first.
	wantIDs := []string{first.GetId(), once.GetId()}
	for i := range 5 {
		wantIDs = append(wantIDs, e.submit(t, validSubmission("post-thread", fmt.Sprintf("comment %d", i))).GetId())
	}

	t.Run("GetComment by name and by bare id", func(t *testing.T) {
		for _, name := range []string{first.GetName(), first.GetId()} {
			got, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: name})
			if err != nil {
				t.Fatalf("called GetComment(%q): %v", name, err)
			}
			if diff := cmp.Diff(first, got.GetComment(), protocmp.Transform()); diff != "" {
				t.Errorf("called GetComment(%q), got a comment differing from the submitted one (-want +got):\n%s", name, diff)
			}
		}
	})

	t.Run("ListComments pages through published comments only", func(t *testing.T) {
		var gotIDs []string
		var sizes []int
		token := ""
		for range 10 {
			resp, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "post-thread", PageSize: 3, PageToken: token})
			if err != nil {
				t.Fatalf("called ListComments(post-thread, size 3, token %q): %v", token, err)
			}
			sizes = append(sizes, len(resp.GetComments()))
			for _, c := range resp.GetComments() {
				gotIDs = append(gotIDs, c.GetId())
				if c.GetState() != commentdv1.State_STATE_PUBLISHED {
					t.Errorf("called ListComments, got comment %s in state %v, want only PUBLISHED", c.GetId(), c.GetState())
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
			t.Errorf("called ListComments page by page, got ids differing from the published ones oldest first (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
			t.Errorf("called ListComments with page_size 3 over 7 comments, got page sizes differing (-want +got):\n%s", diff)
		}
	})

	t.Run("ListComments newest first reaches the latest comments in one call", func(t *testing.T) {
		var gotIDs []string
		token := ""
		for range 10 {
			resp, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "post-thread", PageSize: 3, PageToken: token, OrderBy: "create_time desc"})
			if err != nil {
				t.Fatalf("called ListComments(post-thread, size 3, create_time desc, token %q): %v", token, err)
			}
			for _, c := range resp.GetComments() {
				gotIDs = append(gotIDs, c.GetId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		want := slices.Clone(wantIDs)
		slices.Reverse(want)
		if diff := cmp.Diff(want, gotIDs); diff != "" {
			t.Errorf("called ListComments newest first page by page, got ids differing from the published ones newest first (-want +got):\n%s", diff)
		}

		// A token belongs to its order; an unknown order is refused with the other bad fields.
		first, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "post-thread", PageSize: 3, OrderBy: "create_time desc"})
		if err != nil {
			t.Fatalf("called ListComments(post-thread, create_time desc): %v", err)
		}
		_, err = e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "post-thread", PageSize: 3, PageToken: first.GetNextPageToken()})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("called ListComments oldest first with a newest-first token, got %v, want InvalidArgument", err)
		}
		_, err = e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "", PageSize: -1, OrderBy: "score"})
		if diff := cmp.Diff([]string{"order_by", "page_size", "thread_id"}, badRequestFields(err)); diff != "" {
			t.Errorf("called ListComments with order_by \"score\", no thread and a negative size, got bad fields differing (-want +got):\n%s", diff)
		}
	})

	t.Run("CountComments counts published comments per thread, in order", func(t *testing.T) {
		resp, err := e.site.CountComments(site, &commentdv1.CountCommentsRequest{ThreadIds: []string{"pre-thread", "post-thread", "nobody-here"}})
		if err != nil {
			t.Fatalf("called CountComments: %v", err)
		}
		want := []*commentdv1.ThreadCount{
			{ThreadId: "pre-thread", Published: 0, ThreadStatus: &commentdv1.ThreadStatus{}},
			{ThreadId: "post-thread", Published: int64(len(wantIDs)), ThreadStatus: &commentdv1.ThreadStatus{}},
			{ThreadId: "nobody-here", Published: 0, ThreadStatus: &commentdv1.ThreadStatus{}},
		}
		if diff := cmp.Diff(want, resp.GetCounts(), protocmp.Transform()); diff != "" {
			t.Errorf("called CountComments, got counts differing (-want +got):\n%s", diff)
		}
	})
}

func TestModeratorFlow(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	site, mod := e.as(t, siteKeyName), e.as(t, modKeyName)

	var pending []*commentdv1.Comment
	for i, email := range []string{"jane@example.com", "Bob@Example.org", "carol@example.net"} {
		r := validSubmission("article-7", fmt.Sprintf("comment %d", i))
		r.AuthorEmail = email
		c := e.submit(t, r)
		if c.GetState() != commentdv1.State_STATE_PENDING {
			t.Fatalf("called SubmitComment with site default pre-moderation, got state %v, want PENDING", c.GetState())
		}
		pending = append(pending, c)
	}
	approved, rejected, untouched := pending[0], pending[1], pending[2]

	t.Run("ListQueue shows pending comments with masked personal data", func(t *testing.T) {
		resp, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{ThreadId: "article-7"})
		if err != nil {
			t.Fatalf("called ListQueue(article-7): %v", err)
		}
		var ids, emails []string
		for _, c := range resp.GetComments() {
			ids = append(ids, c.GetComment().GetId())
			emails = append(emails, c.GetMaskedEmail())
			if c.GetMaskedIp() != "203.0.113.x" || c.GetAuthorKey() == "" || c.GetUserAgent() != "test-agent/1.0" {
				t.Errorf("called ListQueue, got comment %s with masked_ip %q author_key %q user_agent %q; want 203.0.113.x, a key, test-agent/1.0",
					c.GetComment().GetId(), c.GetMaskedIp(), c.GetAuthorKey(), c.GetUserAgent())
			}
			if len(c.GetHoldReasons()) != 1 || c.GetHoldReasons()[0].GetCode() != comment.ReasonPreModeration {
				t.Errorf("called ListQueue, got comment %s with hold reasons %v, want one %s", c.GetComment().GetId(), c.GetHoldReasons(), comment.ReasonPreModeration)
			}
		}
		if diff := cmp.Diff([]string{approved.GetId(), rejected.GetId(), untouched.GetId()}, ids); diff != "" {
			t.Errorf("called ListQueue, got ids differing from the pending comments oldest first (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"j•••@example.com", "B•••@example.org", "c•••@example.net"}, emails); diff != "" {
			t.Errorf("called ListQueue, got masked emails differing (-want +got):\n%s", diff)
		}
	})

	t.Run("GetComment shows the masked email", func(t *testing.T) {
		got, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: approved.GetName()})
		if err != nil || got.GetComment().GetMaskedEmail() != "j•••@example.com" {
			t.Errorf("called ModerationService.GetComment(%s), got masked email %q, %v; want j•••@example.com, nil", approved.GetName(), got.GetComment().GetMaskedEmail(), err)
		}
	})

	t.Run("approve publishes, reject hides, both record the moderator", func(t *testing.T) {
		a, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: approved.GetName(), Reason: "on topic"})
		if err != nil {
			t.Fatalf("called ApproveComment(%s): %v", approved.GetName(), err)
		}
		checkDecision(t, "ApproveComment", a.GetComment(), modKeyName, commentdv1.State_STATE_PENDING, commentdv1.State_STATE_PUBLISHED, "on topic")
		if a.GetComment().GetComment().GetPublishTime() == nil {
			t.Errorf("called ApproveComment, got no publish_time, want one")
		}
		r, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: rejected.GetId(), Reason: "off topic"})
		if err != nil {
			t.Fatalf("called RejectComment(%s): %v", rejected.GetId(), err)
		}
		checkDecision(t, "RejectComment", r.GetComment(), modKeyName, commentdv1.State_STATE_PENDING, commentdv1.State_STATE_REJECTED, "off topic")

		// The decision is stored, not just returned.
		stored, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: rejected.GetName()})
		if err != nil {
			t.Fatalf("called ModerationService.GetComment(%s): %v", rejected.GetName(), err)
		}
		checkDecision(t, "GetComment after RejectComment", stored.GetComment(), modKeyName, commentdv1.State_STATE_PENDING, commentdv1.State_STATE_REJECTED, "off topic")

		list, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "article-7"})
		if err != nil {
			t.Fatalf("called ListComments(article-7): %v", err)
		}
		var ids []string
		for _, c := range list.GetComments() {
			ids = append(ids, c.GetId())
		}
		if diff := cmp.Diff([]string{approved.GetId()}, ids); diff != "" {
			t.Errorf("called ListComments after approving one and rejecting one, got ids differing (-want +got):\n%s", diff)
		}

		// A moderator's rejection is visible to the site as such.
		got, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: rejected.GetName()})
		if err != nil || got.GetComment().GetState() != commentdv1.State_STATE_REJECTED {
			t.Errorf("called GetComment(%s) as the site after a rejection, got %v, %v; want REJECTED, nil", rejected.GetName(), got.GetComment().GetState(), err)
		}

		queue, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_REJECTED})
		if err != nil || len(queue.GetComments()) != 1 || queue.GetComments()[0].GetComment().GetId() != rejected.GetId() {
			t.Errorf("called ListQueue(REJECTED), got %v, %v; want just %s", queue.GetComments(), err, rejected.GetId())
		}
	})

	t.Run("admin decisions record the admin key", func(t *testing.T) {
		a, err := e.mod.ApproveComment(e.as(t, adminKeyName), &commentdv1.ApproveCommentRequest{Name: untouched.GetName()})
		if err != nil {
			t.Fatalf("called ApproveComment(%s) as admin: %v", untouched.GetName(), err)
		}
		checkDecision(t, "ApproveComment as admin", a.GetComment(), adminKeyName, commentdv1.State_STATE_PENDING, commentdv1.State_STATE_PUBLISHED, "")
	})

	t.Run("threads: get, update by mask, close", func(t *testing.T) {
		th, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: "article-7"})
		if err != nil {
			t.Fatalf("called GetThread(article-7): %v", err)
		}
		// The etag is that of the settings stored: none at first, and none again after "*" below.
		unconfigured := moderation.ThreadETag(comment.Thread{ID: "article-7"})
		want := &commentdv1.Thread{Name: "threads/article-7", ThreadId: "article-7",
			ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, EffectiveModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE,
			Etag: unconfigured}
		if diff := cmp.Diff(want, th.GetThread(), protocmp.Transform()); diff != "" {
			t.Errorf("called GetThread on an unconfigured thread, got (-want +got):\n%s", diff)
		}

		// Only the masked field changes: closed stays false although the message says true.
		up, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
			Thread:     &commentdv1.Thread{Name: "threads/article-7", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST, Closed: true},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode"}},
		})
		if err != nil {
			t.Fatalf("called UpdateThread(article-7, mask moderation_mode): %v", err)
		}
		want = &commentdv1.Thread{Name: "threads/article-7", ThreadId: "article-7",
			ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST, EffectiveModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST,
			Etag: moderation.ThreadETag(comment.Thread{ID: "article-7", Mode: comment.ModePost})}
		if diff := cmp.Diff(want, up.GetThread(), protocmp.Transform()); diff != "" {
			t.Errorf("called UpdateThread with mask moderation_mode, got (-want +got):\n%s", diff)
		}
		if c := e.submit(t, validSubmission("article-7", "now post-moderated")); c.GetState() != commentdv1.State_STATE_PUBLISHED {
			t.Errorf("called SubmitComment after switching the thread to post, got %v, want PUBLISHED", c.GetState())
		}

		up, err = e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
			Thread:     &commentdv1.Thread{Name: "threads/article-7", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE, Closed: true},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
		})
		if err != nil || !up.GetThread().GetClosed() || up.GetThread().GetModerationMode() != commentdv1.ModerationMode_MODERATION_MODE_POST {
			t.Errorf("called UpdateThread with mask closed, got %v, %v; want closed and mode still POST", up.GetThread(), err)
		}
		_, err = e.site.SubmitComment(site, validSubmission("article-7", "too late"))
		if code, reason := codeReason(err); code != codes.FailedPrecondition || reason != grpcserver.ReasonThreadClosed {
			t.Errorf("called SubmitComment on a closed thread, got %v %q, want FailedPrecondition %q", code, reason, grpcserver.ReasonThreadClosed)
		}

		// "*" sets both fields: back to the site default and open.
		up, err = e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
			Thread: &commentdv1.Thread{Name: "article-7"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}},
		})
		want = &commentdv1.Thread{Name: "threads/article-7", ThreadId: "article-7",
			ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, EffectiveModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE,
			Etag: unconfigured}
		if err != nil {
			t.Fatalf("called UpdateThread with mask *: %v", err)
		}
		if diff := cmp.Diff(want, up.GetThread(), protocmp.Transform()); diff != "" {
			t.Errorf("called UpdateThread with mask *, got (-want +got):\n%s", diff)
		}
		if c := e.submit(t, validSubmission("article-7", "open again")); c.GetState() != commentdv1.State_STATE_PENDING {
			t.Errorf("called SubmitComment on the reopened pre-moderated thread, got %v, want PENDING", c.GetState())
		}
	})
}

// checkDecision checks the decision recorded on a moderated comment.
func checkDecision(t *testing.T, call string, c *commentdv1.ModeratedComment, moderator string, from, to commentdv1.State, reason string) {
	t.Helper()
	d := c.GetDecision()
	if d.GetModerator() != moderator || d.GetFromState() != from || d.GetToState() != to || d.GetReason() != reason || d.GetDecideTime() == nil {
		t.Errorf("called %s, got decision %v, want moderator %q, %v → %v, reason %q, a decide_time", call, d, moderator, from, to, reason)
	}
	if c.GetComment().GetState() != to {
		t.Errorf("called %s, got comment state %v, want %v", call, c.GetComment().GetState(), to)
	}
}

// A reply stays published when its parent leaves the published comments, as Comment.parent_id
// says: the site lists and counts the reply, not the parent, and GetComment tells it the parent's
// state.
func TestReplyStaysWhenParentLeaves(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	site, mod := e.as(t, siteKeyName), e.as(t, modKeyName)
	tests := []struct {
		name      string
		thread    string
		takeDown  func(name string) error
		wantState commentdv1.State
	}{
		{"rejected", "tree-reject", func(name string) error {
			_, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: name, Reason: "off-topic"})
			return err
		}, commentdv1.State_STATE_REJECTED},
		{"marked spam", "tree-spam", func(name string) error {
			_, err := e.mod.MarkSpam(mod, &commentdv1.MarkSpamRequest{Name: name})
			return err
		}, commentdv1.State_STATE_PENDING},
		{"reopened", "tree-reopen", func(name string) error {
			_, err := e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: name})
			return err
		}, commentdv1.State_STATE_PENDING},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := e.submit(t, validSubmission(tt.thread, "the parent"))
			r := validSubmission(tt.thread, "a reply")
			r.ParentId = parent.GetId()
			reply := e.submit(t, r)
			if err := tt.takeDown(parent.GetName()); err != nil {
				t.Fatalf("taking down the parent %s: %v", parent.GetName(), err)
			}
			list, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: tt.thread})
			if err != nil {
				t.Fatalf("called ListComments(%s): %v", tt.thread, err)
			}
			var ids []string
			for _, c := range list.GetComments() {
				ids = append(ids, c.GetId())
			}
			if diff := cmp.Diff([]string{reply.GetId()}, ids); diff != "" {
				t.Errorf("called ListComments(%s) after the parent was %s, got ids differing from the reply alone (-want +got):\n%s", tt.thread, tt.name, diff)
			}
			count, err := e.site.CountComments(site, &commentdv1.CountCommentsRequest{ThreadIds: []string{tt.thread}})
			if err != nil || len(count.GetCounts()) != 1 || count.GetCounts()[0].GetPublished() != 1 {
				t.Errorf("called CountComments(%s) after the parent was %s, got %v, %v; want 1 (the reply)", tt.thread, tt.name, count.GetCounts(), err)
			}
			got, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: parent.GetName()})
			if err != nil || got.GetComment().GetState() != tt.wantState {
				t.Errorf("called GetComment(%s) after it was %s, got state %v, %v; want %v", parent.GetName(), tt.name, got.GetComment().GetState(), err, tt.wantState)
			}
		})
	}
}
