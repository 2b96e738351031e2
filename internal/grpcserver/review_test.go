package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// withWorkflow returns opts with the moderator workflow served by store, as cmd/commentd wires it.
func withWorkflow(opts moderation.Options, store *redisstore.Store) moderation.Options {
	opts.Audit, opts.Claims, opts.Reports, opts.Feed, opts.Stats = store, store, store, store, store
	opts.Eraser, opts.Exporter = store, store
	return opts
}

// workflowOptions configure one server of a workflow test.
type workflowOptions struct {
	redisAddr   string
	prefix      string           // the key prefix; "" for a new one. Servers with one prefix share their data.
	ring        *privacy.Keyring // nil for a new one; servers sharing data share it
	mode        comment.Mode
	threshold   int           // report threshold; 0 for the default
	closeAfter  time.Duration // auto-close; 0 for never
	commentNow  func() time.Time
	moderators  int // extra moderator keys "mod-01".. beyond the env's usual three
	maxWatchers int // Options.MaxWatchers; 0 for the default
	// maxWatchersPerKey is Options.MaxWatchersPerKey; 0 for the default.
	maxWatchersPerKey int
	watchSendTimeout  time.Duration // Options.WatchSendTimeout; 0 for the default
	keepaliveTime     time.Duration // Options.KeepaliveTime; 0 for the default
	keepaliveTimeout  time.Duration // Options.KeepaliveTimeout; 0 for the default
}

// newWorkflowEnv starts one server like newEnv, with the workflow options above. Everything it
// starts is stopped by t.Cleanup.
func newWorkflowEnv(t *testing.T, o workflowOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{prefix: o.prefix, ring: o.ring, logs: &syncBuffer{}, reg: prometheus.NewRegistry(), tokens: map[string]string{}}
	if e.prefix == "" {
		e.prefix = redistest.Prefix(t)
	}
	client, err := redisstore.NewClient(o.redisAddr)
	if err != nil {
		t.Fatalf("redisstore.NewClient(%q): %v", o.redisAddr, err)
	}
	t.Cleanup(func() { client.Close() })
	e.redis = client
	e.store, err = redisstore.New(ctx, client, redisstore.Options{Prefix: e.prefix, CloseThreadsAfter: o.closeAfter})
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	if e.ring == nil {
		e.ring, err = privacy.NewKeyring(privacy.Options{
			EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
			HashKey:        privacy.NewSecret(),
		})
		if err != nil {
			t.Fatalf("privacy.NewKeyring: %v", err)
		}
	}
	keys := testKeys(t, e)
	for i := range o.moderators {
		name := fmt.Sprintf("mod-%02d", i)
		e.tokens[name] = newToken()
		if err := keys.Add(name, apikey.RoleModerator, e.tokens[name]); err != nil {
			t.Fatalf("apikey.Set.Add(%q): %v", name, err)
		}
	}
	e.wrongTk = newToken()
	e.start(t, grpcserver.Options{
		Logger:   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Keys:     keys,
		Comments: comment.NewService(e.store, e.ring, comment.Options{DefaultMode: o.mode, Screeners: []comment.Screener{flagScreener{}}, Now: o.commentNow}),
		Moderation: moderation.NewService(e.store, e.ring, withWorkflow(moderation.Options{
			DefaultMode: o.mode, ReportThreshold: o.threshold,
		}, e.store)),
		Registerer:        e.reg,
		MaxWatchers:       o.maxWatchers,
		MaxWatchersPerKey: o.maxWatchersPerKey,
		WatchSendTimeout:  o.watchSendTimeout,
		KeepaliveTime:     o.keepaliveTime,
		KeepaliveTimeout:  o.keepaliveTimeout,
	})
	return e
}

// names returns the resource names of moderated comments.
func names(cs []*commentdv1.ModeratedComment) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.GetComment().GetName()
	}
	return out
}

// submitHeld submits n comments that wait in the queue (the flag screener holds "HOLD") and
// returns their names, oldest first.
func submitHeld(t *testing.T, e *env, thread string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		c := e.submit(t, validSubmission(thread, fmt.Sprintf("HOLD comment %d", i)))
		if c.GetState() != commentdv1.State_STATE_PENDING {
			t.Fatalf("called SubmitComment(HOLD), got state %v, want PENDING", c.GetState())
		}
		out = append(out, c.GetName())
	}
	return out
}

func TestClaimCommentsThroughTheAPI(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	queued := submitHeld(t, e, "claims", 4)
	mod, admin := e.as(t, modKeyName), e.as(t, adminKeyName)

	before := time.Now()
	resp, err := e.mod.ClaimComments(mod, &commentdv1.ClaimCommentsRequest{Count: 3})
	if err != nil {
		t.Fatalf("called ClaimComments(count 3): %v", err)
	}
	if got := names(resp.GetComments()); !slices.Equal(got, queued[:3]) {
		t.Errorf("called ClaimComments(count 3), got %v, want the three oldest %v", got, queued[:3])
	}
	lease := resp.GetLeaseExpireTime().AsTime()
	if lease.Before(before.Add(moderation.DefaultLease-time.Second)) || lease.After(time.Now().Add(moderation.DefaultLease)) {
		t.Errorf("called ClaimComments without a lease, got lease_expire_time %v, want about now + %v", lease, moderation.DefaultLease)
	}
	if resp.GetComments()[0].GetMaskedEmail() == "" {
		t.Errorf("called ClaimComments, got %v, want the moderator's view", resp.GetComments()[0])
	}

	resp, err = e.mod.ClaimComments(admin, &commentdv1.ClaimCommentsRequest{Count: 500, Lease: durationpb.New(24 * time.Hour)})
	if err != nil {
		t.Fatalf("called ClaimComments(count 500, lease 24h) as admin: %v", err)
	}
	if got := names(resp.GetComments()); !slices.Equal(got, queued[3:]) {
		t.Errorf("called ClaimComments as another key, got %v, want only the comment nobody holds %v", got, queued[3:])
	}
	if lease := resp.GetLeaseExpireTime().AsTime(); lease.After(time.Now().Add(moderation.MaxLease)) {
		t.Errorf("called ClaimComments(lease 24h), got lease_expire_time %v, want at most %v from now", lease, moderation.MaxLease)
	}

	// Release one, decide another: both go back to (or leave) the queue for others.
	if _, err := e.mod.ReleaseComments(mod, &commentdv1.ReleaseCommentsRequest{Names: []string{queued[0], queued[3]}}); err != nil {
		t.Fatalf("called ReleaseComments: %v", err)
	}
	if _, err := e.mod.ApproveComment(admin, &commentdv1.ApproveCommentRequest{Name: queued[1]}); err != nil {
		t.Fatalf("called ApproveComment(%s): %v", queued[1], err)
	}
	resp, err = e.mod.ClaimComments(admin, &commentdv1.ClaimCommentsRequest{Count: 10})
	if err != nil {
		t.Fatalf("called ClaimComments again as admin: %v", err)
	}
	if got, want := names(resp.GetComments()), []string{queued[0], queued[3]}; !slices.Equal(got, want) {
		t.Errorf("called ClaimComments after a release and a decision, got %v, want %v (released, and its own)", got, want)
	}
	// A comment the moderator skipped and gave back is not claimed again when the claim names it.
	if _, err := e.mod.ReleaseComments(admin, &commentdv1.ReleaseCommentsRequest{Names: []string{queued[0]}}); err != nil {
		t.Fatalf("called ReleaseComments(%s) as admin: %v", queued[0], err)
	}
	resp, err = e.mod.ClaimComments(admin, &commentdv1.ClaimCommentsRequest{Count: 10, SkipNames: []string{queued[0]}})
	if err != nil {
		t.Fatalf("called ClaimComments(skip_names %s) as admin: %v", queued[0], err)
	}
	if got, want := names(resp.GetComments()), []string{queued[3]}; !slices.Equal(got, want) {
		t.Errorf("called ClaimComments(skip_names %s), got %v, want %v", queued[0], got, want)
	}

	tests := []struct {
		name      string
		req       *commentdv1.ClaimCommentsRequest
		wantField string
	}{
		{"rejected queue", &commentdv1.ClaimCommentsRequest{State: commentdv1.State_STATE_REJECTED}, "state"},
		{"negative count", &commentdv1.ClaimCommentsRequest{Count: -1}, "count"},
		{"sub-second lease", &commentdv1.ClaimCommentsRequest{Lease: durationpb.New(time.Millisecond)}, "lease"},
		{"bad thread", &commentdv1.ClaimCommentsRequest{ThreadId: "no spaces allowed"}, "thread_id"},
		{"bad skipped name", &commentdv1.ClaimCommentsRequest{SkipNames: []string{"comments/ok", "bad name!"}}, "skip_names[1]"},
		{"too many skipped", &commentdv1.ClaimCommentsRequest{SkipNames: make([]string, moderation.MaxClaimSkip+1)}, "skip_names"},
	}
	for _, tt := range tests {
		_, err := e.mod.ClaimComments(mod, tt.req)
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !slices.Equal(badRequestFields(err), []string{tt.wantField}) {
			t.Errorf("called ClaimComments(%s), got %v %q fields %v, want InvalidArgument on %q", tt.name, code, reason, badRequestFields(err), tt.wantField)
		}
	}
	_, err = e.mod.ReleaseComments(mod, &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/ok", "bad name!"}})
	if code, _ := codeReason(err); code != codes.InvalidArgument || !slices.Equal(badRequestFields(err), []string{"names[1]"}) {
		t.Errorf("called ReleaseComments with a bad name, got %v fields %v, want InvalidArgument on names[1]", code, badRequestFields(err))
	}
}

// TestConcurrentClaimsThroughTheAPI has many moderators claim at the same moment through the API
// and checks that no comment went to two of them.
func TestConcurrentClaimsThroughTheAPI(t *testing.T) {
	const moderators = 10
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, moderators: moderators})
	var queued []string
	for i := range 5 {
		queued = append(queued, submitHeld(t, e, fmt.Sprintf("race-%d", i), 6)...)
	}
	got := make([][]string, moderators)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for m := range moderators {
		wg.Add(1)
		ctx := e.as(t, fmt.Sprintf("mod-%02d", m))
		go func() {
			defer wg.Done()
			<-start
			resp, err := e.mod.ClaimComments(ctx, &commentdv1.ClaimCommentsRequest{Count: 4})
			if err != nil {
				t.Errorf("called ClaimComments as mod-%02d: %v", m, err)
				return
			}
			got[m] = names(resp.GetComments())
		}()
	}
	close(start)
	wg.Wait()
	owner := map[string]int{}
	for m, g := range got {
		if len(g) > 4 {
			t.Errorf("called ClaimComments(count 4) as mod-%02d, got %d comments, want at most 4", m, len(g))
		}
		for _, n := range g {
			if prev, dup := owner[n]; dup {
				t.Errorf("called ClaimComments concurrently, got %s for both mod-%02d and mod-%02d, want one holder", n, prev, m)
			}
			owner[n] = m
		}
	}
	if len(owner) != len(queued) {
		t.Errorf("called ClaimComments concurrently, got %d distinct comments claimed, want all %d", len(owner), len(queued))
	}
}

func TestReopenComment(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	name := submitHeld(t, e, "reopen", 1)[0]

	// Reopening a comment that waits already changes nothing, like any repeated decision, and
	// says so: the comment alone, pending either way, cannot.
	same, err := e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: name})
	if err != nil || same.GetComment().GetComment().GetState() != commentdv1.State_STATE_PENDING || same.GetComment().GetDecision() != nil || !same.GetAlreadyPending() {
		t.Errorf("called ReopenComment on a pending comment, got %v, already_pending %v, %v; want it unchanged: PENDING, no decision, already_pending", same.GetComment(), same.GetAlreadyPending(), err)
	}
	if _, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: name, Reason: "off topic"}); err != nil {
		t.Fatalf("called RejectComment: %v", err)
	}
	resp, err := e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: name, Reason: "second look"})
	if err != nil {
		t.Fatalf("called ReopenComment on a rejected comment: %v", err)
	}
	d := resp.GetComment().GetDecision()
	if resp.GetComment().GetComment().GetState() != commentdv1.State_STATE_PENDING || d.GetModerator() != modKeyName ||
		d.GetFromState() != commentdv1.State_STATE_REJECTED || d.GetToState() != commentdv1.State_STATE_PENDING || d.GetReason() != "second look" || resp.GetAlreadyPending() {
		t.Errorf("called ReopenComment, got %v, already_pending %v; want PENDING with the reopening recorded, not already_pending", resp.GetComment(), resp.GetAlreadyPending())
	}
	// Once more: pending now, after a decision, which the answer shows as it was.
	again, err := e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: name, Reason: "third look"})
	if err != nil || !again.GetAlreadyPending() || again.GetComment().GetDecision().GetReason() != "second look" {
		t.Errorf("called ReopenComment on a reopened comment, got %v, already_pending %v, %v; want the reopening before and already_pending", again.GetComment().GetDecision(), again.GetAlreadyPending(), err)
	}
	queue, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{})
	if err != nil || !slices.Equal(names(queue.GetComments()), []string{name}) {
		t.Errorf("called ListQueue after reopening, got %v, %v; want [%s]", names(queue.GetComments()), err, name)
	}
	site := e.as(t, siteKeyName)
	if _, err := e.site.ReportComment(site, &commentdv1.ReportCommentRequest{Name: name}); err != nil {
		t.Errorf("called ReportComment on a pending comment, got %v, want it recorded", err)
	}
	if c, err := ctxGet(mod, e, name); err != nil || c.GetReportCount() != 1 {
		t.Errorf("called GetComment after a report, got report_count %d, %v; want 1", c.GetReportCount(), err)
	}
}

// ctxGet reads the moderator's view of one comment.
func ctxGet(ctx context.Context, e *env, name string) (*commentdv1.ModeratedComment, error) {
	resp, err := e.mod.GetComment(ctx, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
	return resp.GetComment(), err
}

func TestListQueueFiltersThroughTheAPI(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	var all []string
	for i, email := range []string{"ann@example.com", "bob@example.com", "ann@example.com"} {
		r := validSubmission(fmt.Sprintf("filters-%d", i), "HOLD please")
		r.AuthorEmail = email
		all = append(all, e.submit(t, r).GetName())
		time.Sleep(2 * time.Millisecond)
	}
	first, err := ctxGet(mod, e, all[0])
	if err != nil {
		t.Fatalf("called GetComment: %v", err)
	}
	score := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		req  *commentdv1.ListQueueRequest
		want []string
	}{
		{"author", &commentdv1.ListQueueRequest{AuthorKey: first.GetAuthorKey()}, []string{all[0], all[2]}},
		{"older than the second", &commentdv1.ListQueueRequest{MaxCreateTime: mustGetCreateTime(t, e, all[1])}, all[:1]},
		{"reason", &commentdv1.ListQueueRequest{ReasonCode: "TEST_HOLD"}, all},
		{"other reason", &commentdv1.ListQueueRequest{ReasonCode: "REPORTED"}, nil},
		{"score at least 0.5", &commentdv1.ListQueueRequest{MinSpamScore: score(0.5)}, nil},
		{"score at most 0.5", &commentdv1.ListQueueRequest{MaxSpamScore: score(0.5)}, all},
		{"thread and author", &commentdv1.ListQueueRequest{ThreadId: "filters-2", AuthorKey: first.GetAuthorKey()}, all[2:]},
	}
	for _, tt := range tests {
		for _, size := range []int32{1, 10} {
			var got []string
			req := tt.req
			req.PageSize, req.PageToken = size, ""
			for range 20 {
				resp, err := e.mod.ListQueue(mod, req)
				if err != nil {
					t.Fatalf("called ListQueue(%s): %v", tt.name, err)
				}
				got = append(got, names(resp.GetComments())...)
				if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
					break
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("called ListQueue(%s), pages of %d, got %v, want %v", tt.name, size, got, tt.want)
			}
		}
	}
	refusals := []struct {
		name      string
		req       *commentdv1.ListQueueRequest
		wantField string
	}{
		{"lower-case reason", &commentdv1.ListQueueRequest{ReasonCode: "reported"}, "reason_code"},
		{"min above max", &commentdv1.ListQueueRequest{MinSpamScore: score(0.8), MaxSpamScore: score(0.2)}, "max_spam_score"},
		{"score above 1", &commentdv1.ListQueueRequest{MinSpamScore: score(1.5)}, "min_spam_score"},
		{"bad author key", &commentdv1.ListQueueRequest{AuthorKey: "ann@example.com"}, "author_key"},
	}
	for _, tt := range refusals {
		_, err := e.mod.ListQueue(mod, tt.req)
		if code, _ := codeReason(err); code != codes.InvalidArgument || !slices.Equal(badRequestFields(err), []string{tt.wantField}) {
			t.Errorf("called ListQueue(%s), got %v fields %v, want InvalidArgument on %s", tt.name, code, badRequestFields(err), tt.wantField)
		}
	}
}

func mustGetCreateTime(t *testing.T, e *env, name string) *timestamppb.Timestamp {
	t.Helper()
	c, err := ctxGet(e.as(t, modKeyName), e, name)
	if err != nil {
		t.Fatalf("called GetComment(%s): %v", name, err)
	}
	return c.GetComment().GetCreateTime()
}

// settableClock returns a clock for the server's comments that reads start until set moves it.
func settableClock(start time.Time) (now func() time.Time, set func(time.Time)) {
	var (
		mu    sync.Mutex
		clock = start
	)
	now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set = func(t time.Time) { mu.Lock(); defer mu.Unlock(); clock = t }
	return now, set
}

// TestThreadsCloseByAge runs a server with close-threads-after 1h: a thread whose first comment
// is two hours old refuses new comments and reports itself closed, until a moderator reopens it.
func TestThreadsCloseByAge(t *testing.T) {
	now, setNow := settableClock(time.Now().Add(-2 * time.Hour))
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, closeAfter: time.Hour, commentNow: now})
	mod := e.as(t, modKeyName)
	first := e.submit(t, validSubmission("aging", "first, two hours ago"))
	setNow(time.Now())

	_, err := e.site.SubmitComment(e.as(t, siteKeyName), validSubmission("aging", "too late"))
	if code, reason := codeReason(err); code != codes.FailedPrecondition || reason != grpcserver.ReasonThreadClosed {
		t.Errorf("called SubmitComment in a thread older than close-threads-after, got %v %q, want FailedPrecondition %q", code, reason, grpcserver.ReasonThreadClosed)
	}
	if _, info := errorInfo(err); info.GetMetadata()["close_reason"] != "THREAD_CLOSE_REASON_AGE" {
		t.Errorf("called SubmitComment in a thread older than close-threads-after, got ErrorInfo metadata %v, want close_reason THREAD_CLOSE_REASON_AGE", info.GetMetadata())
	}
	th, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: "threads/aging"})
	if err != nil {
		t.Fatalf("called GetThread on the old thread: %v", err)
	}
	want := &commentdv1.Thread{Name: "threads/aging", ThreadId: "aging",
		EffectiveModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST,
		Closed:                  true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE,
		AutoCloseTime: timestamppb.New(first.GetCreateTime().AsTime().Add(time.Hour))}
	// The etag is thread_etag_test.go's; here it makes the write-back below conditional.
	noETag := protocmp.IgnoreFields(&commentdv1.Thread{}, "etag")
	if diff := cmp.Diff(want, th.GetThread(), protocmp.Transform(), noETag); diff != "" {
		t.Errorf("called GetThread on the old thread, got (-want +got):\n%s", diff)
	}

	// Written back as read (its etag too), with another mode: the thread stays closed by age only.
	back := proto.Clone(th.GetThread()).(*commentdv1.Thread)
	back.ModerationMode = commentdv1.ModerationMode_MODERATION_MODE_PRE
	upd, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
		Thread:     back,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode", "closed"}},
	})
	want.ModerationMode, want.EffectiveModerationMode = commentdv1.ModerationMode_MODERATION_MODE_PRE, commentdv1.ModerationMode_MODERATION_MODE_PRE
	if err != nil {
		t.Fatalf("called UpdateThread(mode pre, closed true) on the old thread: %v", err)
	}
	if diff := cmp.Diff(want, upd.GetThread(), protocmp.Transform(), noETag); diff != "" {
		t.Errorf("called UpdateThread(mode pre, closed true) on the old thread, got (-want +got):\n%s", diff)
	}

	young := e.submit(t, validSubmission("young", "a new thread is open"))
	th, err = e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: "threads/young"})
	if err != nil || th.GetThread().GetClosed() || th.GetThread().GetCloseReason() != commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_UNSPECIFIED ||
		!th.GetThread().GetAutoCloseTime().AsTime().Equal(young.GetCreateTime().AsTime().Add(time.Hour)) {
		t.Errorf("called GetThread on the young thread, got %v, %v; want open, auto-close an hour after its first comment", th.GetThread(), err)
	}
	upd, err = e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/young", Closed: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	})
	if err != nil || !upd.GetThread().GetClosed() || upd.GetThread().GetCloseReason() != commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR {
		t.Errorf("called UpdateThread(closed true) on the young thread, got %v, %v; want closed by a moderator", upd.GetThread(), err)
	}

	upd, err = e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/aging", Closed: false},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	})
	if err != nil || upd.GetThread().GetClosed() || upd.GetThread().GetCloseReason() != commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_UNSPECIFIED ||
		!upd.GetThread().GetAutoCloseTime().AsTime().After(now()) {
		t.Fatalf("called UpdateThread(closed false) on the old thread, got %v, %v; want open, a new period ending after now", upd.GetThread(), err)
	}
	e.submit(t, validSubmission("aging", "welcome back"))
}

// TestSiteSeesThreadStatus: ListComments and CountComments tell a site key whether each thread
// takes new comments, why not, and when it closes by age, so the site shows the comment form or
// "Comments are closed" without GetThread (a moderators' method).
func TestSiteSeesThreadStatus(t *testing.T) {
	now, setNow := settableClock(time.Now().Add(-2 * time.Hour))
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, closeAfter: time.Hour, commentNow: now})
	site := e.as(t, siteKeyName)
	aging := e.submit(t, validSubmission("aging", "first, two hours ago"))
	setNow(time.Now())
	young := e.submit(t, validSubmission("young", "a thread open for an hour"))
	shut := e.submit(t, validSubmission("shut", "a thread a moderator closes"))
	if _, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/shut", Closed: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	}); err != nil {
		t.Fatalf("called UpdateThread(shut, closed true): %v", err)
	}
	closesAt := func(c *commentdv1.Comment) *timestamppb.Timestamp {
		return timestamppb.New(c.GetCreateTime().AsTime().Add(time.Hour))
	}
	tests := []struct {
		thread string
		want   *commentdv1.ThreadStatus
	}{
		{"aging", &commentdv1.ThreadStatus{Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE, AutoCloseTime: closesAt(aging)}},
		{"young", &commentdv1.ThreadStatus{AutoCloseTime: closesAt(young)}},
		{"shut", &commentdv1.ThreadStatus{Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR, AutoCloseTime: closesAt(shut)}},
		{"untouched", &commentdv1.ThreadStatus{}},
	}
	var ids []string
	for _, tt := range tests {
		ids = append(ids, tt.thread)
		resp, err := e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: tt.thread})
		if err != nil {
			t.Fatalf("called ListComments(%s) with a site key: %v", tt.thread, err)
		}
		if diff := cmp.Diff(tt.want, resp.GetThreadStatus(), protocmp.Transform()); diff != "" {
			t.Errorf("called ListComments(%s) with a site key, got thread_status (-want +got):\n%s", tt.thread, diff)
		}
	}
	counts, err := e.site.CountComments(site, &commentdv1.CountCommentsRequest{ThreadIds: ids})
	if err != nil {
		t.Fatalf("called CountComments(%v) with a site key: %v", ids, err)
	}
	for i, tt := range tests {
		got := counts.GetCounts()[i]
		if got.GetThreadId() != tt.thread {
			t.Fatalf("called CountComments(%v), got thread %q at %d, want %q", ids, got.GetThreadId(), i, tt.thread)
		}
		if diff := cmp.Diff(tt.want, got.GetThreadStatus(), protocmp.Transform()); diff != "" {
			t.Errorf("called CountComments(%v), got thread_status of %s (-want +got):\n%s", ids, tt.thread, diff)
		}
	}
}
