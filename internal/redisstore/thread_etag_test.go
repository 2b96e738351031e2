package redisstore

import (
	"context"
	"errors"
	"fmt"
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
				return s.UpdateThread(ctx, thread, u.mode, u.closed, etag)
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

// An update with an etag makes the changes the same update makes without one, from every kind of
// thread: the script and the unconditional path must not drift apart. Each update runs on two
// threads in the same start state, one without an etag and one with the thread's etag.
func TestUpdateThreadWithETagChangesAsWithout(t *testing.T) {
	t.Parallel()
	const period = time.Hour
	for _, closing := range []time.Duration{0, period} {
		t.Run(fmt.Sprintf("close threads after %v", closing), func(t *testing.T) {
			t.Parallel()
			s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), closing)
			now := time.Now()
			starts := []struct {
				name  string
				age   time.Duration // of the first comment; 0: none
				setup []threadUpdate
			}{
				{name: "new"},
				{name: "pre-moderated", setup: []threadUpdate{setMode(comment.ModePre)}},
				{name: "closed", setup: []threadUpdate{setMode(comment.ModePost), setClosed(true)}},
				{name: "open with comments", age: period / 2},
				{name: "closed by age", age: 2 * period},
				{name: "closed by age and a moderator", age: 2 * period, setup: []threadUpdate{setClosed(true)}},
			}
			open, closed := false, true
			pre, def := comment.ModePre, comment.ModeDefault
			updates := []threadUpdate{
				setMode(comment.ModeDefault), setMode(comment.ModePre), setMode(comment.ModePost),
				setClosed(true), setClosed(false),
				{mode: &pre, closed: &closed}, {mode: &def, closed: &open}, {},
			}
			n := 0
			for _, st := range starts {
				for _, u := range updates {
					n++
					var threads [2]string
					for i := range threads {
						threads[i] = fmt.Sprintf("parity-%d-%d", n, i)
						if st.age > 0 {
							firstComment(t, s, threads[i], 1, now.Add(-st.age))
						}
						for _, su := range st.setup {
							if _, err := s.UpdateThread(context.Background(), threads[i], su.mode, su.closed, ""); err != nil {
								t.Fatalf("%s: UpdateThread(%s) = %v", st.name, su, err)
							}
						}
					}
					without, err := s.UpdateThread(context.Background(), threads[0], u.mode, u.closed, "")
					if err != nil {
						t.Fatalf("%s: UpdateThread(%s) = %v", st.name, u, err)
					}
					etag := moderation.ThreadETag(mustGetThread(t, s, threads[1]))
					with, err := s.UpdateThread(context.Background(), threads[1], u.mode, u.closed, etag)
					if err != nil {
						t.Fatalf("%s: UpdateThread(%s, etag %s of the thread as read) = %v", st.name, u, etag, err)
					}
					// A reopening starts the period at its own time, a few µs apart on the two threads.
					approx := cmpopts.EquateApproxTime(time.Second)
					ignoreID := cmpopts.IgnoreFields(comment.Thread{}, "ID")
					if diff := cmp.Diff(without, with, approx, ignoreID); diff != "" {
						t.Errorf("%s: UpdateThread(%s) with an etag (-without +with):\n%s", st.name, u, diff)
					}
					if diff := cmp.Diff(mustGetThread(t, s, threads[0]), mustGetThread(t, s, threads[1]), approx, ignoreID); diff != "" {
						t.Errorf("%s: GetThread after UpdateThread(%s) with an etag (-without +with):\n%s", st.name, u, diff)
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
	got, err := s.UpdateThread(context.Background(), "ages", &pre, &aged.Closed, moderation.ThreadETag(open))
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
	want, err := ts.UpdateThread(ctx, "same", nil, &closed, "")
	if err != nil {
		t.Fatalf("UpdateThread(same, closed) = %v", err)
	}
	got, err := ts.UpdateThread(ctx, "same", nil, &closed, stale)
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
// thread closed by age starts its period once.
func TestUpdateThreadWithETagResent(t *testing.T) {
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
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb := redistest.Client(t, redistest.Shared(t))
			s := closingStore(t, rdb, redistest.Prefix(t), period)
			thread := fmt.Sprintf("etag-resent-%d", i)
			if tt.age > 0 {
				firstComment(t, s, thread, 1, time.Now().Add(-tt.age))
			}
			etag := moderation.ThreadETag(mustGetThread(t, s, thread))
			sent := resend(rdb, etag, scriptNames...)

			got, err := s.UpdateThread(context.Background(), thread, tt.update.mode, tt.update.closed, etag)
			if !sent() {
				t.Fatal("UpdateThread was not resent: the test shows nothing")
			}
			if err != nil {
				t.Fatalf("UpdateThread(%s, %s, etag %s), resent = %v; want no error", thread, tt.update, etag, err)
			}
			if !tt.want(got) {
				t.Errorf("UpdateThread(%s, %s), resent = %+v", thread, tt.update, got)
			}
		})
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
	got, err := s.UpdateThread(ctx, "mini", nil, &closed, moderation.ThreadETag(read))
	if err != nil || !got.Closed {
		t.Fatalf("UpdateThread(mini, closed, etag %s) on miniredis = %+v, %v; want closed", moderation.ThreadETag(read), got, err)
	}
	if _, err := s.UpdateThread(ctx, "mini", &pre, nil, moderation.ThreadETag(read)); !errors.Is(err, moderation.ErrStale) {
		t.Errorf("UpdateThread(mini, mode pre, etag read before the close) on miniredis = %v; want ErrStale", err)
	}
}
