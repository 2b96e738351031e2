package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Review claims (moderation.Claims). A claim is a key per comment in the comment's shard, holding
// the moderator's name with the lease as its TTL, so an abandoned claim ends by itself; each
// moderator also has a set of their claims per shard, to find them again. claims.lua picks and
// claims within one shard atomically; decide.lua ends a comment's claim with the decision.

var (
	//go:embed claims.lua
	claimsSrc string
	//go:embed claims_release.lua
	claimsReleaseSrc string
)

// Immutable, like the ban scripts. They also run pipelined, where Script.Run cannot fall back to
// EVAL: runScripts loads them again after a NOSCRIPT.
var (
	claimScript   = redis.NewScript(claimsSrc)
	releaseScript = redis.NewScript(claimsReleaseSrc)
)

var _ moderation.Claims = (*Store)(nil)

const (
	// claimScan bounds the queue entries one claim looks at per queue, so a queue whose head is
	// all claimed by others costs a bounded amount of work.
	claimScan = 1000
	// claimRounds bounds the pick-then-claim rounds of a claim across shards: a round comes back
	// short only when other moderators took some of the picked comments in between, and every
	// round someone gets what they picked. Three rounds left ten moderators claiming at the same
	// moment on a loaded 2-core machine with comments unclaimed now and then; the extra rounds
	// cost nothing without contention.
	claimRounds = 8
)

// claimed is one comment picked or claimed by claims.lua.
type claimed struct {
	cursor
	own bool
	rec any // nil when only picked
}

// Claim implements moderation.Claims. With a thread it is one script call in the thread's shard.
// Without one it is a pick on every shard (one pipeline) to find which shards hold the comments
// to claim, then a claim in those shards of as many as each was picked for (a second pipeline).
// A shard where another moderator took some picks in between gives its next free comments
// instead, so the result is the oldest comments per shard, and overall as long as nobody
// competes; a shard that ran out leaves the claim short, and another round (at most claimRounds
// in all) looks again. Each round's take in a shard answers with all the moderator holds there,
// so the answer never holds a comment decided by a colleague between two rounds, nor more
// comments than asked for.
func (s *Store) Claim(ctx context.Context, moderator string, q moderation.ClaimQuery, now time.Time) ([]comment.Comment, error) {
	if q.State != comment.StatePending && q.State != comment.StateSpam {
		return nil, fmt.Errorf("redisstore: claim: state %v cannot be claimed", q.State)
	}
	if q.Count <= 0 || q.Lease < time.Millisecond {
		return nil, fmt.Errorf("redisstore: claim: count %d, lease %s: want both positive", q.Count, q.Lease)
	}
	k := s.keys
	// Each shard's script gets the ids to skip that it may hold.
	skip := map[int][]any{}
	for _, id := range q.Skip {
		if shard, ok := shardOfID(id); ok {
			skip[shard] = append(skip[shard], id)
		}
	}
	call := func(mode string, queue string, shard, count int) scriptCall {
		args := []any{mode, moderator, now.UnixMilli(), count, q.Lease.Milliseconds(), k.claimBase(shard), k.recordBase(shard), claimScan}
		return scriptCall{
			keys: []string{queue, k.moderatorClaims(shard, moderator)},
			args: append(args, skip[shard]...),
		}
	}
	if q.ThreadID != "" {
		shard := shardOfThread(q.ThreadID)
		c := call("take", k.threadQueue(shard, q.State, q.ThreadID), shard, q.Count)
		v, err := claimScript.Run(ctx, s.rdb, c.keys, c.args...).Result()
		if err != nil {
			return nil, storeError("claim comments", err)
		}
		got, err := parseClaimed(v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: claim comments: %w", err)
		}
		// The script lists the moderator's own claims before the free comments; the answer is
		// oldest first, as without a thread.
		slices.SortFunc(got, func(a, b claimed) int { return compareCursors(a.cursor, b.cursor) })
		return claimedComments(got)
	}

	var got []claimed
	for round := 0; round < claimRounds && len(got) < q.Count; round++ {
		calls := make([]scriptCall, numShards)
		for shard := range numShards {
			calls[shard] = call("pick", k.shardQueue(shard, q.State), shard, q.Count)
		}
		cmds, err := s.runScripts(ctx, claimScript, calls)
		if err != nil {
			return nil, storeError("claim comments", err)
		}
		var picks []claimed
		for _, cmd := range cmds {
			p, err := parseClaimed(cmd.Val())
			if err != nil {
				return nil, fmt.Errorf("redisstore: claim comments: %w", err)
			}
			for _, c := range p {
				if !slices.ContainsFunc(got, func(g claimed) bool { return g.id == c.id }) {
					picks = append(picks, c)
				}
			}
		}
		// The moderator's own claims first, then the oldest free comments.
		slices.SortFunc(picks, func(a, b claimed) int {
			switch {
			case a.own != b.own && a.own:
				return -1
			case a.own != b.own:
				return 1
			}
			return compareCursors(a.cursor, b.cursor)
		})
		picks = picks[:min(len(picks), q.Count-len(got))]
		if len(picks) == 0 {
			break
		}

		perShard := map[int]int{}
		for _, p := range picks {
			shard, _ := shardOfID(p.id)
			perShard[shard]++
		}
		calls = calls[:0]
		shards := make([]int, 0, len(perShard))
		for shard, n := range perShard {
			// Comments claimed in an earlier round are the moderator's own now: the script
			// returns them first, so they count in n again.
			for _, g := range got {
				if gs, _ := shardOfID(g.id); gs == shard {
					n++
				}
			}
			calls = append(calls, call("take", k.shardQueue(shard, q.State), shard, n))
			shards = append(shards, shard)
		}
		if cmds, err = s.runScripts(ctx, claimScript, calls); err != nil {
			return nil, storeError("claim comments", err)
		}
		taken := make([][]claimed, len(cmds))
		for i, cmd := range cmds {
			if taken[i], err = parseClaimed(cmd.Val()); err != nil {
				return nil, fmt.Errorf("redisstore: claim comments: %w", err)
			}
		}
		// A take answers with what the moderator holds in its shard now, the earlier rounds'
		// claims there included, so it replaces them: a comment a colleague decided between the
		// rounds (its claim ended with the decision) is no longer among them, and the free
		// comment the take gave in its place is not one too many.
		var next []claimed
		for _, g := range got {
			if gs, _ := shardOfID(g.id); !slices.Contains(shards, gs) {
				next = append(next, g)
			}
		}
		for _, cs := range taken {
			next = append(next, cs...)
		}
		added := len(next) - len(got)
		got = next
		if added == len(picks) {
			break
		}
	}
	slices.SortFunc(got, func(a, b claimed) int { return compareCursors(a.cursor, b.cursor) })
	return claimedComments(got)
}

// Release implements moderation.Claims: one script call per shard, in one pipeline.
func (s *Store) Release(ctx context.Context, moderator string, ids []string) error {
	byShard := map[int][]any{}
	for _, id := range ids {
		if shard, ok := shardOfID(id); ok && comment.ValidID(id) {
			byShard[shard] = append(byShard[shard], id)
		}
	}
	if len(byShard) == 0 {
		return nil
	}
	var calls []scriptCall
	for shard, ids := range byShard {
		calls = append(calls, scriptCall{
			keys: []string{s.keys.moderatorClaims(shard, moderator)},
			args: append([]any{moderator, s.keys.claimBase(shard)}, ids...),
		})
	}
	_, err := s.runScripts(ctx, releaseScript, calls)
	return storeError("release claims", err)
}

// parseClaimed decodes claims.lua's reply.
func parseClaimed(v any) ([]claimed, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: claim reply is %T", errCorrupt, v)
	}
	out := make([]claimed, 0, len(items))
	for _, it := range items {
		f, ok := it.([]any)
		if !ok || len(f) < 3 {
			return nil, fmt.Errorf("%w: claim entry", errCorrupt)
		}
		id, ok1 := f[0].(string)
		sc, ok2 := f[1].(string)
		own, ok3 := f[2].(string)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("%w: claim entry", errCorrupt)
		}
		score, err := parseScore(sc)
		if err != nil {
			return nil, err
		}
		c := claimed{cursor: cursor{score: score, id: id}, own: own == "1"}
		if len(f) > 3 {
			c.rec = f[3]
		}
		out = append(out, c)
	}
	return out, nil
}

func claimedComments(cs []claimed) ([]comment.Comment, error) {
	out := make([]comment.Comment, 0, len(cs))
	for _, c := range cs {
		d, err := decodeReplyRecord(c.rec)
		if err != nil {
			return nil, fmt.Errorf("redisstore: claim comments: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// compareCursors orders cursors as a sorted set does.
func compareCursors(a, b cursor) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// scriptCall is one call of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runScripts runs calls of sc in one pipeline (on a Cluster, one per node, in parallel) and
// returns their commands in order. Script.Run's fallback to EVAL does not work inside a
// pipeline, so after a NOSCRIPT (Redis restarted or failed over) it loads sc and tries once more.
func (s *Store) runScripts(ctx context.Context, sc *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(calls))
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, c := range calls {
				cmds[i] = sc.EvalSha(ctx, pl, c.keys, c.args...)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && isNoScript(err) {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return nil, err
		}
		cmds, err = run()
	}
	return cmds, err
}
