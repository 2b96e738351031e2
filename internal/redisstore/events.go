package redisstore

import (
	"context"
	"strings"
	"time"

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

// eventBuffer is how many events WatchQueue holds for a watcher that is busy sending the
// previous ones.
const eventBuffer = 256

// eventWaitMax is how many more events may wait, beyond eventBuffer, for a watcher to make room
// (see watchStall); when one more comes the watcher is behind at once. The streams share one
// subscription, which is read on however slow a watcher is, so the events waiting for a watcher
// are held in the process: at most this many pointers (32 KiB) per watcher, to events shared by
// all of them.
const eventWaitMax = 16 * eventBuffer

// watchStall is how long WatchQueue waits for a watcher whose eventBuffer is full (its client
// reads slowly or not at all) to take an event before it gives up on it: the events waiting for
// room are dropped, and WatchQueue ends with moderation.ErrWatcherBehind once the watcher has
// taken what was held, so the gap is reported rather than missed. Memory stays bounded either
// way (eventWaitMax).
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

// WatchQueue implements moderation.QueueFeed. The streams of a Store share one Redis connection
// (a subscription, see eventHub) while any runs. When that connection fails (a network failure,
// the node serving the channel killed in a Cluster failover) go-redis subscribes again on a new
// one, and messages published in between are lost; every stream then running ends with
// comment.ErrUnavailable, so each watcher is told of the gap (commentctl watch says so and
// reconnects) instead of silently missing events. When the watcher falls behind (see watchStall)
// its stream alone ends, with moderation.ErrWatcherBehind.
func (s *Store) WatchQueue(ctx context.Context, subscribed func(), fn func(moderation.QueueEvent) error) error {
	w := newWatcher(s.watchStall)
	leave, err := s.events.join(ctx, w)
	if err != nil {
		return err
	}
	defer leave()
	subscribed()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := w.take(time.Now())
		if err != nil {
			return err
		}
		if e == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-w.wake:
			}
			continue
		}
		if err := fn(*e); err != nil {
			return err
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

// createWorkflowArgs returns create.lua's arguments for the workflow (ARGV[12..16]): the
// auto-close period, the daily counters, the events channel and the deepest reply. They depend on
// the shard alone,
// so New makes them once per shard (workflowArgs) and Create only reads them.
func (s *Store) createWorkflowArgs(shard int) []any {
	return []any{s.closeAfter.Microseconds(), s.keys.statsBase(shard), statsKeep, s.keys.events(), s.maxDepth}
}
