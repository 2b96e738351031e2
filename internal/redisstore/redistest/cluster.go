package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters, with or without a replica each, owned by a test.
type Cluster struct {
	Addrs []string // the first masters' addresses, 127.0.0.1:port
	Nodes []*Server
	// Replicas[i] replicated Nodes[i] at start (StartClusterWithReplicas only); a failover swaps
	// their roles, not these fields.
	Replicas []*Server
}

// clusterSlots is how Redis Cluster divides its key space.
const clusterSlots = 16384

// StartCluster starts three redis-server processes in cluster mode, gives each a third of the
// hash slots, joins them, and waits until every node reports the cluster healthy. extra are more
// redis-server arguments for every node; they come after the defaults, so they may override them
// (such as "--cluster-node-timeout", "2000": 5000 by default). The nodes are stopped when tb ends.
// It takes a few seconds.
func StartCluster(tb testing.TB, extra ...string) *Cluster {
	tb.Helper()
	const masters = 3
	c := &Cluster{}
	for range masters {
		s, err := startClusterNode(tb.TempDir(), extra)
		if err != nil {
			tb.Fatalf("redistest: cluster: %v", err)
		}
		tb.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.form(ctx); err != nil {
		tb.Fatalf("redistest: cluster: %v", err)
	}
	return c
}

// StartClusterWithReplicas is StartCluster with a replica of each master, which CLUSTER FAILOVER
// (Failover), or the cluster itself once its master is killed (WaitPromoted), promotes. It waits
// until every replica is in sync with its master.
func StartClusterWithReplicas(tb testing.TB, extra ...string) *Cluster {
	tb.Helper()
	c := StartCluster(tb, extra...)
	for range c.Nodes {
		s, err := startClusterNode(tb.TempDir(), extra)
		if err != nil {
			tb.Fatalf("redistest: cluster: %v", err)
		}
		tb.Cleanup(s.Stop)
		c.Replicas = append(c.Replicas, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.addReplicas(ctx); err != nil {
		tb.Fatalf("redistest: cluster: %v", err)
	}
	return c
}

// addReplicas joins each replica to the cluster and makes it replicate its master.
func (c *Cluster) addReplicas(ctx context.Context) error {
	first := nodeClient(c.Addrs[0])
	defer first.Close()
	for i, r := range c.Replicas {
		cl := nodeClient(r.Addr)
		defer cl.Close()
		// Without the default 5 s wait before a full sync, a replica is in sync in milliseconds.
		for _, n := range []*Server{c.Nodes[i], r} {
			nc := nodeClient(n.Addr)
			err := nc.ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err()
			nc.Close()
			if err != nil {
				return fmt.Errorf("node %s: config set: %w", n.Addr, err)
			}
		}
		host, port, _ := net.SplitHostPort(r.Addr)
		bus, err := busPort(ctx, cl)
		if err != nil {
			return err
		}
		if err := first.Do(ctx, "CLUSTER", "MEET", host, port, bus).Err(); err != nil {
			return fmt.Errorf("meet %s: %w", r.Addr, err)
		}
		masterID, err := nodeID(ctx, c.Nodes[i].Addr)
		if err != nil {
			return err
		}
		// The replica must know the master (through the gossip MEET starts) before it can
		// replicate it.
		for {
			err := cl.Do(ctx, "CLUSTER", "REPLICATE", masterID).Err()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %s: cluster replicate %s: %v: %w", r.Addr, masterID, err, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	all := append(append([]*Server(nil), c.Nodes...), c.Replicas...)
	for _, r := range c.Replicas {
		if err := waitReplicaLinked(ctx, r.Addr); err != nil {
			return err
		}
	}
	// A master ignores a manual failover asked by a replica it does not know as its own yet, so
	// every node must have heard which node replicates which.
	if err := waitViews(ctx, all, func(v clusterView) bool {
		for i, r := range c.Replicas {
			if v.master[r.Addr] != c.Nodes[i].Addr {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	return waitHealthy(ctx, all, len(all), len(c.Nodes))
}

// clusterView is one node's CLUSTER NODES: for each node (by address) the address of the master it
// replicates ("" for a master), and which masters serve slots.
type clusterView struct {
	master  map[string]string
	serving map[string]bool
}

func readView(ctx context.Context, addr string) (clusterView, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	out, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return clusterView{}, err
	}
	v := clusterView{master: map[string]string{}, serving: map[string]bool{}}
	byID := map[string]string{}
	var lines [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		a, _, _ := strings.Cut(f[1], "@")
		byID[f[0]] = a
		lines = append(lines, f)
	}
	for _, f := range lines {
		a := byID[f[0]]
		if f[3] != "-" {
			v.master[a] = byID[f[3]]
		} else {
			v.master[a] = ""
			v.serving[a] = len(f) > 8 && strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail")
		}
	}
	return v, nil
}

// waitViews waits until ok holds for the view of every node of nodes.
func waitViews(ctx context.Context, nodes []*Server, ok func(clusterView) bool) error {
	for {
		done := true
		var last string
		for _, n := range nodes {
			v, err := readView(ctx, n.Addr)
			if err != nil || !ok(v) {
				done = false
				last = fmt.Sprintf("%s: %v %v", n.Addr, v, err)
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster nodes do not agree (last: %s): %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitHealthy waits until every node of nodes (all of them running) knows known nodes (a killed
// node stays known, as failed) and reports the cluster healthy with masters masters serving slots.
func waitHealthy(ctx context.Context, nodes []*Server, known, masters int) error {
	for {
		healthy := true
		var last string
		for _, n := range nodes {
			cl := nodeClient(n.Addr)
			info, err := cl.ClusterInfo(ctx).Result()
			var nodesText string
			if err == nil {
				nodesText, err = cl.ClusterNodes(ctx).Result()
			}
			cl.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(known)+"\r\n") ||
				!strings.Contains(info, "cluster_size:"+strconv.Itoa(masters)+"\r\n") ||
				!linksConnected(nodesText) {
				healthy = false
				last = fmt.Sprintf("%s: %v %q %q", n.Addr, err, info, nodesText)
				break
			}
		}
		if healthy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not become healthy (last: %s): %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// linksConnected reports whether a node's CLUSTER NODES shows its cluster bus link to every other
// node it does not hold failed as connected. "cluster_state:ok" comes before that: a node may serve
// its slots while its link to another is still being set up, and a message PUBLISHed on a node
// reaches the subscribers of another only over that link, so a test that subscribes on one node
// would miss the events of the shards another serves.
func linksConnected(nodes string) bool {
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return false
		}
		if strings.Contains(f[2], "fail") || strings.Contains(f[2], "noaddr") {
			continue // a killed node, known as failed
		}
		if f[7] != "connected" {
			return false
		}
	}
	return true
}

// Failover promotes the replica at addr with CLUSTER FAILOVER (graceful: its master stops taking
// writes until the replica has caught up, then the two swap roles) and waits until it is a master,
// its old master replicates it, and every running node of the cluster says the cluster is healthy.
func (c *Cluster) Failover(ctx context.Context, addr string) error {
	cl := nodeClient(addr)
	defer cl.Close()
	if err := cl.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		return fmt.Errorf("cluster failover on %s: %w", addr, err)
	}
	if err := waitMaster(ctx, cl, addr); err != nil {
		return err
	}
	var old string
	all := append(append([]*Server(nil), c.Nodes...), c.Replicas...)
	for i, r := range c.Replicas {
		if r.Addr == addr {
			old = c.Nodes[i].Addr
		} else if c.Nodes[i].Addr == addr {
			old = r.Addr
		}
	}
	// Every node must see the promoted node serve the slots and the old master replicate it
	// (go-redis learns the new layout from any of them), and the old master must be in sync.
	if err := waitViews(ctx, all, func(v clusterView) bool {
		return v.serving[addr] && v.master[old] == addr
	}); err != nil {
		return err
	}
	if err := waitReplicaLinked(ctx, old); err != nil {
		return err
	}
	return waitHealthy(ctx, all, len(all), len(c.Nodes))
}

// waitMaster waits until the node at addr (cl) says it is a master.
func waitMaster(ctx context.Context, cl *redis.Client, addr string) error {
	for {
		role, err := cl.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "master" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not promoted (last ROLE: %v, %v): %w", addr, role, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitPromoted waits, after a master was stopped (killed, as Stop does), until the cluster has
// promoted its replica at addr: the other masters must first agree the master is down (from
// cluster-node-timeout after its last answer), then the replica waits half a second or more
// before it asks them for the votes. It returns once addr is a master, every running node sees it
// serve the slots, and every running node says the cluster is healthy again. A node still knows
// the killed one (as failed) until it is forgotten, which no test does.
func (c *Cluster) WaitPromoted(ctx context.Context, addr string) error {
	cl := nodeClient(addr)
	defer cl.Close()
	if err := waitMaster(ctx, cl, addr); err != nil {
		return err
	}
	all := append(append([]*Server(nil), c.Nodes...), c.Replicas...)
	var running []*Server
	for _, n := range all {
		if n.running() {
			running = append(running, n)
		}
	}
	if err := waitViews(ctx, running, func(v clusterView) bool { return v.serving[addr] }); err != nil {
		return err
	}
	return waitHealthy(ctx, running, len(all), len(c.Nodes))
}

// startClusterNode starts one cluster-enabled server. The cluster bus port is chosen explicitly
// (by default it is the client port + 10000, which may be taken or out of range).
func startClusterNode(dir string, extra []string) (*Server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		bus, err := freePort()
		if err != nil {
			return nil, err
		}
		// redis-server takes the last of a repeated setting, so extra overrides these.
		s, err := start(dir, append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "5000",
		}, extra...))
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (c *Cluster) form(ctx context.Context) error {
	clients := make([]*redis.Client, len(c.Nodes))
	for i, s := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
		defer clients[i].Close()
	}
	per := clusterSlots / len(c.Nodes)
	for i, cl := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == len(clients)-1 {
			hi = clusterSlots - 1
		}
		// Distinct config epochs up front, as redis-cli --cluster create does, so the nodes do not
		// have to resolve an epoch collision before the cluster turns healthy.
		if err := cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("node %s: set config epoch: %w", c.Nodes[i].Addr, err)
		}
		if err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			return fmt.Errorf("node %s: add slots %d-%d: %w", c.Nodes[i].Addr, lo, hi, err)
		}
	}
	for i, s := range c.Nodes[1:] {
		host, port, _ := net.SplitHostPort(s.Addr)
		bus, err := busPort(ctx, clients[i+1])
		if err != nil {
			return err
		}
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", host, port, bus).Err(); err != nil {
			return fmt.Errorf("meet %s: %w", s.Addr, err)
		}
	}
	for {
		healthy := true
		for _, cl := range clients {
			info, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return fmt.Errorf("cluster info: %w", err)
			}
			if !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.Nodes))+"\r\n") ||
				!strings.Contains(info, "cluster_size:"+strconv.Itoa(len(c.Nodes))+"\r\n") {
				healthy = false
				break
			}
		}
		if healthy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster did not become healthy: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// busPort reads the cluster bus port a node was started with.
func busPort(ctx context.Context, cl *redis.Client) (string, error) {
	m, err := cl.ConfigGet(ctx, "cluster-port").Result()
	if err != nil {
		return "", fmt.Errorf("config get cluster-port: %w", err)
	}
	return m["cluster-port"], nil
}

// nodeClient returns a plain client of the node at addr, for the cluster's own commands.
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
}

// nodeID returns the cluster node id of the node at addr.
func nodeID(ctx context.Context, addr string) (string, error) {
	cl := nodeClient(addr)
	defer cl.Close()
	id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return "", fmt.Errorf("cluster myid on %s: %w", addr, err)
	}
	return id, nil
}

// SlotOwner returns the address of the master serving slot, as the first node sees it.
func (c *Cluster) SlotOwner(ctx context.Context, slot int) (string, error) {
	cl := nodeClient(c.Addrs[0])
	defer cl.Close()
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("cluster shards: %w", err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if int(r.Start) > slot || slot > int(r.End) {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10)), nil
				}
			}
		}
	}
	return "", fmt.Errorf("slot %d is served by no node", slot)
}

// Migration is one slot moving between masters by hand, as redis-cli --cluster reshard moves it:
// the target imports, the source migrates, keys move one MIGRATE at a time, and at the end every
// node is told the slot's new owner. Between Start and Finish the slot is half moved, which is
// what clients meet during a reshard.
type Migration struct {
	Slot     int
	Src, Dst string // addresses
	c        *Cluster
}

// StartMigration marks slot as importing on dst (unless skipImporting) and migrating on its
// current owner. skipImporting leaves the target unaware, so the two nodes send a client back and
// forth (ASK, then MOVED) for as long as the state lasts: redirects that outlast a client's budget.
func (c *Cluster) StartMigration(ctx context.Context, slot int, dst string, skipImporting bool) (*Migration, error) {
	src, err := c.SlotOwner(ctx, slot)
	if err != nil {
		return nil, err
	}
	if src == dst {
		return nil, fmt.Errorf("slot %d is already on %s", slot, dst)
	}
	srcID, err := nodeID(ctx, src)
	if err != nil {
		return nil, err
	}
	dstID, err := nodeID(ctx, dst)
	if err != nil {
		return nil, err
	}
	s, d := nodeClient(src), nodeClient(dst)
	defer s.Close()
	defer d.Close()
	if !skipImporting {
		if err := d.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err(); err != nil {
			return nil, fmt.Errorf("setslot %d importing on %s: %w", slot, dst, err)
		}
	}
	if err := s.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err(); err != nil {
		return nil, fmt.Errorf("setslot %d migrating on %s: %w", slot, src, err)
	}
	return &Migration{Slot: slot, Src: src, Dst: dst, c: c}, nil
}

// Move migrates keys (of the migration's slot) from the source to the target.
func (m *Migration) Move(ctx context.Context, keys ...string) error {
	s := nodeClient(m.Src)
	defer s.Close()
	host, port, _ := net.SplitHostPort(m.Dst)
	for _, k := range keys {
		if err := s.Do(ctx, "MIGRATE", host, port, "", 0, 5000, "KEYS", k).Err(); err != nil {
			return fmt.Errorf("migrate %s to %s: %w", k, m.Dst, err)
		}
	}
	return nil
}

// Finish moves the slot's remaining keys and gives the slot to the target on every node.
func (m *Migration) Finish(ctx context.Context) error {
	s := nodeClient(m.Src)
	defer s.Close()
	for {
		keys, err := s.ClusterGetKeysInSlot(ctx, m.Slot, 100).Result()
		if err != nil {
			return fmt.Errorf("getkeysinslot %d: %w", m.Slot, err)
		}
		if len(keys) == 0 {
			break
		}
		if err := m.Move(ctx, keys...); err != nil {
			return err
		}
	}
	dstID, err := nodeID(ctx, m.Dst)
	if err != nil {
		return err
	}
	// The target first, then the source, then the others, as redis-cli does.
	order := []string{m.Dst, m.Src}
	for _, a := range m.c.Addrs {
		if a != m.Dst && a != m.Src {
			order = append(order, a)
		}
	}
	for _, a := range order {
		cl := nodeClient(a)
		err := cl.Do(ctx, "CLUSTER", "SETSLOT", m.Slot, "NODE", dstID).Err()
		cl.Close()
		if err != nil {
			return fmt.Errorf("setslot %d node on %s: %w", m.Slot, a, err)
		}
	}
	return nil
}

// Cancel ends the migration with the slot left on the source (CLUSTER SETSLOT STABLE on both),
// as redis-cli --cluster fix does for a migration without keys moved.
func (m *Migration) Cancel(ctx context.Context) error {
	for _, a := range []string{m.Src, m.Dst} {
		cl := nodeClient(a)
		err := cl.Do(ctx, "CLUSTER", "SETSLOT", m.Slot, "STABLE").Err()
		cl.Close()
		if err != nil {
			return fmt.Errorf("setslot %d stable on %s: %w", m.Slot, a, err)
		}
	}
	return nil
}
