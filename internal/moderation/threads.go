package moderation

import (
	"context"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// ThreadFilter narrows ListThreads. The zero value lists every thread with settings of its own.
type ThreadFilter struct {
	// Mode lists only threads with this mode of their own; ModeDefault lists any.
	Mode comment.Mode
	// Closed, when set, lists only threads that are closed (true) or open (false) now, whatever
	// closed them: a thread of the list closed by age counts as closed.
	Closed *bool
}

// Matches reports whether t passes the filter.
func (f ThreadFilter) Matches(t comment.Thread) bool {
	if f.Mode != comment.ModeDefault && t.Mode != f.Mode {
		return false
	}
	return f.Closed == nil || *f.Closed == t.Closed
}

// ListedThread is one thread of ListThreads: its settings and when a moderator last changed them.
type ListedThread struct {
	comment.Thread
	// Changed is the time of the last change of the thread's settings; zero when unknown (a
	// thread configured before the store kept the list, found by the backfill).
	Changed time.Time
}

// ThreadLister lists the threads that have settings of their own.
type ThreadLister interface {
	// ListThreads returns one page of the threads with a mode of their own or closed by a
	// moderator, most recently changed first (then by id, descending), that match f, and the next
	// page token. A thread whose settings change between two pages moves to the front of the
	// list: a listing in pages may then miss it or show it twice. The filter is applied to each
	// page after it is read, so a page may hold fewer than p.Size threads, or none, and still
	// carry a token.
	ListThreads(ctx context.Context, f ThreadFilter, p comment.Page) ([]ListedThread, string, error)
}

// ListThreads returns one page of the threads with settings of their own (see ThreadLister).
func (s *Service) ListThreads(ctx context.Context, f ThreadFilter, p comment.Page) ([]ListedThread, string, error) {
	if err := f.Validate(p); err != nil {
		return nil, "", err
	}
	p.Size = comment.ClampPageSize(p.Size)
	return s.store.ListThreads(ctx, f, p)
}

// Validate checks a ListThreads request and returns a *comment.ValidationError naming every bad
// field, or nil.
func (f ThreadFilter) Validate(p comment.Page) error {
	var verr comment.ValidationError
	if f.Mode < comment.ModeDefault || f.Mode > comment.ModePost {
		verr.Add("moderation_mode", "unknown mode")
	}
	comment.CheckPageSize(&verr, p.Size)
	return verr.Err()
}
