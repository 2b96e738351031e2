package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestSentinel runs a submit/approve/list flow through a client built from a redis+sentinel://
// address: the store finds the master through a real Sentinel.
func TestSentinel(t *testing.T) {
	sent := redistest.StartSentinel(t)
	rdb, err := NewClient("redis+sentinel://" + sent.Addr + "/" + sent.MasterName)
	if err != nil {
		t.Fatalf("NewClient(redis+sentinel://%s/%s): %v", sent.Addr, sent.MasterName, err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("New through Sentinel: %v", err)
	}
	c := draft(s, "sentinel-thread", 1)
	c.State, c.PublishedAt = comment.StatePending, time.Time{}
	mustCreate(t, s, c, comment.CreateOptions{DefaultMode: comment.ModePost})
	if _, err := s.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "m", At: t0, To: comment.StatePublished}, []comment.State{comment.StatePending}, ""); err != nil {
		t.Fatalf("Decide(approve) through Sentinel: %v", err)
	}
	got, _, err := pageOf(s.ListPublished(ctx, "sentinel-thread", comment.Page{Size: 10}))
	if err != nil || len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("ListPublished through Sentinel = %v, %v; want the approved comment %s", got, err, c.ID)
	}
	// The data really is on the master the Sentinel named.
	direct := redistest.Client(t, sent.Master().Addr)
	if n, err := direct.Exists(ctx, s.keys.record(mustShard(t, c.ID), c.ID)).Result(); err != nil || n != 1 {
		t.Errorf("EXISTS record on the master = %d, %v; want 1", n, err)
	}
}

func mustShard(t *testing.T, id string) int {
	t.Helper()
	sh, ok := shardOfID(id)
	if !ok {
		t.Fatalf("shardOfID(%q) failed", id)
	}
	return sh
}

// A master name the Sentinels do not know is a configuration mistake, not a durability problem nor
// a missing comment, and the error says where to look.
func TestSentinelUnknownMasterName(t *testing.T) {
	sent := redistest.StartSentinel(t)
	rdb, err := NewClient("redis+sentinel://" + sent.Addr + "/no-such-master")
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = CheckDurability(ctx, rdb)
	if err == nil || errors.Is(err, ErrConfigUnreadable) || errors.Is(err, comment.ErrNotFound) || !strings.Contains(err.Error(), "master name") {
		t.Errorf("CheckDurability(unknown master name) = %v, want an error naming the master name, not ErrConfigUnreadable or ErrNotFound", err)
	}
}

// A Sentinel's address given as the Redis server's is refused with the form that works.
func TestCheckDurabilityRefusesSentinelAsServer(t *testing.T) {
	sent := redistest.StartSentinel(t)
	rdb, err := NewClient("redis://" + sent.Addr)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := CheckDurability(ctx, rdb); !errors.Is(err, ErrSentinelNode) || errors.Is(err, comment.ErrUnavailable) {
		t.Errorf("CheckDurability(a Sentinel's address as a server) = %v, want ErrSentinelNode, not a store unavailable", err)
	}
}
