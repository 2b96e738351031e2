package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
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
	before, after, err := ts.UpdateThread(ctx, "", "ba", &pre, nil, "")
	if want := (comment.Thread{ID: "ba", Mode: pre}); err != nil || before != (comment.Thread{ID: "ba"}) || after != want {
		t.Errorf("UpdateThread(ba, mode pre) = %+v, %+v, %v; want the default thread, then %+v", before, after, err, want)
	}
	before, after, err = ts.UpdateThread(ctx, "", "ba", &pre, nil, "")
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

// UpdateThread records what it changed in the audit log in its own atomic step, in the
// moderator's name, worded as the thread before and after it read (a thread closed by age reads
// "true (by age)"), and counts it among the moderator's other actions of the day; a call that
// changes nothing records nothing, nor does a run the Redis client resends with the first run's
// mark.
func TestUpdateThreadAudits(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	s := closingStore(t, rdb, redistest.Prefix(t), time.Hour)
	ctx := context.Background()
	since := time.Now() // before the first change, each counted on the day it is made
	// Threads whose first comment is two hours old: closed by age.
	firstComment(t, s, "aged", 1, time.Now().Add(-2*time.Hour))
	firstComment(t, s, "aged-mode", 2, time.Now().Add(-2*time.Hour))
	pre, post, def := comment.ModePre, comment.ModePost, comment.ModeDefault
	steps := []struct {
		thread string
		mode   *comment.Mode
		closed *bool
		want   string // the reason recorded; "" for none
	}{
		{"t", &pre, nil, "moderation mode default -> pre"},
		{"t", &pre, nil, ""},
		{"t", nil, new(true), "closed false -> true"},
		{"t", nil, new(true), ""},
		{"t", &post, new(false), "moderation mode pre -> post; closed true -> false"},
		{"t", nil, new(false), ""},
		{"t", &def, nil, "moderation mode post -> default"},
		{"aged", nil, new(true), ""},
		{"aged", nil, new(false), "closed true (by age) -> false"},
		{"aged-mode", &pre, nil, "moderation mode default -> pre"},
	}
	var want []string
	for _, st := range steps {
		if _, _, err := s.UpdateThread(ctx, "anna", st.thread, st.mode, st.closed, ""); err != nil {
			t.Fatalf("UpdateThread(%s) = %v", st.thread, err)
		}
		if st.want != "" {
			want = append(want, "threads/"+st.thread+": "+st.want)
		}
	}
	// A resend of one call: the second run finds the call's mark and records nothing more.
	shard := shardOfThread("t")
	day := dayOf(time.Now())
	keys := []string{s.keys.thread(shard, "t"), s.keys.threadList(shard), s.keys.threadUpdateMark(shard, "resent"), s.keys.audit(shard), s.keys.stats(shard, day)}
	for range 2 {
		if err := s.threadUpdate.Run(ctx, rdb, keys, "", "1", micros(time.Now()), time.Hour.Microseconds(), "", "t", auditMarkTTL,
			"anna", moderatorField("anna", "o"), dayEnd(day).Add(statsKeep*time.Second).Unix()).Err(); err != nil {
			t.Fatalf("thread_update.lua closing t = %v", err)
		}
	}
	want = append(want, "threads/t: closed false -> true")

	events, _, err := s.ListAudit(ctx, moderation.AuditQuery{}, comment.Page{Size: 100})
	if err != nil {
		t.Fatalf("ListAudit = %v", err)
	}
	var got []string
	for _, e := range events {
		if e.Moderator != "anna" || e.Action != moderation.AuditUpdateThread {
			t.Errorf("audit entry %+v; want an update_thread entry by anna", e)
		}
		got = append(got, e.Target+": "+e.Reason)
	}
	// The threads' entries are in several shards' streams, whose merge orders entries of one
	// millisecond by stream: compare them sorted.
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit log after the thread updates, sorted (-want +got):\n%s", diff)
	}
	if got := statsSince(t, s, since).Moderators; len(got) != 1 || got[0] != (moderation.ModeratorStats{Moderator: "anna", Other: int64(len(want))}) {
		t.Errorf("Stats of the days since %v after %d recorded thread changes = %+v; want anna with as many other actions", since, len(want), got)
	}
}
