package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// eventHub shares one subscription to the events channel among a Store's WatchQueue streams. A
// server may serve hundreds of streams (one per moderator watching); a subscription each would
// hold as many Redis connections, against Redis' maxclients, and have every event sent and
// parsed once per stream. The hub subscribes when the first stream joins, parses each message
// once and hands it to every stream without waiting for any (a slow stream waits alone, see
// watcher), and closes the subscription when the last stream leaves.
type eventHub struct {
	rdb     redis.UniversalClient
	channel string

	mu sync.Mutex
	// sub is the subscription a stream joins; nil when no stream runs (or while the last one
	// to leave closes it, when a stream that joins starts another).
	sub *subscription
}

// subscription is one Redis subscription to the events channel and the streams it serves.
type subscription struct {
	ps *redis.PubSub
	// ready is closed once Redis confirmed the subscription or refused it; err then says which.
	ready chan struct{}
	err   error
	// watchers are the streams the subscription's events go to (guarded by eventHub.mu). A
	// watcher leaves it when its stream ends, falls behind or is told of a gap.
	watchers map[*watcher]struct{}
	// cancel ends the context of the Redis calls that set the subscription up, done is closed
	// when run has returned: close uses both to stop it.
	cancel context.CancelFunc
	done   chan struct{}
}

func newEventHub(rdb redis.UniversalClient, channel string) *eventHub {
	return &eventHub{rdb: rdb, channel: channel}
}

// join adds w to the running subscription, starting one if none runs, and returns once the
// subscription is confirmed: events published from then on reach w. leave takes w out, and
// closes the subscription (and waits for its goroutines to end) if w was the last stream on it.
func (h *eventHub) join(ctx context.Context, w *watcher) (leave func(), err error) {
	h.mu.Lock()
	sub := h.sub
	if sub == nil {
		// The subscription outlives the stream that started it: its calls do not end with
		// this stream's context, only when the subscription is closed.
		subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		sub = &subscription{
			// No channel yet: go-redis would connect and subscribe here, under h.mu.
			ps:       h.rdb.Subscribe(subCtx),
			ready:    make(chan struct{}),
			watchers: map[*watcher]struct{}{},
			cancel:   cancel,
			done:     make(chan struct{}),
		}
		h.sub = sub
		go h.run(subCtx, sub)
	}
	sub.watchers[w] = struct{}{}
	h.mu.Unlock()
	leave = func() { h.leave(sub, w) }

	select {
	case <-sub.ready:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	if sub.err != nil {
		leave()
		return nil, sub.err
	}
	return leave, nil
}

// leave takes w out of sub and closes sub if it was its last stream and no other stream can
// join it.
func (h *eventHub) leave(sub *subscription, w *watcher) {
	h.mu.Lock()
	delete(sub.watchers, w)
	last := len(sub.watchers) == 0 && h.sub == sub
	if last {
		h.sub = nil
	}
	h.mu.Unlock()
	if last {
		sub.close()
	}
}

// close ends the subscription (and with it the Redis connection) and waits for run and the
// goroutines of go-redis that read the connection to end.
func (sub *subscription) close() {
	sub.cancel()
	_ = sub.ps.Close() // closing a connection: nothing to report
	<-sub.done
}

// run subscribes, confirms the subscription to the streams waiting in join, and hands the
// events on until the subscription is closed.
func (h *eventHub) run(ctx context.Context, sub *subscription) {
	defer close(sub.done)
	err := sub.ps.Subscribe(ctx, h.channel)
	if err == nil {
		// Subscribe does not wait for Redis; Receive reads the confirmation, so events
		// published after join returns do arrive.
		_, err = sub.ps.Receive(ctx)
	}
	h.mu.Lock()
	if err != nil {
		sub.err = storeError("subscribe to queue events", err)
		if h.sub == sub {
			h.sub = nil // the next stream tries again
		}
	}
	close(sub.ready)
	h.mu.Unlock()
	if err != nil {
		_ = sub.ps.Close()
		return
	}

	// go-redis reads the connection in a goroutine of its own, and reconnects and subscribes
	// again when it fails. It closes the channel when the subscription is closed, and not
	// before: read it to the end, so that goroutine never waits on us.
	for v := range sub.ps.ChannelWithSubscriptions(redis.WithChannelSize(eventBuffer)) {
		switch m := v.(type) {
		case *redis.Message:
			e, ok := parseEvent(m.Payload)
			if !ok {
				// Only our scripts publish on the channel; anything else is not for us.
				continue
			}
			h.deliver(sub, &e, time.Now())
		case *redis.Subscription:
			// The first confirmation was read above: another one means go-redis lost the
			// connection and subscribed again, and whatever was published in between is lost.
			h.endAll(sub, fmt.Errorf("redisstore: queue events: subscription lost and renewed, events may be missing: %w", comment.ErrUnavailable))
		}
	}
	// Closed by leave, with no stream left; any other way it would be a gap for the streams.
	h.endAll(sub, fmt.Errorf("redisstore: queue events: subscription ended: %w", comment.ErrUnavailable))
}

// deliver gives e to every stream of sub; a stream it finds behind leaves sub.
func (h *eventHub) deliver(sub *subscription, e *moderation.QueueEvent, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range sub.watchers {
		if !w.add(e, now) {
			delete(sub.watchers, w)
		}
	}
}

// endAll ends every stream of sub with err once it has taken what it holds; the streams that
// join sub after it start clean.
func (h *eventHub) endAll(sub *subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range sub.watchers {
		w.end(err)
	}
	clear(sub.watchers)
}

// watcher is one WatchQueue stream's share of the events: those held for it, oldest first, and,
// once it must end, why. The hub adds events and never waits for the stream; the stream takes
// them.
type watcher struct {
	stall time.Duration
	// wake holds a token when something was added (an event, the end) since the stream last
	// found nothing to take.
	wake chan struct{}

	mu sync.Mutex
	// held[next:] are the events not yet taken: the first eventBuffer held for the stream, the
	// rest (eventWaitMax at most) waiting for room.
	held []*moderation.QueueEvent
	next int
	// waitSince is when the first event now waiting for room started waiting (when it found
	// the buffer full, or the stream last took an event); zero when none waits.
	waitSince time.Time
	// err is why the stream ends once it has taken what is held; nil while it is served.
	err error
}

func newWatcher(stall time.Duration) *watcher {
	return &watcher{stall: stall, wake: make(chan struct{}, 1)}
}

// add gives e to w and reports whether w still takes events. When e finds w's buffer full and
// the events waiting for room have waited stall, or eventWaitMax of them wait, w falls behind.
func (w *watcher) add(e *moderation.QueueEvent, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false
	}
	if n := len(w.held) - w.next; n >= eventBuffer {
		if w.waitSince.IsZero() {
			w.waitSince = now
		}
		if now.Sub(w.waitSince) >= w.stall || n >= eventBuffer+eventWaitMax {
			w.fallBehind(n - eventBuffer + 1)
			return false
		}
	}
	if w.next > 0 && len(w.held) == cap(w.held) {
		// Reuse the room of the events taken rather than grow.
		w.held = w.held[:copy(w.held, w.held[w.next:])]
		w.next = 0
	}
	w.held = append(w.held, e)
	w.signal()
	return true
}

// take returns the next event held for w, or, when none is left, nil and why w ended (nil if it
// has not). The events that waited stall for room are dropped first, so the stream ends behind
// once it has taken the eventBuffer held before them.
func (w *watcher) take(now time.Time) (*moderation.QueueEvent, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.held) - w.next; w.err == nil && n > eventBuffer && now.Sub(w.waitSince) >= w.stall {
		w.fallBehind(n - eventBuffer)
	}
	if w.next == len(w.held) {
		return nil, w.err
	}
	e := w.held[w.next]
	w.held[w.next] = nil
	w.next++
	switch n := len(w.held) - w.next; {
	case n == 0:
		w.held, w.next = w.held[:0], 0
	case n > eventBuffer:
		// The first of those waiting got room; the next one waits from now.
		w.waitSince = now
	default:
		w.waitSince = time.Time{}
	}
	return e, nil
}

// fallBehind drops the events waiting for room, dropped of them, and ends w as behind. w.mu is
// held.
func (w *watcher) fallBehind(dropped int) {
	clear(w.held[w.next+eventBuffer:])
	w.held = w.held[:w.next+eventBuffer]
	w.waitSince = time.Time{}
	w.err = fmt.Errorf("redisstore: queue events: %d events held for the watcher, %d more dropped (waited up to %s, at most %d wait): %w",
		eventBuffer, dropped, w.stall, eventWaitMax, moderation.ErrWatcherBehind)
	w.signal()
}

// end ends w with err once it has taken what is held, unless it ended already.
func (w *watcher) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		w.signal()
	}
}

// signal wakes the stream if it waits for something to take. w.mu is held.
func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
