package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
)

// TestSubmitRoundTripsWithSpam submits comments through the real submission path with the abuse
// check and the spam checks (classifier, rules, word lists, campaigns) on, and counts Redis round
// trips with RoundTripHook. The submission path uses one client and the spam checks' background
// work (stream readers and the campaign writer) another, so each count is exact: a submission
// spends exactly two round trips (the abuse check and the comment write), and the campaign writer
// spends one per FlushEvery interval however many submissions it carries.
func TestSubmitRoundTripsWithSpam(t *testing.T) {
	t.Parallel()
	addr := redistest.Shared(t)
	prefix := redistest.Prefix(t)
	ctx := context.Background()
	keys := spamKeyring(t)

	var onPath, inBackground atomic.Int64
	client := func(count *atomic.Int64) *redis.Client {
		c := redistest.Client(t, addr)
		c.AddHook(RoundTripHook(func() { count.Add(1) }))
		return c
	}
	pathStore, err := New(ctx, client(&onPath), Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	bgStore, err := New(ctx, client(&inBackground), Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	// A trained site model, so the classifier really votes.
	if _, err := bgStore.TrainModel(ctx, "", "", append(labelled(trainSpamBodies, true), labelled(trainHamBodies, false)...)); err != nil {
		t.Fatalf("TrainModel: %v", err)
	}
	const flushEvery = 50 * time.Millisecond
	mirror := NewSpamMirror(bgStore, SpamMirrorOptions{Block: 200 * time.Millisecond})
	camp := NewCampaigns(bgStore, CampaignsOptions{FlushEvery: flushEvery, Block: 200 * time.Millisecond})
	engine, err := spam.NewEngine(mirror, keys, spam.EngineOptions{Scorer: spam.Options{MinTrained: 1, Campaigns: camp}})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	watcher := NewFilterWatcher(bgStore, engine.SetFilters, FilterWatcherOptions{})
	for _, load := range []func(context.Context) error{mirror.Load, camp.Load, watcher.Load} {
		if err := load(ctx); err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { mirror.Run(runCtx) })
	wg.Go(func() { camp.Run(runCtx) })
	wg.Go(func() { watcher.Run(runCtx) })
	t.Cleanup(func() { stop(); wg.Wait() })

	guard := ratelimit.NewGuard(pathStore, ratelimit.Options{Rules: ratelimit.DefaultRules()})
	svc := comment.NewService(pathStore, keys, comment.Options{Screeners: []comment.Screener{
		ratelimit.NewScreener(guard, keys, ratelimit.ScreenerOptions{}),
		spam.NewScreener(engine, spam.ScreenerOptions{}),
	}})
	submit := func(i int) comment.Comment {
		c, err := svc.Submit(ctx, comment.Submission{
			ThreadID: fmt.Sprintf("rt-%d", i), AuthorName: "Reader", AuthorEmail: fmt.Sprintf("reader%d@example.org", i),
			Body:      fmt.Sprintf("Comment %d: everyone should read the report on the harbour redevelopment before the vote", i),
			ClientIP:  fmt.Sprintf("198.51.%d.%d", i/250, i%250+1),
			UserAgent: "Mozilla/5.0 (test)",
		})
		if err != nil {
			t.Fatalf("called Submit(%d), got error %v", i, err)
		}
		return c
	}
	submit(-1) // open the path's pooled connection: its set-up commands are not the submission's

	const n = 100
	onPath.Store(0)
	before := inBackground.Load()
	entriesBefore, _ := bgStore.rdb.XLen(ctx, bgStore.keys.campaignStream()).Result()
	start := time.Now()
	var held int
	for i := range n {
		if c := submit(i); c.State != comment.StatePublished {
			held++
		}
	}
	elapsed := time.Since(start)
	if got := onPath.Load(); got != 2*n {
		t.Errorf("submitted %d comments with spam checks on, got %d round trips on the submission path, want %d (two each)", n, got, 2*n)
	}
	if held < n/2 {
		t.Errorf("submitted %d near copies of one text from %d authors, got %d held, want most held as a campaign", n, n, held)
	}

	// Let the writer hand over the last batch, then count what the background spent.
	waitFor(t, 2*time.Second, "every sighting to reach the stream", func() bool {
		msgs, err := bgStore.rdb.XRange(ctx, bgStore.keys.campaignStream(), "-", "+").Result()
		if err != nil {
			return false
		}
		total := 0
		for _, m := range msgs {
			ss, _ := decodeSightings(m.Values["s"].(string))
			total += len(ss)
		}
		return total == n+1
	})
	entries, _ := bgStore.rdb.XLen(ctx, bgStore.keys.campaignStream()).Result()
	batches := entries - entriesBefore
	maxBatches := int64(elapsed/flushEvery) + 2
	if batches > maxBatches {
		t.Errorf("the campaign writer wrote %d batches in %s, want at most %d (one per %s)", batches, elapsed.Round(time.Millisecond), maxBatches, flushEvery)
	}
	bg := inBackground.Load() - before
	t.Logf("%d submissions in %s: %d round trips on the path (%.2f each); background %d round trips (%.3f per submission), %d campaign batches",
		n, elapsed.Round(time.Millisecond), onPath.Load(), float64(onPath.Load())/n, bg, float64(bg)/n, batches)
}
