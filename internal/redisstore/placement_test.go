package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// shardSlots are the hash slots of the comment shards' tags, as docs/DESIGN.md lists them for
// operators who place them by hand. They are fixed by the tags: a change of layout changes them.
var shardSlots = [numShards]int{12958, 8895, 4828, 765, 12826, 8763, 4696, 633, 13206, 9143, 431, 4494, 8685, 12748, 299, 4362}

// TestShardPlacement reads where a Cluster keeps the comment shards. Split into three equal slot
// ranges (as redis-cli --cluster create splits them) the 16 shards fall 8, 4 and 4: one master
// would take half the comment load, which commentd reports at start. Two shards moved by hand,
// as docs/DESIGN.md shows, make it 6, 5 and 5.
func TestShardPlacement(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := clusterClient(t, cluster)

	read := func(t *testing.T) *Placement {
		t.Helper()
		p, err := ShardPlacement(ctx, rdb)
		if err != nil || p == nil {
			t.Fatalf("ShardPlacement = %v, %v; want a placement", p, err)
		}
		if p.Slots != shardSlots {
			t.Errorf("ShardPlacement slots = %v, want %v", p.Slots, shardSlots)
		}
		for shard, slot := range p.Slots {
			owner, err := cluster.SlotOwner(ctx, slot)
			if err != nil {
				t.Fatal(err)
			}
			if p.Owners[shard] != owner {
				t.Errorf("ShardPlacement: shard %d (slot %d) on %s, want %s (CLUSTER SHARDS)", shard, slot, p.Owners[shard], owner)
			}
		}
		return p
	}
	counts := func(p *Placement) []int {
		var n []int
		for _, a := range cluster.Addrs { // the masters in slot order: 0-5460, 5461-10922, 10923-16383
			n = append(n, p.PerMaster()[a])
		}
		return n
	}

	p := read(t)
	if diff := cmp.Diff([]int{8, 4, 4}, counts(p)); diff != "" {
		t.Errorf("shards per master (in slot order) (-want +got):\n%s", diff)
	}
	if m, n := p.Busiest(); m != cluster.Addrs[0] || n != 8 || p.Even() {
		t.Errorf("Busiest() = %s, %d and Even() = %v; want %s, 8 and false", m, n, p.Even(), cluster.Addrs[0])
	}

	// Move shard 3's slot to the second master and shard 7's to the third.
	for _, mv := range []struct{ shard, to int }{{3, 1}, {7, 2}} {
		m, err := cluster.StartMigration(ctx, shardSlots[mv.shard], cluster.Addrs[mv.to], false)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p = read(t)
	if diff := cmp.Diff([]int{6, 5, 5}, counts(p)); diff != "" {
		t.Errorf("shards per master after two moves (-want +got):\n%s", diff)
	}
	if !p.Even() {
		t.Errorf("Even() after two moves = false, want true (6, 5, 5)")
	}

	// A client of a single Redis has nothing to place.
	if p, err := ShardPlacement(ctx, redistest.Client(t, redistest.Start(t).Addr)); p != nil || err != nil {
		t.Errorf("ShardPlacement(standalone) = %v, %v; want nil, nil", p, err)
	}
}
