// Command commentd-bench measures SubmitComment end to end and compares it with a no-op handler in
// the same run, so the ratio holds on any machine:
//
//	go run ./cmd/commentd-bench [-c 50] [-d 10s] [-warmup 2s] [-rounds 1] [-profile DIR]
//
// It builds commentd, starts a private redis-server (AOF on, appendfsync everysec, as production
// would run it) and drives SubmitComment at fixed concurrency with realistic comments (every call a
// distinct author, email and IP, over 1,000 threads) in four phases, each on a fresh process:
//
//  1. commentd with the default rate-limit rules, except the thread rule, which the bench raises
//     (several comments per thread per second is the flood that rule stops; the output says so);
//  2. commentd with rate limits off (-rate-limits off): bans, duplicate control and the author's
//     record are still checked, so the difference is the cost of the rules;
//  3. a no-op CommentService (this same binary, re-executed as a server) with the same payloads,
//     connection and concurrency;
//  4. a reference that stores each comment with one pipelined Redis exchange of two commands (HSET
//     and ZADD; no check, no encryption, no script) in the same kind of process: the least any
//     handler that keeps the comment in Redis costs on this machine.
//
// It prints throughput and p50/p99 latency of each, the ratios to the no-op, Redis round trips
// (commentd's own counter) and commands (INFO commandstats) per submission, and the CPU time per
// call of the load generator, the server and Redis: on a machine where all three share the cores,
// throughput follows that total. It also prints what commentd's Go runtime allocated per call and
// how many garbage collections it ran. With -rounds N it runs the four phases N times in turn and
// prints every round's ratio and their median: on a machine shared with other work the no-op phase
// moves the most from run to run. With -profile, commentd runs with -pprof and a CPU profile and an
// allocation profile of each measured commentd phase (of the first round) are written to DIR.
//
// With -scale it measures the moderators' and the site's reads instead: it starts commentd
// (pre-moderation, rate limits off) on its own redis-server, loads through the API what a big site
// accumulates (by default 50,000 published comments in one thread, 120,000 comments over 1,000
// threads of which 10,000 marked spam and 10,000 approved or rejected, 2,000 bans, 10,000
// word-list entries; -scale-train DIR trains the spam model first with labelled CSV files), then
// times each call commentctl and a site make (-scale-reps times: median, slowest, Redis commands
// per call) and walks every page of the long lists, checking that each item comes exactly once.
// -scale-serve keeps commentd running afterwards and prints how to reach it with commentctl.
//
// The load generator is a plain loop of unary calls rather than ghz: it needs no extra install,
// builds its payloads per call (ghz sends one template), and reads the Redis figures in the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if addr := os.Getenv(noopEnv); addr != "" {
		if err := serveNoop(addr, os.Getenv(oneWriteEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "noop server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(os.Stderr, "commentd-bench:", err)
		}
		os.Exit(1)
	}
}
