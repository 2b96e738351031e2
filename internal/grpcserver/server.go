// Package grpcserver is commentd's gRPC layer: the CommentService and ModerationService servers,
// the proto↔domain converters, the mapping of domain errors to gRPC statuses, and the interceptors
// for API-key auth, access logging, panic recovery and metrics. It also serves the standard health
// and reflection services.
//
// Every call passes the interceptors in this order, outermost first:
//
//	access log → metrics → error mapping → panic recovery → auth → handler
//
// so the access log and the metrics see the final status code, a panic anywhere below (auth
// included) becomes INTERNAL, and auth errors go through the same mapping as domain errors.
package grpcserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// DefaultMaxWatchers is Options.MaxWatchers' default: far more moderators than a newsroom has
// watching at once.
const DefaultMaxWatchers = 256

// DefaultMaxWatchersPerKey is Options.MaxWatchersPerKey's default: a moderator watching from a
// few terminals is far below it, and one key (a looping client, or a leaked key) can take no more
// than this share of DefaultMaxWatchers, so it cannot shut every other moderator out of WatchQueue.
const DefaultMaxWatchersPerKey = 16

// DefaultWatchSendTimeout is Options.WatchSendTimeout's default: as long as the store waits for a
// watcher that has left 256 events unread before it ends the stream.
const DefaultWatchSendTimeout = time.Minute

// DefaultKeepaliveTime and DefaultKeepaliveTimeout are Options.KeepaliveTime's and
// Options.KeepaliveTimeout's defaults. A connection the client has sent nothing on for
// KeepaliveTime gets an HTTP/2 PING; one whose PING goes unanswered for KeepaliveTimeout more is
// closed, with every call on it. gRPC's own default waits two hours before the first PING, and a
// WatchQueue stream on a quiet queue sends nothing: a watcher whose laptop went to sleep, or whose
// process was stopped, kept its place among MaxWatchers and MaxWatchersPerKey for that long.
// One PING a minute costs a few bytes per connection; gRPC clients answer it without their
// application's help and send none of their own unless configured to.
const (
	DefaultKeepaliveTime    = time.Minute
	DefaultKeepaliveTimeout = 20 * time.Second
)

// StreamWorkers is how many long-lived goroutines serve incoming calls. Without them gRPC starts a
// goroutine per call, and a SubmitComment grows that fresh goroutine's stack several times
// (runtime.newstack was about 4% of commentd's CPU under load); a worker keeps its grown stack
// from one call to the next. Calls beyond this many in flight still get a goroutine of their own.
// gRPC marks the option experimental; removing it changes only the CPU cost.
const StreamWorkers = 128

// MaxHeaderListSize bounds the metadata of one call, in bytes (gRPC counts each name and value
// plus 32). What our clients send (a bearer token, a request id, gRPC's own headers, perhaps a
// trace context) takes well under a kilobyte. gRPC's default of 16 MiB let anyone who reaches the
// port, with no key, make the server decode 16 MiB per call, and HPACK lets a few bytes on the
// wire stand for a header repeated many times over.
const MaxHeaderListSize = 64 << 10

// MaxConcurrentStreams bounds the calls one connection may have open at once; a client that opens
// more waits until one ends (gRPC clients do) or has the extra ones refused. Without a bound, one
// connection with no key could open health watches (which need none, and last until the client
// leaves) without end: 20,000 of them took 250 MB. The bound is twice StreamWorkers, and far
// above what a site's backend runs on one connection (the benchmark runs 50).
const MaxConcurrentStreams = 2 * StreamWorkers

// Options configures a Server.
type Options struct {
	// Logger receives the access log and the causes of internal errors. nil discards them (tests
	// only: a server should always log).
	Logger *slog.Logger
	// Keys are the accepted API keys. nil accepts none.
	Keys *apikey.Set
	// Comments and Moderation are the domain services behind the two APIs. Required.
	Comments   *comment.Service
	Moderation *moderation.Service
	// Metrics are the collectors the server counts into; nil: NewMetrics(Registerer). Give servers
	// that take turns on one port the same Metrics (see Metrics); Registerer is then not used.
	Metrics *Metrics
	// Registerer receives the server's metrics when Metrics is nil; nil means no metrics are
	// exported.
	Registerer prometheus.Registerer
	// ServerOptions are passed to grpc.NewServer after ours, e.g. TLS credentials. Interceptors
	// given here run inside ours, after auth.
	ServerOptions []grpc.ServerOption
	// CallTimeout bounds every unary call (and so every Redis call it makes) when the client set no
	// shorter deadline; 0 means no bound of our own. Streams are not bounded.
	CallTimeout time.Duration
	// MaxWatchers bounds the WatchQueue streams served at once (0: DefaultMaxWatchers). They
	// share one Redis subscription, but each holds memory (the events waiting for its client)
	// and takes a share of the work on every event, so without a bound a looping client could
	// make the server hold and do as much as it liked.
	MaxWatchers int
	// MaxWatchersPerKey bounds the WatchQueue streams one API key may have open on this server
	// at once (0: DefaultMaxWatchersPerKey), so one key cannot take every place MaxWatchers allows.
	MaxWatchersPerKey int
	// WatchSendTimeout bounds how long a WatchQueue event may wait for the client to make room
	// for it (HTTP/2 flow control: the client has not read what was sent before); the stream then
	// ends with UNAVAILABLE and gives its place back. 0: DefaultWatchSendTimeout.
	WatchSendTimeout time.Duration
	// KeepaliveTime and KeepaliveTimeout find connections whose client is gone or frozen; see
	// DefaultKeepaliveTime. 0: the defaults. gRPC raises a KeepaliveTime below a second to one.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// Bans serves CreateBan, ListBans and DeleteBan (its BansOptions.Keys hashes the email and IP
	// targets). Optional: without it those RPCs fail with FAILED_PRECONDITION, reason BANS_DISABLED.
	Bans *ratelimit.Bans
	// Spam serves CheckComment, TrainSpam, DeleteSpamModel and the word-list RPCs (spam.go).
	// Optional: without it those RPCs fail with FAILED_PRECONDITION, reason SPAM_DISABLED.
	Spam SpamOptions
}

// Server is commentd's gRPC server.
type Server struct {
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server
	// endStreams ends the streams that would otherwise run until their client leaves (WatchQueue),
	// so a graceful stop does not wait for them until its deadline.
	endStreams context.CancelFunc
	auth       *authorizer
	metrics    *Metrics
}

// SetKeys replaces the accepted API keys: calls that start after it are checked against keys
// (nil accepts none); unary calls already authorised run on, and a stream in progress (WatchQueue)
// whose key the new keys no longer allow ends with the error a new call would get.
func (s *Server) SetKeys(keys *apikey.Set) { s.auth.setKeys(keys) }

// apiServices are the names of commentd's own services.
func apiServices() []string {
	return []string{commentdv1.CommentService_ServiceDesc.ServiceName, commentdv1.ModerationService_ServiceDesc.ServiceName}
}

// healthServices are the names whose health SetServing sets: the whole server ("") and each API.
func healthServices() []string {
	return append([]string{""}, apiServices()...)
}

// RefuseAPI returns the server options of a server that must not serve the API yet: every call of
// commentd's own services fails with err before its handler runs, while health and reflection
// answer. Given in Options.ServerOptions, they run inside this package's interceptors, after the
// API key check (a call without a valid key is still UNAUTHENTICATED), and err is mapped to a
// status like any handler's error.
func RefuseAPI(err error) []grpc.ServerOption {
	ours := func(method string) bool {
		for _, name := range apiServices() {
			if strings.HasPrefix(method, "/"+name+"/") {
				return true
			}
		}
		return false
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if ours(info.FullMethod) {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if ours(info.FullMethod) {
				return err
			}
			return handler(srv, ss)
		}),
	}
}

// New builds the server with every service registered. Health starts NOT_SERVING: call SetServing
// or WatchHealth once the store is known to answer. Without opts.Metrics, it panics if
// opts.Registerer already holds metrics of the same names (a wiring bug).
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: opts.Logger, health: health.NewServer()}
	m := opts.Metrics
	if m == nil {
		m = NewMetrics(opts.Registerer)
	}
	logs := accessLog{log: opts.Logger}
	errs := errorMapper{log: opts.Logger, unavailable: ratelimit.NewThrottle(unavailableLogEvery)}
	auth := &authorizer{roles: methodRoles()}
	auth.setKeys(opts.Keys)
	s.auth = auth

	serverOpts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    positiveOr(opts.KeepaliveTime, DefaultKeepaliveTime),
			Timeout: positiveOr(opts.KeepaliveTimeout, DefaultKeepaliveTimeout),
		}),
		grpc.NumStreamWorkers(StreamWorkers),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.InTapHandle(auth.tap(func(ctx context.Context, method string, err error) {
			logs.refused(ctx, method, err)
			m.refusedUnread(err)
		})),
		grpc.ChainUnaryInterceptor(
			logs.unary,
			m.rpc.UnaryServerInterceptor(),
			errs.unary,
			recovery.UnaryServerInterceptor(),
			boundCall(opts.CallTimeout, walkingMethods()),
			auth.unary,
		),
		grpc.ChainStreamInterceptor(
			logs.stream,
			m.rpc.StreamServerInterceptor(),
			errs.stream,
			recovery.StreamServerInterceptor(),
			auth.stream,
		),
	}
	s.grpc = grpc.NewServer(append(serverOpts, opts.ServerOptions...)...)

	var shutdown context.Context
	shutdown, s.endStreams = context.WithCancel(context.Background())
	commentdv1.RegisterCommentServiceServer(s.grpc, &commentServer{comments: opts.Comments, metrics: m, spam: opts.Spam, moderation: opts.Moderation})
	maxWatchers := opts.MaxWatchers
	if maxWatchers <= 0 {
		maxWatchers = DefaultMaxWatchers
	}
	maxPerKey := opts.MaxWatchersPerKey
	if maxPerKey <= 0 {
		maxPerKey = DefaultMaxWatchersPerKey
	}
	commentdv1.RegisterModerationServiceServer(s.grpc, &moderationServer{moderation: opts.Moderation, metrics: m, bans: opts.Bans, spam: opts.Spam, shutdown: shutdown,
		watchers: make(chan struct{}, maxWatchers), keyWatchers: &keyCounts{max: maxPerKey, n: map[string]int{}},
		watchSendTimeout: positiveOr(opts.WatchSendTimeout, DefaultWatchSendTimeout)})
	healthgrpc.RegisterHealthServer(s.grpc, healthServer{Server: s.health, shutdown: shutdown})
	reflection.Register(s.grpc)

	s.SetServing(false)
	m.rpc.InitializeMetrics(s.grpc) // again for a shared Metrics: it only creates series at 0
	s.metrics = m
	return s
}

// Serving reports whether health says SERVING.
func (s *Server) Serving() bool {
	resp, err := s.health.Check(context.Background(), &healthgrpc.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthgrpc.HealthCheckResponse_SERVING
}

// positiveOr is d, or def when d is not positive (an Options field left unset).
func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve accepts connections on lis until Shutdown. It returns nil after a Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	return s.grpc.Serve(lis)
}

// SetServing sets the health of the server and of both APIs to SERVING or NOT_SERVING. After
// Shutdown it has no effect.
func (s *Server) SetServing(ok bool) {
	st := healthgrpc.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthgrpc.HealthCheckResponse_SERVING
	}
	for _, name := range healthServices() {
		s.health.SetServingStatus(name, st)
	}
}

// Drain turns health NOT_SERVING for good while calls, and new connections, go on being served:
// the first step of a shutdown that leaves load balancers time to stop sending here before
// Shutdown refuses new connections.
func (s *Server) Drain() { s.health.Shutdown() }

// Shutdown turns health NOT_SERVING (for good), ends the open WatchQueue and health Watch streams
// (their clients get UNAVAILABLE and reconnect elsewhere), then stops accepting calls and waits
// for the running ones to finish. If ctx ends first, it closes every connection at once.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown()
	s.endStreams()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// A deadline is the shutdown timeout running out; a cancellation is the operator cutting
		// the drain short (a second signal), which the caller logs: say which it was.
		msg := "graceful stop timed out; closing connections"
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = "graceful stop cut short; closing connections"
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, msg)
		s.grpc.Stop()
		<-done
	}
}

// WatchHealth pings the store at once and then every interval until ctx ends, and sets health
// from the result: NOT_SERVING while the store does not answer. Each ping may take at most one
// interval. Only changes are logged, not every tick.
func (s *Server) WatchHealth(ctx context.Context, ping func(context.Context) error, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	known, serving := false, false
	for {
		pctx, cancel := context.WithTimeout(ctx, interval)
		began := time.Now()
		err := ping(pctx)
		cancel()
		took := time.Since(began)
		if ctx.Err() != nil {
			return
		}
		s.metrics.ping.Observe(took.Seconds())
		if ok := err == nil; !known || ok != serving {
			s.SetServing(ok)
			switch {
			case ok:
				s.log.LogAttrs(ctx, slog.LevelInfo, "store reachable; serving")
			default:
				s.log.LogAttrs(ctx, slog.LevelError, "store unreachable; not serving", slog.String("error", err.Error()))
			}
			known, serving = true, ok
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// walkingMethods are the methods that walk every stored comment, so they last as long as the store
// is large: boundCall leaves their deadline to the client, and they bound each Redis call they
// make themselves (moderation.Options.EraseCallTimeout).
func walkingMethods() map[string]bool {
	return map[string]bool{
		commentdv1.ModerationService_EraseAuthorData_FullMethodName:  true,
		commentdv1.ModerationService_ExportAuthorData_FullMethodName: true,
	}
}

// boundCall caps a unary call's deadline at timeout from now, so a client that sets no deadline
// cannot hold a handler (and its Redis calls) forever. go-redis honours the context deadline
// because the client is built with ContextTimeoutEnabled. The methods in walking keep the client's
// deadline, or none.
func boundCall(timeout time.Duration, walking map[string]bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if timeout <= 0 || walking[info.FullMethod] {
			return handler(ctx, req)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= timeout {
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return handler(ctx, req)
	}
}
