package redisstore

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Spam retention (moderation.SpamPurger). The candidates come from each shard's spam queue, whose
// score is the creation time: a comment is spam since its creation or a later decision, so every
// comment spam since before the cut-off was created before it, and the queue's head holds them
// oldest first. A candidate marked spam only lately (an old comment a moderator marked last week)
// is not due; purge.lua says so and the shard's cursor moves past it, so a run is not stuck behind
// such comments, and a shard read to its end starts again from its head the run after.
//
// Each comment goes in one purge.lua call on its shard's slot. Its label in the spam model and
// its outcome in the author's record live in other slots, so they are removed after it, by
// field (the counts they stand for stay), and the shard's "pf" zset lists the comment until they
// are: a server that stops in between leaves it listed, and the next run of any server finishes.
//
// They are removed purgeSettle after the comment, not at once. A call that read the comment just
// before purge.lua deleted it (a moderator marking it spam again, LearnPending, an erasure's
// Before) may still be on its way to teach it: while the label is there, that teaching is a
// repeat and changes nothing; had the label gone already, it would count the comment in the
// model and the author's record a second time and leave its label and outcome (or an erasure's
// "E") for good, with no comment left to take them away.

var _ moderation.SpamPurger = (*Store)(nil)

var (
	//go:embed purge.lua
	purgeSrc    string
	purgeScript = redis.NewScript(purgeSrc)
)

// purgeSettle is how long after deleting a comment PurgeSpam removes its label and outcome: longer
// than a call that read the comment before takes to teach it (each of its Redis calls ends within
// readTimeout, a few times over with the client's retries).
const purgeSettle = 10 * time.Minute

// purgeExamine bounds the candidates one PurgeSpam call gives to purge.lua, as a multiple of
// its limit: a shard whose head holds many comments not yet due costs a run this much at most.
const purgeExamine = 4

// PurgeSpam implements moderation.SpamPurger. It first finishes what earlier calls left of their
// purges (labels and outcomes still to forget, of comments deleted over purgeSettle ago), then reads up to limit candidates per shard from
// the shard's cursor in one pipelined exchange and runs purge.lua on them, oldest first, until
// limit are deleted or limit*purgeExamine were looked at. Every Redis call reads or deletes a
// bounded amount.
func (s *Store) PurgeSpam(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	cutoff := micros(before)
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()

	pipe := s.rdb.Pipeline()
	left := make([]*redis.StringSliceCmd, numShards)
	found := make([]*redis.ZSliceCmd, numShards)
	for shard := range numShards {
		left[shard] = pipe.ZRangeByScore(ctx, s.keys.purgedToForget(shard), &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(micros(time.Now().Add(-s.purgeSettle)), 10), Count: int64(limit),
		})
		from := s.purgeFrom[shard]
		if from == "" {
			from = "-inf"
		}
		found[shard] = pipe.ZRangeByScoreWithScores(ctx, s.keys.shardQueue(shard, comment.StateSpam), &redis.ZRangeBy{
			Min: from, Max: strconv.FormatInt(cutoff, 10), Count: int64(limit),
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, storeError("read spam to purge", err)
	}
	for shard, cmd := range left {
		for _, m := range cmd.Val() {
			if err := s.forgetPurged(ctx, shard, m); err != nil {
				return 0, err
			}
		}
	}

	type candidate struct {
		shard int
		id    string
		score float64
	}
	var cands []candidate
	for shard, cmd := range found {
		for _, z := range cmd.Val() {
			id, ok := z.Member.(string)
			if !ok {
				return 0, fmt.Errorf("redisstore: read spam to purge: %w: member of type %T", errCorrupt, z.Member)
			}
			cands = append(cands, candidate{shard, id, z.Score})
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(a.score, b.score) })

	next := s.purgeFrom
	unseen := [numShards]int{} // candidates of each shard not looked at
	for _, c := range cands {
		unseen[c.shard]++
	}
	purged := 0
	var err error
	for i, c := range cands {
		if purged == limit || i == limit*purgeExamine {
			break
		}
		var ok bool
		ok, err = s.purgeOne(ctx, c.shard, c.id, cutoff)
		if err != nil {
			break
		}
		if ok {
			purged++
		}
		// Past this one, whatever became of it: a comment not due now is looked at again once the
		// cursor has been round the queue.
		next[c.shard] = "(" + strconv.FormatFloat(c.score, 'f', -1, 64)
		unseen[c.shard]--
	}
	if err == nil {
		// A shard read to its end (fewer than asked) and wholly looked at starts again from its
		// head: comments not due then may be due now.
		for shard, cmd := range found {
			if len(cmd.Val()) < limit && unseen[shard] == 0 {
				next[shard] = ""
			}
		}
	}
	s.purgeFrom = next
	return purged, err
}

// purgeOne runs purge.lua on comment id of shard, which lists the comment among those whose label
// and outcome a later call forgets. It reports whether it deleted the comment: a comment another
// server's run deleted first (both read it as a candidate) is not counted here too. A resend of
// the call by the Redis client tells its own deletion by the call's random mark; the deletion's
// time, which an earlier version compared instead, is the same to the microsecond for two
// servers' calls often enough to count a comment twice in a run overlapping another.
func (s *Store) purgeOne(ctx context.Context, shard int, id string, cutoff int64) (bool, error) {
	k := s.keys
	keys := []string{k.record(shard, id)}
	for _, st := range queueStates {
		keys = append(keys, k.shardQueue(shard, st))
	}
	keys = append(keys, k.claim(shard, id), k.reportCounts(shard, id), k.reporters(shard, id), k.reportList(shard, id),
		k.unlearnt(shard), k.purgedToForget(shard), k.purgeMark(shard, newMarkID()))
	args := []any{id, cutoff, k.publishedBase(shard)}
	for _, st := range queueStates {
		args = append(args, k.threadQueueBase(shard, st))
	}
	args = append(args, k.moderatorClaimsBase(shard), micros(s.purgeClock()), purgeMarkTTL)
	res, err := purgeScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return false, storeError("purge spam comment "+id, err)
	}
	if len(res) == 0 {
		return false, fmt.Errorf("redisstore: purge spam comment %s: %w: empty reply", id, errCorrupt)
	}
	return res[0] == "purged", nil
}

// forgetPurged removes what a purged comment's entry in its shard's "pf" zset ("<id> <author
// key>") names: the comment's label in the site's spam model and its outcome in the author's
// record (the counts they stand for stay), then the entry. Each step is idempotent.
func (s *Store) forgetPurged(ctx context.Context, shard int, member string) error {
	id, author, _ := strings.Cut(member, " ")
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, s.keys.spamLabels(""), id)
		if author != "" {
			p.HDel(ctx, s.keys.authorOutcomes(author), id)
		}
		return nil
	})
	if err == nil {
		err = s.rdb.ZRem(ctx, s.keys.purgedToForget(shard), member).Err()
	}
	return storeError("forget the label and outcome of purged comment "+id, err)
}
