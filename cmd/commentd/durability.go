package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/redisstore"
)

// durabilityRecheckEvery is how often a running commentd reads Redis's persistence settings
// again. They change after the start-up check when a failover promotes a replica configured
// otherwise, when Redis restarts and a CONFIG SET that CONFIG REWRITE did not save is undone, or
// when someone runs CONFIG SET. A re-check costs one pipeline of CONFIG GETs per master, so a
// minute is cheap on any Redis and soon enough for a setting that stays wrong for hours.
const durabilityRecheckEvery = time.Minute

// durabilityTimeout bounds one reading of the settings, at start and at each re-check.
const durabilityTimeout = 10 * time.Second

// durabilityInfo is what commentd last read of Redis's persistence settings. It is the
// prometheus.Collector of commentd_redis_durability_info: one series whose labels are the
// settings, replaced as a whole when they change, so that the old set never lingers beside the
// new (as it would with a gauge per set).
type durabilityInfo struct {
	desc *prometheus.Desc

	mu       sync.Mutex
	d        redisstore.Durability
	problems error // what CheckDurability found wrong with d (ErrNoAOF, ErrEvictionPolicy, ErrConfigUnreadable), or nil
	read     bool  // false until the settings were read: no series before (nor ever under -dev)
}

func newDurabilityInfo() *durabilityInfo {
	return &durabilityInfo{desc: prometheus.NewDesc("commentd_redis_durability_info",
		"Redis persistence settings commentd runs with, as read at start and again every minute (value is always 1; \"unknown\" when Redis refused CONFIG GET).",
		[]string{"aof", "appendfsync", "maxmemory_policy"}, nil)}
}

func (i *durabilityInfo) Describe(ch chan<- *prometheus.Desc) { ch <- i.desc }

func (i *durabilityInfo) Collect(ch chan<- prometheus.Metric) {
	i.mu.Lock()
	d, read := i.d, i.read
	i.mu.Unlock()
	if !read {
		return
	}
	labels := []string{fmt.Sprint(d.AOF), d.Fsync, d.EvictionPolicy}
	if !d.Readable {
		labels = []string{"unknown", "unknown", "unknown"}
	}
	ch <- prometheus.MustNewConstMetric(i.desc, prometheus.GaugeValue, 1, labels...)
}

// set records d, read with the durability problems problems, and returns what it replaces.
func (i *durabilityInfo) set(d redisstore.Durability, problems error) (prev redisstore.Durability, prevProblems error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	prev, prevProblems = i.d, i.problems
	i.d, i.problems, i.read = d, problems, true
	return prev, prevProblems
}

// durabilityProblem reports whether err is about what Redis's settings promise, rather than a
// Redis that did not answer.
func durabilityProblem(err error) bool {
	return errors.Is(err, redisstore.ErrEvictionPolicy) || errors.Is(err, redisstore.ErrNoAOF) || errors.Is(err, redisstore.ErrConfigUnreadable)
}

// durabilityAttrs returns d's settings for a log line: "unknown", as the metric says, when they
// could not be read (not "off").
func durabilityAttrs(d redisstore.Durability) []any {
	if !d.Readable {
		return []any{"aof", "unknown", "appendfsync", "unknown", "maxmemory_policy", "unknown"}
	}
	return []any{"aof", d.AOF, "appendfsync", d.Fsync, "maxmemory_policy", d.EvictionPolicy}
}

// watch re-checks Redis's persistence settings every interval until ctx ends.
func (i *durabilityInfo) watch(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, every time.Duration) {
	onTick(ctx, every, func() { i.recheck(ctx, log, rdb) })
}

// recheck reads Redis's persistence settings again (on a Cluster, every master's) and, when they
// changed, puts them in the metric and logs the change once: a WARN when they became weaker and
// Redis may now lose comments (what start-up refuses without -accept-data-loss), an INFO when it
// no longer may, or when they changed otherwise. A Redis that does not answer is no change:
// health reports that. It never stops the server: the comments stored stay where they are, and
// refusing new ones would not mend the settings.
func (i *durabilityInfo) recheck(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient) {
	ctx, cancel := context.WithTimeout(ctx, durabilityTimeout)
	defer cancel()
	d, err := redisstore.ReadDurability(ctx, rdb)
	if err != nil && !durabilityProblem(err) {
		log.Debug("redis durability not re-checked: redis did not answer", "error", err.Error())
		return
	}
	prev, prevErr := i.set(d, err)
	if d == prev {
		return
	}
	attrs := append(durabilityAttrs(d), slog.Group("was", durabilityAttrs(prev)...), "loss_window", d.LossWindow())
	switch {
	case err != nil && (prevErr == nil || d.WeakerThan(prev)):
		attrs = append(attrs, "problem", err.Error())
		if errors.Is(err, redisstore.ErrNoAOF) || errors.Is(err, redisstore.ErrEvictionPolicy) {
			attrs = append(attrs, "fix", durabilityFix(err))
		}
		log.Warn("redis durability weakened since the last check: redis may lose comments (commentd goes on serving)", attrs...)
	case err == nil && prevErr != nil:
		log.Info("redis durability is as commentd requires again", attrs...)
	default:
		log.Info("redis durability changed", attrs...)
	}
}
