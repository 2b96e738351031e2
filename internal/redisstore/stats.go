package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Statistics (moderation.StatsSource). Queue depths are the sizes of the shard queues. Daily
// figures are hash counters per shard (and one set each for bans, word-list entries and other
// actions on nothing sharded) per UTC day, incremented by the scripts that make the changes:
// create.lua counts submissions and spam verdicts, decide.lua decisions and later spam verdicts,
// thread_update.lua and the bans and word-list scripts their changes, AppendAudit other actions. A day is
// numbered in days since 1970-01-01 UTC (the scripts compute it from µs times the same way).

var _ moderation.StatsSource = (*Store)(nil)

const microsPerDay = 24 * 60 * 60 * 1_000_000

// dayOf returns the day number of t.
func dayOf(t time.Time) int64 {
	us := t.UnixMicro()
	d := us / microsPerDay
	if us < 0 && us%microsPerDay != 0 {
		d-- // floor, as the scripts' math.floor
	}
	return d
}

// dayStart returns midnight UTC of a day number; dayEnd the next midnight.
func dayStart(day int64) time.Time { return time.Unix(day*24*60*60, 0).UTC() }

func dayEnd(day int64) time.Time { return dayStart(day + 1) }

// counterLetter is the letter a moderator's action counts under: approve, reject, mark spam, or
// other for everything else.
func counterLetter(a moderation.AuditAction) string {
	switch a {
	case moderation.AuditApprove:
		return "a"
	case moderation.AuditReject:
		return "r"
	case moderation.AuditMarkSpam:
		return "s"
	}
	return "o"
}

// moderatorField is the counter field of a moderator's actions of one kind.
func moderatorField(moderator, letter string) string { return "d:" + moderator + ":" + letter }

// Stats implements moderation.StatsSource in one pipeline: a ZCARD per shard queue and an
// HGETALL per counter hash and day (at most auditStreams × 90 of them).
func (s *Store) Stats(ctx context.Context, first time.Time, days int) (moderation.Stats, error) {
	if days < 1 || days > moderation.MaxStatsDays {
		return moderation.Stats{}, fmt.Errorf("redisstore: stats: %d days: want 1 to %d", days, moderation.MaxStatsDays)
	}
	firstDay := dayOf(first)
	depth := make([][]*redis.IntCmd, len(queueStates))
	counters := make([][]*redis.MapStringStringCmd, days)
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, st := range queueStates {
			for shard := range numShards {
				depth[i] = append(depth[i], pl.ZCard(ctx, s.keys.shardQueue(shard, st)))
			}
		}
		for d := range days {
			for stream := range auditStreams {
				counters[d] = append(counters[d], pl.HGetAll(ctx, s.keys.stats(stream, firstDay+int64(d))))
			}
		}
		return nil
	})
	if err != nil {
		return moderation.Stats{}, storeError("read stats", err)
	}

	var out moderation.Stats
	for i, st := range queueStates {
		c := moderation.StateCount{State: st}
		for _, cmd := range depth[i] {
			c.Count += cmd.Val()
		}
		out.Queue = append(out.Queue, c)
	}
	mods := map[string]*moderation.ModeratorStats{}
	for d := range days {
		day := moderation.DayStats{Day: dayStart(firstDay + int64(d))}
		for _, cmd := range counters[d] {
			for field, v := range cmd.Val() {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return moderation.Stats{}, fmt.Errorf("redisstore: read stats: %w: counter %s = %q", errCorrupt, field, v)
				}
				switch field {
				case "sub":
					day.Submitted += n
				case "spam":
					day.Spam += n
				default:
					countModerator(mods, field, n)
				}
			}
		}
		out.Days = append(out.Days, day)
	}
	for _, m := range mods {
		out.Moderators = append(out.Moderators, *m)
	}
	slices.SortFunc(out.Moderators, func(a, b moderation.ModeratorStats) int { return strings.Compare(a.Moderator, b.Moderator) })
	return out, nil
}

// countModerator adds n to the moderator counter named by field, "d:<moderator>:<letter>".
// Fields of another form are not ours and are left out.
func countModerator(mods map[string]*moderation.ModeratorStats, field string, n int64) {
	rest, ok := strings.CutPrefix(field, "d:")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 {
		return
	}
	name, letter := rest[:i], rest[i+1:]
	m := mods[name]
	if m == nil {
		m = &moderation.ModeratorStats{Moderator: name}
		mods[name] = m
	}
	switch letter {
	case "a":
		m.Approved += n
	case "r":
		m.Rejected += n
	case "s":
		m.MarkedSpam += n
	default:
		m.Other += n
	}
}

// HeldQueue is the moderation queue at one moment: the comments held for a moderator.
type HeldQueue struct {
	Comments int64
	// Oldest is when the longest-waiting of them was submitted (a comment reported into the queue,
	// or reopened, keeps its submission time, as ListQueue orders it); zero when the queue is empty.
	Oldest time.Time
}

// HeldQueue reads the size of the moderation queue and its oldest comment, for the metrics: one
// pipeline of a ZCARD and a ZRANGE of the first member per shard queue of held comments.
func (s *Store) HeldQueue(ctx context.Context) (HeldQueue, error) {
	var sizes []*redis.IntCmd
	var firsts []*redis.ZSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for shard := range numShards {
			k := s.keys.shardQueue(shard, comment.StatePending)
			sizes = append(sizes, pl.ZCard(ctx, k))
			firsts = append(firsts, pl.ZRangeWithScores(ctx, k, 0, 0))
		}
		return nil
	})
	if err != nil {
		return HeldQueue{}, storeError("read the held queue", err)
	}
	var q HeldQueue
	oldest := int64(-1)
	for i := range sizes {
		q.Comments += sizes[i].Val()
		for _, z := range firsts[i].Val() {
			if us := int64(z.Score); oldest < 0 || us < oldest {
				oldest = us
			}
		}
	}
	if oldest >= 0 {
		q.Oldest = time.UnixMicro(oldest)
	}
	return q, nil
}
