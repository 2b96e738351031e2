package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/redisstore"
)

// TestWorthWaiting: start-up waits for what may end by itself, and for nothing else.
func TestWorthWaiting(t *testing.T) {
	unavailable := func(cause error) error {
		return fmt.Errorf("redisstore: check durability: %w: %w", comment.ErrUnavailable, cause)
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "unreachable", err: unavailable(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), want: true},
		{name: "replica", err: fmt.Errorf("check redis settings: %w", redisstore.ErrReplicaNode), want: true},
		{name: "certificate unknown", err: unavailable(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), want: false},
		{name: "not TLS", err: unavailable(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), want: false},
		{name: "TLS alert", err: unavailable(&net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}), want: false},
		{name: "AOF off", err: redisstore.ErrNoAOF, want: false},
		{name: "Sentinel address", err: redisstore.ErrSentinelNode, want: false},
		{name: "Redis refused", err: errors.New("redisstore: check durability: WRONGPASS invalid username-password pair"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := worthWaiting(tt.err); got != tt.want {
				t.Errorf("worthWaiting(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestWaitForRedis drives the wait with attempts that fail as told: what it returns, how many
// attempts it makes and what it logs.
func TestWaitForRedis(t *testing.T) {
	errDown := fmt.Errorf("dial: %w", comment.ErrUnavailable)
	errConfig := errors.New("WRONGPASS")
	tests := []struct {
		name      string
		wait      time.Duration
		fails     []error // the attempts' errors, in order; then every attempt succeeds
		wantErr   error   // matched with errors.Is; nil for success
		wantTries int
		wantWarns int // WARN lines: the first failure at once, then one per redisLogEvery at most
	}{
		{name: "ready at once", wait: time.Minute, wantTries: 1},
		{name: "ready after failures", wait: time.Minute, fails: []error{errDown, errDown, errDown}, wantTries: 4, wantWarns: 1},
		{name: "configuration error", wait: time.Minute, fails: []error{errConfig}, wantErr: errConfig, wantTries: 1},
		{name: "configuration error after failures", wait: time.Minute, fails: []error{errDown, errConfig}, wantErr: errConfig, wantTries: 2, wantWarns: 1},
		{name: "no wait", wait: 0, fails: []error{errDown, errDown}, wantErr: comment.ErrUnavailable, wantTries: 1},
		{name: "wait runs out", wait: 300 * time.Millisecond, fails: []error{errDown, errDown, errDown, errDown, errDown, errDown, errDown, errDown}, wantErr: comment.ErrUnavailable, wantWarns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logged, nil))
			tries := 0
			err := waitForRedis(context.Background(), log, tt.wait, func(context.Context) error {
				tries++
				if tries <= len(tt.fails) {
					return tt.fails[tries-1]
				}
				return nil
			})
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("waitForRedis(wait %s, failures %v) = %v, want %v", tt.wait, tt.fails, err, tt.wantErr)
			}
			if tt.wantTries > 0 && tries != tt.wantTries {
				t.Errorf("waitForRedis(wait %s, failures %v) made %d attempts, want %d", tt.wait, tt.fails, tries, tt.wantTries)
			}
			if warns := strings.Count(logged.String(), `"level":"WARN"`); warns != tt.wantWarns {
				t.Errorf("waitForRedis(wait %s, failures %v) logged %d WARN lines, want %d:\n%s", tt.wait, tt.fails, warns, tt.wantWarns, logged.String())
			}
		})
	}
}

// TestWaitForRedisEndsWithContext: a stop (SIGTERM cancels run's context) ends the wait, between
// attempts, with the context's error.
func TestWaitForRedisEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tries := 0
	err := waitForRedis(ctx, slog.New(slog.DiscardHandler), time.Hour, func(context.Context) error {
		tries++
		cancel()
		return fmt.Errorf("dial: %w", comment.ErrUnavailable)
	})
	if !errors.Is(err, context.Canceled) || tries != 1 {
		t.Errorf("waitForRedis cancelled during its first attempt = %v after %d attempts, want context.Canceled after 1", err, tries)
	}
}
