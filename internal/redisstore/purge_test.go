package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
)

var (
	markSpamFrom    = []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected}
	markNotSpamFrom = []comment.State{comment.StateSpam}
)

// spamDraft is draft as the checks mark it spam.
func spamDraft(s *Store, thread string, n int) comment.Comment {
	c := draft(s, thread, n)
	c.State, c.PublishedAt = comment.StateSpam, time.Time{}
	c.HoldReasons = []comment.Reason{{Code: "SPAM_SCORE", Message: "the spam score is too high"}}
	return c
}

// decideAt applies a decision taken at time at, and fails the test on an error.
func decideAt(t *testing.T, s *Store, id string, a moderation.Action, to comment.State, from []comment.State, at time.Time) {
	t.Helper()
	if _, err := s.Decide(context.Background(), id, a, comment.Decision{Moderator: "anna", At: at, To: to}, from, ""); err != nil {
		t.Fatalf("Decide(%s, %v at %s) = %v, want no error", id, a, at, err)
	}
}

// settlePurges has s forget, as a run purgeSettle later would, the labels and outcomes of the
// comments it purged.
func settlePurges(t *testing.T, s *Store) {
	t.Helper()
	s.purgeSettle = 0
	if _, err := s.PurgeSpam(context.Background(), time.Unix(0, 0), 100); err != nil {
		t.Fatalf("PurgeSpam, to forget what earlier runs purged = %v, want no error", err)
	}
}

// traces returns every key under prefix that names id or holds it in its value (a member, a field,
// an element, a string), audit streams left out: the audit log keeps its entries.
func traces(t *testing.T, rdb redis.UniversalClient, prefix, id string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, k := range scanKeys(t, rdb, prefix) {
		if strings.Contains(k, id) {
			out = append(out, k)
			continue
		}
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var vals []string
		switch typ {
		case "string":
			v, err := rdb.Get(ctx, k).Result()
			if err != nil && err != redis.Nil {
				t.Fatalf("GET %s: %v", k, err)
			}
			vals = []string{v}
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatalf("HGETALL %s: %v", k, err)
			}
			for f, v := range m {
				vals = append(vals, f, v)
			}
		case "zset":
			vals, err = rdb.ZRange(ctx, k, 0, -1).Result()
		case "set":
			vals, err = rdb.SMembers(ctx, k).Result()
		case "list":
			vals, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "stream":
			continue
		default:
			t.Fatalf("key %s has type %s, which this check does not read", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s %s: %v", typ, k, err)
		}
		for _, v := range vals {
			if strings.Contains(v, id) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// TestPurgeSpam: PurgeSpam deletes the comments spam since before the cut-off (by the checks'
// verdict at creation, or by a moderator's decision) with everything that belongs to them, keeps
// what they taught, and leaves alone comments spam only lately, taken back, or never spam.
func TestPurgeSpam(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	thread := threadInShard("purge", 5)
	cutoff := t0.Add(24 * time.Hour)

	byChecks := mustCreate(t, ts.Store, spamDraft(ts.Store, thread, 1), comment.CreateOptions{})
	// A published comment readers reported, which a moderator marked spam before the cut-off,
	// then claimed (as a moderator reviewing the spam queue would), and whose learning ran.
	marked := mustCreate(t, ts.Store, draft(ts.Store, thread, 2), comment.CreateOptions{})
	for i, reporter := range []string{"ip-a", "ip-b"} {
		if _, _, err := ts.AddReport(ctx, marked.ID, moderation.Report{Reason: "spam", At: t0.Add(time.Duration(i+1) * time.Minute)}, reporter, 10); err != nil {
			t.Fatalf("AddReport(%s) = %v", marked.ID, err)
		}
	}
	decideAt(t, ts.Store, marked.ID, moderation.MarkSpam, comment.StateSpam, markSpamFrom, t0.Add(time.Hour))
	if got, err := ts.Claim(ctx, "bob", moderation.ClaimQuery{State: comment.StateSpam, ThreadID: thread, Count: 10, Lease: time.Hour}, time.Now()); err != nil || len(got) == 0 {
		t.Fatalf("Claim(spam queue) = %d comments, %v; want some", len(got), err)
	}
	lesson := spam.Lesson{CommentID: marked.ID, AuthorKey: marked.AuthorKey, Tokens: []string{"w:1", "w:2"}, Label: spam.LabelSpam, Outcome: spam.OutcomeSpam}
	if err := ts.Learn(ctx, lesson); err != nil {
		t.Fatalf("Learn(%s as spam) = %v", marked.ID, err)
	}
	// Marked spam after the cut-off though created long before it: not due.
	lately := mustCreate(t, ts.Store, draft(ts.Store, thread, 3), comment.CreateOptions{})
	decideAt(t, ts.Store, lately.ID, moderation.MarkSpam, comment.StateSpam, markSpamFrom, cutoff.Add(time.Minute))
	// Spam by the checks, but created after the cut-off.
	young := spamDraft(ts.Store, thread, 4)
	young.CreatedAt = cutoff.Add(time.Second)
	young = mustCreate(t, ts.Store, young, comment.CreateOptions{})
	// Taken back by a moderator: pending now.
	takenBack := mustCreate(t, ts.Store, spamDraft(ts.Store, thread, 5), comment.CreateOptions{})
	decideAt(t, ts.Store, takenBack.ID, moderation.MarkNotSpam, comment.StatePending, markNotSpamFrom, t0.Add(time.Hour))
	published := mustCreate(t, ts.Store, draft(ts.Store, thread, 6), comment.CreateOptions{})

	n, err := ts.PurgeSpam(ctx, cutoff, 100)
	if err != nil || n != 2 {
		t.Fatalf("PurgeSpam(cut-off %s) = %d, %v; want 2 (the checks' spam and the old decision)", cutoff, n, err)
	}
	settlePurges(t, ts.Store)
	for _, c := range []comment.Comment{byChecks, marked} {
		if _, err := ts.Get(ctx, c.ID); !errors.Is(err, comment.ErrNotFound) {
			t.Errorf("Get(%s) after the purge = %v, want comment.ErrNotFound", c.ID, err)
		}
		if tr := traces(t, ts.rdb, ts.prefix, c.ID); len(tr) != 0 {
			t.Errorf("after the purge of %s, keys still name it: %v", c.ID, tr)
		}
	}
	for _, c := range []comment.Comment{lately, young, takenBack, published} {
		got, err := ts.Get(ctx, c.ID)
		if err != nil {
			t.Errorf("Get(%s) after the purge = %v, want the comment kept", c.ID, err)
			continue
		}
		if in := indexMembership(t, ts, thread, c.ID); !slices.Equal(in, wantMembership(got.State)) {
			t.Errorf("after the purge, %s (state %v) is in indexes %v, want %v", c.ID, got.State, in, wantMembership(got.State))
		}
	}
	spamQueue, _, err := ts.ListQueue(ctx, moderation.Query{State: comment.StateSpam}, comment.Page{Size: 100})
	if err != nil {
		t.Fatalf("ListQueue(spam) = %v", err)
	}
	if got, want := ids(spamQueue), []string{lately.ID, young.ID}; !slices.Equal(got, want) {
		t.Errorf("ListQueue(spam) after the purge = %v, want %v", got, want)
	}

	// What the comment taught stays counted.
	if got, err := ts.rdb.HGet(ctx, ts.keys.spamTotals(""), "spam").Result(); err != nil || got != "1" {
		t.Errorf("spam model's spam total after the purge = %q, %v; want 1", got, err)
	}
	if got, err := ts.rdb.HGet(ctx, ts.keys.spamCounts(""), "s:w:1").Result(); err != nil || got != "1" {
		t.Errorf("spam model's count of s:w:1 after the purge = %q, %v; want 1", got, err)
	}
	hist, err := ts.AuthorHistories(ctx, []string{marked.AuthorKey})
	if err != nil || hist[0].Spam != 1 {
		t.Errorf("AuthorHistories(the purged comment's author) = %+v, %v; want 1 spam", hist, err)
	}

	// A second run finds nothing more; the comments not due stay.
	if n, err := ts.PurgeSpam(ctx, cutoff, 100); err != nil || n != 0 {
		t.Errorf("PurgeSpam again = %d, %v; want 0", n, err)
	}
	// Once their time has come they go too.
	if n, err := ts.PurgeSpam(ctx, cutoff.Add(time.Hour), 100); err != nil || n != 2 {
		t.Errorf("PurgeSpam(an hour later) = %d, %v; want 2 (marked lately, created late)", n, err)
	}
}

// TestPurgeSpamRefusesWhatIsNotDue runs the purge of one comment straight on comments it must
// leave alone, as a run that read them as candidates before a moderator acted would.
func TestPurgeSpamRefusesWhatIsNotDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	thread := threadInShard("refuse", 2)
	cutoff := t0.Add(24 * time.Hour)
	tests := []struct {
		name  string
		setup func(c comment.Comment)
	}{
		{name: "taken back", setup: func(c comment.Comment) {
			decideAt(t, ts.Store, c.ID, moderation.MarkNotSpam, comment.StatePending, markNotSpamFrom, cutoff.Add(-time.Hour))
		}},
		{name: "approved", setup: func(c comment.Comment) {
			decideAt(t, ts.Store, c.ID, moderation.Approve, comment.StatePublished, approveFrom, cutoff.Add(-time.Hour))
		}},
		{name: "marked again after the cut-off", setup: func(c comment.Comment) {
			decideAt(t, ts.Store, c.ID, moderation.Reject, comment.StateRejected, rejectFrom, cutoff.Add(time.Minute))
			decideAt(t, ts.Store, c.ID, moderation.MarkSpam, comment.StateSpam, markSpamFrom, cutoff.Add(2*time.Minute))
		}},
		{name: "deleted already", setup: func(c comment.Comment) {
			if ok, err := ts.purgeOne(ctx, 2, c.ID, micros(cutoff)); err != nil || !ok {
				t.Fatalf("purgeOne(%s) = %v, %v; want it deleted", c.ID, ok, err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCreate(t, ts.Store, spamDraft(ts.Store, thread, i), comment.CreateOptions{})
			tt.setup(c)
			before, _ := ts.rdb.HGetAll(ctx, ts.keys.record(2, c.ID)).Result()
			ok, err := ts.purgeOne(ctx, 2, c.ID, micros(cutoff))
			if err != nil || ok {
				t.Errorf("purgeOne(%s, %s) = %v, %v; want false (left alone), no error", c.ID, tt.name, ok, err)
			}
			after, _ := ts.rdb.HGetAll(ctx, ts.keys.record(2, c.ID)).Result()
			if len(before) != len(after) {
				t.Errorf("purgeOne(%s, %s) changed the record from %d to %d fields", c.ID, tt.name, len(before), len(after))
			}
		})
	}
}

// TestPurgeSpamStepsOverCommentsNotDue: old comments marked spam lately sit at the head of the
// spam queue (its order is the creation time); more of them than a run's batch must not keep the
// due comments behind them for ever.
func TestPurgeSpamStepsOverCommentsNotDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	thread := threadInShard("stuck", 7)
	cutoff := t0.Add(24 * time.Hour)
	var notDue []string
	for i := range 5 {
		c := mustCreate(t, ts.Store, draft(ts.Store, thread, i), comment.CreateOptions{})
		decideAt(t, ts.Store, c.ID, moderation.MarkSpam, comment.StateSpam, markSpamFrom, cutoff.Add(time.Hour))
		notDue = append(notDue, c.ID)
	}
	due := mustCreate(t, ts.Store, spamDraft(ts.Store, thread, 10), comment.CreateOptions{})

	total := 0
	for range 5 {
		n, err := ts.PurgeSpam(ctx, cutoff, 2)
		if err != nil {
			t.Fatalf("PurgeSpam(limit 2) = %v", err)
		}
		total += n
	}
	if total != 1 {
		t.Errorf("5 PurgeSpam(limit 2) runs deleted %d comments, want 1", total)
	}
	if _, err := ts.Get(ctx, due.ID); !errors.Is(err, comment.ErrNotFound) {
		t.Errorf("Get(the due comment behind 5 not due) = %v, want comment.ErrNotFound", err)
	}
	for _, id := range notDue {
		if _, err := ts.Get(ctx, id); err != nil {
			t.Errorf("Get(%s, marked spam after the cut-off) = %v, want it kept", id, err)
		}
	}
	// The cursor went round: once due, the comments it stepped over go.
	total = 0
	for range 5 {
		n, err := ts.PurgeSpam(ctx, cutoff.Add(2*time.Hour), 2)
		if err != nil {
			t.Fatalf("PurgeSpam(limit 2) = %v", err)
		}
		total += n
	}
	if total != len(notDue) {
		t.Errorf("PurgeSpam runs after they were due deleted %d comments, want %d", total, len(notDue))
	}
}

// TestPurgeSpamFinishesWhatAStopLeft: a server that stopped after deleting a comment and before
// removing its label and outcome leaves the comment listed; the next run removes them.
func TestPurgeSpamFinishesWhatAStopLeft(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	const id, author = "03aaaaaaaaaaaaaaaaaaaaaaaa", "feedface"
	if err := ts.rdb.HSet(ctx, ts.keys.spamLabels(""), id, "s", "other", "h").Err(); err != nil {
		t.Fatal(err)
	}
	if err := ts.rdb.HSet(ctx, ts.keys.authorOutcomes(author), id, "spam", "other", "approved").Err(); err != nil {
		t.Fatal(err)
	}
	if err := ts.rdb.ZAdd(ctx, ts.keys.purgedToForget(3), redis.Z{Score: 1, Member: id + " " + author}).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := ts.PurgeSpam(ctx, time.Now(), 100); err != nil || n != 0 {
		t.Fatalf("PurgeSpam = %d, %v; want 0, no error", n, err)
	}
	if tr := traces(t, ts.rdb, ts.prefix, id); len(tr) != 0 {
		t.Errorf("after PurgeSpam, keys still name the comment a stopped run purged: %v", tr)
	}
	for _, k := range []string{ts.keys.spamLabels(""), ts.keys.authorOutcomes(author)} {
		if n, err := ts.rdb.HLen(ctx, k).Result(); err != nil || n != 1 {
			t.Errorf("HLEN %s = %d, %v; want 1 (the other comment's field kept)", k, n, err)
		}
	}
}

// TestPurgeSpamOnServersAtOnce: every server runs the retention, and runs that overlap read the
// same candidates, so one server's purge.lua often finds a comment another server's just deleted.
// Each comment counts once among the runs' counts (the purged metric and the audit log's "N
// comments" add them up), even when the two calls carry the same time to the microsecond, which
// a run in step with another's does often enough.
func TestPurgeSpamOnServersAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	other, err := New(ctx, ts.rdb, Options{Prefix: ts.prefix})
	if err != nil {
		t.Fatalf("New(a second server's store, prefix %q) = %v", ts.prefix, err)
	}
	at := time.Now()
	ts.purgeClock = func() time.Time { return at }
	other.purgeClock = func() time.Time { return at }
	thread := threadInShard("purge-twice", 2)
	c := mustCreate(t, ts.Store, spamDraft(ts.Store, thread, 1), comment.CreateOptions{})
	cutoff := t0.Add(24 * time.Hour)

	if ok, err := ts.purgeOne(ctx, 2, c.ID, micros(cutoff)); err != nil || !ok {
		t.Fatalf("purgeOne(%s) on the first server = %v, %v; want true, no error", c.ID, ok, err)
	}
	// The second server read the comment as a candidate before the first deleted it.
	if ok, err := other.purgeOne(ctx, 2, c.ID, micros(cutoff)); err != nil || ok {
		t.Errorf("purgeOne(%s) on a second server, after the first deleted it at the same microsecond = %v, %v; want false (not deleted by this call), no error", c.ID, ok, err)
	}

	// Whole runs at once, on three servers, count each comment once.
	const n = 300
	for i := range n {
		mustCreate(t, ts.Store, spamDraft(ts.Store, threadInShard("purge-at-once", i%numShards), i), comment.CreateOptions{})
	}
	servers := []*Store{ts.Store, other}
	third, err := New(ctx, ts.rdb, Options{Prefix: ts.prefix})
	if err != nil {
		t.Fatalf("New(a third server's store) = %v", err)
	}
	third.purgeClock = ts.purgeClock
	servers = append(servers, third)
	counts := make([]int, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			for {
				k, err := s.PurgeSpam(ctx, cutoff, 20)
				if err != nil {
					t.Errorf("PurgeSpam on server %d = %v", i, err)
					return
				}
				counts[i] += k
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if total := counts[0] + counts[1] + counts[2]; total != n {
		t.Errorf("PurgeSpam on three servers at once counted %v comments, %d in all; want %d, each comment once", counts, total, n)
	}
	if left, err := ts.rdb.ZCard(ctx, ts.keys.shardQueue(0, comment.StateSpam)).Result(); err != nil || left != 0 {
		t.Errorf("ZCARD of shard 0's spam queue after the runs = %d, %v; want 0", left, err)
	}
}

// TestClusterPurgeSpam: each purge touches its comment's slot only (Redis Cluster refuses a
// script that reaches another), in every shard, and leaves nothing of the comments.
func TestClusterPurgeSpam(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	rdb := clusterClient(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var purged []comment.Comment
	for shard := range numShards {
		thread := threadInShard("cluster-purge", shard)
		c := mustCreate(t, s, draft(s, thread, shard), comment.CreateOptions{})
		if _, _, err := s.AddReport(ctx, c.ID, moderation.Report{Reason: "spam", At: t0}, "ip", 10); err != nil {
			t.Fatalf("AddReport(%s) on the cluster = %v", c.ID, err)
		}
		decideAt(t, s, c.ID, moderation.MarkSpam, comment.StateSpam, markSpamFrom, t0.Add(time.Minute))
		if err := s.Learn(ctx, spam.Lesson{CommentID: c.ID, AuthorKey: c.AuthorKey, Tokens: []string{"w:1"}, Label: spam.LabelSpam, Outcome: spam.OutcomeSpam}); err != nil {
			t.Fatalf("Learn(%s) on the cluster = %v", c.ID, err)
		}
		purged = append(purged, c)
	}
	if _, err := s.Claim(ctx, "bob", moderation.ClaimQuery{State: comment.StateSpam, Count: 5, Lease: time.Hour}, time.Now()); err != nil {
		t.Fatalf("Claim on the cluster = %v", err)
	}
	n, err := s.PurgeSpam(ctx, t0.Add(time.Hour), 100)
	if err != nil || n != numShards {
		t.Fatalf("PurgeSpam on the cluster = %d, %v; want %d", n, err, numShards)
	}
	settlePurges(t, s)
	prefix := s.keys.prefix
	for _, c := range purged {
		if tr := traces(t, rdb, prefix, c.ID); len(tr) != 0 {
			t.Errorf("after the purge on the cluster, keys still name %s: %v", c.ID, tr)
		}
	}
}

// TestMiniredisPurgeSpam: commentd -dev runs the purge on miniredis.
func TestMiniredisPurgeSpam(t *testing.T) {
	t.Parallel()
	s, rdb := miniredisStore(t)
	ctx := context.Background()
	var cs []comment.Comment
	for i := range 3 {
		cs = append(cs, mustCreate(t, s, spamDraft(s, threadInShard("mini-purge", i), i), comment.CreateOptions{}))
	}
	decideAt(t, s, cs[2].ID, moderation.MarkNotSpam, comment.StatePending, markNotSpamFrom, t0.Add(time.Minute))
	n, err := s.PurgeSpam(ctx, t0.Add(time.Hour), 100)
	if err != nil || n != 2 {
		t.Fatalf("PurgeSpam on miniredis = %d, %v; want 2", n, err)
	}
	settlePurges(t, s)
	for i, c := range cs {
		_, err := s.Get(ctx, c.ID)
		if want := i == 2; (err == nil) != want {
			t.Errorf("Get(%s) after the purge on miniredis = %v, want kept %v", c.ID, err, want)
		}
		if i < 2 {
			if tr := traces(t, rdb, DefaultPrefix, c.ID); len(tr) != 0 {
				t.Errorf("after the purge on miniredis, keys still name %s: %v", c.ID, tr)
			}
		}
	}
}

// TestPurgeSpamLateLearning: a call that read a comment just before the purge deleted it may
// teach the comment after: a moderator's "mark spam" repeated on it (the store answers "same"
// and Decide learns again), LearnPending, an erasure moving what it taught to its anonymised
// features. That teaching must find the comment's label still there, so it is a repeat: the
// model and the author's record count the comment once, and nothing of it is left once the
// purge has settled.
func TestPurgeSpamLateLearning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cutoff := t0.Add(24 * time.Hour)
	tests := []struct {
		name string
		late func(s *Store, c comment.Comment, lesson spam.Lesson) error
	}{
		{name: "decision learnt again", late: func(s *Store, c comment.Comment, lesson spam.Lesson) error {
			return s.Learn(ctx, lesson)
		}},
		{name: "erasure moves what it taught", late: func(s *Store, c comment.Comment, lesson spam.Lesson) error {
			return s.Refeature(ctx, c.ID, lesson.Tokens, lesson.Anonymised)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			c := mustCreate(t, ts.Store, draft(ts.Store, threadInShard("late-learn", 4), 1), comment.CreateOptions{})
			decideAt(t, ts.Store, c.ID, moderation.MarkSpam, comment.StateSpam, markSpamFrom, t0.Add(time.Hour))
			lesson := spam.Lesson{CommentID: c.ID, AuthorKey: c.AuthorKey, Tokens: []string{"w:1"}, Anonymised: []string{"w:anon"}, Label: spam.LabelSpam, Outcome: spam.OutcomeSpam}
			if err := ts.Learn(ctx, lesson); err != nil {
				t.Fatalf("Learn(%s as spam) = %v", c.ID, err)
			}
			if n, err := ts.PurgeSpam(ctx, cutoff, 100); err != nil || n != 1 {
				t.Fatalf("PurgeSpam(cut-off %s) = %d, %v; want 1", cutoff, n, err)
			}
			// A run soon after, by this server or another, as commentd runs one a minute.
			if _, err := ts.PurgeSpam(ctx, cutoff, 100); err != nil {
				t.Fatalf("PurgeSpam again = %v", err)
			}
			if err := tt.late(ts.Store, c, lesson); err != nil {
				t.Fatalf("%s after the purge = %v, want no error", tt.name, err)
			}
			settlePurges(t, ts.Store)

			if got, err := ts.rdb.HGet(ctx, ts.keys.spamTotals(""), "spam").Result(); err != nil || got != "1" {
				t.Errorf("after the purge of %s and a late %s, the spam model's spam total = %q, %v; want 1", c.ID, tt.name, got, err)
			}
			hist, err := ts.AuthorHistories(ctx, []string{c.AuthorKey})
			if err != nil || hist[0].Spam != 1 {
				t.Errorf("after the purge of %s and a late %s, AuthorHistories = %+v, %v; want 1 spam", c.ID, tt.name, hist, err)
			}
			if tr := traces(t, ts.rdb, ts.prefix, c.ID); len(tr) != 0 {
				t.Errorf("after the purge of %s and a late %s, keys still name it: %v", c.ID, tt.name, tr)
			}
		})
	}
}
