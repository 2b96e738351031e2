package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Queue events travel on one Pub/Sub channel (keys.events). The scripts that change the queue
// publish them (create.lua, decide.lua, reports.lua) in the same atomic step as the change: a
// message names the kind, the comment and its thread, and the time, never comment data, so no
// personal data crosses the channel and a watcher reads the comment it needs itself.
//
// Pub/Sub keeps nothing: an instance that is not subscribed when a message is published never
// sees it. Watchers are told so (moderation.QueueFeed).

var _ moderation.QueueFeed = (*Store)(nil)

// eventBuffer is how many messages go-redis holds for a watcher that is busy sending the
// previous event; beyond it the watcher falls behind and go-redis drops messages after its
// send timeout rather than let one slow watcher grow memory without bound.
const eventBuffer = 256

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
// the gap (commentctl watch says so and reconnects) instead of silently missing events.
func (s *Store) WatchQueue(ctx context.Context, subscribed func(), fn func(moderation.QueueEvent) error) error {
	ps := s.rdb.Subscribe(ctx, s.keys.events())
	defer ps.Close()
	// Subscribe does not wait for Redis; Receive reads the confirmation, so events published
	// after subscribed() is called do arrive.
	if _, err := ps.Receive(ctx); err != nil {
		return storeError("subscribe to queue events", err)
	}
	subscribed()
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(eventBuffer))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v, ok := <-msgs:
			if !ok {
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

// createWorkflowArgs returns create.lua's arguments for the workflow (ARGV[12..15]): the
// auto-close period, the daily counters and the events channel.
func (s *Store) createWorkflowArgs(shard int) []any {
	return []any{s.closeAfter.Microseconds(), s.keys.statsBase(shard), statsKeep, s.keys.events()}
}
