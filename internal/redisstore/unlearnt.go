package redisstore

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/moderation"
)

// Decisions not yet learnt (moderation.LearnQueue): decide.lua lists a decided comment in its
// shard's "ul" set in the decision's own step, and MarkLearnt takes it off once the spam model and
// the author's record learnt from it, so a crash between the two leaves a trace to finish from.

var _ moderation.LearnQueue = (*Store)(nil)

var (
	//go:embed unlearnt_done.lua
	unlearntDoneSrc    string
	unlearntDoneScript = redis.NewScript(unlearntDoneSrc)
)

// UnlearntDecisions returns up to limit of the decisions made before before and not yet learnt,
// oldest first, from every shard (one pipelined exchange).
func (s *Store) UnlearntDecisions(ctx context.Context, before time.Time, limit int) ([]moderation.Unlearnt, error) {
	if limit <= 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, numShards)
	for shard := range numShards {
		cmds[shard] = pipe.ZRangeByScoreWithScores(ctx, s.keys.unlearnt(shard), &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(micros(before), 10), Count: int64(limit),
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storeError("read decisions not yet learnt", err)
	}
	var out []moderation.Unlearnt
	for _, cmd := range cmds {
		for _, z := range cmd.Val() {
			id, ok := z.Member.(string)
			if !ok {
				return nil, fmt.Errorf("redisstore: read decisions not yet learnt: %w: member of type %T", errCorrupt, z.Member)
			}
			out = append(out, moderation.Unlearnt{ID: id, At: time.UnixMicro(int64(z.Score)).UTC()})
		}
	}
	slices.SortFunc(out, func(a, b moderation.Unlearnt) int { return cmp.Compare(a.At.UnixMicro(), b.At.UnixMicro()) })
	return out[:min(len(out), limit)], nil
}

// MarkLearnt takes the decision on id made at at off the decisions not yet learnt, unless a later
// decision replaced it. An id of no shard is ignored.
func (s *Store) MarkLearnt(ctx context.Context, id string, at time.Time) error {
	return s.unlearntDone(ctx, id, at, "")
}

// PostponeLearning moves the entry of id read as at (the decision's time, or a time it was
// postponed to) to until, unless a later decision replaced it: UnlearntDecisions returns it again
// from then on.
func (s *Store) PostponeLearning(ctx context.Context, id string, at, until time.Time) error {
	return s.unlearntDone(ctx, id, at, strconv.FormatInt(micros(until), 10))
}

func (s *Store) unlearntDone(ctx context.Context, id string, at time.Time, postpone string) error {
	shard, ok := shardOfID(id)
	if !ok {
		return nil
	}
	if err := unlearntDoneScript.Run(ctx, s.rdb, []string{s.keys.unlearnt(shard)}, id, micros(at), postpone).Err(); err != nil {
		return storeError("mark decision on "+id+" learnt", err)
	}
	return nil
}
