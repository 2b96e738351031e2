package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// indexScore returns the thread's score in its shard's thread index, and false when it is not in
// it.
func indexScore(t *testing.T, s *Store, thread string) (float64, bool) {
	t.Helper()
	sc, err := s.rdb.ZScore(context.Background(), s.keys.threadList(shardOfThread(thread)), thread).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("ZSCORE of thread %s in its index = %v", thread, err)
	}
	return sc, true
}

// listedThreads reads every page of ListThreads with f, pages of size, and returns the thread ids
// in order. It fails the test on an error, a page larger than size or pages that do not end.
func listedThreads(t *testing.T, s *Store, f moderation.ThreadFilter, size int) []string {
	t.Helper()
	var ids []string
	token := ""
	for range 1000 {
		page, next, err := s.ListThreads(context.Background(), f, comment.Page{Size: size, Token: token})
		if err != nil {
			t.Fatalf("ListThreads(%+v, size %d, token %q) = %v", f, size, token, err)
		}
		if len(page) > size {
			t.Fatalf("ListThreads(%+v, size %d) returned %d threads", f, size, len(page))
		}
		for _, th := range page {
			ids = append(ids, th.ID)
		}
		if next == "" {
			return ids
		}
		token = next
	}
	t.Fatalf("ListThreads(%+v, size %d) did not end after 1000 pages", f, size)
	return nil
}

// A thread is in the index while it has a mode of its own or a moderator's close, and out of it
// once both are back at their defaults; comments, which write the thread's "first", never put it
// in, and an update that changes nothing leaves its score where the last change put it.
func TestThreadIndexFollowsSettings(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	s := closingStore(t, rdb, redistest.Prefix(t), time.Hour)
	ctx := context.Background()
	const thread = "index-follows"
	pre, def := comment.ModePre, comment.ModeDefault
	steps := []struct {
		name    string
		do      func() error
		indexed bool
		moved   bool // the step changed the settings: the score must be the step's time
	}{
		{"first comment", func() error { firstComment(t, s, thread, 1, time.Now()); return nil }, false, false},
		{"a second comment", func() error { firstComment(t, s, thread, 2, time.Now()); return nil }, false, false},
		{"pre-moderate", func() error { _, _, err := s.UpdateThread(ctx, "", thread, &pre, nil, ""); return err }, true, true},
		{"pre-moderate again", func() error { _, _, err := s.UpdateThread(ctx, "", thread, &pre, nil, ""); return err }, true, false},
		{"close", func() error { _, _, err := s.UpdateThread(ctx, "", thread, nil, new(true), ""); return err }, true, true},
		{"site default, still closed", func() error { _, _, err := s.UpdateThread(ctx, "", thread, &def, nil, ""); return err }, true, true},
		{"a comment on a closed thread", func() error {
			_, _, err := s.Create(ctx, draft(s, thread, 3), comment.CreateOptions{})
			if !errors.Is(err, comment.ErrThreadClosed) {
				return fmt.Errorf("Create on a closed thread = %v, want ErrThreadClosed", err)
			}
			return nil
		}, true, false},
		{"reopen", func() error { _, _, err := s.UpdateThread(ctx, "", thread, nil, new(false), ""); return err }, false, false},
		{"a comment after reopening", func() error { firstComment(t, s, thread, 4, time.Now()); return nil }, false, false},
		{"close again", func() error { _, _, err := s.UpdateThread(ctx, "", thread, nil, new(true), ""); return err }, true, true},
		{"reopen and default at once", func() error { _, _, err := s.UpdateThread(ctx, "", thread, &def, new(false), ""); return err }, false, false},
	}
	var score float64
	for _, st := range steps {
		before := time.Now()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := time.Now()
		got, indexed := indexScore(t, s, thread)
		if indexed != st.indexed {
			t.Fatalf("after %s: thread in the index = %v, want %v (fields %v)", st.name, indexed, st.indexed, threadFields(t, s, thread))
		}
		switch {
		case st.moved && (got < float64(before.UnixMicro()) || got > float64(after.UnixMicro())):
			t.Errorf("after %s: score %.0f, want the step's time, %d to %d", st.name, got, before.UnixMicro(), after.UnixMicro())
		case !st.moved && indexed && got != score:
			t.Errorf("after %s, which changed nothing: score %.0f, want it left at %.0f", st.name, got, score)
		}
		score = got
		var want []string
		if st.indexed {
			want = []string{thread}
		}
		if diff := cmp.Diff(want, listedThreads(t, s, moderation.ThreadFilter{}, 10)); diff != "" {
			t.Errorf("after %s: ListThreads (-want +got):\n%s", st.name, diff)
		}
	}
	if _, ok := threadFields(t, s, thread)[tfFirst]; !ok {
		t.Errorf("thread %s has no %q field: the test did not show that comments leave the index alone", thread, tfFirst)
	}
}

// A resent update (the Redis client lost the reply) leaves the thread in the index once, with the
// first sending's time; a resent update that puts the thread back at its defaults leaves it out.
func TestThreadIndexUpdateResent(t *testing.T) {
	t.Parallel()
	pre := comment.ModePre
	tests := []struct {
		name    string
		setup   []threadUpdate
		update  threadUpdate
		indexed bool
	}{
		{"pre-moderate", nil, setMode(comment.ModePre), true},
		{"close", nil, setClosed(true), true},
		{"back to defaults", []threadUpdate{{mode: &pre, closed: new(true)}}, threadUpdate{mode: new(comment.ModeDefault), closed: new(false)}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb := redistest.Client(t, redistest.Shared(t))
			s := closingStore(t, rdb, redistest.Prefix(t), 0)
			ctx := context.Background()
			thread := fmt.Sprintf("index-resent-%d", i)
			for _, u := range tt.setup {
				if _, _, err := s.UpdateThread(ctx, "", thread, u.mode, u.closed, ""); err != nil {
					t.Fatalf("UpdateThread(%s, %s) = %v", thread, u, err)
				}
			}
			sent := resend(rdb, s.keys.thread(shardOfThread(thread), thread), scriptNames...)
			before := time.Now()
			if _, _, err := s.UpdateThread(ctx, "", thread, tt.update.mode, tt.update.closed, ""); err != nil {
				t.Fatalf("UpdateThread(%s, %s), resent = %v", thread, tt.update, err)
			}
			if !sent() {
				t.Fatal("UpdateThread was not resent: the test shows nothing")
			}
			score, indexed := indexScore(t, s, thread)
			if indexed != tt.indexed {
				t.Fatalf("UpdateThread(%s, %s), resent: in the index = %v, want %v", thread, tt.update, indexed, tt.indexed)
			}
			if indexed && score < float64(before.UnixMicro()) {
				t.Errorf("UpdateThread(%s, %s), resent: score %.0f, want the update's time (after %d)", thread, tt.update, score, before.UnixMicro())
			}
			n, err := rdb.ZCard(ctx, s.keys.threadList(shardOfThread(thread))).Result()
			if err != nil || n != int64(len(listedThreads(t, s, moderation.ThreadFilter{}, 10))) {
				t.Errorf("index size %d, %v; want as many as ListThreads lists", n, err)
			}
		})
	}
}

// oldThread writes a thread's settings as a release before the index did: the hash alone.
func oldThread(t *testing.T, s *Store, thread string, fields ...string) {
	t.Helper()
	if err := s.rdb.HSet(context.Background(), s.keys.thread(shardOfThread(thread), thread), fields).Err(); err != nil {
		t.Fatalf("HSET thread %s %v = %v", thread, fields, err)
	}
}

// ListThreads pages over the 16 shards' indexes, most recently changed first and by id
// (descending) among equal times, every thread once, whatever the page size; threads found by the
// backfill (time unknown, score 0) come last. The filters narrow the pages, and a token belongs to
// its filter.
func TestListThreadsPaginates(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	pre, post := comment.ModePre, comment.ModePost
	type setting struct {
		mode   *comment.Mode
		closed bool
	}
	var changed []string // updated through the store, in order
	settings := map[string]setting{}
	for i := range 2 * numShards {
		thread := threadInShard(fmt.Sprintf("list-%02d", i), i%numShards)
		st := setting{mode: []*comment.Mode{&pre, &post, nil}[i%3], closed: i%4 == 0}
		if st.mode == nil && !st.closed {
			st.closed = true
		}
		var closed *bool
		if st.closed {
			closed = new(true)
		}
		if _, _, err := ts.UpdateThread(ctx, "", thread, st.mode, closed, ""); err != nil {
			t.Fatalf("UpdateThread(%s) = %v", thread, err)
		}
		changed = append(changed, thread)
		settings[thread] = st
	}
	// Configured before the index, in several shards: the backfill adds them with score 0, a tie
	// that only their ids order.
	var old []string
	for i := range 6 {
		thread := threadInShard(fmt.Sprintf("old-%d", i), (i*5)%numShards)
		oldThread(t, ts.Store, thread, tfMode, "1")
		old = append(old, thread)
		settings[thread] = setting{mode: &pre}
	}
	if _, err := ts.IndexThreads(ctx, ThreadIndexOptions{Batch: 3}); err != nil {
		t.Fatalf("IndexThreads = %v", err)
	}

	// The order the index holds: by score descending, then id descending.
	type scored struct {
		id    string
		score float64
	}
	var all []scored
	for _, th := range append(slices.Clone(changed), old...) {
		sc, ok := indexScore(t, ts.Store, th)
		if !ok {
			t.Fatalf("thread %s not in the index", th)
		}
		all = append(all, scored{th, sc})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		if a.id > b.id {
			return -1
		}
		return 1
	})
	filtered := func(keep func(setting) bool) []string {
		var out []string
		for _, e := range all {
			if keep(settings[e.id]) {
				out = append(out, e.id)
			}
		}
		return out
	}
	if diff := cmp.Diff(old, filtered(func(setting) bool { return true })[len(changed):], cmp.Transformer("sorted", func(s []string) []string { return slices.Sorted(slices.Values(s)) })); diff != "" {
		t.Errorf("threads found by the backfill are not last (-want +got):\n%s", diff)
	}

	filters := []struct {
		name string
		f    moderation.ThreadFilter
		keep func(setting) bool
	}{
		{"all", moderation.ThreadFilter{}, func(setting) bool { return true }},
		{"pre", moderation.ThreadFilter{Mode: comment.ModePre}, func(s setting) bool { return s.mode == &pre }},
		{"closed", moderation.ThreadFilter{Closed: new(true)}, func(s setting) bool { return s.closed }},
		{"open post", moderation.ThreadFilter{Mode: comment.ModePost, Closed: new(false)}, func(s setting) bool { return s.mode == &post && !s.closed }},
	}
	for _, f := range filters {
		want := filtered(f.keep)
		for _, size := range []int{1, 3, 7, 500} {
			if diff := cmp.Diff(want, listedThreads(t, ts.Store, f.f, size)); diff != "" {
				t.Errorf("ListThreads(%s), pages of %d (-want +got):\n%s", f.name, size, diff)
			}
		}
	}

	// A page's threads carry their settings and the time of their last change.
	page, _, err := ts.ListThreads(ctx, moderation.ThreadFilter{}, comment.Page{Size: 500})
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range page {
		want := mustGetThread(t, ts.Store, got.ID)
		if diff := cmp.Diff(want, got.Thread); diff != "" {
			t.Errorf("ListThreads: thread %s differs from GetThread (-get +list):\n%s", got.ID, diff)
		}
		if wantZero := all[i].score == 0; got.Changed.IsZero() != wantZero || (!wantZero && got.Changed.UnixMicro() != int64(all[i].score)) {
			t.Errorf("ListThreads: thread %s changed %v, want the index's score %.0f (0: unknown, zero time)", got.ID, got.Changed, all[i].score)
		}
	}

	// Tokens: one of another filter, or not made by the store, is refused.
	_, tok, err := ts.ListThreads(ctx, moderation.ThreadFilter{}, comment.Page{Size: 1})
	if err != nil || tok == "" {
		t.Fatalf("ListThreads(size 1) = token %q, %v; want a token", tok, err)
	}
	for _, bad := range []struct {
		name string
		f    moderation.ThreadFilter
		tok  string
	}{
		{"another filter's", moderation.ThreadFilter{Mode: comment.ModePre}, tok},
		{"garbage", moderation.ThreadFilter{}, "not-a-token"},
		{"a queue token", moderation.ThreadFilter{}, encodeToken(queueQuery(moderation.Query{State: comment.StatePending}), cursor{score: 1, id: "00abc"})},
	} {
		if _, _, err := ts.ListThreads(ctx, bad.f, comment.Page{Size: 1, Token: bad.tok}); !errors.Is(err, comment.ErrInvalidPageToken) {
			t.Errorf("ListThreads with %s token = %v, want ErrInvalidPageToken", bad.name, err)
		}
	}
}

// The backfill adds the threads a release before the index configured (a mode, or a moderator's
// close), and only those: not a thread with comments only, nor one already indexed, whose time
// it keeps. Run again, it adds nothing.
func TestIndexThreadsBackfills(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	oldThread(t, ts.Store, "bf-mode", tfMode, "2", tfFirst, "123")
	oldThread(t, ts.Store, "bf-closed", tfClosed, "1")
	oldThread(t, ts.Store, "bf-first-only", tfFirst, "123")
	if _, _, err := ts.UpdateThread(ctx, "", "bf-new", new(comment.ModePre), nil, ""); err != nil {
		t.Fatal(err)
	}
	newScore, _ := indexScore(t, ts.Store, "bf-new")

	rep, err := ts.IndexThreads(ctx, ThreadIndexOptions{Batch: 1, Pause: time.Millisecond})
	if err != nil {
		t.Fatalf("IndexThreads = %v", err)
	}
	if want := (ThreadIndexReport{Scanned: 4, Added: 2}); rep != want {
		t.Errorf("IndexThreads = %+v, want %+v", rep, want)
	}
	for thread, want := range map[string]bool{"bf-mode": true, "bf-closed": true, "bf-first-only": false, "bf-new": true} {
		sc, ok := indexScore(t, ts.Store, thread)
		if ok != want {
			t.Errorf("after IndexThreads: %s in the index = %v, want %v", thread, ok, want)
		}
		if wantScore := map[bool]float64{true: newScore, false: 0}[thread == "bf-new"]; ok && sc != wantScore {
			t.Errorf("after IndexThreads: %s score %.0f, want %.0f", thread, sc, wantScore)
		}
	}
	if rep, err := ts.IndexThreads(ctx, ThreadIndexOptions{}); err != nil || rep.Added != 0 {
		t.Errorf("IndexThreads again = %+v, %v; want nothing added", rep, err)
	}
}

// The thread index works on miniredis, which commentd -dev uses: the scripts and the backfill's
// SCAN pattern.
func TestMiniredisListsThreads(t *testing.T) {
	t.Parallel()
	s, _ := miniredisStore(t)
	ctx := context.Background()
	a, b := threadInShard("mini-a", 2), threadInShard("mini-b", 9)
	if _, _, err := s.UpdateThread(ctx, "", a, new(comment.ModePre), nil, ""); err != nil {
		t.Fatal(err)
	}
	oldThread(t, s, b, tfClosed, "1")
	if rep, err := s.IndexThreads(ctx, ThreadIndexOptions{}); err != nil || rep.Added != 1 {
		t.Fatalf("IndexThreads on miniredis = %+v, %v; want one added", rep, err)
	}
	if diff := cmp.Diff([]string{a, b}, listedThreads(t, s, moderation.ThreadFilter{}, 1)); diff != "" {
		t.Errorf("ListThreads on miniredis, pages of 1 (-want +got):\n%s", diff)
	}
	if _, _, err := s.UpdateThread(ctx, "", a, new(comment.ModeDefault), nil, ""); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{b}, listedThreads(t, s, moderation.ThreadFilter{}, 10)); diff != "" {
		t.Errorf("ListThreads on miniredis after a thread went back to defaults (-want +got):\n%s", diff)
	}
}
