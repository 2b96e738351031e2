package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/spam"
)

// SpamMirror is the site's spam model as the Scorer sees it: reads come from an in-memory copy
// (spam.Mirror), so scoring a submission costs no round trip; training goes to Redis, which holds
// the truth. Every change to the site's model is applied in Redis by one script that also appends
// it to the model's stream; Run tails that stream on every server, so a moderator's decision
// reaches every server's copy within milliseconds (the stream read returns as soon as an entry is
// added). It implements spam.Counts.
type SpamMirror struct {
	s       *Store
	mirror  *spam.Mirror
	block   time.Duration
	check   time.Duration
	settle  time.Duration
	maxWait time.Duration
	log     *slog.Logger
	now     func() time.Time // the clock Run times its reloads and checks by; tests replace it

	loads atomic.Int64 // how many times Load read the whole model
	// forest is the model's forest as SpamForest last fitted it, nil until then: the counts
	// change with every decision, the forest when it is fitted again.
	forest atomic.Pointer[spam.Forest]

	mu     sync.Mutex
	lastID string // the stream entry the copy is at; "" until loaded
}

// SpamMirrorOptions configures a SpamMirror.
type SpamMirrorOptions struct {
	// Block is how long one stream read waits for a change (default 1s). It bounds how long Run
	// takes to return once its context ends, not how fast changes arrive.
	Block time.Duration
	// Check is how often an idle Run compares the copy's change number with Redis's (default
	// 30s), to notice a Redis that lost data or was flushed and start again from what it holds.
	Check time.Duration
	// ReloadAfter is how long Run waits, once it finds changes missing, for the stream to bring no
	// further gap before it loads the whole model again (default 1s). An erasure request makes one
	// gap per labelled comment of the author, a few milliseconds to seconds apart as its walk finds
	// them: one load for them all, not one each (each load reads the whole counts hash).
	ReloadAfter time.Duration
	// ReloadWithin bounds that wait from the first gap (default 5s), however many gaps follow.
	ReloadWithin time.Duration
	Logger       *slog.Logger // may be nil: no logs
}

var (
	_ spam.Counts       = (*SpamMirror)(nil)
	_ spam.ForestSource = (*SpamMirror)(nil)
)

// Forest implements spam.ForestSource: the forest SpamForest last fitted, or nil. It never fails
// and makes no network call.
func (m *SpamMirror) Forest(context.Context) (*spam.Forest, error) { return m.forest.Load(), nil }

// NewSpamMirror returns the site model's mirror, empty until Load or Run.
func NewSpamMirror(s *Store, opts SpamMirrorOptions) *SpamMirror {
	m := &SpamMirror{s: s, mirror: spam.NewMirror(), block: opts.Block, check: opts.Check,
		settle: opts.ReloadAfter, maxWait: opts.ReloadWithin, log: opts.Logger, now: time.Now}
	if m.block <= 0 {
		m.block = time.Second
	}
	if m.check <= 0 {
		m.check = 30 * time.Second
	}
	if m.settle <= 0 {
		m.settle = time.Second
	}
	if m.maxWait <= 0 {
		m.maxWait = 5 * time.Second
	}
	if m.maxWait < m.settle {
		m.maxWait = m.settle
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// TokenCounts reads the in-memory copy. It never fails and makes no network call.
func (m *SpamMirror) TokenCounts(ctx context.Context, tokens []string, spamCounts, hamCounts []int64) (spam.Totals, error) {
	return m.mirror.TokenCounts(ctx, tokens, spamCounts, hamCounts)
}

// Train trains the site's model in Redis. The copy follows when Run reads the change back.
func (m *SpamMirror) Train(ctx context.Context, tokens []string, isSpam bool, delta int64) error {
	_, err := m.s.trainStep(ctx, "", newMarkID(), spamBatchMarkTTL, []trainGroup{{tokens: tokens, spam: isSpam, delta: delta}})
	return err
}

// Seq returns the number of the last change the copy holds in full. After a gap in the changes
// it stays at the change before the gap until Run loads the model again.
func (m *SpamMirror) Seq() int64 { return m.mirror.Seq() }

// Totals returns the copy's class and token totals.
func (m *SpamMirror) Totals() spam.Totals { return m.mirror.Totals() }

// Load reads the whole model from Redis into the copy. The read is not atomic (a big model takes
// several HSCAN calls), so Load first notes the stream's last entry and the change number, and Run
// replays every change after that entry: each change carries the counts it left, so the tokens it
// touched end as they are in Redis, and the others did not change.
func (m *SpamMirror) Load(ctx context.Context) error {
	k := m.s.keys
	var last *redis.XMessageSliceCmd
	var tot *redis.SliceCmd
	_, err := m.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		last = p.XRevRangeN(ctx, k.spamStream(""), "+", "-", 1)
		tot = p.HMGet(ctx, k.spamTotals(""), totalFields...)
		return nil
	})
	if err != nil {
		return storeError("load spam model", err)
	}
	lastID := "0-0"
	if msgs := last.Val(); len(msgs) > 0 {
		lastID = msgs[0].ID
	}
	n, err := parseInts(tot.Val())
	if err != nil {
		return fmt.Errorf("redisstore: load spam model: %w", err)
	}
	totals := spam.Totals{Spam: n[0], Ham: n[1], SpamTokens: n[2], HamTokens: n[3], Vocabulary: n[4]}
	seq := n[5]

	tokens := make(map[string][2]int64)
	var cursor uint64
	for {
		kv, next, err := m.s.rdb.HScan(ctx, k.spamCounts(""), cursor, "*", 5000).Result()
		if err != nil {
			return storeError("load spam model", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v, err := strconv.ParseInt(kv[i+1], 10, 64)
			if err != nil {
				return fmt.Errorf("redisstore: load spam model: %w: count %q", errCorrupt, kv[i+1])
			}
			class, tok := 0, ""
			switch {
			case strings.HasPrefix(kv[i], "s:"):
				tok = kv[i][2:]
			case strings.HasPrefix(kv[i], "h:"):
				class, tok = 1, kv[i][2:]
			default:
				return fmt.Errorf("redisstore: load spam model: %w: field %q", errCorrupt, kv[i])
			}
			c := tokens[tok]
			c[class] = v
			tokens[tok] = c
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mirror.Replace(seq, tokens, totals)
	m.lastID = lastID
	m.loads.Add(1)
	return nil
}

// Loads returns how many times the copy has read the whole model from Redis: once at start, and
// once for each reload after missed changes (an erasure's, a trimmed stream, lost data). Each
// reads every count, so operators watch it for reload storms.
func (m *SpamMirror) Loads() int64 { return m.loads.Load() }

// Run keeps the copy in step with Redis until ctx ends, then returns. It loads the model first
// unless Load already did, and loads it again whenever it finds it missed changes (its place in
// the stream was trimmed away, an erasure request emptied the stream, or Redis lost data). Errors
// are logged and retried with a pause: while Redis is away the copy keeps scoring with what it has.
//
// A gap is not loaded at once: Run waits until no further gap has come for ReloadAfter, or
// ReloadWithin since the first, so the gaps of one erasure request (one per labelled comment)
// cost one load of the whole model on each server instead of one per comment. The wait is safe
// because the copy keeps scoring with the counts Redis holds for nearly every token: the changes
// read meanwhile are patched in (each lists the counts its tokens have in Redis, and the totals),
// and only the tokens of the changes it could not read keep old counts. For an erasure those are
// what the erased comments taught: their author's name and email domain features still count it
// and their anonymised features lack it, as in the copy just before the erasure, for those few
// comments out of all the model learnt, and for a few seconds at most. The stream lists none of
// it meanwhile, and Redis no longer holds it: the load drops it from the copy too.
func (m *SpamMirror) Run(ctx context.Context) {
	m.mu.Lock()
	loaded := m.lastID != ""
	m.mu.Unlock()
	failing := false
	reload := !loaded // load now, not after a wait
	var g gaps
	lastCheck := m.now()
	for ctx.Err() == nil {
		if reload || g.due(m.now(), m.settle, m.maxWait) {
			if err := m.Load(ctx); err != nil {
				failing = m.failed(ctx, failing, "load spam model", err)
				continue
			}
			reload, g = false, gaps{}
		}
		block := m.block
		if g.open() {
			// Wake for the reload when it falls due, however quiet the stream. BLOCK 0 would
			// wait for ever: never less than a millisecond.
			block = min(block, max(g.at(m.settle, m.maxWait).Sub(m.now()), time.Millisecond))
		}
		m.mu.Lock()
		from := m.lastID
		m.mu.Unlock()
		res, err := m.s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{m.s.keys.spamStream(""), from}, Count: 100, Block: block}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if now := m.now(); now.Sub(lastCheck) >= m.check {
				lastCheck = now
				reload = m.behind(ctx)
			}
			continue
		case err != nil:
			failing = m.failed(ctx, failing, "read spam model changes", err)
			continue
		}
		if failing {
			m.log.InfoContext(ctx, "spam model changes readable again")
			failing = false
		}
		for _, st := range res {
			for _, msg := range st.Messages {
				m.follow(ctx, msg, &g)
				m.mu.Lock()
				m.lastID = msg.ID
				m.mu.Unlock()
			}
		}
	}
}

// follow applies one stream entry to the copy, or notes a gap in g and patches what it can.
func (m *SpamMirror) follow(ctx context.Context, msg redis.XMessage, g *gaps) {
	c, err := decodeChange(msg)
	switch {
	case err != nil:
		if !g.open() {
			m.log.ErrorContext(ctx, "unreadable spam model change; reloading the model", "id", msg.ID, "error", err.Error())
		}
		g.note(m.now(), -1)
	case g.open():
		// Waiting for a reload: Apply would refuse every change, as the copy's number is the
		// one before the first gap. Another gap pushes the reload back; a change next in line does not.
		if c.Seq != g.seq+1 {
			g.note(m.now(), c.Seq)
		} else {
			g.seq = c.Seq
		}
		m.mirror.Patch(c)
	case !m.mirror.Apply(c):
		m.log.InfoContext(ctx, "spam model changes missed; reloading the model", "at", m.mirror.Seq(), "got", c.Seq)
		g.note(m.now(), c.Seq)
		m.mirror.Patch(c)
	}
}

// gaps are the gaps Run found in the changes since it last loaded the model; the zero value is none.
type gaps struct {
	first, last time.Time // when Run found the first and the last of them
	seq         int64     // the number of the last change read (-1 after an unreadable one)
}

func (g *gaps) open() bool { return !g.first.IsZero() }

// note records a gap found at now, in front of change seq.
func (g *gaps) note(now time.Time, seq int64) {
	if g.first.IsZero() {
		g.first = now
	}
	g.last, g.seq = now, seq
}

// at is when the reload falls due: settle after the last gap, and no later than maxWait after
// the first.
func (g *gaps) at(settle, maxWait time.Duration) time.Time {
	t := g.last.Add(settle)
	if lim := g.first.Add(maxWait); lim.Before(t) {
		t = lim
	}
	return t
}

// due reports whether there are gaps and their reload is due at now.
func (g *gaps) due(now time.Time, settle, maxWait time.Duration) bool {
	return g.open() && !now.Before(g.at(settle, maxWait))
}

// behind reports whether Redis's change number is below the copy's: Redis lost data or the model
// was deleted by hand, and the copy must be rebuilt from what Redis holds.
func (m *SpamMirror) behind(ctx context.Context) bool {
	v, err := m.s.rdb.HGet(ctx, m.s.keys.spamTotals(""), "seq").Int64()
	if errors.Is(err, redis.Nil) {
		v, err = 0, nil
	}
	return err == nil && v < m.mirror.Seq()
}

// failed logs err once per outage and pauses before the next try. It returns true (failing).
func (m *SpamMirror) failed(ctx context.Context, failing bool, what string, err error) bool {
	if ctx.Err() != nil {
		return failing
	}
	if !failing {
		m.log.WarnContext(ctx, what+" failed; scoring with the copy in memory until Redis answers", "error", err.Error())
	}
	pause(ctx, time.Second)
	return true
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// decodeChange reads one stream entry written by spam_train.lua.
func decodeChange(msg redis.XMessage) (spam.Change, error) {
	str := func(name string) (string, error) {
		v, ok := msg.Values[name].(string)
		if !ok {
			return "", fmt.Errorf("%w: change %s has no %q", errCorrupt, msg.ID, name)
		}
		return v, nil
	}
	var c spam.Change
	seqText, err := str("seq")
	if err != nil {
		return c, err
	}
	if c.Seq, err = strconv.ParseInt(seqText, 10, 64); err != nil {
		return c, fmt.Errorf("%w: change %s: seq %q", errCorrupt, msg.ID, seqText)
	}
	totText, err := str("tot")
	if err != nil {
		return c, err
	}
	f := strings.Fields(totText)
	if len(f) != 5 {
		return c, fmt.Errorf("%w: change %s: totals %q", errCorrupt, msg.ID, totText)
	}
	var n [5]int64
	for i, s := range f {
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return c, fmt.Errorf("%w: change %s: totals %q", errCorrupt, msg.ID, totText)
		}
	}
	c.Totals = spam.Totals{Spam: n[0], Ham: n[1], SpamTokens: n[2], HamTokens: n[3], Vocabulary: n[4]}
	tokText, err := str("tok")
	if err != nil {
		return c, err
	}
	var flat []any
	if tokText != "{}" { // an empty table, as some Lua JSON encoders write it
		if err := json.Unmarshal([]byte(tokText), &flat); err != nil || len(flat)%3 != 0 {
			return c, fmt.Errorf("%w: change %s: token list", errCorrupt, msg.ID)
		}
	}
	c.Tokens = make([]spam.TokenCount, 0, len(flat)/3)
	for i := 0; i < len(flat); i += 3 {
		tok, ok1 := flat[i].(string)
		s, ok2 := flat[i+1].(float64)
		h, ok3 := flat[i+2].(float64)
		if !ok1 || !ok2 || !ok3 {
			return c, fmt.Errorf("%w: change %s: token list", errCorrupt, msg.ID)
		}
		c.Tokens = append(c.Tokens, spam.TokenCount{Token: tok, Spam: int64(s), Ham: int64(h)})
	}
	return c, nil
}
