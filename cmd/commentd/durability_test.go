package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// durabilitySeries returns the label sets of commentd_redis_durability_info in reg, one map per
// series.
func durabilitySeries(t *testing.T, reg *prometheus.Registry) []map[string]string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var out []map[string]string
	for _, mf := range mfs {
		if mf.GetName() != "commentd_redis_durability_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, labels)
		}
	}
	return out
}

// durabilityLines returns the level and message of each line in log, from offset on, whose
// message is about Redis's durability, and the offset after them.
func durabilityLines(t *testing.T, log string, offset int) ([]string, int) {
	t.Helper()
	var out []string
	for line := range strings.Lines(log[offset:]) {
		var l struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.HasPrefix(l.Msg, "redis durability") {
			out = append(out, l.Level+" "+l.Msg)
		}
	}
	return out, len(log)
}

// TestDurabilityRecheck changes the settings of a running redis-server as a failover, a restart
// or an operator would, and re-checks after each change: the metric follows with one series (the
// old label set gone), a weakening that may lose comments is one WARN line, a return to what
// start-up requires one INFO line, another change one INFO line, no change nothing, and a Redis
// that does not answer changes nothing.
func TestDurabilityRecheck(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes")
	admin := redistest.Client(t, srv.Addr)
	rdb := redistest.Client(t, srv.Addr)
	logged := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logged, nil))
	reg := prometheus.NewRegistry()
	info := newDurabilityInfo()
	reg.MustRegister(info)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if got := durabilitySeries(t, reg); len(got) != 0 {
		t.Errorf("durability metric before the settings were read = %v, want no series", got)
	}
	if err := checkDurability(ctx, log, rdb, &config.Config{}, info); err != nil {
		t.Fatalf("checkDurability(AOF on, noeviction) = %v, want nil", err)
	}
	_, offset := durabilityLines(t, logged.String(), 0)

	labels := func(aof, fsync, policy string) map[string]string {
		return map[string]string{"aof": aof, "appendfsync": fsync, "maxmemory_policy": policy}
	}
	steps := []struct {
		name      string
		set       []string // CONFIG SET parameter and value pairs
		stop      bool     // stop Redis instead
		want      map[string]string
		wantLines []string
	}{
		{
			name: "no change", want: labels("true", "everysec", "noeviction"),
		},
		{
			name: "AOF turned off", set: []string{"appendonly", "no"},
			want:      labels("false", "", "noeviction"),
			wantLines: []string{"WARN redis durability weakened since the last check: redis may lose comments (commentd goes on serving)"},
		},
		{
			name: "still off: no second warning", want: labels("false", "", "noeviction"),
		},
		{
			name: "and an evicting policy", set: []string{"maxmemory-policy", "allkeys-lru"},
			want:      labels("false", "", "allkeys-lru"),
			wantLines: []string{"WARN redis durability weakened since the last check: redis may lose comments (commentd goes on serving)"},
		},
		{
			name: "a policy that evicts less, still lossy", set: []string{"maxmemory-policy", "volatile-lru"},
			want:      labels("false", "", "volatile-lru"),
			wantLines: []string{"INFO redis durability changed"},
		},
		{
			name: "fixed", set: []string{"appendonly", "yes", "maxmemory-policy", "noeviction"},
			want:      labels("true", "everysec", "noeviction"),
			wantLines: []string{"INFO redis durability is as commentd requires again"},
		},
		{
			name: "a stronger fsync", set: []string{"appendfsync", "always"},
			want:      labels("true", "always", "noeviction"),
			wantLines: []string{"INFO redis durability changed"},
		},
		{
			name: "redis gone: no change", stop: true,
			want: labels("true", "always", "noeviction"),
		},
	}
	for _, st := range steps {
		if st.stop {
			srv.Stop()
		}
		for i := 0; i+1 < len(st.set); i += 2 {
			if err := admin.ConfigSet(ctx, st.set[i], st.set[i+1]).Err(); err != nil {
				t.Fatalf("%s: CONFIG SET %s %s: %v", st.name, st.set[i], st.set[i+1], err)
			}
		}
		info.recheck(ctx, log, rdb)
		if diff := cmp.Diff([]map[string]string{st.want}, durabilitySeries(t, reg)); diff != "" {
			t.Errorf("%s: durability metric after recheck (-want +got):\n%s", st.name, diff)
		}
		var lines []string
		lines, offset = durabilityLines(t, logged.String(), offset)
		if diff := cmp.Diff(st.wantLines, lines); diff != "" {
			t.Errorf("%s: lines logged by recheck (-want +got):\n%s", st.name, diff)
		}
	}
}

// TestDurabilityWatch: the running server's re-check loop reads the settings again on its own,
// and the metric follows a CONFIG SET.
func TestDurabilityWatch(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes")
	rdb := redistest.Client(t, srv.Addr)
	logged := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logged, nil))
	reg := prometheus.NewRegistry()
	info := newDurabilityInfo()
	reg.MustRegister(info)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := checkDurability(ctx, log, rdb, &config.Config{}, info); err != nil {
		t.Fatalf("checkDurability(AOF on) = %v, want nil", err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		info.watch(ctx, log, rdb, 10*time.Millisecond)
	}()
	if err := redistest.Client(t, srv.Addr).ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatalf("CONFIG SET maxmemory-policy allkeys-lru: %v", err)
	}
	want := []map[string]string{{"aof": "true", "appendfsync": "everysec", "maxmemory_policy": "allkeys-lru"}}
	for deadline := time.Now().Add(20 * time.Second); !cmp.Equal(durabilitySeries(t, reg), want); {
		if time.Now().After(deadline) {
			t.Fatalf("durability metric 20s after CONFIG SET maxmemory-policy allkeys-lru = %v, want %v; log:\n%s", durabilitySeries(t, reg), want, logged)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-stopped
	if lines, _ := durabilityLines(t, logged.String(), 0); !strings.Contains(strings.Join(lines, "\n"), "WARN redis durability weakened") {
		t.Errorf("re-check loop after CONFIG SET maxmemory-policy allkeys-lru logged %q, want a WARN", lines)
	}
}

// TestDurabilityMetricServed: the running server exports the settings read at start on /metrics,
// as one series (the test harness's Redis has AOF off, hence -accept-data-loss).
func TestDurabilityMetricServed(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr)
	body := s.metricsText(t)
	var series []string
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "commentd_redis_durability_info{") {
			series = append(series, strings.TrimSpace(line))
		}
	}
	want := []string{`commentd_redis_durability_info{aof="false",appendfsync="",maxmemory_policy="noeviction"} 1`}
	if diff := cmp.Diff(want, series); diff != "" {
		t.Errorf("/metrics durability series (-want +got):\n%s", diff)
	}
}
