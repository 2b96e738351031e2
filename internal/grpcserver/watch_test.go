package grpcserver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// openWatch opens a WatchQueue stream and waits for its headers, which the server sends once it
// is subscribed: every event after that reaches the stream.
func openWatch(t *testing.T, e *env, req *commentdv1.WatchQueueRequest) grpc.ServerStreamingClient[commentdv1.WatchQueueResponse] {
	t.Helper()
	ctx, cancel := context.WithCancel(e.as(t, modKeyName))
	t.Cleanup(cancel)
	stream, err := e.mod.WatchQueue(ctx, req)
	if err != nil {
		t.Fatalf("called WatchQueue(%v): %v", req, err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("called WatchQueue(%v), got %v waiting for headers, want the subscription", req, err)
	}
	return stream
}

// recv receives one event, failing the test after a few seconds.
func recv(t *testing.T, stream grpc.ServerStreamingClient[commentdv1.WatchQueueResponse]) *commentdv1.WatchQueueResponse {
	t.Helper()
	type result struct {
		resp *commentdv1.WatchQueueResponse
		err  error
	}
	c := make(chan result, 1)
	go func() {
		resp, err := stream.Recv()
		c <- result{resp, err}
	}()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("received from WatchQueue, got %v, want an event", r.err)
		}
		return r.resp
	case <-time.After(5 * time.Second):
		t.Fatalf("received from WatchQueue, got nothing in 5s, want an event")
	}
	return nil
}

// TestWatchQueueAcrossInstances runs two servers on one Redis: a comment submitted through one
// reaches a moderator watching through the other.
func TestWatchQueueAcrossInstances(t *testing.T) {
	addr := redistest.Start(t).Addr
	a := newWorkflowEnv(t, workflowOptions{redisAddr: addr, mode: comment.ModePost})
	b := newWorkflowEnv(t, workflowOptions{redisAddr: addr, prefix: a.prefix, ring: a.ring, mode: comment.ModePost})

	all := openWatch(t, b, &commentdv1.WatchQueueRequest{})
	some := openWatch(t, b, &commentdv1.WatchQueueRequest{
		Kinds:    []commentdv1.QueueEventKind{commentdv1.QueueEventKind_QUEUE_EVENT_KIND_SPAM, commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED},
		ThreadId: "watched-2",
	})

	a.submit(t, validSubmission("watched", "published at once: no event"))
	a.submit(t, validSubmission("watched", "SPAM in another thread than the filter's"))
	before := time.Now()
	held := a.submit(t, validSubmission("watched", "HOLD for a look"))
	got := recv(t, all)
	if got.GetKind() != commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD || got.GetComment().GetComment().GetName() != held.GetName() {
		t.Fatalf("called WatchQueue on instance B, then SubmitComment on A, got %v, want HELD %s", got, held.GetName())
	}
	if et := got.GetEventTime().AsTime(); et.Before(before.Add(-time.Second)) || et.After(time.Now()) || got.GetComment().GetMaskedEmail() != "j•••@example.com" || got.GetComment().GetAuthorKey() == "" {
		t.Errorf("called WatchQueue, got event %v, want the event time and the moderator's view (masked email, author key)", got)
	}

	spam := a.submit(t, validSubmission("watched-2", "SPAM here"))
	if got := recv(t, some); got.GetKind() != commentdv1.QueueEventKind_QUEUE_EVENT_KIND_SPAM || got.GetComment().GetComment().GetName() != spam.GetName() ||
		got.GetComment().GetComment().GetState() != commentdv1.State_STATE_SPAM {
		t.Errorf("called WatchQueue(kinds SPAM, DECIDED; thread watched-2), got %v, want SPAM %s", got, spam.GetName())
	}
	if _, err := a.mod.ApproveComment(a.as(t, modKeyName), &commentdv1.ApproveCommentRequest{Name: spam.GetName()}); err != nil {
		t.Fatalf("called ApproveComment: %v", err)
	}
	if got := recv(t, some); got.GetKind() != commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED || got.GetComment().GetComment().GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Errorf("called WatchQueue(kinds SPAM, DECIDED), then approved, got %v, want DECIDED with the comment published", got)
	}
	// A published comment a moderator puts back in a queue (reopened, marked spam) is news to
	// whoever watches the queues as well.
	if _, err := a.mod.ReopenComment(a.as(t, modKeyName), &commentdv1.ReopenCommentRequest{Name: spam.GetName()}); err != nil {
		t.Fatalf("called ReopenComment: %v", err)
	}
	if got := recv(t, some); got.GetKind() != commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED || got.GetComment().GetComment().GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("called WatchQueue(kinds SPAM, DECIDED), then reopened a published comment, got %v, want DECIDED with the comment pending", got)
	}
	if _, err := a.mod.ApproveComment(a.as(t, modKeyName), &commentdv1.ApproveCommentRequest{Name: spam.GetName()}); err != nil {
		t.Fatalf("called ApproveComment: %v", err)
	}
	recv(t, some) // DECIDED, published again
	if _, err := a.mod.MarkSpam(a.as(t, modKeyName), &commentdv1.MarkSpamRequest{Name: spam.GetName()}); err != nil {
		t.Fatalf("called MarkSpam: %v", err)
	}
	if got := recv(t, some); got.GetKind() != commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED || got.GetComment().GetComment().GetState() != commentdv1.State_STATE_SPAM {
		t.Errorf("called WatchQueue(kinds SPAM, DECIDED), then marked a published comment spam, got %v, want DECIDED with the comment spam", got)
	}
	// The spam verdict and the approval were not for the default watcher; the next event it gets
	// is the next hold.
	next := a.submit(t, validSubmission("watched", "HOLD again"))
	if got := recv(t, all); got.GetComment().GetComment().GetName() != next.GetName() {
		t.Errorf("called WatchQueue without kinds, got %v, want only HELD and REPORTED events (next: %s)", got, next.GetName())
	}

	// A stream's error comes with its first receive.
	bad, err := b.mod.WatchQueue(b.as(t, modKeyName), &commentdv1.WatchQueueRequest{Kinds: []commentdv1.QueueEventKind{commentdv1.QueueEventKind_QUEUE_EVENT_KIND_UNSPECIFIED}})
	if err == nil {
		_, err = bad.Recv()
	}
	if code, _ := codeReason(err); code != codes.InvalidArgument || len(badRequestFields(err)) != 1 || badRequestFields(err)[0] != "kinds[0]" {
		t.Errorf("called WatchQueue(kind UNSPECIFIED), got %v, want InvalidArgument on kinds[0]", err)
	}
}

// TestShutdownEndsWatchStreams checks that a graceful stop ends open watch streams at once, with
// a status that tells the client to reconnect, instead of waiting for them until its deadline.
func TestShutdownEndsWatchStreams(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	stream := openWatch(t, e, &commentdv1.WatchQueueRequest{})

	const grace = 20 * time.Second
	began := time.Now()
	stopped := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		e.srv.Shutdown(ctx)
		close(stopped)
	}()
	_, err := stream.Recv()
	if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonShuttingDown {
		t.Errorf("received from WatchQueue during Shutdown, got %v %q, want Unavailable %q", code, reason, grpcserver.ReasonShuttingDown)
	}
	select {
	case <-stopped:
	case <-time.After(grace / 2):
		t.Fatalf("Shutdown with a watcher open did not return within %v", grace/2)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Shutdown with a watcher open took %v, want it not to wait for the stream", took)
	}
	if lines := e.logs.find(t, "rpc", map[string]string{"method": commentdv1.ModerationService_WatchQueue_FullMethodName, "code": "Unavailable", "key": modKeyName}); len(lines) != 1 {
		t.Errorf("access log lines for the ended WatchQueue stream: %d, want 1", len(lines))
	}
}

// tryWatch opens a WatchQueue stream as keyName and returns the server's refusal, if it refuses
// within a moment: a stream it serves stays silent while no comment is submitted. A stream served
// runs until the returned cancel is called or the test ends.
func tryWatch(t *testing.T, e *env, keyName string) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(e.as(t, keyName))
	s, err := e.mod.WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
	if err != nil {
		cancel()
		return nil, err
	}
	got := make(chan error, 1)
	go func() { _, err := s.Recv(); got <- err }()
	select {
	case err := <-got:
		cancel()
		return nil, err
	case <-time.After(300 * time.Millisecond):
		t.Cleanup(cancel)
		return cancel, nil
	}
}

// TestWatchersAreBounded: beyond MaxWatchers streams a new WatchQueue is refused with
// RESOURCE_EXHAUSTED and a retry delay; a stream that ends frees its place.
func TestWatchersAreBounded(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, maxWatchers: 2})
	cancelFirst, err := tryWatch(t, e, modKeyName)
	if err != nil {
		t.Fatalf("opened the first WatchQueue: %v", err)
	}
	if _, err := tryWatch(t, e, modKeyName); err != nil {
		t.Fatalf("opened the second WatchQueue: %v", err)
	}

	_, err = tryWatch(t, e, modKeyName)
	if code, reason := codeReason(err); code != codes.ResourceExhausted || reason != grpcserver.ReasonTooManyWatchers {
		t.Fatalf("opened a third WatchQueue with 2 allowed, got %v %q, want ResourceExhausted %q", code, reason, grpcserver.ReasonTooManyWatchers)
	}
	if ri, _ := detail[*errdetails.RetryInfo](err); ri.GetRetryDelay().AsDuration() != grpcserver.WatcherRetryDelay {
		t.Errorf("opened a third WatchQueue with 2 allowed, got RetryInfo %v, want a delay of %v", ri, grpcserver.WatcherRetryDelay)
	}

	// End the first stream: its place is free once the server has seen it end.
	cancelFirst()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cancel, err := tryWatch(t, e, modKeyName)
		if err == nil {
			cancel()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("opened WatchQueue after ending one of 2 streams, got %v for 5s, want a place", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBadWatchIsRefusedWhenTheServerIsFull: a request no retry can mend gets INVALID_ARGUMENT even
// when every place is taken; TOO_MANY_WATCHERS, with its RetryInfo, would have a client send it
// again and again.
func TestBadWatchIsRefusedWhenTheServerIsFull(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, maxWatchers: 1})
	ctx, cancel := context.WithCancel(e.as(t, modKeyName))
	defer cancel()
	first, err := e.mod.WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
	if err != nil {
		t.Fatalf("opened the first WatchQueue: %v", err)
	}
	// The headers come once the stream is served, so its place is taken.
	if _, err := first.Header(); err != nil {
		t.Fatalf("waited for the first WatchQueue's headers: %v", err)
	}
	tests := []struct {
		name      string
		req       *commentdv1.WatchQueueRequest
		wantField string
	}{
		{"unknown kind", &commentdv1.WatchQueueRequest{Kinds: []commentdv1.QueueEventKind{commentdv1.QueueEventKind_QUEUE_EVENT_KIND_UNSPECIFIED}}, "kinds[0]"},
		{"bad thread", &commentdv1.WatchQueueRequest{ThreadId: "no spaces allowed"}, "thread_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := e.mod.WatchQueue(e.as(t, modKeyName), tt.req)
			if err == nil {
				_, err = s.Recv()
			}
			code, reason := codeReason(err)
			br, _ := detail[*errdetails.BadRequest](err)
			if code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != tt.wantField {
				t.Errorf("called WatchQueue(%v) with every place taken, got %v %q %v, want InvalidArgument %q on %s", tt.req, code, reason, br, grpcserver.ReasonInvalidArgument, tt.wantField)
			}
		})
	}
}

// watchKeys is a key set to put in force while streams run: the tests' site and admin keys and,
// when withMod, the moderator key with modRole, each with the token e already gave it.
func watchKeys(t *testing.T, e *env, modRole apikey.Role, withMod bool) *apikey.Set {
	t.Helper()
	keys := &apikey.Set{}
	for name, role := range map[string]apikey.Role{siteKeyName: apikey.RoleSite, modKeyName: modRole, adminKeyName: apikey.RoleAdmin} {
		if name == modKeyName && !withMod {
			continue
		}
		if err := keys.Add(name, role, e.tokens[name]); err != nil {
			t.Fatalf("apikey.Set.Add(%q): %v", name, err)
		}
	}
	return keys
}

// TestWatchEndsWhenItsKeyIsRevoked: keys put in force while a WatchQueue stream runs are checked
// against it. Keys that still allow it leave it running; a removed key ends it with the error a new
// call would get, and a key demoted to the site role with PERMISSION_DENIED.
func TestWatchEndsWhenItsKeyIsRevoked(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})

	// The same keys again: the stream runs on and gets the next event.
	stream := openWatch(t, e, &commentdv1.WatchQueueRequest{})
	e.srv.SetKeys(watchKeys(t, e, apikey.RoleModerator, true))
	held := submitHeld(t, e, "revoked", 1)
	if got := recv(t, stream); got.GetComment().GetComment().GetName() != held[0] {
		t.Errorf("received from WatchQueue after keys that still allow it, got %v, want the event of %s", got, held[0])
	}

	tests := []struct {
		name     string
		keys     *apikey.Set
		wantCode codes.Code
	}{
		{"key removed", watchKeys(t, e, apikey.RoleModerator, false), codes.Unauthenticated},
		{"key demoted to site", watchKeys(t, e, apikey.RoleSite, true), codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.SetKeys(watchKeys(t, e, apikey.RoleModerator, true))
			stream := openWatch(t, e, &commentdv1.WatchQueueRequest{})
			e.srv.SetKeys(tc.keys)
			got := make(chan error, 1)
			go func() {
				_, err := stream.Recv()
				got <- err
			}()
			select {
			case err := <-got:
				if code := status.Code(err); code != tc.wantCode {
					t.Errorf("received from WatchQueue after its key was %s, got %v (%v), want %v", tc.name, code, err, tc.wantCode)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("WatchQueue went on for 10s after its key was %s", tc.name)
			}
		})
	}
}

// TestWatchRecheckedKeyThenEnded: a WatchQueue stream whose key was checked again (keys put in
// force that still allow it) and which then ends is logged by the access log without a data race
// with the re-check (run with -race).
func TestWatchRecheckedKeyThenEnded(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePre})
	keys := watchKeys(t, e, apikey.RoleModerator, true)
	ctx, cancel := context.WithCancel(e.as(t, modKeyName))
	defer cancel()
	stream, err := e.mod.WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
	if err != nil {
		t.Fatalf("called WatchQueue: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("called WatchQueue, got %v waiting for headers, want the subscription", err)
	}
	e.srv.SetKeys(keys)
	// An event received after the new keys shows the stream was checked again and runs on.
	held := submitHeld(t, e, "rechecked", 1)
	if got := recv(t, stream); got.GetComment().GetComment().GetName() != held[0] {
		t.Fatalf("received from WatchQueue after keys that still allow it, got %v, want the event of %s", got, held[0])
	}
	cancel()
	// The server ends the stream and writes its access line.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.logs.String(), `"method":"/commentd.v1.ModerationService/WatchQueue"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access line for the ended WatchQueue stream in 5s; log:\n%s", e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchersPerKeyAreBounded: one key may hold only MaxWatchersPerKey of the server's places, so
// a looping client or a leaked key cannot shut the other moderators out of WatchQueue.
func TestWatchersPerKeyAreBounded(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, maxWatchers: 4, maxWatchersPerKey: 2})
	for i := range 2 {
		if _, err := tryWatch(t, e, modKeyName); err != nil {
			t.Fatalf("opened WatchQueue %d of 2 as %s: %v", i+1, modKeyName, err)
		}
	}
	_, err := tryWatch(t, e, modKeyName)
	if code, reason := codeReason(err); code != codes.ResourceExhausted || reason != grpcserver.ReasonTooManyWatchers {
		t.Fatalf("opened a third WatchQueue as %s with 2 allowed per key, got %v %q, want ResourceExhausted %q", modKeyName, code, reason, grpcserver.ReasonTooManyWatchers)
	}
	if _, info := errorInfo(err); info.GetMetadata()["scope"] != "key" {
		t.Errorf("opened a third WatchQueue as %s with 2 allowed per key, got ErrorInfo metadata %v, want scope key", modKeyName, info.GetMetadata())
	}
	// The server still has places for other keys.
	if _, err := tryWatch(t, e, adminKeyName); err != nil {
		t.Errorf("opened WatchQueue as %s while %s holds 2 of 4 places, got %v, want a place", adminKeyName, modKeyName, err)
	}
}

// watchesEnded counts the WatchQueue calls whose handler has returned, whatever their status:
// each gave its place among the watchers back as it returned.
func watchesEnded(t *testing.T, e *env) float64 {
	t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	n := 0.0
	for _, f := range fams {
		if f.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "grpc_method" && lp.GetValue() == "WatchQueue" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// dialStalled opens a connection of its own to e's server whose HTTP/2 windows stay at their
// 64 KiB minimum (gRPC would otherwise grow them as it measures the link): a stream that is not
// read stops taking data once about that much is waiting.
func dialStalled(t *testing.T, e *env) commentdv1.ModerationServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///commentd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return e.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return commentdv1.NewModerationServiceClient(conn)
}

// TestUnreadWatchGivesItsPlaceBack: a client that stops reading its WatchQueue stream while
// events come (a stalled terminal, output piped into a pager nobody scrolls) fills its flow
// control window, and the server's next send waits. That wait is bounded: the stream ends and
// its place among the key's watchers is free again, where it was held for as long as the
// connection lived.
func TestUnreadWatchGivesItsPlaceBack(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost,
		maxWatchersPerKey: 1, watchSendTimeout: 200 * time.Millisecond})
	if n := watchesEnded(t, e); n != 0 {
		t.Fatalf("new server: %v WatchQueue handlers returned, want 0", n)
	}
	ctx, cancel := context.WithCancel(e.as(t, modKeyName))
	defer cancel()
	stalled, err := dialStalled(t, e).WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
	if err != nil {
		t.Fatalf("called WatchQueue: %v", err)
	}
	if _, err := stalled.Header(); err != nil {
		t.Fatalf("called WatchQueue, got %v waiting for headers, want the subscription", err)
	}
	// Far more than the 64 KiB window and gRPC's 64 KiB of sends in waiting: about 5 KB an event.
	for i := range 60 {
		e.submit(t, validSubmission("unread", fmt.Sprintf("HOLD %d %s", i, strings.Repeat("words and more words ", 230))))
	}
	if !eventually(15*time.Second, func() bool { return watchesEnded(t, e) == 1 }) {
		t.Fatalf("left a WatchQueue stream unread with 60 events sent: %v handlers returned within 15s, want 1: the unread stream ended", watchesEnded(t, e))
	}
	openWatch(t, e, &commentdv1.WatchQueueRequest{}) // the place the unread stream held, 1 of 1
	// What was sent before the wait began is still there to read, then why the stream ended.
	for {
		_, err := stalled.Recv()
		if err == nil {
			continue
		}
		// Not STORE_UNAVAILABLE: Redis is fine, the client fell behind.
		if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonWatchFellBehind {
			t.Errorf("read the unread WatchQueue stream to its end, got %v, want UNAVAILABLE %s (reconnect and list the queue)", err, grpcserver.ReasonWatchFellBehind)
		}
		break
	}
}

// frozenConn is a client's connection that freeze stops, as a laptop put to sleep or a stopped
// process stops: what arrives is not read, nothing is sent. Close ends it.
type frozenConn struct {
	net.Conn
	frozen chan struct{} // closed by freeze
	closed chan struct{} // closed by Close
	once   sync.Once
}

func newFrozenConn(c net.Conn) *frozenConn {
	return &frozenConn{Conn: c, frozen: make(chan struct{}), closed: make(chan struct{})}
}

func (c *frozenConn) freeze() { close(c.frozen) }

// Read gives nothing of what arrives once the connection is frozen: it waits until it is closed.
func (c *frozenConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	select {
	case <-c.frozen:
		<-c.closed
		return 0, net.ErrClosed
	default:
		return n, err
	}
}

// Write sends nothing once the connection is frozen; the bytes are lost on the way, so the
// client's own writer does not wait for ever when it is closed.
func (c *frozenConn) Write(b []byte) (int, error) {
	select {
	case <-c.frozen:
		return len(b), nil
	default:
		return c.Conn.Write(b)
	}
}

func (c *frozenConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestFrozenWatcherGivesItsPlaceBack: a WatchQueue client that goes away without a word (its
// laptop asleep, its process stopped) on a quiet queue, where the stream sends nothing, is found
// by the server's keepalive PING going unanswered; its connection is closed and the stream's
// place is free again. gRPC's default waited two hours before the first PING.
func TestFrozenWatcherGivesItsPlaceBack(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost,
		maxWatchersPerKey: 1, keepaliveTime: time.Second, keepaliveTimeout: 500 * time.Millisecond})
	var frozen *frozenConn
	conn, err := grpc.NewClient("passthrough:///commentd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			c, err := e.lis.DialContext(ctx)
			if err != nil {
				return nil, err
			}
			frozen = newFrozenConn(c)
			return frozen, nil
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(e.as(t, modKeyName))
	defer cancel()
	stream, err := commentdv1.NewModerationServiceClient(conn).WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
	if err != nil {
		t.Fatalf("called WatchQueue: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("called WatchQueue, got %v waiting for headers, want the subscription", err)
	}
	frozen.freeze()
	if !eventually(15*time.Second, func() bool { return watchesEnded(t, e) == 1 }) {
		t.Fatalf("froze a WatchQueue client on a quiet queue: %v handlers returned within 15s, want 1: its connection closed for want of an answer to PING", watchesEnded(t, e))
	}
	openWatch(t, e, &commentdv1.WatchQueueRequest{}) // the place the frozen stream held, 1 of 1
}

// TestWatchSubscribedHeader: only a subscribed stream has the header that says so. A refused one
// has headers too (the request id), so a client that took any header for a subscription said
// "reconnected" to a refusal.
func TestWatchSubscribedHeader(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, maxWatchersPerKey: 1})
	header := func(t *testing.T) (md metadata.MD, recvErr error) {
		t.Helper()
		ctx, cancel := context.WithCancel(e.as(t, modKeyName))
		t.Cleanup(cancel)
		s, err := e.mod.WatchQueue(ctx, &commentdv1.WatchQueueRequest{})
		if err != nil {
			t.Fatalf("called WatchQueue: %v", err)
		}
		md, _ = s.Header()
		if md.Get(grpcserver.WatchSubscribedHeader) == nil {
			_, recvErr = s.Recv() // a refused stream has ended: Recv says why
		}
		return md, recvErr
	}
	md, err := header(t)
	if got := md.Get(grpcserver.WatchSubscribedHeader); len(got) != 1 || got[0] != "subscribed" || err != nil {
		t.Fatalf("called WatchQueue with a place free, got header %s %q (%v), want %q", grpcserver.WatchSubscribedHeader, got, err, "subscribed")
	}
	md, err = header(t)
	if code, reason := codeReason(err); code != codes.ResourceExhausted || reason != grpcserver.ReasonTooManyWatchers {
		t.Fatalf("called WatchQueue again with 1 allowed per key, got %v, want TOO_MANY_WATCHERS", err)
	}
	if got := md.Get(grpcserver.WatchSubscribedHeader); got != nil {
		t.Errorf("called WatchQueue again with 1 allowed per key: refused, with header %s %q, want none", grpcserver.WatchSubscribedHeader, got)
	}
	if md.Get(grpcserver.RequestIDHeader) == nil {
		t.Errorf("called WatchQueue again with 1 allowed per key: refused, headers %v, want the request id (which is why a header alone says nothing)", md)
	}
}
