package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
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
