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
// *moderation.TransitionError naming its current state, and a comment that no longer has etag
// (when one is given) a *moderation.StaleError holding it.
func (s *Store) Decide(ctx context.Context, id string, a moderation.Action, d comment.Decision, allowedFrom []comment.State, etag string) (comment.Comment, error) {
	shard, ok := shardOfID(id)
	if !ok || !comment.ValidID(id) {
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %q: %w", id, comment.ErrNotFound)
	}
	if !d.To.Valid() {
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: invalid target state %v", id, d.To)
	}
	if !a.Audit().Valid() {
		return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: unknown action %v", id, a)
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
	scriptKeys = append(scriptKeys, k.audit(shard), k.claim(shard, id), k.reportCounts(shard, id), k.unlearnt(shard))
	args := []any{int(d.To), allowed.String(), d.Moderator, micros(d.At), d.Reason, k.publishedBase(shard)}
	for _, st := range queueStates {
		args = append(args, k.threadQueueBase(shard, st))
	}
	args = append(args, string(a.Audit()), counterLetter(a.Audit()), k.statsBase(shard), statsKeep, k.events(), k.moderatorClaimsBase(shard),
		moderation.DefaultLease.Milliseconds(), etag, k.thread(shard, ""))

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
					return comment.Comment{}, &moderation.TransitionError{ID: id, Action: a, From: st, To: d.To}
				}
			}
		}
	case "same", "ok", "stale":
		if len(rest) == 1 {
			c, err := decodeReplyRecord(rest[0])
			if err != nil {
				return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: %w", id, err)
			}
			if status == "stale" {
				return comment.Comment{}, &moderation.StaleError{ID: id, Action: a, Current: c}
			}
			return c, nil
		}
	}
	return comment.Comment{}, fmt.Errorf("redisstore: decide on comment %s: %w: reply %q", id, errCorrupt, status)
}

// ListQueue returns one page of comments matching q, oldest first, and the next page token.
//
// With a thread it reads that thread's queue in one round trip, like ListPublished. Without one
// it takes two: a pipeline runs the page script (ids and scores only) on all 16 shard queues, the
// ids are merged oldest first, and a second pipeline reads the page's records. A comment decided
// between the two round trips is left out, so such a page may be shorter than asked.
//
// The filters are applied in the page script, beside the data. When one needs the records
// (q.NeedsRecords), each index is scanned for at most moderation.MaxQueueScan entries per call
// (so at most 16 times that without a thread); a page that reaches the bound comes back short,
// even empty, with a next page token that resumes the scan where it stopped.
func (s *Store) ListQueue(ctx context.Context, q moderation.Query, p comment.Page) ([]comment.Comment, string, error) {
	if !slices.Contains(queueStates[:], q.State) {
		return nil, "", fmt.Errorf("redisstore: list queue: state %v has no queue", q.State)
	}
	query := queueQuery(q)
	after, err := decodeToken(p.Token, query)
	if err != nil {
		return nil, "", err
	}
	size := pageSize(p)
	scan := pageScan{after: after, limit: size + 1, q: q}
	if q.NeedsRecords() {
		scan.scanBound = moderation.MaxQueueScan
	}
	if q.ThreadID != "" {
		shard := shardOfThread(q.ThreadID)
		scan.recordBase, scan.withRecords = s.keys.recordBase(shard), true
		entries, horizon, err := s.runPageScan(ctx, s.keys.threadQueue(shard, q.State, q.ThreadID), scan)
		if err != nil {
			return nil, "", storeError("list queue", err)
		}
		entries, next := cutPage(entries, horizon, size, query)
		out := make([]comment.Comment, 0, len(entries))
		for _, e := range entries {
			c, err := decodeReplyRecord(e.rec)
			if err != nil {
				return nil, "", fmt.Errorf("redisstore: list queue: %w", err)
			}
			if q.Matches(c) {
				out = append(out, c)
			}
		}
		return out, next, nil
	}

	entries, horizon, err := s.shardScan(ctx, q.State, scan)
	if err != nil {
		return nil, "", storeError("list queue", err)
	}
	entries, next := cutPage(entries, horizon, size, query)
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
		// Checked again: the comment may have changed since the scan.
		if q.Matches(c) {
			out = append(out, c)
		}
	}
	return out, next, nil
}

// cutPage turns the matching entries of a scan, in order and all at or before horizon (nil when
// the scan saw the whole index), into one page of at most size entries and the next page token:
// after the page's last entry when there are more matches, else after the horizon when the scan
// stopped early, else none.
func cutPage(entries []entry, horizon *cursor, size int, query string) ([]entry, string) {
	switch {
	case len(entries) > size:
		return entries[:size], encodeToken(query, entries[size-1].cursor)
	case horizon != nil:
		return entries, encodeToken(query, *horizon)
	}
	return entries, ""
}

// shardScan runs one page scan on every shard's queue of a state (see scanShards).
func (s *Store) shardScan(ctx context.Context, st comment.State, scan pageScan) ([]entry, *cursor, error) {
	return s.scanShards(ctx, func(shard int) string { return s.keys.shardQueue(shard, st) }, scan)
}

// scanShards runs one page scan on an index of every shard, in one pipeline, and merges the
// results: the entries, in the scan's order ((score, id), reversed when scan.desc), up to the
// first horizon in that order of the shards that stopped early (beyond it a shard may hold
// entries not seen yet), and that horizon (nil when every shard was scanned to its end).
func (s *Store) scanShards(ctx context.Context, index func(shard int) string, scan pageScan) ([]entry, *cursor, error) {
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, numShards)
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for shard := range numShards {
				sc := scan
				if scan.q.NeedsRecords() {
					sc.recordBase = s.keys.recordBase(shard)
				}
				cmds[shard] = s.page.EvalSha(ctx, pl, []string{index(shard)}, sc.args()...)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && isNoScript(err) {
		// Script.Run's fallback to EVAL does not work inside a pipeline: reload and try once more.
		if err := s.loadScripts(ctx); err != nil {
			return nil, nil, err
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, nil, err
	}
	// before orders two positions as the scan reads them.
	before := func(a, b cursor) bool {
		if scan.desc {
			return b.less(a)
		}
		return a.less(b)
	}
	var (
		all     []entry
		horizon *cursor
	)
	for _, cmd := range cmds {
		es, h, err := parsePage(cmd.Val())
		if err != nil {
			return nil, nil, err
		}
		all = append(all, es...)
		if h != nil && (horizon == nil || before(*h, *horizon)) {
			horizon = h
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		switch {
		case before(a.cursor, b.cursor):
			return -1
		case before(b.cursor, a.cursor):
			return 1
		}
		return 0
	})
	if horizon != nil {
		n := 0
		for n < len(all) && !before(*horizon, all[n].cursor) {
			n++
		}
		all = all[:n]
	}
	return all, horizon, nil
}

// GetThread returns a thread's settings; a thread never configured has ModeDefault and is open
// unless closed by age.
// A thread whose auto-close period (Options.CloseThreadsAfter) has passed is reported closed,
// and closed by age unless a moderator closed it.
func (s *Store) GetThread(ctx context.Context, threadID string) (comment.Thread, error) {
	vals, err := s.rdb.HMGet(ctx, s.keys.thread(shardOfThread(threadID), threadID), tfMode, tfClosed, tfFirst).Result()
	if err != nil {
		return comment.Thread{}, storeError("get thread", err)
	}
	return s.decodeThread(threadID, vals)
}

// UpdateThread sets the fields given (nil means unchanged) and returns the thread as it was just
// before the change and as it is after it, both read in the change's atomic step. One script,
// thread_update.lua, reads the thread, decides what to write and writes it, in one atomic step
// and one round trip, so no other update can come between the reading and the writing, and the
// rules below are written once, there. Settings back at their defaults are deleted rather than
// stored.
//
// Reopening a thread (closed false) with auto-close on also starts a new auto-close period, so
// a moderator can reopen a thread that closed by age. Only a thread closed now is reopened:
// closed false on an open thread (a mode change that sends both fields, say) leaves its period
// running from its first comment, as create.lua started it. A thread closed before its first
// comment (spam aside) has no period yet, and reopening it starts none: its first comment does.
//
// Closing a thread closed by age (closed true) changes nothing: it is what a client that read
// the thread writes back with another mode, and storing it would turn the age's close into a
// moderator's, which no change of the period undoes.
//
// Without an etag the update is unconditional. With one it is made only while the thread still
// has it (the script checks it in the same step); a thread that no longer has it gives a
// *moderation.StaleThreadError holding it, and nothing changes. An update that changes nothing
// succeeds whatever the etag, which makes a resent call safe: go-redis may run the script twice,
// and the second run finds the thread as the first left it. The first run leaves the thread as it
// found it under a mark of this call, which the second returns as before, so what the call
// changed is told right however often it ran.
//
// A change is recorded in the audit log in the name of moderator, and counted among their other
// actions of the day, in the same atomic step (thread_update.lua says why); an empty moderator
// records nothing.
func (s *Store) UpdateThread(ctx context.Context, moderator, threadID string, mode *comment.Mode, closed *bool, etag string) (before, after comment.Thread, err error) {
	if mode != nil && (*mode < comment.ModeDefault || *mode > comment.ModePost) {
		return comment.Thread{}, comment.Thread{}, fmt.Errorf("redisstore: update thread: invalid mode %v", *mode)
	}
	var modeArg, closedArg string
	if mode != nil {
		modeArg = strconv.Itoa(int(*mode))
	}
	if closed != nil {
		closedArg = "0"
		if *closed {
			closedArg = "1"
		}
	}
	shard := shardOfThread(threadID)
	// One clock for both readings, so the age test cannot tell them apart by the moment it ran.
	now := time.Now()
	keys := []string{s.keys.thread(shard, threadID), s.keys.threadList(shard), s.keys.threadUpdateMark(shard, newMarkID())}
	args := []any{modeArg, closedArg, micros(now), s.closeAfter.Microseconds(), etag, threadID, auditMarkTTL, moderator, "", 0}
	if moderator != "" {
		// The thread's audit stream and counters are on its shard, so in its hash slot.
		day := dayOf(now)
		keys = append(keys, s.keys.audit(shard), s.keys.stats(shard, day))
		if !moderation.IsServer(moderator) {
			args[8], args[9] = moderatorField(moderator, counterLetter(moderation.AuditUpdateThread)), dayEnd(day).Add(statsKeep*time.Second).Unix()
		}
	}
	reply, err := s.threadUpdate.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return comment.Thread{}, comment.Thread{}, storeError("update thread "+threadID, err)
	}
	status, vals, err := splitReply(reply)
	if err != nil {
		return comment.Thread{}, comment.Thread{}, fmt.Errorf("redisstore: update thread %s: %w", threadID, err)
	}
	if (status != "ok" && status != "stale") || len(vals) != 6 {
		return comment.Thread{}, comment.Thread{}, fmt.Errorf("redisstore: update thread %s: %w: reply %q of %d values", threadID, errCorrupt, status, len(vals))
	}
	if after, err = s.decodeThreadAt(threadID, vals[:3], now); err != nil {
		return comment.Thread{}, comment.Thread{}, err
	}
	if before, err = s.decodeThreadAt(threadID, vals[3:], now); err != nil {
		return comment.Thread{}, comment.Thread{}, err
	}
	if status == "stale" {
		return comment.Thread{}, comment.Thread{}, &moderation.StaleThreadError{ID: threadID, Current: after}
	}
	return before, after, nil
}

// decodeThread reads the thread settings hash's mode, closed and first fields.
func (s *Store) decodeThread(threadID string, vals []any) (comment.Thread, error) {
	return s.decodeThreadAt(threadID, vals, time.Now())
}

// decodeThreadAt is decodeThread with the auto-close period judged at now.
func (s *Store) decodeThreadAt(threadID string, vals []any, now time.Time) (comment.Thread, error) {
	t := comment.Thread{ID: threadID}
	if len(vals) != 3 {
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
	if first, ok := vals[2].(string); ok && first != "" && s.closeAfter > 0 {
		start, err := fromMicros(first)
		if err != nil {
			return comment.Thread{}, fmt.Errorf("redisstore: thread %s: %w", threadID, err)
		}
		t.AutoCloseAt = start.Add(s.closeAfter)
		// The same test as create.lua's, which refuses the comments.
		if !t.Closed && now.Sub(start) >= s.closeAfter {
			t.Closed, t.ClosedByAge = true, true
		}
	}
	return t, nil
}
