package moderation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// EventKind is what happened to a comment in the queue.
type EventKind int

// The kinds of queue event.
const (
	EventHeld     EventKind = iota + 1 // a new comment waits for a moderator
	EventReported                      // readers' reports took a published comment down
	EventSpam                          // a new comment was judged spam
	EventDecided                       // a moderator decided a comment (it left a queue, or entered one)
)

func (k EventKind) String() string {
	switch k {
	case EventHeld:
		return "held"
	case EventReported:
		return "reported"
	case EventSpam:
		return "spam"
	case EventDecided:
		return "decided"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// QueueEvent is one announcement of a change in the queue. It names the comment only: watchers
// read the comment themselves, so no comment data travels with the announcement.
type QueueEvent struct {
	Kind      EventKind
	CommentID string
	ThreadID  string
	At        time.Time
}

// QueueFeed delivers the queue events of every instance sharing the store. Events are not
// stored: a watcher sees those announced while it is subscribed.
type QueueFeed interface {
	// WatchQueue subscribes, calls subscribed once the subscription is in place (events
	// announced after that reach fn), then calls fn with each event until ctx ends, when it
	// returns ctx.Err(), or fn returns an error, which it returns. The subscription ends with it.
	WatchQueue(ctx context.Context, subscribed func(), fn func(QueueEvent) error) error
}

// ErrWatcherBehind ends a watch whose watcher took its events too slowly (its client stopped
// reading): events were dropped rather than held without bound, so the watcher must list the
// queue to see what it missed. It is not comment.ErrUnavailable: the store is fine, and a client
// (or an operator reading the log) told so would look for the fault in the wrong place.
var ErrWatcherBehind = errors.New("moderation: the watcher fell behind the queue events, some were dropped")

// WatchFilter chooses the events a watcher gets.
type WatchFilter struct {
	Kinds    []EventKind // empty means EventHeld and EventReported
	ThreadID string      // optional
}

// Validate checks a watch request and returns a *comment.ValidationError naming every bad field,
// or nil. Watch runs it; the API layer runs it first too, before it gives the stream a place, so
// that a request no retry can mend is refused as such even by a server whose places are taken.
func (f WatchFilter) Validate() error {
	var verr comment.ValidationError
	for i, k := range f.Kinds {
		if k < EventHeld || k > EventDecided {
			verr.Add(fmt.Sprintf("kinds[%d]", i), "unknown event kind")
		}
	}
	if f.ThreadID != "" && !comment.ValidThreadID(f.ThreadID) {
		verr.Add("thread_id", comment.NotAThreadID)
	}
	return verr.Err()
}

// WatchEvent is one queue event with the comment in the moderator's view, as it was when the
// watcher read it (right after the event, unless something else happened to it since).
type WatchEvent struct {
	Kind    EventKind
	At      time.Time
	Comment View
}

// Watch streams queue events matching f to send until ctx ends or send fails; see
// QueueFeed.WatchQueue for subscribed. A comment that is gone by the time it is read is skipped.
func (s *Service) Watch(ctx context.Context, f WatchFilter, subscribed func(), send func(WatchEvent) error) error {
	if s.feed == nil {
		return unsupported("queue feed")
	}
	if err := f.Validate(); err != nil {
		return err
	}
	// Each kind once: the list is looked up on every event, and a request may repeat a kind any
	// number of times.
	var kinds []EventKind
	for _, k := range f.Kinds {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		kinds = []EventKind{EventHeld, EventReported}
	}
	return s.feed.WatchQueue(ctx, subscribed, func(e QueueEvent) error {
		if !slices.Contains(kinds, e.Kind) || (f.ThreadID != "" && e.ThreadID != f.ThreadID) {
			return nil
		}
		v, err := s.Get(ctx, e.CommentID)
		switch {
		case errors.Is(err, comment.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("read comment %s of a %s event: %w", e.CommentID, e.Kind, err)
		}
		return send(WatchEvent{Kind: e.Kind, At: e.At, Comment: v})
	})
}
