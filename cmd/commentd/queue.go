package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/redisstore"
)

// queueReadTimeout bounds the read of the moderation queue at a scrape: a Redis that does not
// answer leaves the gauges out of that scrape rather than holding /metrics.
const queueReadTimeout = time.Second

// queueGauges is the prometheus.Collector of the moderation queue's size and the age of its oldest
// comment, read from Redis at each scrape (one pipeline), so they are the queue all replicas
// share, not what this one saw: a counter of submissions held less decisions taken drifts (a
// comment reported into the queue, a resend counted again, a replica restarted), and the queue's
// age cannot be derived from counters at all. A scrape during which Redis fails has neither
// gauge; health and grpc_server_handled_total say why.
type queueGauges struct {
	size, age *prometheus.Desc
	read      func(context.Context) (redisstore.HeldQueue, error)
	now       func() time.Time
}

func newQueueGauges(read func(context.Context) (redisstore.HeldQueue, error)) *queueGauges {
	return &queueGauges{
		size: prometheus.NewDesc("commentd_moderation_queue_comments",
			"Comments held for a moderator (the moderation queue of every thread), read from Redis at each scrape: every replica reports the same queue.", nil, nil),
		age: prometheus.NewDesc("commentd_moderation_queue_oldest_age_seconds",
			"Time since the oldest comment held for a moderator was submitted (a comment reported or reopened into the queue counts from its submission too); 0 when the queue is empty.", nil, nil),
		read: read,
		now:  time.Now,
	}
}

func (g *queueGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.size
	ch <- g.age
}

func (g *queueGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueReadTimeout)
	defer cancel()
	q, err := g.read(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !q.Oldest.IsZero() {
		age = max(g.now().Sub(q.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(g.size, prometheus.GaugeValue, float64(q.Comments))
	ch <- prometheus.MustNewConstMetric(g.age, prometheus.GaugeValue, age)
}
