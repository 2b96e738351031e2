package redisstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestClusterWalkWhileAShardMoves: the walk over every comment record (erasure, access request,
// key rotation) visits the masters one after the other with SCAN, which sees one node's keys. A
// shard's slot that moves from a master not yet walked to one already walked takes its records
// out of the walk's sight; the walk must then say the store is unavailable (the caller repeats
// it, which the erasure and the rotation are built for), not report an export or an erasure
// short of a comment as complete. Once the slot has settled, the walk finds every record.
func TestClusterWalkWhileAShardMoves(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const author = "00000000000000000000000000000000000000aa"
	var ids []string
	owner := map[int]string{} // shard → master
	for shard := range numShards {
		c := draft(s, threadInShard("walk", shard), shard)
		c.AuthorKey = author
		ids = append(ids, mustCreate(t, s, c, comment.CreateOptions{}).ID)
		a, err := cluster.SlotOwner(ctx, shardSlots[shard])
		if err != nil {
			t.Fatal(err)
		}
		owner[shard] = a
	}
	slices.Sort(ids)
	// The walk goes through the masters in address order.
	masters := slices.Sorted(slices.Values(cluster.Addrs))
	moving := -1
	for shard := range numShards {
		if owner[shard] == masters[2] {
			moving = shard
			break
		}
	}
	if moving < 0 {
		t.Fatalf("no comment shard on the last master walked, %s: %v", masters[2], owner)
	}

	walk := func(during func(shard int)) ([]string, error) {
		var got []string
		err := s.AuthorComments(ctx, []string{author}, comment.ScanOptions{Batch: 1}, func(_ context.Context, cs []comment.Comment) error {
			for _, c := range cs {
				shard, _ := shardOfID(c.ID)
				if during != nil {
					during(shard)
				}
				got = append(got, c.ID)
			}
			return nil
		})
		slices.Sort(got)
		return got, err
	}

	// Once the first master is walked, shard `moving` goes from the last master to the first.
	moved := false
	got, err := walk(func(shard int) {
		if moved || owner[shard] != masters[1] {
			return
		}
		moved = true
		m, err := cluster.StartMigration(ctx, shardSlots[moving], masters[0], false)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if !moved {
		t.Fatalf("the walk met no comment of %s; the test moved nothing", masters[1])
	}
	if !errors.Is(err, comment.ErrUnavailable) {
		t.Errorf("AuthorComments while shard %d's slot moved from %s (not yet walked) to %s (walked) = %d of %d comments, %v; want comment.ErrUnavailable",
			moving, masters[2], masters[0], len(got), len(ids), err)
	}

	if got, err := walk(nil); err != nil || !slices.Equal(got, ids) {
		t.Errorf("AuthorComments after the move = %v, %v; want %v, no error", got, err, ids)
	}
}
