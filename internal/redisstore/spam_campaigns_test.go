package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
)

// runCampaigns starts c.Run until the test ends.
func runCampaigns(t *testing.T, c *Campaigns) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// TestCampaignsAcrossInstances observes a text on one server and looks for it on another.
func TestCampaignsAcrossInstances(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	opts := CampaignsOptions{Keep: time.Hour, FlushEvery: 20 * time.Millisecond, Block: 100 * time.Millisecond}
	a := NewCampaigns(ts.Store, opts)
	b := NewCampaigns(secondInstance(t, ts), opts)
	runCampaigns(t, a)
	runCampaigns(t, b)

	fp := spam.SimHash("Everyone must read the report on the harbour redevelopment before the vote")
	now := time.Now()
	if seen, err := a.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: now}, time.Hour, spam.MaxMatchDistance); err != nil || len(seen) != 0 {
		t.Fatalf("called Observe on A first, got %v, %v; want nothing seen before", seen, err)
	}
	query := spam.Sighting{Fingerprint: fp, AuthorKey: "author-b", At: now.Add(time.Second)}
	deadline := time.Now().Add(2 * time.Second)
	for {
		seen, err := b.Peek(ctx, query, time.Hour)
		if err != nil {
			t.Fatalf("called Peek on B, got error %v", err)
		}
		if slices.ContainsFunc(seen, func(s spam.Sighting) bool { return s.AuthorKey == "author-a" && s.Fingerprint == fp }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("called Peek on B for 2s, got %v, want A's sighting", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A skips its own batch when it reads the stream back: the sighting is there once.
	time.Sleep(150 * time.Millisecond)
	if n := a.Len(); n != 1 {
		t.Errorf("after A's own batch came back through the stream, got %d sightings on A, want 1", n)
	}

	// A server that starts later loads the recent sightings.
	late := NewCampaigns(secondInstance(t, ts), opts)
	if err := late.Load(ctx); err != nil {
		t.Fatalf("called Load on a new server, got error %v", err)
	}
	if seen, _ := late.Peek(ctx, query, time.Hour); len(seen) != 1 {
		t.Errorf("called Peek on a server started later, got %v, want A's sighting", seen)
	}
}

// TestCampaignsLoadSkipsOwnBatches: a server's sightings written before it loads the stream (Run
// loads it after it starts the writer, when Load was not called first) are counted once.
func TestCampaignsLoadSkipsOwnBatches(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	a := NewCampaigns(ts.Store, CampaignsOptions{Keep: time.Hour})
	fp := spam.SimHash("Everyone must read the report on the harbour redevelopment before the vote")
	if _, err := a.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: time.Now()}, time.Hour, spam.MaxMatchDistance); err != nil {
		t.Fatalf("called Observe, got error %v", err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("called Flush, got error %v", err)
	}
	if err := a.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	if n := a.Len(); n != 1 {
		t.Errorf("after Load read back this server's own batch, got %d sightings, want 1", n)
	}
}

// TestCampaignsClockAhead: one server's clock runs two hours ahead, beyond the window. The
// sightings it hands over must not blind the others to sightings made since.
func TestCampaignsClockAhead(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	opts := CampaignsOptions{Keep: time.Hour}
	ahead := NewCampaigns(ts.Store, opts)
	fp := spam.SimHash("Everyone must read the report on the harbour redevelopment before the vote")
	now := time.Now()
	if _, err := ahead.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: now.Add(2 * time.Hour)}, time.Hour, spam.MaxMatchDistance); err != nil {
		t.Fatalf("called Observe on the server ahead, got error %v", err)
	}
	if err := ahead.Flush(ctx); err != nil {
		t.Fatalf("called Flush on the server ahead, got error %v", err)
	}

	c := NewCampaigns(secondInstance(t, ts), opts)
	if err := c.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	if _, err := c.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-b", At: now}, time.Hour, spam.MaxMatchDistance); err != nil {
		t.Fatalf("called Observe for author-b, got error %v", err)
	}
	seen, err := c.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-c", At: now.Add(time.Millisecond)}, time.Hour, spam.MaxMatchDistance)
	var got []string
	for _, s := range seen {
		got = append(got, s.AuthorKey)
	}
	slices.Sort(got)
	if want := []string{"author-a", "author-b"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("called Observe for author-c after a sighting from a server two hours ahead, got %v, %v; want %v", got, err, want)
	}
}

func TestSightingsRoundTrip(t *testing.T) {
	in := []spam.Sighting{
		{Fingerprint: 0xdeadbeef00000001, AuthorKey: "0123abcd", At: time.UnixMicro(1700000000123456)},
		{Fingerprint: 0, AuthorKey: "ff", At: time.UnixMicro(1)},
	}
	out, err := decodeSightings(encodeSightings(in))
	if err != nil || len(out) != len(in) {
		t.Fatalf("decodeSightings(encodeSightings(%v)) = %v, %v", in, out, err)
	}
	for i := range in {
		if out[i].Fingerprint != in[i].Fingerprint || out[i].AuthorKey != in[i].AuthorKey || !out[i].At.Equal(in[i].At) {
			t.Errorf("sighting %d: got %+v after a round trip, want %+v", i, out[i], in[i])
		}
	}
	if _, err := decodeSightings("zz author 1"); err == nil {
		t.Errorf("decodeSightings(bad fingerprint) = nil error, want one")
	}
}

// TestCampaignsQuietWindowExpires: a server that receives no more sightings still lets the last
// ones go once they are older than the window. (The window's own clock is its newest sighting: on
// a quiet site it kept the last sightings, and the keyed hashes in them, for good.)
func TestCampaignsQuietWindowExpires(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const keep = 300 * time.Millisecond
	c := NewCampaigns(ts.Store, CampaignsOptions{Keep: keep, FlushEvery: 10 * time.Millisecond, Block: 50 * time.Millisecond})
	runCampaigns(t, c)
	fp := spam.SimHash("Everyone must read the report on the harbour redevelopment before the vote")
	if _, err := c.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: time.Now()}, keep, spam.MaxMatchDistance); err != nil {
		t.Fatalf("called Observe, got error %v", err)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("after one Observe, got %d sightings in memory, want 1", n)
	}
	waitFor(t, 10*keep, "the last sighting to leave memory after the window", func() bool { return c.Len() == 0 })
}

// TestCampaignsLoadStopsAtAWindowful: a long window on a busy site holds far more sightings than a
// window keeps (spam.MaxWindowSightings). A starting server reads the newest of them only, so its
// start does not grow with the window's length, and it holds the newest sightings, not the oldest.
func TestCampaignsLoadStopsAtAWindowful(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := storeOfItsOwn(t)              // the test counts the stream reads Redis served
	const entries, perEntry = 2000, 100 // twice what a window keeps
	start := time.Now().Add(-50 * time.Minute)
	at := func(e, i int) time.Time { return start.Add(time.Duration(e*perEntry+i) * 10 * time.Millisecond) }
	fp := func(e, i int) spam.Fingerprint { // unrelated texts' fingerprints: about 32 bits apart
		x := uint64(e*perEntry+i+1) * 0x9e3779b97f4a7c15
		x ^= x >> 31
		return spam.Fingerprint(x * 0xbf58476d1ce4e5b9)
	}
	pipe := ts.rdb.Pipeline()
	for e := range entries {
		batch := make([]spam.Sighting, perEntry)
		for i := range batch {
			batch[i] = spam.Sighting{Fingerprint: fp(e, i), AuthorKey: fmt.Sprintf("author-%d-%d", e, i), At: at(e, i)}
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: ts.keys.campaignStream(), ID: fmt.Sprintf("%d-0", at(e, perEntry-1).UnixMilli()),
			Values: []any{"o", "another-server", "s", encodeSightings(batch)}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("XADD %d entries of %d sightings: %v", entries, perEntry, err)
	}
	if err := ts.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatalf("CONFIG RESETSTAT: %v", err)
	}

	c := NewCampaigns(secondInstance(t, ts), CampaignsOptions{Keep: time.Hour})
	if err := c.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	stats, err := ts.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	reads := streamReads(stats)
	if want := spam.MaxWindowSightings / (perEntry * 500); reads > want {
		t.Errorf("Load read the stream %d times, 500 entries at most each; want at most %d, enough for the newest %d sightings", reads, want, spam.MaxWindowSightings)
	}
	newest := spam.Sighting{Fingerprint: fp(entries-1, perEntry-1), AuthorKey: "someone-else", At: time.Now()}
	if seen, _ := c.Peek(ctx, newest, time.Hour); !slices.ContainsFunc(seen, func(s spam.Sighting) bool {
		return s.AuthorKey == fmt.Sprintf("author-%d-%d", entries-1, perEntry-1)
	}) {
		t.Errorf("after Load, the newest sighting is not held (Peek got %d sightings)", len(seen))
	}
	if n := c.Len(); n < spam.MaxWindowSightings/2 || n > spam.MaxWindowSightings+perEntry*500 {
		t.Errorf("after Load, %d sightings held; want about %d", n, spam.MaxWindowSightings)
	}
}

// streamReads counts the XRANGE and XREVRANGE calls in an INFO commandstats reply.
func streamReads(stats string) int {
	n := 0
	for line := range strings.SplitSeq(stats, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":")
		if !ok || (name != "xrange" && name != "xrevrange") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				c, _ := strconv.Atoi(v)
				n += c
			}
		}
	}
	return n
}

// lockedLog collects log lines written from several goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestCampaignsLogRecovery: the reader and the writer each log one WARN when Redis goes away, and
// say when it answers again, so an operator reading the log knows that the outage ended for
// them too (the spam model's reader says so as well).
func TestCampaignsLogRecovery(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.Client(t, srv.Addr)
	s, err := New(context.Background(), rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	var logs lockedLog
	c := NewCampaigns(s, CampaignsOptions{Keep: time.Hour, FlushEvery: 20 * time.Millisecond, Block: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	runCampaigns(t, c)
	waitFor := func(what string, lines ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := logs.String()
			missing := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.Contains(got, l) })
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after 30s the log lacks %q:\n%s", what, missing, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	srv.Stop()
	// A sighting made meanwhile waits in pending, so the writer meets the outage too.
	fp := spam.SimHash("A text seen while Redis was away, handed over when it is back")
	if _, err := c.Observe(context.Background(), spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: time.Now()}, time.Hour, spam.MaxMatchDistance); err != nil {
		t.Fatalf("Observe with Redis stopped = %v, want the sighting kept in memory", err)
	}
	// The reader fails loading or reading, whichever it was doing.
	const readerDown = "failed; campaigns on other servers are not seen until Redis answers"
	waitFor("Redis stopped", readerDown, "write campaign sightings failed")
	if got := logs.String(); strings.Contains(got, "readable again") || strings.Contains(got, "written again") {
		t.Fatalf("Redis stopped: the log says it answers again:\n%s", got)
	}
	srv.Restart(t)
	waitFor("Redis restarted", "campaign sightings readable again", "campaign sightings written again")
	if n := strings.Count(logs.String(), readerDown); n != 1 {
		t.Errorf("one outage: the reader logged its failure %d times, want once:\n%s", n, logs.String())
	}
}
