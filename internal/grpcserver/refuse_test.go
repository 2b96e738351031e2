package grpcserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// A server given RefuseAPI's options answers every call of the API, unary or streaming, with the
// error mapped as a handler's would be, after the key check; the health service still answers.
func TestRefuseAPI(t *testing.T) {
	refusal := fmt.Errorf("not started: %w", comment.ErrUnavailable)
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, serverOptions: grpcserver.RefuseAPI(refusal)})

	_, err := e.site.SubmitComment(e.as(t, siteKeyName), validSubmission("t1", "hello"))
	if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonStoreUnavailable {
		t.Errorf("SubmitComment on a refusing server = %v (%s), want UNAVAILABLE, %s", code, reason, grpcserver.ReasonStoreUnavailable)
	}
	// Served rather than refused, the stream would wait for events: the deadline ends it, and the
	// test fails, instead of waiting for good.
	ctx, cancel := context.WithTimeout(e.as(t, modKeyName), 30*time.Second)
	defer cancel()
	stream, err := e.mod.WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonStoreUnavailable {
		t.Errorf("WatchQueue on a refusing server = %v (%s), want UNAVAILABLE, %s", code, reason, grpcserver.ReasonStoreUnavailable)
	}
	_, err = e.site.SubmitComment(withBearer(t.Context(), e.wrongTk), validSubmission("t1", "hello"))
	if code, _ := codeReason(err); code != codes.Unauthenticated {
		t.Errorf("SubmitComment with an unknown key on a refusing server = %v, want UNAUTHENTICATED", code)
	}
	resp, err := healthgrpc.NewHealthClient(e.conn).Check(t.Context(), &healthgrpc.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
		t.Errorf("health Check on a refusing server = %v, %v; want SERVING", resp, err)
	}
}
