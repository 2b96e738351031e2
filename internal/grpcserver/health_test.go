package grpcserver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// healthNames are the names health reports on: the whole server and each API.
var healthNames = []string{"", "commentd.v1.CommentService", "commentd.v1.ModerationService"}

// TestWatchHealth stops and restarts Redis under WatchHealth: health must follow, and each change
// must be logged once, not on every tick.
func TestWatchHealth(t *testing.T) {
	rs := redistest.Start(t)
	e := newEnv(t, envOptions{redisAddr: rs.Addr})
	e.srv.SetServing(false)
	health := healthgrpc.NewHealthClient(e.conn)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.srv.WatchHealth(ctx, e.store.Ping, 50*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	waitFor := func(step string, want healthgrpc.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, name := range healthNames {
			var got healthgrpc.HealthCheckResponse_ServingStatus
			var err error
			ok := eventually(5*time.Second, func() bool {
				var resp *healthgrpc.HealthCheckResponse
				resp, err = health.Check(t.Context(), &healthgrpc.HealthCheckRequest{Service: name})
				got = resp.GetStatus()
				return err == nil && got == want
			})
			if !ok {
				t.Fatalf("%s: called Health.Check(%q) for 5s, got %v, %v; want %v", step, name, got, err, want)
			}
		}
	}

	waitFor("with Redis up", healthgrpc.HealthCheckResponse_SERVING)
	rs.Stop()
	waitFor("after Redis stopped", healthgrpc.HealthCheckResponse_NOT_SERVING)
	time.Sleep(300 * time.Millisecond) // several more failed pings
	rs.Restart(t)
	waitFor("after Redis restarted", healthgrpc.HealthCheckResponse_SERVING)
	time.Sleep(300 * time.Millisecond) // several more good pings

	if n := len(e.logs.find(t, "store unreachable; not serving", nil)); n != 1 {
		t.Errorf("ran WatchHealth through one outage, got %d 'unreachable' log lines, want 1", n)
	}
	if n := len(e.logs.find(t, "store reachable; serving", nil)); n != 2 {
		t.Errorf("ran WatchHealth through one outage, got %d 'reachable' log lines, want 2 (start and recovery)", n)
	}
}

// TestShutdown checks that Shutdown reports NOT_SERVING to watchers first, and stops hard when
// its context ends while a call (here an open health watch) is still running.
func TestShutdown(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	watch, err := healthgrpc.NewHealthClient(e.conn).Watch(t.Context(), &healthgrpc.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("called Health.Watch: %v", err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
		t.Fatalf("called Health.Watch, got first status %v, %v; want SERVING", resp.GetStatus(), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	e.srv.Shutdown(ctx)
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("called Shutdown with a 200ms deadline and a call still open, got it to return after %v, want soon after the deadline", d)
	}

	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_NOT_SERVING {
		t.Errorf("called Shutdown, got the watcher's next status %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	_, err = watch.Recv()
	if code := status.Code(err); code != codes.Unavailable && code != codes.Canceled {
		t.Errorf("called Shutdown, got the open watch ending with %v, want the stream closed (Unavailable or Canceled)", err)
	}
	// Shutdown is safe to call again (the env's cleanup does).
}
