package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
)

// UpdateThread answers with the thread before its change and after it, both from the change's
// atomic step, so they differ in exactly what the call changed; a call that changes nothing
// answers the same thread twice. A run of the script that the Redis client resends after losing
// the first run's reply (same mark) finds the change made and still answers the thread as it was
// before it, not the thread the first run left.
func TestUpdateThreadBeforeAndAfter(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()
	pre := comment.ModePre
	before, after, err := ts.UpdateThread(ctx, "ba", &pre, nil, "")
	if want := (comment.Thread{ID: "ba", Mode: pre}); err != nil || before != (comment.Thread{ID: "ba"}) || after != want {
		t.Errorf("UpdateThread(ba, mode pre) = %+v, %+v, %v; want the default thread, then %+v", before, after, err, want)
	}
	before, after, err = ts.UpdateThread(ctx, "ba", &pre, nil, "")
	if want := (comment.Thread{ID: "ba", Mode: pre}); err != nil || before != want || after != want {
		t.Errorf("UpdateThread(ba, mode pre) again = %+v, %+v, %v; want %+v twice", before, after, err, want)
	}

	shard := shardOfThread("ba")
	keys := []string{ts.keys.thread(shard, "ba"), ts.keys.threadList(shard), ts.keys.threadUpdateMark(shard, "resent")}
	run := func() []any {
		t.Helper()
		reply, err := ts.threadUpdate.Run(ctx, ts.rdb, keys, "", "1", micros(time.Now()), 0, "", "ba", auditMarkTTL).Slice()
		if err != nil {
			t.Fatalf("thread_update.lua = %v", err)
		}
		return reply
	}
	first := run()
	if diff := cmp.Diff(first, run()); diff != "" {
		t.Errorf("thread_update.lua run twice with one mark (-first +second):\n%s", diff)
	}
	if want := []any{"ok", "1", "1", nil, "1", nil, nil}; !cmp.Equal(first, want) {
		t.Errorf("thread_update.lua closing ba = %q; want %q (closed after, open before)", first, want)
	}
}
