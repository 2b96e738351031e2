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

// Decide moves comment id to d.To and records d, in one atomic script (see decide.lua); it
// follows the contract of moderation.Store.Decide. A comment not in allowedFrom gives a
// *moderation.TransitionError naming its current state.
func (s *Store) Decide(ctx context.Context, id string, d comment.Decision, allowedFrom []comment.State) (comment.Comment, error) {
	shard, ok := shardOfID(id)
	if !ok || !comment.ValidID(id) {
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %q: %w", id, comment.ErrNotFound)
	}
	if !d.To.Valid() {
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: invalid target state %v", id, d.To)
	}
	if d.At.IsZero() {
		d.At = time.Now()
	}
	var allowed strings.Builder
	allowed.WriteByte(',')
	for _, st := range allowedFrom {
		allowed.WriteString(strconv.Itoa(int(st)))
		allowed.WriteByte(',')
	}

	k := s.keys
	scriptKeys := []string{k.record(shard, id)}
	for _, st := range queueStates {
		scriptKeys = append(scriptKeys, k.shardQueue(shard, st))
	}
	args := []any{int(d.To), allowed.String(), d.Moderator, micros(d.At), d.Reason, k.publishedBase(shard)}
	for _, st := range queueStates {
		args = append(args, k.threadQueueBase(shard, st))
	}

	reply, err := s.decide.Run(ctx, s.rdb, scriptKeys, args...).Slice()
	if err != nil {
		return comment.Comment{}, storeError("decide on comment "+id, err)
	}
	status, rest, err := splitReply(reply)
	if err != nil {
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: %w", id, err)
	}
	switch status {
	case "missing":
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: %w", id, comment.ErrNotFound)
	case "denied":
		if len(rest) == 1 {
			if from, ok := rest[0].(string); ok {
				if st, err := parseState(from); err == nil {
					return comment.Comment{}, &moderation.TransitionError{ID: id, From: st, To: d.To}
				}
			}
		}
	case "same", "ok":
		if len(rest) == 1 {
			c, err := decodeReplyRecord(rest[0])
			if err != nil {
				return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: %w", id, err)
			}
			return c, nil
		}
	}
	return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: %w: reply %q", id, errCorrupt, status)
}

// ListQueue returns one page of comments in q.State, oldest first, and the next page token.
//
// With a thread it reads that thread's queue in one round trip, like ListPublished. Without one
// it takes two: a pipeline runs the page script (ids and scores only) on all 16 shard queues, the
// ids are merged oldest first, and a second pipeline reads the page's records. A comment decided
// between the two round trips is left out, so such a page may be shorter than asked.
func (s *Store) ListQueue(ctx context.Context, q moderation.Query, p comment.Page) ([]comment.Comment, string, error) {
	if !slices.Contains(queueStates[:], q.State) {
		return nil, "", fmt.Errorf("redisstore: list queue: state %v has no queue", q.State)
	}
	query := queueQuery(q.State, q.ThreadID)
	after, err := decodeToken(p.Token, query)
	if err != nil {
		return nil, "", err
	}
	size := pageSize(p)
	if q.ThreadID != "" {
		shard := shardOfThread(q.ThreadID)
		entries, err := s.runPage(ctx, s.keys.threadQueue(shard, q.State, q.ThreadID), after, size+1, s.keys.recordBase(shard))
		if err != nil {
			return nil, "", storeError("list queue", err)
		}
		cs, next, err := finishPage(entries, size, query)
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: list queue: %w", err)
		}
		return cs, next, nil
	}

	entries, err := s.shardHeads(ctx, q.State, after, size+1)
	if err != nil {
		return nil, "", storeError("list queue", err)
	}
	next := ""
	if len(entries) > size {
		entries = entries[:size]
		next = encodeToken(query, entries[size-1].cursor)
	}
	cmds := make([]*redis.MapStringStringCmd, len(entries))
	if len(entries) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, e := range entries {
				shard, _ := shardOfID(e.id)
				cmds[i] = pl.HGetAll(ctx, s.keys.record(shard, e.id))
			}
			return nil
		})
		if err != nil {
			return nil, "", storeError("list queue", err)
		}
	}
	out := make([]comment.Comment, 0, len(entries))
	for _, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue
		}
		c, err := decodeRecord(cmd.Val())
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: list queue: %w", err)
		}
		if c.State == q.State {
			out = append(out, c)
		}
	}
	return out, next, nil
}

// shardHeads returns the first limit entries after the cursor of the union of all shard queues of
// a state, in (score, id) order: each shard gives its own first limit, in one pipeline.
func (s *Store) shardHeads(ctx context.Context, st comment.State, after *cursor, limit int) ([]entry, error) {
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, numShards)
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for shard := range numShards {
				cmds[shard] = s.page.EvalSha(ctx, pl, []string{s.keys.shardQueue(shard, st)}, pageArgs(after, limit, "")...)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && isNoScript(err) {
		// Script.Run's fallback to EVAL does not work inside a pipeline: reload and try once more.
		if err := s.loadScripts(ctx); err != nil {
			return nil, err
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, err
	}
	var all []entry
	for _, cmd := range cmds {
		es, err := parsePage(cmd.Val())
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	slices.SortFunc(all, func(a, b entry) int {
		switch {
		case a.less(b.cursor):
			return -1
		case b.less(a.cursor):
			return 1
		}
		return 0
	})
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// GetThread returns a thread's settings; a thread never configured has ModeDefault and is open.
func (s *Store) GetThread(ctx context.Context, threadID string) (comment.Thread, error) {
	vals, err := s.rdb.HMGet(ctx, s.keys.thread(shardOfThread(threadID), threadID), tfMode, tfClosed).Result()
	if err != nil {
		return comment.Thread{}, storeError("get thread", err)
	}
	return decodeThread(threadID, vals)
}

// UpdateThread sets the fields given (nil means unchanged) and returns the thread, in one
// MULTI/EXEC round trip. Settings back at their defaults are deleted rather than stored.
func (s *Store) UpdateThread(ctx context.Context, threadID string, mode *comment.Mode, closed *bool) (comment.Thread, error) {
	if mode != nil && (*mode < comment.ModeDefault || *mode > comment.ModePost) {
		return comment.Thread{}, fmt.Errorf("redisstore: update thread: invalid mode %v", *mode)
	}
	key := s.keys.thread(shardOfThread(threadID), threadID)
	var get *redis.SliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		switch {
		case mode == nil:
		case *mode == comment.ModeDefault:
			pl.HDel(ctx, key, tfMode)
		default:
			pl.HSet(ctx, key, tfMode, int(*mode))
		}
		switch {
		case closed == nil:
		case *closed:
			pl.HSet(ctx, key, tfClosed, "1")
		default:
			pl.HDel(ctx, key, tfClosed)
		}
		get = pl.HMGet(ctx, key, tfMode, tfClosed)
		return nil
	})
	if err != nil {
		return comment.Thread{}, storeError("update thread", err)
	}
	return decodeThread(threadID, get.Val())
}

func decodeThread(threadID string, vals []any) (comment.Thread, error) {
	t := comment.Thread{ID: threadID}
	if len(vals) != 2 {
		return comment.Thread{}, fmt.Errorf("redisstore: thread %s: %w", threadID, errCorrupt)
	}
	if m, ok := vals[0].(string); ok {
		n, err := strconv.Atoi(m)
		if err != nil || n < int(comment.ModeDefault) || n > int(comment.ModePost) {
			return comment.Thread{}, fmt.Errorf("redisstore: thread %s: %w: mode %q", threadID, errCorrupt, m)
		}
		t.Mode = comment.Mode(n)
	}
	t.Closed = vals[1] == "1"
	return t, nil
}
