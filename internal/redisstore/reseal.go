package redisstore

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
)

// Key rotation (comment.SealedStore). The records are found with SCAN, which walks a server's
// keys a slice at a time without blocking it, rather than through the thread and queue indexes:
// it finds every record, whatever its state or thread, and costs no index of its own. Each slice
// is read with one pipelined HMGET per record, and each value to replace is one call of
// reseal.lua, all in one pipeline.

//go:embed reseal.lua
var resealSrc string

// Immutable like the claim scripts, and run pipelined: runScripts loads it again after a NOSCRIPT.
var resealScript = redis.NewScript(resealSrc)

var _ comment.SealedStore = (*Store)(nil)

// defaultScanBatch is the SCAN COUNT when the caller gives none: large enough that a walk over
// millions of records is not millions of round trips, small enough that each SCAN and pipeline
// holds Redis up for a moment only: a SCAN step reads about 500 keys and the HMGETs that follow
// are one pipeline of 500 short commands.
const defaultScanBatch = 500

// sealedFields maps the domain's sealed fields to the record's field names.
var sealedFields = map[comment.SealedField]string{
	comment.SealedEmail: fEmailSealed,
	comment.SealedIP:    fIPSealed,
}

// ScanSealed implements comment.SealedStore: SCAN over the records of every shard, with COUNT
// opts.Batch, on the one server or on each master of a Cluster in turn (SCAN sees one node's keys
// only), and for each slice of keys one pipeline of HMGETs. Every call is bounded by
// opts.CallTimeout. A standalone address that names one Cluster node is refused (ErrClusterNode):
// the walk would see that node's records only and report the others' keys as unused.
func (s *Store) ScanSealed(ctx context.Context, opts comment.ScanOptions, fn func(context.Context, []comment.SealedRecord) error) error {
	return s.scanRecords(ctx, opts, func(ctx context.Context, keys []string) error {
		recs, err := s.readSealed(ctx, opts.CallTimeout, keys)
		if err != nil {
			return err
		}
		return fn(ctx, recs)
	})
}

// scanRecords calls fn with the keys of every comment record, one SCAN slice at a time (COUNT
// opts.Batch), on the one server or on each master of a Cluster in turn, and stops at fn's first
// error. Each SCAN is bounded by opts.CallTimeout. The keys match recordPattern only: fn checks
// them with recordID. Key rotation and erasure walk the records through it.
func (s *Store) scanRecords(ctx context.Context, opts comment.ScanOptions, fn func(context.Context, []string) error) error {
	// An erasure or an export that ended short of a record of a moving shard would not know it.
	return s.walkShardKeys(ctx, s.keys.recordPattern(), opts.Batch, opts.CallTimeout, 0, "scan comment records", fn)
}

// walkShardKeys is walkKeys over every server the store's keys are on (scanNodes), for keys in
// the comment shards' slots. On a Cluster, a shard's slot moving from a master not yet walked to
// one already walked would take its keys out of the walk's sight, and the walk would end short of
// them without knowing; so it notes where the shards are before and checks after, and returns
// comment.ErrUnavailable when a shard was moving or has moved (the caller walks again once the
// slot has settled).
func (s *Store) walkShardKeys(ctx context.Context, pattern string, batch int, timeout, pause time.Duration, what string, fn func(context.Context, []string) error) error {
	nodes, err := s.scanNodes(ctx, timeout)
	if err != nil {
		return err
	}
	var layout string
	if s.isCluster() {
		if layout, err = s.shardLayout(ctx, timeout, nodes); err != nil {
			return err
		}
	}
	if err := walkKeys(ctx, nodes, pattern, batch, timeout, pause, what, fn); err != nil {
		return err
	}
	if layout != "" {
		after, err := s.shardLayout(ctx, timeout, nodes)
		if err != nil {
			return err
		}
		if after != layout {
			return fmt.Errorf("redisstore: %s: %w: a comment shard moved between masters during the walk", what, comment.ErrUnavailable)
		}
	}
	return nil
}

// walkKeys calls fn with the keys matching pattern on each of nodes in turn, one SCAN slice at a
// time (COUNT batch, or defaultScanBatch when batch is 0 or less; a slice without keys is
// skipped), and stops at fn's first error. Each SCAN is bounded by timeout; a positive pause is
// waited between two SCAN calls on a node, so a walk that runs beside the service never hogs
// Redis. what names the walk in a SCAN's error.
func walkKeys(ctx context.Context, nodes []redis.Cmdable, pattern string, batch int, timeout, pause time.Duration, what string, fn func(context.Context, []string) error) error {
	count := int64(batch)
	if count <= 0 {
		count = defaultScanBatch
	}
	for _, n := range nodes {
		var cursor uint64
		for {
			cctx, cancel := callContext(ctx, timeout)
			keys, next, err := n.Scan(cctx, cursor, pattern, count).Result()
			cancel()
			if err != nil {
				return storeError(what, err)
			}
			if len(keys) > 0 {
				if err := fn(ctx, keys); err != nil {
					return err
				}
			}
			if next == 0 {
				break
			}
			cursor = next
			if pause > 0 && !waited(ctx, pause) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// isCluster reports whether the store runs on a Redis Cluster.
func (s *Store) isCluster() bool {
	_, ok := s.rdb.(*redis.ClusterClient)
	return ok
}

// shardLayout returns which of nodes (a Cluster's masters) serves each comment shard's slot, as
// each says of itself (its own line of CLUSTER NODES). It returns comment.ErrUnavailable when a
// shard's slot is being moved (migrating or importing) or is served by none of nodes, such as a
// master the client did not know of yet: a walk over nodes would not see all of its records.
func (s *Store) shardLayout(ctx context.Context, timeout time.Duration, nodes []redis.Cmdable) (string, error) {
	cctx, cancel := callContext(ctx, timeout)
	defer cancel()
	slots, err := readShardSlots(cctx, s.rdb)
	if err != nil {
		return "", err
	}
	var owners [numShards]string
	for _, n := range nodes {
		out, err := n.ClusterNodes(cctx).Result()
		if err != nil {
			return "", storeError("read where the comment shards are", err)
		}
		id, ranges, moving := ownSlots(out)
		for shard, slot := range slots {
			if slices.Contains(moving, slot) {
				return "", fmt.Errorf("redisstore: read where the comment shards are: %w: comment shard %d (slot %d) is moving between masters", comment.ErrUnavailable, shard, slot)
			}
			for _, r := range ranges {
				if slot >= r[0] && slot <= r[1] {
					owners[shard] = id
				}
			}
		}
	}
	var b strings.Builder
	for shard, o := range owners {
		if o == "" {
			return "", fmt.Errorf("redisstore: read where the comment shards are: %w: comment shard %d (slot %d) is on no master known to the client", comment.ErrUnavailable, shard, slots[shard])
		}
		fmt.Fprintf(&b, "%d:%s ", slots[shard], o)
	}
	return b.String(), nil
}

// ownSlots reads a node's CLUSTER NODES reply and returns, from its own line (flag "myself"), its
// id, the slot ranges it serves and the slots it is migrating or importing ("[slot->-id]",
// "[slot-<-id]", which only the node itself lists).
func ownSlots(nodes string) (id string, ranges [][2]int, moving []int) {
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !slices.Contains(strings.Split(f[2], ","), "myself") {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				n, _, _ := strings.Cut(strings.TrimPrefix(r, "["), "-")
				if slot, err := strconv.Atoi(n); err == nil {
					moving = append(moving, slot)
				}
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				ranges = append(ranges, [2]int{a, b})
			}
		}
		return f[0], ranges, moving
	}
	return "", nil, nil
}

// scanNodes returns the servers a SCAN must visit to see every key: each master of a Cluster,
// ordered by address so that runs visit them alike, or the one server.
func (s *Store) scanNodes(ctx context.Context, timeout time.Duration) ([]redis.Cmdable, error) {
	ctx, cancel := callContext(ctx, timeout)
	defer cancel()
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		if err := refuseClusterNode(ctx, s.rdb); err != nil {
			if errors.Is(err, ErrClusterNode) || errors.Is(err, ErrSentinelNode) || errors.Is(err, ErrReplicaNode) {
				// A wrong address, not an unavailable store: storeError would say "store unavailable".
				return nil, fmt.Errorf("redisstore: find the servers to scan: %w", err)
			}
			return nil, storeError("find the servers to scan", err)
		}
		return []redis.Cmdable{s.rdb}, nil
	}
	var (
		mu    sync.Mutex
		nodes []*redis.Client
	)
	err := cc.ForEachMaster(ctx, func(_ context.Context, n *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, storeError("find the cluster's masters", err)
	}
	slices.SortFunc(nodes, func(a, b *redis.Client) int { return cmp.Compare(a.Options().Addr, b.Options().Addr) })
	out := make([]redis.Cmdable, len(nodes))
	for i, n := range nodes {
		out[i] = n
	}
	return out, nil
}

// readSealed reads the sealed fields of the records at keys (found by SCAN) in one pipeline.
// Keys that are not records of this store are skipped.
func (s *Store) readSealed(ctx context.Context, timeout time.Duration, keys []string) ([]comment.SealedRecord, error) {
	recs := make([]comment.SealedRecord, 0, len(keys))
	cmds := make([]*redis.SliceCmd, 0, len(keys))
	ctx, cancel := callContext(ctx, timeout)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			id, ok := s.keys.recordID(k)
			if !ok {
				continue
			}
			recs = append(recs, comment.SealedRecord{ID: id})
			cmds = append(cmds, p.HMGet(ctx, k, fEmailSealed, fIPSealed))
		}
		return nil
	})
	if err != nil {
		return nil, storeError("read sealed fields", err)
	}
	for i, c := range cmds {
		v := c.Val()
		if len(v) != 2 {
			return nil, fmt.Errorf("redisstore: read sealed fields of %s: %w: HMGET gave %d values", recs[i].ID, errCorrupt, len(v))
		}
		recs[i].Email, _ = v[0].(string) // nil: no such field
		recs[i].IP, _ = v[1].(string)
	}
	return recs, nil
}

// ReplaceSealed implements comment.SealedStore: one reseal.lua call per update, all in one
// pipeline (on a Cluster, one per node).
func (s *Store) ReplaceSealed(ctx context.Context, us []comment.SealedUpdate) ([]bool, error) {
	calls := make([]scriptCall, len(us))
	for i, u := range us {
		shard, ok := shardOfID(u.ID)
		field, known := sealedFields[u.Field]
		if !ok || !comment.ValidID(u.ID) || !known {
			return nil, fmt.Errorf("redisstore: replace sealed value: comment %q field %v is not one this store holds", u.ID, u.Field)
		}
		calls[i] = scriptCall{keys: []string{s.keys.record(shard, u.ID)}, args: []any{field, u.Old, u.New}}
	}
	cmds, err := s.runScripts(ctx, resealScript, calls)
	if err != nil {
		return nil, storeError("replace sealed values", err)
	}
	written := make([]bool, len(cmds))
	for i, c := range cmds {
		n, err := c.Int()
		if err != nil {
			return nil, fmt.Errorf("redisstore: replace sealed values: %w: reply of type %T", errCorrupt, c.Val())
		}
		written[i] = n == 1
	}
	return written, nil
}

// callContext bounds one Redis call by d; d <= 0 leaves ctx as it is (the client's own timeouts
// still apply).
func callContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
