package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Durability is what Redis's settings promise about keeping acknowledged writes.
type Durability struct {
	AOF            bool   // appendonly yes
	Fsync          string // appendfsync: "always", "everysec", "no" ("" when AOF is off)
	EvictionPolicy string // maxmemory-policy value
	Save           string // RDB snapshot schedule ("save" value); "" when snapshots are off
	// Readable is false when the settings could not be read (ErrConfigUnreadable): the other
	// fields are then unknown, not "off".
	Readable bool
}

// Durability problems CheckDurability reports. The caller decides whether any is fatal.
var (
	// ErrEvictionPolicy: maxmemory-policy is not "noeviction", so Redis may delete keys when it
	// runs out of memory: comments, or with a volatile-* policy the keys that expire
	// (idempotency records, rate-limit state, claims, erasure fences).
	ErrEvictionPolicy = errors.New("redisstore: maxmemory-policy may evict stored keys (comments, or with volatile-* the keys that expire)")
	// ErrNoAOF: appendonly is off, so a crash loses every write since the last RDB snapshot.
	ErrNoAOF = errors.New("redisstore: append-only file is off")
	// ErrConfigUnreadable: the server refused CONFIG GET (common on managed Redis), so its
	// durability cannot be known.
	ErrConfigUnreadable = errors.New("redisstore: cannot read redis persistence settings")
	// ErrClusterNode: the address names one node of a Redis Cluster as if it were a standalone
	// server; keys of other nodes' slots would fail.
	ErrClusterNode = errors.New("redisstore: the redis server is a Cluster node; give redis+cluster://host:port (one seed) or list the nodes as redis://h1:p1,h2:p2")
	// ErrSentinelNode: the address names a Sentinel as if it were the Redis server.
	ErrSentinelNode = errors.New("redisstore: the address is a Redis Sentinel, not a Redis server; give redis+sentinel://host:port/mastername")
	// ErrReplicaNode: the address names a replica, which refuses every write (READONLY) while
	// answering PING, so health would say SERVING and every submission fail.
	ErrReplicaNode = errors.New("redisstore: the redis server is a replica, which refuses writes; give the master's address, or the Sentinels' as redis+sentinel://host:port/mastername")
)

// fsyncRank orders appendfsync values from strongest (0) to weakest.
func fsyncRank(s string) int {
	switch s {
	case "always":
		return 0
	case "everysec":
		return 1
	}
	return 2
}

// CheckDurability reads the server's persistence settings (on a Cluster, every master's, and
// reports the weakest of each) and returns them with an error joining ErrEvictionPolicy, ErrNoAOF
// and ErrConfigUnreadable as they apply. A server that cannot be reached gives an error wrapping
// comment.ErrUnavailable instead; a standalone address that names a Cluster node, a Sentinel or a
// replica gives ErrClusterNode, ErrSentinelNode or ErrReplicaNode.
func CheckDurability(ctx context.Context, c redis.UniversalClient) (Durability, error) {
	return readDurabilities(ctx, c, true)
}

// ReadDurability is CheckDurability for a server already checked at start, to see whether its
// settings changed since (a replica promoted, a CONFIG SET, a restart with other settings): it
// sends one pipeline of CONFIG GETs to the server, or to each master of a Cluster, and does not
// ask again what kind of server the address names.
func ReadDurability(ctx context.Context, c redis.UniversalClient) (Durability, error) {
	return readDurabilities(ctx, c, false)
}

// readDurabilities is CheckDurability; checkNode says whether to refuse a standalone address that
// names a Cluster node, a Sentinel or a replica.
func readDurabilities(ctx context.Context, c redis.UniversalClient, checkNode bool) (Durability, error) {
	var (
		mu    sync.Mutex
		nodes []Durability
	)
	read := func(ctx context.Context, n redis.Cmdable) error {
		d, err := readDurability(ctx, n)
		if err != nil {
			return err
		}
		mu.Lock()
		nodes = append(nodes, d)
		mu.Unlock()
		return nil
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return read(ctx, n) })
	} else {
		if checkNode {
			err = refuseClusterNode(ctx, c)
		}
		if err == nil {
			err = read(ctx, c)
		}
	}
	if errors.Is(err, ErrConfigUnreadable) || errors.Is(err, ErrClusterNode) || errors.Is(err, ErrSentinelNode) || errors.Is(err, ErrReplicaNode) {
		// A wrong address, not an unavailable store: storeError would say "store unavailable".
		return Durability{}, err
	}
	if errors.Is(err, redis.Nil) {
		// go-redis's answer when the Sentinels know no master of that name: not a missing comment.
		return Durability{}, fmt.Errorf("redisstore: check durability: %v (with Sentinel, check the master name)", err)
	}
	if err != nil {
		return Durability{}, storeError("check durability", err)
	}
	if len(nodes) == 0 {
		return Durability{}, fmt.Errorf("%w: no master answered", ErrConfigUnreadable)
	}

	d := weakest(nodes)
	var errs []error
	if !d.AOF {
		errs = append(errs, ErrNoAOF)
	}
	if d.EvictionPolicy != "noeviction" {
		errs = append(errs, ErrEvictionPolicy)
	}
	return d, errors.Join(errs...)
}

// weakest returns the weakest of each setting of nodes (at least one), whatever their order:
// what a crash or a full memory can lose is what the weakest master loses.
func weakest(nodes []Durability) Durability {
	d := nodes[0]
	for _, n := range nodes[1:] {
		if !n.AOF {
			d.AOF, d.Fsync = false, ""
		} else if d.AOF && fsyncRank(n.Fsync) > fsyncRank(d.Fsync) {
			d.Fsync = n.Fsync
		}
		if evictionRank(n.EvictionPolicy) > evictionRank(d.EvictionPolicy) {
			d.EvictionPolicy = n.EvictionPolicy
		}
		if n.Save == "" {
			d.Save = ""
		}
	}
	return d
}

// WeakerThan reports whether d promises less than o in any respect: AOF off where o has it on, a
// slower appendfsync, a policy that may evict more, no RDB snapshots where o takes them, or
// settings that could not be read where o's were.
func (d Durability) WeakerThan(o Durability) bool {
	switch {
	case !d.Readable:
		return o.Readable
	case !o.Readable:
		return false // now known, whatever they are
	}
	return weakest([]Durability{o, d}) != o
}

// evictionRank orders maxmemory-policy values from safest (0) to weakest: noeviction deletes
// nothing, a volatile-* policy only keys that expire, any other (allkeys-*) comments too.
func evictionRank(policy string) int {
	switch {
	case policy == "noeviction":
		return 0
	case strings.HasPrefix(policy, "volatile-"):
		return 1
	}
	return 2
}

// refuseClusterNode returns ErrClusterNode when the server c talks to as a single server is a
// Cluster node, ErrSentinelNode when it is a Sentinel, and ErrReplicaNode when it is a replica.
// It asks INFO (its default sections, which a Sentinel also answers) rather than CONFIG GET,
// which managed services often refuse.
func refuseClusterNode(ctx context.Context, c redis.Cmdable) error {
	info, err := c.Info(ctx).Result()
	var reply redis.Error
	switch {
	case errors.As(err, &reply) && !unavailable(err):
		return nil // INFO refused: nothing to learn here; the durability check speaks for itself
	case err != nil:
		return err
	case strings.Contains(info, "cluster_enabled:1"):
		return ErrClusterNode
	case strings.Contains(info, "redis_mode:sentinel"):
		return ErrSentinelNode
	case strings.Contains(info, "\nrole:slave"):
		return ErrReplicaNode
	}
	return nil
}

// readDurability reads one server's settings with one pipelined round trip. CONFIG GET takes one
// parameter at a time on servers before 7.0, hence four commands (after a PING).
func readDurability(ctx context.Context, n redis.Cmdable) (Durability, error) {
	params := []string{"appendonly", "appendfsync", "maxmemory-policy", "save"}
	cmds := make([]*redis.MapStringStringCmd, len(params))
	var ping *redis.StatusCmd
	_, err := n.Pipelined(ctx, func(p redis.Pipeliner) error {
		// PING tells a refused CONFIG GET apart from a connection Redis refused as a whole (a
		// wrong password, NOAUTH, a database index out of range): those are not about durability.
		ping = p.Ping(ctx)
		for i, name := range params {
			cmds[i] = p.ConfigGet(ctx, name)
		}
		return nil
	})
	if err != nil && ping.Val() != "PONG" {
		return Durability{}, err
	}
	var reply redis.Error
	if errors.As(err, &reply) && !unavailable(err) {
		// The server answered but refused: CONFIG is disabled, renamed or not permitted.
		return Durability{}, fmt.Errorf("%w: %w", ErrConfigUnreadable, err)
	}
	if err != nil {
		return Durability{}, err
	}
	vals := make([]string, len(params))
	for i, name := range params {
		v, ok := cmds[i].Val()[name]
		if !ok {
			return Durability{}, fmt.Errorf("%w: CONFIG GET %s returned nothing", ErrConfigUnreadable, name)
		}
		vals[i] = v
	}
	d := Durability{AOF: vals[0] == "yes", EvictionPolicy: vals[2], Save: vals[3], Readable: true}
	if d.AOF {
		d.Fsync = vals[1]
	}
	return d, nil
}

// LossWindow describes in words what a crash can lose with these settings, for the start-up log.
func (d Durability) LossWindow() string {
	if !d.Readable {
		return "unknown: the server's persistence settings could not be read"
	}
	var s string
	switch {
	case d.AOF && d.Fsync == "always":
		s = "nothing acknowledged: every write reaches disk before Redis replies"
	case d.AOF && d.Fsync == "everysec":
		// Redis writes the AOF only when the previous second's background fsync has finished,
		// holding the writes in its own memory for up to 2 s meanwhile, and replies all the same
		// (aof.c, flushAppendOnlyFile): so even a crash of the Redis process loses acknowledged
		// writes, and a stalled disk stretches the window beyond the seconds.
		s = "up to about two seconds of writes, more while the disk stalls, if the machine or the Redis process alone fails"
	case d.AOF:
		s = "the writes the operating system has not flushed yet, often up to 30 seconds, if the machine fails"
	case d.Save != "":
		s = "every write since the last RDB snapshot (schedule: save " + d.Save + ")"
	default:
		s = "everything: neither the append-only file nor RDB snapshots are on"
	}
	// Replication is asynchronous: on a failover the promoted replica may lack the last writes,
	// whatever this node's fsync does.
	s += " (on this node; a failover to a replica can lose writes it had not received yet)"
	switch {
	case d.EvictionPolicy == "noeviction":
	case strings.HasPrefix(d.EvictionPolicy, "volatile-"):
		// A volatile policy evicts only keys that expire: never a comment record (which has no
		// TTL), but what keeps the store's promises while it lives.
		s += "; and with maxmemory-policy " + d.EvictionPolicy + " Redis may delete keys that would expire when memory is full " +
			"(not comments: idempotency records, so a resent submission may not be recognised; rate-limit states and duplicate " +
			"markers; review claims; erasure fences)"
	default:
		s += "; and with maxmemory-policy " + d.EvictionPolicy + " Redis may delete comments when memory is full"
	}
	return s
}
