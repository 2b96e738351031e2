package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestClusterThreads runs the thread list and its backfill on a Cluster, where the 16 shards'
// thread indexes are spread over three masters, each listing merges pages read from all of them,
// and the backfill walks each master with SCAN. The cases share one Cluster (it takes seconds to
// start); the first two share a store, the second adding to what the first configured.
func TestClusterThreads(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pre, post := comment.ModePre, comment.ModePost

	type setting struct {
		mode   comment.Mode
		closed bool
	}
	settings := map[string]setting{} // every thread that must be listed, as last configured
	var order []string               // the threads updated through the store, by their last change
	changed := map[string][2]time.Time{}
	// update changes thread through UpdateThread (with its current etag, or none) and notes the
	// change, which must put the thread at the front of the list.
	update := func(t *testing.T, thread string, mode *comment.Mode, closed *bool, withETag bool) {
		t.Helper()
		etag := ""
		if withETag {
			etag = moderation.ThreadETag(mustGetThread(t, s, thread))
		}
		before := time.Now()
		_, got, err := s.UpdateThread(ctx, "", thread, mode, closed, etag)
		if err != nil {
			t.Fatalf("UpdateThread(%s, etag %q) on the cluster = %v", thread, etag, err)
		}
		changed[thread] = [2]time.Time{before, time.Now()}
		order = slices.DeleteFunc(order, func(id string) bool { return id == thread })
		if got.Mode == comment.ModeDefault && !got.Closed {
			delete(settings, thread)
			return
		}
		settings[thread] = setting{got.Mode, got.Closed}
		order = append(order, thread)
	}
	// want returns the threads f lists, in the documented order: most recently changed first,
	// then those the backfill found (time unknown), by id descending.
	want := func(f moderation.ThreadFilter, backfilled []string) []string {
		var out []string
		for _, id := range append(reversed(order), reversed(slices.Sorted(slices.Values(backfilled)))...) {
			st := settings[id]
			if f.Matches(comment.Thread{ID: id, Mode: st.mode, Closed: st.closed}) {
				out = append(out, id)
			}
		}
		return out
	}
	filters := []struct {
		name string
		f    moderation.ThreadFilter
	}{
		{"all", moderation.ThreadFilter{}},
		{"pre", moderation.ThreadFilter{Mode: comment.ModePre}},
		{"post", moderation.ThreadFilter{Mode: comment.ModePost}},
		{"closed", moderation.ThreadFilter{Closed: new(true)}},
		{"open", moderation.ThreadFilter{Closed: new(false)}},
		{"open post", moderation.ThreadFilter{Mode: comment.ModePost, Closed: new(false)}},
	}
	// checkList lists every filter in pages of 1 and 3 and compares the ids, then reads one page
	// of all and checks each thread's settings and change time.
	checkList := func(t *testing.T, backfilled []string) {
		t.Helper()
		for _, f := range filters {
			w := want(f.f, backfilled)
			for _, size := range []int{1, 3} {
				if diff := cmp.Diff(w, listedThreads(t, s, f.f, size)); diff != "" {
					t.Errorf("ListThreads(%s) on the cluster, pages of %d (-want +got):\n%s", f.name, size, diff)
				}
			}
		}
		page, next, err := s.ListThreads(ctx, moderation.ThreadFilter{}, comment.Page{Size: comment.MaxPageSize})
		if err != nil || next != "" {
			t.Fatalf("ListThreads(all, one page) on the cluster = next %q, %v; want no next page, no error", next, err)
		}
		for _, lt := range page {
			st := settings[lt.ID]
			if lt.Mode != st.mode || lt.Closed != st.closed {
				t.Errorf("ListThreads: thread %s mode %v closed %v, want %v, %v", lt.ID, lt.Mode, lt.Closed, st.mode, st.closed)
			}
			at, ok := changed[lt.ID]
			switch {
			case !ok && !lt.Changed.IsZero():
				t.Errorf("ListThreads: thread %s found by the backfill changed %v, want the zero time (unknown)", lt.ID, lt.Changed)
			case ok && (lt.Changed.Before(at[0].Truncate(time.Microsecond)) || lt.Changed.After(at[1])):
				t.Errorf("ListThreads: thread %s changed %v, want its last update's time, %v to %v", lt.ID, lt.Changed, at[0], at[1])
			}
		}
	}

	t.Run("updates listed across the masters", func(t *testing.T) {
		// Two threads in each shard, so each master's indexes hold several; every other one is
		// updated with its etag.
		for i := range 2 * numShards {
			thread := threadInShard(fmt.Sprintf("ct-%02d", i), i%numShards)
			mode := []*comment.Mode{&pre, &post, nil}[i%3]
			var closed *bool
			if i%4 == 0 || mode == nil {
				closed = new(true)
			}
			update(t, thread, mode, closed, i%2 == 1)
		}
		// An update sent with an etag read before the last change is refused and moves nothing.
		stale := threadInShard("ct-01", 1)
		old := moderation.ThreadETag(comment.Thread{ID: stale})
		if _, _, err := s.UpdateThread(ctx, "", stale, &pre, new(true), old); !errors.Is(err, moderation.ErrStale) {
			t.Errorf("UpdateThread(%s) with the etag of its defaults, after a change = %v, want moderation.ErrStale", stale, err)
		}
		// Changed again, on three masters' shards: they move to the front.
		for _, i := range []int{3, 10, 20} {
			thread := threadInShard(fmt.Sprintf("ct-%02d", i), i%numShards)
			m := post
			if settings[thread].mode == post {
				m = pre
			}
			update(t, thread, &m, nil, i != 20)
		}
		// Set and put back at the defaults: they leave the list.
		for i, shard := range []int{5, 12} {
			thread := threadInShard(fmt.Sprintf("ct-gone-%d", i), shard)
			update(t, thread, &post, new(true), false)
			update(t, thread, new(comment.ModeDefault), new(false), i == 1)
		}
		checkList(t, nil)
	})

	t.Run("backfill", func(t *testing.T) {
		// Configured by a release before the index: the settings hash alone, in every shard.
		var backfilled []string
		for shard := range numShards {
			thread := threadInShard("ct-old", shard)
			switch shard % 3 {
			case 0:
				oldThread(t, s, thread, tfMode, "1")
				settings[thread] = setting{mode: pre}
			case 1:
				oldThread(t, s, thread, tfMode, "2", tfFirst, "123")
				settings[thread] = setting{mode: post}
			case 2:
				oldThread(t, s, thread, tfClosed, "1")
				settings[thread] = setting{closed: true}
			}
			backfilled = append(backfilled, thread)
		}
		// Comments alone never put a thread in the list.
		for _, shard := range []int{4, 11} {
			oldThread(t, s, threadInShard("ct-first-only", shard), tfFirst, "123")
		}
		hashes := len(order) + len(backfilled) + 2
		rep, err := s.IndexThreads(ctx, ThreadIndexOptions{Batch: 2})
		if w := (ThreadIndexReport{Scanned: hashes, Added: len(backfilled)}); err != nil || rep != w {
			t.Fatalf("IndexThreads on the cluster = %+v, %v; want %+v, no error", rep, err, w)
		}
		checkList(t, backfilled)
		rep, err = s.IndexThreads(ctx, ThreadIndexOptions{})
		if w := (ThreadIndexReport{Scanned: hashes}); err != nil || rep != w {
			t.Errorf("IndexThreads again on the cluster = %+v, %v; want %+v, no error", rep, err, w)
		}
		checkList(t, backfilled)
	})

	// A thread whose slot moves, during the walk, from a master not walked yet to one already
	// walked is not seen by that run. commentd runs the backfill once at start and again only
	// when it fails, so the run must fail (store unavailable) rather than report a complete walk
	// and leave the thread out of the list until the next start; the run after the move adds it.
	t.Run("backfill while a shard moves", func(t *testing.T) {
		rdb := clusterClient(t, cluster)
		s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatalf("New on the cluster = %v", err)
		}
		owner := map[int]string{} // shard → master
		var threads []string
		for shard := range numShards {
			thread := threadInShard("ct-move", shard)
			oldThread(t, s, thread, tfMode, "2")
			threads = append(threads, thread)
			if owner[shard], err = cluster.SlotOwner(ctx, shardSlots[shard]); err != nil {
				t.Fatal(err)
			}
		}
		// The walk goes through the masters in address order.
		masters := slices.Sorted(slices.Values(cluster.Addrs))
		moving := slices.IndexFunc(threads, func(th string) bool { return owner[shardOfThread(th)] == masters[2] })
		if moving < 0 {
			t.Fatalf("no thread shard on the last master walked, %s: %v", masters[2], owner)
		}
		// Once the walk reaches the second master, the moving shard goes from the last to the first.
		moved := &backfillHook{}
		moved.before = func(ids []string) {
			if !slices.ContainsFunc(ids, func(id string) bool { return owner[shardOfThread(id)] == masters[1] }) {
				return
			}
			moved.once.Do(func() {
				m, err := cluster.StartMigration(ctx, shardSlots[moving], masters[0], false)
				if err == nil {
					err = m.Finish(ctx)
				}
				moved.err = err
				moved.done = true
			})
		}
		rdb.AddHook(moved)
		rep, err := s.IndexThreads(ctx, ThreadIndexOptions{Batch: 1})
		if moved.err != nil {
			t.Fatalf("move shard %d to %s: %v", moving, masters[0], moved.err)
		}
		if !moved.done {
			t.Fatalf("the backfill met no thread of %s; the test moved nothing", masters[1])
		}
		if !errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("IndexThreads while shard %d moved from %s (not yet walked) to %s (walked) = %+v, %v; want comment.ErrUnavailable",
				moving, masters[2], masters[0], rep, err)
		}
		first := listedThreads(t, s, moderation.ThreadFilter{}, 5)
		if slices.Contains(first, threads[moving]) || len(first) != len(threads)-1 {
			// Not a failure of the store: the move did not take the thread out of the walk's sight.
			t.Fatalf("IndexThreads while shard %d moved from %s (not yet walked) to %s (walked) listed %d of %d threads; want all but %s",
				moving, masters[2], masters[0], len(first), len(threads), threads[moving])
		}
		rep, err = s.IndexThreads(ctx, ThreadIndexOptions{Batch: 1})
		if w := (ThreadIndexReport{Scanned: len(threads), Added: 1}); err != nil || rep != w {
			t.Errorf("IndexThreads after the move = %+v, %v; want %+v, no error", rep, err, w)
		}
		all := reversed(slices.Sorted(slices.Values(threads)))
		if diff := cmp.Diff(all, listedThreads(t, s, moderation.ThreadFilter{}, 5)); diff != "" {
			t.Errorf("ListThreads after the second IndexThreads (-want +got):\n%s", diff)
		}
	})
}

// reversed returns a reversed copy of ids.
func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

// backfillHook calls before with the thread ids of each pipeline of threads_backfill.lua the
// client sends, before it is sent.
type backfillHook struct {
	before func(ids []string)
	once   sync.Once
	done   bool
	err    error
}

func (h *backfillHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *backfillHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *backfillHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var ids []string
		for _, c := range cmds {
			// EVAL script numkeys index-key settings-key thread-id
			if a := c.Args(); len(a) == 6 && c.Name() == "eval" && a[1] == threadsBackfillSrc {
				if id, ok := a[5].(string); ok {
					ids = append(ids, id)
				}
			}
		}
		if len(ids) > 0 && h.before != nil {
			h.before(ids)
		}
		return next(ctx, cmds)
	}
}
