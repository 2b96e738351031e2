package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func TestClusterSubmitApproveList(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	rdb := clusterClient(t, cluster)
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("NewClient(%d addresses) = %T, want a *redis.ClusterClient", len(cluster.Addrs), rdb)
	}
	var trips atomic.Int64
	rdb.AddHook(RoundTripHook(func() { trips.Add(1) }))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := redistest.Prefix(t)
	s, err := New(ctx, rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New on the cluster = %v", err)
	}
	// roundTrips runs f and returns how many round trips the hook counted.
	roundTrips := func(f func()) int64 {
		before := trips.Load()
		f()
		return trips.Load() - before
	}

	// One thread per shard, so every master holds some; the site pre-moderates.
	threads := make([]string, numShards)
	var submitted []comment.Comment
	for shard := range numShards {
		threads[shard] = threadInShard("cl", shard)
		c := draft(s, threads[shard], shard)
		var stored comment.Comment
		n := roundTrips(func() {
			stored, _, err = s.Create(ctx, c, comment.CreateOptions{DefaultMode: comment.ModePre, RequestID: "r-" + c.ID})
		})
		if err != nil || stored.State != comment.StatePending {
			t.Fatalf("Create(%s in %s) on the cluster = state %v, %v; want pending, no error", c.ID, c.ThreadID, stored.State, err)
		}
		if n != 1 {
			t.Errorf("Create(%s) took %d round trips, want 1", c.ID, n)
		}
		submitted = append(submitted, stored)
	}

	// The moderation queue across all shards (and nodes), a few per page.
	queue := func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
		return s.ListQueue(ctx, moderation.Query{State: comment.StatePending}, p)
	}
	if diff := cmp.Diff(ids(submitted), readAll(t, queue, 5)); diff != "" {
		t.Errorf("ListQueue(pending) on the cluster, pages of 5 (-want +got):\n%s", diff)
	}
	if n := roundTrips(func() { _, _, err = queue(ctx, comment.Page{Size: 5}) }); err != nil || n != 2 {
		t.Errorf("ListQueue(pending, all threads) = %v in %d round trips, want no error in 2", err, n)
	}

	for _, c := range submitted {
		var got comment.Comment
		n := roundTrips(func() {
			got, err = s.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: t0.Add(time.Hour), To: comment.StatePublished}, approveFrom, "")
		})
		if err != nil || got.State != comment.StatePublished {
			t.Fatalf("Decide(approve %s) on the cluster = state %v, %v; want published", c.ID, got.State, err)
		}
		if n != 1 {
			t.Errorf("Decide(%s) took %d round trips, want 1", c.ID, n)
		}
		var page []comment.Comment
		n = roundTrips(func() { page, _, err = pageOf(s.ListPublished(ctx, c.ThreadID, comment.Page{Size: 10})) })
		if err != nil || len(page) != 1 || page[0].ID != c.ID {
			t.Errorf("ListPublished(%s) after approval = %v, %v; want [%s]", c.ThreadID, ids(page), err, c.ID)
		}
		if n != 1 {
			t.Errorf("ListPublished(%s) took %d round trips, want 1", c.ThreadID, n)
		}
	}
	var counts []int64
	n := roundTrips(func() { counts, err = publishedCounts(s.CountPublished(ctx, threads)) })
	if want := slices.Repeat([]int64{1}, numShards); err != nil || !slices.Equal(counts, want) {
		t.Errorf("CountPublished(%d threads) = %v, %v; want %v", len(threads), counts, err, want)
	}
	if n != 1 {
		t.Errorf("CountPublished took %d round trips, want 1 pipeline", n)
	}
	if page, next, err := queue(ctx, comment.Page{Size: 5}); err != nil || len(page) != 0 || next != "" {
		t.Errorf("ListQueue(pending) after approving everything = %d comments, next %q, %v; want none", len(page), next, err)
	}

	d, err := CheckDurability(ctx, rdb)
	if !errors.Is(err, ErrNoAOF) || errors.Is(err, ErrConfigUnreadable) || !d.Readable || d.AOF {
		t.Errorf("CheckDurability(cluster without AOF) = %+v, %v; want readable, AOF off, ErrNoAOF", d, err)
	}
}

// TestClusterCreateTouchesOneSlot checks the layout's central promise: every key one submission
// reads or writes is in one hash slot, as Redis Cluster itself computes it.
func TestClusterCreateTouchesOneSlot(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	rdb, err := NewClient(strings.Join(cluster.Addrs, ","))
	if err != nil {
		t.Fatalf("NewClient(cluster addresses without scheme) = %v", err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := redistest.Prefix(t)
	s, err := New(ctx, rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New on the cluster = %v", err)
	}

	for shard := range numShards {
		thread := threadInShard("slot", shard)
		parent := mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
		before := scanKeys(t, rdb, prefix)

		reply := draft(s, thread, 2)
		reply.ParentID = parent.ID
		opts := comment.CreateOptions{RequestID: fmt.Sprintf("req-%d", shard), Fingerprint: "first"}
		mustCreate(t, s, reply, opts)
		after := scanKeys(t, rdb, prefix)
		// The request id again, as a resend and as a reuse: the script reads the earlier record
		// through the idempotency record's value, which must name a key of the same slot.
		if got, created, err := s.Create(ctx, draft(s, thread, 3), opts); err != nil || created || got.ID != reply.ID {
			t.Errorf("shard %d: Create resent on the cluster = %s, created %v, %v; want %s, not created", shard, got.ID, created, err, reply.ID)
		}
		reused := opts
		reused.Fingerprint = "another"
		if _, _, err := s.Create(ctx, draft(s, thread, 4), reused); !errors.Is(err, comment.ErrRequestReused) {
			t.Errorf("shard %d: Create with a reused request id on the cluster = %v, want comment.ErrRequestReused", shard, err)
		}

		// The keys Create passes to its script (read or written) and the keys it created.
		touched := []string{
			s.keys.record(shard, reply.ID),
			s.keys.thread(shard, thread),
			s.keys.record(shard, parent.ID),
			s.keys.request(shard, thread, opts.RequestID),
			s.keys.requestFingerprint(shard, thread, opts.RequestID),
			s.keys.published(shard, thread),
		}
		for _, st := range queueStates {
			touched = append(touched, s.keys.threadQueue(shard, st, thread), s.keys.shardQueue(shard, st))
		}
		var created []string
		for _, k := range after {
			if !slices.Contains(before, k) {
				created = append(created, k)
			}
		}
		if len(created) != 3 { // the record, the idempotency record and its fingerprint; the index existed already
			t.Errorf("shard %d: Create made keys %v, want 3 (record, request, fingerprint)", shard, created)
		}
		want, err := rdb.ClusterKeySlot(ctx, touched[0]).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", touched[0], err)
		}
		for _, k := range append(touched, created...) {
			got, err := rdb.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s: %v", k, err)
			}
			if got != want {
				t.Errorf("shard %d: CLUSTER KEYSLOT %s = %d, want %d (the slot of the comment's record)", shard, k, got, want)
			}
		}
	}
}

// The health check must see a Cluster that lost a master (no replica takes over): PING to any
// other node still answers PONG, yet the lost master's keys, and with the default
// cluster-require-full-coverage every key, fail.
func TestClusterPingFailsWhenAMasterIsDown(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on a healthy cluster = %v, want nil", err)
	}
	cluster.Nodes[2].Stop()
	for i := range 5 {
		if err := s.Ping(ctx); !errors.Is(err, comment.ErrUnavailable) {
			t.Fatalf("Ping %d with a master down = %v, want comment.ErrUnavailable", i, err)
		}
	}
}

// A master that answers PING may still refuse every command on keys: a node whose cluster_state
// is fail answers CLUSTERDOWN to them, as every node does for a while after a lost master comes
// back (until the others clear its failure, twice cluster-node-timeout after they marked it).
// Here the first master gives up one of its slots, which leaves a slot served by no one in its
// own view, and the health check must see that node's cluster down until the slot is back.
func TestClusterPingFailsWhileANodeSaysTheClusterIsDown(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on a healthy cluster = %v, want nil", err)
	}
	node := redistest.Client(t, cluster.Addrs[0])
	if err := node.Do(ctx, "CLUSTER", "DELSLOTS", 0).Err(); err != nil {
		t.Fatalf("CLUSTER DELSLOTS 0 on %s: %v", cluster.Addrs[0], err)
	}
	waitClusterState(ctx, t, node, "fail")
	for i := range 3 {
		if err := s.Ping(ctx); !errors.Is(err, comment.ErrUnavailable) {
			t.Fatalf("Ping %d while %s reports cluster_state:fail = %v, want comment.ErrUnavailable", i, cluster.Addrs[0], err)
		}
	}
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTS", 0).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTS 0 on %s: %v", cluster.Addrs[0], err)
	}
	waitClusterState(ctx, t, node, "ok")
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once every node reports cluster_state:ok again = %v, want nil", err)
	}
}

// waitClusterState waits until the node's CLUSTER INFO reports cluster_state:state.
func waitClusterState(ctx context.Context, t *testing.T, node *redis.Client, state string) {
	t.Helper()
	for {
		info, err := node.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:"+state+"\r\n") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %s: cluster_state never became %s (last CLUSTER INFO: %q, %v)", node.Options().Addr, state, info, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// One Cluster node given as a standalone server is refused with the address forms that work; the
// same node as a Cluster seed passes.
func TestCheckDurabilityRefusesOneClusterNodeAsStandalone(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A user refused CONFIG GET, as on managed services: the node is still recognised.
	if err := redistest.Client(t, cluster.Addrs[0]).Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	for _, tt := range []struct {
		url     string
		wantErr bool
	}{
		{"redis://" + cluster.Addrs[0], true},
		{"redis://app:pw@" + cluster.Addrs[0], true},
		{"redis+cluster://" + cluster.Addrs[0], false},
	} {
		rdb, err := NewClient(tt.url)
		if err != nil {
			t.Fatalf("NewClient(%s) = %v", tt.url, err)
		}
		_, err = CheckDurability(ctx, rdb)
		rdb.Close()
		if got := errors.Is(err, ErrClusterNode); got != tt.wantErr {
			t.Errorf("CheckDurability(%s) = %v, want ErrClusterNode: %v", tt.url, err, tt.wantErr)
		}
	}
}
