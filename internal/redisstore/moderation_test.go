package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// closingStore is a store on rdb under prefix that closes threads period after their first
// comment, as a server started with -close-threads-after does.
func closingStore(t *testing.T, rdb redis.UniversalClient, prefix string, period time.Duration) *Store {
	t.Helper()
	s, err := New(context.Background(), rdb, Options{Prefix: prefix, CloseThreadsAfter: period})
	if err != nil {
		t.Fatalf("New(CloseThreadsAfter %s) = %v", period, err)
	}
	return s
}

func TestThreadsCloseAfterTheirPeriod(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, rdb, prefix, period)
	// The same data through a store without auto-close, as a server configured without it sees it.
	never, err := New(ctx, rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	now := time.Now()
	create := func(s *Store, thread string, n int, at time.Time) error {
		c := draft(s, thread, n)
		c.CreatedAt, c.PublishedAt = at, at
		_, _, err := s.Create(ctx, c, comment.CreateOptions{})
		return err
	}
	isClosed := func(s *Store, thread string) bool {
		t.Helper()
		th, err := s.GetThread(ctx, thread)
		if err != nil {
			t.Fatalf("GetThread(%s) = %v", thread, err)
		}
		return th.Closed
	}

	// The first comment is always taken and starts the period, even if it is old.
	if err := create(s, "old", 1, now.Add(-2*period)); err != nil {
		t.Fatalf("Create(first comment of a thread, 2h ago) = %v", err)
	}
	if err := create(s, "old", 2, now); !errors.Is(err, comment.ErrThreadClosed) {
		t.Errorf("Create(in a thread whose first comment is 2h old, period 1h) = %v, want ErrThreadClosed", err)
	}
	if !isClosed(s, "old") {
		t.Errorf("GetThread(old thread) = open, want closed by age")
	}
	if err := create(never, "old", 3, now); err != nil || isClosed(never, "old") {
		t.Errorf("Create/GetThread without auto-close on the old thread = %v, closed %v; want taken, open", err, isClosed(never, "old"))
	}

	if err := create(s, "young", 1, now.Add(-period/2)); err != nil {
		t.Fatalf("Create(first comment, 30m ago) = %v", err)
	}
	if err := create(s, "young", 2, now); err != nil || isClosed(s, "young") {
		t.Errorf("Create/GetThread in a thread 30m old = %v, closed %v; want taken, open", err, isClosed(s, "young"))
	}
	if err := create(s, "young", 3, now.Add(period)); !errors.Is(err, comment.ErrThreadClosed) {
		t.Errorf("Create(an hour later) = %v, want ErrThreadClosed", err)
	}

	// Reopening starts a new period.
	open := false
	_, th, err := s.UpdateThread(ctx, "", "old", nil, &open, "")
	if err != nil || th.Closed {
		t.Fatalf("UpdateThread(old, closed false) = %+v, %v; want open", th, err)
	}
	if err := create(s, "old", 4, now.Add(time.Minute)); err != nil {
		t.Errorf("Create after reopening the old thread = %v, want it taken", err)
	}
	// An explicit close still wins.
	closed := true
	if _, _, err := s.UpdateThread(ctx, "", "young", nil, &closed, ""); err != nil {
		t.Fatalf("UpdateThread(young, closed) = %v", err)
	}
	if err := create(never, "young", 5, now); !errors.Is(err, comment.ErrThreadClosed) {
		t.Errorf("Create in an explicitly closed thread without auto-close = %v, want ErrThreadClosed", err)
	}
}

// TestOpenThreadKeepsItsPeriod sets closed false on threads that are not closed: that reopens
// nothing, so the auto-close period must still run from the first comment, not from the update.
func TestOpenThreadKeepsItsPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	now := time.Now()
	create := func(thread string, n int, at time.Time) error {
		c := draft(s, thread, n)
		c.CreatedAt, c.PublishedAt = at, at
		_, _, err := s.Create(ctx, c, comment.CreateOptions{})
		return err
	}
	open := false
	tests := []struct {
		name    string
		first   time.Time // the first comment, before the update; zero for none
		next    time.Time // a comment after the update
		wantErr error
	}{
		// 50 minutes into its hour: a comment 70 minutes after the first is too late.
		{"thread with comments", now.Add(-50 * time.Minute), now.Add(20 * time.Minute), comment.ErrThreadClosed},
		// No comment yet: the period starts with the first one, two hours after the update.
		{"thread without comments", time.Time{}, now.Add(2 * time.Hour), nil},
	}
	for i, tt := range tests {
		thread := fmt.Sprintf("open-%d", i)
		if !tt.first.IsZero() {
			if err := create(thread, 1, tt.first); err != nil {
				t.Fatalf("%s: Create(first comment at %v) = %v", tt.name, tt.first, err)
			}
		}
		if _, th, err := s.UpdateThread(ctx, "", thread, nil, &open, ""); err != nil || th.Closed {
			t.Fatalf("%s: UpdateThread(closed false) = %+v, %v; want open", tt.name, th, err)
		}
		if err := create(thread, 2, tt.next); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: UpdateThread(closed false) on an open thread, then Create(at %v) = %v, want %v (the period runs from the first comment)",
				tt.name, tt.next.Sub(now).Round(time.Minute), err, tt.wantErr)
		}
	}
}

// TestReopenedThreadWithoutComments: a thread closed before its first comment and reopened has no
// period running yet; its first comment, however much later, is taken and starts it.
func TestReopenedThreadWithoutComments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	now := time.Now()
	create := func(n int, at time.Time) error {
		c := draft(s, "reopened", n)
		c.CreatedAt, c.PublishedAt = at, at
		_, _, err := s.Create(ctx, c, comment.CreateOptions{})
		return err
	}
	closed, open := true, false
	if _, _, err := s.UpdateThread(ctx, "", "reopened", nil, &closed, ""); err != nil {
		t.Fatalf("UpdateThread(reopened, closed true) = %v", err)
	}
	if _, th, err := s.UpdateThread(ctx, "", "reopened", nil, &open, ""); err != nil || th.Closed {
		t.Fatalf("UpdateThread(reopened, closed false) = %+v, %v; want open", th, err)
	}
	// Back at its defaults without comments, the thread has no settings left.
	if n, err := s.rdb.Exists(ctx, s.keys.thread(shardOfThread("reopened"), "reopened")).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS of the reopened thread's settings = %d, %v; want 0", n, err)
	}
	if err := create(1, now.Add(2*period)); err != nil {
		t.Errorf("Create(first comment, two periods after a thread without comments was reopened) = %v, want it taken", err)
	}
	if err := create(2, now.Add(2*period+period/2)); err != nil {
		t.Errorf("Create(half a period after the first comment) = %v, want it taken", err)
	}
	if err := create(3, now.Add(3*period)); !errors.Is(err, comment.ErrThreadClosed) {
		t.Errorf("Create(a period after the first comment) = %v, want ErrThreadClosed", err)
	}
}

// TestWritingBackAnAgeClosedThread reads a thread closed by age and writes it back with another
// mode, closed true among the fields, as a client that edits the whole thread does. That changes
// the mode only: the thread stays closed by age, so a server whose period is longer, or off,
// finds it open, as it finds a thread nobody wrote to.
func TestWritingBackAnAgeClosedThread(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, rdb, prefix, period)
	longer := closingStore(t, rdb, prefix, 4*period)
	never, err := New(ctx, rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	now := time.Now()
	c := draft(s, "aged", 1)
	c.CreatedAt, c.PublishedAt = now.Add(-2*period), now.Add(-2*period)
	if _, _, err := s.Create(ctx, c, comment.CreateOptions{}); err != nil {
		t.Fatalf("Create(first comment, 2h ago) = %v", err)
	}
	read, err := s.GetThread(ctx, "aged")
	if err != nil || !read.Closed || !read.ClosedByAge {
		t.Fatalf("GetThread(aged) = %+v, %v; want closed by age", read, err)
	}
	mode := comment.ModePre
	_, th, err := s.UpdateThread(ctx, "", "aged", &mode, &read.Closed, "")
	if err != nil || th.Mode != comment.ModePre || !th.Closed || !th.ClosedByAge {
		t.Errorf("UpdateThread(aged, mode pre, closed %v as read) = %+v, %v; want mode pre, still closed by age", read.Closed, th, err)
	}
	for _, tt := range []struct {
		name string
		s    *Store
	}{
		{"period raised to 4h", longer},
		{"auto-close turned off", never},
	} {
		th, err := tt.s.GetThread(ctx, "aged")
		if err != nil || th.Closed || th.Mode != comment.ModePre {
			t.Errorf("%s: GetThread(aged) after the write-back = %+v, %v; want open, mode pre", tt.name, th, err)
		}
		c := draft(tt.s, "aged", 2)
		c.CreatedAt, c.PublishedAt = now, now
		if _, _, err := tt.s.Create(ctx, c, comment.CreateOptions{}); err != nil {
			t.Errorf("%s: Create in the thread after the write-back = %v, want it taken", tt.name, err)
		}
	}
}

// TestSpamStartsNoPeriod: the auto-close period starts at the thread's first comment that is not
// spam. A spam or rejected comment stored first (a spammer posting to an article id before the
// article is out) leaves the thread without a period, so a reader's comment long after is taken
// and starts it; a published or held first comment starts it.
func TestSpamStartsNoPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	now := time.Now().Truncate(time.Microsecond)
	tests := []struct {
		name    string
		first   comment.State // of the first comment, stored two periods ago
		wantErr error         // of a published comment now
	}{
		{"spam first", comment.StateSpam, nil},
		{"rejected first", comment.StateRejected, nil},
		{"held first", comment.StatePending, comment.ErrThreadClosed},
		{"published first", comment.StatePublished, comment.ErrThreadClosed},
	}
	for i, tt := range tests {
		thread := fmt.Sprintf("early-%d", i)
		first := draft(s, thread, 1)
		first.State, first.CreatedAt, first.PublishedAt = tt.first, now.Add(-2*period), time.Time{}
		if tt.first == comment.StatePublished {
			first.PublishedAt = first.CreatedAt
		}
		if _, _, err := s.Create(ctx, first, comment.CreateOptions{}); err != nil {
			t.Fatalf("%s: Create(first comment, %v, 2h ago) = %v", tt.name, tt.first, err)
		}
		next := draft(s, thread, 2)
		next.CreatedAt, next.PublishedAt = now, now
		if _, _, err := s.Create(ctx, next, comment.CreateOptions{}); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Create(a published comment now, after a %v one 2h ago, period 1h) = %v, want %v", tt.name, tt.first, err, tt.wantErr)
		}
		if tt.wantErr != nil {
			continue
		}
		th, err := s.GetThread(ctx, thread)
		if want := now.Add(period); err != nil || th.Closed || !th.AutoCloseAt.Equal(want) {
			t.Errorf("%s: GetThread after the published comment = %+v, %v; want open, closing at %v (its period starts now)", tt.name, th, err, want)
		}
	}
}

// TestNotSpamStartsThePeriod: a thread whose only comments are spam or rejected has no auto-close
// period; a moderator's decision that takes one of them out (approve, or back to the queue)
// starts it at the decision, not at the comment's submission long before, and a later decision
// leaves it running from there.
func TestNotSpamStartsThePeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	now := time.Now().Truncate(time.Microsecond)
	tests := []struct {
		name   string
		stored comment.State
		action moderation.Action
		to     comment.State
		from   []comment.State
	}{
		{"spam marked not spam", comment.StateSpam, moderation.MarkNotSpam, comment.StatePending, []comment.State{comment.StateSpam}},
		{"spam approved", comment.StateSpam, moderation.Approve, comment.StatePublished, []comment.State{comment.StateSpam}},
		{"rejected reopened", comment.StateRejected, moderation.Reopen, comment.StatePending, []comment.State{comment.StateRejected}},
		{"rejected approved", comment.StateRejected, moderation.Approve, comment.StatePublished, []comment.State{comment.StateRejected}},
	}
	for i, tt := range tests {
		thread := fmt.Sprintf("spam-only-%d", i)
		c := draft(s, thread, 1)
		c.State, c.CreatedAt, c.PublishedAt = tt.stored, now.Add(-2*period), time.Time{}
		if _, _, err := s.Create(ctx, c, comment.CreateOptions{}); err != nil {
			t.Fatalf("%s: Create(%v comment, 2h ago) = %v", tt.name, tt.stored, err)
		}
		if th, err := s.GetThread(ctx, thread); err != nil || th.Closed || !th.AutoCloseAt.IsZero() {
			t.Fatalf("%s: GetThread with only a %v comment = %+v, %v; want open, no period", tt.name, tt.stored, th, err)
		}
		decided := now.Add(-time.Minute)
		d := comment.Decision{Moderator: "anna", At: decided, To: tt.to}
		if _, err := s.Decide(ctx, c.ID, tt.action, d, tt.from, ""); err != nil {
			t.Fatalf("%s: Decide = %v", tt.name, err)
		}
		th, err := s.GetThread(ctx, thread)
		if want := decided.Add(period); err != nil || th.Closed || !th.AutoCloseAt.Equal(want) {
			t.Errorf("%s: GetThread after the decision = %+v, %v; want open, closing at %v (the decision's time + 1h)", tt.name, th, err, want)
		}
		// A later decision on the same comment leaves the period where it started.
		back := comment.Decision{Moderator: "anna", At: now, To: comment.StateSpam}
		if _, err := s.Decide(ctx, c.ID, moderation.MarkSpam, back, []comment.State{tt.to}, ""); err != nil {
			t.Fatalf("%s: MarkSpam after the decision = %v", tt.name, err)
		}
		if _, err := s.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: now, To: comment.StatePublished}, []comment.State{comment.StateSpam}, ""); err != nil {
			t.Fatalf("%s: Approve after MarkSpam = %v", tt.name, err)
		}
		if th, err := s.GetThread(ctx, thread); err != nil || !th.AutoCloseAt.Equal(decided.Add(period)) {
			t.Errorf("%s: GetThread after two more decisions = %+v, %v; want the period still closing at %v", tt.name, th, err, decided.Add(period))
		}
	}
}
