package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
)

// ready, when not nil, receives the bound addresses once the server accepts calls (tests use it
// to run on port 0).
type readyFunc func(grpcAddr, httpAddr string)

// run starts commentd and blocks until ctx is cancelled (SIGINT/SIGTERM) or a server fails, and
// then shuts down gracefully; a value on again once ctx has ended (a second SIGINT or SIGTERM)
// ends that shutdown at once, and run then returns an error. Every value on reload (SIGHUP) reads
// the keys file, the TLS certificate and the config file again (the config file for its abuse
// controls: configReload). With "reseal" as the first argument it runs that job instead (see
// runReseal) and returns when it is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string, ready readyFunc, reload, again <-chan os.Signal) (err error) {
	getenv := lookupEnv(environ)
	if len(args) > 0 && args[0] == "reseal" {
		return runReseal(ctx, args[1:], stdout, stderr, environ)
	}
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	// The configuration as loaded, before -dev fills anything in: what a reload's is compared to.
	started := *cfg
	level := new(slog.LevelVar)
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	redisLogLevel.Set(level.Level())
	// Every wait of the shutdown below is bound by hurry as well as by its own timeout. Deferred
	// first, so it watches until the last clean-up (Redis closing) is done.
	hurry, hurried := hurryOnSignal(ctx, log, again)
	defer func() {
		if hurried() && err == nil {
			err = errors.New("stopped by a second signal before the graceful shutdown had ended")
		}
	}()
	ignoredRedis := cfg.Dev && cfg.RedisURL != config.DefaultRedisURL
	if cfg.Dev {
		cfg.RedisURL = "embedded (miniredis)"
	}
	log.Info("starting commentd", cfg.LogAttrs()...)
	warnUnknownEnv(log, environ)
	if ignoredRedis {
		// Not refused: a shell that exports COMMENTD_REDIS_URL for other work must still run the
		// README's first command. But an operator who added -dev by mistake must see that the
		// comments go nowhere durable.
		log.Warn("-dev ignores -redis-url (or COMMENTD_REDIS_URL): comments go to the embedded in-memory Redis, not to the Redis named")
	}

	// In -dev mode everything a production set-up brings from outside is made up here.
	var devRedis *miniredis.Miniredis
	var devTokens []devToken
	if cfg.Dev {
		devRedis = miniredis.NewMiniRedis()
		if err := devRedis.Start(); err != nil {
			return fmt.Errorf("dev: start embedded redis: %w", err)
		}
		defer devRedis.Close()
		defer runDevTTLs(devRedis, devTTLTick)() // stops before the Redis closes
		cfg.RedisURL = "redis://" + devRedis.Addr()
		if len(cfg.EncryptionKeys) == 0 {
			cfg.EncryptionKeys = []privacy.Key{{ID: "dev", Secret: privacy.NewSecret()}}
		}
		if len(cfg.HashKey) == 0 {
			cfg.HashKey = privacy.NewSecret()
		}
		log.Warn("DEV MODE: embedded in-memory Redis (miniredis), generated keys; every comment is lost when commentd stops. For trying commentd out only, never for production.")
	}

	keyring, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: cfg.EncryptionKeys, HashKey: cfg.HashKey})
	if err != nil {
		return fmt.Errorf("encryption keys: %w", err)
	}
	keys, err := loadKeys(cfg)
	if err != nil {
		return err
	}
	if cfg.Dev && cfg.KeysFile == "" {
		if devTokens, err = addDevKeys(keys); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	roundTrips := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "commentd_redis_roundtrips_total",
		Help: "Redis round trips calls waited for: one per command or pipeline sent alone, one per caller of a shared (batched) exchange, plus the commands of each new connection's handshake (on a Cluster, the nodes' handshakes are not counted).",
	})
	reg.MustRegister(roundTrips)
	spamPurged := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "commentd_spam_purged_total",
		Help: "Spam comments this server deleted because they had been spam for longer than -spam-retention.",
	})
	reg.MustRegister(spamPurged)
	reloaded := newReloadMetric(reg, cfg)

	rdb, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis-url: %w", err)
	}
	defer rdb.Close() // deferred first among the servers' clean-ups, so Redis closes last
	rdb.AddHook(redisstore.RoundTripHook(roundTrips.Inc))

	var serverOpts []grpc.ServerOption
	var cert certificate
	if cfg.TLSCert != "" {
		if err := cert.load(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(&tls.Config{GetCertificate: cert.get, MinVersion: tls.VersionTLS12})))
	}

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc-addr: %w", err)
	}
	port := newHandoff(grpcLis)
	defer port.close() // after the servers' Shutdown below, which close their views of it
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.Pprof {
		servePprof(mux)
		if !isLoopback(httpLis.Addr()) {
			// Often on purpose (the metrics port is reached from outside), but -pprof with the
			// default -http-addr, every interface, is the easy mistake: say so where it is seen.
			log.Warn("pprof: Go's profiler is served on an address other machines can reach: anyone there can take CPU profiles and traces, which cost CPU and show the program's internals; for performance work only",
				"http_addr", httpLis.Addr().String())
		}
	}
	httpSrv := newHTTPServer(mux, defaultHTTPTimeouts)

	// Every goroutine below is owned by this function: it waits for all of them before returning.
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() {
		if err := httpSrv.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	})
	// Until Redis answers and the start-up checks pass, the gRPC port is served by a server whose
	// health says NOT_SERVING and which refuses the API with UNAVAILABLE (wait.go). It counts into
	// the gRPC metrics the serving server takes over, registered once: the calls it answers and
	// those refused for their API key are on /metrics while start-up waits, and stay counted after.
	rpcMetrics := grpcserver.NewMetrics(reg)
	waiting := grpcserver.New(grpcserver.Options{Logger: log, Keys: keys, Metrics: rpcMetrics,
		ServerOptions: append(slices.Clip(serverOpts), refuseAPIUntilStarted()...)})
	// The server whose health commentd_serving reports: the waiting one until the serving one
	// takes the port, so the gauge is there, at 0, while start-up waits for Redis.
	var serving atomic.Pointer[grpcserver.Server]
	serving.Store(waiting)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "commentd_serving",
		Help: "1 while the gRPC health service answers SERVING, 0 while it answers NOT_SERVING (waiting for Redis at start, Redis unreachable or a replica, or shutting down).",
	}, func() float64 {
		if serving.Load().Serving() {
			return 1
		}
		return 0
	}))
	wg.Go(func() {
		if err := waiting.Serve(port.listener()); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	})

	// Everything that needs Redis at start, run again while Redis is not ready (waitForRedis):
	// the durability check (once it has read the settings, start-up does not run it again; the
	// re-checks below read them while commentd runs), the store's scripts, the abuse controls'
	// scripts, and the spam checks' model, word lists and campaign sightings. Metrics are
	// registered outside it, or once.
	if cfg.Dev {
		log.Warn("redis durability: none (embedded in-memory Redis)")
	}
	durability := newDurabilityInfo()
	reg.MustRegister(durability)
	durabilityChecked := cfg.Dev
	abuseMetrics := newAbuseMetrics(reg, cfg.Abuse.Rules)
	var (
		store  *redisstore.Store
		ab     *abuse
		checks spamChecks
	)
	err = waitForRedis(ctx, log, cfg.RedisWait, func(ctx context.Context) error {
		if !durabilityChecked {
			if err := checkDurability(ctx, log, rdb, cfg, durability); err != nil {
				return err
			}
			durabilityChecked = true
			logShardPlacement(ctx, log, rdb)
		}
		startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := redisstore.New(startCtx, rdb, redisstore.Options{Prefix: cfg.RedisPrefix, CloseThreadsAfter: cfg.Workflow.CloseThreadsAfter, MaxReplyDepth: cfg.Workflow.MaxReplyDepth})
		cancel()
		if err != nil {
			return fmt.Errorf("redis store: %w", err)
		}
		if err := checkHashKey(ctx, s, keyring); err != nil {
			return err
		}
		a, err := buildAbuse(ctx, cfg, s, keyring, abuseMetrics, log)
		if err != nil {
			return fmt.Errorf("abuse controls: %w", err)
		}
		// Last: it starts the spam checks' background work once it has loaded everything.
		c, err := buildSpam(ctx, cfg, s, keyring, a.checkBans, log)
		if err != nil {
			return fmt.Errorf("spam checks: %w", err)
		}
		store, ab, checks = s, a, c
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			log.Info("shutting down while waiting for redis")
			err = nil
		}
		shutCtx, cancel := context.WithTimeout(hurry, cfg.ShutdownTimeout)
		defer cancel()
		waiting.Shutdown(shutCtx)
		shutdownHTTP(shutCtx, httpSrv)
		wg.Wait()
		return err
	}

	reg.MustRegister(newQueueGauges(store.HeldQueue), newSpamModelGauges(checks.model), newSpamModelLoads(checks.loads), newSpamForestGauge(checks.forestExamples))

	// The spam checks' background work stops after the gRPC server has drained and before Redis
	// closes, within what is left of the shutdown timeout (or the whole of it on an early return).
	var shutdownBy time.Time
	defer func() {
		if shutdownBy.IsZero() {
			shutdownBy = time.Now().Add(cfg.ShutdownTimeout)
		}
		stopCtx, cancel := context.WithDeadline(hurry, shutdownBy)
		defer cancel()
		checks.stop(stopCtx)
	}()
	comments := comment.NewService(store, keyring, comment.Options{
		Limits:      comment.Limits{MaxBodyChars: cfg.MaxBodyChars, MaxNameChars: cfg.MaxNameChars},
		DefaultMode: cfg.ModerationMode,
		// The abuse check goes first: it is the cheapest refusal, and it reads the author's record
		// (Draft.History) for the checks after it.
		Screeners: []comment.Screener{ab.screener, checks.screener},
	})
	mod := moderation.NewService(store, keyring, buildWorkflow(moderation.Options{DefaultMode: cfg.ModerationMode, Learner: checks.learner, Histories: checks.histories}, store, cfg))
	srv := grpcserver.New(grpcserver.Options{
		Logger:        log,
		Keys:          keys,
		Comments:      comments,
		Moderation:    mod,
		Metrics:       rpcMetrics,
		ServerOptions: serverOpts,
		CallTimeout:   cfg.RedisTimeout,
		Bans:          ab.bans,
		Spam:          checks.server,
	})
	// The waiting server gives the port up first: a connection made meanwhile waits for the
	// serving one. Its calls end at once (UNAVAILABLE), and its health watches end with
	// SHUTTING_DOWN, which tells their clients to reconnect.
	handCtx, cancel := context.WithTimeout(hurry, cfg.ShutdownTimeout)
	waiting.Shutdown(handCtx)
	cancel()
	serving.Store(srv)

	healthCtx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	wg.Go(func() { srv.WatchHealth(healthCtx, store.Ping, 2*time.Second) })
	wg.Go(func() { learnPending(healthCtx, log, mod, learnPendingEvery, learnPendingGrace) })
	wg.Go(func() { indexThreads(healthCtx, log, store, cfg.RedisTimeout) })
	if !cfg.Dev {
		wg.Go(func() { durability.watch(healthCtx, log, rdb, durabilityRecheckEvery) })
	}
	if cfg.Spam.Retention > 0 {
		wg.Go(func() { purgeSpam(healthCtx, log, mod, purgeSpamEvery, cfg.Spam.Retention, spamPurged) })
	}
	rc := &configReload{
		load:     func() (*config.Config, error) { return config.Load(args, getenv, io.Discard) },
		started:  &started,
		current:  &started,
		abuse:    ab,
		log:      log,
		reloaded: reloaded,
	}
	wg.Go(func() {
		for {
			select {
			case <-healthCtx.Done():
				return
			case <-reload:
				reloadFiles(log, cfg, srv, &cert, reloaded)
				rc.reload()
			}
		}
	})
	wg.Go(func() {
		if err := srv.Serve(port.listener()); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	})
	log.Info("commentd ready", "grpc_addr", grpcLis.Addr().String(), "http_addr", httpLis.Addr().String())
	if cfg.Dev {
		printDevBanner(stdout, grpcLis.Addr().String(), cfg.TLSCert != "", devTokens)
	}
	if ready != nil {
		ready(grpcLis.Addr().String(), httpLis.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case runErr = <-errc:
		log.Error("server failed, shutting down", "error", runErr)
	}
	// Order: health goes NOT_SERVING, calls are still taken for -shutdown-delay, and gRPC drains
	// (hard stop at the deadline); then HTTP; Redis closes last through the defer above.
	stopHealth()
	if cfg.ShutdownDelay > 0 && runErr == nil {
		srv.Drain()
		log.Info("health NOT_SERVING; still taking calls until the shutdown delay ends", "delay", cfg.ShutdownDelay.String())
		select {
		case <-time.After(cfg.ShutdownDelay):
		case <-hurry.Done():
		case runErr = <-errc:
			log.Error("server failed, shutting down", "error", runErr)
		}
	}
	shutdownBy = time.Now().Add(cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithDeadline(hurry, shutdownBy)
	defer cancel()
	srv.Shutdown(shutCtx)
	shutdownHTTP(shutCtx, httpSrv)
	wg.Wait()
	log.Info("commentd stopped")
	return runErr
}

// checkHashKey stops the start when the data under the prefix was written with another hash key:
// under a new one, every ban, word-list entry and author's record stops applying and erasure and
// access requests miss the comments stored before, and nothing says so. The error says what to
// do, including how to start over with the new key on purpose.
func checkHashKey(ctx context.Context, store *redisstore.Store, keyring *privacy.Keyring) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := store.CheckHashKey(ctx, keyring.HashKeyCheck())
	if errors.Is(err, redisstore.ErrHashKeyChanged) {
		return fmt.Errorf("hash-key: %w: start with the hash key this data was written with. "+
			"Under another key no ban by email, IP address or comment author applies, no email or IP word-list entry matches, "+
			"the authors' records start from nothing, and erasure and export requests find none of the comments stored before. "+
			"To start over with the new key regardless, delete that Redis key (redis-cli DEL) and start again", err)
	}
	if err != nil {
		return fmt.Errorf("redis store: %w", err)
	}
	return nil
}

// hurryOnSignal returns a context that ends when again delivers a signal after ctx has ended (a
// second SIGINT or SIGTERM while the first one's graceful shutdown runs), which it logs; and
// hurried, which ends the watch and reports whether that happened. A nil again never delivers.
func hurryOnSignal(ctx context.Context, log *slog.Logger, again <-chan os.Signal) (hurry context.Context, hurried func() bool) {
	hurry, cancel := context.WithCancel(context.Background())
	done, stopped := make(chan struct{}), make(chan struct{})
	var got bool // written before stopped is closed, read after
	go func() {
		defer close(stopped)
		// Not before ctx has ended: the signal that ended it is not on again (main takes it).
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		select {
		case sig := <-again:
			log.Warn("second signal: ending the graceful shutdown at once; calls still running are cut off and the process exits 1", "signal", sig.String())
			got = true
			cancel()
		case <-done:
		}
	}()
	return hurry, func() bool {
		close(done)
		<-stopped
		cancel()
		return got
	}
}

// shutdownHTTP stops the HTTP server, waiting for its requests until ctx ends; then it closes the
// connections still open (a scrape or a profile under way), which Shutdown leaves open.
func shutdownHTTP(ctx context.Context, s *http.Server) {
	if s.Shutdown(ctx) != nil {
		s.Close()
	}
}

// isLoopback reports whether a listener's address can be reached only from this machine.
func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// lookupEnv returns a getenv over environ, a list of "KEY=value" as os.Environ gives it. run takes
// the environment as that list, not as os.Getenv, so that the check of misspelt variables
// (warnUnknownEnv) can list them, and tests give each run its own.
func lookupEnv(environ []string) func(string) string {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, seen := vars[k]; !seen { // the first, as os.Getenv reads it
				vars[k] = v
			}
		}
	}
	return func(k string) string { return vars[k] }
}

// warnUnknownEnv logs the COMMENTD_* variables of environ that set nothing, by name only (their
// values may be secrets): a misspelt one leaves its setting at the default.
func warnUnknownEnv(log *slog.Logger, environ []string) {
	if names := config.UnknownEnv(environ); len(names) > 0 {
		log.Warn("environment variables named like commentd settings that are none: ignored, so the settings meant keep their values (commentd -h lists them)", "names", names)
	}
}

// httpTimeouts bound how long the HTTP port (/metrics, and -pprof's profiler) waits on a client.
type httpTimeouts struct {
	header time.Duration // to read a request's headers
	write  time.Duration // from the request's headers to the end of its response
	idle   time.Duration // for the next request on a kept-alive connection
}

// defaultHTTPTimeouts: a scraper reads /metrics (about 180 kB) in well under a second and scrapes
// again within a minute or two. Without write and idle bounds, anyone who reaches the port could
// hold a connection and its goroutine for good, by not reading the response or by sending nothing
// more after one request. write leaves room for -pprof's default 30 s CPU profile.
var defaultHTTPTimeouts = httpTimeouts{header: 5 * time.Second, write: 2 * time.Minute, idle: 2 * time.Minute}

// newHTTPServer returns the HTTP port's server for h, bounded by t.
func newHTTPServer(h http.Handler, t httpTimeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.header, WriteTimeout: t.write, IdleTimeout: t.idle}
}

// reloadFiles reads the keys file and the TLS certificate again and puts what it read in force.
// A file that fails to load is logged and the one in force is kept, so a typo does not lock every
// client out; reloaded says which.
func reloadFiles(log *slog.Logger, cfg *config.Config, srv *grpcserver.Server, cert *certificate, reloaded *reloadMetric) {
	switch keys, err := loadKeys(cfg); {
	case cfg.KeysFile == "":
		log.Info("reload: no keys file to read (-keys is not set); keys unchanged")
	case err != nil:
		reloaded.set(reloadKeys, false)
		log.Error("reload: keys file not reloaded; the keys in force stay", "error", err.Error())
	default:
		srv.SetKeys(keys)
		reloaded.set(reloadKeys, true)
		log.Info("reload: keys file reloaded", "keys_file", cfg.KeysFile, "keys", keys.Len())
	}
	if cfg.TLSCert == "" {
		return
	}
	if err := cert.load(cfg.TLSCert, cfg.TLSKey); err != nil {
		reloaded.set(reloadTLS, false)
		log.Error("reload: TLS certificate not reloaded; the one in force stays", "error", err.Error())
		return
	}
	reloaded.set(reloadTLS, true)
	log.Info("reload: TLS certificate reloaded", "tls_cert", cfg.TLSCert)
}

// The files SIGHUP reads, as commentd_reload_last_successful's file label names them.
const (
	reloadKeys   = "keys"
	reloadTLS    = "tls_cert"
	reloadConfig = "config"
)

// reloadMetric is commentd_reload_last_successful: for each file SIGHUP reads, whether its last
// reading was put in force. A refused reading is logged, but an operator who signalled every
// replica would have to read each one's log to learn that one kept its old keys or rules (a
// leaked key still accepted there); a 0 here is one alert for all of them.
type reloadMetric struct{ g *prometheus.GaugeVec }

// newReloadMetric registers the metric with a series at 1 for each file cfg names, all read at
// start, and none for the others, which SIGHUP does not read.
func newReloadMetric(reg prometheus.Registerer, cfg *config.Config) *reloadMetric {
	m := &reloadMetric{g: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "commentd_reload_last_successful",
		Help: "1 when the last reading of the file (at start, then at each SIGHUP) was put in force; 0 when the last SIGHUP's reading was refused, and what was read before stays in force (the log's \"reload: ... not reloaded\" line says why). file is keys, tls_cert or config, for the files commentd was started with.",
	}, []string{"file"})}
	reg.MustRegister(m.g)
	for file, given := range map[string]bool{reloadKeys: cfg.KeysFile != "", reloadTLS: cfg.TLSCert != "", reloadConfig: cfg.ConfigFile != ""} {
		if given {
			m.g.WithLabelValues(file).Set(1)
		}
	}
	return m
}

func (m *reloadMetric) set(file string, ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.g.WithLabelValues(file).Set(v)
}

// certificate is the gRPC port's TLS certificate, replaceable while connections are served: new
// handshakes get the one loaded last.
type certificate struct {
	cur atomic.Pointer[tls.Certificate]
}

func (c *certificate) load(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	c.cur.Store(&cert)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

func loadKeys(cfg *config.Config) (*apikey.Set, error) {
	if cfg.KeysFile == "" {
		return &apikey.Set{}, nil
	}
	f, err := os.Open(cfg.KeysFile)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	defer f.Close()
	keys, err := apikey.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", cfg.KeysFile, err)
	}
	if keys.Len() == 0 {
		return nil, fmt.Errorf("keys file %s holds no key", cfg.KeysFile)
	}
	return keys, nil
}

// checkDurability refuses to start on a Redis that may lose comments, unless the operator accepted
// that, and records the durability in force in info (the metric, and what re-checks compare with)
// either way. When the settings could not be read for a reason worth waiting for (worthWaiting),
// it records nothing, and start-up calls it again.
func checkDurability(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, cfg *config.Config, info *durabilityInfo) error {
	ctx, cancel := context.WithTimeout(ctx, durabilityTimeout)
	defer cancel()
	d, err := redisstore.CheckDurability(ctx, rdb)
	if worthWaiting(err) {
		// Nothing was read: start-up waits and checks again.
		return fmt.Errorf("check redis settings: %w", err)
	}
	if err == nil || durabilityProblem(err) {
		info.set(d, err)
	}
	attrs := append(durabilityAttrs(d), "loss_window", d.LossWindow())
	switch {
	case err == nil:
		log.Info("redis durability", attrs...)
		return nil
	case errors.Is(err, redisstore.ErrEvictionPolicy), errors.Is(err, redisstore.ErrNoAOF), errors.Is(err, redisstore.ErrConfigUnreadable):
		if cfg.AcceptDataLoss {
			log.Warn("redis may lose comments; starting anyway because data loss was accepted", append(attrs, "problem", err.Error())...)
			return nil
		}
		if errors.Is(err, redisstore.ErrConfigUnreadable) {
			return fmt.Errorf("redis may lose comments: %w (fix: allow this user CONFIG GET, or check in your Redis provider's settings that AOF is on and maxmemory-policy is noeviction, then start with -accept-data-loss)", err)
		}
		return fmt.Errorf("redis may lose comments: %w (fix, on every Redis server: %s; or start with -accept-data-loss)", err, durabilityFix(err))
	default:
		return fmt.Errorf("check redis settings: %w", err)
	}
}

// durabilityFix says how to fix what err names, and only that. A CONFIG SET alone lasts until
// Redis restarts, which brings back the config file's setting, and with it the risk (which the
// next re-check, up to a minute later, reports, but not undoes): CONFIG REWRITE saves it.
func durabilityFix(err error) string {
	var sets []string
	if errors.Is(err, redisstore.ErrNoAOF) {
		sets = append(sets, "CONFIG SET appendonly yes")
	}
	if errors.Is(err, redisstore.ErrEvictionPolicy) {
		sets = append(sets, "CONFIG SET maxmemory-policy noeviction")
	}
	return strings.Join(sets, ", ") + ", then CONFIG REWRITE (or set it where Redis is configured), or a restart of Redis undoes it"
}

// logShardPlacement says, on a Redis Cluster, how many of the comment shards each master serves,
// and warns when one serves more than its share: the comment load follows the shards, and the
// slot split redis-cli makes leaves one master of three with half of them. Failing to read it
// stops nothing; the first call that needs the Cluster will say what is wrong.
func logShardPlacement(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := redisstore.ShardPlacement(ctx, rdb)
	if err != nil {
		log.Warn("could not read where the cluster keeps the comment shards", "error", err)
		return
	}
	if p == nil {
		return
	}
	per := p.PerMaster()
	attrs := make([]any, 0, 2*len(p.Masters)+4)
	for _, m := range p.Masters {
		attrs = append(attrs, slog.Int(m, per[m]))
	}
	shards := slog.Group("shards_per_master", attrs...)
	if p.Even() {
		log.Info("comment shards on the cluster", shards)
		return
	}
	busiest, n := p.Busiest()
	log.Warn("comment shards are spread unevenly over the cluster's masters: the busiest takes that share of comment writes and reads (docs/DESIGN.md, \"Spreading the comment shards\")",
		shards, "busiest", busiest, "busiest_shards", n, "fair_share", (len(p.Owners)+len(p.Masters)-1)/len(p.Masters))
}

type devToken struct{ name, role, token string }

func addDevKeys(keys *apikey.Set) ([]devToken, error) {
	var out []devToken
	for _, k := range []struct {
		name string
		role apikey.Role
	}{{"dev-site", apikey.RoleSite}, {"dev-moderator", apikey.RoleModerator}, {"dev-admin", apikey.RoleAdmin}} {
		token, _, err := apikey.Generate(k.name, k.role)
		if err != nil {
			return nil, err
		}
		if err := keys.Add(k.name, k.role, token); err != nil {
			return nil, err
		}
		out = append(out, devToken{k.name, k.role.String(), token})
	}
	return out, nil
}

// devTTLTick is how often -dev's embedded Redis counts its TTLs down: a key with a TTL ends up to
// this much before its time (Redis ends it on time), and each count goes over every key.
const devTTLTick = 100 * time.Millisecond

// runDevTTLs counts the TTLs of mr down as time passes, every tick, until the returned function is
// called (which waits for it). miniredis keeps a key with a TTL until told to count down, so without
// this a review claim, the duplicate window or an erasure's fence would never end. (Its ClockTTL
// option counts down on every command, with a pass over every key each time: that made a spam
// evaluation two to three times slower.)
func runDevTTLs(mr *miniredis.Miniredis, tick time.Duration) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(tick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				now := time.Now()
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func printDevBanner(w io.Writer, grpcAddr string, tls bool, tokens []devToken) {
	var b strings.Builder
	fmt.Fprintf(&b, "\ncommentd -dev is listening on %s  (in-memory data: lost at exit; for trying it out only)\n\n", grpcAddr)
	if len(tokens) > 0 {
		fmt.Fprintf(&b, "API keys made for this run:\n")
		for _, t := range tokens {
			fmt.Fprintf(&b, "  %-10s %s\n", t.role, t.token)
		}
		site, mod := tokens[0].token, tokens[1].token
		fmt.Fprintf(&b, "\nTry it (in another terminal):\n")
		fmt.Fprintf(&b, "  export SITE_KEY=%s\n", site)
		fmt.Fprintf(&b, "  export COMMENTCTL_SERVER=%s COMMENTCTL_TOKEN=%s\n", grpcAddr, mod)
		if tls {
			// -tls-cert is set: a plaintext call fails, and the README's grpcurl lines use -plaintext.
			fmt.Fprintf(&b, "  export COMMENTCTL_TLS=true   # -tls-cert is set: calls need TLS (COMMENTCTL_TLS_CA=FILE for a private CA)\n")
			fmt.Fprintf(&b, "  see the README's walk-through for grpcurl and commentctl commands; give grpcurl -cacert FILE (or -insecure) instead of -plaintext\n\n")
		} else {
			fmt.Fprintf(&b, "  see the README's walk-through for grpcurl and commentctl commands\n\n")
		}
	}
	io.WriteString(w, b.String())
}

// redisLogLevel is the level of the Redis client's log (main installs it, process-wide, before the
// configuration is read): run and runReseal set it from -log-level, so -log-level error also keeps
// the client's warnings out.
var redisLogLevel = new(slog.LevelVar)

// redisLogEvery is the least time between two lines of the Redis client's log with the same
// message (format), as grpcserver's "store unavailable" line: while Redis is down the client
// reports every failed dial, one per call that needs a connection, so an outage at a few hundred
// submissions a second wrote as many lines a second.
const redisLogEvery = 10 * time.Second

// redisLogger adapts go-redis's internal logger to slog, one line per message format and interval
// at most; the next line says how many it held back (not_logged_since). Its messages carry
// addresses of Redis servers, never readers' data.
type redisLogger struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time // by format: when a line was last written
	held map[string]int       // by format: lines held back since
}

func newRedisLogger(log *slog.Logger, every time.Duration) *redisLogger {
	return &redisLogger{log: log, every: every, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}}
}

func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	now := l.now()
	if last, ok := l.last[format]; ok && now.Sub(last) < l.every {
		l.held[format]++
		l.mu.Unlock()
		return
	}
	held := l.held[format]
	l.last[format], l.held[format] = now, 0
	l.mu.Unlock()
	l.log.WarnContext(ctx, "redis client", "msg_detail", fmt.Sprintf(format, v...), "not_logged_since", held)
}
