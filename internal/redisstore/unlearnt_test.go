package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
)

// crashingLearner stands for a server that stops after storing a decision and before learning
// from it: its Learn fails while crashed is set, and otherwise passes to the real learner.
type crashingLearner struct {
	moderation.Learner
	crashed bool
}

func (l *crashingLearner) Learn(ctx context.Context, c comment.Comment) error {
	if l.crashed {
		return errors.New("the server stopped")
	}
	return l.Learner.Learn(ctx, c)
}

// TestLearnPendingAfterCrash: decisions stored without their learning (the server stopped in
// between) stay listed as not learnt, in every shard; LearnPending, run later by any server,
// teaches the spam model and the author's record what the comments' states say and clears the
// list, and a decision learnt at once is never listed past its Decide.
func TestLearnPendingAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	keys, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	comments := comment.NewService(ts.Store, keys, comment.Options{DefaultMode: comment.ModePre})
	learner := &crashingLearner{Learner: spam.NewLearner(ts.Store, keys)}
	mod := moderation.NewService(ts.Store, keys, moderation.Options{DefaultMode: comment.ModePre, Learner: learner, Histories: ts.Store, LearnQueue: ts.Store})
	var cs []comment.Comment
	for i := range 4 {
		c, err := comments.Submit(ctx, comment.Submission{ThreadID: threadInShard("learn", i), AuthorName: "Reader", AuthorEmail: "reader@example.com",
			Body: fmt.Sprintf("buy cheap watches now, offer %d", i), ClientIP: "203.0.113.5", UserAgent: "Browser/1.0"})
		if err != nil {
			t.Fatalf("Submit = %v", err)
		}
		cs = append(cs, c)
	}
	// The first is decided and learnt at once: nothing is left listed.
	if _, err := mod.Decide(ctx, "anna", moderation.MarkSpam, cs[0].ID, "", ""); err != nil {
		t.Fatalf("Decide = %v", err)
	}
	if ds, err := ts.UnlearntDecisions(ctx, time.Now().Add(time.Hour), 10); err != nil || len(ds) != 0 {
		t.Fatalf("after a decision learnt at once, UnlearntDecisions = %v, %v; want none", ds, err)
	}
	// The others are stored while the server "crashes" before learning.
	learner.crashed = true
	for _, c := range cs[1:] {
		if _, err := mod.Decide(ctx, "anna", moderation.MarkSpam, c.ID, "", ""); err == nil {
			t.Fatalf("Decide(%s) with a crashing learner = nil error, want the learner's", c.ID)
		}
	}
	learner.crashed = false
	ds, err := ts.UnlearntDecisions(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(ds) != 3 {
		t.Fatalf("UnlearntDecisions = %v, %v; want the 3 decisions not learnt", ds, err)
	}
	for i, d := range ds {
		if d.ID != cs[i+1].ID || (i > 0 && d.At.Before(ds[i-1].At)) {
			t.Errorf("UnlearntDecisions[%d] = %+v, want %s, oldest first", i, d, cs[i+1].ID)
		}
	}
	if ds, err := ts.UnlearntDecisions(ctx, ds[0].At.Add(-time.Microsecond), 10); err != nil || len(ds) != 0 {
		t.Errorf("UnlearntDecisions before the first = %v, %v; want none", ds, err)
	}
	if ds, err := ts.UnlearntDecisions(ctx, time.Now().Add(time.Hour), 2); err != nil || len(ds) != 2 {
		t.Errorf("UnlearntDecisions(limit 2) = %v, %v; want 2", ds, err)
	}
	history := func() comment.AuthorHistory {
		t.Helper()
		hs, err := ts.AuthorHistories(ctx, []string{cs[0].AuthorKey})
		if err != nil || len(hs) != 1 {
			t.Fatalf("AuthorHistories = %v, %v", hs, err)
		}
		return hs[0]
	}
	if h := history(); h.Spam != 1 {
		t.Fatalf("before LearnPending the author's record = %+v; want 1 spam", h)
	}
	// A decision younger than the grace is left to its own Decide.
	if n, err := mod.LearnPending(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("LearnPending(grace 1h) = %d, %v; want 0", n, err)
	}
	if n, err := mod.LearnPending(ctx, 0); err != nil || n != 3 {
		t.Fatalf("LearnPending = %d, %v; want 3", n, err)
	}
	if h := history(); h.Spam != 4 {
		t.Errorf("after LearnPending the author's record = %+v; want 4 spam", h)
	}
	tot, err := ts.ModelCounts("").TokenCounts(ctx, nil, nil, nil)
	if err != nil || tot.Spam != 4 {
		t.Errorf("after LearnPending the model counts %d spam comments, %v; want 4", tot.Spam, err)
	}
	if ds, err := ts.UnlearntDecisions(ctx, time.Now().Add(time.Hour), 10); err != nil || len(ds) != 0 {
		t.Errorf("after LearnPending, UnlearntDecisions = %v, %v; want none", ds, err)
	}
	// Again: nothing more is learnt (nothing twice).
	if n, err := mod.LearnPending(ctx, 0); err != nil || n != 0 {
		t.Errorf("second LearnPending = %d, %v; want 0", n, err)
	}
	if h := history(); h.Spam != 4 {
		t.Errorf("after a second LearnPending the author's record = %+v; want still 4 spam", h)
	}
}

// TestMarkLearntKeepsALaterDecision: the learning of an earlier decision does not take a later
// decision on the same comment off the list.
func TestMarkLearntKeepsALaterDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	c := mustCreate(t, ts.Store, draft(ts.Store, threadInShard("later", 1), 1), comment.CreateOptions{})
	first := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	if _, err := ts.Decide(ctx, c.ID, moderation.Reject, comment.Decision{Moderator: "anna", At: first, To: comment.StateRejected}, []comment.State{comment.StatePending, comment.StatePublished}, ""); err != nil {
		t.Fatalf("Decide(reject) = %v", err)
	}
	later := first.Add(time.Second)
	if _, err := ts.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "ben", At: later, To: comment.StatePublished}, []comment.State{comment.StateRejected}, ""); err != nil {
		t.Fatalf("Decide(approve) = %v", err)
	}
	if err := ts.MarkLearnt(ctx, c.ID, first); err != nil {
		t.Fatalf("MarkLearnt(first) = %v", err)
	}
	ds, err := ts.UnlearntDecisions(ctx, time.Now(), 10)
	if err != nil || len(ds) != 1 || ds[0].ID != c.ID || !ds[0].At.Equal(later) {
		t.Fatalf("after the first decision was learnt, UnlearntDecisions = %v, %v; want the later one (%v)", ds, err, later)
	}
	if err := ts.MarkLearnt(ctx, c.ID, later); err != nil {
		t.Fatalf("MarkLearnt(later) = %v", err)
	}
	if ds, err := ts.UnlearntDecisions(ctx, time.Now(), 10); err != nil || len(ds) != 0 {
		t.Errorf("after both were learnt, UnlearntDecisions = %v, %v; want none", ds, err)
	}
}

// TestPostponeLearning: a decision whose learning failed is postponed out of the due range, so the
// next batch reaches the decisions after it; a later decision on the comment is not postponed by
// the earlier one's failure; the postponed entry is taken off by the time it was postponed to.
func TestPostponeLearning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	decided := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	var cs []comment.Comment
	for i := range 2 {
		c := mustCreate(t, ts.Store, draft(ts.Store, threadInShard("postpone", i), 1), comment.CreateOptions{})
		if _, err := ts.Decide(ctx, c.ID, moderation.Reject, comment.Decision{Moderator: "anna", At: decided.Add(time.Duration(i) * time.Second), To: comment.StateRejected}, []comment.State{comment.StatePublished}, ""); err != nil {
			t.Fatalf("Decide(reject %s) = %v", c.ID, err)
		}
		cs = append(cs, c)
	}
	until := time.Now().Add(10 * time.Minute).Truncate(time.Microsecond)
	if err := ts.PostponeLearning(ctx, cs[0].ID, decided, until); err != nil {
		t.Fatalf("PostponeLearning = %v", err)
	}
	ds, err := ts.UnlearntDecisions(ctx, time.Now(), 1)
	if err != nil || len(ds) != 1 || ds[0].ID != cs[1].ID {
		t.Fatalf("UnlearntDecisions(now, 1) after postponing %s = %v, %v; want the next decision, on %s", cs[0].ID, ds, err, cs[1].ID)
	}
	ds, err = ts.UnlearntDecisions(ctx, until, 10)
	if err != nil || len(ds) != 2 || ds[1].ID != cs[0].ID || !ds[1].At.Equal(until) {
		t.Fatalf("UnlearntDecisions(until) = %v, %v; want %s last, at %v", ds, err, cs[0].ID, until)
	}
	// A postponement read from an entry a later decision replaced changes nothing.
	later := decided.Add(time.Minute)
	if _, err := ts.Decide(ctx, cs[1].ID, moderation.Approve, comment.Decision{Moderator: "ben", At: later, To: comment.StatePublished}, []comment.State{comment.StateRejected}, ""); err != nil {
		t.Fatalf("Decide(approve %s) = %v", cs[1].ID, err)
	}
	if err := ts.PostponeLearning(ctx, cs[1].ID, decided.Add(time.Second), until); err != nil {
		t.Fatalf("PostponeLearning(stale) = %v", err)
	}
	if ds, err := ts.UnlearntDecisions(ctx, time.Now(), 10); err != nil || len(ds) != 1 || ds[0].ID != cs[1].ID || !ds[0].At.Equal(later) {
		t.Errorf("after a stale postponement, UnlearntDecisions(now) = %v, %v; want the later decision on %s, at %v", ds, err, cs[1].ID, later)
	}
	if err := ts.MarkLearnt(ctx, cs[0].ID, until); err != nil {
		t.Fatalf("MarkLearnt(postponed) = %v", err)
	}
	if ds, err := ts.UnlearntDecisions(ctx, until, 10); err != nil || len(ds) != 1 {
		t.Errorf("after the postponed one was learnt, UnlearntDecisions = %v, %v; want only the later decision", ds, err)
	}
}
