package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// buildBinaries builds commentd and commentctl once per test binary.
var built struct {
	once          sync.Once
	dir           string
	commentd, ctl string
	err           error
}

func binaries(t *testing.T) (commentd, commentctl string) {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "commentd-e2e-")
		if built.err != nil {
			return
		}
		built.commentd = filepath.Join(built.dir, "commentd")
		built.ctl = filepath.Join(built.dir, "commentctl")
		for _, b := range []struct{ out, pkg string }{{built.commentd, "."}, {built.ctl, "../commentctl"}} {
			out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput()
			if err != nil {
				built.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.commentd, built.ctl
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n loopback addresses free a moment ago, all different: each port is held
// until all are chosen, as a port let go can be handed out again at once (two calls of freeAddr
// for a server's gRPC and HTTP ports once gave the same one, and the server failed to bind).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out[i] = l.Addr().String()
	}
	return out
}

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type server struct {
	grpcAddr, httpAddr  string
	siteToken, modToken string
	adminToken          string
	log                 *syncBuffer
	conn                *grpc.ClientConn
	keysFile            string
	process             *os.Process
	exited              <-chan struct{} // closed when the process has exited
	exitErr             error           // the process's exit (cmd.Wait), once exited is closed
}

// writeRoleKeys writes a keys file, in a directory of the test's own, holding a site, a moderator and an
// admin key named prefix-site, prefix-moderator and prefix-admin, stores their tokens in site, mod
// and admin, and returns the file's path.
func writeRoleKeys(t *testing.T, prefix string, site, mod, admin *string) string {
	t.Helper()
	var lines []string
	for _, k := range []struct {
		name string
		role apikey.Role
		tok  *string
	}{{prefix + "-site", apikey.RoleSite, site}, {prefix + "-moderator", apikey.RoleModerator, mod}, {prefix + "-admin", apikey.RoleAdmin, admin}} {
		tok, line, err := apikey.Generate(k.name, k.role)
		if err != nil {
			t.Fatal(err)
		}
		*k.tok = tok
		lines = append(lines, line)
	}
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return keys
}

// startCommentd runs the commentd binary against redisAddr with a fresh keys file and returns once
// its health check says SERVING.
func startCommentd(t *testing.T, redisAddr string, extra ...string) *server {
	t.Helper()
	s := launchCommentd(t, redisAddr, extra...)
	if st, err := s.waitHealth(healthpb.HealthCheckResponse_SERVING); err != nil {
		t.Fatalf("commentd not SERVING: %v (last: %v)\n%s", err, st, s.log)
	}
	return s
}

// launchCommentd runs the commentd binary against redisAddr with a fresh keys file, and a gRPC
// client for it, and returns once it listens on its ports: commentd may still be waiting for
// Redis. The ports were free a moment before; when another process took one since, commentd
// exits at start, and it runs again on new ones.
func launchCommentd(t *testing.T, redisAddr string, extra ...string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s := launchCommentdOnce(t, redisAddr, extra...)
		if !s.lostPort(t) || attempt == 5 {
			return s
		}
		t.Logf("commentd could not have %s or %s, taken since they were found free; starting it on others", s.grpcAddr, s.httpAddr)
	}
}

func launchCommentdOnce(t *testing.T, redisAddr string, extra ...string) *server {
	t.Helper()
	bin, _ := binaries(t)
	addrs := freeAddrs(t, 2)
	s := &server{grpcAddr: addrs[0], httpAddr: addrs[1], log: &syncBuffer{}}
	keys := writeRoleKeys(t, "e2e", &s.siteToken, &s.modToken, &s.adminToken)
	s.keysFile = keys
	args := append([]string{"-grpc-addr", s.grpcAddr, "-http-addr", s.httpAddr, "-redis-url", "redis://" + redisAddr,
		"-redis-prefix", redistest.Prefix(t), "-keys", keys, "-accept-data-loss"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"COMMENTD_ENCRYPTION_KEYS=e2e:"+privacy.EncodeSecret(privacy.NewSecret()),
		"COMMENTD_HASH_KEY="+privacy.EncodeSecret(privacy.NewSecret()))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start commentd: %v", err)
	}
	s.process = cmd.Process
	gone := make(chan struct{})
	s.exited = gone
	go func() {
		s.exitErr = cmd.Wait()
		close(gone)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-gone:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("commentd did not stop within 20s of SIGINT")
		}
	})
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.conn = conn
	return s
}

// lostPort waits until s's process listens on its HTTP port, which it opens at start right after
// the gRPC one, or exits, and reports whether it exited for want of a port. Where /proc cannot
// tell which process listens on a port, it reports false at once.
func (s *server) lostPort(t *testing.T) bool {
	t.Helper()
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			return strings.Contains(s.log.String(), syscall.EADDRINUSE.Error())
		default:
		}
		if listens(s.process.Pid, s.httpAddr) {
			return false
		}
		if time.Now().After(deadline) {
			t.Fatalf("commentd neither listens on %s nor exited 30s after start; log:\n%s", s.httpAddr, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listens reports whether process pid has a TCP socket listening on addr's port: one of its file
// descriptors is a socket whose inode /proc/<pid>/net/tcp lists in state LISTEN (0A) on the port.
func listens(pid int, addr string) bool {
	_, port, _ := net.SplitHostPort(addr)
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	sockets := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			sockets[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !sockets[f[9]] {
				continue
			}
			if i := strings.LastIndexByte(f[1], ':'); i >= 0 {
				if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && strconv.FormatUint(p, 10) == port {
					return true
				}
			}
		}
	}
	return false
}

// waitHealth asks s's health service until it says want, for up to 30 s, and returns the last
// answer and an error when it did not say it, or the process exited first.
func (s *server) waitHealth(want healthpb.HealthCheckResponse_ServingStatus) (healthpb.HealthCheckResponse_ServingStatus, error) {
	hc := healthpb.NewHealthClient(s.conn)
	deadline := time.Now().Add(30 * time.Second)
	var last healthpb.HealthCheckResponse_ServingStatus
	for {
		select {
		case <-s.exited:
			return last, fmt.Errorf("commentd exited: %v", s.exitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		last = resp.GetStatus()
		if err == nil && last == want {
			return last, nil
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("health not %v after 30s (last error: %v)", want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeConfig writes a commentd config file with content and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "commentd.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// submitter returns a function that submits a comment to thread as the site, from the given
// author and address.
func (s *server) submitter(t *testing.T, thread string) func(email, ip, body string) (*commentdv1.Comment, error) {
	site := commentdv1.NewCommentServiceClient(s.conn)
	ctx := s.siteCtx(t)
	return func(email, ip, body string) (*commentdv1.Comment, error) {
		resp, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{
			ThreadId: thread, AuthorName: "A Reader", AuthorEmail: email, Body: body, ClientIp: ip, UserAgent: "e2e-test",
		})
		return resp.GetComment(), err
	}
}

func (s *server) siteCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.siteToken)
}

// ctl runs the commentctl binary against s with the moderator token and returns stdout.
func (s *server) ctl(t *testing.T, args ...string) string {
	t.Helper()
	_, bin := binaries(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "COMMENTCTL_SERVER="+s.grpcAddr, "COMMENTCTL_TOKEN="+s.modToken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("commentctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestEndToEnd builds both binaries, starts commentd on a real redis-server, submits over gRPC,
// approves and rejects with commentctl, and checks what the site lists.
func TestEndToEnd(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t))
	site := commentdv1.NewCommentServiceClient(s.conn)
	ctx := s.siteCtx(t)

	// The thread is pre-moderated, so both comments wait for a moderator.
	s.ctl(t, "thread", "set", "e2e-article", "--mode", "pre")
	submit := func(email, body string) *commentdv1.Comment {
		resp, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{
			ThreadId: "e2e-article", AuthorName: "Jane Reader", AuthorEmail: email, Body: body,
			RequestId: "req-" + strings.ReplaceAll(body, " ", "-"), ClientIp: "198.51.100.23", UserAgent: "e2e-test",
		})
		if err != nil {
			t.Fatalf("SubmitComment(%q): %v", body, err)
		}
		if got := resp.GetComment().GetState(); got != commentdv1.State_STATE_PENDING {
			t.Fatalf("SubmitComment(%q) state = %v, want STATE_PENDING on a pre-moderated thread", body, got)
		}
		return resp.GetComment()
	}
	good := submit("jane@example.com", "A thoughtful comment")
	bad := submit("troll@example.com", "A rude comment")

	queue := s.ctl(t, "queue", "-o", "json")
	for _, c := range []*commentdv1.Comment{good, bad} {
		if !strings.Contains(queue, c.GetId()) {
			t.Errorf("commentctl queue -o json does not list pending comment %s:\n%s", c.GetId(), queue)
		}
	}
	if !strings.Contains(queue, "j•••@example.com") {
		t.Errorf("commentctl queue -o json lacks the masked email j•••@example.com:\n%s", queue)
	}
	s.ctl(t, "approve", good.GetId())
	s.ctl(t, "reject", bad.GetId(), "--reason", "insults")

	list, err := site.ListComments(ctx, &commentdv1.ListCommentsRequest{ThreadId: "e2e-article"})
	if err != nil {
		t.Fatalf("ListComments: %v", err)
	}
	if len(list.GetComments()) != 1 || list.GetComments()[0].GetId() != good.GetId() {
		t.Fatalf("ListComments(e2e-article) = %v, want only the approved comment %s", list.GetComments(), good.GetId())
	}
	count, err := site.CountComments(ctx, &commentdv1.CountCommentsRequest{ThreadIds: []string{"e2e-article", "other"}})
	if err != nil || len(count.GetCounts()) != 2 || count.GetCounts()[0].GetPublished() != 1 || count.GetCounts()[1].GetPublished() != 0 {
		t.Fatalf("CountComments = %v, %v; want 1 and 0", count, err)
	}
	shown := s.ctl(t, "show", bad.GetId(), "-o", "json")
	var mv commentdv1.ModerationServiceGetCommentResponse
	if err := protojson.Unmarshal([]byte(shown), &mv); err != nil {
		t.Fatalf("commentctl show -o json output is not a ModerationServiceGetCommentResponse: %v\n%s", err, shown)
	}
	d := mv.GetComment().GetDecision()
	if d.GetModerator() != "e2e-moderator" || d.GetReason() != "insults" || d.GetToState() != commentdv1.State_STATE_REJECTED {
		t.Errorf("decision recorded on rejected comment = %v, want moderator e2e-moderator, reason insults, to REJECTED", d)
	}
}

// TestEmailNeverLeaks submits comments with a distinctive email and IP, then looks for them in every
// Redis key and value, the server's log, /metrics and every site-role response.
func TestEmailNeverLeaks(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr, "-log-level", "debug")
	site := commentdv1.NewCommentServiceClient(s.conn)
	ctx := s.siteCtx(t)
	const email, ip = "Zyxwv.Leakcheck+tag@Unusual-Domain.example", "192.0.2.201"
	secrets := []string{"zyxwv", "leakcheck", "unusual-domain", ip}

	var responses []proto.Message
	first, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{ThreadId: "leak", AuthorName: "Leak Check", AuthorEmail: email, Body: "first", ClientIp: ip, RequestId: "leak-1"})
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	responses = append(responses, first)
	again, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{ThreadId: "leak", AuthorName: "Leak Check", AuthorEmail: email, Body: "first", ClientIp: ip, RequestId: "leak-1"})
	if err != nil || again.GetComment().GetId() != first.GetComment().GetId() {
		t.Fatalf("SubmitComment with the same request_id = %v, %v; want the first comment %s", again, err, first.GetComment().GetId())
	}
	reply, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{ThreadId: "leak", ParentId: first.GetComment().GetId(), AuthorName: "Leak Check", AuthorEmail: email, Body: "reply", ClientIp: ip})
	if err != nil {
		t.Fatalf("SubmitComment(reply): %v", err)
	}
	responses = append(responses, reply)
	_, err = site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{ThreadId: "leak", AuthorName: "Leak Check", AuthorEmail: email, Body: "", ClientIp: ip})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("SubmitComment(empty body) = %v, want InvalidArgument", err)
	}
	if st, ok := status.FromError(err); ok {
		responses = append(responses, st.Proto())
	}
	got, err := site.GetComment(ctx, &commentdv1.GetCommentRequest{Name: first.GetComment().GetName()})
	if err != nil {
		t.Fatalf("GetComment: %v", err)
	}
	list, err := site.ListComments(ctx, &commentdv1.ListCommentsRequest{ThreadId: "leak"})
	if err != nil {
		t.Fatalf("ListComments: %v", err)
	}
	responses = append(responses, got, list)
	s.ctl(t, "queue")

	check := func(where, text string) {
		t.Helper()
		lower := strings.ToLower(text)
		for _, sec := range secrets {
			if strings.Contains(lower, strings.ToLower(sec)) {
				t.Errorf("%s contains %q", where, sec)
			}
		}
	}
	for i, r := range responses {
		check(fmt.Sprintf("site response %d (%T)", i, r), protojson.Format(r))
	}
	metrics := s.metricsText(t)
	if !strings.Contains(string(metrics), "commentd_redis_roundtrips_total") {
		t.Errorf("/metrics lacks commentd_redis_roundtrips_total:\n%.2000s", metrics)
	}
	check("/metrics", string(metrics))
	if !strings.Contains(s.log.String(), "SubmitComment") {
		t.Errorf("server log has no access line for SubmitComment:\n%s", s.log)
	}
	check("server log", s.log.String())

	rdb := redistest.Client(t, rs.Addr)
	bg := context.Background()
	keys, err := rdb.Keys(bg, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS * = %d keys, %v; want the stored comments", len(keys), err)
	}
	for _, k := range keys {
		check("redis key name", k)
		check("redis value of "+k, dumpKey(t, rdb, k))
	}
}

func dumpKey(t *testing.T, rdb *redis.Client, key string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatalf("TYPE %s: %v", key, err)
	}
	var v any
	switch typ {
	case "string":
		v, err = rdb.Get(ctx, key).Result()
	case "hash":
		v, err = rdb.HGetAll(ctx, key).Result()
	case "zset":
		v, err = rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	case "set":
		v, err = rdb.SMembers(ctx, key).Result()
	case "list":
		v, err = rdb.LRange(ctx, key, 0, -1).Result()
	case "stream":
		v, err = rdb.XRange(ctx, key, "-", "+").Result()
	default:
		t.Fatalf("key %s has type %s, which this test cannot read", key, typ)
	}
	if err != nil {
		t.Fatalf("read %s %s: %v", typ, key, err)
	}
	return fmt.Sprint(v)
}

// TestReloadKeysOnSIGHUP: after the keys file changes, SIGHUP puts it in force without a restart:
// an added key works, a removed one is refused; a broken file is logged and the keys in force stay.
func TestReloadKeysOnSIGHUP(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t))
	site := commentdv1.NewCommentServiceClient(s.conn)
	count := func(token string) codes.Code {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		_, err := site.CountComments(ctx, &commentdv1.CountCommentsRequest{ThreadIds: []string{"reload"}})
		return status.Code(err)
	}
	// reloadAndWait sends SIGHUP and waits for the n-th reload log line of kind what.
	reloaded := 0
	reloadAndWait := func(what string, n int) {
		t.Helper()
		if err := s.process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("send SIGHUP: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.log.String(), what) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q log line %d within 10s of SIGHUP\n%s", what, n, s.log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	newToken, newLine, err := apikey.Generate("e2e-site-2", apikey.RoleSite)
	if err != nil {
		t.Fatal(err)
	}
	if code := count(newToken); code != codes.Unauthenticated {
		t.Fatalf("called CountComments with a key not yet in the file, got %v, want Unauthenticated", code)
	}
	// Replace the file: the new site key in, the old site key out, the moderator key kept.
	old, err := os.ReadFile(s.keysFile)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimSpace(string(old)), "\n") {
		if !strings.HasPrefix(line, "e2e-site ") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(s.keysFile, []byte(strings.Join(append(kept, newLine), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded++
	reloadAndWait("keys file reloaded", reloaded)
	if code := count(newToken); code != codes.OK {
		t.Errorf("called CountComments with the key added by the reload, got %v, want OK", code)
	}
	if code := count(s.siteToken); code != codes.Unauthenticated {
		t.Errorf("called CountComments with the key the reload removed, got %v, want Unauthenticated", code)
	}

	// A broken file is not put in force.
	if err := os.WriteFile(s.keysFile, []byte("not a keys line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if m := string(s.metricsText(t)); !strings.Contains(m, `commentd_reload_last_successful{file="keys"} 1`) {
		t.Errorf("/metrics after the keys file was reloaded lacks commentd_reload_last_successful{file=\"keys\"} 1")
	}
	reloadAndWait("keys file not reloaded", 1)
	if code := count(newToken); code != codes.OK {
		t.Errorf("called CountComments after a reload of a broken keys file, got %v, want OK (the keys in force stay)", code)
	}
	if m := string(s.metricsText(t)); !strings.Contains(m, `commentd_reload_last_successful{file="keys"} 0`) {
		t.Errorf("/metrics after a reload of a broken keys file lacks commentd_reload_last_successful{file=\"keys\"} 0")
	}
	// The cause is under "error", the key every other line of the log gives it, where a query
	// for failures looks.
	for line := range strings.Lines(s.log.String()) {
		if !strings.Contains(line, "keys file not reloaded") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["error"].(string); msg == "" {
			t.Errorf("log line %q has no \"error\", want the cause there", line)
		}
	}
}

// TestHelpExitsZero: asking for the usage is not a failure (Go's flag package exits 0 for -h too),
// and a bad flag is one, with the usage error on stderr.
func TestHelpExitsZero(t *testing.T) {
	bin, _ := binaries(t)
	for _, tt := range []struct {
		args     []string
		wantCode int
	}{
		{[]string{"-h"}, 0},
		{[]string{"reseal", "-h"}, 0},
		{[]string{"-no-such-flag"}, 1},
	} {
		cmd := exec.Command(bin, tt.args...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("run commentd %v: %v", tt.args, err)
		}
		if code != tt.wantCode || !strings.Contains(string(out), "-redis-url") && tt.args[0] == "-h" {
			t.Errorf("commentd %v exited %d with:\n%s\nwant exit %d", tt.args, code, out, tt.wantCode)
		}
	}
}
