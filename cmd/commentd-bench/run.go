package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// phase is one measured configuration of the server under load.
type phase struct {
	name  string
	flags []string // commentd flags; nil for the no-op server and the one-write reference
	// oneWrite makes the no-op server the one-write reference: one pipelined Redis exchange per
	// call.
	oneWrite bool
	res      result
	// Redis work per submission, read around the measured run: round trips from commentd's own
	// counter (commentd phases only), commands from INFO commandstats (every phase that uses Redis).
	trips    float64
	hasTrips bool
	cmds     map[string]float64
	// CPU time per call of the load generator, the server and Redis, in µs.
	cpuClient, cpuServer, cpuRedis float64
	// scriptRedis is the time Redis timed itself running Lua scripts (INFO commandstats): elapsed
	// time, so on a busy machine it also holds the moments Redis waited for a CPU mid-script.
	scriptRedis float64
	// Redis's forked children (AOF rewrites, snapshots) that ended during the run: how many, and
	// their CPU per call. Not in cpuRedis: a rewrite starts when the AOF has grown enough, so it
	// falls in whichever phase crosses the size, and burdens that phase's throughput.
	forks    int64
	cpuForks float64
	allocKB  float64 // commentd's heap allocation per call, kB
	gcCycles float64 // commentd's garbage collections during the run
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("commentd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("c", 50, "concurrent calls in flight")
	duration := fs.Duration("d", 10*time.Second, "measured duration of each phase")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up before each phase")
	commentdBin := fs.String("commentd", "", "commentd binary to measure (default: go build ./cmd/commentd)")
	extra := fs.String("commentd-flags", "", "extra flags for commentd, space-separated (e.g. \"-moderation-mode pre\")")
	redisFlags := fs.String("redis-flags", "", "extra flags for redis-server, space-separated, to measure a Redis setting (e.g. \"--hash-max-listpack-value 4096\")")
	rounds := fs.Int("rounds", 1, "run the four phases this many times, one after the other, and print each round's ratio and their median (on a shared machine the ratio is the noisiest figure)")
	var so scaleOptions
	scale := fs.Bool("scale", false, "instead of the submission phases, load a moderated site's data (see -scale-*) and time the moderator and read calls on it")
	fs.IntVar(&so.pending, "scale-pending", 100000, "with -scale: comments left pending")
	fs.IntVar(&so.threads, "scale-threads", 1000, "with -scale: threads the pending comments spread over")
	fs.IntVar(&so.big, "scale-big-thread", 50000, "with -scale: published comments in one thread")
	fs.IntVar(&so.spam, "scale-spam", 10000, "with -scale: comments a moderator marks spam")
	fs.IntVar(&so.decided, "scale-decided", 10000, "with -scale: comments approved or rejected (more audit entries)")
	fs.IntVar(&so.bans, "scale-bans", 2000, "with -scale: bans")
	fs.IntVar(&so.filters, "scale-filters", 10000, "with -scale: word-list entries")
	fs.StringVar(&so.trainDir, "scale-train", "", "with -scale: train the spam model first with the labelled CSV files in this `dir`ectory (e.g. the YouTube Spam Collection)")
	fs.IntVar(&so.reps, "scale-reps", 20, "with -scale: timed calls of each kind")
	fs.BoolVar(&so.serve, "scale-serve", false, "with -scale: keep commentd and Redis running after the timings, and print how to reach them, until interrupted")
	profileDir := fs.String("profile", "", "write a CPU and an allocation profile of commentd during each measured phase of the first round to this `dir`ectory (runs commentd with -pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			return err
		}
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	dir, err := os.MkdirTemp("", "commentd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := *commentdBin
	if bin == "" {
		bin = filepath.Join(dir, "commentd")
		fmt.Fprintln(stderr, "building commentd…")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/commentd")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/commentd (run this from the repository root): %w", err)
		}
	}

	rs, err := redistest.Launch(dir, append([]string{"--appendonly", "yes", "--appendfsync", "everysec"}, strings.Fields(*redisFlags)...)...)
	if err != nil {
		return err
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	if *scale {
		env := append(os.Environ(),
			"COMMENTD_ENCRYPTION_KEYS=bench:"+privacy.EncodeSecret(privacy.NewSecret()),
			"COMMENTD_HASH_KEY="+privacy.EncodeSecret(privacy.NewSecret()))
		so.workers, so.bigThread = *workers, "big-thread"
		return runScale(ctx, stdout, stderr, bin, dir, rdb, rs.Addr, env, so)
	}

	token, line, err := apikey.Generate("bench-site", apikey.RoleSite)
	if err != nil {
		return err
	}
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte(line+"\n"), 0o600); err != nil {
		return err
	}
	rulesFile, overrides, err := writeBenchRules(dir)
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"COMMENTD_ENCRYPTION_KEYS=bench:"+privacy.EncodeSecret(privacy.NewSecret()),
		"COMMENTD_HASH_KEY="+privacy.EncodeSecret(privacy.NewSecret()))
	base := []string{"-redis-url", "redis://" + rs.Addr, "-keys", keysFile}
	if *profileDir != "" {
		base = append(base, "-pprof")
	}
	base = append(base, strings.Fields(*extra)...)

	// Every round runs the four phases in the same order; the profiles come from the first.
	var all [][]*phase
	for r := range *rounds {
		phases := []*phase{
			{name: "SubmitComment, default rules", flags: append(slices.Clone(base), "-config", rulesFile)},
			{name: "SubmitComment, rate limits off", flags: append(slices.Clone(base), "-rate-limits", "off")},
			{name: "no-op handler"},
			{name: "one-write reference", oneWrite: true},
		}
		profile := *profileDir
		if r > 0 {
			profile = ""
		}
		for i, p := range phases {
			if *rounds > 1 {
				p.name = fmt.Sprintf("%s (round %d)", p.name, r+1)
			}
			var srv *server
			if p.flags != nil {
				srv, err = startCommentd(ctx, bin, dir, fmt.Sprintf("commentd-%d-%d.log", r+1, i), p.flags, env)
			} else {
				redisAddr := ""
				if p.oneWrite {
					redisAddr = rs.Addr
				}
				srv, err = startNoop(redisAddr)
			}
			if err != nil {
				return err
			}
			err = measure(ctx, stderr, srv, p, token, *workers, *warmup, *duration, rdb, profile, i)
			srv.stop()
			if err != nil {
				return err
			}
		}
		all = append(all, phases)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	fmt.Fprintf(tw, "settings\tconcurrency %d, one HTTP/2 connection, %v measured per phase after %v warm-up; Redis AOF everysec %s\n", *workers, *duration, *warmup, *redisFlags)
	fmt.Fprintf(tw, "rules\tdefault rules (ratelimit.DefaultRules) except: %s\n", strings.Join(overrides, "; "))
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "phase\tcalls/s\tp50\tp99\tok\terrors\tredis round trips/call\tredis commands/call\tCPU µs/call: client\tserver\tredis\ttotal\n")
	for _, p := range slices.Concat(all...) {
		trips, cmds, redisCPU := "-", "-", "-"
		if p.cmds != nil {
			cmds, redisCPU = fmt.Sprintf("%.2f", sum(p.cmds)), fmt.Sprintf("%.0f", p.cpuRedis)
		}
		if p.hasTrips {
			trips = fmt.Sprintf("%.2f", p.trips)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%d\t%d\t%s\t%s\t%.0f\t%.0f\t%s\t%.0f\n", p.name, p.res.rate(), p.res.p50.Round(time.Microsecond), p.res.p99.Round(time.Microsecond),
			p.res.calls, p.res.errors, trips, cmds, p.cpuClient, p.cpuServer, redisCPU, p.cpuClient+p.cpuServer+p.cpuRedis)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "(CPU µs/call is the CPU time each process used during the measured run, divided by the calls made: on a\n"+
		" machine shared with other work, throughput follows the total, and the ratio below follows the totals' ratio.)\n")
	for _, p := range slices.Concat(all...) {
		switch {
		case p.cpuForks > 0:
			fmt.Fprintf(stdout, "(%s: Redis started %d fork(s) for an AOF rewrite or a snapshot, and forks that ended used\n"+
				" %.0f µs/call of CPU, not in the redis column but on the same CPUs: throughput is lower for it.)\n", p.name, p.forks, p.cpuForks)
		case p.forks > 0:
			fmt.Fprintf(stdout, "(%s: Redis started %d fork(s) for an AOF rewrite or a snapshot, still running when the\n"+
				" phase ended: its CPU is measured in no column, but it shared the CPUs with this phase.)\n", p.name, p.forks)
		}
	}

	var onRatios, offRatios, refRatios []float64
	for _, ph := range all {
		if noop := ph[2]; noop.res.rate() > 0 {
			onRatios = append(onRatios, ph[0].res.rate()/noop.res.rate())
			offRatios = append(offRatios, ph[1].res.rate()/noop.res.rate())
			refRatios = append(refRatios, ph[3].res.rate()/noop.res.rate())
		}
	}
	if len(onRatios) > 0 {
		fmt.Fprintf(stdout, "\nratio full path (default rules) / no-op throughput: %s (target ≥ 0.50)\n", ratios(onRatios))
		fmt.Fprintf(stdout, "ratio full path (rate limits off) / no-op throughput: %s\n", ratios(offRatios))
		fmt.Fprintf(stdout, "ratio one-write reference / no-op throughput: %s\n", ratios(refRatios))
		fmt.Fprintf(stdout, "(the one-write reference stores each comment with one pipelined exchange of HSET and ZADD, and\n"+
			" checks, encrypts and counts nothing: what storing a comment in this Redis costs at the least here)\n")
	}
	// The figures below are the first round's.
	phases := all[0]
	on, off := phases[0], phases[1]
	if *rounds > 1 {
		fmt.Fprintf(stdout, "(the figures below are round 1's)\n")
	}
	fmt.Fprintf(stdout, "redis round trips per submission, default rules: %.2f (target ≤ 2)\n", on.trips)
	fmt.Fprintf(stdout, "\nredis commands per submission:\n")
	names := map[string]bool{}
	for _, p := range []*phase{on, off} {
		for n := range p.cmds {
			names[n] = true
		}
	}
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  command\tdefault rules\trate limits off\n")
	for _, n := range slices.Sorted(maps.Keys(names)) {
		fmt.Fprintf(tw, "  %s\t%.2f\t%.2f\n", n, on.cmds[n], off.cmds[n])
	}
	fmt.Fprintf(tw, "  total\t%.2f\t%.2f\n", sum(on.cmds), sum(off.cmds))
	fmt.Fprintf(tw, "  µs Redis timed running scripts (elapsed)\t%.0f\t%.0f\n", on.scriptRedis, off.scriptRedis)
	fmt.Fprintf(tw, "  µs of Redis CPU in all\t%.0f\t%.0f\n", on.cpuRedis, off.cpuRedis)
	tw.Flush()
	fmt.Fprintf(stdout, "(the abuse check is one exchange: a rate-limit script per counted value, ip, author and thread, and an HMGET of the bans;\n"+
		" with rate limits off the author's script still runs for duplicate control and the author's record. The comment is one more script.)\n")
	fmt.Fprintf(stdout, "\ncommentd's Go runtime during the run:\n")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  \tdefault rules\trate limits off\n")
	fmt.Fprintf(tw, "  kB allocated per submission\t%.1f\t%.1f\n", on.allocKB, off.allocKB)
	fmt.Fprintf(tw, "  garbage collections\t%.0f\t%.0f\n", on.gcCycles, off.gcCycles)
	tw.Flush()
	for _, p := range slices.Concat(all...) {
		if p.res.firstErr != nil {
			fmt.Fprintf(stdout, "first error (%s): %v\n", p.name, p.res.firstErr)
		}
	}
	if on.res.calls == 0 {
		return errors.New("no SubmitComment call succeeded")
	}
	return nil
}

// ratios formats one ratio per round and, for several, their median.
func ratios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	if len(rs) == 1 {
		return parts[0]
	}
	sorted := slices.Sorted(slices.Values(rs))
	median := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	return fmt.Sprintf("%s by round, median %.2f", strings.Join(parts, ", "), median)
}

func sum(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

// benchThreadRate is the thread rule's rate in the bench. The bench spreads thousands of comments a
// second over 1,000 threads, several per thread per second, which no discussion does and which the
// default thread rule (one a second) is there to stop.
const benchThreadRate = "6000/m"

// writeBenchRules writes a commentd config file with the default rules, the thread rule raised to
// benchThreadRate, and says what it changed. Every other rule counts every call, as in production;
// the bench's authors and addresses are all distinct, so none of them refuses.
func writeBenchRules(dir string) (file string, overrides []string, err error) {
	var b strings.Builder
	b.WriteString("rate-limits:\n")
	for _, r := range ratelimit.DefaultRules() {
		rc := r.Config()
		if r.Key == ratelimit.KeyThread {
			overrides = append(overrides, fmt.Sprintf("rule %s raised from %s to %s (burst %d): the bench sends several comments per thread per second to 1,000 threads, a flood this rule exists to stop",
				r.Name, rc.Rate, benchThreadRate, rc.Burst))
			rc.Rate = benchThreadRate
		}
		fmt.Fprintf(&b, "  - {name: %s, key: %s, rate: %q, burst: %d}\n", rc.Name, rc.Key, rc.Rate, rc.Burst)
	}
	if len(overrides) == 0 {
		overrides = []string{"none"}
	}
	file = filepath.Join(dir, "rules.yaml")
	return file, overrides, os.WriteFile(file, []byte(b.String()), 0o600)
}

// server is one process under load: commentd or the no-op server.
type server struct {
	conn      *grpc.ClientConn
	addr      string // gRPC address
	httpAddr  string // commentd only
	logName   string
	pid       int
	usesRedis bool // commentd and the one-write reference
	stop      func()
}

func startCommentd(ctx context.Context, bin, dir, logName string, flags, env []string) (*server, error) {
	grpcAddr, httpAddr := freeAddr(), freeAddr()
	logFile, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	cd := exec.Command(bin, append([]string{"-grpc-addr", grpcAddr, "-http-addr", httpAddr}, flags...)...)
	cd.Env = env
	cd.Stdout, cd.Stderr = logFile, logFile
	if err := cd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start commentd: %w", err)
	}
	stop := func() { cd.Process.Signal(os.Interrupt); cd.Wait(); logFile.Close() }
	conn, err := dial(ctx, grpcAddr)
	if err != nil {
		stop()
		log, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("commentd %s: %w\n%s", strings.Join(flags, " "), err, log)
	}
	return &server{conn: conn, addr: grpcAddr, httpAddr: httpAddr, logName: logFile.Name(), pid: cd.Process.Pid, usesRedis: true, stop: func() { conn.Close(); stop() }}, nil
}

// startNoop starts the no-op server or, with a Redis address, the one-write reference.
func startNoop(redisAddr string) (*server, error) {
	noopAddr := freeAddr()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	noop := exec.Command(self)
	noop.Env = append(os.Environ(), noopEnv+"="+noopAddr)
	if redisAddr != "" {
		noop.Env = append(noop.Env, oneWriteEnv+"="+redisAddr)
	}
	if err := noop.Start(); err != nil {
		return nil, fmt.Errorf("start no-op server: %w", err)
	}
	stop := func() { noop.Process.Kill(); noop.Wait() }
	conn, err := dial(context.Background(), noopAddr)
	if err != nil {
		stop()
		return nil, fmt.Errorf("no-op server: %w", err)
	}
	return &server{conn: conn, pid: noop.Process.Pid, usesRedis: redisAddr != "", stop: func() { conn.Close(); stop() }}, nil
}

// measure warms srv up, then drives it for duration, reading Redis' counters (for a server that uses
// Redis) and commentd's (for commentd) around the measured run and, with profileDir, taking a CPU
// profile of commentd meanwhile.
func measure(ctx context.Context, stderr io.Writer, srv *server, p *phase, token string, workers int, warmup, duration time.Duration, rdb *redis.Client, profileDir string, n int) error {
	fmt.Fprintf(stderr, "%s: warm-up %v, then %v at concurrency %d…\n", p.name, warmup, duration, workers)
	drive(ctx, srv.conn, token, workers, warmup)
	clientBefore, serverBefore := selfCPU(), procCPU(srv.pid)
	var (
		redisBefore    redisUsage
		cmdsBefore     map[string]float64
		scriptsBefore  float64
		countersBefore map[string]float64
		err            error
	)
	if srv.usesRedis {
		if redisBefore, err = redisCPU(ctx, rdb); err != nil {
			return err
		}
		if cmdsBefore, scriptsBefore, err = commandStats(ctx, rdb); err != nil {
			return err
		}
	}
	if srv.httpAddr != "" {
		if countersBefore, err = serverCounters(srv.httpAddr); err != nil {
			return err
		}
	}
	profiled := make(chan error, 2)
	if profileDir != "" && srv.httpAddr != "" {
		go func() {
			profiled <- saveProfile(srv.httpAddr, "profile", duration, filepath.Join(profileDir, fmt.Sprintf("commentd-phase%d.pprof", n+1)))
		}()
		go func() {
			profiled <- saveProfile(srv.httpAddr, "allocs", duration, filepath.Join(profileDir, fmt.Sprintf("commentd-phase%d-allocs.pprof", n+1)))
		}()
	} else {
		profiled <- nil
		profiled <- nil
	}
	p.res = drive(ctx, srv.conn, token, workers, duration)
	clientAfter, serverAfter := selfCPU(), procCPU(srv.pid)
	calls := float64(p.res.calls + p.res.errors)
	p.cpuClient = perCall(clientAfter-clientBefore, calls)
	p.cpuServer = perCall(serverAfter-serverBefore, calls)
	if srv.usesRedis {
		redisAfter, err := redisCPU(ctx, rdb)
		if err != nil {
			return err
		}
		p.cpuRedis = perCall(redisAfter.cpu-redisBefore.cpu, calls)
		p.cpuForks = perCall(redisAfter.childCPU-redisBefore.childCPU, calls)
		p.forks = redisAfter.forks - redisBefore.forks
	}
	for range 2 {
		if err := <-profiled; err != nil {
			return err
		}
	}
	if calls == 0 {
		if srv.logName != "" {
			return fmt.Errorf("%s: no call completed (log: %s)", p.name, srv.logName)
		}
		return fmt.Errorf("%s: no call completed", p.name)
	}
	if srv.usesRedis {
		cmdsAfter, scriptsAfter, err := commandStats(ctx, rdb)
		if err != nil {
			return err
		}
		p.scriptRedis = (scriptsAfter - scriptsBefore) / calls
		p.cmds = map[string]float64{}
		for name, after := range cmdsAfter {
			// INFO is ours; the others are the server's (commentd's health check pings too, a few
			// a run).
			if d := after - cmdsBefore[name]; d > 0 && name != "info" {
				p.cmds[name] = d / calls
			}
		}
	}
	if srv.httpAddr != "" {
		countersAfter, err := serverCounters(srv.httpAddr)
		if err != nil {
			return err
		}
		p.trips = (countersAfter[metricRoundTrips] - countersBefore[metricRoundTrips]) / calls
		p.hasTrips = true
		p.allocKB = (countersAfter[metricAllocBytes] - countersBefore[metricAllocBytes]) / calls / 1000
		p.gcCycles = countersAfter[metricGCCycles] - countersBefore[metricGCCycles]
	}
	return nil
}

func perCall(d time.Duration, calls float64) float64 {
	if calls == 0 {
		return 0
	}
	return float64(d.Microseconds()) / calls
}

// selfCPU is the CPU time this process (the load generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time process pid has used, from /proc (Linux; 0 elsewhere).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its ')' are fixed.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ, 100 on every Linux we run on
	return time.Duration(utime+stime) * time.Second / ticks
}

// redisUsage is what the Redis server has used so far: CPU time of the server process, CPU time
// of its forked children that have ended (AOF rewrites, snapshots), and how many forks it made.
type redisUsage struct {
	cpu, childCPU time.Duration
	forks         int64
}

// redisCPU reads redisUsage from INFO cpu and INFO stats.
func redisCPU(ctx context.Context, rdb *redis.Client) (redisUsage, error) {
	info, err := rdb.Info(ctx, "cpu", "stats").Result()
	if err != nil {
		return redisUsage{}, fmt.Errorf("INFO cpu stats: %w", err)
	}
	var u redisUsage
	var main, children float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			main += f
		case "used_cpu_sys_children", "used_cpu_user_children":
			f, _ := strconv.ParseFloat(v, 64)
			children += f
		case "total_forks":
			u.forks, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	u.cpu = time.Duration(main * float64(time.Second))
	u.childCPU = time.Duration(children * float64(time.Second))
	return u, nil
}

// saveProfile fetches a profile of kind ("profile" for CPU, "allocs" for the allocations made)
// over d from commentd's /debug/pprof/ into file.
func saveProfile(httpAddr, kind string, d time.Duration, file string) error {
	secs := int(d / time.Second)
	if secs < 1 {
		secs = 1
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", httpAddr, kind, secs))
	if err != nil {
		return fmt.Errorf("%s profile: %w", kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s profile: %s", kind, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", kind, err)
	}
	return f.Close()
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dial connects and waits until the server's health check says SERVING (at most 20 s).
func dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return conn, nil
		}
		if status := fmt.Sprint(err); err != nil && strings.Contains(status, "Unimplemented") {
			return conn, nil // the no-op server has no health service: reachable is ready
		}
		if time.Now().After(deadline) {
			conn.Close()
			return nil, fmt.Errorf("%s not serving after 20s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// commandStats returns the calls per command from INFO commandstats (commands a script calls are
// counted under their own names too) and the time Redis spent running scripts, in µs, as Redis
// times a command: elapsed time, which includes any wait for a CPU during the script.
func commandStats(ctx context.Context, rdb *redis.Client) (calls map[string]float64, scriptUsec float64, err error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("INFO commandstats: %w", err)
	}
	calls = map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls[name], _ = strconv.ParseFloat(v, 64)
			}
			if v, ok := strings.CutPrefix(kv, "usec="); ok && (name == "evalsha" || name == "eval") {
				u, _ := strconv.ParseFloat(v, 64)
				scriptUsec += u
			}
		}
	}
	return calls, scriptUsec, nil
}

// Counters read from commentd's /metrics around a measured run.
const (
	metricRoundTrips = "commentd_redis_roundtrips_total"
	metricAllocBytes = "go_memstats_alloc_bytes_total"
	metricGCCycles   = "go_gc_duration_seconds_count"
)

// serverCounters reads commentd's round-trip counter and its Go runtime's allocation and garbage
// collection counters from /metrics.
func serverCounters(httpAddr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("read commentd metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != metricRoundTrips && name != metricAllocBytes && name != metricGCCycles) {
			continue
		}
		if out[name], err = strconv.ParseFloat(v, 64); err != nil {
			return nil, fmt.Errorf("commentd metric %s: %w", name, err)
		}
	}
	for _, name := range []string{metricRoundTrips, metricAllocBytes, metricGCCycles} {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("%s not found in commentd's /metrics", name)
		}
	}
	return out, sc.Err()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "cpu model unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "cpu model unknown"
}
