package redistest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	c := Client(t, s.Addr)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on fresh server: %v", err)
	}
	s.Stop()
	ctx2, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx2).Err(); err == nil {
		t.Fatalf("PING after Stop succeeded, want an error")
	}
	s.Restart(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	// The server keeps nothing on disk, so a restart loses the key: proves it really restarted.
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k after restart = %d, %v; want 0, nil", n, err)
	}
}

// TestSentinelFailover: the Sentinel set-up has a replica that SENTINEL FAILOVER promotes, and the
// old master then replicates from it.
func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t)
	first := s.Master()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	master := Client(t, first.Addr)
	if err := master.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on the master: %v", err)
	}
	// SENTINEL FAILOVER does not wait for the replica to catch up, and just after its first sync
	// the replica gets no writes until its first acknowledgement (up to a second later): without
	// this wait the promoted replica often lacks k.
	if n, err := master.Do(ctx, "WAIT", 1, 10000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on the master after SET = %d, %v; want 1 (the replica has k)", n, err)
	}
	if err := s.Failover(ctx); err != nil {
		t.Fatalf("Failover: %v", err)
	}
	if s.Master() == first || s.Replica() != first {
		t.Fatalf("after Failover, Master = %s and Replica = %s; want the old replica and %s", s.Master().Addr, s.Replica().Addr, first.Addr)
	}
	if v, err := Client(t, s.Master().Addr).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET k on the promoted master = %q, %v; want v", v, err)
	}
}

// TestLaunchOnTakenPort: a server whose port another redis-server took between the probe and the
// bind exits at start; launching it must fail (start then tries another port), not take the
// other server's answer to PING for its own and hand the test a server it does not own, which
// its owner may stop or flush at any moment.
func TestLaunchOnTakenPort(t *testing.T) {
	other := Start(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(installHint)
	}
	s := &Server{Addr: other.Addr, dir: t.TempDir()}
	if err := s.launch(bin); err == nil {
		s.Stop()
		t.Fatalf("launch on %s, a port another redis-server listens on = no error, want an error", other.Addr)
	}
}

// TestSentinelOnTakenPort: a Sentinel whose port another server took between the probe and the
// bind exits at start; launching it must fail (StartSentinel then tries another port), not wait
// on the other server or take its answers for the Sentinel's.
func TestSentinelOnTakenPort(t *testing.T) {
	other := Start(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(installHint)
	}
	_, port, _ := net.SplitHostPort(other.Addr)
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sp, err := launchSentinel(ctx, bin, t.TempDir(), p, "1"); err == nil || ctx.Err() != nil {
		if err == nil {
			sp.stop()
		}
		t.Fatalf("launchSentinel on %s, a port a redis-server listens on = %v (context %v), want an error at once", other.Addr, err, ctx.Err())
	}
}
