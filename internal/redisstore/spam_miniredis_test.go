package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// TestMiniredisRunsTheSpamScripts proves the spam checks' scripts and stream reads run on
// miniredis, which commentd -dev uses. Their behaviour is tested against redis-server elsewhere.
func TestMiniredisRunsTheSpamScripts(t *testing.T) {
	t.Parallel()
	s, _ := miniredisStore(t)
	ctx := context.Background()

	ref := spamtest.NewCounts()
	xs := append(labelled(trainSpamBodies, true), labelled(trainHamBodies, false)...)
	for _, x := range xs {
		ref.Train(ctx, x.Tokens, x.Spam, 1)
	}
	tokens := allTokens(trainSpamBodies, trainHamBodies)
	for _, model := range []string{"", "eval-m"} {
		if _, err := s.TrainModel(ctx, model, "", xs); err != nil {
			t.Fatalf("TrainModel(%q) on miniredis = %v", model, err)
		}
		if diff := cmp.Diff(countsOf(t, ref, tokens), countsOf(t, s.ModelCounts(model), tokens)); diff != "" {
			t.Errorf("TrainModel(%q) on miniredis differs from the reference (-ref +miniredis):\n%s", model, diff)
		}
		// The examples too (redis.sha1hex, ZPOPMIN), one per body: the forest is fitted from them.
		if got, err := s.ModelExamples(ctx, model); err != nil || len(got) != len(xs) {
			t.Errorf("ModelExamples(%q) on miniredis = %d examples, %v; want %d", model, len(got), err, len(xs))
		}
	}

	m := NewSpamMirror(s, SpamMirrorOptions{Block: 50 * time.Millisecond})
	if err := m.Load(ctx); err != nil {
		t.Fatalf("SpamMirror.Load on miniredis = %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(runCtx) }()
	defer func() { stop(); <-done }()
	lesson := spam.Lesson{CommentID: "00c1", AuthorKey: "a1", Tokens: xs[0].Tokens, Label: spam.LabelHam, Outcome: spam.OutcomeApproved}
	for range 2 {
		if err := s.Learn(ctx, lesson); err != nil {
			t.Fatalf("Learn on miniredis = %v", err)
		}
	}
	ref.Train(ctx, xs[0].Tokens, false, 1)
	deadline := time.Now().Add(2 * time.Second)
	for cmp.Diff(countsOf(t, ref, tokens), countsOf(t, m, tokens)) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror on miniredis differs from the reference after a lesson learnt twice (-ref +mirror):\n%s", cmp.Diff(countsOf(t, ref, tokens), countsOf(t, m, tokens)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if hs, err := s.AuthorHistories(ctx, []string{"a1"}); err != nil || hs[0] != (comment.AuthorHistory{Approved: 1}) {
		t.Errorf("AuthorHistories on miniredis = %v, %v; want one approved", hs, err)
	}

	camp := NewCampaigns(s, CampaignsOptions{})
	fp := spam.SimHash("a campaign text long enough to be fingerprinted by the check")
	camp.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "a1", At: time.Now()}, time.Hour, spam.MaxMatchDistance)
	if err := camp.Flush(ctx); err != nil {
		t.Fatalf("Campaigns.Flush on miniredis = %v", err)
	}
	late := NewCampaigns(s, CampaignsOptions{})
	if err := late.Load(ctx); err != nil || late.Len() != 1 {
		t.Errorf("Campaigns.Load on miniredis = %v with %d sightings, want 1", err, late.Len())
	}
	// An erasure names the author; the next batch leaves their sighting out and keeps the other's.
	if err := s.forgetSightings(ctx, time.Second, "a1"); err != nil {
		t.Fatalf("forgetSightings on miniredis = %v", err)
	}
	camp.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "a1", At: time.Now()}, time.Hour, spam.MaxMatchDistance)
	camp.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "a2", At: time.Now()}, time.Hour, spam.MaxMatchDistance)
	if err := camp.Flush(ctx); err != nil {
		t.Fatalf("Campaigns.Flush after an erasure on miniredis = %v", err)
	}
	after := NewCampaigns(s, CampaignsOptions{})
	if err := after.Load(ctx); err != nil || after.Len() != 1 {
		t.Errorf("Campaigns.Load after an erasure on miniredis = %v with %d sightings, want 1 (the other author's)", err, after.Len())
	}

	fs := spam.NewFilters(s, spamKeyring(t), spam.FiltersOptions{})
	s.versionStep = func() int64 { return 1 } // a change moves the version by one: checked below
	f, _, err := fs.Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "casino")
	if err != nil {
		t.Fatalf("Filters.Create on miniredis = %v", err)
	}
	if all, v, err := s.LoadFilters(ctx); err != nil || len(all) != 1 || v != 1 {
		t.Errorf("LoadFilters on miniredis = %d entries at version %d, %v; want 1 at 1", len(all), v, err)
	}
	if err := fs.Delete(ctx, "anna", f.ID); err != nil {
		t.Errorf("Filters.Delete on miniredis = %v", err)
	}
}
