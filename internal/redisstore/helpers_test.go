package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// statsSince returns s's Stats of the days from since's (UTC) to today's: every day the actions of
// a test that read since before its first action can have been counted in. The store and the
// domain services date an action by the clock when it happens, so a test that runs over midnight
// UTC has its actions counted in two days; read with Stats of one day, "today", part of them
// would be missing. The moderators' figures are summed over the days, as Stats sums them.
func statsSince(t *testing.T, s *Store, since time.Time) moderation.Stats {
	t.Helper()
	days := int(dayOf(time.Now())-dayOf(since)) + 1
	st, err := s.Stats(context.Background(), since, days)
	if err != nil {
		t.Fatalf("Stats(%v, %d days) = %v", since, days, err)
	}
	return st
}

// testStore is a Store on the shared test server with a key prefix of its own.
type testStore struct {
	*Store
	rdb    *redis.Client
	prefix string
}

func newTestStore(t *testing.T) testStore {
	t.Helper()
	rdb := redistest.Client(t, redistest.Shared(t))
	prefix := redistest.Prefix(t)
	s, err := New(context.Background(), rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New(prefix %q) = %v, want no error", prefix, err)
	}
	return testStore{Store: s, rdb: rdb, prefix: prefix}
}

// clusterClient returns a client of cluster given all its node addresses, closed when t ends (after
// the clean-ups registered later, such as a watcher's).
func clusterClient(t *testing.T, cluster *redistest.Cluster) redis.UniversalClient {
	t.Helper()
	rdb, err := NewClient("redis://" + strings.Join(cluster.Addrs, ","))
	if err != nil {
		t.Fatalf("NewClient(cluster addresses) = %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// clusterStore returns a store with the test's prefix on cluster, through clusterClient.
func clusterStore(t *testing.T, cluster *redistest.Cluster) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := New(ctx, clusterClient(t, cluster), Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("New on the cluster = %v", err)
	}
	return s
}

// t0 is a fixed creation time with whole microseconds, as the store keeps them.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// draft returns a comment of thread as comment.Service would hand it to Create, every field set.
func draft(s *Store, thread string, n int) comment.Comment {
	id := s.NewID(thread)
	created := t0.Add(time.Duration(n) * time.Second)
	return comment.Comment{
		ID:          id,
		ThreadID:    thread,
		AuthorName:  fmt.Sprintf("Author %d", n),
		EmailSealed: "k1:sealed-email-" + id,
		AuthorKey:   fmt.Sprintf("%040x", n),
		IPSealed:    "k1:sealed-ip-" + id,
		IPKey:       fmt.Sprintf("%040x", n+1000),
		UserAgent:   "Mozilla/5.0 (test)",
		Body:        fmt.Sprintf("Comment number %d.\nSecond line: ünïcödé, \"quotes\", {braces}.", n),
		State:       comment.StatePublished,
		CreatedAt:   created,
		PublishedAt: created,
	}
}

// mustCreate stores c and fails the test on any error.
func mustCreate(t *testing.T, s *Store, c comment.Comment, opts comment.CreateOptions) comment.Comment {
	t.Helper()
	got, _, err := s.Create(context.Background(), c, opts)
	if err != nil {
		t.Fatalf("Create(%s in thread %s) = %v, want no error", c.ID, c.ThreadID, err)
	}
	return got
}

// scanKeys returns every key under prefix on the server behind rdb (all masters of a Cluster).
func scanKeys(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	var (
		mu  sync.Mutex
		out []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			out = append(out, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	ctx := context.Background()
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		t.Fatalf("SCAN %s*: %v", prefix, err)
	}
	slices.Sort(out)
	return out
}

// withoutUpdateMarks drops from keys the marks thread updates leave (thread_update.lua), which
// expire by themselves; a mark without a TTL stays, for the caller to see.
func withoutUpdateMarks(t *testing.T, rdb redis.UniversalClient, keys []string) []string {
	t.Helper()
	var out []string
	for _, k := range keys {
		if strings.Contains(k, "}tm:") && rdb.TTL(context.Background(), k).Val() > 0 {
			continue
		}
		out = append(out, k)
	}
	return out
}

// threadInShard returns a thread id (starting with base) whose data lives in shard.
func threadInShard(base string, shard int) string {
	for i := 0; ; i++ {
		t := fmt.Sprintf("%s-%d", base, i)
		if shardOfThread(t) == shard {
			return t
		}
	}
}

// indexMembership reports which of the thread's and shard's indexes hold id, as "p" (published),
// "q2:thread", "q2:shard", ... so tests can compare it with what a state implies.
func indexMembership(t *testing.T, ts testStore, threadID, id string) []string {
	t.Helper()
	ctx := context.Background()
	shard := shardOfThread(threadID)
	var in []string
	check := func(name, key string) {
		err := ts.rdb.ZScore(ctx, key, id).Err()
		switch {
		case err == nil:
			in = append(in, name)
		case err != redis.Nil:
			t.Fatalf("ZSCORE %s %s: %v", key, id, err)
		}
	}
	check("p", ts.keys.published(shard, threadID))
	for _, st := range queueStates {
		check(fmt.Sprintf("q%d:thread", st), ts.keys.threadQueue(shard, st, threadID))
		check(fmt.Sprintf("q%d:shard", st), ts.keys.shardQueue(shard, st))
	}
	return in
}

// wantMembership is the index membership a comment in state st must have.
func wantMembership(st comment.State) []string {
	if st == comment.StatePublished {
		return []string{"p"}
	}
	return []string{fmt.Sprintf("q%d:thread", st), fmt.Sprintf("q%d:shard", st)}
}

// miniredisStore returns a Store on a new miniredis (what commentd -dev runs on) and its client,
// closed when t ends (after the clean-ups registered later, such as a watcher's).
func miniredisStore(t *testing.T) (*Store, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s, err := New(context.Background(), rdb, Options{})
	if err != nil {
		t.Fatalf("New on miniredis = %v", err)
	}
	return s, rdb
}

// slowestScript returns the longest a script call took in Redis's slow log (which the caller set
// to log every command and reset), or 0 when it logged none.
func slowestScript(t *testing.T, rdb redis.UniversalClient) time.Duration {
	t.Helper()
	log, err := rdb.SlowLogGet(context.Background(), 128).Result()
	if err != nil {
		t.Fatalf("SLOWLOG GET: %v", err)
	}
	var slowest time.Duration
	for _, e := range log {
		if len(e.Args) > 0 && strings.HasPrefix(strings.ToLower(e.Args[0]), "eval") {
			slowest = max(slowest, e.Duration)
		}
	}
	return slowest
}

// storeOfItsOwn returns a store on a redis-server of its own, for a test that reads what Redis
// itself counts (INFO commandstats, the slow log), which the tests sharing a server would add to.
func storeOfItsOwn(t *testing.T) testStore {
	t.Helper()
	rdb := redistest.Client(t, redistest.Start(t).Addr)
	s, err := New(context.Background(), rdb, Options{})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return testStore{Store: s, rdb: rdb}
}

// pageOf returns the comments and next page token of a ListPublished page, for the tests that
// look at nothing else.
func pageOf(pg comment.PublishedPage, err error) ([]comment.Comment, string, error) {
	return pg.Comments, pg.Next, err
}

// publishedCounts returns the published counts of CountPublished's result, for the tests that look at
// nothing else.
func publishedCounts(counts []comment.ThreadCount, err error) ([]int64, error) {
	out := make([]int64, len(counts))
	for i, c := range counts {
		out[i] = c.Published
	}
	return out, err
}

// leaseSlack covers the rounding of Redis' expiry times to whole milliseconds, and the two
// clocks (Redis' and the test's) reading the same time a little differently.
const leaseSlack = 10 * time.Millisecond

// withinSpan runs try with span (a lease, a window, a rule's interval), then with one twice as
// long each time try reports that its steps came too far apart for span, at most six times. try
// times its own steps and reports false, before checking anything, when they took so long that
// the lease or window may have ended before the step that needed it alive: a loaded machine can
// hold a test between two calls for longer than a short span, and what the store answered then
// says nothing about the store. A short span keeps the test quick; the retries keep it right.
func withinSpan(t *testing.T, span time.Duration, try func(span time.Duration) bool) {
	t.Helper()
	for range 6 {
		if try(span) {
			return
		}
		t.Logf("the steps took longer than a span of %v allows; trying again with %v", span, 2*span)
		span *= 2
	}
	t.Fatalf("the steps took longer than a span allows six times, the last %v", span/2)
}
