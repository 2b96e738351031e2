package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
)

// The audit log (moderation.AuditLog) is one append-only Redis stream per shard, one for bans and
// one for word-list entries, each in the hash slot of what it records, plus one for other actions
// on nothing sharded: auditStreams streams, numbered as keys.go says. decide.lua, reports.lua and
// thread_update.lua append to their shard's stream, and the bans and word-list scripts to theirs,
// in the same atomic step as the change, so a change whose reply is lost is still recorded, once;
// AppendAudit appends the rest. Bans and word-list entries recorded before they had streams of
// their own are in the stream of other actions, which a listing by their target reads too. Entry
// ids are Redis's, "<unix ms>-<seq>", so a stream is in time order and an entry's time is its
// id's. Streams are never trimmed.
//
// ListAudit merges the streams newest first. The order of the whole log is (ms, seq, stream)
// descending; a page token is the last position a page considered, made and read as the other
// listings' tokens are (page.go):
//
//	base64url("v2.<crc32 of the query and the position>.<ms>-<seq>.<stream>")
//
// so the next page starts strictly after it, whatever was appended since, and a token cut short
// on its way is refused rather than read as another stream's position ("12" cut to "1").

var _ moderation.AuditLog = (*Store)(nil)

// auditScan is how many entries one ListAudit call reads per stream at most when it filters by
// moderator or target: a filter that matches little makes short pages (with a token to go on)
// rather than one call that reads the whole log. Without those filters it reads page size + 1.
const auditScan = 500

// auditPos is a position in the merged log.
type auditPos struct {
	ms, seq uint64
	stream  int
}

// before reports whether p comes before o in the log's newest-first order.
func (p auditPos) before(o auditPos) bool {
	switch {
	case p.ms != o.ms:
		return p.ms > o.ms
	case p.seq != o.seq:
		return p.seq > o.seq
	}
	return p.stream > o.stream
}

func (p auditPos) streamID() string {
	return strconv.FormatUint(p.ms, 10) + "-" + strconv.FormatUint(p.seq, 10)
}

// parseStreamID reads an entry id "<ms>-<seq>".
func parseStreamID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// auditStreamOf returns the stream a target's entries go to: its comment's or thread's shard, the
// stream of bans or of word-list entries, or the stream of other actions on nothing sharded. ok
// is false for a comment id this store never issued, which no stream holds.
func auditStreamOf(target string) (stream int, ok bool) {
	if id, found := strings.CutPrefix(target, "comments/"); found {
		shard, ok := shardOfID(id)
		return shard, ok && comment.ValidID(id)
	}
	if id, found := strings.CutPrefix(target, "threads/"); found && comment.ValidThreadID(id) {
		return shardOfThread(id), true
	}
	switch {
	case strings.HasPrefix(target, ratelimit.BanCollection):
		return auditBans, true
	case strings.HasPrefix(target, filterCollection):
		return auditFilters, true
	}
	return auditShard, true
}

// filterCollection starts the resource name of a word-list entry, "filters/{id}", the target of
// its audit entries.
const filterCollection = "filters/"

// auditStreamsOf returns the streams that may hold a target's entries: the one they go to, and
// for a ban or a word-list entry also the stream of other actions, which recorded them before.
func auditStreamsOf(target string) []int {
	stream, ok := auditStreamOf(target)
	switch {
	case !ok:
		return nil
	case stream == auditBans || stream == auditFilters:
		return []int{auditShard, stream}
	}
	return []int{stream}
}

// auditStep returns the keys and arguments with which a change's own script records e in the
// audit log (audit_record.lua): the stream and the day's counters of stream; then the counter
// field ("" when e counts nowhere, as AppendAudit decides), when the counters expire, and e's
// moderator, action, target and reason. e.At, when set, picks the day.
func (s *Store) auditStep(stream int, e moderation.AuditEvent) ([]string, []any) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	day := dayOf(e.At)
	field := ""
	if !moderation.IsServer(e.Moderator) && e.Action.Decision() {
		field = moderatorField(e.Moderator, counterLetter(e.Action))
	}
	return []string{s.keys.audit(stream), s.keys.stats(stream, day)},
		[]any{field, dayEnd(day).Add(statsKeep * time.Second).Unix(), e.Moderator, string(e.Action), e.Target, e.Reason}
}

//go:embed audit_record.lua
var auditRecordSrc string

//go:embed audit_append.lua
var auditAppendSrc string

// auditAppendScript is immutable, like the ban scripts; it runs alone, so Script.Run falls back
// to EVAL by itself after a Redis restart.
var auditAppendScript = redis.NewScript(auditAppendSrc)

// AppendAudit implements moderation.Auditor: the entry and, unless the moderator is the server's own or
// the action is not a moderation decision (moderation.AuditAction.Decision), the day's "other" counter of the moderator, in one script call on the target's slot, marked so
// that a call the Redis client resends appends and counts nothing more.
func (s *Store) AppendAudit(ctx context.Context, e moderation.AuditEvent) error {
	stream, ok := auditStreamOf(e.Target)
	if !ok {
		return fmt.Errorf("redisstore: append audit entry: target %q: %w", e.Target, comment.ErrNotFound)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	keys := []string{s.keys.audit(stream), s.keys.auditMark(stream, newMarkID())}
	args := []any{auditMarkTTL, "", 0}
	if !moderation.IsServer(e.Moderator) && e.Action.Decision() {
		day := dayOf(e.At)
		keys = append(keys, s.keys.stats(stream, day))
		args = []any{auditMarkTTL, moderatorField(e.Moderator, counterLetter(e.Action)), dayEnd(day).Add(statsKeep * time.Second).Unix()}
	}
	args = append(args, "by", e.Moderator, "act", string(e.Action), "target", e.Target)
	if e.From != comment.StateUnspecified || e.To != comment.StateUnspecified {
		args = append(args, "from", int(e.From), "to", int(e.To))
	}
	args = append(args, "reason", e.Reason)
	err := auditAppendScript.Run(ctx, s.rdb, keys, args...).Err()
	return storeError("append audit entry", err)
}

// ListAudit implements moderation.AuditLog: one XREVRANGE per stream, in one pipeline.
func (s *Store) ListAudit(ctx context.Context, q moderation.AuditQuery, p comment.Page) ([]moderation.AuditEvent, string, error) {
	query := fmt.Sprintf("audit?m=%s&t=%s&s=%d&u=%d", q.Moderator, q.Target, q.Since.UnixNano(), q.Until.UnixNano())
	after, err := decodeAuditToken(p.Token, query)
	if err != nil {
		return nil, "", err
	}
	size := pageSize(p)
	batch := size + 1
	if q.Moderator != "" || q.Target != "" {
		batch = max(batch, auditScan)
	}
	var streams []int
	if q.Target == "" {
		for i := range auditStreams {
			streams = append(streams, i)
		}
	} else if streams = auditStreamsOf(q.Target); streams == nil {
		return nil, "", nil
	}

	// The time range as entry ids: at or after Since, before Until.
	lower, upper := "-", "+"
	if !q.Since.IsZero() {
		lower = strconv.FormatInt(ceilMillis(q.Since), 10) + "-0"
	}
	var upperPos *auditPos
	if !q.Until.IsZero() {
		ms := ceilMillis(q.Until) - 1
		if ms < 0 {
			return nil, "", nil
		}
		upperPos = &auditPos{ms: uint64(ms), seq: math.MaxUint64}
		upper = upperPos.streamID()
	}

	cmds := make([]*redis.XMessageSliceCmd, len(streams))
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, st := range streams {
			hi := upper
			if after != nil {
				// Entries at the cursor's id in a lower-numbered stream come after it.
				c := auditPos{ms: after.ms, seq: after.seq}
				if st >= after.stream {
					var ok bool
					if c, ok = c.previous(); !ok {
						continue
					}
				}
				if upperPos == nil || !c.before(*upperPos) {
					hi = c.streamID()
				}
			}
			cmds[i] = pl.XRevRangeN(ctx, s.keys.audit(st), hi, lower, int64(batch))
		}
		return nil
	})
	if err != nil {
		return nil, "", storeError("list audit entries", err)
	}

	type item struct {
		pos auditPos
		ev  moderation.AuditEvent
	}
	var (
		all     []item
		horizon *auditPos // the newest last-read position of the streams that may hold more
	)
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		msgs := cmd.Val()
		for _, m := range msgs {
			ms, seq, ok := parseStreamID(m.ID)
			if !ok {
				return nil, "", fmt.Errorf("redisstore: list audit entries: %w: entry id %q", errCorrupt, m.ID)
			}
			pos := auditPos{ms: ms, seq: seq, stream: streams[i]}
			ev, err := decodeAudit(pos, m.Values)
			if err != nil {
				return nil, "", fmt.Errorf("redisstore: list audit entries: %w", err)
			}
			all = append(all, item{pos, ev})
		}
		if len(msgs) == batch {
			last := all[len(all)-1].pos
			if horizon == nil || last.before(*horizon) {
				horizon = &last
			}
		}
	}
	slices.SortFunc(all, func(a, b item) int {
		switch {
		case a.pos.before(b.pos):
			return -1
		case b.pos.before(a.pos):
			return 1
		}
		return 0
	})

	var (
		out  []moderation.AuditEvent
		last auditPos
	)
	for _, it := range all {
		if horizon != nil && horizon.before(it.pos) {
			// Beyond the horizon a stream may hold entries not read yet.
			break
		}
		if !q.Matches(it.ev) {
			continue
		}
		if len(out) == size {
			return out, encodeAuditToken(query, last), nil
		}
		out, last = append(out, it.ev), it.pos
	}
	if horizon != nil {
		return out, encodeAuditToken(query, *horizon), nil
	}
	return out, "", nil
}

// previous returns the entry id just before p's (the stream part is ignored), and false when p
// is the first possible id.
func (p auditPos) previous() (auditPos, bool) {
	switch {
	case p.seq > 0:
		return auditPos{ms: p.ms, seq: p.seq - 1}, true
	case p.ms > 0:
		return auditPos{ms: p.ms - 1, seq: math.MaxUint64}, true
	}
	return auditPos{}, false
}

// ceilMillis returns t in unix milliseconds, rounded up.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// decodeAudit turns a stream entry into an event.
func decodeAudit(pos auditPos, v map[string]any) (moderation.AuditEvent, error) {
	str := func(k string) string { s, _ := v[k].(string); return s }
	e := moderation.AuditEvent{
		ID:        fmt.Sprintf("%d-%d-%d", pos.stream, pos.ms, pos.seq),
		At:        time.UnixMilli(int64(pos.ms)).UTC(),
		Moderator: str("by"),
		Action:    moderation.AuditAction(str("act")),
		Target:    str("target"),
		Reason:    str("reason"),
	}
	if f := str("from"); f != "" {
		var err error
		if e.From, err = parseState(f); err != nil {
			return moderation.AuditEvent{}, err
		}
		if e.To, err = parseState(str("to")); err != nil {
			return moderation.AuditEvent{}, err
		}
	}
	return e, nil
}

// spell writes p as a token holds it, "<ms>-<seq>.<stream>".
func (p auditPos) spell() string { return p.streamID() + "." + strconv.Itoa(p.stream) }

// parseAuditPos reads "<ms>-<seq>.<stream>", a stream of the log.
func parseAuditPos(pos string) (auditPos, bool) {
	id, st, _ := strings.Cut(pos, ".")
	ms, seq, ok := parseStreamID(id)
	stream, err := strconv.Atoi(st)
	if !ok || err != nil || stream < 0 || stream >= auditStreams {
		return auditPos{}, false
	}
	return auditPos{ms: ms, seq: seq, stream: stream}, true
}

func encodeAuditToken(query string, p auditPos) string { return sealToken("v2", query, p.spell()) }

// decodeAuditToken returns the position in tok, or nil for the empty token. It reads this
// release's tokens and the previous one's ("v1", whose check covers the query only: one of those
// cut short in its stream number still reads as another stream).
func decodeAuditToken(tok, query string) (*auditPos, error) {
	if tok == "" {
		return nil, nil
	}
	p, ok := openToken(tok, query, pageVersions, parseAuditPos, auditPos.spell)
	if !ok {
		return nil, fmt.Errorf("redisstore: audit page token: %w", comment.ErrInvalidPageToken)
	}
	return &p, nil
}
