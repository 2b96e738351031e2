package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// TestClusterMarkedWrites runs, on a Redis Cluster, the writes whose scripts set a mark or name a
// key at run time: a key outside the script's slot fails there only (CROSSSLOT), so these cases
// check each call's answer on a Cluster, with the resends that make the marks matter.
func TestClusterMarkedWrites(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	// store returns a store with the subtest's prefix on cluster, and its client.
	store := func(t *testing.T) (*Store, redis.UniversalClient) {
		t.Helper()
		rdb := clusterClient(t, cluster)
		s, err := New(context.Background(), rdb, Options{Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatalf("New on the cluster = %v", err)
		}
		return s, rdb
	}
	// resendOn makes the first script call of rdb with arg among its arguments run twice.
	resendOn := func(rdb redis.UniversalClient, arg any) func() bool {
		h := &resendOnce{names: scriptNames, arg: arg}
		rdb.AddHook(h)
		return h.done.Load
	}

	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s *Store, rdb redis.UniversalClient)
	}{
		{"report", func(t *testing.T, ctx context.Context, s *Store, rdb redis.UniversalClient) {
			const threshold = 2
			c := mustCreate(t, s, draft(s, threadInShard("rep", 7), 1), comment.CreateOptions{})
			shard, _ := shardOfID(c.ID)
			sent := resendOn(rdb, s.keys.reportCounts(shard, c.ID))
			got, n, err := s.AddReport(ctx, c.ID, moderation.Report{Reason: "rude", At: t0}, "reader-1", threshold)
			if !sent() {
				t.Fatal("AddReport was not resent: the test shows nothing")
			}
			if err != nil || n != 1 || got.State != comment.StatePublished {
				t.Fatalf("AddReport(%s, reader-1, threshold %d), resent = state %v, count %d, %v; want %v, 1, no error", c.ID, threshold, got.State, n, err, comment.StatePublished)
			}
			got, n, err = s.AddReport(ctx, c.ID, moderation.Report{Reason: "rude too", At: t0.Add(time.Minute)}, "reader-2", threshold)
			if err != nil || n != 2 || got.State != comment.StatePending {
				t.Errorf("AddReport(%s, reader-2) after reader-1's = state %v, count %d, %v; want %v, 2, no error", c.ID, got.State, n, err, comment.StatePending)
			}
			sums, err := s.ReportSummaries(ctx, []string{c.ID})
			if err != nil || len(sums) != 1 || sums[0].Count != 2 || len(sums[0].Recent) != 2 {
				t.Errorf("ReportSummaries(%s) after two reports, the first resent = %+v, %v; want count 2, 2 listed", c.ID, sums, err)
			}
		}},
		{"word lists: regex bound and deletion", func(t *testing.T, ctx context.Context, s *Store, rdb redis.UniversalClient) {
			fs := spam.NewFilters(s, spamKeyring(t), spam.FiltersOptions{})
			var first spam.Filter
			for i := range spam.MaxRegexFilters {
				f, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterRegex, fmt.Sprintf(`spam\d+z%d`, i))
				if err != nil {
					t.Fatalf("Create(regex %d of %d) = %v, want no error", i+1, spam.MaxRegexFilters, err)
				}
				if i == 0 {
					first = f
				}
			}
			var verr *comment.ValidationError
			if _, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterRegex, `spam\d+over`); !errors.As(err, &verr) {
				t.Errorf("Create(regex %d) = %v, want a *comment.ValidationError", spam.MaxRegexFilters+1, err)
			}
			if _, _, err := fs.Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "casino"); err != nil {
				t.Errorf("Create(word) with the regex entries at their bound = %v, want no error", err)
			}
			before, err := s.filterVersion(ctx)
			if err != nil {
				t.Fatalf("read the word lists' version: %v", err)
			}
			s.versionStep = func() int64 { return 1 } // a change moves it by one: counted below
			sent := resendOn(rdb, first.ID)
			if err := fs.Delete(ctx, "mod", first.ID); err != nil {
				t.Errorf("Delete(%s), resent = %v, want no error", first.ID, err)
			}
			if !sent() {
				t.Fatal("Delete was not resent: the test shows nothing")
			}
			if v, err := s.filterVersion(ctx); err != nil || v != before+1 {
				t.Errorf("the word lists' version after one Delete resent = %d, %v; want %d", v, err, before+1)
			}
			if err := fs.Delete(ctx, "mod", first.ID); !errors.Is(err, spam.ErrFilterNotFound) {
				t.Errorf("Delete(%s) again = %v, want spam.ErrFilterNotFound", first.ID, err)
			}
			if all, _, err := fs.List(ctx, spam.FilterListAny, comment.Page{Size: 100}); err != nil || len(all) != spam.MaxRegexFilters {
				t.Errorf("List(any) after deleting one of %d regex entries and adding a word = %d entries, %v; want %d", spam.MaxRegexFilters, len(all), err, spam.MaxRegexFilters)
			}
		}},
		{"scratch model: train, delete twice", func(t *testing.T, ctx context.Context, s *Store, rdb redis.UniversalClient) {
			const model = "eval-cl"
			xs := append(labelled(trainSpamBodies, true), labelled(trainHamBodies, false)...)
			ref := spamtest.NewCounts()
			for _, x := range xs {
				ref.Train(ctx, x.Tokens, x.Spam, 1)
			}
			sent := resendOn(rdb, s.keys.spamTotals(model))
			if repeated, err := s.TrainModel(ctx, model, "", xs); err != nil || repeated != 0 {
				t.Fatalf("TrainModel(%s, %d examples), its step resent = %d repeated, %v; want 0, no error", model, len(xs), repeated, err)
			}
			if !sent() {
				t.Fatal("the training step was not resent: the test shows nothing")
			}
			tokens := allTokens(trainSpamBodies, trainHamBodies)
			if diff := cmp.Diff(countsOf(t, ref, tokens), countsOf(t, s.ModelCounts(model), tokens)); diff != "" {
				t.Errorf("TrainModel(%s) on the cluster, counts differ from the reference (-ref +redis):\n%s", model, diff)
			}
			if repeated, err := s.TrainModel(ctx, model, "req-1", xs[:2]); err != nil || repeated != 0 {
				t.Errorf("TrainModel(%s, request id req-1) = %d repeated, %v; want 0", model, repeated, err)
			}
			if repeated, err := s.TrainModel(ctx, model, "req-1", xs[:2]); err != nil || repeated != 2 {
				t.Errorf("TrainModel(%s, request id req-1) again = %d repeated, %v; want 2", model, repeated, err)
			}

			sent = resendOn(rdb, s.keys.spamTotals(model))
			if err := s.DeleteModel(ctx, model); err != nil {
				t.Errorf("DeleteModel(%s), resent = %v, want no error", model, err)
			}
			if !sent() {
				t.Fatal("DeleteModel was not resent: the test shows nothing")
			}
			if err := s.DeleteModel(ctx, model); !errors.Is(err, spam.ErrModelNotFound) {
				t.Errorf("DeleteModel(%s) again = %v, want spam.ErrModelNotFound", model, err)
			}
			if _, err := s.ModelCounts(model).TokenCounts(ctx, tokens, make([]int64, len(tokens)), make([]int64, len(tokens))); !errors.Is(err, spam.ErrModelNotFound) {
				t.Errorf("TokenCounts(%s) after DeleteModel = %v, want spam.ErrModelNotFound", model, err)
			}
		}},
		{"site model: train and learn", func(t *testing.T, ctx context.Context, s *Store, rdb redis.UniversalClient) {
			xs := labelled(trainSpamBodies, true)
			if _, err := s.TrainModel(ctx, "", "", xs); err != nil {
				t.Fatalf("TrainModel(site, %d examples) = %v", len(xs), err)
			}
			author := fmt.Sprintf("%040x", 77)
			lesson := spam.Lesson{
				CommentID: "07learn", AuthorKey: author, Tokens: spam.Features(spam.Input{Body: trainHamBodies[0]}),
				Label: spam.LabelHam, Outcome: spam.OutcomeApproved,
			}
			for i := range 2 {
				if err := s.Learn(ctx, lesson); err != nil {
					t.Fatalf("Learn(%s, ham) #%d = %v", lesson.CommentID, i+1, err)
				}
			}
			got := countsOf(t, s.ModelCounts(""), nil).Totals
			want := spam.Totals{Spam: int64(len(xs)), Ham: 1}
			if got.Spam != want.Spam || got.Ham != want.Ham {
				t.Errorf("site model after training %d spam and learning one ham twice = %d spam, %d ham; want %d, %d", len(xs), got.Spam, got.Ham, want.Spam, want.Ham)
			}
			if label, err := rdb.HGet(ctx, s.keys.spamLabels(""), lesson.CommentID).Result(); err != nil || label != "h" {
				t.Errorf("HGET labels %s after Learn(ham) = %q, %v; want \"h\"", lesson.CommentID, label, err)
			}
			if n, err := rdb.XLen(ctx, s.keys.spamStream("")).Result(); err != nil || n != 2 {
				t.Errorf("XLEN of the site model's stream after one training and one lesson = %d, %v; want 2", n, err)
			}
			hs, err := s.AuthorHistories(ctx, []string{author})
			if err != nil || len(hs) != 1 || hs[0] != (comment.AuthorHistory{Approved: 1}) {
				t.Errorf("AuthorHistories(%s) after one approval learnt twice = %+v, %v; want [{Approved: 1}]", author, hs, err)
			}
		}},
		{"reopened comment is the reopener's", func(t *testing.T, ctx context.Context, s *Store, rdb redis.UniversalClient) {
			threads := []string{threadInShard("back", 3), threadInShard("back", 11)}
			queued := seedQueue(t, s, threads, 4)
			now := time.Now()
			all := []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected, comment.StateSpam}
			for _, step := range []struct {
				a  moderation.Action
				to comment.State
			}{{moderation.Reject, comment.StateRejected}, {moderation.Reopen, comment.StatePending}} {
				if got, err := s.Decide(ctx, queued[0], step.a, comment.Decision{Moderator: "anna", At: now, To: step.to}, all, ""); err != nil || got.State != step.to {
					t.Fatalf("Decide(%v %s by anna) = state %v, %v; want %v", step.a, queued[0], got.State, err, step.to)
				}
			}
			if got := claim(t, s, "bert", moderation.ClaimQuery{ThreadID: threads[0], Count: 10}); !slices.Equal(got, queued[2:3]) {
				t.Errorf("Claim(bert, thread %s) = %v, want %v: the comment anna reopened is hers", threads[0], got, queued[2:3])
			}
			if got := claim(t, s, "bert", moderation.ClaimQuery{Count: 10}); !slices.Equal(got, queued[1:]) {
				t.Errorf("Claim(bert) = %v, want %v: the comment anna reopened is hers", got, queued[1:])
			}
			if got := claim(t, s, "anna", moderation.ClaimQuery{Count: 10}); !slices.Equal(got, queued[:1]) {
				t.Errorf("Claim(anna) = %v, want the comment she reopened, %v", got, queued[:1])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, rdb := store(t)
			tt.run(t, ctx, s, rdb)
		})
	}
}
