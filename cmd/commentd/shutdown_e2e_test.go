package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/redisstore/redistest"
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
