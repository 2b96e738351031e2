package redisstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

func TestListQueueFilters(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	threads := []string{threadInShard("filters", 0), threadInShard("filters", 7), threadInShard("filters", 13)}
	authors := []string{fmt.Sprintf("%040x", 1), fmt.Sprintf("%040x", 2)}
	codes := [][]comment.Reason{
		nil,
		{{Code: "TOO_MANY_LINKS", Message: "links"}},
		{{Code: "FIRST_COMMENT", Message: "new"}, {Code: moderation.ReasonReported, Message: "reports"}},
	}
	var all []comment.Comment
	for i := range 30 {
		c := pendingDraft(ts.Store, threads[i%3], i, t0.Add(time.Duration(i/2)*time.Second))
		c.AuthorKey = authors[i%2]
		c.SpamScore = float64(i%5) / 4 // 0, 0.25, 0.5, 0.75, 1
		c.HoldReasons = codes[i%3]
		all = append(all, mustCreate(t, ts.Store, c, comment.CreateOptions{}))
	}
	// The queue's order: creation time, then id.
	slices.SortFunc(all, func(a, b comment.Comment) int {
		return compareCursors(cursor{score: micros(a.CreatedAt), id: a.ID}, cursor{score: micros(b.CreatedAt), id: b.ID})
	})
	score := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		q    moderation.Query
	}{
		{"author", moderation.Query{AuthorKey: authors[1]}},
		{"created before", moderation.Query{CreatedBefore: t0.Add(7 * time.Second)}},
		{"min score", moderation.Query{MinScore: score(0.75)}},
		{"max score", moderation.Query{MaxScore: score(0.25)}},
		{"score range", moderation.Query{MinScore: score(0.25), MaxScore: score(0.5)}},
		{"reason", moderation.Query{ReasonCode: moderation.ReasonReported}},
		{"unknown reason", moderation.Query{ReasonCode: "NO_SUCH_CODE"}},
		{"everything", moderation.Query{AuthorKey: authors[0], CreatedBefore: t0.Add(12 * time.Second), MinScore: score(0.5), ReasonCode: "TOO_MANY_LINKS"}},
		{"thread and author", moderation.Query{ThreadID: threads[1], AuthorKey: authors[0]}},
		{"thread and created before", moderation.Query{ThreadID: threads[2], CreatedBefore: t0.Add(10 * time.Second)}},
		// Bounds inside a microsecond: the comments of that microsecond were created before them.
		{"created before, within a microsecond", moderation.Query{CreatedBefore: t0.Add(7*time.Second + 500*time.Nanosecond)}},
		{"thread and created before, within a microsecond", moderation.Query{ThreadID: threads[2], CreatedBefore: t0.Add(10*time.Second + time.Nanosecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.State = comment.StatePending
			var want []string
			for _, c := range all {
				if tt.q.Matches(c) {
					want = append(want, c.ID)
				}
			}
			for _, size := range []int{1, 3, 50} {
				got := readAll(t, func(ctx context.Context, p comment.Page) ([]comment.Comment, string, error) {
					return ts.ListQueue(ctx, tt.q, p)
				}, size)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ListQueue(%+v), pages of %d (-want +got):\n%s", tt.q, size, diff)
				}
			}
		})
	}

	// A token belongs to its filters.
	_, next, err := ts.ListQueue(context.Background(), moderation.Query{State: comment.StatePending, AuthorKey: authors[0]}, comment.Page{Size: 1})
	if err != nil || next == "" {
		t.Fatalf("ListQueue(author, size 1) = next %q, %v; want a token", next, err)
	}
	if _, _, err := ts.ListQueue(context.Background(), moderation.Query{State: comment.StatePending, AuthorKey: authors[1]}, comment.Page{Size: 1, Token: next}); err == nil {
		t.Errorf("ListQueue(another author, with the first author's token) = nil error, want ErrInvalidPageToken")
	}
}

// TestListQueueFilterScanIsBounded puts a match behind more non-matching comments than one call
// may look at, and checks that the first page comes back empty with a token that leads to it.
func TestListQueueFilterScanIsBounded(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	thread := threadInShard("bounded", 4)
	shard := shardOfThread(thread)
	// Index entries without records are enough to be scanned (and skipped); writing them directly
	// keeps the test fast.
	_, err := ts.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i := range moderation.MaxQueueScan + 10 {
			id := fmt.Sprintf("%02dfiller%05d", shard, i)
			pl.ZAdd(ctx, ts.keys.threadQueue(shard, comment.StatePending, thread), redis.Z{Score: float64(micros(t0)), Member: id})
			pl.ZAdd(ctx, ts.keys.shardQueue(shard, comment.StatePending), redis.Z{Score: float64(micros(t0)), Member: id})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed index entries: %v", err)
	}
	match := pendingDraft(ts.Store, thread, 1, t0.Add(time.Second))
	match.AuthorKey = "rare-author"
	mustCreate(t, ts.Store, match, comment.CreateOptions{})

	for _, q := range []moderation.Query{
		{State: comment.StatePending, ThreadID: thread, AuthorKey: "rare-author"},
		{State: comment.StatePending, AuthorKey: "rare-author"},
	} {
		page, next, err := ts.ListQueue(ctx, q, comment.Page{Size: 10})
		if err != nil || len(page) != 0 || next == "" {
			t.Errorf("ListQueue(%+v) = %d comments, next %q, %v; want an empty page and a token (the scan stops at %d)", q, len(page), next, err, moderation.MaxQueueScan)
			continue
		}
		page, next, err = ts.ListQueue(ctx, q, comment.Page{Size: 10, Token: next})
		if err != nil || len(page) != 1 || page[0].ID != match.ID || next != "" {
			t.Errorf("ListQueue(%+v, second page) = %v, next %q, %v; want [%s] and the end", q, ids(page), next, err, match.ID)
		}
	}
}
