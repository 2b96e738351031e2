package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
)

// resendOnce is a go-redis hook that sends the first call holding a command named one of names
// with arg among its arguments (a single command, a pipeline or a MULTI/EXEC transaction) twice,
// as go-redis does when the reply of the first sending was lost after Redis ran it: Redis runs the
// call twice and the caller sees the second reply. A first sending that found the script missing
// from Redis' cache (NOSCRIPT: it ran nothing) does not count.
type resendOnce struct {
	names []string
	arg   any
	done  atomic.Bool
}

func (h *resendOnce) matches(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if slices.Contains(h.names, c.Name()) && hasArg(c.Args(), h.arg) {
			return true
		}
	}
	return false
}

// hasArg reports whether args holds want, reading a *string as its string, as go-redis writes it
// (the store passes most string arguments of its scripts that way).
func hasArg(args []any, want any) bool {
	return slices.ContainsFunc(args, func(a any) bool {
		if p, ok := a.(*string); ok && p != nil {
			a = *p
		}
		return a == want
	})
}

func (h *resendOnce) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *resendOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.done.Load() || !h.matches([]redis.Cmder{cmd}) {
			return next(ctx, cmd)
		}
		if err := next(ctx, cmd); isNoScript(err) {
			return err
		}
		h.done.Store(true)
		return next(ctx, cmd)
	}
}

func (h *resendOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.done.Load() || !h.matches(cmds) {
			return next(ctx, cmds)
		}
		if err := next(ctx, cmds); isNoScript(err) {
			return err
		}
		h.done.Store(true)
		return next(ctx, cmds)
	}
}

// resend makes the first call of rdb that holds a command named one of names with arg among its
// arguments run twice (see resendOnce), and returns a function that reports whether it has.
func resend(rdb *redis.Client, arg any, names ...string) func() bool {
	h := &resendOnce{names: names, arg: arg}
	rdb.AddHook(h)
	return h.done.Load
}

// scriptNames are the commands a script call is sent as.
var scriptNames = []string{"evalsha", "eval"}

// TestReportResent: the Redis client resending a report after losing its reply must not count it
// twice, list it twice or take the comment down one report early: the resent call finds its
// reporter in the comment's set of reporters and changes nothing.
func TestReportResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const threshold = 2
	c := mustCreate(t, ts.Store, draft(ts.Store, "report-resent", 1), comment.CreateOptions{})
	shard, _ := shardOfID(c.ID)
	sent := resend(ts.rdb, ts.keys.reportCounts(shard, c.ID), scriptNames...)

	got, n, err := ts.AddReport(ctx, c.ID, moderation.Report{Reason: "rude", At: t0}, "reader-1", threshold)
	if !sent() {
		t.Fatal("AddReport was not resent: the test shows nothing")
	}
	if err != nil || n != 1 || got.State != comment.StatePublished {
		t.Errorf("AddReport(%s, reader-1, threshold %d), resent = state %v, count %d, %v; want %v, 1, no error", c.ID, threshold, got.State, n, err, comment.StatePublished)
	}
	sums, err := ts.ReportSummaries(ctx, []string{c.ID})
	if err != nil {
		t.Fatalf("ReportSummaries(%s) = %v", c.ID, err)
	}
	if sums[0].Count != 1 || len(sums[0].Recent) != 1 {
		t.Errorf("ReportSummaries(%s) after one report resent = count %d, %d listed; want 1 and 1", c.ID, sums[0].Count, len(sums[0].Recent))
	}
	if st, err := ts.Get(ctx, c.ID); err != nil || st.State != comment.StatePublished {
		t.Errorf("Get(%s) after one report resent (threshold %d) = state %v, %v; want %v", c.ID, threshold, st.State, err, comment.StatePublished)
	}
}

// TestAppendAuditResent: an action appended to the audit log by AppendAudit (an erasure, the spam
// retention, a spam model's training or deletion, an export) is one entry and counts once in the
// moderator's daily counters, even when the Redis client resends the call after losing its reply.
func TestAppendAuditResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	at := time.Now()
	sent := resend(ts.rdb, ts.keys.audit(auditShard), "xadd", "evalsha", "eval")

	e := moderation.AuditEvent{Moderator: "anna", Action: moderation.AuditEraseAuthorData, Target: moderation.ErasureTarget, Reason: "3 comments", At: at}
	if err := ts.AppendAudit(ctx, e); err != nil {
		t.Fatalf("AppendAudit(%+v), resent = %v", e, err)
	}
	if !sent() {
		t.Fatal("AppendAudit was not resent: the test shows nothing")
	}
	if got := listAudit(t, ts.Store, moderation.AuditQuery{Target: e.Target}, 10); len(got) != 1 {
		t.Errorf("ListAudit(target %s) after one AppendAudit resent = %d entries, want 1", e.Target, len(got))
	}
	key := ts.keys.stats(auditShard, dayOf(at))
	field := moderatorField(e.Moderator, counterLetter(e.Action))
	if n, err := ts.rdb.HGet(ctx, key, field).Int(); err != nil || n != 1 {
		t.Errorf("HGET %s %s after one AppendAudit resent = %d, %v; want 1", key, field, n, err)
	}
}

// TestUnbanResent: a ban lifted by a call the Redis client resends after losing its reply is
// lifted, and the moderator is told so (not that there was no ban, which would also leave the
// unban out of the audit log); a real second unban still finds none.
func TestUnbanResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	since := time.Now() // before the first action: wantAudited counts from its day
	bans := ratelimit.NewBans(ts.Store, ratelimit.BansOptions{})
	ctx := context.Background()
	target := rangeTarget("2001:db8:99::/48")
	mustBan(t, bans, ratelimit.BanRequest{Target: target, Reason: "flood", Moderator: "ann"})
	sent := resend(ts.rdb, target.String(), scriptNames...)

	if err := bans.Unban(ctx, target, "ann"); err != nil {
		t.Errorf("Unban(%v), resent = %v, want no error", target, err)
	}
	if !sent() {
		t.Fatal("Unban was not resent: the test shows nothing")
	}
	if got, _, err := ts.ListBans(ctx, time.Now(), comment.Page{}); err != nil || len(got) != 0 {
		t.Errorf("ListBans after Unban(%v), resent = %v, %v; want none", target, got, err)
	}
	if err := bans.Unban(ctx, target, "ann"); !errors.Is(err, ratelimit.ErrBanNotFound) {
		t.Errorf("Unban(%v) again = %v, want ratelimit.ErrBanNotFound", target, err)
	}
	wantAudited(t, ts.Store, since, "after a ban and an Unban resent", target.Name(), "ann", 2, "unban by ann: ", "ban by ann: flood")
}

// TestPutBanResent: a ban stored by a call the Redis client resends after losing its reply is one
// entry in the audit log and counts once in the moderator's daily counters: the resent script
// finds the call's mark.
func TestPutBanResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	since := time.Now() // before the first action: wantAudited counts from its day
	bans := ratelimit.NewBans(ts.Store, ratelimit.BansOptions{})
	target := rangeTarget("2001:db8:98::/48")
	sent := resend(ts.rdb, target.String(), scriptNames...)
	mustBan(t, bans, ratelimit.BanRequest{Target: target, Reason: "flood", Moderator: "ann"})
	if !sent() {
		t.Fatal("Ban was not resent: the test shows nothing")
	}
	wantAudited(t, ts.Store, since, "after one Ban resent", target.Name(), "ann", 1, "ban by ann: flood")
}

// TestPutBanResentWithRequestID: with a request id, the resent script finds the request's record
// written by the first run, and answers with the ban that run stored, not as one it replaced.
func TestPutBanResentWithRequestID(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	since := time.Now() // before the first action: wantAudited counts from its day
	bans := ratelimit.NewBans(ts.Store, ratelimit.BansOptions{})
	target := rangeTarget("2001:db8:99::/48")
	sent := resend(ts.rdb, target.String(), scriptNames...)
	b, replaced, err := bans.Replace(context.Background(), ratelimit.BanRequest{Target: target, Reason: "flood", Moderator: "ann", RequestID: "r-1"})
	if !sent() {
		t.Fatal("Replace was not resent: the test shows nothing")
	}
	if err != nil || replaced != nil || b.Target != target || b.Reason != "flood" {
		t.Errorf("Replace(%v, request id r-1), resent = %v, replaced %v, %v; want the ban, nothing replaced", target, b, replaced, err)
	}
	wantAudited(t, ts.Store, since, "after one Ban with a request id resent", target.Name(), "ann", 1, "ban by ann: flood")
}

// wantAudited fails the test unless the audit log of target holds exactly want ("action by
// moderator: reason", newest first) and moderator's other actions since the test began (at
// since, read before its first action) number others.
func wantAudited(t *testing.T, s *Store, since time.Time, when, target, moderator string, others int64, want ...string) {
	t.Helper()
	var got []string
	for _, e := range listAudit(t, s, moderation.AuditQuery{Target: target}, 10) {
		got = append(got, string(e.Action)+" by "+e.Moderator+": "+e.Reason)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s, ListAudit(target %s) = %q; want %q", when, target, got, want)
	}
	var n int64
	for _, m := range statsSince(t, s, since).Moderators {
		if m.Moderator == moderator {
			n = m.Other
		}
	}
	if n != others {
		t.Errorf("%s, Stats of the days since %v count %d other actions of %s; want %d", when, since, n, moderator, others)
	}
}

// TestCreateFilterResent: a word-list entry added by a call the Redis client resends after losing
// its reply finds its own entry the second time; it is still this call's addition (the audit log
// records it), not an entry that existed before.
func TestCreateFilterResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	since := time.Now() // before the first action: wantAudited counts from its day
	ctx := context.Background()
	keys := spamKeyring(t)
	fs := spam.NewFilters(ts.Store, keys, spam.FiltersOptions{})
	want, err := spam.NewFilter(keys, "filter", spam.FilterListHold, spam.FilterWord, "resent")
	if err != nil {
		t.Fatalf("NewFilter(hold, word resent) = %v", err)
	}
	sent := resend(ts.rdb, want.ID, scriptNames...)

	f, created, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterWord, "resent")
	if !sent() {
		t.Fatal("Create was not resent: the test shows nothing")
	}
	if err != nil || f.ID != want.ID || !created {
		t.Errorf("Create(hold, word resent), resent = %+v, created %v, %v; want entry %s, created", f, created, err, want.ID)
	}
	if _, created, err := fs.Create(ctx, "other-mod", spam.FilterListHold, spam.FilterWord, "Resent"); err != nil || created {
		t.Errorf("Create(hold, word Resent) again = created %v, %v; want the existing entry, not created", created, err)
	}
	wantAudited(t, ts.Store, since, "after one Create resent and one of an entry that existed", "filters/"+want.ID, "mod", 1, "create_filter by mod: hold list, word")
}

// TestDeleteFilterResent: a word-list entry deleted by a call the Redis client resends after
// losing its reply is deleted, and the moderator is told so (not that there was no such entry,
// which would also leave the deletion out of the audit log), and the lists' version moves once.
func TestDeleteFilterResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	since := time.Now() // before the first action: wantAudited counts from its day
	ctx := context.Background()
	fs := spam.NewFilters(ts.Store, spamKeyring(t), spam.FiltersOptions{})
	f, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterWord, "resent")
	if err != nil {
		t.Fatalf("Create(hold, word resent) = %v", err)
	}
	before, err := ts.filterVersion(ctx)
	if err != nil {
		t.Fatalf("read the word lists' version: %v", err)
	}
	ts.versionStep = func() int64 { return 1 } // a change moves it by one: counted below
	sent := resend(ts.rdb, f.ID, scriptNames...)

	if err := fs.Delete(ctx, "anna", f.ID); err != nil {
		t.Errorf("Delete(%s), resent = %v, want no error", f.ID, err)
	}
	if !sent() {
		t.Fatal("Delete was not resent: the test shows nothing")
	}
	if v, err := ts.filterVersion(ctx); err != nil || v != before+1 {
		t.Errorf("the word lists' version after one Delete resent = %d, %v; want %d", v, err, before+1)
	}
	if all, _, err := fs.List(ctx, spam.FilterListAny, comment.Page{}); err != nil || len(all) != 0 {
		t.Errorf("List(any) after Delete(%s), resent = %v, %v; want none", f.ID, all, err)
	}
	if err := fs.Delete(ctx, "anna", f.ID); !errors.Is(err, spam.ErrFilterNotFound) {
		t.Errorf("Delete(%s) again = %v, want spam.ErrFilterNotFound", f.ID, err)
	}
	wantAudited(t, ts.Store, since, "after one Delete resent", "filters/"+f.ID, "anna", 1, "delete_filter by anna: ", "create_filter by mod: hold list, word")
}

// TestDeleteModelResent: a scratch model deleted by a call the Redis client resends after losing
// its reply is deleted, and the caller is told so, not that there was no such model; a real second
// deletion still finds none.
func TestDeleteModelResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	if _, err := ts.TrainModel(ctx, "eval-resent", "", labelled(trainSpamBodies, true)); err != nil {
		t.Fatalf("TrainModel(eval-resent) = %v", err)
	}
	sent := resend(ts.rdb, ts.keys.spamTotals("eval-resent"), append([]string{"unlink"}, scriptNames...)...)

	if err := ts.DeleteModel(ctx, "eval-resent"); err != nil {
		t.Errorf("DeleteModel(eval-resent), resent = %v, want no error", err)
	}
	if !sent() {
		t.Fatal("DeleteModel was not resent: the test shows nothing")
	}
	if n, err := ts.rdb.Exists(ctx, ts.keys.spamCounts("eval-resent"), ts.keys.spamTotals("eval-resent")).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS on the model's counts and totals after DeleteModel, resent = %d, %v; want 0", n, err)
	}
	if err := ts.DeleteModel(ctx, "eval-resent"); !errors.Is(err, spam.ErrModelNotFound) {
		t.Errorf("DeleteModel(eval-resent) again = %v, want spam.ErrModelNotFound", err)
	}
}

// TestTrainStepResentReportsNothingRepeated: a training step the Redis client resends after losing
// its reply is applied once, and the call does not report its examples as trained by an earlier
// call (TrainSpamResponse.already_trained): this call trained them.
func TestTrainStepResentReportsNothingRepeated(t *testing.T) {
	t.Parallel()
	for _, requestID := range []string{"", "req-1"} {
		t.Run("request id "+strconv.Quote(requestID), func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			ctx := context.Background()
			xs := labelled(trainSpamBodies, true)
			sent := resend(ts.rdb, ts.keys.spamTotals("eval-t"), scriptNames...)

			repeated, err := ts.TrainModel(ctx, "eval-t", requestID, xs)
			if !sent() {
				t.Fatal("the training step was not resent: the test shows nothing")
			}
			if err != nil || repeated != 0 {
				t.Errorf("TrainModel(eval-t, request id %q, %d examples), its step resent = %d repeated, %v; want 0, no error", requestID, len(xs), repeated, err)
			}
			if got := countsOf(t, ts.ModelCounts("eval-t"), nil).Totals; got.Spam != int64(len(xs)) {
				t.Errorf("spam messages trained after one step resent = %d, want %d", got.Spam, len(xs))
			}
			// The same call sent again by the caller: every example was trained by the first.
			if requestID != "" {
				if repeated, err := ts.TrainModel(ctx, "eval-t", requestID, xs); err != nil || repeated != len(xs) {
					t.Errorf("TrainModel(eval-t, request id %q) again = %d repeated, %v; want %d", requestID, repeated, err, len(xs))
				}
			}
		})
	}
}

// TestPurgeSpamResent: a spam comment the retention deletes in a call the Redis client resends
// after losing its reply is counted as deleted: the resent call finds it gone, but the first
// sending deleted it for this run, and the audit log's count says how many went.
func TestPurgeSpamResent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := draft(ts.Store, "purge-resent", 1)
	c.State = comment.StateSpam
	c = mustCreate(t, ts.Store, c, comment.CreateOptions{})
	sent := resend(ts.rdb, c.ID, scriptNames...)

	n, err := ts.PurgeSpam(ctx, time.Now(), 10)
	if !sent() {
		t.Fatal("the purge was not resent: the test shows nothing")
	}
	if err != nil || n != 1 {
		t.Errorf("PurgeSpam(now, 10) of one old spam comment, resent = %d, %v; want 1, no error", n, err)
	}
	if _, err := ts.Get(ctx, c.ID); err == nil {
		t.Errorf("Get(%s) after PurgeSpam = found, want gone", c.ID)
	}
}
