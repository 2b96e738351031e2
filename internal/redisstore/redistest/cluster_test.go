package redistest

import (
	"context"
	"fmt"
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
