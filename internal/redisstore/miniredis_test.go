package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// TestMiniredisRunsTheSameScripts proves the store's scripts run on miniredis, which commentd
// -dev uses. Store behaviour is tested against redis-server everywhere else.
func TestMiniredisRunsTheSameScripts(t *testing.T) {
	t.Parallel()
	s, _ := miniredisStore(t)
	ctx := context.Background()

	// Site pre-moderated: a submission is held; a second thread's comment sits in another shard.
	threads := []string{threadInShard("mini", 3), threadInShard("mini", 11)}
	var held []comment.Comment
	for i, thread := range threads {
		c := draft(s, thread, i)
		got, created, err := s.Create(ctx, c, comment.CreateOptions{DefaultMode: comment.ModePre, RequestID: "once"})
		if err != nil || !created || got.State != comment.StatePending {
			t.Fatalf("Create(%s) on miniredis = state %v, created %v, %v; want pending, created", c.ID, got.State, created, err)
		}
		if again, created, err := s.Create(ctx, draft(s, thread, 9), comment.CreateOptions{DefaultMode: comment.ModePre, RequestID: "once"}); err != nil || created || again.ID != c.ID {
			t.Errorf("Create with a seen request id on miniredis = %s, created %v, %v; want %s, not created", again.ID, created, err, c.ID)
		}
		held = append(held, got)
	}
	reply := draft(s, threads[0], 5)
	reply.ParentID = held[0].ID
	if _, _, err := s.Create(ctx, reply, comment.CreateOptions{}); !errors.Is(err, comment.ErrParentNotPublished) {
		t.Errorf("Create(reply to a held comment) on miniredis = %v, want ErrParentNotPublished", err)
	}

	queue := func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
		return s.ListQueue(ctx, moderation.Query{State: comment.StatePending}, p)
	}
	if diff := cmp.Diff(ids(held), readAll(t, queue, 1)); diff != "" {
		t.Errorf("ListQueue(pending) on miniredis, pages of 1 (-want +got):\n%s", diff)
	}

	// The etag check hashes in the script (redis.sha1hex), which miniredis must do as Redis does.
	etag := moderation.ETag(held[0])
	approved, err := s.Decide(ctx, held[0].ID, moderation.Approve, comment.Decision{Moderator: "anna", At: t0.Add(time.Hour), To: comment.StatePublished, Reason: "ok"}, approveFrom, etag)
	if err != nil || approved.State != comment.StatePublished || approved.Decision == nil || approved.Decision.From != comment.StatePending {
		t.Fatalf("Decide(approve, etag %s) on miniredis = %+v, %v; want published with the decision recorded", etag, approved, err)
	}
	if _, err := s.Decide(ctx, held[0].ID, moderation.Reject, comment.Decision{Moderator: "bert", At: t0.Add(2 * time.Hour), To: comment.StateRejected}, rejectFrom, etag); !errors.Is(err, moderation.ErrStale) {
		t.Errorf("Decide(reject, etag read before the approval) on miniredis = %v, want ErrStale", err)
	}
	got, err := s.Get(ctx, held[0].ID)
	if diff := cmp.Diff(approved, got); err != nil || diff != "" {
		t.Errorf("Get after Decide on miniredis = %v, (-decide +get):\n%s", err, diff)
	}
	if _, err := s.Decide(ctx, held[1].ID, moderation.MarkSpam, comment.Decision{To: comment.StateSpam}, []comment.State{comment.StateRejected}, ""); !errors.Is(err, moderation.ErrInvalidTransition) {
		t.Errorf("Decide(forbidden transition) on miniredis = %v, want ErrInvalidTransition", err)
	}
	page, _, err := pageOf(s.ListPublished(ctx, threads[0], comment.Page{Size: 10}))
	if err != nil || len(page) != 1 || page[0].ID != held[0].ID {
		t.Errorf("ListPublished on miniredis = %v, %v; want [%s]", ids(page), err, held[0].ID)
	}
	if rest, _, err := queue(ctx, comment.Page{Size: 10}); err != nil || len(rest) != 1 || rest[0].ID != held[1].ID {
		t.Errorf("ListQueue(pending) after approving one on miniredis = %v, %v; want [%s]", ids(rest), err, held[1].ID)
	}
}
