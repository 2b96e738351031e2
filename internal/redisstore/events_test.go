package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

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
// and the events published in between are gone. Every stream on it must end with ErrUnavailable
// so each watcher learns of the gap, rather than go on as if it had missed nothing; a stream
// that subscribes after that has missed nothing and runs on.
func TestWatchQueueEndsWhenSubscriptionIsLost(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t) // its own server: CLIENT KILL TYPE pubsub must not reach other tests
	rdb := redistest.Client(t, srv.Addr)
	s, err := New(context.Background(), rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	streams := openStreams(t, s, n)
	if err := rdb.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	for i, st := range streams {
		if err := ended(t, st, "its subscription was killed: events published meanwhile were lost without a word"); !errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("WatchQueue (stream %d of %d) after its subscription was killed = %v, want comment.ErrUnavailable", i+1, n, err)
		}
	}

	after := openStreams(t, s, 1)[0]
	held := mustCreate(t, s, pendingDraft(s, "lost", 1, t0), comment.CreateOptions{})
	if got := nextEvents(t, after.events, 1); got[0].CommentID != held.ID {
		t.Errorf("a stream opened after the subscription was renewed got %+v, want the event of %s", got, held.ID)
	}
	select {
	case err := <-after.done:
		t.Errorf("WatchQueue opened after the subscription was renewed = %v, want it running", err)
	default:
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
	publish(t, ts, 0, published)
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

// stream is one WatchQueue run by a test: the events it got and, once it ended, its error.
type stream struct {
	events <-chan moderation.QueueEvent
	done   <-chan error
	cancel context.CancelFunc
}

// openStreams starts n WatchQueue streams on s and returns them once each has been told it is
// subscribed. The tests end them (cancel, or a fault), and every stream still running when the
// test ends is cancelled then.
func openStreams(t *testing.T, s *Store, n int) []stream {
	t.Helper()
	var out []stream
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		events := make(chan moderation.QueueEvent, 2*(eventBuffer+eventWaitMax)) // never full: the tests stall streams on purpose only
		done := make(chan error, 1)
		subscribed := make(chan struct{})
		go func() {
			done <- s.WatchQueue(ctx, func() { close(subscribed) }, func(e moderation.QueueEvent) error {
				events <- e
				return nil
			})
		}()
		select {
		case <-subscribed:
		case err := <-done:
			t.Fatalf("WatchQueue (stream %d of %d) = %v before it subscribed", i+1, n, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("WatchQueue (stream %d of %d) did not subscribe within 5s", i+1, n)
		}
		out = append(out, stream{events: events, done: done, cancel: cancel})
	}
	return out
}

// ended waits for st to end and returns its error, failing the test if it does not end within
// a few seconds.
func ended(t *testing.T, st stream, what string) error {
	t.Helper()
	select {
	case err := <-st.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("WatchQueue still running 10s after %s", what)
		return nil
	}
}

// pubsubClients returns how many of the clients of rdb's Redis server are in Pub/Sub mode
// (CLIENT LIST TYPE pubsub, a line each): the subscriptions open on it.
func pubsubClients(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	list, err := rdb.Do(context.Background(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatalf("CLIENT LIST TYPE pubsub = %v", err)
	}
	return strings.Count(list, "\n")
}

// TestWatchQueueStreamsShareOneSubscription: a server may serve hundreds of WatchQueue streams;
// they must not hold a Redis connection each. The streams of one Store share one subscription, it
// delivers every event to each of them, and it is closed when the last stream ends, leaving no
// connection or goroutine behind; the next stream subscribes again.
func TestWatchQueueStreamsShareOneSubscription(t *testing.T) {
	// Not parallel: goleak counts every goroutine of the test binary.
	srv := redistest.Start(t) // its own server: CLIENT LIST must count this test's connections only
	rdb := redistest.Client(t, srv.Addr)
	ctx := context.Background()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	before := goleak.IgnoreCurrent()

	const n = 8
	streams := openStreams(t, s, n)
	if got := pubsubClients(t, rdb); got != 1 {
		t.Errorf("Pub/Sub connections on Redis with %d WatchQueue streams open = %d, want 1", n, got)
	}
	held := mustCreate(t, s, pendingDraft(s, "share", 1, t0), comment.CreateOptions{})
	want := []moderation.QueueEvent{{Kind: moderation.EventHeld, CommentID: held.ID, ThreadID: "share", At: held.CreatedAt}}
	for i, st := range streams {
		if diff := cmp.Diff(want, nextEvents(t, st.events, 1)); diff != "" {
			t.Errorf("stream %d of %d: events of a held comment (-want +got):\n%s", i+1, n, diff)
		}
	}

	// All but one leave: the subscription stays for the last.
	for _, st := range streams[1:] {
		st.cancel()
		if err := ended(t, st, "its context ended"); !errors.Is(err, context.Canceled) {
			t.Errorf("WatchQueue after its context ended = %v, want context.Canceled", err)
		}
	}
	again := mustCreate(t, s, pendingDraft(s, "share", 2, t0.Add(time.Second)), comment.CreateOptions{})
	if got := nextEvents(t, streams[0].events, 1); got[0].CommentID != again.ID {
		t.Errorf("the stream left after %d ended got %+v, want the event of %s", n-1, got, again.ID)
	}
	streams[0].cancel()
	if err := ended(t, streams[0], "its context ended"); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchQueue after its context ended = %v, want context.Canceled", err)
	}
	// Redis notices a closed connection when it next reads from it: wait for that, within bounds.
	for deadline := time.Now().Add(10 * time.Second); pubsubClients(t, rdb) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Pub/Sub connections on Redis 10s after every WatchQueue stream ended = %d, want 0", pubsubClients(t, rdb))
		}
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left after every WatchQueue stream ended: %v", err)
	}

	// The next stream subscribes anew.
	next := openStreams(t, s, 1)[0]
	if got := pubsubClients(t, rdb); got != 1 {
		t.Errorf("Pub/Sub connections on Redis with a WatchQueue stream opened after the others ended = %d, want 1", got)
	}
	last := mustCreate(t, s, pendingDraft(s, "share", 3, t0.Add(2*time.Second)), comment.CreateOptions{})
	if got := nextEvents(t, next.events, 1); got[0].CommentID != last.ID {
		t.Errorf("a stream opened after the others ended got %+v, want the event of %s", got, last.ID)
	}
}

// TestWatchQueueSlowStreamHoldsNoOtherBack: the streams share one subscription, so a stream whose
// watcher stops taking events must not hold back the others: they get every event while it
// waits, and it alone ends, behind, once its watcher has taken what was held for it.
func TestWatchQueueSlowStreamHoldsNoOtherBack(t *testing.T) {
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
	const n = 3
	others := openStreams(t, ts.Store, n)

	const published = 3 * eventBuffer
	publish(t, ts, 0, published)
	for i, st := range others {
		for j, e := range nextEvents(t, st.events, published) {
			if want := fmt.Sprintf("c%d", j); e.CommentID != want {
				t.Fatalf("stream %d of %d beside a stalled one: event %d = %s, want %s", i+1, n, j, e.CommentID, want)
			}
		}
	}
	time.Sleep(4 * ts.watchStall)
	close(release)
	select {
	case err := <-done:
		if !errors.Is(err, moderation.ErrWatcherBehind) {
			t.Errorf("WatchQueue of a watcher that fell behind = %v, want moderation.ErrWatcherBehind", err)
		}
		if len(got) == 0 || len(got) >= published {
			t.Fatalf("WatchQueue gave the watcher %d of %d events before it ended, want some but not all", len(got), published)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("WatchQueue still running 5s after its watcher stalled for %s with %d events waiting", 4*ts.watchStall, published)
	}

	// The others run on.
	publish(t, ts, published, 1)
	for i, st := range others {
		if e := nextEvents(t, st.events, 1)[0]; e.CommentID != fmt.Sprintf("c%d", published) {
			t.Errorf("stream %d of %d after the stalled one ended: event %s, want c%d", i+1, n, e.CommentID, published)
		}
	}
}

// TestWatchQueueBoundsWhatWaits: however long watchStall is, a stream holds at most eventBuffer
// events plus eventWaitMax waiting for room. A watcher that takes none while more come is behind
// at once, and gets the eventBuffer held for it, then ErrWatcherBehind.
func TestWatchQueueBoundsWhatWaits(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ts.watchStall = 24 * time.Hour // only the bound can end the stream
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
	// A stream beside it gets every event: the last one published has passed the stalled stream.
	other := openStreams(t, ts.Store, 1)[0]
	const published = 1 + eventBuffer + eventWaitMax + 1 // taken, held, waiting, one too many
	publish(t, ts, 0, published)
	nextEvents(t, other.events, published)
	close(release)
	select {
	case err := <-done:
		if !errors.Is(err, moderation.ErrWatcherBehind) {
			t.Errorf("WatchQueue of a watcher %d events behind = %v, want moderation.ErrWatcherBehind", published, err)
		}
		if len(got) != 1+eventBuffer {
			t.Fatalf("WatchQueue gave a watcher %d behind %d events before it ended, want %d: the one it was taking and those held", published, len(got), 1+eventBuffer)
		}
		for i, id := range got {
			if want := fmt.Sprintf("c%d", i); id != want {
				t.Fatalf("event %d the watcher got = %s, want %s: the events before the gap come in order", i, id, want)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("WatchQueue still running 5s after its watcher took its events, %d behind", published)
	}
}

// publish publishes held events of comments c<from>..c<from+n-1> on ts's channel, as the scripts
// would.
func publish(t *testing.T, ts testStore, from, n int) {
	t.Helper()
	ctx := context.Background()
	pipe := ts.rdb.Pipeline()
	for i := from; i < from+n; i++ {
		pipe.Publish(ctx, ts.keys.events(), fmt.Sprintf("held c%d t %d", i, micros(t0)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("publishing %d events: %v", n, err)
	}
}

// TestClusterWatchQueueEndsWhenTheChannelsNodeFails: on a Cluster the subscription is held by the
// master of the events channel's slot. When that node dies and its replica takes over, go-redis
// subscribes again on the new master; every stream must end with ErrUnavailable (events published
// meanwhile are lost), and a stream opened afterwards gets the events. go-redis finds the new
// master when it next reloads its view of the cluster, which with nothing else running here is
// after its ClusterStateReloadInterval (a minute): hence the long bound.
func TestClusterWatchQueueEndsWhenTheChannelsNodeFails(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartClusterWithReplicas(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 3
	streams := openStreams(t, s, n)

	slot, err := s.rdb.ClusterKeySlot(ctx, s.keys.events()).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s: %v", s.keys.events(), err)
	}
	owner, err := cluster.SlotOwner(ctx, int(slot))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cluster.Nodes, func(node *redistest.Server) bool { return node.Addr == owner })
	if i < 0 {
		t.Fatalf("the events channel's slot %d is served by %s, not one of the masters %v", slot, owner, cluster.Addrs)
	}
	cluster.Nodes[i].Stop()
	for j, st := range streams {
		select {
		case err := <-st.done:
			if !errors.Is(err, comment.ErrUnavailable) {
				t.Errorf("WatchQueue (stream %d of %d) after the channel's node %s died = %v, want comment.ErrUnavailable", j+1, n, owner, err)
			}
		case <-ctx.Done():
			t.Fatalf("WatchQueue (stream %d of %d) still running 2 minutes after the channel's node %s died", j+1, n, owner)
		}
	}

	after := openStreams(t, s, 1)[0]
	held := mustCreate(t, s, pendingDraft(s, threadInShard("failover", 0), 0, t0), comment.CreateOptions{})
	if got := nextEvents(t, after.events, 1); got[0].CommentID != held.ID {
		t.Errorf("a stream opened after the failover got %+v, want the event of %s", got, held.ID)
	}
}
