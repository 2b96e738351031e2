package redisstore

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Placement is where a Redis Cluster keeps the comment shards: the hash slot of each shard's tag
// and the master serving it. Comment writes, reads and the moderation queue of a thread all go to
// its shard's master, so a master that serves more shards than its share serves that much more of
// the comment load. The slots are fixed by the tags; which master serves them is the operator's
// choice (docs/DESIGN.md, "Spreading the comment shards").
type Placement struct {
	Slots   [numShards]int    // the hash slot of each shard
	Owners  [numShards]string // the address of the master serving it
	Masters []string          // every master, sorted, including those serving no shard
}

// ShardPlacement reads the Cluster's slot map and places the comment shards on it. It returns nil
// for a client that is not a Cluster client: a single master serves every shard.
func ShardPlacement(ctx context.Context, c redis.UniversalClient) (*Placement, error) {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return nil, nil
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		return nil, storeError("read cluster shards", err)
	}
	type served struct {
		start, end int
		master     string
	}
	var ranges []served
	p := &Placement{}
	for _, sh := range shards {
		master := ""
		for _, n := range sh.Nodes {
			if n.Role == "master" {
				master = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			}
		}
		if master == "" || len(sh.Slots) == 0 {
			continue // a shard whose master failed and no replica took over, or one without slots
		}
		p.Masters = append(p.Masters, master)
		for _, r := range sh.Slots {
			ranges = append(ranges, served{int(r.Start), int(r.End), master})
		}
	}
	slices.Sort(p.Masters)
	if p.Slots, err = readShardSlots(ctx, cc); err != nil {
		return nil, err
	}
	for shard, slot := range p.Slots {
		for _, r := range ranges {
			if slot >= r.start && slot <= r.end {
				p.Owners[shard] = r.master
			}
		}
		if p.Owners[shard] == "" {
			return nil, fmt.Errorf("redisstore: hash slot %d of comment shard %d is served by no master", slot, shard)
		}
	}
	return p, nil
}

// readShardSlots returns the hash slot of each comment shard's tag, asked of Redis in one exchange
// rather than computed here: the slot function is Redis's to define.
func readShardSlots(ctx context.Context, c redis.Cmdable) ([numShards]int, error) {
	var slots [numShards]int
	cmds := make([]*redis.IntCmd, numShards)
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for shard := range numShards {
			cmds[shard] = p.ClusterKeySlot(ctx, keys{}.tag(shard))
		}
		return nil
	}); err != nil {
		return slots, storeError("read the comment shards' hash slots", err)
	}
	for shard, c := range cmds {
		slots[shard] = int(c.Val())
	}
	return slots, nil
}

// PerMaster returns how many comment shards each master serves, for every master.
func (p *Placement) PerMaster() map[string]int {
	n := make(map[string]int, len(p.Masters))
	for _, m := range p.Masters {
		n[m] = 0
	}
	for _, o := range p.Owners {
		n[o]++
	}
	return n
}

// Busiest returns the master serving the most shards (the first in address order on a tie) and
// how many it serves.
func (p *Placement) Busiest() (master string, shards int) {
	per := p.PerMaster()
	for _, m := range p.Masters {
		if per[m] > shards {
			master, shards = m, per[m]
		}
	}
	return master, shards
}

// Even reports whether no master serves more than its share of the shards, rounded up: with
// three masters, 6, 5 and 5 is as even as 16 shards go. With more than 16 masters some serve none
// whatever the placement.
func (p *Placement) Even() bool {
	_, most := p.Busiest()
	m := len(p.Masters)
	return m == 0 || most <= (numShards+m-1)/m
}
