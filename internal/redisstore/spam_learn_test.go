package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
)

// siteModel is what the site's model holds in Redis, except the change number.
type siteModel struct {
	Counts map[string]string
	Totals map[string]string
	Labels map[string]string
}

func siteModelOf(t *testing.T, ts testStore) siteModel {
	t.Helper()
	ctx := context.Background()
	var m siteModel
	var err error
	if m.Counts, err = ts.rdb.HGetAll(ctx, ts.keys.spamCounts("")).Result(); err != nil {
		t.Fatalf("HGETALL counts: %v", err)
	}
	if m.Totals, err = ts.rdb.HGetAll(ctx, ts.keys.spamTotals("")).Result(); err != nil {
		t.Fatalf("HGETALL totals: %v", err)
	}
	delete(m.Totals, "seq")
	if len(m.Totals) == 0 {
		// Never trained: the same as trained and fully untrained.
		m.Totals = map[string]string{"spam": "0", "ham": "0", "spam_tokens": "0", "ham_tokens": "0", "vocab": "0"}
	}
	if m.Labels, err = ts.rdb.HGetAll(ctx, ts.keys.spamLabels("")).Result(); err != nil {
		t.Fatalf("HGETALL labels: %v", err)
	}
	return m
}

func spamKeyring(t *testing.T) *privacy.Keyring {
	t.Helper()
	k, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatalf("privacy.NewKeyring: %v", err)
	}
	return k
}

// TestLearnFromDecisions walks one comment through moderators' decisions on the real moderation
// service and store, and checks the site model and the author's record after each: training,
// exact untraining, and repeats that change nothing.
func TestLearnFromDecisions(t *testing.T) {
	t.Parallel()
	ts, svc := learningService(t)
	ctx := context.Background()

	// Another comment already trained, so "back to before" is not simply "empty".
	other := draft(ts.Store, "learn", 1)
	other.State = comment.StatePending
	mustCreate(t, ts.Store, other, comment.CreateOptions{})
	if _, err := svc.Decide(ctx, "mod", moderation.MarkSpam, other.ID, "", ""); err != nil {
		t.Fatalf("Decide(mark spam, %s): %v", other.ID, err)
	}

	c := draft(ts.Store, "learn", 2)
	c.State = comment.StatePending
	c.Body = "Win a free phone: click the link in my profile"
	mustCreate(t, ts.Store, c, comment.CreateOptions{})
	before := siteModelOf(t, ts)

	type record = comment.AuthorHistory
	steps := []struct {
		name       string
		action     moderation.Action
		wantLabel  string // "" none
		wantRecord record
		wantSame   bool // the model must equal the one before the comment was decided
	}{
		{name: "approve", action: moderation.Approve, wantLabel: "h", wantRecord: record{Approved: 1}},
		{name: "approve again", action: moderation.Approve, wantLabel: "h", wantRecord: record{Approved: 1}},
		{name: "mark spam", action: moderation.MarkSpam, wantLabel: "s", wantRecord: record{Spam: 1}},
		{name: "mark spam again", action: moderation.MarkSpam, wantLabel: "s", wantRecord: record{Spam: 1}},
		{name: "mark not spam", action: moderation.MarkNotSpam, wantSame: true},
		{name: "approve once more", action: moderation.Approve, wantLabel: "h", wantRecord: record{Approved: 1}},
		{name: "reopen", action: moderation.Reopen, wantSame: true},
		{name: "reject", action: moderation.Reject, wantSame: true, wantRecord: record{Rejected: 1}},
	}
	var prev siteModel
	for i, st := range steps {
		v, err := svc.Decide(ctx, "mod", st.action, c.ID, "", "")
		if err != nil {
			t.Fatalf("step %s: called Decide(%v, %s), got error %v", st.name, st.action, c.ID, err)
		}
		got := siteModelOf(t, ts)
		if label := got.Labels[c.ID]; label != st.wantLabel {
			t.Errorf("step %s: got label %q, want %q", st.name, label, st.wantLabel)
		}
		if st.wantSame {
			if diff := cmp.Diff(before, got); diff != "" {
				t.Errorf("step %s: the model is not back to before the comment was decided (-before +now):\n%s", st.name, diff)
			}
		} else if diff := cmp.Diff(before, got); diff == "" {
			t.Errorf("step %s: the model did not change", st.name)
		}
		if i > 0 && steps[i-1].action == st.action {
			if diff := cmp.Diff(prev, got); diff != "" {
				t.Errorf("step %s: repeating the decision changed the model (-first +repeat):\n%s", st.name, diff)
			}
		}
		if v.History != st.wantRecord {
			t.Errorf("step %s: got the author's record %+v in the moderator's view, want %+v", st.name, v.History, st.wantRecord)
		}
		prev = got
	}
}

// learningService returns a test store and a moderation service on it whose decisions teach the
// spam model and the authors' records.
func learningService(t *testing.T) (testStore, *moderation.Service) {
	t.Helper()
	ts := newTestStore(t)
	keys := spamKeyring(t)
	return ts, moderation.NewService(ts.Store, keys, moderation.Options{Learner: spam.NewLearner(ts.Store, keys), Histories: ts.Store})
}

// TestApprovingPublishedCommentTeachesNothing approves a comment the checks published. The store
// records no decision for it (it is already published), so neither the spam model nor the author's
// record may change: an unaudited no-op must not count the author as approved by a moderator (which
// trusts authors past pre-moderation) or teach the model.
func TestApprovingPublishedCommentTeachesNothing(t *testing.T) {
	t.Parallel()
	ts, svc := learningService(t)
	ctx := context.Background()

	c := mustCreate(t, ts.Store, draft(ts.Store, "learn-published", 1), comment.CreateOptions{})
	before := siteModelOf(t, ts)
	for range 2 {
		v, err := svc.Decide(ctx, "mod", moderation.Approve, c.ID, "", "")
		if err != nil {
			t.Fatalf("called Decide(approve, %s) on a published comment, got error %v", c.ID, err)
		}
		if v.Comment.Decision != nil {
			t.Errorf("called Decide(approve, %s) on a published comment, got decision %+v recorded, want none", c.ID, v.Comment.Decision)
		}
		if v.History != (comment.AuthorHistory{}) {
			t.Errorf("called Decide(approve, %s) on a published comment, got the author's record %+v, want it empty", c.ID, v.History)
		}
		if diff := cmp.Diff(before, siteModelOf(t, ts)); diff != "" {
			t.Errorf("called Decide(approve, %s) on a published comment, got the model changed (-before +after):\n%s", c.ID, diff)
		}
	}
}

// TestLearnIsIdempotent calls Learn directly with the same lesson twice, as a retried decision
// does, and checks that the second call changes nothing: not the model, not the record.
func TestLearnIsIdempotent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	lesson := spam.Lesson{CommentID: "00c1", AuthorKey: "a1", Tokens: spam.Features(spam.Input{Body: "cheap pills, click here"}), Label: spam.LabelSpam, Outcome: spam.OutcomeSpam}
	if err := ts.Learn(ctx, lesson); err != nil {
		t.Fatalf("called Learn, got error %v", err)
	}
	first := siteModelOf(t, ts)
	firstSeq, _ := ts.rdb.HGet(ctx, ts.keys.spamTotals(""), "seq").Result()
	if err := ts.Learn(ctx, lesson); err != nil {
		t.Fatalf("called Learn again, got error %v", err)
	}
	if diff := cmp.Diff(first, siteModelOf(t, ts)); diff != "" {
		t.Errorf("called Learn twice with one lesson, got a second change (-first +second):\n%s", diff)
	}
	if seq, _ := ts.rdb.HGet(ctx, ts.keys.spamTotals(""), "seq").Result(); seq != firstSeq {
		t.Errorf("called Learn twice, got change number %s after the second, want %s (no new change for the mirrors)", seq, firstSeq)
	}
	hs, err := ts.AuthorHistories(ctx, []string{"a1", "nobody", ""})
	if err != nil {
		t.Fatalf("called AuthorHistories, got error %v", err)
	}
	if diff := cmp.Diff([]comment.AuthorHistory{{Spam: 1}, {}, {}}, hs); diff != "" {
		t.Errorf("called AuthorHistories after one spam lesson learnt twice, got diff (-want +got):\n%s", diff)
	}
}

// TestReportTakedownKeepsWhatApprovalTaught approves a comment, lets readers' reports take it down
// into the queue (which is no moderator's decision), then puts it "back in the queue" where it is
// already: that decision finds the comment in its target state, is not stored, and must teach
// nothing. The approval stands in the model and the author's record until a moderator decides
// the comment again.
func TestReportTakedownKeepsWhatApprovalTaught(t *testing.T) {
	t.Parallel()
	ts, svc := learningService(t)
	ctx := context.Background()

	c := draft(ts.Store, "learn-reported", 1)
	c.State = comment.StatePending
	mustCreate(t, ts.Store, c, comment.CreateOptions{})
	if _, err := svc.Decide(ctx, "mod", moderation.Approve, c.ID, "", ""); err != nil {
		t.Fatalf("Decide(approve, %s): %v", c.ID, err)
	}
	approved := siteModelOf(t, ts)
	got, _, err := ts.AddReport(ctx, c.ID, moderation.Report{At: time.Now()}, "reader", 1)
	if err != nil {
		t.Fatalf("AddReport(%s, threshold 1): %v", c.ID, err)
	}
	if got.State != comment.StatePending {
		t.Fatalf("AddReport(%s, threshold 1): got state %v, want the comment taken down to pending", c.ID, got.State)
	}
	v, err := svc.Decide(ctx, "mod", moderation.Reopen, c.ID, "", "")
	if err != nil {
		t.Fatalf("Decide(reopen, %s) on a comment reports took down: %v", c.ID, err)
	}
	if diff := cmp.Diff(approved, siteModelOf(t, ts)); diff != "" {
		t.Errorf("Decide(reopen, %s) on a comment already pending changed the model (-approved +now):\n%s", c.ID, diff)
	}
	if want := (comment.AuthorHistory{Approved: 1}); v.History != want {
		t.Errorf("Decide(reopen, %s) on a comment already pending: got the author's record %+v, want %+v", c.ID, v.History, want)
	}
}

// interleavingLearner runs between before the first lesson it is given, then teaches it.
type interleavingLearner struct {
	inner   moderation.Learner
	between func(ctx context.Context)
}

func (l *interleavingLearner) Learn(ctx context.Context, c comment.Comment) error {
	if f := l.between; f != nil {
		l.between = nil
		f(ctx)
	}
	return l.inner.Learn(ctx, c)
}

// TestLearnFollowsDecisionMadeMeanwhile puts a published comment back in the queue; before that
// decision is learnt, another moderator approves the comment (and learns it), and readers' reports
// take it down into the queue again. The first decision's learning must not have the last word:
// the comment's state is what it left, but its last decision is the approval, which the model and
// the author's record must hold.
func TestLearnFollowsDecisionMadeMeanwhile(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	keys := spamKeyring(t)
	ctx := context.Background()
	l := &interleavingLearner{inner: spam.NewLearner(ts.Store, keys)}
	svc := moderation.NewService(ts.Store, keys, moderation.Options{Learner: l, Histories: ts.Store})

	c := draft(ts.Store, "learn-meanwhile", 1)
	c.State = comment.StatePending
	mustCreate(t, ts.Store, c, comment.CreateOptions{})
	if _, err := svc.Decide(ctx, "anna", moderation.Approve, c.ID, "", ""); err != nil {
		t.Fatalf("Decide(approve, %s): %v", c.ID, err)
	}
	approved := siteModelOf(t, ts)
	l.between = func(ctx context.Context) {
		if _, err := svc.Decide(ctx, "bob", moderation.Approve, c.ID, "", ""); err != nil {
			t.Fatalf("Decide(approve, %s) by the second moderator: %v", c.ID, err)
		}
		if _, _, err := ts.AddReport(ctx, c.ID, moderation.Report{At: time.Now()}, "reader", 1); err != nil {
			t.Fatalf("AddReport(%s, threshold 1): %v", c.ID, err)
		}
	}
	if _, err := svc.Decide(ctx, "anna", moderation.Reopen, c.ID, "", ""); err != nil {
		t.Fatalf("Decide(reopen, %s): %v", c.ID, err)
	}
	if diff := cmp.Diff(approved, siteModelOf(t, ts)); diff != "" {
		t.Errorf("reopen learnt after an approval made meanwhile: got the model (-approved +now):\n%s", diff)
	}
	hs, err := ts.AuthorHistories(ctx, []string{c.AuthorKey})
	if err != nil {
		t.Fatalf("AuthorHistories: %v", err)
	}
	if want := (comment.AuthorHistory{Approved: 1}); hs[0] != want {
		t.Errorf("reopen learnt after an approval made meanwhile: got the author's record %+v, want %+v", hs[0], want)
	}
}
