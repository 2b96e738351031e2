package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore"
)

// Start-up waits for Redis: in docker compose or on Kubernetes commentd and Redis start together,
// and Redis is often a few seconds late (or minutes, while it loads a large AOF). Until Redis
// answers and the start-up checks pass, commentd serves the gRPC health service as NOT_SERVING,
// refuses every API call with UNAVAILABLE (and RetryInfo) and serves /metrics; it retries with a
// capped, jittered back-off for up to -redis-wait, and ends at once on a failure no wait can mend
// (worthWaiting).

// Back-off between two start-up attempts: the first wait, doubled after each failure up to the
// last. Each is jittered (half of it fixed, half random), so that the replicas of a deployment
// started together do not all knock at Redis at the same instant.
const (
	redisWaitFirst = 200 * time.Millisecond
	redisWaitMax   = 5 * time.Second
)

// worthWaiting reports whether a start-up failure may end without anyone changing commentd's
// configuration, so that start-up waits for it rather than ending the process:
//   - Redis cannot be reached (connection refused, a name the DNS does not know yet, timeouts,
//     every Sentinel down) or answers "not now" (LOADING, a failover, a Cluster down, BUSY ...):
//     what the store reports as comment.ErrUnavailable;
//   - the address names a replica (redisstore.ErrReplicaNode): behind a fixed address, a failover
//     is under way and the server is promoted in a moment, which is also why health only turns
//     NOT_SERVING when that happens to a running server; a wrong address is said in every line
//     the wait logs.
//
// Everything else is a configuration error that waiting cannot mend, and ends the process at once
// with its message: a wrong password or user (WRONGPASS, NOAUTH), a missing permission (NOPERM),
// a database index out of range, a TLS failure (a certificate that does not verify, a server
// that does not speak TLS), an address naming a Sentinel or one Cluster node, an unknown Sentinel
// master, and durability settings refused without -accept-data-loss.
func worthWaiting(err error) bool {
	switch {
	case errors.Is(err, redisstore.ErrReplicaNode):
		return true
	case tlsFailure(err):
		// The store counts every error that is not Redis's reply as "unavailable", and a TLS
		// failure is not one; but it is a certificate or an address to fix.
		return false
	}
	return errors.Is(err, comment.ErrUnavailable)
}

// tlsFailure reports whether err is a TLS handshake that failed for good: the server's certificate
// did not verify, the server answered in plain text, or it refused the handshake (a TLS alert, such
// as a client certificate it requires).
func tlsFailure(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		authority x509.UnknownAuthorityError
		host      x509.HostnameError
		invalid   x509.CertificateInvalidError
		op        *net.OpError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &authority) ||
		errors.As(err, &host) || errors.As(err, &invalid) ||
		(errors.As(err, &op) && op.Op == "remote error") // how crypto/tls returns a peer's alert
}

// waitForRedis runs attempt until it succeeds, and again after each failure worth waiting for,
// for up to wait (0: one attempt). Between attempts it sleeps with a capped, jittered back-off;
// it logs the first failure at once and then at most one line per redisLogEvery, with the number
// of failures it did not log. It returns nil once attempt succeeds; ctx's error when ctx ends
// (SIGTERM) first; attempt's error at once when it is not worth waiting for; and an error that
// names -redis-wait and the last failure when the wait is over.
func waitForRedis(ctx context.Context, log *slog.Logger, wait time.Duration, attempt func(context.Context) error) error {
	start := time.Now()
	delay := redisWaitFirst
	var (
		lastLog  time.Time
		unlogged int
	)
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			if n > 1 {
				log.Info("redis ready; start-up goes on", "waited", time.Since(start).Round(time.Millisecond).String(), "attempts", n)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		waited := time.Since(start)
		switch {
		case !worthWaiting(err):
			return err
		case waited >= wait:
			if wait == 0 {
				return fmt.Errorf("%w (-redis-wait is 0: no wait for Redis at start)", err)
			}
			return fmt.Errorf("redis not ready after waiting %s (-redis-wait %s), %d attempts; last: %w", waited.Round(time.Second), wait, n, err)
		}
		if now := time.Now(); lastLog.IsZero() || now.Sub(lastLog) >= redisLogEvery {
			attrs := []any{"error", err.Error(), "attempts", n, "waited", waited.Round(time.Millisecond).String(),
				"gives_up_in", (wait - waited).Round(time.Second).String(), "failures_not_logged", unlogged}
			msg := "redis not ready; waiting for it (health NOT_SERVING, calls get UNAVAILABLE)"
			if errors.Is(err, redisstore.ErrReplicaNode) {
				msg = "redis is a replica; waiting for it to be promoted (health NOT_SERVING, calls get UNAVAILABLE): if the address names a replica for good, give the master's, or the Sentinels'"
			}
			log.Warn(msg, attrs...)
			lastLog, unlogged = now, 0
		} else {
			unlogged++
		}
		sleep := min(delay/2+rand.N(delay/2+1), wait-waited)
		delay = min(2*delay, redisWaitMax)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// refuseAPIUntilStarted returns the server options of the gRPC server that answers while start-up
// waits for Redis: every call of commentd's own API fails with comment.ErrUnavailable, which the
// server's one error mapping turns into UNAVAILABLE with RetryInfo, as any call gets while Redis is
// down; the health service (NOT_SERVING) and reflection answer (grpcserver.RefuseAPI).
//
// UNAVAILABLE rather than a closed port: a Kubernetes readiness probe (gRPC) reads NOT_SERVING
// and keeps the pod out of its Service, while the liveness probe (a TCP connect) finds the
// process alive and does not restart it; a site's backend that reaches this server all the same
// gets the status its gRPC client retries, with the delay to wait, rather than connection errors.
func refuseAPIUntilStarted() []grpc.ServerOption {
	return grpcserver.RefuseAPI(fmt.Errorf("commentd: waiting for redis at start: %w", comment.ErrUnavailable))
}

// handoff passes the connections of one listener to one server after another: the gRPC port
// opens before Redis answers, served by the server that waits, and stays open when the server
// that serves the API takes over. Each server gets its own view (listener); a server's stop closes
// its view only. A connection accepted while no view takes it waits for the next view.
type handoff struct {
	lis     net.Listener
	conns   chan net.Conn
	done    chan struct{} // closed by close: the pump drops what it accepts
	stopped chan struct{} // closed when the pump has returned

	mu  sync.Mutex
	err error // the listener's failure, once the pump has stopped on one
}

// newHandoff starts taking lis's connections; close stops it and closes lis.
func newHandoff(lis net.Listener) *handoff {
	h := &handoff{lis: lis, conns: make(chan net.Conn), done: make(chan struct{}), stopped: make(chan struct{})}
	go h.pump()
	return h
}

func (h *handoff) pump() {
	defer close(h.stopped)
	for {
		c, err := h.lis.Accept()
		if err != nil {
			var temp interface{ Temporary() bool }
			if errors.As(err, &temp) && temp.Temporary() {
				// Out of file descriptors, say: as net/http and gRPC do, wait and go on.
				select {
				case <-h.done:
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
			return
		}
		select {
		case h.conns <- c:
		case <-h.done:
			c.Close()
			return
		}
	}
}

// listener returns a new view of the port for the next server.
func (h *handoff) listener() net.Listener {
	return &handoffView{h: h, closed: make(chan struct{})}
}

// close closes the port and waits for the pump to return.
func (h *handoff) close() {
	close(h.done)
	h.lis.Close()
	<-h.stopped
}

type handoffView struct {
	h      *handoff
	once   sync.Once
	closed chan struct{}
}

func (v *handoffView) Accept() (net.Conn, error) {
	select {
	case c := <-v.h.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.h.stopped:
		v.h.mu.Lock()
		defer v.h.mu.Unlock()
		if v.h.err != nil {
			return nil, v.h.err
		}
		return nil, net.ErrClosed
	}
}

func (v *handoffView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *handoffView) Addr() net.Addr { return v.h.lis.Addr() }
