package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// fakeModeration is a ModerationService test double: each method answers with its function field
// (Unimplemented when nil) and every call is recorded with its request and authorization header.
type fakeModeration struct {
	commentdv1.UnimplementedModerationServiceServer

	listQueue    func(context.Context, *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error)
	getComment   func(context.Context, *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error)
	approve      func(context.Context, *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error)
	reject       func(context.Context, *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error)
	getThread    func(context.Context, *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error)
	updateThread func(context.Context, *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error)
	listThreads  func(context.Context, *commentdv1.ListThreadsRequest) (*commentdv1.ListThreadsResponse, error)

	mu    sync.Mutex
	calls []recordedCall
}

type recordedCall struct {
	method string
	auth   []string // the "authorization" metadata values
	req    proto.Message
}

func (f *fakeModeration) record(ctx context.Context, method string, req proto.Message) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, recordedCall{method: method, auth: md.Get("authorization"), req: proto.Clone(req)})
}

// recorded returns the calls so far.
func (f *fakeModeration) recorded() []recordedCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedCall(nil), f.calls...)
}

// requests returns the requests of the calls to method, in arrival order.
func (f *fakeModeration) requests(method string) []proto.Message {
	var out []proto.Message
	for _, c := range f.recorded() {
		if c.method == method {
			out = append(out, c.req)
		}
	}
	return out
}

// checkRequests checks that the calls to method carried want, in arrival order; when says what the
// test did, for the failure message.
func (f *fakeModeration) checkRequests(t *testing.T, when, method string, want ...proto.Message) {
	t.Helper()
	if diff := cmp.Diff(want, f.requests(method), protocmp.Transform()); diff != "" {
		t.Errorf("%s: %s requests mismatch (-want +got):\n%s", when, method, diff)
	}
}

func (f *fakeModeration) ListQueue(ctx context.Context, req *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
	f.record(ctx, "ListQueue", req)
	if f.listQueue == nil {
		return f.UnimplementedModerationServiceServer.ListQueue(ctx, req)
	}
	return f.listQueue(ctx, req)
}

func (f *fakeModeration) GetComment(ctx context.Context, req *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
	f.record(ctx, "GetComment", req)
	if f.getComment == nil {
		return f.UnimplementedModerationServiceServer.GetComment(ctx, req)
	}
	return f.getComment(ctx, req)
}

func (f *fakeModeration) ApproveComment(ctx context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
	f.record(ctx, "ApproveComment", req)
	if f.approve == nil {
		return f.UnimplementedModerationServiceServer.ApproveComment(ctx, req)
	}
	return f.approve(ctx, req)
}

func (f *fakeModeration) RejectComment(ctx context.Context, req *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
	f.record(ctx, "RejectComment", req)
	if f.reject == nil {
		return f.UnimplementedModerationServiceServer.RejectComment(ctx, req)
	}
	return f.reject(ctx, req)
}

func (f *fakeModeration) GetThread(ctx context.Context, req *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
	f.record(ctx, "GetThread", req)
	if f.getThread == nil {
		return f.UnimplementedModerationServiceServer.GetThread(ctx, req)
	}
	return f.getThread(ctx, req)
}

func (f *fakeModeration) ListThreads(ctx context.Context, req *commentdv1.ListThreadsRequest) (*commentdv1.ListThreadsResponse, error) {
	f.record(ctx, "ListThreads", req)
	if f.listThreads == nil {
		return f.UnimplementedModerationServiceServer.ListThreads(ctx, req)
	}
	return f.listThreads(ctx, req)
}

func (f *fakeModeration) UpdateThread(ctx context.Context, req *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error) {
	f.record(ctx, "UpdateThread", req)
	if f.updateThread == nil {
		return f.UnimplementedModerationServiceServer.UpdateThread(ctx, req)
	}
	return f.updateThread(ctx, req)
}

// serve runs f on a gRPC server on a free loopback port until the test ends and returns its address.
func serve(t *testing.T, f *fakeModeration, opts ...grpc.ServerOption) string {
	t.Helper()
	srv := grpc.NewServer(opts...)
	commentdv1.RegisterModerationServiceServer(srv, f)
	return serveLoopback(t, srv)
}

// serveLoopback runs srv on a free loopback port until the test ends and returns its address.
func serveLoopback(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis) // returns when Stop closes the listener
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// result is what one run of commentctl produced.
type result struct {
	code           int
	stdout, stderr string
}

// invocation is one command line for commentctl's run.
type invocation struct {
	args  []string
	env   map[string]string
	stdin string
}

func (in invocation) run(t *testing.T) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := func(k string) string { return in.env[k] }
	code := run(t.Context(), in.args, strings.NewReader(in.stdin), &stdout, &stderr, env)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runOK runs the command line, which must succeed: the test stops there if it exits non-zero.
func (in invocation) runOK(t *testing.T) result {
	t.Helper()
	got := in.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(in.args), got.code, got.stderr)
	}
	return got
}

// checkOneRequest runs args, which must exit 0, and checks that they made one call to method, with
// want as its request. A flag that takes a span (--older-than 48h, --since 24h) sets timeField to a
// time the test cannot know: when ago is not 0, timeField must lie ago before the run and want's is
// not compared. It returns the run and the request, for the checks only the caller knows.
func (f *fakeModeration) checkOneRequest(t *testing.T, args []string, method string, want proto.Message, timeField protoreflect.Name, ago time.Duration) (result, proto.Message) {
	t.Helper()
	before := time.Now()
	got := invocation{args: args}.runOK(t)
	after := time.Now()
	reqs := f.requests(method)
	if len(reqs) != 1 {
		t.Fatalf("%s: %d %s calls; want 1", cmdline(args), len(reqs), method)
	}
	req := reqs[0]
	opts := []cmp.Option{protocmp.Transform()}
	if ago != 0 {
		opts = append(opts, protocmp.IgnoreFields(want, timeField))
		r := req.ProtoReflect()
		ts, _ := r.Get(r.Descriptor().Fields().ByName(timeField)).Message().Interface().(*timestamppb.Timestamp)
		if at := ts.AsTime(); ts == nil || at.Before(before.Add(-ago)) || at.After(after.Add(-ago)) {
			t.Errorf("%s: %s %s; want %s before the run", cmdline(args), timeField, at, ago)
		}
	}
	if diff := cmp.Diff(want, req, opts...); diff != "" {
		t.Errorf("%s: %s request mismatch (-want +got):\n%s", cmdline(args), method, diff)
	}
	return got, req
}

// cmdline renders args for failure messages.
func cmdline(args []string) string { return "commentctl " + strings.Join(args, " ") }

// withServer prepends the flags that point commentctl at addr with a token.
func withServer(addr string, args ...string) []string {
	return append([]string{"--server", addr, "--token", "tok-1"}, args...)
}
