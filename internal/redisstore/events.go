package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Queue events travel on one Pub/Sub channel (keys.events). The scripts that change the queue
// publish them (create.lua, decide.lua, reports.lua) in the same atomic step as the change: a
// message names the kind, the comment and its thread, and the time, never comment data, so no
// personal data crosses the channel and the server reads the comment, once for all its watchers
// (moderation.Service.eventView).
//
// Pub/Sub keeps nothing: an instance that is not subscribed when a message is published never
// sees it. Watchers are told so (moderation.QueueFeed).

var _ moderation.QueueFeed = (*Store)(nil)

// eventBuffer is how many messages WatchQueue holds for a watcher that is busy sending the
// previous event (go-redis holds as many again before them).
const eventBuffer = 256

// watchStall is how long WatchQueue waits for a watcher whose eventBuffer is full (its client
// reads slowly or not at all) before it gives up on it: the message that found no room is
// dropped, and WatchQueue ends with moderation.ErrWatcherBehind once the watcher has taken what was
// held, so the gap is reported rather than missed. Memory stays bounded either way. go-redis
// would drop a message after as long on its own, silently.
const watchStall = time.Minute

// eventKind maps a kind's name in messages (as the scripts write it) to the domain's.
func eventKind(name string) (moderation.EventKind, bool) {
	for _, k := range []moderation.EventKind{moderation.EventHeld, moderation.EventReported, moderation.EventSpam, moderation.EventDecided} {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

// WatchQueue implements moderation.QueueFeed. It holds one Redis connection (a subscription) for
// as long as it runs. When that connection fails (a network failure, the node serving the channel
// killed in a Cluster failover) go-redis subscribes again on a new one, and messages published in
// between are lost; WatchQueue then ends with comment.ErrUnavailable, so the watcher is told of
// the gap (commentctl watch says so and reconnects) instead of silently missing events. When the
// watcher falls behind (see watchStall) it ends with moderation.ErrWatcherBehind.
func (s *Store) WatchQueue(ctx context.Context, subscribed func(), fn func(moderation.QueueEvent) error) error {
	ps := s.rdb.Subscribe(ctx, s.keys.events())
	defer ps.Close()
	// Subscribe does not wait for Redis; Receive reads the confirmation, so events published
	// after subscribed() is called do arrive.
	if _, err := ps.Receive(ctx); err != nil {
		return storeError("subscribe to queue events", err)
	}
	subscribed()
	msgs, behind, stop := relayEvents(ps.ChannelWithSubscriptions(redis.WithChannelSize(eventBuffer)), s.watchStall)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v, ok := <-msgs:
			if !ok {
				select {
				case <-behind:
					return fmt.Errorf("redisstore: queue events: %d events waiting for %s: %w", eventBuffer, s.watchStall, moderation.ErrWatcherBehind)
				default:
				}
				return fmt.Errorf("redisstore: queue events: subscription ended: %w", comment.ErrUnavailable)
			}
			m, isMsg := v.(*redis.Message)
			if !isMsg {
				// The first confirmation was read above: another one means go-redis lost the
				// connection and subscribed again, and whatever was published in between is lost.
				return fmt.Errorf("redisstore: queue events: subscription lost and renewed, events may be missing: %w", comment.ErrUnavailable)
			}
			e, ok := parseEvent(m.Payload)
			if !ok {
				// Only our scripts publish on the channel; anything else is not for us.
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

// relayEvents moves go-redis's messages from in to the returned channel, which holds eventBuffer
// of them, so that no message is dropped without the watcher being told. When a message finds the
// channel full for stall, relayEvents drops it, closes behind, and closes the channel once the
// watcher has read what it holds; it also closes it when in closes. stop ends the relay and
// returns once it has ended.
func relayEvents(in <-chan any, stall time.Duration) (out <-chan any, behind <-chan struct{}, stop func()) {
	ch := make(chan any, eventBuffer)
	fell := make(chan struct{})
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		var timer *time.Timer
		for {
			var v any
			select {
			case <-quit:
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				v = m
			}
			select {
			case ch <- v:
				continue
			default:
			}
			if timer == nil {
				timer = time.NewTimer(stall)
			} else {
				timer.Reset(stall)
			}
			select {
			case <-quit:
				return
			case ch <- v:
				timer.Stop()
			case <-timer.C:
				close(fell)
				return
			}
		}
	}()
	return ch, fell, func() {
		close(quit)
		<-done
	}
}

// parseEvent reads "<kind> <commentID> <threadID> <unix µs>".
func parseEvent(payload string) (moderation.QueueEvent, bool) {
	f := strings.Fields(payload)
	if len(f) != 4 {
		return moderation.QueueEvent{}, false
	}
	kind, ok := eventKind(f[0])
	if !ok || !comment.ValidID(f[1]) || !comment.ValidThreadID(f[2]) {
		return moderation.QueueEvent{}, false
	}
	at, err := fromMicros(f[3])
	if err != nil {
		return moderation.QueueEvent{}, false
	}
	return moderation.QueueEvent{Kind: kind, CommentID: f[1], ThreadID: f[2], At: at}, true
}

// createWorkflowArgs returns create.lua's arguments for the workflow (ARGV[12..16]): the
// auto-close period, the daily counters, the events channel and the deepest reply. They depend on
// the shard alone,
// so New makes them once per shard (workflowArgs) and Create only reads them.
func (s *Store) createWorkflowArgs(shard int) []any {
	return []any{s.closeAfter.Microseconds(), s.keys.statsBase(shard), statsKeep, s.keys.events(), s.maxDepth}
}
