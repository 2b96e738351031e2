package moderation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// ETag follows which comment it is and what a decision overturns, the state and the last
// decision, and nothing else.
func TestETag(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	decided := comment.Comment{ID: "07abc", Body: "text", State: comment.StatePublished,
		Decision: &comment.Decision{Moderator: "anna", At: at, From: comment.StatePending, To: comment.StatePublished, Reason: "fine"}}
	base := ETag(decided)
	if !etagPattern.MatchString(base) {
		t.Fatalf("ETag(%+v) = %q; want the form W/\"<16 hex digits>\"", decided, base)
	}
	tests := []struct {
		name    string
		change  func(c *comment.Comment)
		changes bool
	}{
		{"nothing", func(*comment.Comment) {}, false},
		{"another comment", func(c *comment.Comment) { c.ID = "07abd" }, true},
		{"another body, name and reason", func(c *comment.Comment) {
			c.Body, c.AuthorName, c.EmailSealed = "other", "Anonymous", ""
			c.Decision.Reason = "another reason"
		}, false},
		{"taken down by reports", func(c *comment.Comment) { c.State = comment.StatePending }, true},
		{"decided a microsecond later", func(c *comment.Comment) { c.Decision.At = at.Add(time.Microsecond) }, true},
		{"decided by another moderator", func(c *comment.Comment) { c.Decision.Moderator = "bert" }, true},
		{"never decided", func(c *comment.Comment) { c.Decision = nil }, true},
	}
	for _, tt := range tests {
		c := decided
		d := *decided.Decision
		c.Decision = &d
		tt.change(&c)
		if got := ETag(c); (got != base) != tt.changes {
			t.Errorf("ETag after %s = %s, before %s; want a change: %v", tt.name, got, base, tt.changes)
		}
	}
}

// A decision passes its etag to the store; a malformed one is refused before the store, with the
// reason's violations in the same error.
func TestDecideETag(t *testing.T) {
	store := &decideStub{}
	s := NewService(store, testKeyring(t), Options{})
	etag := ETag(comment.Comment{State: comment.StatePending})
	if _, err := s.Decide(context.Background(), "anna", Reject, "00abc", "", etag); err != nil || store.etag != etag {
		t.Errorf("Decide(reject, etag %s) = %v and sent etag %q to the store; want no error and the etag", etag, err, store.etag)
	}
	for _, bad := range []string{"0123456789abcdef", `"0123456789abcdef"`, `W/"0123456789ABCDEF"`, `W/"0123"`, " " + etag} {
		store.calls = 0
		_, err := s.Decide(context.Background(), "anna", Reject, "00abc", "mail me at someone@example.com", bad)
		var verr *comment.ValidationError
		if !errors.As(err, &verr) || len(verr.Violations) != 2 || verr.Violations[1].Field != "etag" {
			t.Errorf("Decide(reject, bad reason, etag %q) = %v; want violations on reason and etag", bad, err)
		}
		if store.calls != 0 {
			t.Errorf("Decide(reject, etag %q) reached the store", bad)
		}
	}
}

// ThreadETag follows what the store keeps of a thread and an update overwrites: the mode, a
// moderator's close and the end of the auto-close period; not a close by age, which comes with
// time and no write.
func TestThreadETag(t *testing.T) {
	ends := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	base := comment.Thread{ID: "post-1", Mode: comment.ModePre, AutoCloseAt: ends}
	tag := ThreadETag(base)
	if !etagPattern.MatchString(tag) {
		t.Fatalf("ThreadETag(%+v) = %q; want the form W/\"<16 hex digits>\"", base, tag)
	}
	if tag == ETag(comment.Comment{}) {
		t.Errorf("ThreadETag(%+v) = %s, the etag of an empty comment", base, tag)
	}
	tests := []struct {
		name    string
		change  func(th *comment.Thread)
		changes bool
	}{
		{"nothing", func(*comment.Thread) {}, false},
		{"another thread", func(th *comment.Thread) { th.ID = "post-2" }, true},
		{"closed by age", func(th *comment.Thread) { th.Closed, th.ClosedByAge = true, true }, false},
		{"closed by a moderator", func(th *comment.Thread) { th.Closed = true }, true},
		{"back to the site default mode", func(th *comment.Thread) { th.Mode = comment.ModeDefault }, true},
		{"post-moderated", func(th *comment.Thread) { th.Mode = comment.ModePost }, true},
		{"a new period, a microsecond later", func(th *comment.Thread) { th.AutoCloseAt = ends.Add(time.Microsecond) }, true},
		{"no period", func(th *comment.Thread) { th.AutoCloseAt = time.Time{} }, true},
	}
	for _, tt := range tests {
		th := base
		tt.change(&th)
		if got := ThreadETag(th); (got != tag) != tt.changes {
			t.Errorf("ThreadETag after %s = %s, before %s; want a change: %v", tt.name, got, tag, tt.changes)
		}
	}
}

// A thread update passes its etag to the store; a malformed one is refused before the store, with
// a bad mode's violation in the same error.
func TestUpdateThreadETag(t *testing.T) {
	store := &threadStub{}
	s := NewService(store, testKeyring(t), Options{})
	pre, bad := comment.ModePre, comment.Mode(7)
	etag := ThreadETag(comment.Thread{})
	if _, err := s.UpdateThread(context.Background(), "anna", "t1", &pre, nil, etag); err != nil || store.etag != etag {
		t.Errorf("UpdateThread(t1, mode pre, etag %s) = %v and sent etag %q to the store; want no error and the etag", etag, err, store.etag)
	}
	for _, e := range []string{"0123456789abcdef", `W/"0123456789ABCDEF"`, " " + etag} {
		store.updates = 0
		_, err := s.UpdateThread(context.Background(), "anna", "t1", &bad, nil, e)
		var verr *comment.ValidationError
		if !errors.As(err, &verr) || len(verr.Violations) != 2 || verr.Violations[1].Field != "thread.etag" {
			t.Errorf("UpdateThread(t1, mode 7, etag %q) = %v; want violations on thread.moderation_mode and thread.etag", e, err)
		}
		if store.updates != 0 {
			t.Errorf("UpdateThread(t1, etag %q) reached the store", e)
		}
	}
}
