package grpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/grpcserver/grpcservertest"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// benchRules are the default rules with the thread rule raised to 6000/m, as cmd/commentd-bench
// raises it: the benchmark sends several comments a second to each of its threads, the flood that
// rule exists to stop. Every other default rule counts every call.
func benchRules() []ratelimit.Rule {
	rules := ratelimit.DefaultRules()
	for i := range rules {
		if rules[i].Key == ratelimit.KeyThread {
			rules[i].Count, rules[i].Period = 6000, time.Minute
		}
	}
	return rules
}

// newBenchEnv starts a server wired as commentd wires it with its default settings: the access
// log (JSON, discarded), the metrics, auth, the Redis timeout, the abuse check with the default
// rules (see benchRules), the spam checks with the campaign window, and the store.
func newBenchEnv(b *testing.B, redisAddr string) *env {
	b.Helper()
	ctx := context.Background()
	e := newStoreEnv(b, redisAddr)
	e.redis.AddHook(redisstore.RoundTripHook(func() {})) // as commentd counts round trips
	if err := e.store.LoadAbuseScripts(ctx); err != nil {
		b.Fatalf("LoadAbuseScripts: %v", err)
	}
	keys := testKeys(b, e)
	// commentd logs at INFO to stderr: one access line per call, the same formatting work.
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))

	engine, _ := startSpamChecks(b, e, log, spam.EngineOptions{Scorer: spam.Options{
		Rules: spam.RuleOptions{TrustAfter: config.DefaultTrustAfter},
	}})
	const redisTimeout = 2 * time.Second // commentd's default -redis-timeout
	guard := ratelimit.NewGuard(e.store, ratelimit.Options{
		Rules:  benchRules(),
		Settle: redisTimeout + ratelimit.RefundTimeout + time.Second,
		Logger: log,
	})
	e.start(b, grpcserver.Options{
		Logger: log,
		Keys:   keys,
		Comments: comment.NewService(e.store, e.ring, comment.Options{DefaultMode: comment.ModePost, Screeners: []comment.Screener{
			ratelimit.NewScreener(guard, e.ring, ratelimit.ScreenerOptions{BanStyle: ratelimit.BanRefuse}),
			spam.NewScreener(engine, spam.ScreenerOptions{Logger: log}),
		}}),
		Moderation:  moderation.NewService(e.store, e.ring, moderation.Options{DefaultMode: comment.ModePost, Learner: spam.NewLearner(e.store, e.ring), Histories: e.store}),
		Registerer:  e.reg,
		CallTimeout: redisTimeout,
	})
	return e
}

// BenchmarkSubmitComment measures one SubmitComment through the whole path, in process: the gRPC
// client and server over an in-memory connection, the interceptors (access log, metrics, error
// mapping, auth, the call's bound), validation and sealing, the abuse check, the spam checks and
// the comment's write, on a real redis-server. Every call is a new author, e-mail address and IP
// address, on one of 1,000 threads, as cmd/commentd-bench sends them. The requests are built
// before the timer starts; B/op and allocs/op count the client's side of the call as well as the
// server's (both run in this process), but not Redis's.
//
//	go test -run XXX -bench SubmitComment -benchmem -benchtime 4000x ./internal/grpcserver/
//
// "serial" makes one call at a time; "parallel" keeps 25 calls in flight per CPU, where calls that
// meet share a Redis exchange (redisstore's batching), as under the command's load. Besides ns/op,
// which on a shared machine moves with whatever else runs, each reports cpu-us/op: the CPU time
// this process (client, server and their background work, not Redis) used per call.
func BenchmarkSubmitComment(b *testing.B) {
	rs := redistest.Start(b)
	e := newBenchEnv(b, rs.Addr)
	ctx := withBearer(b.Context(), e.tokens[siteKeyName])
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var seq int64
	requests := func(n int) []*commentdv1.SubmitCommentRequest {
		reqs := make([]*commentdv1.SubmitCommentRequest, n)
		for i := range reqs {
			seq++
			reqs[i] = grpcservertest.Submission(r, seq)
		}
		return reqs
	}
	// A submission is stored published, or now and then held: the campaign check holds a short
	// comment that the generator happened to make nearly the same as another author's.
	var held atomic.Int64
	check := func(b *testing.B, resp *commentdv1.SubmitCommentResponse, err error, req *commentdv1.SubmitCommentRequest) bool {
		switch st := resp.GetComment().GetState(); {
		case err != nil:
			b.Errorf("SubmitComment(thread %q, author %q): %v", req.GetThreadId(), req.GetAuthorEmail(), err)
			return false
		case st == commentdv1.State_STATE_PENDING:
			held.Add(1)
		case st != commentdv1.State_STATE_PUBLISHED:
			b.Errorf("SubmitComment(thread %q, body %q) gave state %v, want %v or %v", req.GetThreadId(), req.GetBody(),
				st, commentdv1.State_STATE_PUBLISHED, commentdv1.State_STATE_PENDING)
			return false
		}
		return true
	}
	// One call first, so that lazily built state (connections, pools) is not counted.
	warm := requests(1)[0]
	if resp, err := e.site.SubmitComment(ctx, warm); !check(b, resp, err, warm) {
		b.FailNow()
	}

	b.Run("serial", func(b *testing.B) {
		reqs := requests(b.N)
		held.Store(0)
		b.ReportAllocs()
		defer reportCPU(b)()
		b.ResetTimer()
		for _, req := range reqs {
			if resp, err := e.site.SubmitComment(ctx, req); !check(b, resp, err, req) {
				b.FailNow()
			}
		}
		b.ReportMetric(float64(held.Load())/float64(b.N), "held/op")
	})
	b.Run("parallel", func(b *testing.B) {
		reqs := requests(b.N)
		held.Store(0)
		var next atomic.Int64
		b.SetParallelism(25)
		b.ReportAllocs()
		defer reportCPU(b)()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := reqs[next.Add(1)-1]
				if resp, err := e.site.SubmitComment(ctx, req); !check(b, resp, err, req) {
					return
				}
			}
		})
		b.ReportMetric(float64(held.Load())/float64(b.N), "held/op")
	})
}

// reportCPU reads the process's CPU time now; the function it returns reports the CPU time used
// since, per op, as cpu-us/op (where it can be measured).
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 {
			b.ReportMetric(float64((end-start).Microseconds())/float64(b.N), "cpu-us/op")
		}
	}
}
