package grpcserver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// healthNames are the names health reports on: the whole server and each API.
var healthNames = []string{"", "commentd.v1.CommentService", "commentd.v1.ModerationService"}

// TestWatchHealth stops and restarts Redis under WatchHealth: health must follow, and each change
// must be logged once, not on every tick.
func TestWatchHealth(t *testing.T) {
	const healthEvery = 250 * time.Millisecond
	rs := redistest.Start(t)
	e := newEnv(t, envOptions{redisAddr: rs.Addr})
	e.srv.SetServing(false)
	health := healthgrpc.NewHealthClient(e.conn)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Each ping may take one interval: long enough that a loaded machine (the race detector,
		// other tests) does not time out a ping to a Redis that is up, which would log an outage
		// that never was.
		e.srv.WatchHealth(ctx, e.store.Ping, healthEvery)
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
	time.Sleep(4 * healthEvery) // several more failed pings
	rs.Restart(t)
	waitFor("after Redis restarted", healthgrpc.HealthCheckResponse_SERVING)
	time.Sleep(4 * healthEvery) // several more good pings

	if n := len(e.logs.find(t, "store unreachable; not serving", nil)); n != 1 {
		t.Errorf("ran WatchHealth through one outage, got %d 'unreachable' log lines, want 1", n)
	}
	if n := len(e.logs.find(t, "store reachable; serving", nil)); n != 2 {
		t.Errorf("ran WatchHealth through one outage, got %d 'reachable' log lines, want 2 (start and recovery)", n)
	}
}

// TestShutdown opens a health Watch, as a client-side health checker or a proxy keeps one for
// good, and shuts the server down with a deadline far away: the watcher must learn NOT_SERVING
// (unless it knew already), then see its stream end with SHUTTING_DOWN, and Shutdown must return
// without waiting for its deadline (which would cut the calls in flight off hard).
func TestShutdown(t *testing.T) {
	tests := []struct {
		name    string
		serving bool
	}{
		{name: "serving", serving: true},
		{name: "already not serving", serving: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
			e.srv.SetServing(tt.serving)
			watch, err := healthgrpc.NewHealthClient(e.conn).Watch(t.Context(), &healthgrpc.HealthCheckRequest{})
			if err != nil {
				t.Fatalf("called Health.Watch: %v", err)
			}
			want := healthgrpc.HealthCheckResponse_NOT_SERVING
			if tt.serving {
				want = healthgrpc.HealthCheckResponse_SERVING
			}
			if resp, err := watch.Recv(); err != nil || resp.GetStatus() != want {
				t.Fatalf("called Health.Watch, got first status %v, %v; want %v", resp.GetStatus(), err, want)
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stopped := make(chan struct{})
			go func() {
				e.srv.Shutdown(ctx)
				close(stopped)
			}()
			if tt.serving {
				if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_NOT_SERVING {
					t.Errorf("called Shutdown, got the watcher's next status %v, %v; want NOT_SERVING", resp.GetStatus(), err)
				}
			}
			_, err = watch.Recv()
			if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonShuttingDown {
				t.Errorf("called Shutdown, got the open watch ending with %v %q (%v), want Unavailable %q", code, reason, err, grpcserver.ReasonShuttingDown)
			}
			<-stopped
			if ctx.Err() != nil {
				t.Errorf("called Shutdown with a health watcher open, got it to return at its deadline (calls in flight cut off), want it to end the watch and return")
			}
			// Shutdown is safe to call again (the env's cleanup does).
		})
	}
}
