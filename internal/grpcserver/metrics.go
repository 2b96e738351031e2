package grpcserver

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Metrics are a server's Prometheus collectors. Every label value comes from a small fixed set
// (method names, status codes, states, actions): nothing a reader sends ever becomes a label.
//
// Servers that take turns on one port (commentd's start-up server, which answers while Redis is
// not ready, then the one that serves the API) share one Metrics through Options.Metrics: every
// series is on /metrics from the first server on, counts on across the handover rather than
// starting again at 0, and is registered once.
type Metrics struct {
	rpc       *grpcprom.ServerMetrics
	submitted *prometheus.CounterVec
	decisions *prometheus.CounterVec
	// unread counts the calls refused before their request was read (authorizer.tap), which the
	// interceptors of rpc never see. By reason only: the method is the client's to name.
	unread *prometheus.CounterVec
	// ping times the health checks' pings of the store (WatchHealth): Redis's latency, seen every
	// few seconds whether calls come or not.
	ping prometheus.Histogram
}

// handlingBuckets are the bounds of grpc_server_handling_seconds: Prometheus's default ones (5 ms
// to 10 s, enough for a loaded server, whose submissions take 8 to 20 ms, and for calls cut off at
// -redis-timeout) with 1 and 2.5 ms below them, where a quiet server answers on a local Redis (a
// submission in about 1 ms, a read in less): with 5 ms as the first bound, all of those fell in
// one bucket, and a latency that quadrupled did not show.
var handlingBuckets = append([]float64{.001, .0025}, prometheus.DefBuckets...)

// NewMetrics creates the collectors, every series at zero, and registers them with reg (nil: the
// metrics are counted but not exported). A collector registered twice is a wiring bug, so it
// panics, like prometheus.MustRegister, if reg already holds metrics of the same names.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(handlingBuckets))),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_comments_submitted_total",
			Help: "Comments accepted by SubmitComment, by the state they were stored in (a retried request_id counts again).",
		}, []string{"state"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_moderation_decisions_total",
			Help: "Moderator decisions that succeeded, by action (a decision repeated on a comment already in its target state counts again).",
		}, []string{"action"}),
		unread: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_grpc_refused_unread_total",
			Help: "Calls refused for their API key before their request was read (no key, or one not in force), by reason; they are not in grpc_server_handled_total.",
		}, []string{"reason"}),
		ping: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commentd_redis_ping_seconds",
			Help:    "Time Redis took to answer the health check's pings (commentd sends one every 2 s; on a Cluster, to every master); a ping that failed counts the time it took to fail, at most those 2 s.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2},
		}),
	}
	// Create every series at zero so rates and alerts work before the first event.
	for _, r := range []string{ReasonAPIKeyMissing, ReasonAPIKeyInvalid} {
		m.unread.WithLabelValues(r)
	}
	for _, s := range []comment.State{comment.StatePublished, comment.StatePending, comment.StateRejected, comment.StateSpam} {
		m.submitted.WithLabelValues(s.String())
	}
	for _, a := range []moderation.Action{moderation.Approve, moderation.Reject, moderation.MarkSpam, moderation.MarkNotSpam, moderation.Reopen} {
		m.decisions.WithLabelValues(a.String())
	}
	if reg != nil {
		reg.MustRegister(m.rpc, m.submitted, m.decisions, m.unread, m.ping)
	}
	return m
}

// refusedUnread counts a call refused before it was read with err, a status error.
func (m *Metrics) refusedUnread(err error) {
	m.unread.WithLabelValues(errorReason(status.Convert(err))).Inc()
}

func (m *Metrics) commentSubmitted(s comment.State) {
	m.submitted.WithLabelValues(s.String()).Inc()
}

func (m *Metrics) decided(a moderation.Action) {
	m.decisions.WithLabelValues(a.String()).Inc()
}
