package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestShutdownTimeoutBoundsExitWhileRedisHangs pauses Redis, then stops commentd: with
// -shutdown-timeout 1s it must exit soon after the second, not when Redis answers again. An
// orchestrator that kills a process after its grace period counts on that bound.
func TestShutdownTimeoutBoundsExitWhileRedisHangs(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr, "-shutdown-timeout", "1s")

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	const pause = 12 * time.Second
	if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	// Let the background readers of the spam model, the word lists and the campaign window send
	// their next calls into the pause.
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	if err := s.process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	// The bound is the timeout plus a wide margin for a loaded machine, and still well inside the
	// pause: without the bound, commentd waits for Redis.
	select {
	case <-s.exited:
		t.Logf("commentd exited %v after SIGTERM", time.Since(start).Round(10*time.Millisecond))
	case <-time.After(pause - 4*time.Second):
		t.Fatalf("commentd with -shutdown-timeout 1s was still running %v after SIGTERM while Redis was paused; log:\n%s", time.Since(start).Round(time.Second), s.log)
	}
}

// TestShutdownDelayKeepsServing: with -shutdown-delay, SIGTERM first turns health NOT_SERVING and
// goes on taking calls, new connections included, for the delay, so that a load balancer still
// sending to the process (Kubernetes removes a terminating pod from its Service while the signal
// is already on its way) finds it answering; then it drains and exits.
func TestShutdownDelayKeepsServing(t *testing.T) {
	rs := redistest.Start(t)
	const delay = 3 * time.Second
	s := startCommentd(t, rs.Addr, "-shutdown-delay", delay.String())
	start := time.Now()
	if err := s.process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	time.Sleep(300 * time.Millisecond)

	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health on a new connection during the shutdown delay = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	sctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.siteToken)
	if _, err := commentdv1.NewCommentServiceClient(conn).SubmitComment(sctx, &commentdv1.SubmitCommentRequest{
		ThreadId: "draining", AuthorName: "A Reader", AuthorEmail: "reader@example.org", Body: "still taken", ClientIp: "192.0.2.1", UserAgent: "e2e-test",
	}); err != nil {
		t.Errorf("SubmitComment on a new connection %v after SIGTERM, within the %v delay: %v, want it taken", time.Since(start).Round(time.Millisecond), delay, err)
	}
	select {
	case <-s.exited:
		if took := time.Since(start); took < delay {
			t.Errorf("commentd exited %v after SIGTERM, before its %v delay", took.Round(time.Millisecond), delay)
		}
	case <-time.After(delay + 15*time.Second):
		t.Fatalf("commentd still running %v after SIGTERM with a %v delay; log:\n%s", time.Since(start).Round(time.Second), delay, s.log)
	}
}

// TestSecondSignalEndsShutdown: a second SIGTERM while the first one's graceful shutdown runs ends
// it at once, says so in a WARN line, cuts off the calls still running and exits 1. Before, the
// second signal was swallowed: the process waited out -shutdown-delay (here 60 s), or a call in
// flight (until Redis's paused replies failed it, about 11 s here), and then exited 0.
func TestSecondSignalEndsShutdown(t *testing.T) {
	tests := []struct {
		name string
		// inFlight pauses Redis and starts a submission that waits on it: a call the drain waits for.
		inFlight bool
		// waitFor is the log line that says the first signal's shutdown is under way.
		waitFor string
	}{
		{name: "during the shutdown delay", waitFor: "still taking calls until the shutdown delay ends"},
		{name: "while the drain waits for a call", inFlight: true, waitFor: `"msg":"shutting down"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := redistest.Start(t)
			args := []string{"-shutdown-timeout", "60s", "-redis-timeout", "60s"}
			if !tt.inFlight {
				args = append(args, "-shutdown-delay", "60s")
			}
			s := startCommentd(t, rs.Addr, args...)

			callErr := make(chan error, 1)
			if tt.inFlight {
				rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
				defer rdb.Close()
				if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", 50000, "ALL").Err(); err != nil {
					t.Fatalf("CLIENT PAUSE: %v", err)
				}
				go func() {
					ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.siteToken)
					_, err := commentdv1.NewCommentServiceClient(s.conn).SubmitComment(ctx, &commentdv1.SubmitCommentRequest{
						ThreadId: "second-signal", AuthorName: "A Reader", AuthorEmail: "reader@example.org", Body: "in flight", ClientIp: "192.0.2.1", UserAgent: "e2e-test",
					})
					callErr <- err
				}()
				// Let the submission reach the server and wait on the paused Redis.
				time.Sleep(time.Second)
			}

			if err := s.process.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("first SIGTERM: %v", err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(s.log.String(), tt.waitFor) {
				if time.Now().After(deadline) {
					t.Fatalf("commentd did not log %q within 20s of SIGTERM; log:\n%s", tt.waitFor, s.log)
				}
				time.Sleep(20 * time.Millisecond)
			}
			start := time.Now()
			if err := s.process.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("second SIGTERM: %v", err)
			}
			// Well inside the 60 s the graceful shutdown would take.
			select {
			case <-s.exited:
				t.Logf("commentd exited %v after the second SIGTERM", time.Since(start).Round(10*time.Millisecond))
			case <-time.After(30 * time.Second):
				t.Fatalf("commentd still running %v after a second SIGTERM; log:\n%s", time.Since(start).Round(time.Second), s.log)
			}
			var exit *exec.ExitError
			if !errors.As(s.exitErr, &exit) || exit.ExitCode() != 1 {
				t.Errorf("commentd after a second SIGTERM exited with %v, want exit status 1", s.exitErr)
			}
			warned := false
			for _, line := range strings.Split(s.log.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "second signal") && strings.Contains(line, `"signal":"terminated"`) {
					warned = true
				}
			}
			if !warned {
				t.Errorf("commentd after a second SIGTERM logged no WARN line naming it; log:\n%s", s.log)
			}
			// The drain was cut short, not timed out (its 60 s were far away).
			if strings.Contains(s.log.String(), "timed out") {
				t.Errorf("commentd after a second SIGTERM logged a time-out; want the drain cut short; log:\n%s", s.log)
			}
			if tt.inFlight && !strings.Contains(s.log.String(), "graceful stop cut short") {
				t.Errorf("commentd after a second SIGTERM with a call in flight did not log that the graceful stop was cut short; log:\n%s", s.log)
			}
			if tt.inFlight {
				select {
				case err := <-callErr:
					// Cut off: the connection closed under it, with no answer from the server (a
					// store error, such as Redis's paused replies timing out, carries a reason).
					if code, reason, _ := statusReason(err); code != codes.Unavailable || reason != "" {
						t.Errorf("SubmitComment in flight at the second SIGTERM = %v (reason %q), want UNAVAILABLE with no reason: cut off by the hard stop", err, reason)
					}
				case <-time.After(10 * time.Second):
					t.Errorf("SubmitComment in flight still waiting 10s after commentd exited")
				}
			}
		})
	}
}
