package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a Redis master watched by one Sentinel, owned by a test.
type Sentinel struct {
	Master     *Server
	Addr       string // the Sentinel's address, 127.0.0.1:port
	MasterName string
}

// StartSentinel starts a master and one Sentinel monitoring it under the name "commentd", and
// waits until the Sentinel reports the master. Both stop when tb ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	master := Start(tb)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: %s", installHint)
	}
	dir := tb.TempDir()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	_, masterPort, _ := net.SplitHostPort(master.Addr)
	conf := filepath.Join(dir, "sentinel.conf")
	// Sentinel rewrites its config file, so it must be a writable file of its own.
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor commentd 127.0.0.1 %s 1\nsentinel down-after-milliseconds commentd 2000\n",
		port, dir, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("redistest: start sentinel: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() { cmd.Process.Kill(); <-exited })

	s := &Sentinel{Master: master, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), MasterName: "commentd"}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		cancel()
		if err == nil && len(addr) == 2 && addr[1] == masterPort {
			return s
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			tb.Fatalf("redistest: sentinel exited at start: %s", lastLines(log, 5))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel on %s does not report the master after 10s (last: %v, %v)", s.Addr, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
