package grpcserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestMain checks that no test leaves a goroutine behind. The tests use private redis-servers
// (redistest.Start) rather than the shared one: redistest.Main runs the tests and exits itself, so
// it cannot be combined with goleak's check, and a shared server left running here would outlive
// the test binary.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The API keys every test environment accepts, by name.
const (
	siteKeyName  = "site-blog"
	modKeyName   = "mod-alice"
	adminKeyName = "admin-root"
)

// env is one commentd gRPC server on an in-memory connection, backed by the real domain services
// and the real Redis store under a key prefix of its own.
type env struct {
	lis     *bufconn.Listener // the server's listener, for clients of a test's own
	conn    *grpc.ClientConn
	srv     *grpcserver.Server
	store   *redisstore.Store
	redis   redis.UniversalClient // the store's client
	ring    *privacy.Keyring
	prefix  string
	logs    *syncBuffer
	reg     *prometheus.Registry
	site    commentdv1.CommentServiceClient
	mod     commentdv1.ModerationServiceClient
	tokens  map[string]string // key name → bearer token
	wrongTk string            // a well-formed token no key matches
}

type envOptions struct {
	redisAddr string             // required: a redistest server
	mode      comment.Mode       // site default moderation mode
	screeners []comment.Screener // run on every submission
	// storeScreener, when set, builds one more screener on the env's store and keyring.
	storeScreener func(*redisstore.Store, *privacy.Keyring) comment.Screener
	serverOptions []grpc.ServerOption
	callTimeout   time.Duration // Options.CallTimeout (-redis-timeout); 0: none
}

// testKeys makes a token for each of the tests' site, moderator and admin keys, records it in
// e.tokens, and returns the keys.
func testKeys(t testing.TB, e *env) *apikey.Set {
	t.Helper()
	keys := &apikey.Set{}
	for name, role := range map[string]apikey.Role{siteKeyName: apikey.RoleSite, modKeyName: apikey.RoleModerator, adminKeyName: apikey.RoleAdmin} {
		e.tokens[name] = newToken()
		if err := keys.Add(name, role, e.tokens[name]); err != nil {
			t.Fatalf("apikey.Set.Add(%q): %v", name, err)
		}
	}
	return keys
}

// newEnv starts a server for one test. Everything it starts is stopped by t.Cleanup.
// newStoreEnv returns an env with its store on the Redis at redisAddr (a key prefix of its own)
// and a fresh keyring, before any server starts: the part every env shares.
func newStoreEnv(tb testing.TB, redisAddr string) *env {
	tb.Helper()
	e := &env{prefix: redistest.Prefix(tb), logs: &syncBuffer{}, reg: prometheus.NewRegistry(), tokens: map[string]string{}}
	client, err := redisstore.NewClient(redisAddr)
	if err != nil {
		tb.Fatalf("redisstore.NewClient(%q): %v", redisAddr, err)
	}
	tb.Cleanup(func() { client.Close() })
	e.redis = client
	if e.store, err = redisstore.New(context.Background(), client, redisstore.Options{Prefix: e.prefix}); err != nil {
		tb.Fatalf("redisstore.New: %v", err)
	}
	if e.ring, err = privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	}); err != nil {
		tb.Fatalf("privacy.NewKeyring: %v", err)
	}
	return e
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := newStoreEnv(t, o.redisAddr)
	ring := e.ring
	screeners := o.screeners
	if o.storeScreener != nil {
		screeners = append(screeners, o.storeScreener(e.store, ring))
	}
	keys := testKeys(t, e)
	e.wrongTk = newToken()

	e.start(t, grpcserver.Options{
		Logger:        slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Keys:          keys,
		Comments:      comment.NewService(e.store, ring, comment.Options{DefaultMode: o.mode, Screeners: screeners}),
		Moderation:    moderation.NewService(e.store, ring, withWorkflow(moderation.Options{DefaultMode: o.mode}, e.store)),
		Registerer:    e.reg,
		ServerOptions: o.serverOptions,
		CallTimeout:   o.callTimeout,
	})
	return e
}

// start serves a grpcserver built from opts over an in-memory connection, points e's clients at
// it, and stops it when t ends.
func (e *env) start(t testing.TB, opts grpcserver.Options) {
	t.Helper()
	e.srv = grpcserver.New(opts)
	e.srv.SetServing(true)
	lis := bufconn.Listen(1 << 20)
	e.lis = lis
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	})
	conn, err := grpc.NewClient("passthrough:///commentd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	e.conn = conn
	e.site = commentdv1.NewCommentServiceClient(conn)
	e.mod = commentdv1.NewModerationServiceClient(conn)
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return apikey.TokenPrefix + hex.EncodeToString(b[:])
}

// as returns a context whose calls carry the named key's token.
func (e *env) as(t *testing.T, keyName string) context.Context {
	t.Helper()
	tok, ok := e.tokens[keyName]
	if !ok {
		t.Fatalf("no test key named %q", keyName)
	}
	return withBearer(t.Context(), tok)
}

func withBearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// submit submits a comment as the site and fails the test on error.
func (e *env) submit(t *testing.T, r *commentdv1.SubmitCommentRequest) *commentdv1.Comment {
	t.Helper()
	resp, err := e.site.SubmitComment(e.as(t, siteKeyName), r)
	if err != nil {
		t.Fatalf("SubmitComment(thread %q, body %q): %v", r.GetThreadId(), r.GetBody(), err)
	}
	return resp.GetComment()
}

// setMode sets a thread's moderation mode as the moderator.
func (e *env) setMode(t *testing.T, threadID string, m commentdv1.ModerationMode) {
	t.Helper()
	_, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
		Thread: &commentdv1.Thread{Name: "threads/" + threadID, ModerationMode: m},
	})
	if err != nil {
		t.Fatalf("UpdateThread(%s, mode %v): %v", threadID, m, err)
	}
}

// storedKeys returns the names of every Redis key under the env's prefix.
func (e *env) storedKeys(t *testing.T) []string {
	t.Helper()
	var names []string
	iter := e.redis.Scan(t.Context(), 0, e.prefix+"*", 100).Iterator()
	for iter.Next(t.Context()) {
		names = append(names, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN %s*: %v", e.prefix, err)
	}
	sort.Strings(names)
	return names
}

// storedText returns every key under the env's prefix with its whole value as text, whatever
// the key's type.
func (e *env) storedText(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	for _, k := range e.storedKeys(t) {
		b.WriteString(k + "\n")
		typ, err := e.redis.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var vals []string
		switch typ {
		case "string":
			v, err := e.redis.Get(ctx, k).Result()
			if err != nil {
				t.Fatalf("GET %s: %v", k, err)
			}
			vals = []string{v}
		case "hash":
			m, err := e.redis.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatalf("HGETALL %s: %v", k, err)
			}
			for f, v := range m {
				vals = append(vals, f, v)
			}
		case "zset":
			vals, err = e.redis.ZRange(ctx, k, 0, -1).Result()
		case "set":
			vals, err = e.redis.SMembers(ctx, k).Result()
		case "list":
			vals, err = e.redis.LRange(ctx, k, 0, -1).Result()
		case "stream":
			var msgs []redis.XMessage
			msgs, err = e.redis.XRange(ctx, k, "-", "+").Result()
			for _, m := range msgs {
				for f, v := range m.Values {
					vals = append(vals, f, fmt.Sprint(v))
				}
			}
		default:
			t.Fatalf("key %s has type %s, which this test cannot read", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s %s: %v", typ, k, err)
		}
		b.WriteString(strings.Join(vals, "\n") + "\n")
	}
	return b.String()
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLine is one decoded JSON log record.
type logLine map[string]any

// lines decodes every log record written so far.
func (b *syncBuffer) lines(t *testing.T) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// find returns the log records with msg whose string attributes match every entry of attrs.
func (b *syncBuffer) find(t *testing.T, msg string, attrs map[string]string) []logLine {
	t.Helper()
	var out []logLine
next:
	for _, l := range b.lines(t) {
		if l["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if s, _ := l[k].(string); s != v {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// errorInfo returns the status of err and its ErrorInfo (nil when it has none).
func errorInfo(err error) (*status.Status, *errdetails.ErrorInfo) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st, info
		}
	}
	return st, nil
}

// codeReason returns the code and ErrorInfo reason of err ("" when it has none).
func codeReason(err error) (codes.Code, string) {
	st, info := errorInfo(err)
	return st.Code(), info.GetReason()
}

// detail returns the first detail of type T in err's status.
func detail[T any](err error) (T, bool) {
	for _, d := range status.Convert(err).Details() {
		if v, ok := d.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// badRequestFields returns the field names of err's BadRequest detail, sorted.
func badRequestFields(err error) []string {
	br, ok := detail[*errdetails.BadRequest](err)
	if !ok {
		return nil
	}
	var fields []string
	for _, v := range br.GetFieldViolations() {
		fields = append(fields, v.GetField())
	}
	sort.Strings(fields)
	return fields
}

// metricValue returns the value of the counter (or the sample count of the histogram) named name
// whose labels include every entry of labels, or an error when there is no such series.
func metricValue(reg *prometheus.Registry, name string, labels map[string]string) (float64, error) {
	fams, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return sampleValue(f.GetType(), m), nil
		}
	}
	return 0, errors.New("no series " + name + " with those labels")
}

func sampleValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

// eventually polls cond every 20ms until it returns true or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// validSubmission returns a request that passes validation, for a thread.
func validSubmission(threadID, body string) *commentdv1.SubmitCommentRequest {
	return &commentdv1.SubmitCommentRequest{
		ThreadId:    threadID,
		AuthorName:  "Jane Reader",
		AuthorEmail: "jane@example.com",
		Body:        body,
		ClientIp:    "203.0.113.9",
		UserAgent:   "test-agent/1.0",
	}
}
