package main

import (
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestLogLevelAppliesToRedisClient starts commentd with -log-level error, takes its Redis away and
// checks that the log holds only ERROR lines: the Redis client's own complaints (one per failed
// dial, from every poller) are warnings, and an operator who asked for errors only must not get them.
func TestLogLevelAppliesToRedisClient(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr, "-log-level", "error")
	rs.Stop()

	// The health check pings every 2 s; it logs at ERROR once it finds the store gone. Wait for
	// that line and a little more, so the pollers have dialled (and failed) several times.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.log.String(), "store unreachable") {
		if time.Now().After(deadline) {
			t.Fatalf("commentd with -log-level error did not log the unreachable store within 15s; log:\n%s", s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)

	for _, line := range strings.Split(s.log.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // not a log line
		}
		if !strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("commentd -log-level error logged a line below ERROR while Redis was down: %s", line)
		}
	}
}
