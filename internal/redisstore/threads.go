package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

//go:embed threads_backfill.lua
var threadsBackfillSrc string

var threadsBackfillScript = redis.NewScript(threadsBackfillSrc)

// threadsQuery is the query a ListThreads page token belongs to: the filter, so a token of one
// filter is refused by another.
func threadsQuery(f moderation.ThreadFilter) string {
	closed := ""
	if f.Closed != nil {
		closed = strconv.FormatBool(*f.Closed)
	}
	return fmt.Sprintf("threads?m=%d&c=%s", int(f.Mode), closed)
}

// ListThreads returns one page of the threads with settings of their own, most recently changed
// first (moderation.ThreadLister). It takes two round trips, like ListQueue without a thread: a
// pipeline runs the page script (ids and scores only, newest first) on the 16 shards' thread
// indexes and the ids are merged, then a second pipeline reads the page's settings. A thread put
// back at its defaults between the two is left out, and the filter is applied to the settings
// read, so such a page may be shorter than asked.
func (s *Store) ListThreads(ctx context.Context, f moderation.ThreadFilter, p comment.Page) ([]moderation.ListedThread, string, error) {
	query := threadsQuery(f)
	after, err := decodeTokenOf(p.Token, query, comment.ValidThreadID)
	if err != nil {
		return nil, "", err
	}
	size := pageSize(p)
	scan := pageScan{after: after, limit: size + 1, desc: true}
	entries, horizon, err := s.scanShards(ctx, s.keys.threadList, scan)
	if err != nil {
		return nil, "", storeError("list threads", err)
	}
	entries, next := cutPage(entries, horizon, size, query)
	cmds := make([]*redis.SliceCmd, len(entries))
	if len(entries) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, e := range entries {
				cmds[i] = pl.HMGet(ctx, s.keys.thread(shardOfThread(e.id), e.id), tfMode, tfClosed, tfFirst)
			}
			return nil
		})
		if err != nil {
			return nil, "", storeError("list threads", err)
		}
	}
	out := make([]moderation.ListedThread, 0, len(entries))
	for i, cmd := range cmds {
		vals := cmd.Val()
		if len(vals) == 3 && vals[0] == nil && vals[1] == nil {
			continue // back at its defaults since the scan
		}
		t, err := s.decodeThread(entries[i].id, vals)
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: list threads: %w", err)
		}
		if !f.Matches(t) {
			continue
		}
		lt := moderation.ListedThread{Thread: t}
		if sc := entries[i].score; sc > 0 {
			lt.Changed = time.UnixMicro(sc).UTC()
		}
		out = append(out, lt)
	}
	return out, next, nil
}

// ThreadIndexOptions pace IndexThreads.
type ThreadIndexOptions struct {
	Batch       int           // SCAN COUNT; 0: defaultScanBatch
	Pause       time.Duration // wait after each SCAN call, so the walk never hogs Redis
	CallTimeout time.Duration // bound of each Redis call; 0: none of its own
}

// ThreadIndexReport says what a run of IndexThreads did.
type ThreadIndexReport struct {
	Scanned int // thread settings keys looked at
	Added   int // threads added to the index (configured before it existed)
}

// IndexThreads adds to the thread index (ListThreads) the threads configured before it existed:
// a SCAN over every thread settings key, on the one server or on each master of a Cluster in
// turn, and for each one with a mode of its own or a moderator's close, threads_backfill.lua,
// which adds it with score 0 (changed at a time not known) unless it is there already. It is safe
// to run at any time and any number of times, beside updates. On a Cluster whose comment shard
// moves between masters before or during the walk, it returns comment.ErrUnavailable once the walk
// is done: a thread of that shard may have been out of its sight, and commentd runs it only at
// start, so it must run again once the slot has settled rather than leave the list short.
func (s *Store) IndexThreads(ctx context.Context, opts ThreadIndexOptions) (ThreadIndexReport, error) {
	var rep ThreadIndexReport
	err := s.walkShardKeys(ctx, s.keys.threadPattern(), opts.Batch, opts.CallTimeout, opts.Pause, "scan thread settings", func(ctx context.Context, keys []string) error {
		rep.Scanned += len(keys)
		added, err := s.indexThreadKeys(ctx, opts.CallTimeout, keys)
		rep.Added += added
		return err
	})
	return rep, err
}

// indexThreadKeys runs threads_backfill.lua on each thread settings key of keys, in one
// pipeline (EVAL, not EVALSHA: a pipeline cannot fall back, and the walk runs once per start).
func (s *Store) indexThreadKeys(ctx context.Context, timeout time.Duration, keys []string) (int, error) {
	var cmds []*redis.Cmd
	ctx, cancel := callContext(ctx, timeout)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for _, k := range keys {
			shard, id, ok := s.keys.threadOfKey(k)
			if !ok {
				continue
			}
			cmds = append(cmds, threadsBackfillScript.Eval(ctx, pl, []string{k, s.keys.threadList(shard)}, id))
		}
		return nil
	})
	if err != nil {
		return 0, storeError("index threads", err)
	}
	added := 0
	for _, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			added++
		}
	}
	return added, nil
}
