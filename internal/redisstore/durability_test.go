package redisstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func TestCheckDurability(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string // redis-server arguments beyond the harness's (--appendonly no --save "")
		want    Durability
		wantErr []error
		notErr  []error
	}{
		{
			name:   "AOF with fsync always",
			args:   []string{"--appendonly", "yes", "--appendfsync", "always"},
			want:   Durability{AOF: true, Fsync: "always", EvictionPolicy: "noeviction", Readable: true},
			notErr: []error{ErrNoAOF, ErrEvictionPolicy, ErrConfigUnreadable},
		},
		{
			name:    "harness defaults: no AOF, no snapshots",
			want:    Durability{EvictionPolicy: "noeviction", Readable: true},
			wantErr: []error{ErrNoAOF},
			notErr:  []error{ErrEvictionPolicy, ErrConfigUnreadable},
		},
		{
			name:    "snapshots only, evicting",
			args:    []string{"--save", "60 1000", "--maxmemory-policy", "allkeys-lru"},
			want:    Durability{EvictionPolicy: "allkeys-lru", Save: "60 1000", Readable: true},
			wantErr: []error{ErrNoAOF, ErrEvictionPolicy},
			notErr:  []error{ErrConfigUnreadable},
		},
		{
			name:    "AOF everysec but evicting",
			args:    []string{"--appendonly", "yes", "--maxmemory-policy", "volatile-lru"},
			want:    Durability{AOF: true, Fsync: "everysec", EvictionPolicy: "volatile-lru", Readable: true},
			wantErr: []error{ErrEvictionPolicy},
			notErr:  []error{ErrNoAOF, ErrConfigUnreadable},
		},
		{
			name:    "CONFIG disabled, as on managed Redis",
			args:    []string{"--rename-command", "CONFIG", ""},
			want:    Durability{},
			wantErr: []error{ErrConfigUnreadable},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, tt.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := CheckDurability(ctx, redistest.Client(t, srv.Addr))
			if got != tt.want {
				t.Errorf("CheckDurability(redis-server %q) = %+v, want %+v", tt.args, got, tt.want)
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Errorf("CheckDurability(redis-server %q) error = %v, want nil", tt.args, err)
			}
			for _, e := range tt.wantErr {
				if !errors.Is(err, e) {
					t.Errorf("CheckDurability(redis-server %q) error = %v, want it to include %v", tt.args, err, e)
				}
			}
			for _, e := range tt.notErr {
				if errors.Is(err, e) {
					t.Errorf("CheckDurability(redis-server %q) error = %v, want it not to include %v", tt.args, err, e)
				}
			}
		})
	}
}

func TestCheckDurabilityOnMiniredisIsUnreadable(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	d, err := CheckDurability(context.Background(), rdb)
	if !errors.Is(err, ErrConfigUnreadable) || d.Readable {
		t.Errorf("CheckDurability(miniredis) = %+v, %v; want unreadable, ErrConfigUnreadable", d, err)
	}
}

// A server that refuses the connection itself (a wrong password, a database it does not have) is
// not a server whose persistence settings are unreadable: the operator must fix the address, and
// -accept-data-loss must not be offered as the way out.
func TestCheckDurabilityConnectionRefusedIsNotUnreadable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--appendonly", "yes")
	if err := redistest.Client(t, srv.Addr).Do(context.Background(), "ACL", "SETUSER", "app", "on", ">right", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]*redis.Options{
		"wrong password": {Addr: srv.Addr, Username: "app", Password: "wrong"},
		"database 99":    {Addr: srv.Addr, Username: "app", Password: "right", DB: 99},
	} {
		rdb := redis.NewClient(opts)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := CheckDurability(ctx, rdb)
		cancel()
		rdb.Close()
		if err == nil || errors.Is(err, ErrConfigUnreadable) || errors.Is(err, ErrNoAOF) || errors.Is(err, ErrEvictionPolicy) {
			t.Errorf("%s: CheckDurability error = %v, want an error that is not a durability problem", name, err)
		}
	}
}

// A standalone address that names a replica is refused at start: the replica answers PING (so
// health says SERVING) and reads, and refuses every write with READONLY. Its master, durable as
// the replica is, passes.
func TestCheckDurabilityRefusesReplica(t *testing.T) {
	t.Parallel()
	master, replica := masterAndReplica(t)
	tests := []struct {
		name    string
		addr    string
		wantErr bool
	}{
		{name: "master", addr: master.Addr},
		{name: "replica", addr: replica.Addr, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := CheckDurability(ctx, redistest.Client(t, tt.addr))
			if got := errors.Is(err, ErrReplicaNode); got != tt.wantErr || (!tt.wantErr && err != nil) {
				t.Errorf("CheckDurability(%s) = %v, want ErrReplicaNode: %v", tt.name, err, tt.wantErr)
			}
			if errors.Is(err, comment.ErrUnavailable) {
				t.Errorf("CheckDurability(%s) = %v, want a wrong address, not a store unavailable", tt.name, err)
			}
		})
	}
}

func TestLossWindow(t *testing.T) {
	t.Parallel()
	// Each setting must be told apart in the start-up log, and an evicting policy named.
	tests := []struct {
		d        Durability
		mentions []string
		not      []string // what it must not claim
	}{
		{d: Durability{}, mentions: []string{"unknown"}},
		{d: Durability{AOF: true, Fsync: "always", EvictionPolicy: "noeviction", Readable: true}, mentions: []string{"nothing"}},
		// Redis holds back the AOF write while the previous second's fsync runs (up to 2 s, then
		// writes anyway) and replies meanwhile: a crash of the Redis process alone loses those
		// acknowledged writes, and the machine's failure up to about two seconds, more on a stalled disk.
		{d: Durability{AOF: true, Fsync: "everysec", EvictionPolicy: "noeviction", Readable: true}, mentions: []string{"two seconds", "Redis process"}},
		{d: Durability{AOF: true, Fsync: "no", EvictionPolicy: "noeviction", Readable: true}, mentions: []string{"operating system"}},
		{d: Durability{Save: "3600 1", EvictionPolicy: "noeviction", Readable: true}, mentions: []string{"snapshot", "3600 1"}},
		{d: Durability{EvictionPolicy: "allkeys-lru", Readable: true}, mentions: []string{"everything", "allkeys-lru", "comments"}},
		// A volatile policy evicts only keys with a TTL: never a comment, but idempotency
		// records, rate-limit states, claims and erasure fences.
		{d: Durability{AOF: true, Fsync: "always", EvictionPolicy: "volatile-lru", Readable: true}, mentions: []string{"volatile-lru", "expire", "idempotency"}, not: []string{"delete comments"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := tt.d.LossWindow()
		for _, m := range tt.mentions {
			if !strings.Contains(got, m) {
				t.Errorf("%+v.LossWindow() = %q, want it to mention %q", tt.d, got, m)
			}
		}
		for _, m := range tt.not {
			if strings.Contains(got, m) {
				t.Errorf("%+v.LossWindow() = %q, want it not to say %q", tt.d, got, m)
			}
		}
		if seen[got] {
			t.Errorf("%+v.LossWindow() = %q, the same as for other settings", tt.d, got)
		}
		seen[got] = true
	}
}

// safeDurability is a master's settings that lose nothing: the base the durability tests change.
var safeDurability = Durability{AOF: true, Fsync: "always", EvictionPolicy: "noeviction", Save: "3600 1", Readable: true}

// withDurability returns safeDurability changed by f.
func withDurability(f func(*Durability)) Durability {
	d := safeDurability
	f(&d)
	return d
}

// TestWeakestDurability: on a Cluster the masters' settings are read in no set order, and each
// setting reported must be the weakest of any master, as what a crash or a full memory loses is
// what the weakest master loses.
func TestWeakestDurability(t *testing.T) {
	t.Parallel()
	safe, with := safeDurability, withDurability
	tests := []struct {
		name  string
		nodes []Durability
		want  Durability
	}{
		{"all alike", []Durability{safe, safe, safe}, safe},
		{"one without AOF", []Durability{safe, with(func(d *Durability) { d.AOF, d.Fsync = false, "" }), safe}, with(func(d *Durability) { d.AOF, d.Fsync = false, "" })},
		{"the slowest fsync", []Durability{safe, with(func(d *Durability) { d.Fsync = "no" }), with(func(d *Durability) { d.Fsync = "everysec" })}, with(func(d *Durability) { d.Fsync = "no" })},
		{"volatile first, allkeys later", []Durability{
			with(func(d *Durability) { d.EvictionPolicy = "volatile-lru" }),
			with(func(d *Durability) { d.EvictionPolicy = "allkeys-lru" }),
			safe,
		}, with(func(d *Durability) { d.EvictionPolicy = "allkeys-lru" })},
		{"allkeys first, volatile later", []Durability{
			with(func(d *Durability) { d.EvictionPolicy = "allkeys-lfu" }),
			with(func(d *Durability) { d.EvictionPolicy = "volatile-ttl" }),
		}, with(func(d *Durability) { d.EvictionPolicy = "allkeys-lfu" })},
		{"noeviction first, volatile later", []Durability{safe, with(func(d *Durability) { d.EvictionPolicy = "volatile-lru" })}, with(func(d *Durability) { d.EvictionPolicy = "volatile-lru" })},
		{"one without snapshots", []Durability{safe, with(func(d *Durability) { d.Save = "" })}, with(func(d *Durability) { d.Save = "" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := weakest(tt.nodes); got != tt.want {
				t.Errorf("weakest(%+v) = %+v, want %+v", tt.nodes, got, tt.want)
			}
		})
	}
}

// The health check's Ping fails on a replica, which answers PING and refuses every write: a
// master demoted behind a fixed address must turn health NOT_SERVING. Its master passes, and so
// does a server that refuses INFO (some managed services), which says nothing either way.
func TestPingRefusesReplica(t *testing.T) {
	t.Parallel()
	master, replica := masterAndReplica(t)
	noInfo := redistest.Start(t, "--rename-command", "INFO", "")
	tests := []struct {
		name    string
		addr    string
		wantErr bool
	}{
		{name: "master", addr: master.Addr},
		{name: "replica", addr: replica.Addr, wantErr: true},
		{name: "INFO refused", addr: noInfo.Addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := New(ctx, redistest.Client(t, tt.addr), Options{Prefix: redistest.Prefix(t)})
			if err != nil {
				t.Fatalf("New(%s) = %v", tt.name, err)
			}
			err = s.Ping(ctx)
			if got := errors.Is(err, ErrReplicaNode); got != tt.wantErr || (!tt.wantErr && err != nil) {
				t.Errorf("Ping(%s) = %v, want ErrReplicaNode: %v", tt.name, err, tt.wantErr)
			}
		})
	}
}

// masterAndReplica starts a durable master and a replica of it.
func masterAndReplica(t *testing.T) (master, replica *redistest.Server) {
	t.Helper()
	master = redistest.Start(t, "--appendonly", "yes")
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return master, redistest.Start(t, "--appendonly", "yes", "--replicaof", host, port)
}

func TestDurabilityWeakerThan(t *testing.T) {
	t.Parallel()
	safe, with := safeDurability, withDurability
	noAOF := with(func(d *Durability) { d.AOF, d.Fsync = false, "" })
	tests := []struct {
		name string
		d, o Durability
		want bool
	}{
		{"the same", safe, safe, false},
		{"AOF turned off", noAOF, safe, true},
		{"AOF turned on", safe, noAOF, false},
		{"slower fsync", with(func(d *Durability) { d.Fsync = "everysec" }), safe, true},
		{"faster fsync", safe, with(func(d *Durability) { d.Fsync = "no" }), false},
		{"volatile to allkeys", with(func(d *Durability) { d.EvictionPolicy = "allkeys-lru" }), with(func(d *Durability) { d.EvictionPolicy = "volatile-lru" }), true},
		{"allkeys to volatile", with(func(d *Durability) { d.EvictionPolicy = "volatile-lru" }), with(func(d *Durability) { d.EvictionPolicy = "allkeys-lru" }), false},
		{"one allkeys policy for another", with(func(d *Durability) { d.EvictionPolicy = "allkeys-lfu" }), with(func(d *Durability) { d.EvictionPolicy = "allkeys-lru" }), false},
		{"snapshots turned off", with(func(d *Durability) { d.Save = "" }), safe, true},
		{"another snapshot schedule", with(func(d *Durability) { d.Save = "60 1000" }), safe, false},
		{"settings no longer readable", Durability{}, safe, true},
		{"settings readable again", noAOF, Durability{}, false},
		{"unreadable both times", Durability{}, Durability{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.WeakerThan(tt.o); got != tt.want {
				t.Errorf("%+v.WeakerThan(%+v) = %v, want %v", tt.d, tt.o, got, tt.want)
			}
		})
	}
}

// TestReadDurabilityFollowsCluster: a re-check reads every master of a Cluster again, so a
// CONFIG SET on one of them shows, and costs each master one pipeline of CONFIG GETs (one per
// setting, as servers before 7.0 take one at a time) and nothing else: no INFO, as
// CheckDurability sends a standalone server.
func TestReadDurabilityFollowsCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range cluster.Nodes {
		if err := redistest.Client(t, n.Addr).ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
			t.Fatalf("CONFIG SET appendonly yes on %s: %v", n.Addr, err)
		}
	}
	rdb := clusterClient(t, cluster)
	want := Durability{AOF: true, Fsync: "everysec", EvictionPolicy: "noeviction", Readable: true}
	if got, err := ReadDurability(ctx, rdb); got != want || err != nil {
		t.Fatalf("ReadDurability(cluster with AOF on) = %+v, %v; want %+v, nil", got, err, want)
	}

	if err := redistest.Client(t, cluster.Nodes[1].Addr).ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatalf("CONFIG SET maxmemory-policy on %s: %v", cluster.Nodes[1].Addr, err)
	}
	before := make([]map[string]int, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		before[i] = commandCalls(t, ctx, n.Addr)
	}
	got, err := ReadDurability(ctx, rdb)
	want.EvictionPolicy = "allkeys-lru"
	if got != want || !errors.Is(err, ErrEvictionPolicy) {
		t.Errorf("ReadDurability(cluster, one master allkeys-lru) = %+v, %v; want %+v, ErrEvictionPolicy", got, err, want)
	}
	for i, n := range cluster.Nodes {
		after := commandCalls(t, ctx, n.Addr)
		// The first reading of the stats is itself one INFO.
		if config, info := after["config"]-before[i]["config"], after["info"]-before[i]["info"]; config != 4 || info != 1 {
			t.Errorf("ReadDurability(cluster) sent master %s %d CONFIG and %d INFO commands, want 4 and none", n.Addr, config, info-1)
		}
	}
}

// TestReadDurabilitySendsNoInfo: on a standalone server, ReadDurability sends the CONFIG GETs
// only, not CheckDurability's INFO (which asks what kind of server the address names).
func TestReadDurabilitySendsNoInfo(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--appendonly", "yes")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := redistest.Client(t, srv.Addr)
	before := commandCalls(t, ctx, srv.Addr)
	d, err := ReadDurability(ctx, rdb)
	after := commandCalls(t, ctx, srv.Addr)
	if want := (Durability{AOF: true, Fsync: "everysec", EvictionPolicy: "noeviction", Readable: true}); d != want || err != nil {
		t.Errorf("ReadDurability = %+v, %v; want %+v, nil", d, err, want)
	}
	if config, info := after["config"]-before["config"], after["info"]-before["info"]; config != 4 || info != 1 {
		t.Errorf("ReadDurability sent %d CONFIG and %d INFO commands, want 4 and none", config, info-1)
	}
}

// commandCalls returns how many times the server at addr has run each command (INFO
// commandstats), by lower-case name, subcommands counted with their command ("config|get" as
// "config").
func commandCalls(t *testing.T, ctx context.Context, addr string) map[string]int {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats on %s: %v", addr, err)
	}
	calls := map[string]int{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "|")
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("INFO commandstats on %s: line %q", addr, line)
		}
		calls[name] += v
	}
	return calls
}
