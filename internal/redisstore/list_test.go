package redisstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// lister fetches one page.
type lister func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error)

// readAll follows next-page tokens from the first page to the end and returns the ids seen, in
// order. It fails the test if a page is larger than size or the pages do not end.
func readAll(t *testing.T, list lister, size int) []string {
	t.Helper()
	var ids []string
	token := ""
	for range 1000 {
		page, next, err := list(context.Background(), comment.Page{Size: size, Token: token})
		if err != nil {
			t.Fatalf("list page (size %d, token %q) = %v", size, token, err)
		}
		if len(page) > size {
			t.Fatalf("list page (size %d) returned %d comments", size, len(page))
		}
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		if next == "" {
			return ids
		}
		token = next
	}
	t.Fatalf("list (size %d) did not end after 1000 pages", size)
	return nil
}

// seed stores comments in state st, spread over threads, several sharing a creation time so the
// order of equal scores is exercised. It returns them oldest first, as the store must list them.
func seed(t *testing.T, s *Store, threads []string, st comment.State, n, from int) []comment.Comment {
	t.Helper()
	var out []comment.Comment
	for i := range n {
		c := draft(s, threads[i%len(threads)], from+i)
		c.CreatedAt = t0.Add(time.Duration((from+i)/3) * time.Second) // groups of three share a time
		c.State = st
		c.PublishedAt = time.Time{}
		if st == comment.StatePublished {
			c.PublishedAt = c.CreatedAt
		}
		out = append(out, mustCreate(t, s, c, comment.CreateOptions{}))
	}
	slices.SortFunc(out, func(a, b comment.Comment) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func ids(cs []comment.Comment) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func inThread(cs []comment.Comment, thread string) []comment.Comment {
	var out []comment.Comment
	for _, c := range cs {
		if c.ThreadID == thread {
			out = append(out, c)
		}
	}
	return out
}

func TestListQueuePaginatesEveryItemOnce(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	threads := make([]string, 7)
	for i := range threads {
		threads[i] = threadInShard(fmt.Sprintf("lq%d", i), (i*5)%numShards) // seven different shards
	}
	pending := seed(t, ts.Store, threads, comment.StatePending, 20, 0)
	spam := seed(t, ts.Store, threads, comment.StateSpam, 4, 100)
	rejected := seed(t, ts.Store, threads, comment.StateRejected, 3, 200)
	seed(t, ts.Store, threads, comment.StatePublished, 3, 300) // never in a queue

	tests := []struct {
		q    moderation.Query
		want []comment.Comment
	}{
		{q: moderation.Query{State: comment.StatePending}, want: pending},
		{q: moderation.Query{State: comment.StateSpam}, want: spam},
		{q: moderation.Query{State: comment.StateRejected}, want: rejected},
		{q: moderation.Query{State: comment.StatePending, ThreadID: threads[2]}, want: inThread(pending, threads[2])},
		{q: moderation.Query{State: comment.StateSpam, ThreadID: threads[0]}, want: inThread(spam, threads[0])},
		{q: moderation.Query{State: comment.StatePending, ThreadID: "lq-no-such-thread"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v thread %q", tt.q.State, tt.q.ThreadID), func(t *testing.T) {
			list := func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
				return ts.ListQueue(ctx, tt.q, p)
			}
			for size := 1; size <= len(tt.want)+1; size++ {
				if diff := gocmp.Diff(ids(tt.want), readAll(t, list, size), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("ListQueue(%+v) with page size %d, all pages (-want +got):\n%s", tt.q, size, diff)
				}
			}
			page, _, err := ts.ListQueue(context.Background(), tt.q, comment.Page{Size: 2})
			if err != nil {
				t.Fatalf("ListQueue(%+v) = %v", tt.q, err)
			}
			if diff := gocmp.Diff(tt.want[:min(2, len(tt.want))], page, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListQueue(%+v, size 2) comments (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func TestListQueueStaysRightWhenItemsLeave(t *testing.T) {
	t.Parallel()
	for _, thread := range []string{"", "lq-leave-0"} {
		t.Run("thread "+thread, func(t *testing.T) {
			t.Parallel()
			ts := newTestStore(t)
			ctx := context.Background()
			threads := []string{"lq-leave-0"}
			if thread == "" {
				threads = append(threads, threadInShard("lq-leave-x", (shardOfThread("lq-leave-0")+1)%numShards))
			}
			pending := seed(t, ts.Store, threads, comment.StatePending, 12, 0)
			if thread != "" {
				pending = inThread(pending, thread)
			}
			q := moderation.Query{State: comment.StatePending, ThreadID: thread}

			page, next, err := ts.ListQueue(ctx, q, comment.Page{Size: 3})
			if err != nil || next == "" {
				t.Fatalf("ListQueue(first page of 3) = next %q, %v; want a next page", next, err)
			}
			// Between pages a moderator approves one comment already seen and one not yet seen.
			for _, c := range []comment.Comment{page[1], pending[5]} {
				if _, err := ts.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: t0, To: comment.StatePublished}, approveFrom, ""); err != nil {
					t.Fatalf("Decide(approve %s) = %v", c.ID, err)
				}
			}
			var rest []string
			token := next
			for token != "" {
				var p []comment.Comment
				if p, token, err = ts.ListQueue(ctx, q, comment.Page{Size: 3, Token: token}); err != nil {
					t.Fatalf("ListQueue(next page) = %v", err)
				}
				rest = append(rest, ids(p)...)
			}
			want := slices.Delete(ids(pending[3:]), 2, 3) // pending[5] was approved
			if diff := gocmp.Diff(want, rest); diff != "" {
				t.Errorf("ListQueue pages after the first, with items approved in between (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListPublishedPaginates(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	const thread = "lp-thread"
	published := seed(t, ts.Store, []string{thread}, comment.StatePublished, 10, 0)
	seed(t, ts.Store, []string{thread}, comment.StatePending, 2, 50)
	seed(t, ts.Store, []string{"lp-other"}, comment.StatePublished, 2, 60)

	list := func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
		return pageOf(ts.ListPublished(ctx, thread, p))
	}
	for size := 1; size <= len(published)+1; size++ {
		if diff := gocmp.Diff(ids(published), readAll(t, list, size)); diff != "" {
			t.Errorf("ListPublished(%s) with page size %d, all pages (-want +got):\n%s", thread, size, diff)
		}
	}
	if got, next, err := pageOf(ts.ListPublished(context.Background(), "lp-empty", comment.Page{Size: 5})); err != nil || len(got) != 0 || next != "" {
		t.Errorf("ListPublished(empty thread) = %d comments, next %q, %v; want none, \"\", no error", len(got), next, err)
	}
}

// A news site shows a long thread's latest comments first. Oldest first only, the last page of a
// thread of 50,000 comments was 100 calls of 500 away (1.2 s on a 2-core machine); newest first
// it is the first page, read from the end of the index.
func TestListPublishedNewestFirst(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const thread = "lpd-thread"
	published := seed(t, ts.Store, []string{thread}, comment.StatePublished, 10, 0) // groups of three share a time
	seed(t, ts.Store, []string{thread}, comment.StatePending, 2, 50)
	seed(t, ts.Store, []string{"lpd-other"}, comment.StatePublished, 2, 60)
	newest := ids(published)
	slices.Reverse(newest)

	list := func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
		p.NewestFirst = true
		return pageOf(ts.ListPublished(ctx, thread, p))
	}
	for size := 1; size <= len(published)+1; size++ {
		if diff := gocmp.Diff(newest, readAll(t, list, size)); diff != "" {
			t.Errorf("ListPublished(%s, newest first) with page size %d, all pages (-want +got):\n%s", thread, size, diff)
		}
	}
	page, next, err := pageOf(ts.ListPublished(ctx, thread, comment.Page{Size: 3, NewestFirst: true}))
	if err != nil || next == "" {
		t.Fatalf("ListPublished(%s, size 3, newest first) = next %q, %v; want a token, no error", thread, next, err)
	}
	if diff := gocmp.Diff(newest[:3], ids(page)); diff != "" {
		t.Errorf("ListPublished(%s, size 3, newest first) first page (-want +got):\n%s", thread, diff)
	}

	// Between pages one comment not yet seen leaves and a new one is published: the new one is
	// newer than the first page, so the walk goes on without it, and nothing repeats.
	if _, err := ts.Decide(ctx, published[4].ID, moderation.Reject, comment.Decision{Moderator: "anna", At: t0, To: comment.StateRejected}, []comment.State{comment.StatePublished}, ""); err != nil {
		t.Fatalf("Decide(reject %s) = %v", published[4].ID, err)
	}
	seed(t, ts.Store, []string{thread}, comment.StatePublished, 1, 90)
	var rest []string
	for token := next; token != ""; {
		var p []comment.Comment
		if p, token, err = pageOf(ts.ListPublished(ctx, thread, comment.Page{Size: 3, Token: token, NewestFirst: true})); err != nil {
			t.Fatalf("ListPublished(next page, newest first) = %v", err)
		}
		rest = append(rest, ids(p)...)
	}
	want := slices.DeleteFunc(slices.Clone(newest[3:]), func(id string) bool { return id == published[4].ID })
	if diff := gocmp.Diff(want, rest); diff != "" {
		t.Errorf("ListPublished(newest first) pages after the first, with a comment rejected and one published in between (-want +got):\n%s", diff)
	}

	// A token belongs to its order.
	if _, _, err := pageOf(ts.ListPublished(ctx, thread, comment.Page{Size: 3, Token: next})); !errors.Is(err, comment.ErrInvalidPageToken) {
		t.Errorf("ListPublished(oldest first) with a newest-first token = %v, want ErrInvalidPageToken", err)
	}
	_, oldest, err := pageOf(ts.ListPublished(ctx, thread, comment.Page{Size: 3}))
	if err != nil || oldest == "" {
		t.Fatalf("ListPublished(%s, size 3) = next %q, %v; want a token", thread, oldest, err)
	}
	if _, _, err := pageOf(ts.ListPublished(ctx, thread, comment.Page{Size: 3, Token: oldest, NewestFirst: true})); !errors.Is(err, comment.ErrInvalidPageToken) {
		t.Errorf("ListPublished(newest first) with an oldest-first token = %v, want ErrInvalidPageToken", err)
	}
}

func TestListRejectsBadPageTokens(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	threads := []string{"tok-a", "tok-b"}
	seed(t, ts.Store, threads, comment.StatePublished, 4, 0)
	seed(t, ts.Store, threads, comment.StatePending, 4, 10)

	_, publishedA, err := pageOf(ts.ListPublished(ctx, "tok-a", comment.Page{Size: 1}))
	if err != nil || publishedA == "" {
		t.Fatalf("ListPublished(tok-a, size 1) = next %q, %v; want a token", publishedA, err)
	}
	pendingAll := moderation.Query{State: comment.StatePending}
	_, queueAll, err := ts.ListQueue(ctx, pendingAll, comment.Page{Size: 1})
	if err != nil || queueAll == "" {
		t.Fatalf("ListQueue(pending, size 1) = next %q, %v; want a token", queueAll, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		name  string
		list  lister
		token string
	}{
		{"not base64", publishedLister(ts, "tok-a"), "%%%"},
		{"base64 of garbage", publishedLister(ts, "tok-a"), b64("hello")},
		{"wrong version", publishedLister(ts, "tok-a"), b64("v9.00000000.1.abc")},
		{"negative score", publishedLister(ts, "tok-a"), encodeToken(publishedQuery("tok-a", false), cursor{score: -1, id: "00abc"})},
		{"score past 2^53", publishedLister(ts, "tok-a"), encodeToken(publishedQuery("tok-a", false), cursor{score: 1<<53 + 1, id: "00abc"})},
		{"largest int64 score", publishedLister(ts, "tok-a"), encodeToken(publishedQuery("tok-a", false), cursor{score: math.MaxInt64, id: "00abc"})},
		{"id with a bad character", publishedLister(ts, "tok-a"), encodeToken(publishedQuery("tok-a", false), cursor{score: 1, id: "00a.b"})},
		{"published token of another thread", publishedLister(ts, "tok-b"), publishedA},
		{"published token cut short", publishedLister(ts, "tok-a"), cutShort(publishedA)},
		{"queue token cut short", queueLister(ts, pendingAll), cutShort(queueAll)},
		{"queue token for published comments", publishedLister(ts, "tok-a"), queueAll},
		{"published token for the queue", queueLister(ts, pendingAll), publishedA},
		{"pending queue token for the spam queue", queueLister(ts, moderation.Query{State: comment.StateSpam}), queueAll},
		{"all-threads token for one thread's queue", queueLister(ts, moderation.Query{State: comment.StatePending, ThreadID: "tok-a"}), queueAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := tt.list(ctx, comment.Page{Size: 2, Token: tt.token}); !errors.Is(err, comment.ErrInvalidPageToken) {
				t.Errorf("list with token %q = %v, want ErrInvalidPageToken", tt.token, err)
			}
		})
	}
}

// cutShort returns tok without its last character, or its last two where one less would not be
// base64: it then still decodes, to the token's text without its last byte or two, the end of
// its id.
func cutShort(tok string) string {
	n := len(tok) - 1
	if n%4 == 1 {
		n--
	}
	return tok[:n]
}

func publishedLister(ts testStore, thread string) lister {
	return func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
		return pageOf(ts.ListPublished(ctx, thread, p))
	}
}

func queueLister(ts testStore, q moderation.Query) lister {
	return func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
		return ts.ListQueue(ctx, q, p)
	}
}

// TestListAndCountReadTheThread: a page of published comments and the counts come with their
// thread's settings, read in the same round trip, as GetThread reports them: open, closed by a
// moderator, closed by age, and when the period ends. A Redis that lost its scripts (restarted,
// SCRIPT FLUSH) still answers: the pipelined page script is loaded again.
func TestListAndCountReadTheThread(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Start(t).Addr)
	ctx := context.Background()
	const period = time.Hour
	s, err := New(ctx, rdb, Options{CloseThreadsAfter: period})
	if err != nil {
		t.Fatalf("New(CloseThreadsAfter %s) = %v", period, err)
	}
	now := time.Now().Truncate(time.Microsecond)
	create := func(thread string, at time.Time) {
		c := draft(s, thread, 1)
		c.CreatedAt, c.PublishedAt = at, at
		mustCreate(t, s, c, comment.CreateOptions{})
	}
	create("aged", now.Add(-2*period))
	create("young", now)
	create("shut", now)
	closed := true
	if _, _, err := s.UpdateThread(ctx, "", "shut", nil, &closed, ""); err != nil {
		t.Fatalf("UpdateThread(shut, closed true) = %v", err)
	}
	tests := []struct {
		thread string
		want   comment.Thread
		count  int64
	}{
		{"aged", comment.Thread{ID: "aged", Closed: true, ClosedByAge: true, AutoCloseAt: now.Add(-period)}, 1},
		{"young", comment.Thread{ID: "young", AutoCloseAt: now.Add(period)}, 1},
		{"shut", comment.Thread{ID: "shut", Closed: true, AutoCloseAt: now.Add(period)}, 1},
		{"untouched", comment.Thread{ID: "untouched"}, 0},
	}
	var threads []string
	for i, tt := range tests {
		threads = append(threads, tt.thread)
		if i == 0 {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatalf("SCRIPT FLUSH = %v", err)
			}
		}
		pg, err := s.ListPublished(ctx, tt.thread, comment.Page{Size: 10})
		if err != nil || int64(len(pg.Comments)) != tt.count {
			t.Errorf("ListPublished(%s) = %d comments, %v; want %d", tt.thread, len(pg.Comments), err, tt.count)
		}
		if diff := gocmp.Diff(tt.want, pg.Thread); diff != "" {
			t.Errorf("ListPublished(%s) thread (-want +got):\n%s", tt.thread, diff)
		}
	}
	counts, err := s.CountPublished(ctx, threads)
	if err != nil || len(counts) != len(tests) {
		t.Fatalf("CountPublished(%v) = %v, %v; want %d counts", threads, counts, err, len(tests))
	}
	for i, tt := range tests {
		if diff := gocmp.Diff(comment.ThreadCount{Published: tt.count, Thread: tt.want}, counts[i]); diff != "" {
			t.Errorf("CountPublished(%v)[%d] (-want +got):\n%s", threads, i, diff)
		}
	}
}
