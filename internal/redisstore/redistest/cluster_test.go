package redistest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
