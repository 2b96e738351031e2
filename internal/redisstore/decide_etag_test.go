package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// The states each action takes, as moderation.Service passes them.
var fromOf = map[moderation.Action][]comment.State{
	moderation.Approve:     approveFrom,
	moderation.Reject:      rejectFrom,
	moderation.MarkSpam:    {comment.StatePending, comment.StatePublished, comment.StateRejected},
	moderation.MarkNotSpam: {comment.StateSpam},
	moderation.Reopen:      {comment.StatePublished, comment.StateRejected, comment.StateSpam},
}

// targetOf is the state each action puts a comment in.
var targetOf = map[moderation.Action]comment.State{
	moderation.Approve:     comment.StatePublished,
	moderation.Reject:      comment.StateRejected,
	moderation.MarkSpam:    comment.StateSpam,
	moderation.MarkNotSpam: comment.StatePending,
	moderation.Reopen:      comment.StatePending,
}

// decideAs makes action a on id as moderator at, without an etag, and fails the test on an error.
func decideAs(t *testing.T, ts testStore, id string, a moderation.Action, moderator string, at time.Time) comment.Comment {
	t.Helper()
	d := comment.Decision{Moderator: moderator, At: at, To: targetOf[a], Reason: "checked"}
	c, err := ts.Decide(context.Background(), id, a, d, fromOf[a], "")
	if err != nil {
		t.Fatalf("Decide(%s %s by %s) = %v", a, id, moderator, err)
	}
	return c
}

// commentAudit returns the audit log's entries on comment id.
func commentAudit(t *testing.T, ts testStore, id string) []moderation.AuditEvent {
	t.Helper()
	return listAudit(t, ts.Store, moderation.AuditQuery{Target: "comments/" + id}, 100)
}

// Two moderators decide from the same reading of a comment: the second decision, sent with the
// etag read before the first, is refused (a *StaleError holding the comment as the first left
// it) and changes nothing, though the action is allowed from the comment's state now. With the
// etag of the comment as it is now, the same decision goes through: the etag the store checks is
// the one moderation.ETag gives the comment it returns.
func TestDecideStaleETagRefused(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	type step struct {
		a   moderation.Action
		by  string
		off time.Duration // decision time after t0
	}
	tests := []struct {
		name   string
		start  comment.State
		before []step // decisions made before the moderator reads the comment
		// meanwhile changes the comment after it was read: decisions, or a report takedown.
		meanwhile []step
		takedown  bool
		a         moderation.Action
	}{
		{name: "approve after a colleague rejected", start: comment.StatePending,
			meanwhile: []step{{moderation.Reject, "bert", time.Minute}}, a: moderation.Approve},
		{name: "reject after a colleague approved", start: comment.StatePending,
			meanwhile: []step{{moderation.Approve, "bert", time.Minute}}, a: moderation.Reject},
		{name: "mark spam after a colleague approved", start: comment.StatePending,
			meanwhile: []step{{moderation.Approve, "bert", time.Minute}}, a: moderation.MarkSpam},
		{name: "mark not spam after a colleague approved, then another marked spam again", start: comment.StateSpam,
			meanwhile: []step{{moderation.Approve, "bert", time.Minute}, {moderation.MarkSpam, "carl", 2 * time.Minute}}, a: moderation.MarkNotSpam},
		{name: "reopen after a colleague rejected", start: comment.StatePending,
			before:    []step{{moderation.Approve, "anna", time.Minute}},
			meanwhile: []step{{moderation.Reject, "bert", 2 * time.Minute}}, a: moderation.Reopen},
		{name: "reject after a colleague reopened and approved again, by the same moderator", start: comment.StatePending,
			before:    []step{{moderation.Approve, "bert", time.Minute}},
			meanwhile: []step{{moderation.Reopen, "bert", 2 * time.Minute}, {moderation.Approve, "bert", 3 * time.Minute}}, a: moderation.Reject},
		{name: "reject after readers' reports took the approved comment down", start: comment.StatePending,
			before: []step{{moderation.Approve, "bert", time.Minute}}, takedown: true, a: moderation.Reject},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(ts.Store, "etag-stale", i)
			c.State = tt.start
			if tt.start != comment.StatePublished {
				c.PublishedAt = time.Time{}
			}
			mustCreate(t, ts.Store, c, comment.CreateOptions{})
			for _, s := range tt.before {
				decideAs(t, ts, c.ID, s.a, s.by, t0.Add(s.off))
			}
			read, err := ts.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get(%s) = %v", c.ID, err)
			}
			etag := moderation.ETag(read)
			for _, s := range tt.meanwhile {
				decideAs(t, ts, c.ID, s.a, s.by, t0.Add(s.off))
			}
			if tt.takedown {
				if _, _, err := ts.AddReport(ctx, c.ID, moderation.Report{Reason: "rude", At: t0.Add(time.Hour)}, "ip-1", 1); err != nil {
					t.Fatalf("AddReport(%s, threshold 1) = %v", c.ID, err)
				}
			}
			now, err := ts.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get(%s) = %v", c.ID, err)
			}
			if moderation.ETag(now) == etag {
				t.Fatalf("ETag of %s after the change = %s, the same as before it", c.ID, etag)
			}
			audited := len(commentAudit(t, ts, c.ID))

			d := comment.Decision{Moderator: "anna", At: t0.Add(time.Hour), To: targetOf[tt.a], Reason: "stale"}
			_, err = ts.Decide(ctx, c.ID, tt.a, d, fromOf[tt.a], etag)

			var serr *moderation.StaleError
			if !errors.As(err, &serr) || !errors.Is(err, moderation.ErrStale) {
				t.Fatalf("Decide(%s %s, etag read before the change) = %v; want a *StaleError", tt.a, c.ID, err)
			}
			if serr.ID != c.ID || serr.Action != tt.a {
				t.Errorf("Decide(%s %s, stale etag) error names %s, %s; want %s, %s", tt.a, c.ID, serr.ID, serr.Action, c.ID, tt.a)
			}
			if diff := cmp.Diff(now, serr.Current); diff != "" {
				t.Errorf("Decide(%s %s, stale etag) error's comment (-stored +got):\n%s", tt.a, c.ID, diff)
			}
			after, err := ts.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get(%s) = %v", c.ID, err)
			}
			if diff := cmp.Diff(now, after); diff != "" {
				t.Errorf("Decide(%s %s, stale etag) changed the comment (-before +after):\n%s", tt.a, c.ID, diff)
			}
			if diff := cmp.Diff(wantMembership(now.State), indexMembership(t, ts, "etag-stale", c.ID)); diff != "" {
				t.Errorf("indexes holding %s after a refused decision (-want +got):\n%s", c.ID, diff)
			}
			if n := len(commentAudit(t, ts, c.ID)); n != audited {
				t.Errorf("audit entries on %s after a refused decision = %d; want %d as before", c.ID, n, audited)
			}

			got, err := ts.Decide(ctx, c.ID, tt.a, d, fromOf[tt.a], moderation.ETag(now))
			if err != nil {
				t.Fatalf("Decide(%s %s, etag of the comment now) = %v; want no error", tt.a, c.ID, err)
			}
			if got.State != targetOf[tt.a] || got.Decision == nil || got.Decision.Moderator != "anna" {
				t.Errorf("Decide(%s %s, etag of the comment now) = state %v, decision %+v; want %v by anna", tt.a, c.ID, got.State, got.Decision, targetOf[tt.a])
			}
		})
	}
}

// The etag of a comment no moderator has decided is checked as well: a comment's first decision
// goes through with it, and refuses one read before it.
func TestDecideFirstDecisionETag(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := pendingDraft(ts.Store, "etag-first", 1, t0)
	read := mustCreate(t, ts.Store, c, comment.CreateOptions{})
	if read.Decision != nil {
		t.Fatalf("Create(%s) = decision %+v, want none", c.ID, read.Decision)
	}
	etag := moderation.ETag(read)
	d := comment.Decision{Moderator: "anna", At: t0.Add(time.Minute), To: comment.StatePublished}
	first, err := ts.Decide(ctx, c.ID, moderation.Approve, d, approveFrom, etag)
	if err != nil || first.State != comment.StatePublished {
		t.Fatalf("Decide(approve %s, etag %s read at creation) = state %v, %v; want published", c.ID, etag, first.State, err)
	}
	d = comment.Decision{Moderator: "bert", At: t0.Add(2 * time.Minute), To: comment.StateRejected}
	if _, err := ts.Decide(ctx, c.ID, moderation.Reject, d, rejectFrom, etag); !errors.Is(err, moderation.ErrStale) {
		t.Errorf("Decide(reject %s, etag read before the approval) = %v; want ErrStale", c.ID, err)
	}
	if events := commentAudit(t, ts, c.ID); len(events) != 1 || events[0].Moderator != "anna" {
		t.Errorf("audit entries on %s = %+v; want anna's approval alone", c.ID, events)
	}
}

// A decision whose outcome already holds changes nothing and succeeds whatever its etag, as
// without one: a second moderator approving with a stale etag what the first approved overturns
// nobody.
func TestDecideSameStateIgnoresETag(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := pendingDraft(ts.Store, "etag-same", 1, t0)
	read := mustCreate(t, ts.Store, c, comment.CreateOptions{})
	approved := decideAs(t, ts, c.ID, moderation.Approve, "anna", t0.Add(time.Minute))

	d := comment.Decision{Moderator: "bert", At: t0.Add(2 * time.Minute), To: comment.StatePublished}
	got, err := ts.Decide(ctx, c.ID, moderation.Approve, d, approveFrom, moderation.ETag(read))
	if err != nil {
		t.Fatalf("Decide(approve %s, stale etag) on a published comment = %v; want no error", c.ID, err)
	}
	if diff := cmp.Diff(approved, got); diff != "" {
		t.Errorf("Decide(approve %s, stale etag) on a published comment changed it (-before +got):\n%s", c.ID, diff)
	}
	if n := len(commentAudit(t, ts, c.ID)); n != 1 {
		t.Errorf("audit entries on %s = %d; want 1", c.ID, n)
	}
}

// go-redis resends a script call whose reply it lost; Redis then runs the decision twice. The
// second run finds the comment decided, by this very call, so no longer with the etag it was sent
// with: it must answer as a retried decision does (the comment, no error), not refuse the
// decision as stale, and count and audit nothing twice. Each action, as each has its own target.
func TestDecideWithETagResent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a     moderation.Action
		start comment.State
	}{
		{moderation.Approve, comment.StatePending},
		{moderation.Reject, comment.StatePending},
		{moderation.MarkSpam, comment.StatePending},
		{moderation.MarkNotSpam, comment.StateSpam},
		{moderation.Reopen, comment.StateRejected},
	}
	for i, tt := range tests {
		t.Run(tt.a.String(), func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			ctx := context.Background()
			c := pendingDraft(ts.Store, "etag-resent", i, t0)
			c.State = tt.start
			read := mustCreate(t, ts.Store, c, comment.CreateOptions{})
			etag := moderation.ETag(read)
			sent := resend(ts.rdb, etag, scriptNames...)

			d := comment.Decision{Moderator: "anna", At: t0.Add(time.Minute), To: targetOf[tt.a], Reason: "resent"}
			got, err := ts.Decide(ctx, c.ID, tt.a, d, fromOf[tt.a], etag)
			if !sent() {
				t.Fatal("Decide was not resent: the test shows nothing")
			}
			if err != nil {
				t.Fatalf("Decide(%s %s, etag %s), resent = %v; want no error", tt.a, c.ID, etag, err)
			}
			want := comment.Decision{Moderator: "anna", At: d.At, From: tt.start, To: targetOf[tt.a], Reason: "resent"}
			if got.State != targetOf[tt.a] || got.Decision == nil || *got.Decision != want {
				t.Errorf("Decide(%s %s), resent = state %v, decision %+v; want %v, %+v", tt.a, c.ID, got.State, got.Decision, targetOf[tt.a], want)
			}
			if events := commentAudit(t, ts, c.ID); len(events) != 1 {
				t.Errorf("audit entries on %s after one decision resent = %+v; want 1", c.ID, events)
			}
		})
	}
}

// An etag names its comment: one read from another comment is refused, even where both comments
// are in the same state and neither has been decided, and changes nothing; the comment's own
// etag then goes through. A moderator who pastes the wrong comment's etag learns it, rather than
// have the check pass on a comment they never read.
func TestDecideOtherCommentsETagRefused(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	a := mustCreate(t, ts.Store, pendingDraft(ts.Store, "etag-other", 1, t0), comment.CreateOptions{})
	b := mustCreate(t, ts.Store, pendingDraft(ts.Store, "etag-other", 2, t0), comment.CreateOptions{})
	if a.State != b.State || a.Decision != nil || b.Decision != nil {
		t.Fatalf("Create = %s %v %+v and %s %v %+v; want two pending comments never decided", a.ID, a.State, a.Decision, b.ID, b.State, b.Decision)
	}
	d := comment.Decision{Moderator: "anna", At: t0.Add(time.Minute), To: comment.StatePublished}
	if _, err := ts.Decide(ctx, b.ID, moderation.Approve, d, approveFrom, moderation.ETag(a)); !errors.Is(err, moderation.ErrStale) {
		t.Errorf("Decide(approve %s, etag %s of %s) = %v; want ErrStale", b.ID, moderation.ETag(a), a.ID, err)
	}
	if n := len(commentAudit(t, ts, b.ID)); n != 0 {
		t.Errorf("audit entries on %s after a refused approval = %d; want 0", b.ID, n)
	}
	got, err := ts.Decide(ctx, b.ID, moderation.Approve, d, approveFrom, moderation.ETag(b))
	if err != nil || got.State != comment.StatePublished {
		t.Errorf("Decide(approve %s, its own etag) = state %v, %v; want published", b.ID, got.State, err)
	}
}
