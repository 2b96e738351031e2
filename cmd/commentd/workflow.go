package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore"
)

// buildWorkflow adds the moderator workflow to the moderation service's options: the audit log,
// review claims, readers' reports, queue events, statistics, erasure and access requests all live in the
// Redis store, and the report threshold comes from the configuration. (Thread auto-close is the store's own
// option, as its submit script applies it.)
func buildWorkflow(opts moderation.Options, store *redisstore.Store, cfg *config.Config) moderation.Options {
	opts.Audit = store
	opts.Claims = store
	opts.Reports = store
	opts.Feed = store
	opts.Stats = store
	opts.ReportThreshold = cfg.Workflow.ReportThreshold
	opts.Eraser = store
	opts.Exporter = store
	// An erasure or an export walks the whole store, so only each of its Redis calls has the usual bound.
	opts.EraseCallTimeout = cfg.RedisTimeout
	opts.LearnQueue = store
	opts.Purger = store
	return opts
}

// Learning from decisions a server stored but did not learn from (it stopped in between, or Redis
// failed after the decision was stored): every learnPendingEvery, the decisions older than
// learnPendingGrace (Decide learns its own within milliseconds; the grace keeps the two apart) are
// learnt, in batches, until none is left.
const (
	learnPendingEvery = 5 * time.Second
	learnPendingGrace = 30 * time.Second
)

// learnPending runs mod.LearnPending until ctx ends, logging what it learnt and, once per
// outage, that it failed.
func learnPending(ctx context.Context, log *slog.Logger, mod *moderation.Service, every, grace time.Duration) {
	failing := false
	onTick(ctx, every, func() {
		// A few batches a tick: a backlog goes quickly, and a decision whose entry somehow stays
		// cannot keep this loop busy.
		for range 10 {
			n, err := mod.LearnPending(ctx, grace)
			if n > 0 {
				log.InfoContext(ctx, "learnt from decisions stored without their learning (a server stopped, or Redis failed, between storing and learning)", "count", n)
			}
			if err != nil {
				if !failing && ctx.Err() == nil {
					log.WarnContext(ctx, "could not learn from pending decisions; retrying", "error", err.Error())
				}
				failing = true
				break
			}
			failing = false
			if n == 0 {
				break
			}
		}
	})
}

// onTick calls run every interval until ctx ends.
func onTick(ctx context.Context, every time.Duration, run func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		run()
	}
}

// purgeSpamEvery is how often every server deletes the spam past its retention (up to 1,000
// comments a run: moderation.Service.PurgeSpam).
const purgeSpamEvery = time.Minute

// purgeSpam runs mod.PurgeSpam every tick until ctx ends, counting what it deleted in purged,
// logging one line per run that deleted any and, once per outage, that it failed. Servers running
// it at once only repeat each other's checks: each comment goes once.
func purgeSpam(ctx context.Context, log *slog.Logger, mod *moderation.Service, every, retention time.Duration, purged prometheus.Counter) {
	failing := false
	onTick(ctx, every, func() {
		n, err := mod.PurgeSpam(ctx, retention)
		purged.Add(float64(n))
		if n > 0 {
			log.InfoContext(ctx, "deleted spam past its retention", "count", n, "retention", retention.String())
		}
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			log.WarnContext(ctx, "could not delete spam past its retention; retrying", "error", err.Error())
			failing = true
		case err == nil:
			failing = false
		}
	})
}

// The backfill of the thread list (ListThreads): once at each start, a SCAN of the thread settings
// at a bounded pace (threadIndexBatch keys per call, threadIndexPause after each), retried every
// threadIndexRetry until it completes. It finds only threads configured by a server of an earlier
// release; every update since keeps the list itself.
const (
	threadIndexBatch = 500
	threadIndexPause = 20 * time.Millisecond
	threadIndexRetry = time.Minute
)

// indexThreads runs store.IndexThreads until it completes or ctx ends, and logs what it added.
func indexThreads(ctx context.Context, log *slog.Logger, store *redisstore.Store, callTimeout time.Duration) {
	opts := redisstore.ThreadIndexOptions{Batch: threadIndexBatch, Pause: threadIndexPause, CallTimeout: callTimeout}
	for {
		rep, err := store.IndexThreads(ctx, opts)
		if err == nil {
			log.InfoContext(ctx, "thread list checked for threads configured before it existed", "scanned", rep.Scanned, "added", rep.Added)
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "could not check the thread list for threads configured before it existed; retrying", "error", err.Error(), "retry_in", threadIndexRetry.String())
		t := time.NewTimer(threadIndexRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
