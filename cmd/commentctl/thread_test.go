package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestThreadSetStaleETag: thread set --etag on a thread that changed since prints the server's
// refusal on one line of stderr, nothing on stdout, and exits 1, as approve --etag does.
func TestThreadSetStaleETag(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{updateThread: func(context.Context, *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error) {
		return nil, statusErr(t, codes.Aborted, "the thread changed since its etag was read (it is closed by a moderator now, mode default); nothing was changed", "ETAG_MISMATCH")
	}}
	args := withServer(serve(t, f), "thread", "set", "post-1", "--mode", "pre", "--etag", `W/"3f2a9c0d41b7e865"`)
	got := invocation{args: args}.run(t)
	if got.code != exitError {
		t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitError)
	}
	if got.stdout != "" {
		t.Errorf("%s: stdout %q; want nothing", cmdline(args), got.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "threads/post-1") || !strings.Contains(lines[0], "the thread changed since its etag was read") ||
		!strings.Contains(lines[0], "ABORTED, ETAG_MISMATCH") {
		t.Errorf("%s: stderr %q; want one line naming the thread, the server's message and ABORTED, ETAG_MISMATCH", cmdline(args), got.stderr)
	}
	if n := len(f.requests("UpdateThread")); n != 1 {
		t.Errorf("%s: %d UpdateThread calls; want 1 (a stale etag fails again when resent)", cmdline(args), n)
	}
}

// TestThreadListCommand: thread list prints a table of the page's threads (THREAD, MODE, CLOSED,
// CHANGED) with the next page's token and the filters to repeat on stderr; --all follows the
// tokens into one ListThreadsResponse with -o json; an empty list prints "No entries.".
func TestThreadListCommand(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	page1 := []*commentdv1.Thread{
		{Name: "threads/post-2", ThreadId: "post-2", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE,
			Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR, UpdateTime: timestamppb.New(now.Add(-2 * time.Hour))},
		{Name: "threads/post-1", ThreadId: "post-1", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST,
			Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE, UpdateTime: timestamppb.New(now.Add(-3 * 24 * time.Hour))},
	}
	page2 := []*commentdv1.Thread{{Name: "threads/old", ThreadId: "old", Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR}}
	newFake := func() *fakeModeration {
		return &fakeModeration{listThreads: func(_ context.Context, r *commentdv1.ListThreadsRequest) (*commentdv1.ListThreadsResponse, error) {
			if r.GetPageToken() == "p2" {
				return &commentdv1.ListThreadsResponse{Threads: page2}, nil
			}
			return &commentdv1.ListThreadsResponse{Threads: page1, NextPageToken: "p2"}, nil
		}}
	}

	t.Run("one page, table", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		args := withServer(serve(t, f), "thread", "list", "--limit", "2", "--mode", "pre", "--closed")
		got := invocation{args: args}.runOK(t)
		lines := strings.Split(strings.TrimRight(got.stdout, "\n"), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "THREAD MODE CLOSED CHANGED" {
			t.Fatalf("%s: stdout has %d lines, want a header THREAD MODE CLOSED CHANGED and 2 threads:\n%s", cmdline(args), len(lines), got.stdout)
		}
		for i, want := range [][]string{
			{"post-2", "pre", "yes, by a moderator", "2h ago"},
			{"post-1", "post", "yes, by age", "3d ago"},
		} {
			for _, w := range want {
				if !strings.Contains(lines[i+1], w) {
					t.Errorf("%s: row %d %q lacks %q", cmdline(args), i+1, lines[i+1], w)
				}
			}
		}
		if !strings.Contains(got.stderr, "--page-token p2 --mode pre --closed=true") {
			t.Errorf("%s: stderr %q, want the next page token with the filters to repeat", cmdline(args), got.stderr)
		}
		f.checkRequests(t, cmdline(args), "ListThreads", &commentdv1.ListThreadsRequest{
			PageSize: 2, ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE, Closed: proto.Bool(true)})
	})

	t.Run("every page, json", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		args := withServer(serve(t, f), "thread", "list", "--all", "--closed=false", "-o", "json")
		got := invocation{args: args}.runOK(t)
		var resp commentdv1.ListThreadsResponse
		if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
			t.Fatalf("%s: stdout %q (%v); want a ListThreadsResponse", cmdline(args), got.stdout, err)
		}
		want := &commentdv1.ListThreadsResponse{Threads: append(append([]*commentdv1.Thread(nil), page1...), page2...)}
		if diff := cmp.Diff(want, &resp, protocmp.Transform()); diff != "" {
			t.Errorf("%s: output (-want +got):\n%s", cmdline(args), diff)
		}
		f.checkRequests(t, cmdline(args), "ListThreads",
			&commentdv1.ListThreadsRequest{Closed: proto.Bool(false), PageSize: maxPageSize}, &commentdv1.ListThreadsRequest{Closed: proto.Bool(false), PageSize: maxPageSize, PageToken: "p2"})
	})

	t.Run("a thread changed at a time not known", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		args := withServer(serve(t, f), "thread", "list", "--page-token", "p2")
		got := invocation{args: args}.runOK(t)
		lines := strings.Split(strings.TrimRight(got.stdout, "\n"), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[1]), " ") != "old default yes, by a moderator -" {
			t.Errorf("%s: stdout\n%s\nwant a header and the row: old default yes, by a moderator -", cmdline(args), got.stdout)
		}
		if got.stderr != "" {
			t.Errorf("%s: stderr %q on the last page, want nothing", cmdline(args), got.stderr)
		}
	})

	t.Run("no threads", func(t *testing.T) {
		t.Parallel()
		f := &fakeModeration{listThreads: func(context.Context, *commentdv1.ListThreadsRequest) (*commentdv1.ListThreadsResponse, error) {
			return &commentdv1.ListThreadsResponse{}, nil
		}}
		args := withServer(serve(t, f), "thread", "list")
		if got := (invocation{args: args}).runOK(t); got.stdout != "No entries.\n" {
			t.Errorf("%s: stdout %q, want %q", cmdline(args), got.stdout, "No entries.\n")
		}
	})
}

// thread list refuses a bad command line before calling the server (exit 2).
func TestThreadListUsage(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{}
	addr := serve(t, f)
	for _, args := range [][]string{
		{"thread", "list", "extra"},
		{"thread", "list", "--mode", "default"},
		{"thread", "list", "--mode", "sometimes"},
		{"thread", "list", "--all", "--page-token", "abc"},
		{"thread", "list", "--limit", "501"},
	} {
		args := withServer(addr, args...)
		if got := (invocation{args: args}).run(t); got.code != exitUsage {
			t.Errorf("%s: exit %d (stderr %q); want %d", cmdline(args), got.code, got.stderr, exitUsage)
		}
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Errorf("usage errors sent %d requests to the server, want none", len(calls))
	}
}
