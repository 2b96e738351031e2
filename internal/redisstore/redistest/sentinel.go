package redistest

import (
	"context"
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

// Sentinel is a Redis master with one replica, watched by one Sentinel, owned by a test. The
// replica is what a failover promotes (Failover, or Sentinel's own after the master is killed).
type Sentinel struct {
	Addr       string // the Sentinel's address, 127.0.0.1:port
	MasterName string

	mu      sync.Mutex
	master  *Server
	replica *Server
}

// Master returns the server Sentinel promoted last (at start, the first master).
func (s *Sentinel) Master() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// Replica returns the server that is not the master: the one a failover promotes next.
func (s *Sentinel) Replica() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replica
}

// StartSentinel starts a master, a replica of it and one Sentinel monitoring the master under the
// name "commentd" (quorum 1, the master down after 2 s without an answer), and waits until the
// Sentinel reports the master and knows the replica. extra are more redis-server arguments for
// both servers. Everything stops when tb ends.
func StartSentinel(tb testing.TB, extra ...string) *Sentinel {
	tb.Helper()
	// Without the default 5 s wait before a full sync, a replica (the first one, or an old master
	// rejoining after a failover) is in sync in milliseconds.
	master := Start(tb, append([]string{"--repl-diskless-sync-delay", "0"}, extra...)...)
	host, masterPort, _ := net.SplitHostPort(master.Addr)
	replica := Start(tb, append([]string{"--repl-diskless-sync-delay", "0", "--replicaof", host, masterPort}, extra...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Sentinel learns of replicas from the master's INFO, which it reads as soon as it connects
	// and then every 10 s: a replica attached before it starts is known at once.
	if err := waitReplicaStreaming(ctx, master.Addr, replica.Addr); err != nil {
		tb.Fatalf("redistest: sentinel: %v", err)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: %s", installHint)
	}
	dir := tb.TempDir()
	// A free port can be taken between our probe and the Sentinel's bind; try a few times.
	var sen *sentinelProcess
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		if sen, err = launchSentinel(ctx, bin, dir, port, masterPort); err == nil {
			break
		}
		if attempt == 4 {
			tb.Fatalf("redistest: %v", err)
		}
	}
	tb.Cleanup(sen.stop)

	s := &Sentinel{Addr: sen.addr, MasterName: "commentd", master: master, replica: replica}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	for {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err == nil && len(addr) == 2 && addr[1] == masterPort && s.knowsReplica(ctx, sc) {
			return s
		}
		select {
		case <-sen.exited:
			tb.Fatalf("redistest: sentinel exited at start: %s", sen.lastLog())
		case <-ctx.Done():
			tb.Fatalf("redistest: sentinel on %s does not report the master and its replica after 10s (last: %v, %v)", s.Addr, addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sentinelProcess is a running Sentinel that answered as itself on its port.
type sentinelProcess struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    string        // its log file
}

// launchSentinel starts a Sentinel on port, in dir, monitoring the master on masterPort, and
// returns once it answers on port as itself and has taken the shorter periods below. It returns
// an error, the Sentinel stopped, when the Sentinel exits at start (another process took the
// port since it was found free: the caller tries another), or when another server on the port
// answers in its place.
func launchSentinel(ctx context.Context, bin, dir string, port int, masterPort string) (*sentinelProcess, error) {
	conf := filepath.Join(dir, "sentinel.conf")
	// Sentinel rewrites its config file, so it must be a writable file of its own, written anew
	// for each try.
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor commentd 127.0.0.1 %s 1\n"+
		"sentinel down-after-milliseconds commentd 2000\nsentinel failover-timeout commentd 10000\n",
		port, dir, masterPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	sp := &sentinelProcess{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		exited: make(chan struct{}),
		log:    filepath.Join(dir, fmt.Sprintf("sentinel-%d.log", port)),
	}
	sp.cmd = exec.Command(bin, conf, "--sentinel", "--logfile", sp.log)
	sp.cmd.SysProcAttr = childAttr()
	if err := sp.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sentinel: %w", err)
	}
	go func() { sp.cmd.Wait(); close(sp.exited) }()
	plain := nodeClient(sp.addr)
	defer plain.Close()
	// The answer must come from this process: when another server took the port, that one
	// answers while this one fails to start.
	pid := "process_id:" + strconv.Itoa(sp.cmd.Process.Pid) + "\r\n"
	var err error
	for {
		var info string
		if info, err = plain.Info(ctx, "server").Result(); err == nil && strings.Contains(info, pid) {
			break
		}
		select {
		case <-sp.exited:
			return nil, fmt.Errorf("sentinel on %s exited at start: %s", sp.addr, sp.lastLog())
		case <-ctx.Done():
			sp.stop()
			return nil, fmt.Errorf("sentinel on %s does not answer as itself (last: %v): %w", sp.addr, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Sentinel turns an old master that is back into a replica once it has read the server's INFO
	// (every 10 s by default) showing it as master for four "publish periods" (2 s each): a tenth
	// of both keeps a test that fails over twice short.
	if err := plain.Do(ctx, "SENTINEL", "DEBUG", "info-period", 1000, "publish-period", 200).Err(); err != nil {
		sp.stop()
		return nil, fmt.Errorf("sentinel on %s: SENTINEL DEBUG: %w", sp.addr, err)
	}
	return sp, nil
}

func (sp *sentinelProcess) stop() { sp.cmd.Process.Kill(); <-sp.exited }

func (sp *sentinelProcess) lastLog() string {
	log, _ := os.ReadFile(sp.log)
	return lastLines(log, 5)
}

// knowsReplica reports whether the Sentinel lists the replica as a healthy replica of the master.
func (s *Sentinel) knowsReplica(ctx context.Context, sc *redis.SentinelClient) bool {
	replicas, err := sc.Replicas(ctx, s.MasterName).Result()
	if err != nil {
		return false
	}
	want := s.Replica().Addr
	for _, r := range replicas {
		if net.JoinHostPort(r["ip"], r["port"]) == want && !strings.Contains(r["flags"], "down") &&
			!strings.Contains(r["flags"], "disconnected") {
			return true
		}
	}
	return false
}

// waitReplicaLinked waits until the replica at addr has completed its sync with its master.
func waitReplicaLinked(ctx context.Context, addr string) error {
	cl := nodeClient(addr)
	defer cl.Close()
	for {
		info, err := cl.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s not linked to its master (last: %v): %w", addr, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitReplicaStreaming waits until the replica at addr has completed its sync with the master at
// masterAddr and the master sends it the writes made since. After a diskless sync the master
// holds those writes back until the replica's first REPLCONF ACK that comes after the transfer
// (the replica sends one a second): a replica that reports its link up may still miss what the
// master took in the last second, and a failover then would lose it. A write the replica
// acknowledges (PUBLISH, which goes to replicas and stores nothing, followed by WAIT on the same
// connection) shows the stream flows.
func waitReplicaStreaming(ctx context.Context, masterAddr, addr string) error {
	if err := waitReplicaLinked(ctx, addr); err != nil {
		return err
	}
	cl := nodeClient(masterAddr)
	defer cl.Close()
	for {
		var wait *redis.Cmd
		_, err := cl.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Publish(ctx, "redistest:sync", "")
			wait = p.Do(ctx, "WAIT", 1, 100) // milliseconds
			return nil
		})
		if n, _ := wait.Int64(); err == nil && n >= 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("master %s does not stream its writes to replica %s (last: %v): %w", masterAddr, addr, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Failover asks the Sentinel for a failover (SENTINEL FAILOVER) and waits until the Sentinel names
// the replica as master and the old master replicates from it, its stream of writes flowing.
// SENTINEL FAILOVER promotes the replica at once, without stopping the master's writes or waiting
// for the replica to catch up: writes the replica has not received are lost (docs/DESIGN.md,
// "Durability"). A test that needs a write to survive the failover waits for the replica to have
// it (WAIT 1 on the master) first.
func (s *Sentinel) Failover(ctx context.Context) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	// A failover asked for just after the last one may be refused while Sentinel still finishes
	// that one; try again until ctx ends.
	for {
		err := sc.Failover(ctx, s.MasterName).Err()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel failover: %w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := s.WaitPromoted(ctx); err != nil {
		return err
	}
	return waitReplicaStreaming(ctx, s.Master().Addr, s.Replica().Addr)
}

// WaitPromoted waits until the Sentinel names the replica as the master (after Failover, or after
// the master was stopped and Sentinel noticed), and then swaps the two: Master is the promoted
// server, Replica the old master (which rejoins as a replica once it runs again).
func (s *Sentinel) WaitPromoted(ctx context.Context) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	want := s.Replica().Addr
	for {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == want {
			cl := nodeClient(want)
			role, rerr := cl.Do(ctx, "ROLE").Slice()
			cl.Close()
			if rerr == nil && len(role) > 0 && role[0] == "master" {
				s.mu.Lock()
				s.master, s.replica = s.replica, s.master
				s.mu.Unlock()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel did not promote %s (last: %v, %v): %w", want, addr, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
