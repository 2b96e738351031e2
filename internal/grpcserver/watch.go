package grpcserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// WatchSubscribedHeader is the response header, with the value "subscribed", that WatchQueue
// sends once its subscription is in place: a client that has it (grpc.ClientStream.Header) knows
// that every later event reaches it. A refused stream has headers too (the request id, sent with
// every status), so only this one tells a subscription.
const WatchSubscribedHeader = "commentd-watch"

// WatchQueue streams queue events until the client leaves, the store fails, or the server shuts
// down. See WatchSubscribedHeader for the headers.
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
			_ = stream.SendHeader(metadata.Pairs(WatchSubscribedHeader, "subscribed"))
		},
		func(e moderation.WatchEvent) error {
			return sendWithin(stream, watchEventToProto(e), s.watchSendTimeout)
		})
	if s.shutdown.Err() != nil && stream.Context().Err() == nil {
		return errShuttingDown
	}
	return err
}

// sendWithin sends msg on stream, or gives up after timeout with an error that ends the stream.
//
// gRPC's Send has no deadline: it waits while the client's HTTP/2 flow control window is full,
// which it stays while the client does not read (a stalled or suspended client, or commentctl
// watch with its output piped into a pager nobody scrolls), and so it held the stream, its Redis
// subscription and its place among the watchers for as long as the client stayed connected. The
// send runs in a goroutine of its own so the wait can be bounded. When it is given up on, the
// handler returns and gRPC closes the stream, which ends the send still waiting in that
// goroutine: the stream owns it.
func sendWithin(stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse], msg *commentdv1.WatchQueueResponse, timeout time.Duration) error {
	sent := make(chan error, 1)
	go func() { sent <- stream.Send(msg) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-sent:
		return err
	case <-t.C:
		return fmt.Errorf("grpcserver: a WatchQueue event waited %s for the client to read the ones before it: %w", timeout, moderation.ErrWatcherBehind)
	}
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
