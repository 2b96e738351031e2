package redisstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/spam"
)

// Campaigns is the campaign detector's memory shared by every server (spam.Campaigns): each server
// keeps the recent sightings of all servers in memory (spam.Window) and answers from it, so the
// campaign check costs a submission no round trip.
//
// Why this shape: a submission may spend two round trips (the abuse check and the comment write),
// and both are taken. Writing each sighting to Redis and reading the candidates back would be a
// third, on every submission. Instead a sighting goes into the local window at once (so this
// server sees it on the very next submission), and a background writer sends the sightings of the
// last FlushEvery to Redis as one stream entry: at most one round trip per FlushEvery whatever the
// load, none of them on a submission's own path, and shared by every submission of the interval
// (at 200 submissions a second and 50 ms, one round trip per ten submissions). Every server tails
// the stream and adds the other servers' sightings to its window, so a campaign spread over
// servers is seen within about FlushEvery plus the network.
type Campaigns struct {
	s      *Store
	window *spam.Window
	keep   time.Duration
	flush  time.Duration
	block  time.Duration
	log    *slog.Logger
	origin string // this server's random id, to skip its own batches in the stream

	mu      sync.Mutex
	pending []spam.Sighting
	dropped int
	lastID  string // the stream entry the window is at; "" until loaded
}

// CampaignsOptions configures Campaigns.
type CampaignsOptions struct {
	// Keep is how long sightings are kept: at least the campaign check's window (default
	// spam.DefaultCampaignWindow).
	Keep time.Duration
	// FlushEvery is how often pending sightings are written (default 50ms).
	FlushEvery time.Duration
	// Block is how long one stream read waits (default 1s); it bounds how long Run takes to return.
	Block  time.Duration
	Logger *slog.Logger // may be nil: no logs
}

// Erasure requests (Store.EraseAuthor, forgetSightings) and the sightings in flight. A sighting
// pairs the author's keyed hash with the fingerprint of their comment. An erasure deletes the
// stream's entries holding the author's sightings, but a server may hold one in pending at that
// moment and write it just after, and every server holds copies in its window. So the erasure
// first names the author in {spam:campaigns}:e, which the writers' script reads in the step that
// appends a batch (campaigns_write.lua): from then on no batch carries the author's sightings. It
// also appends a marker entry to the stream; each server reads it (within Block, or on its next
// read after Redis came back), reads the named authors and drops their sightings from its window
// and from pending. A name stands campaignErasureTTL, and a sighting waits in pending at most
// maxPendingAge, well inside it: a server cut off from Redis during the erasure cannot hand over
// the author's sightings once the name has lapsed.
const (
	campaignErasureTTL = 10 * time.Minute
	maxPendingAge      = 5 * time.Minute
)

//go:embed campaigns_write.lua
var campaignsWriteSrc string

//go:embed campaigns_erase.lua
var campaignsEraseSrc string

var (
	campaignsWriteScript = redis.NewScript(campaignsWriteSrc)
	campaignsEraseScript = redis.NewScript(campaignsEraseSrc)
)

// maxPendingSightings bounds the sightings waiting for the writer while Redis is away; the oldest
// are dropped beyond it (a campaign shows up as many copies, so losing a few is harmless).
const maxPendingSightings = 10000

var (
	_ spam.Campaigns = (*Campaigns)(nil)
	_ spam.Peeker    = (*Campaigns)(nil)
)

// NewCampaigns returns an empty campaign memory; Load fills it from the stream, Run keeps it in
// step and writes this server's sightings.
func NewCampaigns(s *Store, opts CampaignsOptions) *Campaigns {
	c := &Campaigns{s: s, keep: opts.Keep, flush: opts.FlushEvery, block: opts.Block, log: opts.Logger}
	if c.keep <= 0 {
		c.keep = spam.DefaultCampaignWindow
	}
	if c.flush <= 0 {
		c.flush = 50 * time.Millisecond
	}
	if c.block <= 0 {
		c.block = time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.window = spam.NewWindow(c.keep)
	var b [8]byte
	rand.Read(b[:])
	c.origin = hex.EncodeToString(b[:])
	return c
}

// Observe records s in memory, queues it for the other servers, and returns the recent sightings
// that share a band with it and are at most maxDistance from it (the window leaves the farther
// ones unread). No network call.
func (c *Campaigns) Observe(_ context.Context, s spam.Sighting, window time.Duration, maxDistance int) ([]spam.Sighting, error) {
	out := c.window.ObserveNear(s, window, maxDistance)
	c.mu.Lock()
	if len(c.pending) >= maxPendingSightings {
		c.pending = c.pending[1:]
		c.dropped++
	}
	c.pending = append(c.pending, s)
	c.mu.Unlock()
	return out, nil
}

// Peek returns what Observe would, without recording s.
func (c *Campaigns) Peek(_ context.Context, s spam.Sighting, window time.Duration) ([]spam.Sighting, error) {
	return c.window.Match(s, window), nil
}

// Len returns the number of sightings in memory.
func (c *Campaigns) Len() int { return c.window.Len() }

// Load reads the sightings of the last Keep from the stream into memory.
//
// It reads newest first and stops once the entries read hold as many sightings as a window keeps
// (spam.MaxWindowSightings): the window would drop the older ones anyway, and a long window on a
// busy site holds millions of sightings, which read from the oldest took longer than a server
// is given to start.
func (c *Campaigns) Load(ctx context.Context) error {
	from := strconv.FormatInt(time.Now().Add(-c.keep).UnixMilli(), 10)
	const page = 500
	var newestFirst []redis.XMessage
	held := 0
	to := "+"
	for held < spam.MaxWindowSightings {
		msgs, err := c.s.rdb.XRevRangeN(ctx, c.s.keys.campaignStream(), to, from, page).Result()
		if err != nil {
			return storeError("load campaign sightings", err)
		}
		for _, m := range msgs {
			if packed, _ := m.Values["s"].(string); packed != "" {
				held += strings.Count(packed, ",") + 1
			}
		}
		newestFirst = append(newestFirst, msgs...)
		if len(msgs) < page {
			break
		}
		to = "(" + msgs[len(msgs)-1].ID
	}
	// This server's own entries are skipped here too: its sightings are in its window from the
	// moment it made them, and Run starts the writer before the Load it makes when none was made
	// before it, so a batch written meanwhile would otherwise be counted twice.
	erasure := false
	for _, m := range slices.Backward(newestFirst) {
		erasure = c.apply(ctx, m, true) || erasure
	}
	if erasure {
		if err := c.forgetErased(ctx); err != nil {
			return err
		}
	}
	// Nothing recent: read on from the start of the window.
	last := from + "-0"
	if len(newestFirst) > 0 {
		last = newestFirst[0].ID
	}
	c.mu.Lock()
	c.lastID = last
	c.mu.Unlock()
	return nil
}

// apply adds the sightings of one stream entry to the window; skipOwn skips this server's. It
// reports whether the entry is an erasure's marker instead: the caller then forgets the erased
// authors' sightings (forgetErased) once it has applied the entries it read with it. Once, since
// an erasure names its author before it appends its marker, so one read of the names after the
// entries were read covers every marker among them; after them, since the entries before a
// marker may hold its author's sightings.
func (c *Campaigns) apply(ctx context.Context, m redis.XMessage, skipOwn bool) (erasure bool) {
	if _, ok := m.Values["e"]; ok {
		return true
	}
	if o, _ := m.Values["o"].(string); skipOwn && o == c.origin {
		return false
	}
	packed, _ := m.Values["s"].(string)
	ss, err := decodeSightings(packed)
	if err != nil {
		c.log.WarnContext(ctx, "unreadable campaign sightings skipped", "id", m.ID, "error", err.Error())
	}
	// A server whose clock runs ahead stamps its sightings in the future. The window's clock is
	// its newest sighting, so one of them would move it ahead and make every sighting made since
	// look older than the window: dropped, and campaign checks blind on every server until the
	// real time caught up. Each was made by now at the latest.
	now := time.Now()
	for i := range ss {
		if ss[i].At.After(now) {
			ss[i].At = now
		}
	}
	c.window.Add(ss...)
	return false
}

// forgetErased drops the sightings of the authors erasure requests named lately from the window
// and from pending.
func (c *Campaigns) forgetErased(ctx context.Context) error {
	lapsed := strconv.FormatInt(time.Now().UnixMilli(), 10)
	authors, err := c.s.rdb.ZRangeByScore(ctx, c.s.keys.campaignErased(), &redis.ZRangeBy{Min: "(" + lapsed, Max: "+inf"}).Result()
	if err != nil {
		return storeError("read erased authors", err)
	}
	if len(authors) == 0 {
		return nil
	}
	c.window.Forget(authors...)
	erased := make(map[string]bool, len(authors))
	for _, a := range authors {
		erased[a] = true
	}
	c.mu.Lock()
	c.pending = slices.DeleteFunc(c.pending, func(s spam.Sighting) bool { return erased[s.AuthorKey] })
	c.mu.Unlock()
	return nil
}

// Flush writes the pending sightings now, as one stream entry trimmed to the window.
func (c *Campaigns) Flush(ctx context.Context) error {
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	dropped := c.dropped
	c.dropped = 0
	c.mu.Unlock()
	// Sightings that waited longer than maxPendingAge (Redis was away) are not handed over: an
	// erasure's name for their author may have lapsed meanwhile (see campaignErasureTTL).
	now := time.Now()
	cut := now.Add(-min(c.keep, maxPendingAge))
	fresh := slices.DeleteFunc(batch, func(s spam.Sighting) bool { return s.At.Before(cut) })
	dropped += len(batch) - len(fresh)
	batch = fresh
	if dropped > 0 {
		c.log.WarnContext(ctx, "campaign sightings dropped while Redis was unavailable", "count", dropped)
	}
	if len(batch) == 0 {
		return nil
	}
	minID := strconv.FormatInt(now.Add(-c.keep).UnixMilli(), 10)
	keys := []string{c.s.keys.campaignStream(), c.s.keys.campaignErased()}
	err := campaignsWriteScript.Run(ctx, c.s.rdb, keys, c.origin, minID, encodeSightings(batch)).Err()
	if err != nil {
		// Put them back for the next try, oldest first, within the bound.
		c.mu.Lock()
		c.pending = append(batch, c.pending...)
		if over := len(c.pending) - maxPendingSightings; over > 0 {
			c.pending = c.pending[over:]
			c.dropped += over
		}
		c.mu.Unlock()
		return storeError("write campaign sightings", err)
	}
	return nil
}

// Run writes this server's sightings every FlushEvery and adds the other servers' to memory, until
// ctx ends; then it writes what is pending (within a second) and returns. It loads the recent
// sightings first unless Load already did. Errors are logged and retried.
func (c *Campaigns) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.write(ctx) })

	c.mu.Lock()
	loaded := c.lastID != ""
	c.mu.Unlock()
	failing := false
	forget := false // an erasure's marker was read; its authors' sightings are still to be dropped
	for ctx.Err() == nil {
		if forget {
			if err := c.forgetErased(ctx); err != nil {
				failing = c.failed(ctx, failing, "read erased authors", err)
				continue
			}
			forget = false
		}
		if !loaded {
			if err := c.Load(ctx); err != nil {
				failing = c.failed(ctx, failing, "load campaign sightings", err)
				continue
			}
			loaded = true
		}
		c.mu.Lock()
		from := c.lastID
		c.mu.Unlock()
		res, err := c.s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{c.s.keys.campaignStream(), from}, Count: 100, Block: c.block}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			failing = c.failed(ctx, failing, "read campaign sightings", err)
			continue
		}
		if failing {
			// The failure was logged as a WARN: say that it ended, as the spam model's reader
			// does, so an operator reading the log knows other servers' campaigns are seen again.
			c.log.InfoContext(ctx, "campaign sightings readable again")
			failing = false
		}
		for _, st := range res {
			for _, m := range st.Messages {
				forget = c.apply(ctx, m, true) || forget
				c.mu.Lock()
				c.lastID = m.ID
				c.mu.Unlock()
			}
		}
	}
}

// write is Run's writer loop.
func (c *Campaigns) write(ctx context.Context) {
	t := time.NewTicker(c.flush)
	defer t.Stop()
	failing := false
	// The window drops old sightings only as new ones arrive; on a quiet site it would keep the
	// last ones, and the keyed hashes in them, for good. Expired here by the clock, a sighting
	// leaves memory at most an eighth of the window (or a minute) after the window.
	expireEvery := max(min(c.keep/8, time.Minute), c.flush)
	expired := time.Now()
	for {
		select {
		case <-ctx.Done():
			// The server is stopping: hand over what this one saw, briefly.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			if err := c.Flush(fctx); err != nil {
				c.log.WarnContext(fctx, "campaign sightings not written at shutdown", "error", err.Error())
			}
			cancel()
			return
		case <-t.C:
		}
		if now := time.Now(); now.Sub(expired) >= expireEvery {
			c.window.Expire(now)
			expired = now
		}
		if err := c.Flush(ctx); err != nil {
			if !failing && ctx.Err() == nil {
				c.log.WarnContext(ctx, "write campaign sightings failed; retrying", "error", err.Error())
			}
			failing = true
			continue
		}
		if failing {
			c.log.InfoContext(ctx, "campaign sightings written again")
			failing = false
		}
	}
}

func (c *Campaigns) failed(ctx context.Context, failing bool, what string, err error) bool {
	if ctx.Err() != nil {
		return failing
	}
	if !failing {
		c.log.WarnContext(ctx, what+" failed; campaigns on other servers are not seen until Redis answers", "error", err.Error())
	}
	pause(ctx, time.Second)
	return true
}

// encodeSightings packs sightings as "<fingerprint hex> <author key> <unix µs>" joined by ",".
// Author keys are hex keyed hashes, never an address.
func encodeSightings(ss []spam.Sighting) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%016x %s %d", uint64(s.Fingerprint), s.AuthorKey, s.At.UnixMicro())
	}
	return b.String()
}

func decodeSightings(packed string) ([]spam.Sighting, error) {
	if packed == "" {
		return nil, nil
	}
	var out []spam.Sighting
	for item := range strings.SplitSeq(packed, ",") {
		f := strings.Fields(item)
		if len(f) != 3 {
			return out, fmt.Errorf("%w: sighting %q", errCorrupt, item)
		}
		fp, err1 := strconv.ParseUint(f[0], 16, 64)
		at, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return out, fmt.Errorf("%w: sighting %q", errCorrupt, item)
		}
		out = append(out, spam.Sighting{Fingerprint: spam.Fingerprint(fp), AuthorKey: f[1], At: time.UnixMicro(at)})
	}
	return out, nil
}
