package redisstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

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
	if seen, err := a.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: now}, time.Hour); err != nil || len(seen) != 0 {
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
	if _, err := ahead.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: now.Add(2 * time.Hour)}, time.Hour); err != nil {
		t.Fatalf("called Observe on the server ahead, got error %v", err)
	}
	if err := ahead.Flush(ctx); err != nil {
		t.Fatalf("called Flush on the server ahead, got error %v", err)
	}

	c := NewCampaigns(secondInstance(t, ts), opts)
	if err := c.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	if _, err := c.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-b", At: now}, time.Hour); err != nil {
		t.Fatalf("called Observe for author-b, got error %v", err)
	}
	seen, err := c.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-c", At: now.Add(time.Millisecond)}, time.Hour)
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
	if _, err := c.Observe(ctx, spam.Sighting{Fingerprint: fp, AuthorKey: "author-a", At: time.Now()}, keep); err != nil {
		t.Fatalf("called Observe, got error %v", err)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("after one Observe, got %d sightings in memory, want 1", n)
	}
	waitFor(t, 10*keep, "the last sighting to leave memory after the window", func() bool { return c.Len() == 0 })
}
