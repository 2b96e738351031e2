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

// Cluster is a Redis Cluster of three masters without replicas, owned by a test.
type Cluster struct {
	Addrs []string // the masters' addresses, 127.0.0.1:port
	Nodes []*Server
}

// clusterSlots is how Redis Cluster divides its key space.
const clusterSlots = 16384

// StartCluster starts three redis-server processes in cluster mode, gives each a third of the
// hash slots, joins them, and waits until every node reports the cluster healthy. The nodes are
// stopped when tb ends. It takes a few seconds.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	const masters = 3
	c := &Cluster{}
	for range masters {
		s, err := startClusterNode(tb.TempDir())
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

// startClusterNode starts one cluster-enabled server. The cluster bus port is chosen explicitly
// (by default it is the client port + 10000, which may be taken or out of range).
func startClusterNode(dir string) (*Server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		bus, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := start(dir, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "5000",
		})
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
