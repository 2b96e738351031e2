package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
)

// preModerationMessage is the reason shown to moderators for a comment held by pre-moderation.
const preModerationMessage = "held for review: the thread is pre-moderated"

// NewID returns a fresh comment id for a comment of threadID: two decimal digits naming the
// thread's shard, 14 hex digits of the current unix time in microseconds (so ids of a shard sort
// roughly by time), and 10 random hex digits. 26 characters, all in comment.ValidID's alphabet.
func (s *Store) NewID(threadID string) string {
	var r [5]byte
	rand.Read(r[:]) // never fails (crypto/rand panics itself on the platforms where it could)
	return newID(shardOfThread(threadID), time.Now().UnixMicro(), r)
}

// newID spells an id as fmt.Sprintf("%02d%014x%s", shard, micros, hex of r) would, written into
// one buffer: one allocation where Sprintf and the hex string took three, on every submission.
// Values Sprintf would spell otherwise (negative, or a shard beyond two digits) go through it.
func newID(shard int, micros int64, r [5]byte) string {
	if shard < 0 || shard > 99 || micros < 0 {
		return fmt.Sprintf("%02d%014x%s", shard, micros, hex.EncodeToString(r[:]))
	}
	var a [40]byte
	b := append(a[:0], byte('0'+shard/10), byte('0'+shard%10))
	var h [16]byte
	digits := strconv.AppendInt(h[:0], micros, 16)
	for range 14 - len(digits) {
		b = append(b, '0')
	}
	b = append(b, digits...)
	b = hex.AppendEncode(b, r[:])
	return string(b)
}

// Create stores c in one atomic script (see create.lua); it follows the contract of
// comment.Store.Create. c.ID must come from NewID for c.ThreadID. A closed thread refuses it
// with a *comment.ClosedError saying whether a moderator or its age closed it.
//
// created is true when this call stored the comment, including when go-redis resent the script
// after a lost reply and the first run had stored it; it is false when the request id was seen
// before, with the same fingerprint, and the earlier comment is returned. The request id seen with
// another fingerprint is comment.ErrRequestReused, and nothing is written.
func (s *Store) Create(ctx context.Context, c comment.Comment, opts comment.CreateOptions) (comment.Comment, bool, error) {
	if !comment.ValidThreadID(c.ThreadID) {
		return comment.Comment{}, false, fmt.Errorf("redisstore: create: invalid thread id %q", c.ThreadID)
	}
	shard := shardOfThread(c.ThreadID)
	if idShard, ok := shardOfID(c.ID); !ok || idShard != shard || !comment.ValidID(c.ID) {
		return comment.Comment{}, false, fmt.Errorf("redisstore: create: comment id %q was not made by NewID for thread %q", c.ID, c.ThreadID)
	}
	if !c.State.Valid() {
		return comment.Comment{}, false, fmt.Errorf("redisstore: create: comment %s has invalid state %v", c.ID, c.State)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	published := ""
	if c.State == comment.StatePublished {
		if c.PublishedAt.IsZero() {
			c.PublishedAt = c.CreatedAt
		}
		published = strconv.FormatInt(micros(c.PublishedAt), 10)
	}
	mode := opts.DefaultMode
	if mode == comment.ModeDefault {
		mode = comment.ModePost
	}
	fingerprint := ""
	if opts.RequestID != "" {
		fingerprint = requestFingerprint(opts.Fingerprint)
	}
	// An empty pre-moderation hold tells the script not to hold the comment (see create.lua).
	preHoldField := ""
	if !opts.SkipPreModeration {
		preHoldField = preModerationHold(c.HoldReasons)
	}

	k := s.keys
	scriptKeys := []string{
		k.record(shard, c.ID),
		k.thread(shard, c.ThreadID),
		k.record(shard, c.ParentID),
		k.request(shard, c.ThreadID, opts.RequestID),
		k.published(shard, c.ThreadID),
	}
	for _, st := range queueStates {
		scriptKeys = append(scriptKeys, k.threadQueue(shard, st, c.ThreadID))
	}
	for _, st := range queueStates {
		scriptKeys = append(scriptKeys, k.shardQueue(shard, st))
	}
	scriptKeys = append(scriptKeys, k.requestFingerprint(shard, c.ThreadID, opts.RequestID))
	// The strings go in as pointers into one array, which go-redis writes as the strings (see
	// evalShaCmd); args has room for every argument create.lua takes.
	strs := [...]string{c.ThreadID, c.ParentID, fingerprint, published, encodeHold(c.HoldReasons), preHoldField, c.ID}
	args := make([]any, 0, 17+2*recordFieldCount)
	args = append(args,
		&strs[0], &strs[1], &strs[2], requestTTL, int(mode),
		int(c.State), &strs[3], &strs[4], &strs[5],
		micros(c.CreatedAt), &strs[6],
	)
	args = append(args, s.workflowArgs[shard]...)
	args = append(args, flag(opts.ResendOnly))
	args = append(args, recordFields(c)...)

	cmd := evalShaCmd(ctx, s.create, scriptKeys, args...)
	if err := s.batch.do(ctx, cmd); err != nil {
		// The context ended: cmd still belongs to the exchange, and the outcome is unknown.
		return comment.Comment{}, false, storeError("create comment", err)
	}
	if isNoScript(cmd.Err()) {
		// Redis lost its script cache (restart, failover): send the source, which loads it.
		cmd = s.create.Eval(ctx, s.rdb, scriptKeys, args...)
	}
	reply, err := cmd.Slice()
	if err != nil {
		return comment.Comment{}, false, storeError("create comment", err)
	}
	status, rest, err := splitReply(reply)
	if err != nil {
		return comment.Comment{}, false, fmt.Errorf("redisstore: create comment: %w", err)
	}
	switch status {
	case "closed":
		if len(rest) != 1 || (rest[0] != "age" && rest[0] != "moderator") {
			return comment.Comment{}, false, fmt.Errorf("redisstore: create comment: %w: closed reply", errCorrupt)
		}
		return comment.Comment{}, false, &comment.ClosedError{ByAge: rest[0] == "age"}
	case "no_parent":
		return comment.Comment{}, false, comment.ErrParentNotFound
	case "parent_unpublished":
		return comment.Comment{}, false, comment.ErrParentNotPublished
	case "too_deep":
		return comment.Comment{}, false, &comment.DepthError{Max: s.maxDepth}
	case "reused":
		return comment.Comment{}, false, comment.ErrRequestReused
	case "in_progress":
		return comment.Comment{}, false, comment.ErrRequestInProgress
	case "new":
		stored, err := newRecord(c, rest)
		if err != nil {
			return comment.Comment{}, false, fmt.Errorf("redisstore: create comment: %w", err)
		}
		return stored, true, nil
	case "own", "dup":
		if len(rest) != 1 {
			return comment.Comment{}, false, fmt.Errorf("redisstore: create comment: %w: reply", errCorrupt)
		}
		stored, err := decodeReplyRecord(rest[0])
		if err != nil {
			return comment.Comment{}, false, fmt.Errorf("redisstore: create comment: %w", err)
		}
		return stored, status != "dup", nil
	}
	return comment.Comment{}, false, fmt.Errorf("redisstore: create comment: %w: status %q", errCorrupt, status)
}

var _ spam.Threads = (*Store)(nil)

// CheckThread implements spam.Threads: what Create would refuse now about a comment of threadID
// replying to parentID ("" for none), by the same tests as create.lua's (a closed thread is a
// *comment.ClosedError, as from Create), read in one round trip
// (the thread's settings and the parent's record are in the thread's shard) and writing nothing.
func (s *Store) CheckThread(ctx context.Context, threadID, parentID string) error {
	if !comment.ValidThreadID(threadID) {
		return fmt.Errorf("redisstore: check thread: invalid thread id %q", threadID)
	}
	shard := shardOfThread(threadID)
	var settings, parent *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		settings = p.HMGet(ctx, s.keys.thread(shard, threadID), tfMode, tfClosed, tfFirst)
		if parentID != "" {
			parent = p.HMGet(ctx, s.keys.record(shard, parentID), fThread, fState, fDepth, fParent)
		}
		return nil
	})
	if err != nil {
		return storeError("check thread", err)
	}
	t, err := s.decodeThread(threadID, settings.Val())
	switch {
	case err != nil:
		return err
	case t.Closed:
		return &comment.ClosedError{ByAge: t.ClosedByAge}
	case parentID == "":
		return nil
	}
	// The parent's key is named by the thread's shard, as create.lua names it: a parent of
	// another shard, so of another thread, is not found.
	p := parent.Val()
	if len(p) != 4 || p[0] != threadID {
		return comment.ErrParentNotFound
	}
	if p[1] != strconv.Itoa(int(comment.StatePublished)) {
		return comment.ErrParentNotPublished
	}
	if s.maxDepth > 0 && replyDepth(p[2], p[3]) > s.maxDepth {
		return &comment.DepthError{Max: s.maxDepth}
	}
	return nil
}

// replyDepth is the depth of a reply to a parent whose record holds depth and parent (each a
// string, or nil when absent), as create.lua reckons it: a parent stored before records kept
// their depth is at depth 1 if it is a reply, 0 if not.
func replyDepth(depth, parent any) int {
	if d, ok := depth.(string); ok {
		if n, err := strconv.Atoi(d); err == nil {
			return n + 1
		}
	}
	if parent != nil {
		return 2
	}
	return 1
}

// preModerationHoldOnly is preModerationHold(nil), the hold of most comments a pre-moderated
// thread holds, encoded once.
var preModerationHoldOnly = encodeHold([]comment.Reason{{Code: comment.ReasonPreModeration, Message: preModerationMessage}})

// preModerationHold is the hold field create.lua writes when pre-moderation holds a comment: the
// comment's own hold reasons, if any, then pre-moderation's.
func preModerationHold(reasons []comment.Reason) string {
	if len(reasons) == 0 {
		return preModerationHoldOnly
	}
	preHold := append(append([]comment.Reason(nil), reasons...),
		comment.Reason{Code: comment.ReasonPreModeration, Message: preModerationMessage})
	return encodeHold(preHold)
}

// requestFingerprint is the form of a request's fingerprint kept beside the idempotency record
// (see keys.go): 32 hex digits whatever the caller's form, which create.lua relies on to read the
// records that held it after the record key. The caller's fingerprint is a keyed hash already;
// this only sizes it.
func requestFingerprint(fp string) string {
	h := requestFingerprintHex(fp)
	return string(h[:])
}

// requestFingerprintHex is requestFingerprint's 32 hex digits in an array, for a caller that
// writes them into a longer string (one allocation, not a string of their own and then another).
func requestFingerprintHex(fp string) [32]byte {
	sum := sha256.Sum256([]byte(fp))
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	return h
}

// newRecord is the comment create.lua stored for c, given the state, publication time, hold and
// depth fields it decided ({"new", state, published, hold, depth}, "" for a field it did not
// write): the fields the script wrote, decoded as Get would decode them.
func newRecord(c comment.Comment, decided []any) (comment.Comment, error) {
	if len(decided) != 4 {
		return comment.Comment{}, fmt.Errorf("%w: create reply has %d values, want 4", errCorrupt, len(decided))
	}
	fields := recordFields(c)
	m := make(map[string]string, len(fields)/2+4)
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i].(string)] = *fields[i+1].(*string)
	}
	m[fCreated] = strconv.FormatInt(micros(c.CreatedAt), 10)
	for i, name := range []string{fState, fPublished, fHold, fDepth} {
		v, ok := decided[i].(string)
		if !ok {
			return comment.Comment{}, fmt.Errorf("%w: create reply value %d is %T", errCorrupt, i, decided[i])
		}
		if v != "" {
			m[name] = v
		}
	}
	return decodeRecord(m)
}

// splitReply splits a script's {status, ...} reply.
func splitReply(reply []any) (string, []any, error) {
	if len(reply) == 0 {
		return "", nil, fmt.Errorf("%w: empty script reply", errCorrupt)
	}
	status, ok := reply[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("%w: script status is %T", errCorrupt, reply[0])
	}
	return status, reply[1:], nil
}

// Get returns one comment, or comment.ErrNotFound. One round trip.
func (s *Store) Get(ctx context.Context, id string) (comment.Comment, error) {
	shard, ok := shardOfID(id)
	if !ok || !comment.ValidID(id) {
		return comment.Comment{}, fmt.Errorf("redisstore: get comment %q: %w", id, comment.ErrNotFound)
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.record(shard, id)).Result()
	if err != nil {
		return comment.Comment{}, storeError("get comment "+id, err)
	}
	if len(m) == 0 {
		return comment.Comment{}, fmt.Errorf("redisstore: get comment %s: %w", id, comment.ErrNotFound)
	}
	c, err := decodeRecord(m)
	if err != nil {
		return comment.Comment{}, fmt.Errorf("redisstore: get comment %s: %w", id, err)
	}
	return c, nil
}

// ListPublished returns one page of a thread's published comments, oldest first (newest first
// with p.NewestFirst), the next page token ("" at the end) and the thread's settings.
//
// It is one round trip: a pipeline of the page script, which reads the index and the page's
// records together, and the HMGET of the thread's settings hash, which has the thread's shard
// (so on a Cluster the two go to one node). A pipeline could not read the records itself,
// because their keys are known only once the index has been read.
func (s *Store) ListPublished(ctx context.Context, threadID string, p comment.Page) (comment.PublishedPage, error) {
	query := publishedQuery(threadID, p.NewestFirst)
	after, err := decodeToken(p.Token, query)
	if err != nil {
		return comment.PublishedPage{}, err
	}
	shard := shardOfThread(threadID)
	size := pageSize(p)
	scan := pageScan{after: after, limit: size + 1, recordBase: s.keys.recordBase(shard), withRecords: true, desc: p.NewestFirst}
	var (
		page     *redis.Cmd
		settings *redis.SliceCmd
	)
	run := func() error {
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			page = s.page.EvalSha(ctx, pl, []string{s.keys.published(shard, threadID)}, scan.args()...)
			settings = pl.HMGet(ctx, s.keys.thread(shard, threadID), tfMode, tfClosed, tfFirst)
			return nil
		})
		return err
	}
	err = run()
	if err != nil && isNoScript(err) {
		// Script.Run's fallback to EVAL does not work inside a pipeline: reload and try once more.
		if err := s.loadScripts(ctx); err != nil {
			return comment.PublishedPage{}, err
		}
		err = run()
	}
	if err != nil {
		return comment.PublishedPage{}, storeError("list published comments", err)
	}
	entries, _, err := parsePage(page.Val())
	if err != nil {
		return comment.PublishedPage{}, fmt.Errorf("redisstore: list published comments: %w", err)
	}
	cs, next, err := finishPage(entries, size, query)
	if err != nil {
		return comment.PublishedPage{}, fmt.Errorf("redisstore: list published comments: %w", err)
	}
	th, err := s.decodeThread(threadID, settings.Val())
	if err != nil {
		return comment.PublishedPage{}, err
	}
	return comment.PublishedPage{Comments: cs, Next: next, Thread: th}, nil
}

// CountPublished returns the number of published comments of each thread, in order, with each
// thread's settings: one ZCARD and one HMGET of its settings hash per thread, all in one pipeline
// (on a Cluster, one round trip per node, in parallel).
func (s *Store) CountPublished(ctx context.Context, threadIDs []string) ([]comment.ThreadCount, error) {
	counts := make([]comment.ThreadCount, len(threadIDs))
	if len(threadIDs) == 0 {
		return counts, nil
	}
	cmds := make([]*redis.IntCmd, len(threadIDs))
	settings := make([]*redis.SliceCmd, len(threadIDs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range threadIDs {
			shard := shardOfThread(t)
			cmds[i] = p.ZCard(ctx, s.keys.published(shard, t))
			settings[i] = p.HMGet(ctx, s.keys.thread(shard, t), tfMode, tfClosed, tfFirst)
		}
		return nil
	})
	if err != nil {
		return nil, storeError("count published comments", err)
	}
	for i, c := range cmds {
		th, err := s.decodeThread(threadIDs[i], settings[i].Val())
		if err != nil {
			return nil, err
		}
		counts[i] = comment.ThreadCount{Published: c.Val(), Thread: th}
	}
	return counts, nil
}
