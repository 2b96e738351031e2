package moderation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// ETag follows what a decision overturns, the state and the last decision, and nothing else.
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
