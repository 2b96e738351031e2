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
	s      *Store
	mirror *spam.Mirror
	block  time.Duration
	check  time.Duration
	log    *slog.Logger

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
	Check  time.Duration
	Logger *slog.Logger // may be nil: no logs
}

var _ spam.Counts = (*SpamMirror)(nil)

// NewSpamMirror returns the site model's mirror, empty until Load or Run.
func NewSpamMirror(s *Store, opts SpamMirrorOptions) *SpamMirror {
	m := &SpamMirror{s: s, mirror: spam.NewMirror(), block: opts.Block, check: opts.Check, log: opts.Logger}
	if m.block <= 0 {
		m.block = time.Second
	}
	if m.check <= 0 {
		m.check = 30 * time.Second
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

// Seq returns the number of the last change the copy holds.
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
	return nil
}

// Run keeps the copy in step with Redis until ctx ends, then returns nil. It loads the model first
// unless Load already did, and loads it again whenever it finds it missed changes (its place in
// the stream was trimmed away, or Redis lost data). Errors are logged and retried with a pause:
// while Redis is away the copy keeps scoring with what it has.
func (m *SpamMirror) Run(ctx context.Context) error {
	m.mu.Lock()
	loaded := m.lastID != ""
	m.mu.Unlock()
	failing := false
	reload := !loaded
	lastCheck := time.Now()
	for ctx.Err() == nil {
		if reload {
			if err := m.Load(ctx); err != nil {
				failing = m.failed(ctx, failing, "load spam model", err)
				continue
			}
			reload = false
		}
		m.mu.Lock()
		from := m.lastID
		m.mu.Unlock()
		res, err := m.s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{m.s.keys.spamStream(""), from}, Count: 100, Block: m.block}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if time.Since(lastCheck) >= m.check {
				lastCheck = time.Now()
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
				c, err := decodeChange(msg)
				if err != nil {
					m.log.ErrorContext(ctx, "unreadable spam model change; reloading the model", "id", msg.ID, "error", err.Error())
					reload = true
					break
				}
				if !m.mirror.Apply(c) {
					m.log.InfoContext(ctx, "spam model changes missed; reloading the model", "at", m.mirror.Seq(), "got", c.Seq)
					reload = true
					break
				}
				m.mu.Lock()
				m.lastID = msg.ID
				m.mu.Unlock()
			}
		}
	}
	return nil
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
