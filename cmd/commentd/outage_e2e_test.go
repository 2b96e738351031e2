package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// metricsText returns s's /metrics page, failing the test when it cannot be read.
func (s *server) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return string(body)
}

// scrapeMetric returns the value of one series of s's /metrics, given as its name and labels as
// the exposition writes them (commentd_x_total, or commentd_x_total{a="b"}), and whether it is there.
func (s *server) scrapeMetric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	body := []byte(s.metricsText(t))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("/metrics: %s %q: %v", series, m[1], err)
	}
	return v, true
}

// TestRedisOutageLogIsBounded pauses Redis while submissions keep coming, as they do from a busy
// site during an outage: every one of them fails its abuse check (or, with -abuse-fail-open, goes
// through it unchecked) and cannot give its counts back. The log must say so in a few lines, not
// one per submission, while the counters count every one.
func TestRedisOutageLogIsBounded(t *testing.T) {
	const submissions = 30
	tests := []struct {
		name    string
		flags   []string
		line    string // the message that would be written once per submission
		counter string // what counts every one
	}{
		{"refunds that fail", nil, "abuse check: could not give back counts of a refused submission", "commentd_abuse_refund_failures_total"},
		{"submissions let through unchecked", []string{"-abuse-fail-open"}, "abuse check failed open: submission accepted unchecked", "commentd_abuse_fail_open_total"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := redistest.Start(t)
			s := startCommentd(t, rs.Addr, append([]string{"-redis-timeout", "500ms"}, tc.flags...)...)
			rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
			defer rdb.Close()
			if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", 4000, "ALL").Err(); err != nil {
				t.Fatalf("CLIENT PAUSE: %v", err)
			}
			site := commentdv1.NewCommentServiceClient(s.conn)
			var wg sync.WaitGroup
			for i := range submissions {
				wg.Go(func() {
					// Authors, addresses and threads of their own: no rate limit refuses any.
					_, err := site.SubmitComment(s.siteCtx(t), &commentdv1.SubmitCommentRequest{
						ThreadId: fmt.Sprintf("outage-%d", i), AuthorName: "A Reader", AuthorEmail: fmt.Sprintf("reader%d@example.org", i),
						Body: "sent while Redis is paused", ClientIp: fmt.Sprintf("192.0.2.%d", i+1), UserAgent: "e2e-test",
					})
					if status.Code(err) != codes.Unavailable {
						t.Errorf("SubmitComment while Redis is paused: %v; want Unavailable", err)
					}
				})
			}
			wg.Wait()

			series := tc.counter
			// The refunds may run after the calls have answered.
			counted, _ := s.scrapeMetric(t, series)
			for deadline := time.Now().Add(5 * time.Second); counted != submissions && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				counted, _ = s.scrapeMetric(t, series)
			}
			if counted != submissions {
				t.Errorf("after %d submissions during an outage, /metrics %s = %v; want %d", submissions, series, counted, submissions)
			}
			if n := strings.Count(s.log.String(), `"msg":"`+tc.line+`"`); n < 1 || n > 2 {
				t.Errorf("after %d submissions during an outage, the log holds %d lines %q; want 1 or 2 (the rest counted in not_logged_since)\n%s",
					submissions, n, tc.line, s.log)
			}
		})
	}
}

// TestRedisHealthMetrics: /metrics says whether the server serves and how fast Redis answers the
// health check's pings, with no call coming in, from a start before Redis's: an operator's alert
// on a Redis gone while the site is quiet has nothing else to go on (health is on the gRPC port
// only).
func TestRedisHealthMetrics(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop() // Redis comes later, as start-up waits for it
	s := launchCommentd(t, rs.Addr)
	waitFor := func(step, series string, want float64) {
		t.Helper()
		got, ok := s.scrapeMetric(t, series)
		for deadline := time.Now().Add(10 * time.Second); (!ok || got != want) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			got, ok = s.scrapeMetric(t, series)
		}
		if !ok || got != want {
			t.Fatalf("%s: /metrics %s = %v (present %v); want %v", step, series, got, ok, want)
		}
	}
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
		t.Fatalf("health of commentd started before Redis: %v (last: %v), want NOT_SERVING while it waits", err, st)
	}
	waitFor("waiting for Redis at start", "commentd_serving", 0)
	rs.Restart(t)
	waitFor("Redis answering", "commentd_serving", 1)
	if n, ok := s.scrapeMetric(t, "commentd_redis_ping_seconds_count"); !ok || n < 1 {
		t.Errorf("Redis answering: /metrics commentd_redis_ping_seconds_count = %v (present %v); want at least 1 ping", n, ok)
	}

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", 6000, "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	waitFor("Redis paused", "commentd_serving", 0)
	waitFor("Redis answering again", "commentd_serving", 1)
	// The pings sent into the pause took their whole 2 s; one in under a second is not one of them.
	fast, _ := s.scrapeMetric(t, `commentd_redis_ping_seconds_bucket{le="1"}`)
	all, _ := s.scrapeMetric(t, "commentd_redis_ping_seconds_count")
	if all-fast < 1 {
		t.Errorf("after a 6 s pause of Redis, /metrics commentd_redis_ping_seconds has %v pings of which %v took 1 s or less; want at least one slower", all, fast)
	}
}
