package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// waitLine is how the log says start-up waits for Redis.
const waitLine = "waiting for it"

// TestWaitsForRedisAtStart starts commentd before Redis, as docker compose and Kubernetes do: it
// stays up with health NOT_SERVING, answers calls with UNAVAILABLE and a RetryInfo and serves
// /metrics, and once Redis starts on its address it turns SERVING and takes a submission.
func TestWaitsForRedisAtStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop() // its address is free: Redis comes later
	s := launchCommentd(t, rs.Addr)

	if st, err := s.waitHealth(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
		t.Fatalf("health of commentd started before Redis: %v (last: %v), want NOT_SERVING while it waits\n%s", err, st, s.log)
	}
	_, err := s.submitter(t, "early")("reader@example.org", "192.0.2.1", "before Redis")
	if code, reason, _ := statusReason(err); code != codes.Unavailable || reason != grpcserver.ReasonStoreUnavailable {
		t.Errorf("SubmitComment while commentd waits for Redis = %v (%s), want UNAVAILABLE, %s", code, reason, grpcserver.ReasonStoreUnavailable)
	}
	retry := false
	for _, d := range status.Convert(err).Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			retry = true
		}
	}
	if !retry {
		t.Errorf("SubmitComment while commentd waits for Redis = %v, want a RetryInfo", err)
	}
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Errorf("GET /metrics while commentd waits for Redis: %v", err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /metrics while commentd waits for Redis = %s, want 200", resp.Status)
		}
	}
	// A call with no API key is refused before it is read, by the waiting server too; its
	// counter, and the gRPC calls the waiting server answered, are on /metrics from the start and
	// count on once the serving server has the port.
	_, err = commentdv1.NewCommentServiceClient(s.conn).SubmitComment(context.Background(), &commentdv1.SubmitCommentRequest{ThreadId: "early"})
	if code, reason, _ := statusReason(err); code != codes.Unauthenticated || reason != grpcserver.ReasonAPIKeyMissing {
		t.Errorf("SubmitComment with no API key while commentd waits for Redis = %v (%s), want UNAUTHENTICATED, %s", code, reason, grpcserver.ReasonAPIKeyMissing)
	}
	const (
		unread      = `commentd_grpc_refused_unread_total{reason="` + grpcserver.ReasonAPIKeyMissing + `"}`
		unavailable = `grpc_server_handled_total{grpc_code="Unavailable",grpc_method="SubmitComment",grpc_service="commentd.v1.CommentService",grpc_type="unary"}`
	)
	for _, series := range []string{unread, unavailable} {
		if n, ok := s.scrapeMetric(t, series); !ok || n != 1 {
			t.Errorf("while commentd waits for Redis, after one such call: /metrics %s = %v (present %v); want 1", series, n, ok)
		}
	}
	// The line comes when the first attempt to reach Redis has failed (after its dial retries),
	// which may be after the calls above: wait for it, while Redis is still away.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(s.log.String(), waitLine); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("commentd started before Redis logged no line saying it waits within 30s; log:\n%s", s.log)
			break
		}
	}

	rs.Restart(t)
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_SERVING); err != nil {
		t.Fatalf("health after Redis started: %v (last: %v), want SERVING\n%s", err, st, s.log)
	}
	if c, err := s.submitter(t, "later")("reader@example.org", "192.0.2.1", "after Redis"); err != nil || c.GetName() == "" {
		t.Errorf("SubmitComment once Redis started = %v, %v; want it stored", c, err)
	}
	for _, series := range []string{unread, unavailable} {
		if n, ok := s.scrapeMetric(t, series); !ok || n != 1 {
			t.Errorf("once Redis started, after one such call while commentd waited: /metrics %s = %v (present %v); want 1", series, n, ok)
		}
	}
}

// TestWaitsForRedisLoading: a Redis still loading its data answers LOADING to every command but a
// few; commentd waits for it to finish rather than exiting, and then serves.
func TestWaitsForRedisLoading(t *testing.T) {
	binaries(t) // built before the load starts: the load must still run when commentd starts
	dir := t.TempDir()
	first := redistest.Start(t, "--dir", dir)
	rdb := redistest.Client(t, first.Addr)
	ctx := context.Background()
	// Keys a little over the 1 KiB after which the loading server answers calls, each loaded 2 ms
	// late: about 10 s of loading, calls answered within milliseconds meanwhile.
	value := strings.Repeat("x", 1100)
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 5000 {
			p.Set(ctx, fmt.Sprintf("load:%d", i), value, 0)
		}
		return nil
	}); err != nil {
		t.Fatalf("SET the keys to load: %v", err)
	}
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	first.Stop()
	rs := redistest.Start(t, "--dir", dir, "--key-load-delay", "2000", "--loading-process-events-interval-bytes", "1024")
	if err := redistest.Client(t, rs.Addr).Ping(ctx).Err(); !redis.IsLoadingError(err) {
		t.Fatalf("PING on the restarted Redis = %v, want LOADING (the test needs it loading)", err)
	}

	s := launchCommentd(t, rs.Addr)
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_SERVING); err != nil {
		t.Fatalf("health of commentd started on a loading Redis: %v (last: %v), want SERVING once it has loaded\n%s", err, st, s.log)
	}
	waitedForLoading := false
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, waitLine) && strings.Contains(line, "LOADING") {
			waitedForLoading = true
		}
	}
	if !waitedForLoading {
		t.Errorf("commentd started on a loading Redis logged no wait for LOADING; log:\n%s", s.log)
	}
	if c, err := s.submitter(t, "loaded")("reader@example.org", "192.0.2.1", "after loading"); err != nil || c.GetName() == "" {
		t.Errorf("SubmitComment once Redis has loaded = %v, %v; want it stored", c, err)
	}
}

// TestRedisWaitRunsOut: when Redis does not come within -redis-wait, commentd exits non-zero
// with an error that names the setting, and no line of its output shows the Redis password.
func TestRedisWaitRunsOut(t *testing.T) {
	const password = "s3cret-pw"
	rs := redistest.Start(t)
	rs.Stop()
	s := launchCommentd(t, rs.Addr, "-redis-url", "redis://app:"+password+"@"+rs.Addr, "-redis-wait", "2s")
	select {
	case <-s.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("commentd with -redis-wait 2s and no Redis still running after 2 minutes; log:\n%s", s.log)
	}
	var exit *exec.ExitError
	if !errors.As(s.exitErr, &exit) || exit.ExitCode() != 1 {
		t.Errorf("commentd with -redis-wait 2s and no Redis exited with %v, want exit status 1", s.exitErr)
	}
	out := s.log.String()
	if !strings.Contains(out, "-redis-wait") || !strings.Contains(out, waitLine) {
		t.Errorf("commentd with -redis-wait 2s and no Redis: want lines saying it waits, and an error naming -redis-wait; log:\n%s", out)
	}
	if strings.Contains(out, password) {
		t.Errorf("commentd's output shows the Redis password; log:\n%s", out)
	}
}

// TestSIGTERMWhileWaitingForRedis: a stop while commentd waits for Redis ends the wait and the
// process at once, cleanly (exit status 0), rather than when -redis-wait (5 minutes) runs out.
func TestSIGTERMWhileWaitingForRedis(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop()
	s := launchCommentd(t, rs.Addr)
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
		t.Fatalf("health of commentd started before Redis: %v (last: %v), want NOT_SERVING\n%s", err, st, s.log)
	}
	if err := s.process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("commentd still running 30s after SIGTERM while it waited for Redis; log:\n%s", s.log)
	}
	if s.exitErr != nil {
		t.Errorf("commentd stopped by SIGTERM while it waited for Redis exited with %v, want status 0; log:\n%s", s.exitErr, s.log)
	}
}

// TestRedisReplicaAtStartIsWaitedFor: an address that names a replica, behind which a failover may
// be under way, is waited for, as health waits for a running server's Redis demoted so; once the
// server is promoted, commentd serves.
func TestRedisReplicaAtStartIsWaitedFor(t *testing.T) {
	rs := redistest.Start(t)
	admin := redistest.Client(t, rs.Addr)
	ctx := context.Background()
	// A replica of a master that is not there: it answers, as a replica, and refuses writes.
	dead := freeAddr(t)
	host, port, _ := strings.Cut(dead, ":")
	if err := admin.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatalf("REPLICAOF %s: %v", dead, err)
	}
	s := launchCommentd(t, rs.Addr)
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
		t.Fatalf("health of commentd on a replica: %v (last: %v), want NOT_SERVING while it waits\n%s", err, st, s.log)
	}
	waited := func() bool { return strings.Contains(s.log.String(), "is a replica") }
	for deadline := time.Now().Add(30 * time.Second); !waited() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !waited() {
		t.Fatalf("commentd on a replica logged no line saying it waits for the replica; log:\n%s", s.log)
	}
	if err := admin.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatalf("REPLICAOF NO ONE: %v", err)
	}
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_SERVING); err != nil {
		t.Fatalf("health after the replica was promoted: %v (last: %v), want SERVING\n%s", err, st, s.log)
	}
}

// untrustedTLS listens on a loopback address with TLS, with a certificate no system CA signed, and
// returns the address; it stops when t ends. The handshake fails before anything of Redis's
// protocol, so no Redis is needed behind it.
func untrustedTLS(t *testing.T) string {
	t.Helper()
	certFile, keyFile, _ := writeSelfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake() // fails: the client refuses the certificate
			c.Close()
		}
	}()
	t.Cleanup(func() { lis.Close(); <-done })
	return lis.Addr().String()
}

// TestConfigErrorsEndStartAtOnce: what no wait can mend ends start-up at its first attempt, with
// the default -redis-wait, and says what is wrong; the log has no line saying it waits.
func TestConfigErrorsEndStartAtOnce(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	keys := t.TempDir() + "/keys"
	writeKeys(t, keys)
	base := []string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-keys", keys}

	locked := redistest.Start(t)
	if err := redistest.Client(t, locked.Addr).ConfigSet(context.Background(), "requirepass", "right").Err(); err != nil {
		t.Fatalf("CONFIG SET requirepass: %v", err)
	}
	plain := redistest.Start(t)
	isRedisError := func(prefix string) func(error) bool {
		return func(err error) bool { return redis.HasErrorPrefix(err, prefix) }
	}
	tests := []struct {
		name  string
		args  []string
		check func(error) bool
		want  string
	}{
		{name: "wrong password", args: []string{"-redis-url", "redis://:wrong@" + locked.Addr, "-accept-data-loss"}, check: isRedisError("WRONGPASS"), want: "WRONGPASS"},
		{name: "no password", args: []string{"-redis-url", "redis://" + locked.Addr, "-accept-data-loss"}, check: isRedisError("NOAUTH"), want: "NOAUTH"},
		{name: "AOF off", args: []string{"-redis-url", "redis://" + plain.Addr}, check: func(err error) bool { return errors.Is(err, redisstore.ErrNoAOF) }, want: "redisstore.ErrNoAOF"},
		{name: "certificate of an unknown CA", args: []string{"-redis-url", "rediss://" + untrustedTLS(t), "-accept-data-loss"}, check: tlsFailure, want: "a TLS failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := &syncBuffer{}
			done := make(chan error, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { done <- run(ctx, append(base, tt.args...), io.Discard, stderr, envList(env), nil, nil, nil) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				cancel()
				<-done
				t.Fatalf("run(%q) still running after 2 minutes, want it to end at its first attempt; log:\n%s", tt.args, stderr)
			}
			if !tt.check(err) {
				t.Errorf("run(%q) = %v, want %s", tt.args, err, tt.want)
			}
			if strings.Contains(stderr.String(), waitLine) {
				t.Errorf("run(%q) waited for Redis, want no wait for a configuration error; log:\n%s", tt.args, stderr)
			}
		})
	}
}
