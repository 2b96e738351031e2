package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// threadUpdate is one call of UpdateThread: the fields it sets (nil: unchanged).
type threadUpdate struct {
	mode   *comment.Mode
	closed *bool
}

func (u threadUpdate) String() string {
	if u.mode == nil && u.closed == nil {
		return "nothing"
	}
	s := ""
	if u.mode != nil {
		s += "mode " + u.mode.String()
	}
	if u.closed != nil {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("closed %v", *u.closed)
	}
	return s
}

func setMode(m comment.Mode) threadUpdate { return threadUpdate{mode: &m} }
func setClosed(c bool) threadUpdate       { return threadUpdate{closed: &c} }

// mustGetThread reads a thread and fails the test on an error.
func mustGetThread(t *testing.T, s *Store, thread string) comment.Thread {
	t.Helper()
	th, err := s.GetThread(context.Background(), thread)
	if err != nil {
		t.Fatalf("GetThread(%s) = %v", thread, err)
	}
	return th
}

// threadFields returns the thread's settings hash as stored.
func threadFields(t *testing.T, s *Store, thread string) map[string]string {
	t.Helper()
	m, err := s.rdb.HGetAll(context.Background(), s.keys.thread(shardOfThread(thread), thread)).Result()
	if err != nil {
		t.Fatalf("HGETALL of thread %s = %v", thread, err)
	}
	return m
}

// firstComment stores a published comment in thread created at, which starts its auto-close
// period when it is the thread's first.
func firstComment(t *testing.T, s *Store, thread string, n int, at time.Time) {
	t.Helper()
	c := draft(s, thread, n)
	c.CreatedAt, c.PublishedAt = at, at
	if _, _, err := s.Create(context.Background(), c, comment.CreateOptions{}); err != nil {
		t.Fatalf("Create(comment %d of %s at %v) = %v", n, thread, at, err)
	}
}

// Two writers update a thread from the same reading: the second update, sent with the etag read
// before the first, is refused (a *StaleThreadError holding the thread as the first left it) and
// changes nothing. With the etag of the thread as it is now, the same update goes through: the
// etag the store checks is the one moderation.ThreadETag gives the thread GetThread returns.
func TestUpdateThreadStaleETagRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	now := time.Now()
	tests := []struct {
		name string
		// age, when set, is how long before now the thread's first comment was stored.
		age    time.Duration
		before []threadUpdate // made before the writer reads the thread
		// meanwhile changes the thread after it was read: another writer's updates, or (first) its
		// first comment, which starts its auto-close period.
		meanwhile []threadUpdate
		first     bool
		update    threadUpdate // the writer's, refused
		want      comment.Thread
	}{
		{name: "pre-moderate after a colleague closed it",
			meanwhile: []threadUpdate{setClosed(true)}, update: setMode(comment.ModePre),
			want: comment.Thread{Mode: comment.ModePre, Closed: true}},
		{name: "reopen after a colleague set post-moderation",
			before: []threadUpdate{setClosed(true)}, meanwhile: []threadUpdate{setMode(comment.ModePost)}, update: setClosed(false),
			want: comment.Thread{Mode: comment.ModePost}},
		{name: "close after a colleague set the site default mode",
			before: []threadUpdate{setMode(comment.ModePost)}, meanwhile: []threadUpdate{setMode(comment.ModeDefault)}, update: setClosed(true),
			want: comment.Thread{Closed: true}},
		{name: "pre-moderate after a colleague closed and reopened it, starting a new period",
			age: period / 2, meanwhile: []threadUpdate{setClosed(true), setClosed(false)}, update: setMode(comment.ModePre),
			want: comment.Thread{Mode: comment.ModePre}},
		{name: "pre-moderate after a colleague reopened a thread closed by age",
			age: 2 * period, meanwhile: []threadUpdate{setClosed(false)}, update: setMode(comment.ModePre),
			want: comment.Thread{Mode: comment.ModePre}},
		{name: "close after the first comment started the period",
			first: true, update: setClosed(true),
			want: comment.Thread{Closed: true}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			thread := fmt.Sprintf("etag-stale-%d", i)
			if tt.age > 0 {
				firstComment(t, s, thread, 1, now.Add(-tt.age))
			}
			update := func(u threadUpdate, etag string) (comment.Thread, error) {
				_, after, err := s.UpdateThread(ctx, "", thread, u.mode, u.closed, etag)
				return after, err
			}
			for _, u := range tt.before {
				if _, err := update(u, ""); err != nil {
					t.Fatalf("UpdateThread(%s, %s) = %v", thread, u, err)
				}
			}
			etag := moderation.ThreadETag(mustGetThread(t, s, thread))
			for _, u := range tt.meanwhile {
				if _, err := update(u, ""); err != nil {
					t.Fatalf("UpdateThread(%s, %s) = %v", thread, u, err)
				}
			}
			if tt.first {
				firstComment(t, s, thread, 2, time.Now())
			}
			current := mustGetThread(t, s, thread)
			if moderation.ThreadETag(current) == etag {
				t.Fatalf("ThreadETag of %s after the change = %s, the same as before it", thread, etag)
			}
			stored := threadFields(t, s, thread)

			_, err := update(tt.update, etag)

			var serr *moderation.StaleThreadError
			if !errors.As(err, &serr) || !errors.Is(err, moderation.ErrStale) {
				t.Fatalf("UpdateThread(%s, %s, etag read before the change) = %v; want a *StaleThreadError", thread, tt.update, err)
			}
			if serr.ID != thread {
				t.Errorf("UpdateThread(%s, stale etag) error names thread %s", thread, serr.ID)
			}
			if diff := cmp.Diff(current, serr.Current); diff != "" {
				t.Errorf("UpdateThread(%s, stale etag) error's thread (-stored +got):\n%s", thread, diff)
			}
			if diff := cmp.Diff(stored, threadFields(t, s, thread)); diff != "" {
				t.Errorf("UpdateThread(%s, %s, stale etag) changed the thread (-before +after):\n%s", thread, tt.update, diff)
			}

			got, err := update(tt.update, moderation.ThreadETag(current))
			if err != nil {
				t.Fatalf("UpdateThread(%s, %s, etag of the thread now) = %v; want no error", thread, tt.update, err)
			}
			if got.Mode != tt.want.Mode || got.Closed != tt.want.Closed {
				t.Errorf("UpdateThread(%s, %s, etag of the thread now) = mode %v, closed %v; want mode %v, closed %v", thread, tt.update, got.Mode, got.Closed, tt.want.Mode, tt.want.Closed)
			}
			if e, now := moderation.ThreadETag(got), moderation.ThreadETag(mustGetThread(t, s, thread)); e != now {
				t.Errorf("UpdateThread(%s) returned a thread of etag %s, GetThread then %s; want the same", thread, e, now)
			}
		})
	}
}

// threadWant is a thread as a test expects it after an update: its own mode, whether and how it
// is closed, and where its auto-close period ends.
type threadWant struct {
	mode   comment.Mode
	closed closedHow
	period periodEnd
}

// closedHow is how a thread is closed, if it is.
type closedHow int

const (
	isOpen closedHow = iota
	byModerator
	byAge
)

// periodEnd is where a thread's auto-close period ends after an update.
type periodEnd int

const (
	noPeriod   periodEnd = iota // none: no auto-close, or no comment yet
	samePeriod                  // as its first comment started it
	newPeriod                   // the update started a new one
)

// thread is the comment.Thread w describes, for a thread whose first comment was stored at first
// and updated at now by a store that closes threads period after their first comment.
func (w threadWant) thread(first, now time.Time, period time.Duration) comment.Thread {
	th := comment.Thread{Mode: w.mode, Closed: w.closed != isOpen, ClosedByAge: w.closed == byAge}
	switch w.period {
	case samePeriod:
		th.AutoCloseAt = first.Add(period)
	case newPeriod:
		th.AutoCloseAt = now.Add(period)
	}
	return th
}

// What UpdateThread changes, from every kind of thread, with and without auto-close: a setting
// back at its default is deleted, closing a thread closed by age leaves it closed by age only,
// reopening a closed thread that has a period starts a new one, and reopening an open one leaves
// its period as it runs. Each update runs on two threads in the same start state, one without an
// etag and one with the thread's etag, and both must end as wanted: the etag only decides whether
// the update is made, never what it changes.
func TestUpdateThreadChanges(t *testing.T) {
	t.Parallel()
	const period = time.Hour
	starts := map[string]struct {
		age   time.Duration // of the first comment; 0: none
		setup []threadUpdate
	}{
		"new":           {},
		"pre-moderated": {setup: []threadUpdate{setMode(comment.ModePre)}},
		"closed":        {setup: []threadUpdate{setMode(comment.ModePost), setClosed(true)}},
		// Its first comment half a period ago: open, its period running.
		"open with comments": {age: period / 2},
		// Its first comment two periods ago: closed by age when the server closes threads by age.
		"closed by age": {age: 2 * period},
		// The same, and then closed by a moderator, which changes nothing when the server closes
		// threads by age.
		"closed by age and a moderator": {age: 2 * period, setup: []threadUpdate{setClosed(true)}},
	}
	open, closed := false, true
	pre, def := comment.ModePre, comment.ModeDefault
	var (
		toDefault   = setMode(comment.ModeDefault)
		toPre       = setMode(comment.ModePre)
		toPost      = setMode(comment.ModePost)
		closeIt     = setClosed(true)
		reopen      = setClosed(false)
		preClosed   = threadUpdate{mode: &pre, closed: &closed}
		defaultOpen = threadUpdate{mode: &def, closed: &open}
		nothing     = threadUpdate{}
	)
	const (
		dflt = comment.ModeDefault
		pr   = comment.ModePre
		post = comment.ModePost
	)
	tests := []struct {
		start  string
		update threadUpdate
		// closing is the thread wanted from a store that closes threads by age (period after their
		// first comment); never from one that does not.
		closing, never threadWant
	}{
		{"new", toDefault, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"new", toPre, threadWant{pr, isOpen, noPeriod}, threadWant{pr, isOpen, noPeriod}},
		{"new", toPost, threadWant{post, isOpen, noPeriod}, threadWant{post, isOpen, noPeriod}},
		{"new", closeIt, threadWant{dflt, byModerator, noPeriod}, threadWant{dflt, byModerator, noPeriod}},
		{"new", reopen, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"new", preClosed, threadWant{pr, byModerator, noPeriod}, threadWant{pr, byModerator, noPeriod}},
		{"new", defaultOpen, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"new", nothing, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},

		{"pre-moderated", toDefault, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"pre-moderated", toPre, threadWant{pr, isOpen, noPeriod}, threadWant{pr, isOpen, noPeriod}},
		{"pre-moderated", toPost, threadWant{post, isOpen, noPeriod}, threadWant{post, isOpen, noPeriod}},
		{"pre-moderated", closeIt, threadWant{pr, byModerator, noPeriod}, threadWant{pr, byModerator, noPeriod}},
		{"pre-moderated", reopen, threadWant{pr, isOpen, noPeriod}, threadWant{pr, isOpen, noPeriod}},
		{"pre-moderated", preClosed, threadWant{pr, byModerator, noPeriod}, threadWant{pr, byModerator, noPeriod}},
		{"pre-moderated", defaultOpen, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"pre-moderated", nothing, threadWant{pr, isOpen, noPeriod}, threadWant{pr, isOpen, noPeriod}},

		// Reopened before its first comment: no period starts; the first comment starts it.
		{"closed", toDefault, threadWant{dflt, byModerator, noPeriod}, threadWant{dflt, byModerator, noPeriod}},
		{"closed", toPre, threadWant{pr, byModerator, noPeriod}, threadWant{pr, byModerator, noPeriod}},
		{"closed", toPost, threadWant{post, byModerator, noPeriod}, threadWant{post, byModerator, noPeriod}},
		{"closed", closeIt, threadWant{post, byModerator, noPeriod}, threadWant{post, byModerator, noPeriod}},
		{"closed", reopen, threadWant{post, isOpen, noPeriod}, threadWant{post, isOpen, noPeriod}},
		{"closed", preClosed, threadWant{pr, byModerator, noPeriod}, threadWant{pr, byModerator, noPeriod}},
		{"closed", defaultOpen, threadWant{dflt, isOpen, noPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"closed", nothing, threadWant{post, byModerator, noPeriod}, threadWant{post, byModerator, noPeriod}},

		// Reopening an open thread reopens nothing: its period still runs from its first comment.
		{"open with comments", toDefault, threadWant{dflt, isOpen, samePeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"open with comments", toPre, threadWant{pr, isOpen, samePeriod}, threadWant{pr, isOpen, noPeriod}},
		{"open with comments", toPost, threadWant{post, isOpen, samePeriod}, threadWant{post, isOpen, noPeriod}},
		{"open with comments", closeIt, threadWant{dflt, byModerator, samePeriod}, threadWant{dflt, byModerator, noPeriod}},
		{"open with comments", reopen, threadWant{dflt, isOpen, samePeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"open with comments", preClosed, threadWant{pr, byModerator, samePeriod}, threadWant{pr, byModerator, noPeriod}},
		{"open with comments", defaultOpen, threadWant{dflt, isOpen, samePeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"open with comments", nothing, threadWant{dflt, isOpen, samePeriod}, threadWant{dflt, isOpen, noPeriod}},

		// Closing a thread closed by age leaves it closed by age only; reopening it starts a new
		// period. Without auto-close it is an open thread with comments.
		{"closed by age", toDefault, threadWant{dflt, byAge, samePeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"closed by age", toPre, threadWant{pr, byAge, samePeriod}, threadWant{pr, isOpen, noPeriod}},
		{"closed by age", toPost, threadWant{post, byAge, samePeriod}, threadWant{post, isOpen, noPeriod}},
		{"closed by age", closeIt, threadWant{dflt, byAge, samePeriod}, threadWant{dflt, byModerator, noPeriod}},
		{"closed by age", reopen, threadWant{dflt, isOpen, newPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"closed by age", preClosed, threadWant{pr, byAge, samePeriod}, threadWant{pr, byModerator, noPeriod}},
		{"closed by age", defaultOpen, threadWant{dflt, isOpen, newPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"closed by age", nothing, threadWant{dflt, byAge, samePeriod}, threadWant{dflt, isOpen, noPeriod}},

		// With auto-close the moderator's close was left out: as closed by age. Without, a thread
		// a moderator closed.
		{"closed by age and a moderator", toDefault, threadWant{dflt, byAge, samePeriod}, threadWant{dflt, byModerator, noPeriod}},
		{"closed by age and a moderator", toPre, threadWant{pr, byAge, samePeriod}, threadWant{pr, byModerator, noPeriod}},
		{"closed by age and a moderator", toPost, threadWant{post, byAge, samePeriod}, threadWant{post, byModerator, noPeriod}},
		{"closed by age and a moderator", closeIt, threadWant{dflt, byAge, samePeriod}, threadWant{dflt, byModerator, noPeriod}},
		{"closed by age and a moderator", reopen, threadWant{dflt, isOpen, newPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"closed by age and a moderator", preClosed, threadWant{pr, byAge, samePeriod}, threadWant{pr, byModerator, noPeriod}},
		{"closed by age and a moderator", defaultOpen, threadWant{dflt, isOpen, newPeriod}, threadWant{dflt, isOpen, noPeriod}},
		{"closed by age and a moderator", nothing, threadWant{dflt, byAge, samePeriod}, threadWant{dflt, byModerator, noPeriod}},
	}
	for _, closing := range []time.Duration{0, period} {
		t.Run(fmt.Sprintf("close threads after %v", closing), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), closing)
			base := time.Now()
			// Times are stored in µs and a new period starts at the update's own time: near enough.
			approx := cmpopts.EquateApproxTime(time.Second)
			for i, tt := range tests {
				st, ok := starts[tt.start]
				if !ok {
					t.Fatalf("case %d starts from %q, which is not a start state", i, tt.start)
				}
				want := tt.never
				if closing > 0 {
					want = tt.closing
				}
				for _, withETag := range []bool{false, true} {
					name := fmt.Sprintf("%s: UpdateThread(%s, without an etag)", tt.start, tt.update)
					if withETag {
						name = fmt.Sprintf("%s: UpdateThread(%s, etag of the thread as read)", tt.start, tt.update)
					}
					thread := fmt.Sprintf("changes-%d-%v", i, withETag)
					first := base.Add(-st.age)
					if st.age > 0 {
						firstComment(t, s, thread, 1, first)
					}
					for _, su := range st.setup {
						if _, _, err := s.UpdateThread(ctx, "", thread, su.mode, su.closed, ""); err != nil {
							t.Fatalf("%s: setting up with UpdateThread(%s) = %v", name, su, err)
						}
					}
					var etag string
					if withETag {
						etag = moderation.ThreadETag(mustGetThread(t, s, thread))
					}
					_, got, err := s.UpdateThread(ctx, "", thread, tt.update.mode, tt.update.closed, etag)
					if err != nil {
						t.Fatalf("%s = %v", name, err)
					}
					w := want.thread(first, time.Now(), closing)
					w.ID = thread
					if diff := cmp.Diff(w, got, approx); diff != "" {
						t.Errorf("%s (-want +got):\n%s", name, diff)
					}
					if diff := cmp.Diff(got, mustGetThread(t, s, thread)); diff != "" {
						t.Errorf("%s, then GetThread (-update +get):\n%s", name, diff)
					}
				}
			}
		})
	}
}

// A thread that closes by age keeps its etag: nothing was written. An update sent with the etag
// read while it was open goes through, and a write-back of what was read (closed true, with
// another mode) leaves it closed by age, as without an etag.
func TestThreadClosedByAgeKeepsItsETag(t *testing.T) {
	t.Parallel()
	const period = 300 * time.Millisecond
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	firstComment(t, s, "ages", 1, time.Now())
	open := mustGetThread(t, s, "ages")
	if open.Closed {
		t.Fatalf("GetThread(ages) just after its first comment = %+v; want open", open)
	}
	time.Sleep(time.Until(open.AutoCloseAt) + 10*time.Millisecond)
	aged := mustGetThread(t, s, "ages")
	if !aged.ClosedByAge {
		t.Fatalf("GetThread(ages) after its period = %+v; want closed by age", aged)
	}
	if a, b := moderation.ThreadETag(open), moderation.ThreadETag(aged); a != b {
		t.Errorf("ThreadETag(ages) open = %s, closed by age = %s; want the same", a, b)
	}
	pre := comment.ModePre
	_, got, err := s.UpdateThread(context.Background(), "", "ages", &pre, &aged.Closed, moderation.ThreadETag(open))
	if err != nil || got.Mode != comment.ModePre || !got.ClosedByAge {
		t.Errorf("UpdateThread(ages, mode pre, closed true, etag read while open) = %+v, %v; want mode pre, closed by age", got, err)
	}
}

// An update that changes nothing (the thread already is as it asks) succeeds whatever its etag, as
// without one: a second moderator closing with a stale etag what the first closed overwrites
// nobody.
func TestUpdateThreadNoChangeIgnoresETag(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	stale := moderation.ThreadETag(mustGetThread(t, ts.Store, "same"))
	closed := true
	_, want, err := ts.UpdateThread(ctx, "", "same", nil, &closed, "")
	if err != nil {
		t.Fatalf("UpdateThread(same, closed) = %v", err)
	}
	_, got, err := ts.UpdateThread(ctx, "", "same", nil, &closed, stale)
	if err != nil {
		t.Fatalf("UpdateThread(same, closed, stale etag) on a closed thread = %v; want no error", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateThread(same, closed, stale etag) on a closed thread (-before +got):\n%s", diff)
	}
}

// go-redis resends a script call whose reply it lost; Redis then runs the update twice. The second
// run finds the thread updated, by this very call, so no longer with the etag it was sent with: it
// must answer with the thread, as a retried update does, not refuse it as stale. Reopening a
// thread closed by age starts its period once. Without an etag the second run must likewise find
// nothing left to do.
func TestUpdateThreadResent(t *testing.T) {
	t.Parallel()
	const period = time.Hour
	pre := comment.ModePre
	tests := []struct {
		name   string
		age    time.Duration
		update threadUpdate
		want   func(comment.Thread) bool
	}{
		{"close", 0, setClosed(true), func(th comment.Thread) bool { return th.Closed && !th.ClosedByAge }},
		{"pre-moderate", 0, setMode(comment.ModePre), func(th comment.Thread) bool { return th.Mode == comment.ModePre }},
		{"reopen a thread closed by age", 2 * period, threadUpdate{mode: &pre, closed: new(bool)}, func(th comment.Thread) bool {
			return !th.Closed && th.Mode == comment.ModePre && time.Until(th.AutoCloseAt) > period-time.Minute
		}},
	}
	for i, tt := range tests {
		for _, withETag := range []bool{true, false} {
			name := tt.name + " without an etag"
			if withETag {
				name = tt.name + " with an etag"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rdb := redistest.Client(t, redistest.Shared(t))
				s := closingStore(t, rdb, redistest.Prefix(t), period)
				thread := fmt.Sprintf("resent-%d-%v", i, withETag)
				if tt.age > 0 {
					firstComment(t, s, thread, 1, time.Now().Add(-tt.age))
				}
				// The call to resend: the one holding the etag, or else the thread's key.
				var etag string
				var arg any = s.keys.thread(shardOfThread(thread), thread)
				if withETag {
					etag = moderation.ThreadETag(mustGetThread(t, s, thread))
					arg = etag
				}
				sent := resend(rdb, arg, scriptNames...)

				_, got, err := s.UpdateThread(context.Background(), "", thread, tt.update.mode, tt.update.closed, etag)
				if !sent() {
					t.Fatal("UpdateThread was not resent: the test shows nothing")
				}
				if err != nil {
					t.Fatalf("UpdateThread(%s, %s, etag %q), resent = %v; want no error", thread, tt.update, etag, err)
				}
				if !tt.want(got) {
					t.Errorf("UpdateThread(%s, %s, etag %q), resent = %+v", thread, tt.update, etag, got)
				}
			})
		}
	}
}

// The script checks the etag on miniredis, which commentd -dev uses, as on Redis: the hash
// (redis.sha1hex) and the period's end, which the script prints from a number.
func TestMiniredisChecksThreadETags(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := closingStore(t, rdb, "", time.Hour)
	ctx := context.Background()
	firstComment(t, s, "mini", 1, time.Now().Add(-time.Minute))
	read := mustGetThread(t, s, "mini")
	if read.AutoCloseAt.IsZero() {
		t.Fatalf("GetThread(mini) on miniredis = %+v; want a period running", read)
	}
	closed, pre := true, comment.ModePre
	_, got, err := s.UpdateThread(ctx, "", "mini", nil, &closed, moderation.ThreadETag(read))
	if err != nil || !got.Closed {
		t.Fatalf("UpdateThread(mini, closed, etag %s) on miniredis = %+v, %v; want closed", moderation.ThreadETag(read), got, err)
	}
	if _, _, err := s.UpdateThread(ctx, "", "mini", &pre, nil, moderation.ThreadETag(read)); !errors.Is(err, moderation.ErrStale) {
		t.Errorf("UpdateThread(mini, mode pre, etag read before the close) on miniredis = %v; want ErrStale", err)
	}

	// Without an etag the same script runs, unconditionally: closing a thread closed by age leaves
	// it so, and reopening it starts a new period.
	firstComment(t, s, "mini-aged", 1, time.Now().Add(-2*time.Hour))
	if _, got, err := s.UpdateThread(ctx, "", "mini-aged", &pre, &closed, ""); err != nil || got.Mode != pre || !got.ClosedByAge {
		t.Errorf("UpdateThread(mini-aged, mode pre, closed) on miniredis = %+v, %v; want mode pre, closed by age", got, err)
	}
	open := false
	_, got, err = s.UpdateThread(ctx, "", "mini-aged", nil, &open, "")
	if err != nil || got.Closed || got.Mode != pre || time.Until(got.AutoCloseAt) < time.Hour-time.Minute {
		t.Errorf("UpdateThread(mini-aged, closed false) on miniredis = %+v, %v; want open, mode pre, a new period of an hour", got, err)
	}
}

// Every UpdateThread is one round trip, whatever it changes: the script reads and writes in one
// step. Its first call on a Redis that has seen no update yet is one too, as New loads the script.
func TestUpdateThreadTakesOneRoundTrip(t *testing.T) {
	t.Parallel()
	// A server of its own, whose script cache holds only what New loads.
	rdb := redistest.Client(t, redistest.Start(t).Addr)
	s := closingStore(t, rdb, "", time.Hour)
	ctx := context.Background()
	firstComment(t, s, "trips", 1, time.Now().Add(-2*time.Hour))
	var n atomic.Int64
	rdb.AddHook(RoundTripHook(func() { n.Add(1) }))
	// Opens the connection single commands use (its handshake is counted too).
	read := mustGetThread(t, s, "trips")
	pre, closed, open := comment.ModePre, true, false
	calls := []struct {
		name   string
		update threadUpdate
		etag   string
	}{
		{"close a thread closed by age", threadUpdate{closed: &closed}, ""},
		{"reopen it", threadUpdate{closed: &open}, ""},
		{"close it", threadUpdate{closed: &closed}, ""},
		{"pre-moderate it, etag read before", threadUpdate{mode: &pre}, moderation.ThreadETag(read)},
		{"pre-moderate and reopen it", threadUpdate{mode: &pre, closed: &open}, ""},
	}
	for _, c := range calls {
		before := n.Load()
		_, _, err := s.UpdateThread(ctx, "", "trips", c.update.mode, c.update.closed, c.etag)
		if err != nil && !errors.Is(err, moderation.ErrStale) {
			t.Fatalf("%s: UpdateThread(trips, %s) = %v", c.name, c.update, err)
		}
		if got := n.Load() - before; got != 1 {
			t.Errorf("%s: UpdateThread(trips, %s) took %d round trips, want 1", c.name, c.update, got)
		}
	}
}

// An etag read from another thread is refused, even when both threads are on the site's defaults
// and the same in every setting: an update must not pass on a thread the moderator never read.
func TestUpdateThreadOtherThreadsETagRefused(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	other := moderation.ThreadETag(mustGetThread(t, ts.Store, "read-this"))
	pre := comment.ModePre
	_, _, err := ts.UpdateThread(ctx, "", "update-that", &pre, nil, other)
	var serr *moderation.StaleThreadError
	if !errors.As(err, &serr) {
		t.Fatalf("UpdateThread(update-that, etag of read-this) = %v; want a *StaleThreadError", err)
	}
	if got := mustGetThread(t, ts.Store, "update-that"); got.Mode != comment.ModeDefault {
		t.Errorf("UpdateThread(update-that, etag of read-this) changed the mode to %v; want it left at the default", got.Mode)
	}
	if _, _, err := ts.UpdateThread(ctx, "", "update-that", &pre, nil, moderation.ThreadETag(mustGetThread(t, ts.Store, "update-that"))); err != nil {
		t.Errorf("UpdateThread(update-that, its own etag) = %v; want no error", err)
	}
}
