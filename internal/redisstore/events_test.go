package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// watch starts WatchQueue on s and returns the events it receives, once it is subscribed. The
// watcher stops when the test ends.
func watch(t *testing.T, s *Store) <-chan moderation.QueueEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan moderation.QueueEvent, 100)
	subscribed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.WatchQueue(ctx, func() { close(subscribed) }, func(e moderation.QueueEvent) error {
			events <- e
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchQueue after its context ended = %v, want context.Canceled", err)
		}
	})
	select {
	case <-subscribed:
	case err := <-done:
		t.Fatalf("WatchQueue = %v before it subscribed", err)
	case <-time.After(5 * time.Second):
		t.Fatalf("WatchQueue did not subscribe within 5s")
	}
	return events
}

// nextEvents reads n events, failing the test if they do not arrive within a few seconds.
func nextEvents(t *testing.T, events <-chan moderation.QueueEvent, n int) []moderation.QueueEvent {
	t.Helper()
	var out []moderation.QueueEvent
	for range n {
		select {
		case e := <-events:
			out = append(out, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d events %+v, want %d", len(out), out, n)
		}
	}
	return out
}

func TestQueueEvents(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	events := watch(t, ts.Store)
	other := newTestStore(t) // another prefix: another site sharing the Redis
	otherEvents := watch(t, other.Store)

	published := mustCreate(t, ts.Store, draft(ts.Store, "ev", 1), comment.CreateOptions{})
	held := mustCreate(t, ts.Store, pendingDraft(ts.Store, "ev", 2, t0.Add(time.Second)), comment.CreateOptions{})
	sp := pendingDraft(ts.Store, "ev-spam", 3, t0.Add(2*time.Second))
	sp.State = comment.StateSpam
	sp = mustCreate(t, ts.Store, sp, comment.CreateOptions{})
	decidedAt := t0.Add(time.Hour)
	if _, err := ts.Decide(ctx, held.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: decidedAt, To: comment.StatePublished}, approveFrom, ""); err != nil {
		t.Fatalf("Decide(approve) = %v", err)
	}
	// A published comment rejected entered one: an event too.
	if _, err := ts.Decide(ctx, published.ID, moderation.Reject, comment.Decision{Moderator: "anna", At: decidedAt, To: comment.StateRejected}, rejectFrom, ""); err != nil {
		t.Fatalf("Decide(reject) = %v", err)
	}
	reportAt := t0.Add(2 * time.Hour)
	if _, _, err := ts.AddReport(ctx, held.ID, moderation.Report{At: reportAt}, "reader-1", 1); err != nil {
		t.Fatalf("AddReport = %v", err)
	}

	want := []moderation.QueueEvent{
		{Kind: moderation.EventHeld, CommentID: held.ID, ThreadID: "ev", At: held.CreatedAt},
		{Kind: moderation.EventSpam, CommentID: sp.ID, ThreadID: "ev-spam", At: sp.CreatedAt},
		{Kind: moderation.EventDecided, CommentID: held.ID, ThreadID: "ev", At: decidedAt},
		{Kind: moderation.EventDecided, CommentID: published.ID, ThreadID: "ev", At: decidedAt},
		{Kind: moderation.EventReported, CommentID: held.ID, ThreadID: "ev", At: reportAt},
	}
	if diff := cmp.Diff(want, nextEvents(t, events, len(want))); diff != "" {
		t.Errorf("events of a submission, a spam verdict, a decision and a takedown (-want +got):\n%s", diff)
	}
	select {
	case e := <-events:
		t.Errorf("received %+v after the expected events, want nothing more", e)
	case e := <-otherEvents:
		t.Errorf("a watcher of another prefix received %+v, want nothing", e)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWatchQueueStopsOnHandlerError(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	stop := errors.New("enough")
	done := make(chan error, 1)
	subscribed := make(chan struct{})
	go func() {
		done <- ts.WatchQueue(context.Background(), func() { close(subscribed) }, func(moderation.QueueEvent) error { return stop })
	}()
	<-subscribed
	mustCreate(t, ts.Store, pendingDraft(ts.Store, "stop", 1, t0), comment.CreateOptions{})
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("WatchQueue with a failing handler = %v, want the handler's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("WatchQueue did not return after its handler failed")
	}
}

// TestWatchQueueEndsWhenSubscriptionIsLost: when the subscription's connection fails (here killed
// by Redis; in a Cluster failover, the node serving the channel dies), go-redis subscribes again
// and the events published in between are gone. WatchQueue must end with ErrUnavailable so the
// watcher learns of the gap, rather than go on as if it had missed nothing.
func TestWatchQueueEndsWhenSubscriptionIsLost(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t) // its own server: CLIENT KILL TYPE pubsub must not reach other tests
	rdb := redistest.Client(t, srv.Addr)
	s, err := New(context.Background(), rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	subscribed := make(chan struct{})
	go func() {
		done <- s.WatchQueue(context.Background(), func() { close(subscribed) }, func(moderation.QueueEvent) error { return nil })
	}()
	<-subscribed
	if err := rdb.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("WatchQueue after its subscription was killed = %v, want comment.ErrUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("WatchQueue still running 10s after its subscription was killed: events published meanwhile were lost without a word")
	}
}

// TestWatchQueueEndsWhenTheWatcherFallsBehind: a watcher that stops taking events (its client
// reads slowly or not at all) while more than eventBuffer arrive cannot be given all of them.
// WatchQueue must not drop the excess silently and go on: once the watcher has taken the events
// held for it, it ends with moderation.ErrWatcherBehind, so the client knows to list the queue,
// and not with comment.ErrUnavailable: the store is fine.
func TestWatchQueueEndsWhenTheWatcherFallsBehind(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ts.watchStall = 200 * time.Millisecond
	ctx := context.Background()
	release := make(chan struct{})
	var got []string
	done := make(chan error, 1)
	subscribed := make(chan struct{})
	go func() {
		done <- ts.WatchQueue(ctx, func() { close(subscribed) }, func(e moderation.QueueEvent) error {
			if len(got) == 0 {
				<-release // a client that stopped reading
			}
			got = append(got, e.CommentID)
			return nil
		})
	}()
	<-subscribed
	const published = 3 * eventBuffer
	pipe := ts.rdb.Pipeline()
	for i := range published {
		pipe.Publish(ctx, ts.keys.events(), fmt.Sprintf("held c%d t %d", i, micros(t0)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("publishing %d events: %v", published, err)
	}
	time.Sleep(4 * ts.watchStall)
	close(release)
	select {
	case err := <-done:
		if !errors.Is(err, moderation.ErrWatcherBehind) || errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("WatchQueue of a watcher that fell behind = %v, want moderation.ErrWatcherBehind, not comment.ErrUnavailable", err)
		}
		if len(got) == 0 || len(got) >= published {
			t.Fatalf("WatchQueue gave the watcher %d of %d events before it ended, want some but not all", len(got), published)
		}
		for i, id := range got {
			if want := fmt.Sprintf("c%d", i); id != want {
				t.Fatalf("event %d the watcher got = %s, want %s: the events before the gap come in order", i, id, want)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("WatchQueue still running 5s after its watcher stalled for %s with %d events waiting: the ones that find no room are dropped without a word", 4*ts.watchStall, published)
	}
}
