package redisstore

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
)

// workflowRun drives every moderator-workflow operation of the store once, on whatever Redis s
// is on, and fails the test if one of them fails or gives a wrong answer. The Cluster and
// miniredis tests use it to prove the scripts run there: Redis Cluster refuses a script that
// touches keys of another slot, and miniredis lacks some commands.
func workflowRun(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := watch(t, s)
	now := time.Now().UTC()

	var held []comment.Comment
	for shard := range numShards {
		c := pendingDraft(s, threadInShard("wf", shard), shard, now.Add(time.Duration(shard)*time.Millisecond))
		held = append(held, mustCreate(t, s, c, comment.CreateOptions{}))
	}
	// Events published on different Cluster nodes may arrive in any order.
	var heldIDs []string
	for _, e := range nextEvents(t, events, len(held)) {
		if e.Kind == moderation.EventHeld {
			heldIDs = append(heldIDs, e.CommentID)
		}
	}
	slices.Sort(heldIDs)
	if want := slices.Sorted(slices.Values(ids(held))); !slices.Equal(heldIDs, want) {
		t.Errorf("held events for %v, want one for each of %v", heldIDs, want)
	}

	cs, err := s.Claim(ctx, "anna", moderation.ClaimQuery{State: comment.StatePending, Count: numShards / 2, Lease: time.Minute}, now)
	if err != nil || len(cs) != numShards/2 || cs[0].ID != held[0].ID {
		t.Fatalf("Claim(anna, %d) = %v, %v; want the %d oldest", numShards/2, ids(cs), err, numShards/2)
	}
	others, err := s.Claim(ctx, "bert", moderation.ClaimQuery{State: comment.StatePending, ThreadID: held[numShards-1].ThreadID, Count: 5, Lease: time.Minute}, now)
	if err != nil || len(others) != 1 || others[0].ID != held[numShards-1].ID {
		t.Errorf("Claim(bert, thread of the newest) = %v, %v; want [%s]", ids(others), err, held[numShards-1].ID)
	}
	if err := s.Release(ctx, "anna", ids(cs[1:])); err != nil {
		t.Errorf("Release(anna) = %v", err)
	}

	for _, c := range held {
		if _, err := s.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: now, To: comment.StatePublished}, approveFrom, ""); err != nil {
			t.Fatalf("Decide(approve %s) = %v", c.ID, err)
		}
	}
	// Every shard lists its decision as not yet learnt, and lets it go once learnt.
	unlearnt, err := s.UnlearntDecisions(ctx, now.Add(time.Second), 2*numShards)
	if err != nil || len(unlearnt) != numShards {
		t.Fatalf("UnlearntDecisions = %v, %v; want the %d decisions", unlearnt, err, numShards)
	}
	for _, u := range unlearnt {
		if err := s.MarkLearnt(ctx, u.ID, u.At); err != nil {
			t.Fatalf("MarkLearnt(%s) = %v", u.ID, err)
		}
	}
	if unlearnt, err := s.UnlearntDecisions(ctx, now.Add(time.Second), 2*numShards); err != nil || len(unlearnt) != 0 {
		t.Errorf("after MarkLearnt, UnlearntDecisions = %v, %v; want none", unlearnt, err)
	}
	nextEvents(t, events, len(held)) // decided
	for i := range 2 {
		if _, _, err := s.AddReport(ctx, held[3].ID, moderation.Report{Reason: "rude", At: now}, string(rune('a'+i)), 2); err != nil {
			t.Fatalf("AddReport = %v", err)
		}
	}
	if got := nextEvents(t, events, 1); got[0].Kind != moderation.EventReported {
		t.Errorf("event after the second report = %+v, want reported", got[0])
	}
	if sums, err := s.ReportSummaries(ctx, ids(held[:4])); err != nil || sums[3].Count != 2 || sums[0].Count != 0 {
		t.Errorf("ReportSummaries = %+v, %v; want 2 reports on the fourth comment only", sums, err)
	}
	reported, _, err := s.ListQueue(ctx, moderation.Query{State: comment.StatePending, ReasonCode: moderation.ReasonReported}, comment.Page{Size: 5})
	if err != nil || len(reported) != 1 || reported[0].ID != held[3].ID {
		t.Errorf("ListQueue(reason REPORTED) = %v, %v; want [%s]", ids(reported), err, held[3].ID)
	}

	for _, e := range []moderation.AuditEvent{
		{Moderator: "anna", Action: moderation.AuditBan, Target: "bans/x", At: now},
		{Moderator: "anna", Action: moderation.AuditUpdateThread, Target: "threads/" + held[5].ThreadID, At: now},
	} {
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit(%+v) = %v", e, err)
		}
	}
	// Bans and word-list entries, recorded by their own scripts in their slots.
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	ban := ratelimit.RangeTarget(netip.MustParsePrefix("198.51.100.0/24"))
	if _, err := bans.Ban(ctx, ratelimit.BanRequest{Target: ban, Reason: "flood", Moderator: "anna"}); err != nil {
		t.Fatalf("Ban(%v) = %v", ban, err)
	}
	if err := bans.Unban(ctx, ban, "anna"); err != nil {
		t.Fatalf("Unban(%v) = %v", ban, err)
	}
	fs := spam.NewFilters(s, spamKeyring(t), spam.FiltersOptions{})
	f, _, err := fs.Create(ctx, "anna", spam.FilterListSpam, spam.FilterWord, "casino")
	if err != nil {
		t.Fatalf("Create(spam, word casino) = %v", err)
	}
	if err := fs.Delete(ctx, "anna", f.ID); err != nil {
		t.Fatalf("Delete(%s) = %v", f.ID, err)
	}
	if got := listAudit(t, s, moderation.AuditQuery{Target: ban.Name()}, 10); len(got) != 2 || got[0].Action != moderation.AuditUnban || got[1].Action != moderation.AuditBan {
		t.Errorf("ListAudit(target %s) = %+v; want the unban, then the ban", ban.Name(), got)
	}
	if got := listAudit(t, s, moderation.AuditQuery{Target: "filters/" + f.ID}, 10); len(got) != 2 || got[0].Action != moderation.AuditDeleteFilter || got[1].Action != moderation.AuditCreateFilter {
		t.Errorf("ListAudit(target filters/%s) = %+v; want the deletion, then the addition", f.ID, got)
	}

	const moreActions = 6 // the two appended, the ban and its lifting, the entry and its removal
	all, _, err := s.ListAudit(ctx, moderation.AuditQuery{}, comment.Page{Size: 100})
	if err != nil || len(all) != len(held)+1+moreActions {
		t.Errorf("ListAudit = %d events, %v; want %d", len(all), err, len(held)+1+moreActions)
	}
	// The bans and word-list entries are dated by the clock when they are made, which may be
	// past midnight: read every day since now.
	st := statsSince(t, s, now)
	var submitted int64
	for _, d := range st.Days {
		submitted += d.Submitted
	}
	if len(st.Moderators) != 1 || st.Moderators[0].Approved != int64(len(held)) || st.Moderators[0].Other != moreActions || submitted != int64(len(held)) {
		t.Errorf("Stats of the days since %v = %+v; want anna's %d approvals and %d others, %d submitted", now, st, len(held), moreActions, len(held))
	}
}

func TestClusterWorkflow(t *testing.T) {
	t.Parallel()
	s := clusterStore(t, redistest.StartCluster(t))
	workflowRun(t, s)
}

func TestMiniredisWorkflow(t *testing.T) {
	t.Parallel()
	s, _ := miniredisStore(t)
	workflowRun(t, s)
}
