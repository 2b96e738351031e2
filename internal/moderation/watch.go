package moderation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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

// WatchEvent is one queue event with the comment in the moderator's view, as it was when it was
// read for the watchers of this Service (right after the event, unless something else happened to
// it since). Watchers share it: it is read-only.
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
		v, err := s.eventView(ctx, e)
		switch {
		case errors.Is(err, comment.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("read comment %s of a %s event: %w", e.CommentID, e.Kind, err)
		}
		return send(WatchEvent{Kind: e.Kind, At: e.At, Comment: v})
	})
}

// eventReadKeep is how long a read of an event's comment is kept for the watchers that have not
// taken the event yet. Every watcher gets the event within milliseconds of the others, unless its
// client reads slowly; such a watcher, further behind than this, reads the comment itself.
const eventReadKeep = 5 * time.Second

// eventReads holds the reads of the latest events' comments, one per event, shared by the
// watchers of a Service. Every watcher gets every event; had each read the comment itself (three
// Redis calls: the comment, the author's record, the reports; and the opening of its email and
// address), one held comment would cost a server with 250 watchers 750 Redis calls. Not x/sync's
// singleflight: it shares a call only among callers that overlap it, and a watcher that gets the
// event a millisecond after the first read ended would read again; these reads are kept
// eventReadKeep.
type eventReads struct {
	mu        sync.Mutex
	reads     map[eventKey]*eventRead
	lastSweep time.Time
}

type eventKey struct {
	kind EventKind
	id   string
	at   int64 // µs
}

type eventRead struct {
	done   chan struct{} // closed once v and err are set
	readAt time.Time
	v      View
	err    error
}

// eventView returns the moderator's view of e's comment: read by the first watcher that gets e,
// and by the others from that read. A read that failed is not kept, and one that failed only
// because its watcher left (its context ended) is read again by the next watcher that needs it.
func (s *Service) eventView(ctx context.Context, e QueueEvent) (View, error) {
	key := eventKey{kind: e.Kind, id: e.CommentID, at: e.At.UnixMicro()}
	r, first := s.watchReads.take(key)
	if first {
		r.v, r.err = s.Get(ctx, e.CommentID)
		if r.err != nil && !errors.Is(r.err, comment.ErrNotFound) {
			s.watchReads.drop(key, r)
		}
		close(r.done)
		return r.v, r.err
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return View{}, ctx.Err()
	}
	if r.err != nil && ctx.Err() == nil && (errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded)) {
		return s.eventView(ctx, e)
	}
	return r.v, r.err
}

// take returns the read of key, and true when there was none and the caller must make it.
func (rs *eventReads) take(key eventKey) (*eventRead, bool) {
	now := time.Now()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.reads[key]; ok {
		return r, false
	}
	if rs.reads == nil {
		rs.reads = map[eventKey]*eventRead{}
	}
	// Swept at most once per eventReadKeep, so the map holds the reads of about the last two
	// such periods' events that matched some watcher's filter.
	if now.Sub(rs.lastSweep) >= eventReadKeep {
		for k, r := range rs.reads {
			if now.Sub(r.readAt) >= eventReadKeep {
				delete(rs.reads, k)
			}
		}
		rs.lastSweep = now
	}
	r := &eventRead{done: make(chan struct{}), readAt: now}
	rs.reads[key] = r
	return r, true
}

// drop forgets r, the read of key, unless another has replaced it.
func (rs *eventReads) drop(key eventKey, r *eventRead) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.reads[key] == r {
		delete(rs.reads, key)
	}
}
