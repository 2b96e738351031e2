package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/grpcserver"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// subscribed is the header the real server sends once a WatchQueue stream is subscribed.
var subscribed = metadata.Pairs(grpcserver.WatchSubscribedHeader, "subscribed")

// background is a commentctl run in progress, for commands that run until cancelled.
type background struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	code           chan int
}

func startRun(t *testing.T, args []string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	b := &background{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	go func() {
		b.code <- run(ctx, args, strings.NewReader(""), b.stdout, b.stderr, func(string) string { return "" })
	}()
	t.Cleanup(cancel)
	return b
}

// waitFor polls until cond holds, failing the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exitCode waits for the run to end.
func (b *background) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case c := <-b.code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("commentctl did not end within 10s")
		return -1
	}
}

func watchEvent(kind commentdv1.QueueEventKind, id string, at time.Time) *commentdv1.WatchQueueResponse {
	mc := moderated(id, "post-1", "Jane Doe", "j•••@example.com", "Hello there, this is a comment that is long enough to be cut", at, "TOO_MANY_LINKS")
	return &commentdv1.WatchQueueResponse{Kind: kind, Comment: mc, EventTime: timestamppb.New(at)}
}

func TestWatchRequest(t *testing.T) {
	t.Parallel()
	held := commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD
	tests := []struct {
		name string
		args []string
		want *commentdv1.WatchQueueRequest
	}{
		{name: "defaults", args: nil, want: &commentdv1.WatchQueueRequest{}},
		{
			name: "kinds and thread",
			args: []string{"--kinds", "held,spam", "--thread", "post-1"},
			want: &commentdv1.WatchQueueRequest{Kinds: []commentdv1.QueueEventKind{held, commentdv1.QueueEventKind_QUEUE_EVENT_KIND_SPAM}, ThreadId: "post-1"},
		},
		{
			// As thread get takes and prints it.
			name: "thread as a resource name",
			args: []string{"--thread", "threads/post-1"},
			want: &commentdv1.WatchQueueRequest{ThreadId: "post-1"},
		},
		{
			name: "case, spaces and repeats",
			args: []string{"--kinds", "HELD, reported,held,decided"},
			want: &commentdv1.WatchQueueRequest{Kinds: []commentdv1.QueueEventKind{
				held, commentdv1.QueueEventKind_QUEUE_EVENT_KIND_REPORTED, commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A refusal ends watch after one call, so the request can be checked.
			d := &moderationDouble{watchFn: func(*commentdv1.WatchQueueRequest, grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
				return statusErr(t, codes.PermissionDenied, "not a moderator", "PERMISSION_DENIED")
			}}
			args := withServer(serveDouble(t, d), append([]string{"watch"}, tt.args...)...)
			got := invocation{args: args}.run(t)
			if got.code != exitError {
				t.Errorf("%s against a refusing server: exit %d; want %d", cmdline(args), got.code, exitError)
			}
			if !strings.Contains(got.stderr, "PERMISSION_DENIED") {
				t.Errorf("%s: stderr %q; want the refusal's reason", cmdline(args), got.stderr)
			}
			if diff := cmp.Diff([]proto.Message{tt.want}, d.requests("WatchQueue"), protocmp.Transform()); diff != "" {
				t.Errorf("%s: WatchQueue requests mismatch (-want +got):\n%s", cmdline(args), diff)
			}
		})
	}
}

func TestWatchOutput(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 30, 5, 0, time.UTC)
	events := []*commentdv1.WatchQueueResponse{
		watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, "c1", at),
		watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_REPORTED, "c2", at.Add(time.Minute)),
		watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED, "c3", at.Add(2*time.Minute)),
	}
	events[1].Comment.ReportCount = 3
	events[1].Comment.Comment.AuthorName = "Eve\x1b[2J"
	events[2].Comment.Comment.State = commentdv1.State_STATE_REJECTED
	events[2].Comment.Decision = &commentdv1.Decision{
		Moderator: "alice", FromState: commentdv1.State_STATE_PENDING, ToState: commentdv1.State_STATE_REJECTED,
		DecideTime: timestamppb.New(at.Add(2 * time.Minute)), Reason: "off topic",
	}

	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
				for _, ev := range events {
					if err := stream.Send(ev); err != nil {
						return err
					}
				}
				<-stream.Context().Done()
				return nil
			}}
			b := startRun(t, withServer(serveDouble(t, d), "watch", "-o", output))
			waitFor(t, "three events printed", func() bool { return len(lines(b.stdout.String())) == len(events) })
			b.cancel()
			if code := b.exitCode(t); code != exitOK {
				t.Errorf("watch -o %s ended by Ctrl-C: exit %d (stderr %q); want 0", output, code, b.stderr.String())
			}
			got := lines(b.stdout.String())
			if output == "json" {
				for i, l := range got {
					var ev commentdv1.WatchQueueResponse
					if err := protojson.Unmarshal([]byte(l), &ev); err != nil {
						t.Fatalf("watch -o json: line %d %q is not a WatchQueueResponse: %v", i+1, l, err)
					}
					if diff := cmp.Diff(events[i], &ev, protocmp.Transform()); diff != "" {
						t.Errorf("watch -o json: event %d mismatch (-want +got):\n%s", i+1, diff)
					}
				}
				return
			}
			local := func(t time.Time) string { return t.In(time.Local).Format(time.TimeOnly) }
			want := []string{
				local(at) + "  held      c1  post-1  Jane Doe            j•••@example.com  TOO_MANY_LINKS  Hello there, this is a comment that is…",
				local(at.Add(time.Minute)) + "  reported  c2  post-1  Eve [2J             j•••@example.com  TOO_MANY_LINKS,3 reports  Hello there, this is a comment that is…",
				local(at.Add(2*time.Minute)) + "  decided   c3  post-1  Jane Doe            j•••@example.com  pending→rejected by alice,TOO_MANY_LINKS  Hello there, this is a comment that is…",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("watch: output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchReconnects(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	// The server's RetryInfo says 1s; a shorter one keeps the test short.
	shuttingDown := statusErr(t, codes.Unavailable, "the server is shutting down; reconnect", grpcserver.ReasonShuttingDown,
		&errdetails.RetryInfo{RetryDelay: durationpb.New(10 * time.Millisecond)})
	var calls atomic.Int32
	d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
		switch calls.Add(1) {
		case 1: // one event, then the server goes away, ending the stream as commentd does then
			if err := stream.Send(watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, "c1", at)); err != nil {
				return err
			}
			return shuttingDown
		case 2: // still down
			return status.Error(codes.Unavailable, "connection refused")
		case 3: // a clean end of the stream, as when a proxy closes it
			return nil
		default: // back for good
			if err := stream.Send(watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, "c2", at)); err != nil {
				return err
			}
			<-stream.Context().Done()
			return nil
		}
	}}
	args := withServer(serveDouble(t, d), "watch", "--kinds", "held", "--reconnect-delay", "10ms")
	b := startRun(t, args)
	waitFor(t, "the event after the reconnects", func() bool { return len(lines(b.stdout.String())) == 2 })
	b.cancel()
	if code := b.exitCode(t); code != exitOK {
		t.Errorf("%s: exit %d; want 0 after Ctrl-C", cmdline(args), code)
	}

	if got := calls.Load(); got != 4 {
		t.Errorf("%s: %d WatchQueue calls; want 4 (three breaks, one lasting stream)", cmdline(args), got)
	}
	for i, r := range d.requests("WatchQueue") {
		want := &commentdv1.WatchQueueRequest{Kinds: []commentdv1.QueueEventKind{commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD}}
		if diff := cmp.Diff(want, r, protocmp.Transform()); diff != "" {
			t.Errorf("%s: WatchQueue request %d mismatch (-want +got):\n%s", cmdline(args), i+1, diff)
		}
	}
	// The first stream delivered an event, so its break starts the count; the next two add to it.
	// Each line says what happened, that watch tries again, and what is missed meanwhile.
	want := []string{
		"commentctl: watch: disconnected (the server is shutting down (UNAVAILABLE, SHUTTING_DOWN)); events from now until it reconnects are not shown; reconnecting in <wait> (attempt 1)",
		"commentctl: watch: could not reconnect (connection refused (UNAVAILABLE)); events are still not shown; trying again in <wait> (attempt 2)",
		"commentctl: watch: could not reconnect (the server closed the stream); events are still not shown; trying again in <wait> (attempt 3)",
		"commentctl: watch: reconnected; events while the stream was down are not replayed, so some may be missing: run 'commentctl queue' to see what waits",
	}
	if diff := cmp.Diff(want, withoutWaits(lines(b.stderr.String()))); diff != "" {
		t.Errorf("%s: stderr mismatch (-want +got):\n%s", cmdline(args), diff)
	}
}

// withoutWaits replaces the random wait in watch's "in <wait> (attempt" with <wait>.
func withoutWaits(ls []string) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		if before, rest, ok := strings.Cut(l, " in "); ok {
			if _, after, ok := strings.Cut(rest, " (attempt "); ok {
				l = before + " in <wait> (attempt " + after
			}
		}
		out = append(out, l)
	}
	return out
}

// TestWatchCannotConnectAtStart: a watch whose first streams fail says it could not connect, not
// that a stream broke or that it reconnected, and once up that events meanwhile were not shown.
func TestWatchCannotConnectAtStart(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
		if calls.Add(1) <= 2 {
			return status.Error(codes.Unavailable, "store unavailable")
		}
		if err := stream.SendHeader(subscribed); err != nil {
			return err
		}
		<-stream.Context().Done()
		return nil
	}}
	args := withServer(serveDouble(t, d), "watch", "--reconnect-delay", "10ms")
	b := startRun(t, args)
	waitFor(t, "the connected line", func() bool { return strings.Contains(b.stderr.String(), "watch: connected") })
	b.cancel()
	if code := b.exitCode(t); code != exitOK {
		t.Errorf("%s: exit %d; want 0 after Ctrl-C", cmdline(args), code)
	}
	want := []string{
		"commentctl: watch: could not connect (store unavailable (UNAVAILABLE)); trying again in <wait> (attempt 1)",
		"commentctl: watch: could not connect (store unavailable (UNAVAILABLE)); trying again in <wait> (attempt 2)",
		"commentctl: watch: connected; events while it could not connect are not shown: run 'commentctl queue' to see what waits",
	}
	if diff := cmp.Diff(want, withoutWaits(lines(b.stderr.String()))); diff != "" {
		t.Errorf("%s: stderr mismatch (-want +got):\n%s", cmdline(args), diff)
	}
}

// TestWatchSaysReconnectedBeforeAnyEvent checks that watch says it is back as soon as the server
// has subscribed it again, not at the next event: on a quiet queue that may be hours, during which
// "reconnecting" would stay the last word on the screen.
func TestWatchSaysReconnectedBeforeAnyEvent(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
		if calls.Add(1) == 1 {
			// Up, then the server goes away.
			if err := stream.SendHeader(subscribed); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "server shutting down")
		}
		// Subscribed, as the real server says with its headers; no event comes.
		if err := stream.SendHeader(subscribed); err != nil {
			return err
		}
		<-stream.Context().Done()
		return nil
	}}
	args := withServer(serveDouble(t, d), "watch", "--reconnect-delay", "10ms")
	b := startRun(t, args)
	waitFor(t, "the reconnected line", func() bool { return strings.Contains(b.stderr.String(), "watch: reconnected") })
	b.cancel()
	if code := b.exitCode(t); code != exitOK {
		t.Errorf("%s: exit %d; want 0 after Ctrl-C", cmdline(args), code)
	}
	if out := b.stdout.String(); out != "" {
		t.Errorf("%s: stdout %q; want nothing, as no event came", cmdline(args), out)
	}
}

// TestWatchRefusalIsNoReconnect: the real server sends headers (the request id) with a refusal
// too. Those are no subscription: no "reconnected", and the backoff goes on growing.
func TestWatchRefusalIsNoReconnect(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
		switch calls.Add(1) {
		case 1: // subscribed, then the server goes away
			if err := stream.SendHeader(subscribed); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "server shutting down")
		case 2, 3: // refused, with a request id as the server sends one with every status
			_ = stream.SetHeader(metadata.Pairs("x-request-id", "r-1"))
			return status.Error(codes.Unavailable, "store unavailable")
		default:
			if err := stream.SendHeader(subscribed); err != nil {
				return err
			}
			<-stream.Context().Done()
			return nil
		}
	}}
	args := withServer(serveDouble(t, d), "watch", "--reconnect-delay", "10ms")
	b := startRun(t, args)
	waitFor(t, "the reconnected line", func() bool { return strings.Contains(b.stderr.String(), "watch: reconnected") })
	b.cancel()
	if code := b.exitCode(t); code != exitOK {
		t.Errorf("%s: exit %d; want 0 after Ctrl-C", cmdline(args), code)
	}
	var reconnected int
	var attempts []string
	for _, l := range lines(b.stderr.String()) {
		switch {
		case strings.Contains(l, "(attempt "):
			_, a, _ := strings.Cut(l, "(attempt ")
			attempts = append(attempts, strings.TrimSuffix(a, ")"))
		case strings.Contains(l, "watch: reconnected"):
			reconnected++
		}
	}
	if reconnected != 1 {
		t.Errorf("%s: %d reconnected lines; want 1, after the refusals:\n%s", cmdline(args), reconnected, b.stderr.String())
	}
	if diff := cmp.Diff([]string{"1", "2", "3"}, attempts); diff != "" {
		t.Errorf("%s: reconnect attempts mismatch (-want +got); refusals count on:\n%s", cmdline(args), diff)
	}
}

func TestWatchUsage(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{}
	addr := serveDouble(t, d)
	for _, args := range [][]string{
		{"watch", "--kinds", "held,bogus"},
		{"watch", "--reconnect-delay", "0s"},
		{"watch", "extra"},
	} {
		args := withServer(addr, args...)
		got := invocation{args: args}.run(t)
		if got.code != exitUsage {
			t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitUsage)
		}
	}
	if calls := d.recorded(); len(calls) != 0 {
		t.Errorf("watch usage errors made %d calls; want none", len(calls))
	}
}

// The wait between reconnects doubles after each failed attempt (with jitter, between half of it
// and all of it), and a stream that delivered events starts the doubling anew.
func TestWatchBackoffDoubles(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	var calls atomic.Int32
	d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
		switch n := calls.Add(1); {
		case n <= 4: // down: 10, 20, 40, 80 ms
			return status.Error(codes.Unavailable, "connection refused")
		case n == 5: // back for one event, then down again: 10 ms
			if err := stream.Send(watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, "c1", at)); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "server shutting down")
		case n == 6: // 20 ms
			return status.Error(codes.Unavailable, "connection refused")
		case n == 7: // taken, no event, then down again: 10 ms
			if err := stream.SendHeader(subscribed); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "server shutting down")
		case n == 8: // 20 ms
			return status.Error(codes.Unavailable, "connection refused")
		default:
			if err := stream.Send(watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, "c2", at)); err != nil {
				return err
			}
			<-stream.Context().Done()
			return nil
		}
	}}
	args := withServer(serveDouble(t, d), "watch", "--reconnect-delay", "10ms")
	b := startRun(t, args)
	waitFor(t, "the event after the reconnects", func() bool { return len(lines(b.stdout.String())) == 2 })
	b.cancel()
	b.exitCode(t)

	var got []time.Duration
	for _, l := range lines(b.stderr.String()) {
		// "reconnecting in 10ms (attempt 1)" or "trying again in 10ms (attempt 2)"
		before, _, ok := strings.Cut(l, " (attempt ")
		if !ok {
			continue
		}
		s := before[strings.LastIndex(before, " ")+1:]
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("stderr line %q: delay %q: %v", l, s, err)
		}
		got = append(got, d)
	}
	waits := []time.Duration{10, 20, 40, 80, 10, 20, 10, 20}
	if len(got) != len(waits) {
		t.Fatalf("%s: %d reconnect delays printed %v; want %d:\n%s", cmdline(args), len(got), got, len(waits), b.stderr.String())
	}
	for i, w := range waits {
		w *= time.Millisecond
		if got[i] < w/2 || got[i] > w {
			t.Errorf("%s: reconnect %d waited %s; want %s to %s", cmdline(args), i+1, got[i], w/2, w)
		}
	}
}

// Which stream errors end watch for good: the ones a new call would meet again.
func TestWatchPermanentErrors(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{io.EOF, false},
		{status.Error(codes.Unavailable, "connection refused"), false},
		{status.Error(codes.Internal, "stream broke"), false},
		{status.Error(codes.DeadlineExceeded, "late"), false},
		{status.Error(codes.Unauthenticated, "bad key"), true},
		{status.Error(codes.PermissionDenied, "no role"), true},
		{status.Error(codes.InvalidArgument, "bad kinds"), true},
		{status.Error(codes.FailedPrecondition, "watch is off"), true},
		{status.Error(codes.NotFound, "no such thread"), true},
		{status.Error(codes.Unimplemented, "old server"), true},
		{&writeError{err: errors.New("broken pipe")}, true},
		{fmt.Errorf("print event: %w", &writeError{err: errors.New("broken pipe")}), true},
	} {
		if got := permanent(tt.err); got != tt.want {
			t.Errorf("permanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// A server with no room for another watcher (RESOURCE_EXHAUSTED TOO_MANY_WATCHERS) says how long to
// wait in its RetryInfo; watch waits at least that long rather than its own shorter backoff.
func TestWatchHonoursRetryInfo(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	const serverDelay = 300 * time.Millisecond
	var calls atomic.Int32
	d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
		if calls.Add(1) == 1 {
			st, err := status.New(codes.ResourceExhausted, "this server serves as many queue watchers as it may; retry later").
				WithDetails(&errdetails.ErrorInfo{Reason: "TOO_MANY_WATCHERS", Domain: "commentd.dev"},
					&errdetails.RetryInfo{RetryDelay: durationpb.New(serverDelay)})
			if err != nil {
				return err
			}
			return st.Err()
		}
		if err := stream.Send(watchEvent(commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, "c1", at)); err != nil {
			return err
		}
		<-stream.Context().Done()
		return nil
	}}
	args := withServer(serveDouble(t, d), "watch", "--reconnect-delay", "10ms")
	start := time.Now()
	b := startRun(t, args)
	waitFor(t, "the event after the refusal", func() bool { return len(lines(b.stdout.String())) == 1 })
	took := time.Since(start)
	b.cancel()
	b.exitCode(t)
	if took < serverDelay {
		t.Errorf("%s: reconnected after %s; want at least the server's RetryInfo %s:\n%s", cmdline(args), took, serverDelay, b.stderr.String())
	}
}

// TestWatchBreakSaysEachThingOnce: the statuses commentd ends or refuses a stream with end in its
// advice to try again ("; reconnect", "; retry later") and carry a RetryInfo. Watch says when it
// tries again itself, so its line gives the server's reason without that advice: "reconnect" and
// the delay are said once, by watch. Advice watch does not follow itself ("close one") stays.
func TestWatchBreakSaysEachThingOnce(t *testing.T) {
	t.Parallel()
	retry := &errdetails.RetryInfo{RetryDelay: durationpb.New(10 * time.Millisecond)}
	tests := []struct {
		name      string
		up        bool // the stream was up before it ended
		err       func(t *testing.T) error
		wantCause string
	}{
		{"shutting down", true, func(t *testing.T) error {
			return statusErr(t, codes.Unavailable, "the server is shutting down; reconnect", grpcserver.ReasonShuttingDown, retry)
		}, "the server is shutting down (UNAVAILABLE, SHUTTING_DOWN)"},
		{"fell behind", true, func(t *testing.T) error {
			return statusErr(t, codes.Unavailable, "this stream fell behind: its client left events unread too long, and some were dropped; reconnect and list the queue", grpcserver.ReasonWatchFellBehind, retry)
		}, "this stream fell behind: its client left events unread too long, and some were dropped (UNAVAILABLE, WATCH_FELL_BEHIND)"},
		{"store unavailable", false, func(t *testing.T) error {
			return statusErr(t, codes.Unavailable, "the store is unavailable; retry later", grpcserver.ReasonStoreUnavailable, retry)
		}, "the store is unavailable (UNAVAILABLE, STORE_UNAVAILABLE)"},
		{"too many watchers", false, func(t *testing.T) error {
			return statusErr(t, codes.ResourceExhausted, "this server serves as many queue watchers as it may; retry later", grpcserver.ReasonTooManyWatchers, retry)
		}, "this server serves as many queue watchers as it may (RESOURCE_EXHAUSTED, TOO_MANY_WATCHERS)"},
		{"too many watchers of the key", false, func(t *testing.T) error {
			return statusErr(t, codes.ResourceExhausted, "this API key has as many queue watchers open on this server as one key may; close one", grpcserver.ReasonTooManyWatchers, retry)
		}, "this API key has as many queue watchers open on this server as one key may; close one (RESOURCE_EXHAUSTED, TOO_MANY_WATCHERS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ended := tt.err(t)
			d := &moderationDouble{watchFn: func(_ *commentdv1.WatchQueueRequest, stream grpc.ServerStreamingServer[commentdv1.WatchQueueResponse]) error {
				if tt.up {
					if err := stream.SendHeader(subscribed); err != nil {
						return err
					}
				}
				return ended
			}}
			args := withServer(serveDouble(t, d), "watch", "--reconnect-delay", "10ms")
			b := startRun(t, args)
			waitFor(t, "the line on the first break", func() bool { return strings.Contains(b.stderr.String(), "(attempt 1)") })
			b.cancel()
			if code := b.exitCode(t); code != exitOK {
				t.Errorf("%s: exit %d; want 0 after Ctrl-C", cmdline(args), code)
			}
			want := "commentctl: watch: could not connect (" + tt.wantCause + "); trying again in <wait> (attempt 1)"
			if tt.up {
				want = "commentctl: watch: disconnected (" + tt.wantCause + "); events from now until it reconnects are not shown; reconnecting in <wait> (attempt 1)"
			}
			if got := withoutWaits(lines(b.stderr.String())); len(got) == 0 || got[0] != want {
				t.Errorf("%s, the stream ended with %v: stderr %q; want first %q", cmdline(args), ended, got, want)
			}
		})
	}
}
