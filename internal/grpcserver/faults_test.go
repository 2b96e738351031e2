package grpcserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// faultProxy is a toxiproxy proxy, in this process, between a server and its redis-server: the
// tests break the network with toxics, or stop the proxy, while Redis itself keeps running.
type faultProxy struct {
	p    *toxiproxy.Proxy
	addr string
}

// startFaultProxy starts a proxy to upstream on a free loopback port, stopped when t ends.
func startFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "redis", "127.0.0.1:0", upstream)
	if err := srv.Collection.Add(p, true); err != nil {
		t.Fatalf("start toxiproxy to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{p: p, addr: p.Listen}
}

// addToxic adds a toxic; stream is "upstream" (to Redis) or "downstream" (to the server).
func (fp *faultProxy) addToxic(t *testing.T, name, typ, stream string, attrs map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "attributes": attrs})
	if err != nil {
		t.Fatalf("encode toxic %s: %v", name, err)
	}
	if _, err := fp.p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		t.Fatalf("add toxic %s (%s %s %v): %v", name, typ, stream, attrs, err)
	}
}

func (fp *faultProxy) removeToxic(t *testing.T, name string) {
	t.Helper()
	if err := fp.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// cutReplyType is the toxic type of cutReplyToxic.
const cutReplyType = "commentd_cut_reply"

func init() { toxics.Register(cutReplyType, new(cutReplyToxic)) }

// cutReplyToxic, on the downstream stream, closes the connection in place of the first reply from
// Redis that contains Match, once for the whole proxy: the command reached Redis and ran, and its
// reply is lost, as when a connection breaks at the worst moment. Every other byte passes.
//
// toxiproxy's own toxics cannot aim at one reply: limit_data and reset_peer act on every
// connection, including the one go-redis opens to resend the command, so the resend would fail
// too; and the server's background readers (spam model, campaigns, word lists, health) share the
// proxy, so "the next reply" is not the one under test.
//
// With Drop it swallows that reply instead and leaves the connection open: the client waits for
// it until its deadline, as when Redis answers too late.
//
// With Exact it fires only on a chunk that is Match and nothing more: a reply as short as an
// integer's (":1\r\n") is then told from a longer reply that holds those bytes.
type cutReplyToxic struct {
	Match string `json:"match"`
	Drop  bool   `json:"drop"`
	Exact bool   `json:"exact"`
	fired atomic.Bool
}

func (c *cutReplyToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case chunk := <-stub.Input:
			if chunk == nil {
				stub.Close()
				return
			}
			matched := bytes.Contains(chunk.Data, []byte(c.Match))
			if c.Exact {
				matched = string(chunk.Data) == c.Match
			}
			if matched && c.fired.CompareAndSwap(false, true) {
				if c.Drop {
					continue
				}
				stub.Close()
				return
			}
			stub.Output <- chunk
		}
	}
}

// cutOnce cuts the first reply that contains match (see cutReplyToxic) and returns a function
// that reports whether it has.
func (fp *faultProxy) cutOnce(t *testing.T, name, match string) func() bool {
	t.Helper()
	return fp.replyToxic(t, name, map[string]any{"match": match})
}

// dropOnce swallows the first reply that contains match, leaving the connection open (see
// cutReplyToxic), and returns a function that reports whether it has.
func (fp *faultProxy) dropOnce(t *testing.T, name, match string) func() bool {
	t.Helper()
	return fp.replyToxic(t, name, map[string]any{"match": match, "drop": true})
}

// dropExactOnce is dropOnce for the first reply that is exactly reply, alone in its chunk.
func (fp *faultProxy) dropExactOnce(t *testing.T, name, reply string) func() bool {
	t.Helper()
	return fp.replyToxic(t, name, map[string]any{"match": reply, "drop": true, "exact": true})
}

func (fp *faultProxy) replyToxic(t *testing.T, name string, attrs map[string]any) func() bool {
	t.Helper()
	fp.addToxic(t, name, cutReplyType, "downstream", attrs)
	w := fp.p.Toxics.GetToxic(name)
	toxic := w.Toxic.(*cutReplyToxic)
	return toxic.fired.Load
}

// faultEnv is a server wired as commentd wires it (auth, validation, the abuse check with the
// default rate limits and duplicate control, the spam checks, the moderation workflow with the
// spam learner, health following Redis) whose Redis connection goes through a faultProxy. direct
// reaches the same redis-server without the proxy, to look at what is stored.
type faultEnv struct {
	*env
	proxy  *faultProxy
	direct *redis.Client
}

// faultCallTimeout is the server's -redis-timeout in these tests.
const faultCallTimeout = 500 * time.Millisecond

// faultSettle is the Guard's Settle in these tests, as commentd derives it from its Redis timeout.
const faultSettle = faultCallTimeout + ratelimit.RefundTimeout + time.Second

// faultHealthEvery is how often health pings Redis: commentd's interval.
const faultHealthEvery = 2 * time.Second

func newFaultEnv(t *testing.T, mode comment.Mode) *faultEnv {
	t.Helper()
	rs := redistest.Start(t)
	proxy := startFaultProxy(t, rs.Addr)
	ctx := context.Background()
	e := newStoreEnv(t, proxy.addr)
	if err := e.store.LoadAbuseScripts(ctx); err != nil {
		t.Fatalf("LoadAbuseScripts: %v", err)
	}
	keys := testKeys(t, e)
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	engine, _ := startSpamChecks(t, e, log, spam.EngineOptions{})
	// Settle as commentd sets it from its Redis timeout.
	guard := ratelimit.NewGuard(e.store, ratelimit.Options{Rules: ratelimit.DefaultRules(), Logger: log, Settle: faultSettle})
	e.start(t, grpcserver.Options{
		Logger: log,
		Keys:   keys,
		Comments: comment.NewService(e.store, e.ring, comment.Options{DefaultMode: mode, Screeners: []comment.Screener{
			ratelimit.NewScreener(guard, e.ring, ratelimit.ScreenerOptions{BanStyle: ratelimit.BanRefuse}),
			spam.NewScreener(engine, spam.ScreenerOptions{Logger: log}),
		}}),
		Moderation: moderation.NewService(e.store, e.ring, withWorkflow(moderation.Options{
			DefaultMode: mode, Learner: spam.NewLearner(e.store, e.ring), Histories: e.store,
		}, e.store)),
		Bans:        ratelimit.NewBans(e.store, ratelimit.BansOptions{Keys: e.ring}),
		Registerer:  e.reg,
		CallTimeout: faultCallTimeout,
		Spam: grpcserver.SpamOptions{
			Service: spam.NewService(engine, e.store, spam.ServiceOptions{Bans: grpcserver.GuardBans(guard, e.ring, false), Threads: e.store, Histories: e.store}),
			Filters: spam.NewFilters(e.store, e.ring, spam.FiltersOptions{}),
		},
	})

	// Stopped (by the cleanup registered here, which runs first) before the server and Redis.
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { e.srv.WatchHealth(runCtx, e.store.Ping, faultHealthEvery) })
	t.Cleanup(func() { stop(); wg.Wait() })

	return &faultEnv{env: e, proxy: proxy, direct: redistest.Client(t, rs.Addr)}
}

// keysLike returns the names of the env's keys that contain part.
func (e *faultEnv) keysLike(t *testing.T, part string) []string {
	t.Helper()
	var out []string
	iter := e.direct.Scan(t.Context(), 0, e.prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		if strings.Contains(iter.Val(), part) {
			out = append(out, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN %s*: %v", e.prefix, err)
	}
	return out
}

// events subscribes (without the proxy) to the queue events channel and returns a function that
// returns the messages received so far.
func (e *faultEnv) events(t *testing.T) func() []string {
	t.Helper()
	sub := e.direct.Subscribe(t.Context(), e.prefix+"events")
	if _, err := sub.Receive(t.Context()); err != nil {
		t.Fatalf("SUBSCRIBE %sevents: %v", e.prefix, err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range sub.Channel() {
			mu.Lock()
			got = append(got, m.Payload)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { sub.Close(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// sumField adds up field of every hash key of the env whose name contains part.
func (e *faultEnv) sumField(t *testing.T, part, field string) int64 {
	t.Helper()
	var n int64
	for _, k := range e.keysLike(t, part) {
		v, err := e.direct.HGet(t.Context(), k, field).Int64()
		if err != nil && err != redis.Nil {
			t.Fatalf("HGET %s %s: %v", k, field, err)
		}
		n += v
	}
	return n
}

// zmembers returns the members of every sorted set of the env whose name contains part, by key.
func (e *faultEnv) zmembers(t *testing.T, part string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, k := range e.keysLike(t, part) {
		if typ, _ := e.direct.Type(t.Context(), k).Result(); typ != "zset" {
			continue
		}
		m, err := e.direct.ZRange(t.Context(), k, 0, -1).Result()
		if err != nil {
			t.Fatalf("ZRANGE %s: %v", k, err)
		}
		out[k] = m
	}
	return out
}

// Replies the tests cut (RESP3, as go-redis speaks it): create.lua storing a new comment,
// decide.lua applying a decision, the abuse check's pipeline, recognised by the ban lookup that
// ends it (26 fields for an IPv4 address, none of them set), and reports.lua counting a report.
const (
	replyCreated  = "*5\r\n$3\r\nnew\r\n"
	replyDecided  = "*2\r\n$2\r\nok\r\n"
	replyScreened = "*26\r\n_\r\n"
	replyReported = "*3\r\n$2\r\nok\r\n"
	replyThread   = "*7\r\n$2\r\nok\r\n"
)

// queued returns the ids of the thread's comments in its pending queue and in the shard's.
func (e *faultEnv) queued(t *testing.T, threadID string) (thread, shard []string) {
	t.Helper()
	for k, ids := range e.zmembers(t, "}q:2") {
		if strings.HasSuffix(k, "}q:2:"+threadID) {
			thread = append(thread, ids...)
		} else if strings.HasSuffix(k, "}q:2") {
			shard = append(shard, ids...)
		}
	}
	return thread, shard
}

// listQueue returns the names of the thread's pending comments, as a moderator lists them.
func (e *faultEnv) listQueue(t *testing.T, threadID string) []string {
	t.Helper()
	resp, err := e.mod.ListQueue(e.as(t, modKeyName), &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, ThreadId: threadID})
	if err != nil {
		t.Fatalf("called ListQueue(thread %s): %v", threadID, err)
	}
	var names []string
	for _, c := range resp.GetComments() {
		names = append(names, c.GetComment().GetName())
	}
	return names
}

// audited returns the audit events of one comment.
func (e *faultEnv) audited(t *testing.T, name string) []*commentdv1.AuditEvent {
	t.Helper()
	resp, err := e.mod.ListAuditEvents(e.as(t, modKeyName), &commentdv1.ListAuditEventsRequest{Target: name})
	if err != nil {
		t.Fatalf("called ListAuditEvents(target %s): %v", name, err)
	}
	return resp.GetEvents()
}

// modelTotals returns the site spam model's totals hash (nil before the model has any).
func (e *faultEnv) modelTotals(t *testing.T) map[string]string {
	t.Helper()
	ks := e.keysLike(t, ":site}:n")
	if len(ks) == 0 {
		return nil
	}
	m, err := e.direct.HGetAll(t.Context(), ks[0]).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", ks[0], err)
	}
	return m
}

// countPrefix counts the entries of got that start with prefix.
func countPrefix(got []string, prefix string) int {
	n := 0
	for _, s := range got {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// TestFaultRedisSlowerThanDeadline puts Redis's replies behind three times the server's Redis
// timeout: the submission must fail as documented (STORE_UNAVAILABLE with RetryInfo, or
// DEADLINE_EXCEEDED), and, once Redis is quick again, the same request sent again must store
// exactly one comment, neither refused as a duplicate nor rate-limited because of the first try.
func TestFaultRedisSlowerThanDeadline(t *testing.T) {
	e := newFaultEnv(t, comment.ModePre)
	events := e.events(t)
	const thread = "slow"
	r := validSubmission(thread, "a comment sent while Redis answers slowly")
	r.RequestId = "slow-1"

	e.proxy.addToxic(t, "slow", "latency", "downstream", map[string]any{"latency": (3 * faultCallTimeout).Milliseconds()})
	ctx, cancel := context.WithTimeout(e.as(t, siteKeyName), 10*time.Second)
	defer cancel()
	_, err := e.site.SubmitComment(ctx, r)
	switch code, reason := codeReason(err); {
	case code == codes.Unavailable && reason == grpcserver.ReasonStoreUnavailable:
		if ri, ok := detail[*errdetails.RetryInfo](err); !ok || ri.GetRetryDelay().AsDuration() <= 0 {
			t.Errorf("called SubmitComment with Redis slower than the deadline, got %v without a RetryInfo delay (%v); want one", err, ri)
		}
	case code == codes.DeadlineExceeded:
	default:
		t.Fatalf("called SubmitComment with Redis slower than the deadline, got %v %q (%v); want Unavailable %s with RetryInfo, or DeadlineExceeded",
			code, reason, err, grpcserver.ReasonStoreUnavailable)
	}
	e.proxy.removeToxic(t, "slow")

	// Connections the first try left behind may still fail once: UNAVAILABLE is retried. So is
	// REQUEST_IN_PROGRESS: Redis ran the first try's abuse check after its deadline, and the
	// request marker it set stands, unrefunded, for the Guard's Settle.
	var stored *commentdv1.Comment
	if !eventually(5*time.Second+faultSettle, func() bool {
		resp, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
		code, reason := codeReason(err)
		retry := (code == codes.Unavailable && reason == grpcserver.ReasonStoreUnavailable) || (code == codes.Aborted && reason == grpcserver.ReasonRequestInProgress)
		if err != nil && !retry {
			t.Fatalf("called SubmitComment again with request_id %q after Redis recovered, got %v %q (%v); want the comment stored", r.RequestId, code, reason, err)
		}
		stored = resp.GetComment()
		return err == nil
	}) {
		t.Fatalf("called SubmitComment again with request_id %q for 5s after Redis recovered, got UNAVAILABLE every time", r.RequestId)
	}

	want := []string{stored.GetName()}
	if got := e.listQueue(t, thread); !slices.Equal(got, want) {
		t.Errorf("after a failed and a good SubmitComment with one request_id, ListQueue(thread %s) = %v, want %v", thread, got, want)
	}
	threadQ, shardQ := e.queued(t, thread)
	if id := stored.GetId(); !slices.Equal(threadQ, []string{id}) || !slices.Equal(shardQ, []string{id}) {
		t.Errorf("after a failed and a good SubmitComment with one request_id, the thread's queue holds %v and the shard's %v, want [%s] in each", threadQ, shardQ, id)
	}
	if n := e.sumField(t, "}st:", "sub"); n != 1 {
		t.Errorf("after a failed and a good SubmitComment with one request_id, the daily counters count %d submissions, want 1", n)
	}
	if !eventually(time.Second, func() bool { return countPrefix(events(), "held ") == 1 }) || countPrefix(events(), "held ") != 1 {
		t.Errorf("after a failed and a good SubmitComment with one request_id, got queue events %v, want one held event", events())
	}
}

// TestFaultLostReplies breaks the connection after Redis has run a write and before its reply
// arrives, so that go-redis sends the write again: each write must count once.
func TestFaultLostReplies(t *testing.T) {
	e := newFaultEnv(t, comment.ModePre)
	events := e.events(t)
	site, mod := e.as(t, siteKeyName), e.as(t, modKeyName)

	submit := func(what, cut string, r *commentdv1.SubmitCommentRequest) *commentdv1.Comment {
		t.Helper()
		fired := e.proxy.cutOnce(t, what, cut)
		resp, err := e.site.SubmitComment(site, r)
		if err != nil {
			t.Fatalf("called SubmitComment with the reply of %s lost: %v", what, err)
		}
		if !fired() {
			t.Fatalf("called SubmitComment: the reply of %s was never cut", what)
		}
		e.proxy.removeToxic(t, what)
		return resp.GetComment()
	}

	t.Run("comment stored", func(t *testing.T) {
		const thread = "lost-create"
		r := validSubmission(thread, "a comment whose stored reply is lost")
		r.RequestId = "lost-create-1"
		c := submit("create", replyCreated, r)
		if got, want := e.listQueue(t, thread), []string{c.GetName()}; !slices.Equal(got, want) {
			t.Errorf("called SubmitComment with create's reply lost, ListQueue(thread %s) = %v, want %v", thread, got, want)
		}
		threadQ, shardQ := e.queued(t, thread)
		if id := c.GetId(); !slices.Equal(threadQ, []string{id}) || !slices.Contains(shardQ, id) || len(shardQ) != 1 {
			t.Errorf("called SubmitComment with create's reply lost, the thread's queue holds %v and the shard's %v, want [%s] in each", threadQ, shardQ, id)
		}
		if n := e.sumField(t, "}st:", "sub"); n != 1 {
			t.Errorf("called SubmitComment with create's reply lost, the daily counters count %d submissions, want 1", n)
		}
		if !eventually(time.Second, func() bool { return countPrefix(events(), "held "+c.GetId()) >= 1 }) || countPrefix(events(), "held "+c.GetId()) != 1 {
			t.Errorf("called SubmitComment with create's reply lost, got queue events %v, want one held event for %s", events(), c.GetId())
		}
	})

	t.Run("abuse check counted once", func(t *testing.T) {
		// flood-ip lets three submissions from one address through at once (DefaultRules): the
		// first, whose abuse check is resent, and two more.
		const thread = "lost-screen"
		for i := range 3 {
			r := validSubmission(thread, fmt.Sprintf("comment %d from a shared office address", i))
			r.AuthorEmail = fmt.Sprintf("colleague%d@example.com", i)
			r.ClientIp = "192.0.2.77"
			if i == 0 {
				submit("screen", replyScreened, r)
				continue
			}
			if _, err := e.site.SubmitComment(site, r); err != nil {
				t.Errorf("called SubmitComment %d of 3 from one address (flood-ip allows 3), the first with its abuse check's reply lost: %v; want it stored", i+1, err)
			}
		}
	})

	t.Run("report without an address counted once", func(t *testing.T) {
		c := e.submit(t, validSubmission("lost-report", "a comment a reader reports without an address"))
		fired := e.proxy.cutOnce(t, "report", replyReported)
		resp, err := e.site.ReportComment(site, &commentdv1.ReportCommentRequest{Name: c.GetName(), Reason: "rude"})
		if err != nil {
			t.Fatalf("called ReportComment(%s) with the report's reply lost: %v", c.GetName(), err)
		}
		if !fired() {
			t.Fatalf("called ReportComment(%s): the report's reply was never cut", c.GetName())
		}
		e.proxy.removeToxic(t, "report")
		if n := resp.GetReportCount(); n != 1 {
			t.Errorf("called ReportComment(%s) once, without client_ip, with the report's reply lost, got report_count %d, want 1", c.GetName(), n)
		}
		got, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: c.GetName()})
		if err != nil {
			t.Fatalf("called GetComment(%s): %v", c.GetName(), err)
		}
		if n, reports := got.GetComment().GetReportCount(), got.GetComment().GetReports(); n != 1 || len(reports) != 1 {
			t.Errorf("called ReportComment(%s) once with the report's reply lost, GetComment shows report_count %d and %d reports, want 1 and 1", c.GetName(), n, len(reports))
		}
	})

	t.Run("decisions", func(t *testing.T) {
		const thread = "lost-decide"
		ham := e.submit(t, spamSubmission(1, thread, "a thoughtful reply about the council budget"))
		junk := e.submit(t, spamSubmission(2, thread, "win a free phone, click the link in my profile"))
		decisions := []struct {
			name   string
			c      *commentdv1.Comment
			decide func() error
			to     commentdv1.State
			action commentdv1.AuditAction
			total  string // the model's total this decision adds one to
		}{
			{"approve", ham, func() error {
				_, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: ham.GetName()})
				return err
			}, commentdv1.State_STATE_PUBLISHED, commentdv1.AuditAction_AUDIT_ACTION_APPROVE, "ham"},
			{"mark spam", junk, func() error {
				_, err := e.mod.MarkSpam(mod, &commentdv1.MarkSpamRequest{Name: junk.GetName(), Reason: "advertising"})
				return err
			}, commentdv1.State_STATE_SPAM, commentdv1.AuditAction_AUDIT_ACTION_MARK_SPAM, "spam"},
		}
		for _, d := range decisions {
			before := e.modelTotals(t)
			fired := e.proxy.cutOnce(t, d.name, replyDecided)
			if err := d.decide(); err != nil {
				t.Fatalf("called %s(%s) with decide's reply lost: %v", d.name, d.c.GetName(), err)
			}
			if !fired() {
				t.Fatalf("called %s(%s): decide's reply was never cut", d.name, d.c.GetName())
			}
			e.proxy.removeToxic(t, d.name)

			got, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: d.c.GetName()})
			if err != nil {
				t.Fatalf("called GetComment(%s): %v", d.c.GetName(), err)
			}
			if dec := got.GetComment().GetDecision(); got.GetComment().GetComment().GetState() != d.to || dec.GetModerator() != modKeyName ||
				dec.GetFromState() != commentdv1.State_STATE_PENDING || dec.GetToState() != d.to {
				t.Errorf("called %s(%s) with decide's reply lost, got state %v and decision %v; want %v decided by %s from pending",
					d.name, d.c.GetName(), got.GetComment().GetComment().GetState(), dec, d.to, modKeyName)
			}
			if evs := e.audited(t, d.c.GetName()); len(evs) != 1 || evs[0].GetAction() != d.action {
				t.Errorf("called %s(%s) with decide's reply lost, got audit events %v; want one %v", d.name, d.c.GetName(), evs, d.action)
			}
			if n := countPrefix(events(), "decided "+d.c.GetId()); n != 1 {
				t.Errorf("called %s(%s) with decide's reply lost, got %d decided events, want 1", d.name, d.c.GetName(), n)
			}
			after := e.modelTotals(t)
			var b, a int
			fmt.Sscan(before[d.total], &b)
			fmt.Sscan(after[d.total], &a)
			if a != b+1 {
				t.Errorf("called %s(%s) with decide's reply lost, the spam model's %s total went from %d to %d, want one more", d.name, d.c.GetName(), d.total, b, a)
			}
		}
		if n := e.sumField(t, "}st:", "d:"+modKeyName+":a"); n != 1 {
			t.Errorf("approved once with decide's reply lost, the daily counters count %d approvals, want 1", n)
		}
		if n := e.sumField(t, "}st:", "d:"+modKeyName+":s"); n != 1 {
			t.Errorf("marked spam once with decide's reply lost, the daily counters count %d, want 1", n)
		}
		if n := e.sumField(t, "}st:", "spam"); n != 1 {
			t.Errorf("marked spam once with decide's reply lost, the daily spam counters count %d, want 1", n)
		}
	})
}

// TestFaultRedisUnreachable cuts commentd off Redis: health turns NOT_SERVING, a submission gets
// UNAVAILABLE STORE_UNAVAILABLE with RetryInfo and leaves nothing behind, and once Redis is
// reachable again health turns SERVING and the same request is stored.
func TestFaultRedisUnreachable(t *testing.T) {
	e := newFaultEnv(t, comment.ModePost)
	health := healthgrpc.NewHealthClient(e.conn)
	waitHealth := func(step string, want healthgrpc.HealthCheckResponse_ServingStatus) {
		t.Helper()
		var got healthgrpc.HealthCheckResponse_ServingStatus
		var err error
		if !eventually(3*faultHealthEvery, func() bool {
			var resp *healthgrpc.HealthCheckResponse
			resp, err = health.Check(t.Context(), &healthgrpc.HealthCheckRequest{})
			got = resp.GetStatus()
			return err == nil && got == want
		}) {
			t.Fatalf("%s: called Health.Check for %v, got %v, %v; want %v", step, 3*faultHealthEvery, got, err, want)
		}
	}
	const thread = "away"
	e.submit(t, validSubmission(thread, "a comment before Redis went away"))
	waitHealth("with Redis reachable", healthgrpc.HealthCheckResponse_SERVING)
	// Rate-limit states expire on their own while the test waits: they are left out.
	before := e.commentData(t)

	e.proxy.p.Stop()
	waitHealth("after Redis became unreachable", healthgrpc.HealthCheckResponse_NOT_SERVING)
	r := validSubmission(thread, "a comment sent while Redis is unreachable")
	r.RequestId = "away-1"
	r.ClientIp = "192.0.2.88"
	_, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
	if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonStoreUnavailable {
		t.Fatalf("called SubmitComment with Redis unreachable, got %v %q (%v); want Unavailable %s", code, reason, err, grpcserver.ReasonStoreUnavailable)
	}
	if ri, ok := detail[*errdetails.RetryInfo](err); !ok || ri.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("called SubmitComment with Redis unreachable, got RetryInfo %v; want a delay", ri)
	}
	if after := e.commentData(t); !maps.Equal(after, before) {
		t.Errorf("called SubmitComment with Redis unreachable: the stored keys changed from %v to %v; want nothing written", before, after)
	}

	if err := e.proxy.p.Start(); err != nil {
		t.Fatalf("start the proxy again: %v", err)
	}
	waitHealth("after Redis became reachable again", healthgrpc.HealthCheckResponse_SERVING)
	// go-redis may return its last dial error for about a second.
	var stored *commentdv1.Comment
	if !eventually(5*time.Second, func() bool {
		resp, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
		if code, reason := codeReason(err); err != nil && (code != codes.Unavailable || reason != grpcserver.ReasonStoreUnavailable) {
			t.Fatalf("called SubmitComment after Redis came back, got %v %q (%v); want the comment stored", code, reason, err)
		}
		stored = resp.GetComment()
		return err == nil
	}) {
		t.Fatalf("called SubmitComment for 5s after Redis came back, got UNAVAILABLE every time")
	}
	resp, err := e.site.ListComments(e.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: thread})
	if err != nil {
		t.Fatalf("called ListComments(%s): %v", thread, err)
	}
	if n := len(resp.GetComments()); n != 2 || resp.GetComments()[1].GetName() != stored.GetName() {
		t.Errorf("after an outage, ListComments(%s) gave %d comments (%v); want 2, the last %s", thread, n, resp.GetComments(), stored.GetName())
	}
}

// commentData is env.dump, read without the proxy, of every key but the rate-limit states and
// duplicate markers.
func (e *faultEnv) commentData(t *testing.T) map[string]string {
	t.Helper()
	viaProxy := e.redis
	e.redis = e.direct
	defer func() { e.redis = viaProxy }()
	return e.dump(t, func(k string) bool { return strings.Contains(k, "{rl:") })
}

// TestFaultThreadUpdateRetriedAfterDeadline loses Redis's reply to a moderator's UpdateThread, so
// the thread changes but the moderator is told UNAVAILABLE when the deadline passes, and then
// resends the call as docs/ERRORS.md says: the audit log must name that change once, by that
// moderator, and count it once in the day's statistics. The resend changes nothing, so an entry
// written only after the store's reply came would be written by neither call.
func TestFaultThreadUpdateRetriedAfterDeadline(t *testing.T) {
	e := newFaultEnv(t, comment.ModePost)
	mod := e.as(t, modKeyName)
	const thread = "slow-close"
	r := &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/" + thread, Closed: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	}

	fired := e.proxy.dropOnce(t, "late", replyThread)
	_, err := e.mod.UpdateThread(mod, r)
	if code, reason := codeReason(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Fatalf("called UpdateThread with its reply from Redis lost, got %v %q (%v); want Unavailable or DeadlineExceeded", code, reason, err)
	}
	if !fired() {
		t.Fatalf("called UpdateThread: its reply from Redis was never dropped")
	}
	e.proxy.removeToxic(t, "late")
	if _, err := e.mod.UpdateThread(mod, r); err != nil {
		t.Fatalf("called UpdateThread again: %v", err)
	}

	got, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: "threads/" + thread})
	if err != nil || !got.GetThread().GetClosed() {
		t.Fatalf("after UpdateThread(closed) and its resend, GetThread(%s) = %v, %v; want closed", thread, got, err)
	}
	evs := e.audited(t, "threads/"+thread)
	if len(evs) != 1 || evs[0].GetAction() != commentdv1.AuditAction_AUDIT_ACTION_UPDATE_THREAD ||
		evs[0].GetModerator() != modKeyName || evs[0].GetReason() != "closed false -> true" {
		t.Errorf("after UpdateThread(closed) timed out and was resent, the audit log holds %v; want one update_thread entry by %s, reason %q",
			evs, modKeyName, "closed false -> true")
	}
	if n := e.sumField(t, "}st:", "d:"+modKeyName+":o"); n != 1 {
		t.Errorf("after UpdateThread(closed) timed out and was resent, the daily counters count %d other actions of %s, want 1", n, modKeyName)
	}
}

// otherActions returns the moderator's count of other actions of today and yesterday, as GetStats
// gives it: two days, so a test that runs over midnight UTC, whose actions are counted on the day
// each was taken, still sees them all. The env's Redis is its own: yesterday holds nothing else.
func (e *faultEnv) otherActions(t *testing.T, moderator string) int64 {
	t.Helper()
	resp, err := e.mod.GetStats(e.as(t, modKeyName), &commentdv1.GetStatsRequest{Days: 2})
	if err != nil {
		t.Fatalf("called GetStats: %v", err)
	}
	for _, m := range resp.GetModerators() {
		if m.GetModerator() == moderator {
			return m.GetOther()
		}
	}
	return 0
}

// wantAudited fails the test unless the audit log of target holds exactly the entries want
// ("action by moderator: reason", newest first), and the moderator's other actions of today and
// yesterday number as many.
func (e *faultEnv) wantAudited(t *testing.T, when, target string, want ...string) {
	t.Helper()
	var got []string
	for _, ev := range e.audited(t, target) {
		got = append(got, fmt.Sprintf("%s by %s: %s", ev.GetAction(), ev.GetModerator(), ev.GetReason()))
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s, the audit log of %s holds %q; want %q", when, target, got, want)
	}
	if n := e.otherActions(t, modKeyName); n != int64(len(want)) {
		t.Errorf("%s, GetStats counts %d other actions of %s today and yesterday; want %d", when, n, modKeyName, len(want))
	}
}

// lostReply calls call with Redis's reply to its write dropped (dropped reports whether it was),
// wants UNAVAILABLE or DEADLINE_EXCEEDED for it, and takes the fault away.
func (e *faultEnv) lostReply(t *testing.T, what string, dropped func() bool, call func() error) {
	t.Helper()
	err := call()
	if code, reason := codeReason(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Fatalf("called %s with its reply from Redis lost, got %v %q (%v); want Unavailable or DeadlineExceeded", what, code, reason, err)
	}
	if !dropped() {
		t.Fatalf("called %s: its reply from Redis was never dropped", what)
	}
	e.proxy.removeToxic(t, "late")
}

// A word-list entry added by a call whose reply from Redis is lost is in the audit log, once, in
// the moderator's name: the moderator's resend finds the entry there and adds nothing, so an entry
// written only after the store's reply came would be written by neither call.
func TestFaultCreateFilterRetriedAfterDeadline(t *testing.T) {
	e := newFaultEnv(t, comment.ModePost)
	mod := e.as(t, modKeyName)
	r := &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
		List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: "slowcasino",
	}}
	dropped := e.proxy.dropOnce(t, "late", "*2\r\n$3\r\nnew\r\n")
	e.lostReply(t, "CreateFilter", dropped, func() error { _, err := e.mod.CreateFilter(mod, r); return err })
	resp, err := e.mod.CreateFilter(mod, r)
	if err != nil {
		t.Fatalf("called CreateFilter again: %v", err)
	}
	e.wantAudited(t, "after CreateFilter timed out and was resent", resp.GetFilter().GetName(),
		"AUDIT_ACTION_CREATE_FILTER by "+modKeyName+": spam list, word")
}

// A word-list entry removed by a call whose reply from Redis is lost is in the audit log, once: the
// moderator's resend finds no entry (NOT_FOUND), and wrote nothing either.
func TestFaultDeleteFilterRetriedAfterDeadline(t *testing.T) {
	e := newFaultEnv(t, comment.ModePost)
	mod := e.as(t, modKeyName)
	created, err := e.mod.CreateFilter(mod, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
		List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_DOMAIN, Value: "slow-pills.example",
	}})
	if err != nil {
		t.Fatalf("called CreateFilter: %v", err)
	}
	name := created.GetFilter().GetName()
	dropped := e.proxy.dropOnce(t, "late", "*1\r\n$7\r\ndeleted\r\n")
	r := &commentdv1.DeleteFilterRequest{Name: name}
	e.lostReply(t, "DeleteFilter", dropped, func() error { _, err := e.mod.DeleteFilter(mod, r); return err })
	if _, err := e.mod.DeleteFilter(mod, r); status.Code(err) != codes.NotFound {
		t.Fatalf("called DeleteFilter(%s) again: %v; want NotFound, the first call removed it", name, err)
	}
	e.wantAudited(t, "after DeleteFilter timed out and was resent", name,
		"AUDIT_ACTION_DELETE_FILTER by "+modKeyName+": ",
		"AUDIT_ACTION_CREATE_FILTER by "+modKeyName+": hold list, domain")
}

// A ban stored by a call whose reply from Redis is lost is in the audit log at once, in the
// moderator's name and with the reason. The moderator's resend with the same request_id gets the
// ban the first call stored, and what it replaced, and records nothing more.
func TestFaultCreateBanRetriedAfterDeadline(t *testing.T) {
	e := newFaultEnv(t, comment.ModePost)
	mod := e.as(t, modKeyName)
	r := &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "198.51.100.0/24"},
		Duration: durationpb.New(time.Hour), Reason: "slow flood", RequestId: "ban-slow-flood"}
	// The range is banned before, so the reply to the call under test is the ban it replaced, which
	// only this reply holds.
	first := &commentdv1.CreateBanRequest{Target: r.GetTarget(), Reason: "earlier-flood"}
	earlier, err := e.mod.CreateBan(mod, first)
	if err != nil {
		t.Fatalf("called CreateBan(%s): %v", first.GetIpRange(), err)
	}
	dropped := e.proxy.dropOnce(t, "late", "earlier-flood")
	e.lostReply(t, "CreateBan", dropped, func() error { _, err := e.mod.CreateBan(mod, r); return err })
	const name = "bans/range-198.51.100.0-24"
	e.wantAudited(t, "after CreateBan timed out", name,
		"AUDIT_ACTION_BAN by "+modKeyName+": slow flood",
		"AUDIT_ACTION_BAN by "+modKeyName+": earlier-flood")
	listed, err := e.mod.ListBans(mod, &commentdv1.ListBansRequest{})
	if err != nil || len(listed.GetBans()) != 1 {
		t.Fatalf("called ListBans after CreateBan timed out: %v, %v; want the ban the call stored", listed, err)
	}

	resp, err := e.mod.CreateBan(mod, r)
	if err != nil {
		t.Fatalf("called CreateBan again with request_id %s: %v", r.GetRequestId(), err)
	}
	if diff := cmp.Diff(listed.GetBans()[0], resp.GetBan(), protocmp.Transform()); diff != "" {
		t.Errorf("CreateBan resent with request_id %s after a lost reply: ban differs from the one the first call stored (-want +got):\n%s", r.GetRequestId(), diff)
	}
	if diff := cmp.Diff(earlier.GetBan(), resp.GetReplacedBan(), protocmp.Transform()); diff != "" {
		t.Errorf("CreateBan resent with request_id %s after a lost reply: replaced_ban differs from the ban the first call replaced (-want +got):\n%s", r.GetRequestId(), diff)
	}
	e.wantAudited(t, "after CreateBan timed out and was resent", name,
		"AUDIT_ACTION_BAN by "+modKeyName+": slow flood",
		"AUDIT_ACTION_BAN by "+modKeyName+": earlier-flood")
}

// A ban lifted by a call whose reply from Redis is lost is in the audit log, once: the moderator's
// resend finds no ban (NOT_FOUND) and wrote nothing either.
func TestFaultDeleteBanRetriedAfterDeadline(t *testing.T) {
	e := newFaultEnv(t, comment.ModePost)
	mod := e.as(t, modKeyName)
	created, err := e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.0/24"}, Reason: "bot net"})
	if err != nil {
		t.Fatalf("called CreateBan: %v", err)
	}
	name := created.GetBan().GetName()
	// bans_delete.lua answers 1: a reply of its own in its chunk, as the server's other calls are
	// idle meanwhile.
	dropped := e.proxy.dropExactOnce(t, "late", ":1\r\n")
	r := &commentdv1.DeleteBanRequest{Name: name}
	e.lostReply(t, "DeleteBan", dropped, func() error { _, err := e.mod.DeleteBan(mod, r); return err })
	if _, err := e.mod.DeleteBan(mod, r); status.Code(err) != codes.NotFound {
		t.Fatalf("called DeleteBan(%s) again: %v; want NotFound, the first call lifted it", name, err)
	}
	e.wantAudited(t, "after DeleteBan timed out and was resent", name,
		"AUDIT_ACTION_UNBAN by "+modKeyName+": ",
		"AUDIT_ACTION_BAN by "+modKeyName+": bot net")
}

// TestFaultClientCancelsDuringRedisCall cancels a call while its Redis call waits for a reply that
// never comes (the client gave up on a slow page, a moderator closed a watch as an event's comment
// was read). Redis is fine: the call must be logged and counted as CANCELLED, not as the store
// being unavailable, whose WARN line (one per 10 s) would hide the cause of a real outage and whose
// UNAVAILABLE count operators alert on.
func TestFaultClientCancelsDuringRedisCall(t *testing.T) {
	rs := redistest.Start(t)
	proxy := startFaultProxy(t, rs.Addr)
	// No call timeout: only the client's cancellation ends the call.
	e := newEnv(t, envOptions{redisAddr: proxy.addr})
	const method = "ListComments"
	e.submit(t, validSubmission("cancelled", "a comment to list"))

	// Redis runs every command, and no reply comes back.
	proxy.addToxic(t, "hang", "timeout", "downstream", map[string]any{"timeout": 0})
	ctx, cancel := context.WithCancel(e.as(t, siteKeyName))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.site.ListComments(ctx, &commentdv1.ListCommentsRequest{ThreadId: "cancelled"})
		done <- err
	}()
	started := func() bool {
		n, err := metricValue(e.reg, "grpc_server_started_total", map[string]string{"grpc_method": method})
		return err == nil && n == 1
	}
	if !eventually(30*time.Second, started) {
		t.Fatalf("called %s with Redis's replies held back: the server never started it", method)
	}
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled %s, got %v; want Canceled", method, err)
	}
	var lines []logLine
	if !eventually(30*time.Second, func() bool {
		lines = e.logs.find(t, "rpc", map[string]string{"method": "/commentd.v1.CommentService/" + method})
		return len(lines) == 1
	}) {
		t.Fatalf("cancelled %s: got %d access-log lines for it, want 1:\n%s", method, len(lines), e.logs.String())
	}
	if code := lines[0]["code"]; code != codes.Canceled.String() {
		t.Errorf("cancelled %s while its Redis call waited, access log code = %v, want %v", method, code, codes.Canceled)
	}
	if n, err := metricValue(e.reg, "grpc_server_handled_total", map[string]string{"grpc_method": method, "grpc_code": codes.Unavailable.String()}); err == nil && n != 0 {
		t.Errorf("cancelled %s while its Redis call waited, grpc_server_handled_total{grpc_code=%q} = %v, want 0", method, codes.Unavailable, n)
	}
	if got := e.logs.find(t, "store unavailable", nil); len(got) != 0 {
		t.Errorf("cancelled %s while its Redis call waited, got %q log lines %v; want none: Redis was fine", method, "store unavailable", got)
	}
}
