package grpcserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// apiMethods returns the full name of every method of every service in the commentd.v1 package,
// read from the compiled descriptors, so a method added to the proto is swept without touching
// this test. The blank reference to the generated package makes sure its files are registered.
func apiMethods(t *testing.T) map[string]protoreflect.MethodDescriptor {
	t.Helper()
	_ = commentdv1.File_commentd_v1_comment_service_proto
	methods := map[string]protoreflect.MethodDescriptor{}
	protoregistry.GlobalFiles.RangeFilesByPackage("commentd.v1", func(f protoreflect.FileDescriptor) bool {
		for i := 0; i < f.Services().Len(); i++ {
			svc := f.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				methods["/"+string(svc.FullName())+"/"+string(m.Name())] = m
			}
		}
		return true
	})
	if len(methods) == 0 {
		t.Fatal("found no methods in package commentd.v1: the generated code is not registered")
	}
	return methods
}

// TestAuthSweep calls every API method with no key, a malformed header, an unknown key, a key of
// the wrong role, the right role and admin. The role each service needs is written here a second
// time, independently of the server's table: a method the server's table lacks is refused to the
// right role too, and this test fails.
func TestAuthSweep(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	type roleKeys struct{ right, wrong string }
	byService := map[string]roleKeys{
		"commentd.v1.CommentService":    {right: siteKeyName, wrong: modKeyName},
		"commentd.v1.ModerationService": {right: modKeyName, wrong: siteKeyName},
	}
	// Methods of a service that need more than the service's role, written here independently too.
	adminOnly := map[string]bool{
		"/commentd.v1.ModerationService/TrainSpam":        true,
		"/commentd.v1.ModerationService/DeleteSpamModel":  true,
		"/commentd.v1.ModerationService/EraseAuthorData":  true,
		"/commentd.v1.ModerationService/ExportAuthorData": true,
	}
	for method, desc := range apiMethods(t) {
		keys, ok := byService[string(desc.Parent().FullName())]
		if !ok {
			t.Errorf("service %s has no role in this test: decide which role may call it, here and in the server's role table", desc.Parent().FullName())
			continue
		}
		if adminOnly[method] {
			keys = roleKeys{right: adminKeyName, wrong: modKeyName}
		}
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			call := func(ctx context.Context) error {
				in, out := dynamicpb.NewMessage(desc.Input()), dynamicpb.NewMessage(desc.Output())
				if desc.IsStreamingServer() {
					// An admitted stream (WatchQueue) runs until the client leaves: end it after a
					// moment. Refusals come back at once; an admitted call ends DEADLINE_EXCEEDED.
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Second)
					defer cancel()
				}
				return e.conn.Invoke(ctx, method, in, out)
			}
			denied := []struct {
				name       string
				ctx        context.Context
				wantCode   codes.Code
				wantReason string
			}{
				{"no key", t.Context(), codes.Unauthenticated, grpcserver.ReasonAPIKeyMissing},
				{"malformed header", metadata.AppendToOutgoingContext(t.Context(), "authorization", "Basic "+e.tokens[keys.right]), codes.Unauthenticated, grpcserver.ReasonAPIKeyMissing},
				{"bearer without token", metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "), codes.Unauthenticated, grpcserver.ReasonAPIKeyMissing},
				{"unknown key", withBearer(t.Context(), e.wrongTk), codes.Unauthenticated, grpcserver.ReasonAPIKeyInvalid},
				// Two headers, one of them right: which counts would be a guess, so neither does.
				{"two keys", metadata.AppendToOutgoingContext(withBearer(t.Context(), e.tokens[keys.right]), "authorization", "Bearer "+e.wrongTk), codes.Unauthenticated, grpcserver.ReasonAPIKeyMissing},
				{"wrong role " + keys.wrong, e.as(t, keys.wrong), codes.PermissionDenied, grpcserver.ReasonRoleNotAllowed},
			}
			for _, tc := range denied {
				gotCode, gotReason := codeReason(call(tc.ctx))
				if gotCode != tc.wantCode || gotReason != tc.wantReason {
					t.Errorf("called %s with %s, got %v %q, want %v %q", method, tc.name, gotCode, gotReason, tc.wantCode, tc.wantReason)
				}
			}
			for _, name := range []string{keys.right, adminKeyName} {
				if code, reason := codeReason(call(e.as(t, name))); code == codes.Unauthenticated || code == codes.PermissionDenied || code == codes.Unimplemented {
					t.Errorf("called %s with key %s, got %v %q, want the call admitted and implemented", method, name, code, reason)
				}
			}
		})
	}
}

// TestAuthFailsClosed checks that a method the role table does not list is refused even to admin.
// An unknown-service handler stands in for a method that was added to the server without a role.
func TestAuthFailsClosed(t *testing.T) {
	e := newEnv(t, envOptions{
		redisAddr: redistest.Start(t).Addr,
		serverOptions: []grpc.ServerOption{grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
			return nil
		})},
	})
	for _, method := range []string{"/commentd.v1.CommentService/PurgeEverything", "/commentd.v1.AdminService/Anything"} {
		for _, key := range []string{siteKeyName, modKeyName, adminKeyName} {
			err := e.conn.Invoke(e.as(t, key), method, &healthgrpc.HealthCheckRequest{}, &healthgrpc.HealthCheckResponse{})
			if code, reason := codeReason(err); code != codes.PermissionDenied || reason != grpcserver.ReasonMethodNotAllowed {
				t.Errorf("called unlisted %s with key %s, got %v %q, want PermissionDenied %q", method, key, code, reason, grpcserver.ReasonMethodNotAllowed)
			}
		}
	}
}

// TestPublicServicesNeedNoKey checks that health and reflection answer without a key.
func TestPublicServicesNeedNoKey(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	resp, err := healthgrpc.NewHealthClient(e.conn).Check(t.Context(), &healthgrpc.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
		t.Errorf("called Health.Check without a key, got %v, %v; want SERVING, nil", resp.GetStatus(), err)
	}
	services := listServices(t, e.conn)
	for _, want := range []string{"commentd.v1.CommentService", "commentd.v1.ModerationService", "grpc.health.v1.Health"} {
		if !services[want] {
			t.Errorf("called reflection ListServices without a key, got %v, want it to include %s", services, want)
		}
	}
}

// listServices asks server reflection (without a key) which services the server offers.
func listServices(t *testing.T, conn *grpc.ClientConn) map[string]bool {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatalf("open reflection stream: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatalf("send ListServices: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("called reflection ListServices without a key, got %v, want a response", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close reflection stream: %v", err)
	}
	got := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		got[s.GetName()] = true
	}
	return got
}

// TestUnauthenticatedCallsAreNotRead: a call that brings no key, or a key not in force, is refused
// before its request is read. gRPC reads a request whole (up to its 4 MiB limit) before any
// interceptor runs, so a check there alone let anyone who reaches the port make the server hold
// 4 MiB per call; a request over the limit tells which came first, the refusal for the key
// (UNAUTHENTICATED) or the reading (RESOURCE_EXHAUSTED). A known key's request is read, and
// refused for its size. The refusals before reading are counted and logged.
func TestUnauthenticatedCallsAreNotRead(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	huge := validSubmission("t1", strings.Repeat("x", 5<<20))
	big := grpc.MaxCallSendMsgSize(16 << 20)
	tests := []struct {
		name       string
		ctx        context.Context
		wantCode   codes.Code
		wantReason string
	}{
		{"no key", t.Context(), codes.Unauthenticated, grpcserver.ReasonAPIKeyMissing},
		{"unknown key", withBearer(t.Context(), e.wrongTk), codes.Unauthenticated, grpcserver.ReasonAPIKeyInvalid},
		{"site key", e.as(t, siteKeyName), codes.ResourceExhausted, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.site.SubmitComment(tc.ctx, huge, big)
			if code, reason := codeReason(err); code != tc.wantCode || reason != tc.wantReason {
				t.Errorf("called SubmitComment with a 5 MiB body, got %v %q (%v); want %v %q", code, reason, err, tc.wantCode, tc.wantReason)
			}
		})
	}
	for reason, want := range map[string]float64{grpcserver.ReasonAPIKeyMissing: 1, grpcserver.ReasonAPIKeyInvalid: 1} {
		if got, err := metricValue(e.reg, "commentd_grpc_refused_unread_total", map[string]string{"reason": reason}); err != nil || got != want {
			t.Errorf("commentd_grpc_refused_unread_total{reason=%q} = %v, %v; want %v", reason, got, err, want)
		}
	}
	if lines := e.logs.find(t, "rpc", map[string]string{"code": "Unauthenticated", "method": "/commentd.v1.CommentService/SubmitComment"}); len(lines) != 2 {
		t.Errorf("got %d access log lines of refused SubmitComment calls, want 2: %v", len(lines), lines)
	}
	// A method name is the client's to write: one the API does not have is not logged as sent.
	const made = "/commentd.v1.CommentService/jane.doe@example.com"
	err := e.conn.Invoke(t.Context(), made, &commentdv1.GetCommentRequest{}, &commentdv1.GetCommentResponse{})
	if code, reason := codeReason(err); code != codes.Unauthenticated || reason != grpcserver.ReasonAPIKeyMissing {
		t.Errorf("called %s with no key, got %v %q; want Unauthenticated %q", made, code, reason, grpcserver.ReasonAPIKeyMissing)
	}
	if strings.Contains(e.logs.String(), "jane.doe") {
		t.Errorf("the log holds the made-up method name %s", made)
	}
	if lines := e.logs.find(t, "rpc", map[string]string{"code": "Unauthenticated", "method": "unknown"}); len(lines) != 1 {
		t.Errorf("got %d access log lines with method \"unknown\", want 1: %v", len(lines), lines)
	}
}
