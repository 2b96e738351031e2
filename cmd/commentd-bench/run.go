package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("commentd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("c", 50, "concurrent calls in flight")
	duration := fs.Duration("d", 10*time.Second, "measured duration of each phase")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up before each phase")
	commentdBin := fs.String("commentd", "", "commentd binary to measure (default: go build ./cmd/commentd)")
	extra := fs.String("commentd-flags", "", "extra flags for commentd, space-separated (e.g. \"-moderation-mode pre\")")
	if err := fs.Parse(args); err != nil {
		return err
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

	rs, err := redistest.Launch(dir, "--appendonly", "yes", "--appendfsync", "everysec")
	if err != nil {
		return err
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()

	token, line, err := apikey.Generate("bench-site", apikey.RoleSite)
	if err != nil {
		return err
	}
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte(line+"\n"), 0o600); err != nil {
		return err
	}
	grpcAddr, httpAddr := freeAddr(), freeAddr()
	logFile, err := os.Create(filepath.Join(dir, "commentd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmdArgs := append([]string{"-grpc-addr", grpcAddr, "-http-addr", httpAddr, "-redis-url", "redis://" + rs.Addr, "-keys", keysFile}, strings.Fields(*extra)...)
	cd := exec.Command(bin, cmdArgs...)
	cd.Env = append(os.Environ(),
		"COMMENTD_ENCRYPTION_KEYS=bench:"+privacy.EncodeSecret(privacy.NewSecret()),
		"COMMENTD_HASH_KEY="+privacy.EncodeSecret(privacy.NewSecret()))
	cd.Stdout, cd.Stderr = logFile, logFile
	if err := cd.Start(); err != nil {
		return fmt.Errorf("start commentd: %w", err)
	}
	defer func() { cd.Process.Signal(os.Interrupt); cd.Wait() }()

	noopAddr := freeAddr()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	noop := exec.Command(self)
	noop.Env = append(os.Environ(), noopEnv+"="+noopAddr)
	noop.Stderr = stderr
	if err := noop.Start(); err != nil {
		return fmt.Errorf("start no-op server: %w", err)
	}
	defer func() { noop.Process.Kill(); noop.Wait() }()

	full, err := dial(ctx, grpcAddr)
	if err != nil {
		return fmt.Errorf("commentd (log: %s): %w", logFile.Name(), err)
	}
	defer full.Close()
	bare, err := dial(ctx, noopAddr)
	if err != nil {
		return fmt.Errorf("no-op server: %w", err)
	}
	defer bare.Close()

	fmt.Fprintf(stderr, "SubmitComment: warm-up %v, then %v at concurrency %d…\n", *warmup, *duration, *workers)
	drive(ctx, full, token, *workers, *warmup)
	cmdsBefore, err := commandStats(ctx, rdb)
	if err != nil {
		return err
	}
	rtBefore, err := roundTrips(httpAddr)
	if err != nil {
		return err
	}
	real := drive(ctx, full, token, *workers, *duration)
	cmdsAfter, err := commandStats(ctx, rdb)
	if err != nil {
		return err
	}
	rtAfter, err := roundTrips(httpAddr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "no-op handler: warm-up %v, then %v at concurrency %d…\n", *warmup, *duration, *workers)
	drive(ctx, bare, token, *workers, *warmup)
	base := drive(ctx, bare, token, *workers, *duration)

	submissions := float64(real.calls + real.errors)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	fmt.Fprintf(tw, "settings\tconcurrency %d, one HTTP/2 connection, %v measured per phase after %v warm-up\n", *workers, *duration, *warmup)
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "phase\tcalls/s\tp50\tp99\tok\terrors\n")
	for _, p := range []struct {
		name string
		r    result
	}{{"SubmitComment (full path)", real}, {"no-op handler", base}} {
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%d\t%d\n", p.name, p.r.rate(), p.r.p50.Round(time.Microsecond), p.r.p99.Round(time.Microsecond), p.r.calls, p.r.errors)
	}
	tw.Flush()
	if base.rate() > 0 {
		fmt.Fprintf(stdout, "\nratio full/no-op throughput: %.2f (target ≥ 0.50)\n", real.rate()/base.rate())
	}
	if submissions > 0 {
		fmt.Fprintf(stdout, "redis round trips per submission: %.2f (target ≤ 2)\n", (rtAfter-rtBefore)/submissions)
		total := 0.0
		var lines []string
		for name, after := range cmdsAfter {
			d := after - cmdsBefore[name]
			if d <= 0 || name == "info" {
				continue
			}
			total += d
			lines = append(lines, fmt.Sprintf("  %-12s %.2f", name, d/submissions))
		}
		sort.Strings(lines)
		fmt.Fprintf(stdout, "redis commands per submission: %.2f\n%s\n", total/submissions, strings.Join(lines, "\n"))
	}
	for _, r := range []result{real, base} {
		if r.firstErr != nil {
			fmt.Fprintf(stdout, "first error: %v\n", r.firstErr)
		}
	}
	if real.calls == 0 {
		return errors.New("no SubmitComment call succeeded")
	}
	return nil
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

// commandStats returns the calls per command from INFO commandstats.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]float64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				out[name] = n
			}
		}
	}
	return out, nil
}

// roundTrips reads commentd's commentd_redis_roundtrips_total from /metrics.
func roundTrips(httpAddr string) (float64, error) {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("read commentd metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "commentd_redis_roundtrips_total "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New("commentd_redis_roundtrips_total not found in /metrics")
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
