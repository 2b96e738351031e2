package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// moderationDouble extends fakeModeration with the calls of review, watch, bulk, audit, stats,
// erase and export.
// Like it, each method answers with its function field (Unimplemented when nil) and records the
// call.
type moderationDouble struct {
	fakeModeration

	claimFn     func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error)
	releaseFn   func(context.Context, *commentdv1.ReleaseCommentsRequest) (*commentdv1.ReleaseCommentsResponse, error)
	markSpamFn  func(context.Context, *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error)
	reopenFn    func(context.Context, *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error)
	notSpamFn   func(context.Context, *commentdv1.MarkNotSpamRequest) (*commentdv1.MarkNotSpamResponse, error)
	createBanFn func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error)
	deleteBanFn func(context.Context, *commentdv1.DeleteBanRequest) (*commentdv1.DeleteBanResponse, error)
	auditFn     func(context.Context, *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error)
	statsFn     func(context.Context, *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error)
	watchFn     func(*commentdv1.WatchQueueRequest, grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error
	eraseFn     func(context.Context, *commentdv1.EraseAuthorDataRequest) (*commentdv1.EraseAuthorDataResponse, error)
	exportFn    func(context.Context, *commentdv1.ExportAuthorDataRequest) (*commentdv1.ExportAuthorDataResponse, error)
}

func (d *moderationDouble) ClaimComments(ctx context.Context, req *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
	d.record(ctx, "ClaimComments", req)
	if d.claimFn == nil {
		return d.UnimplementedModerationServiceServer.ClaimComments(ctx, req)
	}
	return d.claimFn(ctx, req)
}

func (d *moderationDouble) ReleaseComments(ctx context.Context, req *commentdv1.ReleaseCommentsRequest) (*commentdv1.ReleaseCommentsResponse, error) {
	d.record(ctx, "ReleaseComments", req)
	if d.releaseFn == nil {
		return &commentdv1.ReleaseCommentsResponse{}, nil // the server ignores names it does not know
	}
	return d.releaseFn(ctx, req)
}

func (d *moderationDouble) MarkSpam(ctx context.Context, req *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
	d.record(ctx, "MarkSpam", req)
	if d.markSpamFn == nil {
		return d.UnimplementedModerationServiceServer.MarkSpam(ctx, req)
	}
	return d.markSpamFn(ctx, req)
}

func (d *moderationDouble) ReopenComment(ctx context.Context, req *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
	d.record(ctx, "ReopenComment", req)
	if d.reopenFn == nil {
		return d.UnimplementedModerationServiceServer.ReopenComment(ctx, req)
	}
	return d.reopenFn(ctx, req)
}

func (d *moderationDouble) MarkNotSpam(ctx context.Context, req *commentdv1.MarkNotSpamRequest) (*commentdv1.MarkNotSpamResponse, error) {
	d.record(ctx, "MarkNotSpam", req)
	if d.notSpamFn == nil {
		return d.UnimplementedModerationServiceServer.MarkNotSpam(ctx, req)
	}
	return d.notSpamFn(ctx, req)
}

func (d *moderationDouble) CreateBan(ctx context.Context, req *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
	d.record(ctx, "CreateBan", req)
	if d.createBanFn == nil {
		return d.UnimplementedModerationServiceServer.CreateBan(ctx, req)
	}
	return d.createBanFn(ctx, req)
}

func (d *moderationDouble) DeleteBan(ctx context.Context, req *commentdv1.DeleteBanRequest) (*commentdv1.DeleteBanResponse, error) {
	d.record(ctx, "DeleteBan", req)
	if d.deleteBanFn == nil {
		return d.UnimplementedModerationServiceServer.DeleteBan(ctx, req)
	}
	return d.deleteBanFn(ctx, req)
}

func (d *moderationDouble) ListAuditEvents(ctx context.Context, req *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
	d.record(ctx, "ListAuditEvents", req)
	if d.auditFn == nil {
		return d.UnimplementedModerationServiceServer.ListAuditEvents(ctx, req)
	}
	return d.auditFn(ctx, req)
}

func (d *moderationDouble) GetStats(ctx context.Context, req *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error) {
	d.record(ctx, "GetStats", req)
	if d.statsFn == nil {
		return d.UnimplementedModerationServiceServer.GetStats(ctx, req)
	}
	return d.statsFn(ctx, req)
}

func (d *moderationDouble) WatchQueue(req *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
	d.record(stream.Context(), "WatchQueue", req)
	if d.watchFn == nil {
		return d.UnimplementedModerationServiceServer.WatchQueue(req, stream)
	}
	return d.watchFn(req, stream)
}

func (d *moderationDouble) EraseAuthorData(ctx context.Context, req *commentdv1.EraseAuthorDataRequest) (*commentdv1.EraseAuthorDataResponse, error) {
	d.record(ctx, "EraseAuthorData", req)
	if d.eraseFn == nil {
		return d.UnimplementedModerationServiceServer.EraseAuthorData(ctx, req)
	}
	return d.eraseFn(ctx, req)
}

func (d *moderationDouble) ExportAuthorData(ctx context.Context, req *commentdv1.ExportAuthorDataRequest) (*commentdv1.ExportAuthorDataResponse, error) {
	d.record(ctx, "ExportAuthorData", req)
	if d.exportFn == nil {
		return d.UnimplementedModerationServiceServer.ExportAuthorData(ctx, req)
	}
	return d.exportFn(ctx, req)
}

// serveDouble runs d on a gRPC server on a free loopback port until the test ends.
func serveDouble(t *testing.T, d *moderationDouble) string {
	t.Helper()
	srv := grpc.NewServer()
	commentdv1.RegisterModerationServiceServer(srv, d)
	return serveLoopback(t, srv)
}

// dialDouble returns a client of the server at addr, closed when the test ends.
func dialDouble(t *testing.T, addr string) commentdv1.ModerationServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%s): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return commentdv1.NewModerationServiceClient(conn)
}

// syncBuffer is a bytes.Buffer that a command may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines splits output into its lines, without the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// usageCase is a command line that must fail as a usage error: exit 2, before any call.
type usageCase struct {
	name string
	args []string
}

// checkUsageErrors runs each case against the double d served at addr and checks that it exits 2
// and that, once all have run, d received no call.
func checkUsageErrors(t *testing.T, d *moderationDouble, addr, command string, cases []usageCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(addr, tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitUsage {
				t.Errorf("%s: exit %d (stderr %q); want %d", cmdline(args), got.code, got.stderr, exitUsage)
			}
		})
	}
	t.Cleanup(func() {
		if calls := d.recorded(); len(calls) != 0 {
			t.Errorf("%s usage errors made %d calls; want none", command, len(calls))
		}
	})
}
