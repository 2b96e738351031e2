package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// newLearningWorkflowEnv starts one server with the whole moderator workflow and the spam
// learner, as cmd/commentd wires them, on a Redis of its own.
func newLearningWorkflowEnv(t *testing.T) *env {
	t.Helper()
	e := newStoreEnv(t, redistest.Start(t).Addr)
	keys := testKeys(t, e)
	opts := withWorkflow(moderation.Options{
		DefaultMode: comment.ModePost, Learner: spam.NewLearner(e.store, e.ring), Histories: e.store, LearnQueue: e.store,
	}, e.store)
	e.start(t, grpcserver.Options{
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Keys:       keys,
		Comments:   comment.NewService(e.store, e.ring, comment.Options{DefaultMode: comment.ModePost, Screeners: []comment.Screener{flagScreener{}}}),
		Moderation: moderation.NewService(e.store, e.ring, opts),
		Registerer: e.reg,
	})
	return e
}

// seqAction is one moderator call of the randomized sequence.
type seqAction int

const (
	seqApprove seqAction = iota
	seqReject
	seqSpam
	seqNotSpam
	seqReopen
)

// auditSeqAction maps the audit log's actions back to the calls that make them.
var auditSeqAction = map[commentdv1.AuditAction]seqAction{
	commentdv1.AuditAction_AUDIT_ACTION_APPROVE:       seqApprove,
	commentdv1.AuditAction_AUDIT_ACTION_REJECT:        seqReject,
	commentdv1.AuditAction_AUDIT_ACTION_MARK_SPAM:     seqSpam,
	commentdv1.AuditAction_AUDIT_ACTION_MARK_NOT_SPAM: seqNotSpam,
	commentdv1.AuditAction_AUDIT_ACTION_REOPEN:        seqReopen,
}

// call makes the moderator call a on comment name, with the reason "step <a>".
func (a seqAction) call(ctx context.Context, e *env, name string) (*commentdv1.ModeratedComment, error) {
	reason := fmt.Sprintf("step %d", int(a))
	switch a {
	case seqApprove:
		r, err := e.mod.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name, Reason: reason})
		return r.GetComment(), err
	case seqReject:
		r, err := e.mod.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name, Reason: reason})
		return r.GetComment(), err
	case seqSpam:
		r, err := e.mod.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name, Reason: reason})
		return r.GetComment(), err
	case seqNotSpam:
		r, err := e.mod.MarkNotSpam(ctx, &commentdv1.MarkNotSpamRequest{Name: name, Reason: reason})
		return r.GetComment(), err
	}
	r, err := e.mod.ReopenComment(ctx, &commentdv1.ReopenCommentRequest{Name: name, Reason: reason})
	return r.GetComment(), err
}

// TestRandomDecisionsAgreeEverywhere has two moderators take random decisions at once on many
// comments of several threads, from a fixed seed, then checks that every view of the comments
// agrees with their final states: the published lists and counts, the queues, the statistics,
// the spam model's class totals and the audit log.
func TestRandomDecisionsAgreeEverywhere(t *testing.T) {
	e := newLearningWorkflowEnv(t)
	site := e.as(t, siteKeyName)
	threads := []string{"seq-a", "seq-b", "seq-c", "seq-d"}
	const perThread = 12
	var all []string
	initial := map[string]commentdv1.State{}
	for i := range perThread * len(threads) {
		body := fmt.Sprintf("comment number %d", i)
		switch i % 3 {
		case 1:
			body = "HOLD " + body
		case 2:
			body = "SPAM " + body
		}
		r := validSubmission(threads[i%len(threads)], body)
		r.AuthorEmail = fmt.Sprintf("reader%d@example.org", i%5)
		resp, err := e.site.SubmitComment(site, r)
		if err != nil {
			t.Fatalf("called SubmitComment(%q): %v", body, err)
		}
		name := resp.GetComment().GetName()
		// The site is told PENDING for spam too: the moderator's view has the true state.
		c, err := ctxGet(e.as(t, modKeyName), e, name)
		if err != nil {
			t.Fatalf("called GetComment(%s): %v", name, err)
		}
		all = append(all, name)
		initial[name] = c.GetComment().GetState()
	}

	mods := []string{modKeyName, adminKeyName}
	var wg sync.WaitGroup
	for m, who := range mods {
		ctx := e.as(t, who)
		rng := rand.New(rand.NewPCG(20260301, uint64(m)))
		wg.Go(func() {
			for range 300 {
				name := all[rng.IntN(len(all))]
				a := seqAction(rng.IntN(5))
				_, err := a.call(ctx, e, name)
				if err == nil {
					continue
				}
				if code, reason := codeReason(err); code != codes.FailedPrecondition || reason != grpcserver.ReasonInvalidStateTransition {
					t.Errorf("called action %d on %s as %s, got %v (%v %q), want success or FailedPrecondition %q",
						a, name, who, err, code, reason, grpcserver.ReasonInvalidStateTransition)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	mod := e.as(t, modKeyName)
	final := map[string]*commentdv1.ModeratedComment{}
	byState := map[commentdv1.State][]string{}
	for _, name := range all {
		c, err := ctxGet(mod, e, name)
		if err != nil {
			t.Fatalf("called GetComment(%s): %v", name, err)
		}
		final[name] = c
		byState[c.GetComment().GetState()] = append(byState[c.GetComment().GetState()], name)
	}

	// The site's view: each thread's published comments, listed and counted.
	counts, err := e.site.CountComments(site, &commentdv1.CountCommentsRequest{ThreadIds: threads})
	if err != nil {
		t.Fatalf("called CountComments(%v): %v", threads, err)
	}
	for i, th := range threads {
		var want []string
		for _, name := range byState[commentdv1.State_STATE_PUBLISHED] {
			if final[name].GetComment().GetThreadId() == th {
				want = append(want, name)
			}
		}
		var got []string
		req := &commentdv1.ListCommentsRequest{ThreadId: th, PageSize: 5}
		for range 50 {
			resp, err := e.site.ListComments(site, req)
			if err != nil {
				t.Fatalf("called ListComments(%s): %v", th, err)
			}
			for _, c := range resp.GetComments() {
				got = append(got, c.GetName())
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("called ListComments(%s) after the sequence, got %v, want the published %v", th, got, want)
		}
		if n := counts.GetCounts()[i].GetPublished(); n != int64(len(want)) {
			t.Errorf("called CountComments(%s) after the sequence, got %d, want %d", th, n, len(want))
		}
	}

	// The moderators' view: each queue, paged, and its depth in the statistics.
	// Two days, so a run across midnight UTC still sees every submission and decision.
	stats, err := e.mod.GetStats(mod, &commentdv1.GetStatsRequest{Days: 2})
	if err != nil {
		t.Fatalf("called GetStats: %v", err)
	}
	for _, st := range []commentdv1.State{commentdv1.State_STATE_PENDING, commentdv1.State_STATE_REJECTED, commentdv1.State_STATE_SPAM} {
		want := slices.Sorted(slices.Values(byState[st]))
		if got := listQueue(t, e, &commentdv1.ListQueueRequest{State: st, PageSize: 4}); !slices.Equal(got, want) {
			t.Errorf("called ListQueue(%v) after the sequence, got %v, want %v", st, got, want)
		}
		for _, th := range threads {
			var wantThread []string
			for _, name := range want {
				if final[name].GetComment().GetThreadId() == th {
					wantThread = append(wantThread, name)
				}
			}
			if got := listQueue(t, e, &commentdv1.ListQueueRequest{State: st, ThreadId: th, PageSize: 3}); !slices.Equal(got, wantThread) {
				t.Errorf("called ListQueue(%v, thread %s) after the sequence, got %v, want %v", st, th, got, wantThread)
			}
		}
		for _, q := range stats.GetQueue() {
			if q.GetState() == st && q.GetCount() != int64(len(want)) {
				t.Errorf("called GetStats after the sequence, got queue %v = %d, want %d", st, q.GetCount(), len(want))
			}
		}
	}
	var spamDays int64
	for _, d := range stats.GetDays() {
		spamDays += d.GetSpam()
	}
	if want := int64(len(byState[commentdv1.State_STATE_SPAM])); spamDays != want {
		t.Errorf("called GetStats after the sequence, got %d spam in the daily figures, want %d (the comments spam now)", spamDays, want)
	}

	// The spam model: one spam example per comment a moderator left spam, one ham example per
	// comment a moderator left published.
	var wantSpam, wantHam int64
	for _, c := range final {
		if c.GetDecision() == nil {
			continue
		}
		switch c.GetComment().GetState() {
		case commentdv1.State_STATE_SPAM:
			wantSpam++
		case commentdv1.State_STATE_PUBLISHED:
			wantHam++
		}
	}
	tot, err := e.store.ModelCounts("").TokenCounts(context.Background(), nil, nil, nil)
	if err != nil {
		t.Fatalf("read the site model's totals: %v", err)
	}
	if tot.Spam != wantSpam || tot.Ham != wantHam {
		t.Errorf("read the site model after the sequence, got spam %d ham %d, want %d and %d", tot.Spam, tot.Ham, wantSpam, wantHam)
	}

	// The authors' records: what moderators left each author's comments in.
	wantHist := map[string]*commentdv1.AuthorHistory{}
	for _, c := range final {
		h := wantHist[c.GetAuthorKey()]
		if h == nil {
			h = &commentdv1.AuthorHistory{}
			wantHist[c.GetAuthorKey()] = h
		}
		if c.GetDecision() == nil {
			continue
		}
		switch c.GetComment().GetState() {
		case commentdv1.State_STATE_PUBLISHED:
			h.Approved++
		case commentdv1.State_STATE_REJECTED:
			h.Rejected++
		case commentdv1.State_STATE_SPAM:
			h.Spam++
		}
	}
	for _, c := range final {
		w, g := wantHist[c.GetAuthorKey()], c.GetAuthorHistory()
		if g.GetApproved() != w.GetApproved() || g.GetRejected() != w.GetRejected() || g.GetSpam() != w.GetSpam() {
			t.Errorf("called GetComment(%s) after the sequence, got author history %v, want %v", c.GetComment().GetName(), g, w)
		}
	}

	// The audit log: per comment, a chain of changes from its first state to its last, and per
	// moderator as many decisions as the statistics count.
	events := auditPages(t, mod, e, &commentdv1.ListAuditEventsRequest{}, 100)
	chains := map[string][]*commentdv1.AuditEvent{}
	for _, ev := range slices.Backward(events) {
		chains[ev.GetTarget()] = append(chains[ev.GetTarget()], ev)
	}
	for _, name := range all {
		st := initial[name]
		for _, ev := range chains[name] {
			if want := fmt.Sprintf("step %d", int(auditSeqAction[ev.GetAction()])); !slices.Contains(mods, ev.GetModerator()) || ev.GetReason() != want || ev.GetCreateTime() == nil {
				t.Errorf("audit log of %s: got %v, want one of %v as moderator, reason %q and a time", name, ev, mods, want)
			}
			if ev.GetFromState() != st {
				t.Errorf("audit log of %s: %v from %v, want from %v (the state before)", name, ev.GetAction(), ev.GetFromState(), st)
			}
			st = ev.GetToState()
		}
		if want := final[name].GetComment().GetState(); st != want {
			t.Errorf("audit log of %s ends in %v, want the comment's state %v", name, st, want)
		}
	}
	perMod := auditTallies(events)
	checkStatsMatchAudit(t, stats, perMod)
	if len(stats.GetModerators()) != len(perMod) {
		t.Errorf("called GetStats after the sequence, got %d moderators, want %d", len(stats.GetModerators()), len(perMod))
	}
}

// listQueue reads every page of ListQueue for req and returns the names, sorted.
func listQueue(t *testing.T, e *env, req *commentdv1.ListQueueRequest) []string {
	t.Helper()
	var got []string
	for range 100 {
		resp, err := e.mod.ListQueue(e.as(t, modKeyName), req)
		if err != nil {
			t.Fatalf("called ListQueue(%v): %v", req, err)
		}
		got = append(got, names(resp.GetComments())...)
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	slices.Sort(got)
	return got
}
