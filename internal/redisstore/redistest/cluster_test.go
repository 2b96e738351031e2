package redistest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartCluster(t *testing.T) {
	c := StartCluster(t)
	if len(c.Addrs) != 3 {
		t.Fatalf("StartCluster gave %d addresses, want 3", len(c.Addrs))
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer rdb.Close()
	ctx := context.Background()
	// Enough keys that every master owns some: each must be written and read through the cluster.
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s through the cluster: %v", k, err)
		}
	}
	var masters atomic.Int32
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		size, err := n.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if size == 0 {
			return fmt.Errorf("master %s holds no key of 30", n.Options().Addr)
		}
		masters.Add(1)
		return nil
	})
	if err != nil {
		t.Fatalf("checking masters: %v", err)
	}
	if n := masters.Load(); n != 3 {
		t.Errorf("ForEachMaster visited %d masters, want 3", n)
	}
}

// TestClusterFailover: each master of StartClusterWithReplicas has a replica, which Failover
// promotes with the data written through the cluster.
func TestClusterFailover(t *testing.T) {
	c := StartClusterWithReplicas(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 30 {
		if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k%d through the cluster: %v", i, err)
		}
	}
	if err := c.Failover(ctx, c.Replicas[0].Addr); err != nil {
		t.Fatalf("Failover(%s): %v", c.Replicas[0].Addr, err)
	}
	old := nodeClient(c.Nodes[0].Addr)
	defer old.Close()
	role, err := old.Do(ctx, "ROLE").Slice()
	if err != nil || role[0] != "slave" {
		t.Errorf("ROLE of the old master after Failover = %v, %v; want slave", role, err)
	}
	for i := range 30 {
		if v, err := rdb.Get(ctx, fmt.Sprintf("k%d", i)).Int(); err != nil || v != i {
			t.Fatalf("GET k%d through the cluster after Failover = %d, %v; want %d", i, v, err, i)
		}
	}
}

// TestClusterMasterKilled: a master of StartClusterWithReplicas that is killed is replaced by its
// replica (WaitPromoted) with the data it had received, and the cluster serves every key again.
func TestClusterMasterKilled(t *testing.T) {
	// A short node timeout: the cluster waits that long before it takes the master for down.
	c := StartClusterWithReplicas(t, "--cluster-node-timeout", "1000")
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 30 {
		if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k%d through the cluster: %v", i, err)
		}
	}
	// The replica has every key before the kill, so none may be missing after.
	if err := waitReplicaStreaming(ctx, c.Nodes[0].Addr, c.Replicas[0].Addr); err != nil {
		t.Fatal(err)
	}
	c.Nodes[0].Stop()
	if err := c.WaitPromoted(ctx, c.Replicas[0].Addr); err != nil {
		t.Fatalf("WaitPromoted(%s) after its master was killed: %v", c.Replicas[0].Addr, err)
	}
	for _, n := range append(append([]*Server(nil), c.Nodes[1:]...), c.Replicas...) {
		cl := nodeClient(n.Addr)
		info, err := cl.ClusterInfo(ctx).Result()
		cl.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("CLUSTER INFO on %s after WaitPromoted = %v, %q; want cluster_state:ok", n.Addr, err, info)
		}
	}
	after := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Addrs[1]}})
	defer after.Close()
	for i := range 30 {
		if v, err := after.Get(ctx, fmt.Sprintf("k%d", i)).Int(); err != nil || v != i {
			t.Fatalf("GET k%d through the cluster after the master was killed = %d, %v; want %d", i, v, err, i)
		}
	}
}
