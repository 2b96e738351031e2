package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestLogShardPlacement checks what an operator of a Cluster is told at start: on three masters
// split as redis-cli splits them, a warning naming the master that serves 8 of the 16 comment
// shards; on a single Redis, nothing.
func TestLogShardPlacement(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	rdb, err := redisstore.NewClient("redis+cluster://" + cluster.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var out bytes.Buffer
	logShardPlacement(ctx, slog.New(slog.NewJSONHandler(&out, nil)), rdb)
	var line struct {
		Level   string         `json:"level"`
		Msg     string         `json:"msg"`
		Per     map[string]int `json:"shards_per_master"`
		Busiest string         `json:"busiest"`
		Shards  int            `json:"busiest_shards"`
		Fair    int            `json:"fair_share"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", out.String(), err)
	}
	want := map[string]int{cluster.Addrs[0]: 8, cluster.Addrs[1]: 4, cluster.Addrs[2]: 4}
	if line.Level != "WARN" || !strings.Contains(line.Msg, "unevenly") || line.Busiest != cluster.Addrs[0] || line.Shards != 8 || line.Fair != 6 || len(line.Per) != 3 {
		t.Errorf("logShardPlacement on a 3-master cluster logged %s; want a warning that %s serves 8 shards, fair share 6, per master %v", out.String(), cluster.Addrs[0], want)
	}
	for a, n := range want {
		if line.Per[a] != n {
			t.Errorf("logged %d shards on %s, want %d", line.Per[a], a, n)
		}
	}

	out.Reset()
	logShardPlacement(ctx, slog.New(slog.NewJSONHandler(&out, nil)), redistest.Client(t, redistest.Start(t).Addr))
	if out.Len() != 0 {
		t.Errorf("logShardPlacement on a single Redis logged %s, want nothing", out.String())
	}
}
