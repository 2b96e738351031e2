package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// runAsync starts run in a goroutine and returns its bound gRPC address, the cancel that stops it
// and a channel with run's result.
func runAsync(t *testing.T, args []string, env map[string]string, stdout *bytes.Buffer) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	return runAsyncReload(t, args, env, stdout, nil)
}

// runAsyncReload is runAsync with run's reload channel (what SIGHUP feeds).
func runAsyncReload(t *testing.T, args []string, env map[string]string, stdout *bytes.Buffer, reload <-chan os.Signal) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, stdout, &bytes.Buffer{}, envList(env), func(grpcAddr, _ string) { ready <- grpcAddr }, reload, nil)
	}()
	select {
	case addr := <-ready:
		return addr, cancel, done
	case err := <-done:
		cancel()
		t.Fatalf("run(%q) returned before ready: %v", args, err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("run(%q) not ready after 30s", args)
	}
	return "", cancel, done
}

// TestDevMode is the smoke test of the README's first command: -dev starts on the embedded
// in-memory Redis with generated keys, prints usable tokens, serves a submission, and stops cleanly.
func TestDevMode(t *testing.T) {
	var stdout bytes.Buffer
	addr, cancel, done := runAsync(t, []string{"-dev", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, nil, &stdout)
	m := regexp.MustCompile(`(?m)^\s+site\s+(cmd_\S+)$`).FindStringSubmatch(stdout.String())
	if m == nil {
		cancel()
		t.Fatalf("-dev banner has no site token line:\n%s", stdout.String())
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+m[1])
	resp, err := commentdv1.NewCommentServiceClient(conn).SubmitComment(ctx, &commentdv1.SubmitCommentRequest{
		ThreadId: "dev", AuthorName: "Dev", AuthorEmail: "dev@example.com", Body: "hello"})
	if err != nil || resp.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Errorf("SubmitComment on -dev = %v, %v; want a published comment", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run(-dev) after cancel = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run(-dev) did not return within 20s of cancel")
	}
}

// TestDevModeTTLsRunOut: in -dev, keys with a TTL end as they do on Redis. miniredis keeps them
// until told to count TTLs down, which left a review claim held after its lease and a text a
// duplicate for ever.
func TestDevModeTTLsRunOut(t *testing.T) {
	var stdout bytes.Buffer
	addr, cancel, done := runAsync(t, []string{"-dev", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-moderation-mode", "pre", "-rate-limits", "off", "-duplicate-window", "1s"}, nil, &stdout)
	defer func() { cancel(); <-done }()
	token := func(role string) string {
		m := regexp.MustCompile(`(?m)^\s+` + role + `\s+(cmd_\S+)$`).FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("-dev banner has no %s token line:\n%s", role, stdout.String())
		}
		return m[1]
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	as := func(role string) context.Context {
		ctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(ccancel)
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token(role))
	}
	site := commentdv1.NewCommentServiceClient(conn)
	mod := commentdv1.NewModerationServiceClient(conn)

	req := &commentdv1.SubmitCommentRequest{ThreadId: "dev", AuthorName: "Dev", AuthorEmail: "dev@example.com", Body: "hello", UserAgent: "test"}
	sub, err := site.SubmitComment(as("site"), req)
	if err != nil {
		t.Fatalf("SubmitComment on -dev = %v", err)
	}
	if _, err := site.SubmitComment(as("site"), req); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("SubmitComment of the same text at once on -dev = %v, want AlreadyExists", err)
	}
	claimed, err := mod.ClaimComments(as("moderator"), &commentdv1.ClaimCommentsRequest{Lease: durationpb.New(time.Second)})
	if err != nil || len(claimed.GetComments()) != 1 {
		t.Fatalf("ClaimComments(lease 1s) as moderator on -dev = %v, %v; want the one queued comment", claimed, err)
	}

	if held, err := mod.ClaimComments(as("admin"), &commentdv1.ClaimCommentsRequest{}); err != nil || len(held.GetComments()) != 0 {
		t.Errorf("ClaimComments as admin on -dev during the moderator's lease = %v, %v; want nothing", held, err)
	}

	time.Sleep(1500 * time.Millisecond)
	other, err := mod.ClaimComments(as("admin"), &commentdv1.ClaimCommentsRequest{})
	if err != nil || len(other.GetComments()) != 1 || other.GetComments()[0].GetComment().GetName() != sub.GetComment().GetName() {
		t.Errorf("ClaimComments as admin on -dev after the moderator's 1s lease ended = %v, %v; want %s", other, err, sub.GetComment().GetName())
	}
	if _, err := site.SubmitComment(as("site"), req); err != nil {
		t.Errorf("SubmitComment of the same text on -dev after the 1s duplicate window = %v, want accepted", err)
	}
}

// TestDurabilityFix checks that the refusal to start names the fix for what is wrong, and only
// that, and one that outlasts a restart of Redis: a CONFIG SET alone is undone by it.
func TestDurabilityFix(t *testing.T) {
	const aof, noEviction, rewrite = "CONFIG SET appendonly yes", "CONFIG SET maxmemory-policy noeviction", "CONFIG REWRITE"
	tests := []struct {
		name          string
		err           error
		want, notWant []string
	}{
		{name: "AOF off", err: redisstore.ErrNoAOF, want: []string{aof, rewrite}, notWant: []string{noEviction}},
		{name: "eviction", err: redisstore.ErrEvictionPolicy, want: []string{noEviction, rewrite}, notWant: []string{aof}},
		{name: "both", err: errors.Join(redisstore.ErrNoAOF, redisstore.ErrEvictionPolicy), want: []string{aof, noEviction, rewrite}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := durabilityFix(tt.err)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("durabilityFix(%v) = %q; want it to say %q", tt.err, got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("durabilityFix(%v) = %q; want no %q, which is not what is wrong", tt.err, got, w)
				}
			}
		})
	}
}

// TestRefusesLossyRedis checks the start-up durability gate: AOF off refuses to start unless the
// operator accepts data loss; AOF on starts.
func TestRefusesLossyRedis(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	keys := t.TempDir() + "/keys"
	writeKeys(t, keys)
	base := []string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-keys", keys}

	lossy := redistest.Start(t)
	err := run(context.Background(), append(base, "-redis-url", "redis://"+lossy.Addr), &bytes.Buffer{}, &bytes.Buffer{}, envList(env), nil, nil, nil)
	if !errors.Is(err, redisstore.ErrNoAOF) {
		t.Errorf("run against Redis with AOF off = %v, want an error matching redisstore.ErrNoAOF", err)
	}
	if msg := fmt.Sprint(err); strings.Contains(msg, "maxmemory-policy") || !strings.Contains(msg, "CONFIG REWRITE") {
		t.Errorf("run against Redis with AOF off (maxmemory-policy noeviction) = %q; want a fix for AOF alone that lasts past a restart of Redis", msg)
	}

	_, cancel, done := runAsync(t, append(base, "-redis-url", "redis://"+lossy.Addr, "-accept-data-loss"), env, &bytes.Buffer{})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run with -accept-data-loss = %v, want nil", err)
	}

	durable := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	_, cancel, done = runAsync(t, append(base, "-redis-url", "redis://"+durable.Addr), env, &bytes.Buffer{})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run against Redis with AOF always = %v, want nil", err)
	}
}

// TestRefusesChangedHashKey: a server started with another hash key than the one the data under
// its prefix was written with stops at once with ErrHashKeyChanged (bans, word lists, authors'
// records, erasure and export would silently find nothing stored before); the same key, another
// prefix, or the recorded check deleted by hand start.
func TestRefusesChangedHashKey(t *testing.T) {
	addr := redistest.Shared(t)
	rdb := redistest.Client(t, addr)
	keys := t.TempDir() + "/keys"
	writeKeys(t, keys)
	prefix := redistest.Prefix(t)
	args := func(prefix string) []string {
		return []string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-keys", keys,
			"-redis-url", "redis://" + addr, "-redis-prefix", prefix, "-accept-data-loss", "-redis-wait", "0"}
	}
	env := func(hashKey string) map[string]string {
		return map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + privacy.EncodeSecret(privacy.NewSecret()), "COMMENTD_HASH_KEY": hashKey}
	}
	oldKey, newKey := privacy.EncodeSecret(privacy.NewSecret()), privacy.EncodeSecret(privacy.NewSecret())
	starts := func(name string, args []string, env map[string]string) {
		t.Helper()
		_, cancel, done := runAsync(t, args, env, &bytes.Buffer{})
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run %s = %v, want nil", name, err)
		}
	}
	refused := func(name string, args []string, env map[string]string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := run(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}, envList(env), nil, nil, nil)
		if !errors.Is(err, redisstore.ErrHashKeyChanged) {
			t.Errorf("run %s = %v, want an error matching redisstore.ErrHashKeyChanged", name, err)
		}
		if msg := fmt.Sprint(err); !strings.Contains(msg, prefix+"hk") || strings.Contains(msg, newKey) || strings.Contains(msg, oldKey) {
			t.Errorf("run %s = %q; want it to name the Redis key %shk to delete, and no hash key", name, msg, prefix)
		}
	}

	starts("with the first hash key", args(prefix), env(oldKey))
	starts("with the same hash key again", args(prefix), env(oldKey))
	refused("with another hash key", args(prefix), env(newKey))
	starts("with another hash key and another prefix", args(redistest.Prefix(t)), env(newKey))

	if err := rdb.Del(context.Background(), prefix+"hk").Err(); err != nil {
		t.Fatalf("DEL %shk: %v", prefix, err)
	}
	starts("with another hash key once the recorded one is deleted", args(prefix), env(newKey))
	refused("with the first hash key, once the other is recorded", args(prefix), env(oldKey))
}

func writeKeys(t *testing.T, path string) {
	t.Helper()
	_, line, err := apikey.Generate("test-site", apikey.RoleSite)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDurabilityUnreadable: a Redis user refused CONFIG GET gets advice it can act on, and with
// -accept-data-loss the exported durability says "unknown" rather than "off".
func TestDurabilityUnreadable(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes")
	admin := redistest.Client(t, srv.Addr)
	if err := admin.Do(context.Background(), "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	rdb, err := redisstore.NewClient("redis://app:pw@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	log := slog.New(slog.DiscardHandler)

	err = checkDurability(context.Background(), log, rdb, &config.Config{}, newDurabilityInfo())
	if !errors.Is(err, redisstore.ErrConfigUnreadable) || !strings.Contains(err.Error(), "allow this user CONFIG GET") {
		t.Errorf("checkDurability as a user without CONFIG = %v, want ErrConfigUnreadable with advice to allow CONFIG GET", err)
	}

	reg := prometheus.NewRegistry()
	info := newDurabilityInfo()
	reg.MustRegister(info)
	var logged bytes.Buffer
	accepted := slog.New(slog.NewJSONHandler(&logged, nil))
	if err := checkDurability(context.Background(), accepted, rdb, &config.Config{AcceptDataLoss: true}, info); err != nil {
		t.Fatalf("checkDurability with data loss accepted = %v, want nil", err)
	}
	// The log line says what the metric says: the settings are unknown, not off.
	for _, want := range []string{`"aof":"unknown"`, `"appendfsync":"unknown"`, `"maxmemory_policy":"unknown"`} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("checkDurability with data loss accepted logged %s, want %s (the settings could not be read)", logged.String(), want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("Gather = %v, %v; want the durability metric", mfs, err)
	}
	for _, l := range mfs[0].GetMetric()[0].GetLabel() {
		if l.GetValue() != "unknown" {
			t.Errorf("durability metric label %s=%q, want \"unknown\" (the settings could not be read)", l.GetName(), l.GetValue())
		}
	}
}

// TestWarnsOfUnknownEnv: a misspelt COMMENTD_* variable is named in a WARN line at start, without
// its value (it may be a secret); without one there is no such line.
func TestWarnsOfUnknownEnv(t *testing.T) {
	const secret = "c2VjcmV0LXZhbHVl"
	tests := []struct {
		name     string
		environ  []string
		wantWarn bool
	}{
		{name: "misspelt", environ: []string{"COMMENTD_HASHKEY=" + secret, "COMMENTD_LOG_LEVEL=info"}, wantWarn: true},
		{name: "all known", environ: []string{"COMMENTD_LOG_LEVEL=info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-dev", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}
			stderr := startAndStop(t, args, tt.environ)
			warned := false
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "COMMENTD_HASHKEY") {
					warned = true
				}
			}
			if warned != tt.wantWarn {
				t.Errorf("run with environment %q logged a warning naming COMMENTD_HASHKEY: %v, want %v; log:\n%s", tt.environ, warned, tt.wantWarn, stderr)
			}
			if strings.Contains(stderr.String(), secret) {
				t.Errorf("run with environment %q logged the value of COMMENTD_HASHKEY; log:\n%s", tt.environ, stderr)
			}
		})
	}
}

// TestRedisLoggerHoldsRepeats: the Redis client's complaints (one per failed dial, so one per
// call while Redis is down) make one line per message and interval, and the next line counts
// those held back.
func TestRedisLoggerHoldsRepeats(t *testing.T) {
	type call struct {
		after  time.Duration // since the start, on the logger's clock
		format string
	}
	const dial = "redis: connection pool: failed to dial after %d attempts: %v"
	many := func(after time.Duration, format string, n int) []call {
		out := make([]call, n)
		for i := range out {
			out[i] = call{after, format}
		}
		return out
	}
	tests := []struct {
		name  string
		calls []call
		want  []string // msg_detail and not_logged_since of each line written
	}{
		{
			name:  "a burst of the same message",
			calls: many(0, dial, 100),
			want:  []string{"redis: connection pool: failed to dial after 2 attempts: refused 0"},
		},
		{
			name:  "two messages",
			calls: append(many(0, dial, 3), many(time.Second, "sentinel: new master=%v addr=%v", 2)...),
			want:  []string{"redis: connection pool: failed to dial after 2 attempts: refused 0", "sentinel: new master=2 addr=refused 0"},
		},
		{
			name:  "the same message an interval later",
			calls: append(many(0, dial, 50), many(redisLogEvery, dial, 2)...),
			want:  []string{"redis: connection pool: failed to dial after 2 attempts: refused 0", "redis: connection pool: failed to dial after 2 attempts: refused 49"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newRedisLogger(slog.New(slog.NewJSONHandler(&buf, nil)), redisLogEvery)
			start := time.Now()
			var at time.Duration
			l.now = func() time.Time { return start.Add(at) }
			for _, c := range tt.calls {
				at = c.after
				l.Printf(context.Background(), c.format, 2, "refused")
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var rec struct {
					Detail string `json:"msg_detail"`
					Held   int    `json:"not_logged_since"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				got = append(got, fmt.Sprintf("%s %d", rec.Detail, rec.Held))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("redisLogger after %d calls wrote %q, want %q", len(tt.calls), got, tt.want)
			}
		})
	}
}

// envList is env as run takes the environment: "KEY=value" strings.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// startAndStop runs commentd with args and environ until it is ready, stops it, and returns its
// log.
func startAndStop(t *testing.T, args, environ []string) *syncBuffer {
	t.Helper()
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, io.Discard, stderr, environ, func(string, string) { close(ready) }, nil, nil)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run(%q) returned before ready: %v\n%s", args, err, stderr)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run(%q) = %v, want nil after cancel", args, err)
	}
	return stderr
}

// TestDevWarnsOfIgnoredRedisURL: -dev uses its embedded Redis whatever -redis-url says; an operator
// who added -dev by mistake is told, in a WARN line, that the Redis named gets nothing.
func TestDevWarnsOfIgnoredRedisURL(t *testing.T) {
	for _, tt := range []struct {
		name     string
		environ  []string
		wantWarn bool
	}{
		{name: "no redis-url"},
		{name: "redis-url in the environment", environ: []string{"COMMENTD_REDIS_URL=redis://127.0.0.1:1"}, wantWarn: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stderr := startAndStop(t, []string{"-dev", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, tt.environ)
			warned := false
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "ignores -redis-url") {
					warned = true
				}
			}
			if warned != tt.wantWarn {
				t.Errorf("-dev with environment %q warned of an ignored redis-url: %v, want %v; log:\n%s", tt.environ, warned, tt.wantWarn, stderr)
			}
		})
	}
}

// TestDevBannerSaysTLS: with -tls-cert the try-it lines must not lead to plaintext calls, which
// the server refuses.
func TestDevBannerSaysTLS(t *testing.T) {
	tokens := []devToken{{role: "site", token: "cmd_site"}, {role: "moderator", token: "cmd_mod"}}
	for _, tls := range []bool{false, true} {
		var b bytes.Buffer
		printDevBanner(&b, "127.0.0.1:7070", tls, tokens)
		if got := strings.Contains(b.String(), "COMMENTCTL_TLS=true"); got != tls {
			t.Errorf("banner with TLS %v says COMMENTCTL_TLS=true: %v, want %v:\n%s", tls, got, tls, b.String())
		}
		if got := strings.Contains(b.String(), "instead of -plaintext"); got != tls {
			t.Errorf("banner with TLS %v warns of grpcurl -plaintext: %v, want %v:\n%s", tls, got, tls, b.String())
		}
	}
}
