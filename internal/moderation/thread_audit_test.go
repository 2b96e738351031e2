package moderation_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// colleagueFirst is the real store, except that a colleague's update of the same thread lands
// just before each of the caller's updates: the moment two moderators press the key at once.
type colleagueFirst struct {
	*redisstore.Store
	mode   *comment.Mode
	closed *bool
}

func (s colleagueFirst) UpdateThread(ctx context.Context, moderator, threadID string, mode *comment.Mode, closed *bool, etag string) (comment.Thread, comment.Thread, error) {
	if _, _, err := s.Store.UpdateThread(ctx, "ben", threadID, s.mode, s.closed, ""); err != nil {
		return comment.Thread{}, comment.Thread{}, err
	}
	return s.Store.UpdateThread(ctx, moderator, threadID, mode, closed, etag)
}

// A thread update's audit entry says what that update changed, from the thread as it was right
// before it: an update a colleague's made a no-op records nothing (the colleague's own call
// records the change), and one that overwrites a colleague's change names that change as its
// starting point, not the thread as the caller last read it.
func TestUpdateThreadAuditsWhatItChanged(t *testing.T) {
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
	addr := redistest.Start(t).Addr
	ring, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatalf("NewKeyring = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store, err := redisstore.New(ctx, redistest.Client(t, addr), redisstore.Options{Prefix: redistest.Prefix(t)})
			if err != nil {
				t.Fatalf("redisstore.New = %v", err)
			}
			s := moderation.NewService(colleagueFirst{store, tt.colleagueMode, tt.colleagueClosed}, ring, moderation.Options{Audit: store})
			if _, err := s.UpdateThread(ctx, "anna", "t1", tt.mode, tt.closed, ""); err != nil {
				t.Fatalf("UpdateThread = %v", err)
			}
			events, _, err := store.ListAudit(ctx, moderation.AuditQuery{Target: "threads/t1", Moderator: "anna"}, comment.Page{})
			if err != nil {
				t.Fatalf("ListAudit = %v", err)
			}
			var got []string
			for _, e := range events {
				got = append(got, e.Reason)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("audit reasons after the colleague's update and anna's (-want +got):\n%s", diff)
			}
		})
	}
}
