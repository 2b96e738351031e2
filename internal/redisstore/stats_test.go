package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

func TestStatsAfterKnownActions(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	// Fixed instants, so a midnight during the test moves nothing.
	now := time.Now().UTC()
	yesterday := now.Add(-24 * time.Hour)

	create := func(thread string, n int, st comment.State, at time.Time) comment.Comment {
		c := pendingDraft(ts.Store, thread, n, at)
		c.State = st
		if st == comment.StatePublished {
			c.PublishedAt = at
		}
		return mustCreate(t, ts.Store, c, comment.CreateOptions{})
	}
	pub1 := create(threadInShard("stats", 1), 1, comment.StatePublished, now)
	create(threadInShard("stats", 2), 2, comment.StatePublished, now)
	pend1 := create(threadInShard("stats", 3), 3, comment.StatePending, now)
	spam1 := create(threadInShard("stats", 4), 4, comment.StateSpam, now)
	pend2 := create(threadInShard("stats", 5), 5, comment.StatePending, yesterday)
	create(threadInShard("stats", 6), 6, comment.StatePublished, yesterday)

	decide := func(c comment.Comment, by string, a moderation.Action, to comment.State, from ...comment.State) {
		t.Helper()
		if _, err := ts.Decide(ctx, c.ID, a, comment.Decision{Moderator: by, At: now, To: to}, from, ""); err != nil {
			t.Fatalf("Decide(%s, %v by %s) = %v", c.ID, a, by, err)
		}
	}
	decide(pend1, "anna", moderation.Approve, comment.StatePublished, comment.StatePending)
	decide(pend1, "anna", moderation.Approve, comment.StatePublished, comment.StatePending) // repeated: not counted
	decide(pend2, "bert", moderation.MarkSpam, comment.StateSpam, comment.StatePending)     // spam of yesterday's
	decide(pub1, "anna", moderation.Reject, comment.StateRejected, comment.StatePublished)
	decide(spam1, "bert", moderation.MarkNotSpam, comment.StatePending, comment.StateSpam) // taken back: not spam
	decide(pub1, "carl", moderation.Reopen, comment.StatePending, comment.StateRejected)
	for _, e := range []moderation.AuditEvent{
		{Moderator: "anna", Action: moderation.AuditBan, Target: "bans/b1", At: now},
		{Moderator: "carl", Action: moderation.AuditUpdateThread, Target: "threads/stats-x", At: now},
		{Moderator: moderation.SystemModerator, Action: moderation.AuditReportTakedown, Target: "comments/" + pend1.ID, At: now},
	} {
		if err := ts.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit(%+v) = %v", e, err)
		}
	}

	got, err := ts.Stats(ctx, yesterday, 3)
	if err != nil {
		t.Fatalf("Stats = %v", err)
	}
	midnight := func(tm time.Time) time.Time { return tm.Truncate(24 * time.Hour) }
	want := moderation.Stats{
		Queue: []moderation.StateCount{
			{State: comment.StatePending, Count: 2}, // spam1 (not spam), pub1 (reopened)
			{State: comment.StateRejected, Count: 0},
			{State: comment.StateSpam, Count: 1}, // pend2
		},
		Moderators: []moderation.ModeratorStats{
			{Moderator: "anna", Approved: 1, Rejected: 1, Other: 1},
			{Moderator: "bert", MarkedSpam: 1, Other: 1},
			{Moderator: "carl", Other: 2},
		},
		Days: []moderation.DayStats{
			{Day: midnight(yesterday), Submitted: 2, Spam: 1},
			{Day: midnight(now), Submitted: 4, Spam: 0},
			{Day: midnight(now).Add(24 * time.Hour)},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats(from yesterday, 3 days) (-want +got):\n%s", diff)
	}

	// Counters live statsKeep after their day: a day that ended long ago leaves no key behind.
	key := ts.keys.stats(shardOfThread(pend2.ThreadID), dayOf(yesterday))
	if ttl, err := ts.rdb.TTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > statsKeep*time.Second {
		t.Errorf("TTL %s = %v, %v; want within (0, %ds]", key, ttl, err, statsKeep)
	}
	old := pendingDraft(ts.Store, "stats-old", 9, time.Now().AddDate(0, 0, -moderation.MaxStatsDays-5))
	mustCreate(t, ts.Store, old, comment.CreateOptions{})
	if n, err := ts.rdb.Exists(ctx, ts.keys.stats(shardOfThread(old.ThreadID), dayOf(old.CreatedAt))).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS counters of a day %d days ago = %d, %v; want 0", moderation.MaxStatsDays+5, n, err)
	}
	if _, err := ts.Stats(ctx, now, moderation.MaxStatsDays+1); err == nil {
		t.Errorf("Stats(%d days) = nil error, want one", moderation.MaxStatsDays+1)
	}
}

// An access request reads an author's comments and changes nothing: the audit log records it, but
// it is no moderation action, so it counts in no moderator's figures. Nor does training a spam
// model (an imported corpus, an evaluation's scratch model). An erasure does (other).
func TestStatsLeaveOutExports(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, e := range []moderation.AuditEvent{
		{Moderator: "root", Action: moderation.AuditExportAuthorData, Target: moderation.ErasureTarget, Reason: "1 comment", At: now},
		{Moderator: "root", Action: moderation.AuditExportAuthorData, Target: moderation.ErasureTarget, Reason: "1 comment", At: now},
		{Moderator: "root", Action: moderation.AuditEraseAuthorData, Target: moderation.ErasureTarget, Reason: "1 comment", At: now},
		{Moderator: "root", Action: moderation.AuditTrainSpam, Target: moderation.SiteSpamModelTarget, Reason: "500 examples (250 spam, 250 ham)", At: now},
		{Moderator: "root", Action: moderation.AuditTrainSpam, Target: moderation.SpamModelTarget("eval"), Reason: "2 examples (1 spam, 1 ham)", At: now},
		{Moderator: "root", Action: moderation.AuditDeleteSpamModel, Target: moderation.SpamModelTarget("eval"), At: now},
	} {
		if err := ts.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit(%+v) = %v", e, err)
		}
	}
	got, err := ts.Stats(ctx, now, 1)
	if err != nil {
		t.Fatalf("Stats = %v", err)
	}
	want := []moderation.ModeratorStats{{Moderator: "root", Other: 1}}
	if diff := cmp.Diff(want, got.Moderators); diff != "" {
		t.Errorf("Stats(today, 1 day).Moderators after two exports, an erasure and spam training (-want +got):\n%s", diff)
	}
}
