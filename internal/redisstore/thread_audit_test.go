package redisstore

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// A thread update's audit entry says what that update changed, from the thread as it was right
// before it: an update a colleague's made a no-op records nothing (the colleague's own call
// records the change), and one that overwrites a colleague's change names that change as its
// starting point, not the thread as the caller last read it. The colleague's update lands just
// before the caller's: the moment two moderators press the key at once.
func TestUpdateThreadAuditsWhatItChanged(t *testing.T) {
	t.Parallel()
	pre, post := comment.ModePre, comment.ModePost
	closed, open := true, false
	tests := []struct {
		name            string
		colleagueMode   *comment.Mode
		colleagueClosed *bool
		mode            *comment.Mode
		closed          *bool
		want            []string // the reasons the caller's call records
	}{
		{"same mode as the colleague", &pre, nil, &pre, nil, nil},
		{"closed by the colleague first", nil, &closed, nil, &closed, nil},
		{"mode over the colleague's", &post, nil, &pre, nil, []string{"moderation mode post -> pre"}},
		{"reopen what the colleague closed", nil, &closed, nil, &open, []string{"closed true -> false"}},
		{"mode while the colleague closes", nil, &closed, &pre, nil, []string{"moderation mode default -> pre"}},
		{"nobody else", nil, nil, &pre, &closed, []string{"moderation mode default -> pre; closed false -> true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			ctx := context.Background()
			if _, _, err := ts.UpdateThread(ctx, "ben", "t1", tt.colleagueMode, tt.colleagueClosed, ""); err != nil {
				t.Fatalf("UpdateThread(ben, t1) = %v", err)
			}
			if _, _, err := ts.UpdateThread(ctx, "anna", "t1", tt.mode, tt.closed, ""); err != nil {
				t.Fatalf("UpdateThread(anna, t1) = %v", err)
			}
			events, _, err := ts.ListAudit(ctx, moderation.AuditQuery{Target: "threads/t1", Moderator: "anna"}, comment.Page{})
			if err != nil {
				t.Fatalf("ListAudit(threads/t1 by anna) = %v", err)
			}
			var got []string
			for _, e := range events {
				got = append(got, e.Reason)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("audit reasons of anna's update after the colleague's (-want +got):\n%s", diff)
			}
		})
	}
}
