package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want target
	}{
		{"localhost", target{kind: "standalone", addrs: []string{"localhost:6379"}}},
		{"10.0.0.5:6380", target{kind: "standalone", addrs: []string{"10.0.0.5:6380"}}},
		{"redis://cache:6379/2", target{kind: "standalone", addrs: []string{"cache:6379"}, db: 2}},
		{"redis://:s3cr%40t@cache", target{kind: "standalone", addrs: []string{"cache:6379"}, password: "s3cr@t"}},
		{"rediss://app:pw@cache.example.com:6380/0", target{kind: "standalone", addrs: []string{"cache.example.com:6380"}, user: "app", password: "pw", tls: true}},
		{"redis://[::1]:7000", target{kind: "standalone", addrs: []string{"[::1]:7000"}}},
		{"::1", target{kind: "standalone", addrs: []string{"[::1]:6379"}}},
		{"redis://h1:7000,h2:7001,h3:7002", target{kind: "cluster", addrs: []string{"h1:7000", "h2:7001", "h3:7002"}}},
		{"h1:7000, h2:7001", target{kind: "cluster", addrs: []string{"h1:7000", "h2:7001"}}},
		{"rediss://u:p@h1:7000,h2:7001", target{kind: "cluster", addrs: []string{"h1:7000", "h2:7001"}, user: "u", password: "p", tls: true}},
		{"redis+cluster://seed:7000", target{kind: "cluster", addrs: []string{"seed:7000"}}},
		{"redis+sentinel://s1:26379,s2/mymaster", target{kind: "sentinel", addrs: []string{"s1:26379", "s2:26379"}, master: "mymaster"}},
		{"redis+sentinel://u:p@s1/mymaster/3", target{kind: "sentinel", addrs: []string{"s1:26379"}, master: "mymaster", db: 3, user: "u", password: "p"}},
		{"rediss+sentinel://s1:5000/m", target{kind: "sentinel", addrs: []string{"s1:5000"}, master: "m", tls: true}},
		{"REDIS://cache:6379/2", target{kind: "standalone", addrs: []string{"cache:6379"}, db: 2}},
		{"Rediss+Sentinel://s1/m", target{kind: "sentinel", addrs: []string{"s1:26379"}, master: "m", tls: true}},
	}
	for _, tt := range tests {
		got, err := parseTarget(tt.addr)
		if err != nil {
			t.Errorf("parseTarget(%q) = %v, want no error", tt.addr, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(target{})); diff != "" {
			t.Errorf("parseTarget(%q) (-want +got):\n%s", tt.addr, diff)
		}
	}

	// A password with an unescaped "/", "?" or "#" is refused as one to escape (not, for the last
	// two, as a query), without quoting any of it.
	for _, tt := range []struct{ name, addr string }{
		{"slash", "redis://app:zq/s3cret@cache:6379/0"},
		{"question mark", "redis://app:zq?s3cret@cache:6379"},
		{"hash", "redis://app:zq#s3cret@cache:6379/0"},
		{"hash on a cluster", "rediss://app:zq#s3cret@h1:7000,h2:7001"},
		{"hash in the user name", "redis://a#pp:zqs3cret@cache"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTarget(tt.addr)
			if !errors.Is(err, errUnescaped) || strings.Contains(err.Error(), "zq") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("parseTarget(%s) = %v, want errUnescaped quoting no part of the password", tt.name, err)
			}
		})
	}

	for _, bad := range []string{
		"", "http://cache:6379", "redis://cache:6379?db=2", "redis://cache:notaport", "redis://cache:70000",
		"redis://cache/x", "redis://cache/1/2", "redis://h1:7000,h2:7001/3", "redis://h1,,h2",
		"redis+sentinel://s1:26379", "redis+sentinel://s1/", "user:pass@cache:6379",
	} {
		if _, err := parseTarget(bad); !errors.Is(err, errAddr) {
			t.Errorf("parseTarget(%q) = %v, want errAddr", bad, err)
		}
		if c, err := NewClient(bad); err == nil {
			c.Close()
			t.Errorf("NewClient(%q) = nil error, want one", bad)
		}
	}
}

func TestNewClientKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr      string
		isCluster bool
	}{
		{"redis://127.0.0.1:1", false},
		{"redis+sentinel://127.0.0.1:1/m", false},
		{"redis://127.0.0.1:1,127.0.0.1:2", true},
		{"redis+cluster://127.0.0.1:1", true},
	}
	for _, tt := range tests {
		c, err := NewClient(tt.addr)
		if err != nil {
			t.Errorf("NewClient(%q) = %v", tt.addr, err)
			continue
		}
		_, isCluster := c.(*redis.ClusterClient)
		if isCluster != tt.isCluster {
			t.Errorf("NewClient(%q) = %T, want cluster client %v", tt.addr, c, tt.isCluster)
		}
		if cl, ok := c.(*redis.Client); ok && !cl.Options().ContextTimeoutEnabled {
			t.Errorf("NewClient(%q) has ContextTimeoutEnabled false, want true", tt.addr)
		}
		c.Close()
	}
}

// TestRoundTrips pins the round trips each store call costs, as the hook counts them.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	var n atomic.Int64
	rdb.AddHook(RoundTripHook(func() { n.Add(1) }))
	ctx := context.Background()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	// A new connection's handshake (HELLO, CLIENT SETINFO, ...) passes through the hook too: open
	// one connection in each of go-redis's pools (commands, pipelines) before counting.
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	if _, err := publishedCounts(s.CountPublished(ctx, []string{"warm-up"})); err != nil {
		t.Fatalf("CountPublished = %v", err)
	}
	c := draft(s, "trips", 1)
	mode := comment.ModePre
	calls := []struct {
		name string
		call func() error
		want int64
	}{
		{"Create", func() error { _, _, err := s.Create(ctx, c, comment.CreateOptions{RequestID: "r"}); return err }, 1},
		{"Create again (idempotent)", func() error { _, _, err := s.Create(ctx, c, comment.CreateOptions{RequestID: "r"}); return err }, 1},
		{"Get", func() error { _, err := s.Get(ctx, c.ID); return err }, 1},
		{"ListPublished", func() error { _, _, err := pageOf(s.ListPublished(ctx, "trips", comment.Page{Size: 10})); return err }, 1},
		{"CountPublished of 3 threads", func() error {
			_, err := publishedCounts(s.CountPublished(ctx, []string{"trips", "a", "b"}))
			return err
		}, 1},
		{"Decide", func() error {
			_, err := s.Decide(ctx, c.ID, moderation.Reject, comment.Decision{Moderator: "m", To: comment.StateRejected}, rejectFrom, "")
			return err
		}, 1},
		{"ListQueue of a thread", func() error {
			_, _, err := s.ListQueue(ctx, moderation.Query{State: comment.StateRejected, ThreadID: "trips"}, comment.Page{Size: 10})
			return err
		}, 1},
		{"ListQueue of all threads", func() error {
			_, _, err := s.ListQueue(ctx, moderation.Query{State: comment.StateRejected}, comment.Page{Size: 10})
			return err
		}, 2},
		{"GetThread", func() error { _, err := s.GetThread(ctx, "trips"); return err }, 1},
		{"UpdateThread", func() error { _, _, err := s.UpdateThread(ctx, "", "trips", &mode, nil, ""); return err }, 1},
		{"Ping", func() error { return s.Ping(ctx) }, 1},
	}
	for _, tt := range calls {
		before := n.Load()
		if err := tt.call(); err != nil {
			t.Fatalf("%s = %v", tt.name, err)
		}
		if got := n.Load() - before; got != tt.want {
			t.Errorf("%s took %d round trips, want %d", tt.name, got, tt.want)
		}
	}
}
