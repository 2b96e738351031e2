// Package redistest starts real redis-server processes for tests: each on a free loopback port, in
// its own temporary directory, stopped when the test (or the test binary) ends. Tests never run
// against a mock of Redis.
//
// When the environment variable COMMENTD_TEST_REDIS_ADDR names a running server (host:port), Shared
// uses it instead of starting one; tests keep apart by key prefix (see Prefix), so sharing is safe.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by a test.
type Server struct {
	Addr string // 127.0.0.1:port

	args []string
	dir  string
	cmd  *exec.Cmd
	mu   sync.Mutex
}

const installHint = "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) " +
	"or set COMMENTD_TEST_REDIS_ADDR to a running server's host:port"

// Start starts a new redis-server that is stopped when tb ends. extra are more redis-server
// arguments, such as "--appendonly", "yes". Use it for tests that stop, restart or reconfigure Redis.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s, err := start(tb.TempDir(), extra)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	addr string
	err  error
}

// Shared returns the test binary's shared server, starting it on first use. Call Main from TestMain
// so it is stopped when the tests end.
func Shared(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(func() {
		if addr := os.Getenv("COMMENTD_TEST_REDIS_ADDR"); addr != "" {
			shared.addr = addr
			return
		}
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = start(dir, nil)
		if shared.err == nil {
			shared.addr = shared.srv.Addr
		}
	})
	if shared.err != nil {
		tb.Fatalf("redistest: %v", shared.err)
	}
	return shared.addr
}

// Main runs the tests and then stops the shared server. Use it as the body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
		os.RemoveAll(shared.srv.dir)
	}
	os.Exit(code)
}

// Prefix returns a key prefix unique to this call, so tests sharing one server never see each
// other's keys.
func Prefix(tb testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + ":"
}

// Client returns a go-redis client for addr, closed when tb ends.
func Client(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { c.Close() })
	return c
}

func start(dir string, extra []string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%s", installHint)
	}
	var lastErr error
	// A free port can be taken between our probe and redis-server's bind; try a few times.
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, args: extra}
		if lastErr = s.launch(bin); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

func (s *Server) launch(bin string) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{
		"--port", port,
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis-"+port+".log"),
	}, s.args...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis-"+port+".log"))
			return fmt.Errorf("redis-server exited at start: %s", lastLines(log, 5))
		default:
		}
		// The answer must come from this process: when another server took the port between
		// freePort and the bind, that one answers while this one is still failing to start.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		// A server started with INFO renamed away (as some managed services do) cannot say its
		// process id; no other server this harness starts renames INFO, so that answer is ours.
		renamed := err != nil && strings.Contains(err.Error(), "unknown command")
		if renamed || err == nil && strings.Contains(info, "process_id:"+strconv.Itoa(cmd.Process.Pid)+"\r\n") {
			s.mu.Lock()
			s.cmd = cmd
			s.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on %s did not answer PING within 10s", s.Addr)
}

// Stop kills the server (as a crash would) and waits for it to exit. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	// Wait is called by the goroutine in launch; give the process a moment to go.
	for i := 0; i < 100; i++ {
		if err := cmd.Process.Signal(syscall0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running reports whether the server was started and not stopped since.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Restart starts the server again on the same address after Stop.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: %s", installHint)
	}
	if err := s.launch(bin); err != nil {
		tb.Fatalf("redistest: restart: %v", err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
