package grpcserver

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// WatchQueue streams queue events until the client leaves, the store fails, or the server shuts
// down. The response headers are sent once the subscription is in place, so a client that waits
// for them (grpc.ClientStream.Header) knows that every later event reaches it.
func (s *moderationServer) WatchQueue(r *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
	caller, ok := CallerFrom(stream.Context())
	if !ok {
		return errNoCaller
	}
	// A bad request first: refused for want of a place, it would be retried (RetryInfo) for ever.
	f := watchFilterFromProto(r)
	if err := f.Validate(); err != nil {
		return err
	}
	if !s.keyWatchers.take(caller.Name) {
		return errTooManyKeyWatchers
	}
	defer s.keyWatchers.give(caller.Name)
	select {
	case s.watchers <- struct{}{}:
		defer func() { <-s.watchers }()
	default:
		return errTooManyWatchers
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	// A stream has no end of its own: without this, a graceful stop would wait for every watcher
	// until its deadline and then cut them off without a status.
	stop := context.AfterFunc(s.shutdown, cancel)
	defer stop()

	err := s.moderation.Watch(ctx, f,
		func() {
			// The client sees the failure, if any, on its next receive.
			_ = stream.SendHeader(nil)
		},
		func(e moderation.WatchEvent) error {
			return stream.Send(watchEventToProto(e))
		})
	if s.shutdown.Err() != nil && stream.Context().Err() == nil {
		return errShuttingDown
	}
	return err
}

// keyCounts counts what each API key holds, up to max per key.
type keyCounts struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// take counts one more for key, or reports false when key holds max already.
func (c *keyCounts) take(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return false
	}
	c.n[key]++
	return true
}

// give counts one less for key.
func (c *keyCounts) give(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key]--; c.n[key] <= 0 {
		delete(c.n, key)
	}
}
