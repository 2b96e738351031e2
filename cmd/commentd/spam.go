package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/spam"
)

// spamChecks is the spam checks as commentd runs them: the screener on every submission, the
// learner and the authors' records behind every moderator decision, the services behind the spam
// and word-list RPCs, and the background work that keeps this server's copies of the site's model,
// the campaign sightings and the word lists in step with Redis.
type spamChecks struct {
	screener  comment.Screener     // runs after the abuse check, which reads the author's record
	learner   moderation.Learner   // moderation.Options.Learner
	histories moderation.Histories // moderation.Options.Histories
	server    grpcserver.SpamOptions
	// model returns what the site's model has learnt, as this server's copy holds it: what scores.
	model func() spam.Totals
	// loads returns how many times this server's copy read the whole model from Redis.
	loads func() int64
	// forestExamples returns how many examples the forest in use was fitted from (0: none).
	forestExamples func() int
	// stop ends the background work and waits for it until ctx ends. Call it after the gRPC server
	// has drained (so the last submissions' campaign sightings are written) and before Redis closes.
	stop func(ctx context.Context)
}

// buildSpam wires the spam checks from the configuration (docs/SPAM.md): it loads the site's
// model, the recent campaign sightings and the word lists from Redis, so the first submission is
// scored with them, and starts the goroutines that keep them in step. CheckComment looks bans up
// with bans (the abuse controls' abuse.checkBans), counting nothing.
func buildSpam(ctx context.Context, cfg *config.Config, store *redisstore.Store, keyring *privacy.Keyring, bans spam.Bans, log *slog.Logger) (spamChecks, error) {
	s := cfg.Spam
	log = log.With("component", "spam")
	mirror := redisstore.NewSpamMirror(store, redisstore.SpamMirrorOptions{Logger: log})
	opts := spam.EngineOptions{
		Scorer: spam.Options{
			HoldAt: s.HoldAt,
			SpamAt: s.SpamAt,
			Rules: spam.RuleOptions{
				MaxLinks:         offIfZero(s.MaxLinks),
				MinFormAge:       time.Duration(offIfZero(int(s.MinFormAge))),
				AllowNoUserAgent: !s.HoldNoUserAgent,
				TrustAfter:       offIfZero(s.TrustAfter),
			},
			Campaign: spam.CampaignOptions{Window: s.CampaignWindow},
		},
		IgnoreAuthorSpam: !s.HoldAuthorSpam,
	}
	var campaigns *redisstore.Campaigns
	if s.CampaignWindow > 0 {
		campaigns = redisstore.NewCampaigns(store, redisstore.CampaignsOptions{Keep: s.CampaignWindow, Logger: log})
		opts.Scorer.Campaigns = campaigns
	}
	engine, err := spam.NewEngine(mirror, keyring, opts)
	if err != nil {
		return spamChecks{}, err
	}
	watcher := redisstore.NewFilterWatcher(store, engine.SetFilters, redisstore.FilterWatcherOptions{Logger: log})

	type runner interface {
		Load(context.Context) error
		Run(context.Context)
	}
	// The forest after the counts' copy, whose change number it records.
	forest := redisstore.NewSpamForest(store, mirror, redisstore.SpamForestOptions{Logger: log})
	runners := []runner{mirror, forest, watcher}
	if campaigns != nil {
		runners = append(runners, campaigns)
	}
	loadCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, r := range runners {
		if err := r.Load(loadCtx); err != nil {
			return spamChecks{}, fmt.Errorf("load: %w", err)
		}
	}
	if tot := mirror.Totals(); tot.Spam == 0 && tot.Ham == 0 {
		// A diagnostic: a failure to read it is logged, and does not stop the start.
		earlier, err := store.EarlierSiteModels(loadCtx)
		if err != nil {
			log.Warn("could not look for spam models of earlier feature versions", "error", err.Error())
		}
		for _, m := range earlier {
			log.Warn("the spam model is empty: the one trained before is of an earlier feature version, which this version cannot use; train it again (commentctl spam train) and delete the old keys (docs/SPAM.md)",
				"feature_version", spam.FeatureVersion, "earlier_feature_version", m.FeatureVersion,
				"earlier_spam", m.Spam, "earlier_ham", m.Ham)
		}
	}
	// The goroutines outlive ctx on purpose: a signal cancels ctx before the gRPC server drains,
	// and the submissions still in flight need the copies and the campaign writer. stop ends them.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Go(func() { r.Run(runCtx) })
	}
	log.Info("spam checks", "hold_at", threshold(s.HoldAt), "spam_at", threshold(s.SpamAt), "max_links", s.MaxLinks,
		"min_form_age", s.MinFormAge.String(), "trust_after", s.TrustAfter, "hold_author_spam", s.HoldAuthorSpam,
		"hold_no_user_agent", s.HoldNoUserAgent, "campaign_window", s.CampaignWindow.String(),
		"model_changes", mirror.Seq(), "feature_version", spam.FeatureVersion)

	limits := comment.Limits{MaxBodyChars: cfg.MaxBodyChars, MaxNameChars: cfg.MaxNameChars}
	return spamChecks{
		screener:  spam.NewScreener(engine, spam.ScreenerOptions{Logger: log}),
		learner:   spam.NewLearner(store, keyring),
		histories: store,
		model:     mirror.Totals,
		loads:     mirror.Loads,

		forestExamples: forest.Examples,
		server: grpcserver.SpamOptions{
			Service: spam.NewService(engine, store, spam.ServiceOptions{Limits: limits, Bans: bans, Threads: store, Histories: store}),
			Filters: spam.NewFilters(store, keyring, spam.FiltersOptions{}),
		},
		stop: func(ctx context.Context) {
			stopRun()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				// A hung Redis would otherwise hold the process past its shutdown timeout; closing
				// the client after this ends the calls still waiting.
				log.Warn("background work still waiting for Redis at the shutdown deadline; stopping without it")
			}
		},
	}, nil
}

// threshold writes a spam threshold setting for the log: 0 is the model's default pair, which
// differs with and without its forest.
func threshold(v float64) string {
	if v == 0 {
		return "default"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// offIfZero maps the configuration's "0 turns it off" to the spam package's negative value (its
// zero means "the default").
func offIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// newSpamModelGauges returns the collector of commentd_spam_model_trained_comments: how many
// comments of each class the model has learnt, read from totals at each scrape. Whether the model
// learns is otherwise seen nowhere: moderators' decisions are counted, but not whether they reached
// the model, and a model short of DefaultMinTrained comments of a class abstains on every comment.
func newSpamModelGauges(totals func() spam.Totals) prometheus.Collector {
	return spamModelGauges{
		desc: prometheus.NewDesc("commentd_spam_model_trained_comments",
			fmt.Sprintf("Comments the site's spam model has learnt, by class (spam, ham), in this server's copy, which scores the submissions: moderators' approvals and spam marks, and commentctl spam train, add to it. Below %d of either class the model abstains (score 0.50).", spam.DefaultMinTrained),
			[]string{"class"}, nil),
		totals: totals,
	}
}

// newSpamModelLoads returns the counter commentd_spam_model_loads_total: how many times this
// server's copy of the model read the whole model from Redis (loads). Each reads every count of the
// model; more than the one at start means changes were missed, most often by an erasure.
func newSpamModelLoads(loads func() int64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "commentd_spam_model_loads_total",
		Help: "Times this server's copy of the spam model read the whole model from Redis: one at start, then one per reload after missed changes (an erasure request, a trimmed change stream, data Redis lost). Each reads every count of the model.",
	}, func() float64 { return float64(loads()) })
}

// newSpamForestGauge returns the gauge commentd_spam_forest_examples: how many examples the forest
// this server scores with was fitted from, 0 while it has none. An upgraded model has no examples
// until moderators decide again, and a forest that stays at 0 while the model learns means the
// fits fail (the log says why).
func newSpamForestGauge(examples func() int) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "commentd_spam_forest_examples",
		Help: "Distinct examples the spam model's forest in use on this server was fitted from; 0 while it has none (fewer than 10 examples of a class kept); the score mixes it in once it was fitted from 50 of each class, and until then the counts' score decides alone with its own thresholds.",
	}, func() float64 { return float64(examples()) })
}

type spamModelGauges struct {
	desc   *prometheus.Desc
	totals func() spam.Totals
}

func (g spamModelGauges) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g spamModelGauges) Collect(ch chan<- prometheus.Metric) {
	t := g.totals()
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(t.Spam), "spam")
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(t.Ham), "ham")
}
