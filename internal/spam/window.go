package spam

import (
	"slices"
	"sync"
	"time"
)

// Window keeps recent campaign sightings in memory, indexed by fingerprint band, so the campaign
// check answers without a network round trip. A Campaigns store built on it adds the sightings
// of other servers as they arrive and shares its own in the background. Safe for concurrent use.
type Window struct {
	mu      sync.Mutex
	keep    time.Duration
	buckets [Bands][256]bucket
	order   []*entry    // every sighting held, in arrival order, for the size bound
	gen     uint64      // stamps entries during one match, so each is returned once without a map
	n       int         // sightings held (each is in Bands buckets)
	newest  time.Time   // latest sighting time seen: the window's "now", so tests and replays need no clock
	pruned  time.Time   // newest at the last prune
	added   int         // sightings added since the last prune
	cands   []candidate // a match's candidates, kept between matches (see match)
}

// candidate is a sighting a match found within MaxMatchDistance and the window, before it reads
// the sighting itself.
type candidate struct {
	fp Fingerprint
	e  *entry
}

// maxKeptCandidates bounds the candidate buffer a window keeps between matches: a flood of one
// text can make a match find most of the window, and the buffer should not stay that big.
const maxKeptCandidates = 4096

// pruneEvery bounds how many sightings are added between two prunes, whatever the clock does.
const pruneEvery = 4096

// MaxWindowSightings bounds the sightings a window holds, whatever the rate of comments: memory
// stays bounded (a few hundred bytes a sighting: 24 in each of the Bands buckets, plus the entry
// and its 40-byte author key; tens of MB when full) and so does the cost of a match, which reads about
// Bands × held / 256 entries. At a busy news site's rate (tens of comments a second) an hour fits
// well inside it; at a flood rate the window shrinks to the most recent sightings.
const MaxWindowSightings = 100_000

// maxMatches bounds what one match returns: the campaign check needs only a few other authors.
// A match returns one sighting per author, so one author's many copies cannot fill it.
const maxMatches = 256

// MaxMatchDistance is the farthest a returned sighting's fingerprint may be from the one asked
// about. Sharing one 8-bit band is common by chance (one sighting in 256 per band), so without this
// bound a match would copy out hundreds of unrelated sightings; unrelated texts differ in about 32
// bits, and campaign checks ask for at most DefaultMaxDistance (10).
const MaxMatchDistance = 16

// entry is a sighting held by the window.
type entry struct {
	Sighting
	mark    uint64
	dropped bool // set by Forget while it sweeps the buckets
}

// bucket holds the sightings that share one band value, as three parallel slices. With a full
// window a match looks at thousands of sightings and keeps only the few near ones; their
// fingerprints alone, side by side, are 8 bytes each to read, where a slice of {fingerprint,
// time, pointer} was 24 (BenchmarkWindowObserve). Chasing each entry's pointer instead was once
// most of the campaign check's cost.
type bucket struct {
	fps []Fingerprint
	ats []int64 // s.At in Unix nanoseconds
	es  []*entry
}

func (b *bucket) add(fp Fingerprint, at int64, e *entry) {
	b.fps = append(b.fps, fp)
	b.ats = append(b.ats, at)
	b.es = append(b.es, e)
}

// NewWindow returns an empty window that keeps sightings for keep (at least the longest window
// any caller asks about).
func NewWindow(keep time.Duration) *Window {
	if keep <= 0 {
		keep = DefaultCampaignWindow
	}
	return &Window{keep: keep}
}

// Add records sightings.
func (w *Window) Add(ss ...Sighting) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range ss {
		w.add(s)
	}
}

// Match returns the sightings from s.At-window on that share at least one band with
// s.Fingerprint, each once, and of each author the nearest only. s itself is not recorded.
// Sightings stamped after s.At count too: each was made before this call (it is held), and only
// the clocks put it later: another server's clock a little ahead, or a concurrent submission that
// read the clock after s's and took the lock before it.
func (w *Window) Match(s Sighting, window time.Duration) []Sighting {
	return w.MatchNear(s, window, MaxMatchDistance)
}

// MatchNear returns those of Match's sightings that are at most maxDistance from s.Fingerprint:
// the same sightings, in any order. It is cheaper when maxDistance is below MaxMatchDistance:
// the sightings farther away are left unread (see match).
func (w *Window) MatchNear(s Sighting, window time.Duration, maxDistance int) []Sighting {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.match(s, window, maxDistance)
}

// Observe is Match followed by Add of s, in one step: of two concurrent near-copies, the second
// always sees the first.
func (w *Window) Observe(s Sighting, window time.Duration) []Sighting {
	return w.ObserveNear(s, window, MaxMatchDistance)
}

// ObserveNear is MatchNear followed by Add of s, in one step, as Observe.
func (w *Window) ObserveNear(s Sighting, window time.Duration, maxDistance int) []Sighting {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.match(s, window, maxDistance)
	w.add(s)
	return out
}

// Len returns the number of sightings held.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Forget drops every sighting of the given authors and returns how many it dropped. An erasure
// request needs it: a sighting pairs the author's keyed hash with the fingerprint of their
// comment, which would link the hash to the anonymised text.
func (w *Window) Forget(authorKeys ...string) int {
	drop := make(map[string]bool, len(authorKeys))
	for _, k := range authorKeys {
		if k != "" {
			drop[k] = true
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, x := range w.order {
		if drop[x.AuthorKey] {
			x.dropped = true
			n++
		}
	}
	if n == 0 {
		return 0
	}
	kept := w.order[:0]
	for _, x := range w.order {
		if !x.dropped {
			kept = append(kept, x)
		}
	}
	clear(w.order[len(kept):])
	w.order = kept
	for b := range Bands {
		for v := range w.buckets[b] {
			bk := &w.buckets[b][v]
			k := 0
			for i, x := range bk.es {
				if !x.dropped {
					bk.fps[k], bk.ats[k], bk.es[k] = bk.fps[i], bk.ats[i], x
					k++
				}
			}
			clear(bk.es[k:])
			bk.fps, bk.ats, bk.es = bk.fps[:k], bk.ats[:k], bk.es[:k]
		}
	}
	w.n -= n
	return n
}

// Expire drops the sightings older than keep before now. The window's own clock is its newest
// sighting (so that replays need no clock), and it prunes only when sightings arrive: without
// Expire, a window that receives nothing more keeps its last sightings, and the keyed hashes in
// them, for good.
func (w *Window) Expire(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cut := now.Add(-w.keep)
	for _, x := range w.order {
		if x.At.Before(cut) {
			w.pruneBefore(cut)
			return
		}
	}
}

// match returns up to maxMatches sightings of other authors than s's that share a band with s and
// are at most MaxMatchDistance from it, within the window: of each author the nearest. The
// campaign check counts authors, and one author's copies (one on each of hundreds of threads)
// would otherwise fill the bound with the oldest sightings and hide every other author. Of these
// it returns those at most within from s (within >= MaxMatchDistance: all of them).
//
// It reads a sighting's entry (its author, its mark) only after its fingerprint and time passed,
// but that read is a pointer into the heap, a cache miss, and comments of one site's language
// bring dozens within MaxMatchDistance on each match (BenchmarkWindowObserve/texts) where the
// campaign check keeps only those within its MaxDistance (DefaultMaxDistance). So it first
// collects the candidates, from the buckets' fingerprints and times alone. Fewer than maxMatches
// of them cannot fill the bound, and each author's nearest within is then the same whether the
// farther ones were read or not: it reads only the candidates within. Otherwise the bound may be
// reached, and which authors fill it depends on the farther ones too: it reads every candidate,
// in order, as it always did, and drops the farther ones from the result.
func (w *Window) match(s Sighting, window time.Duration, within int) []Sighting {
	from := s.At.Add(-window).UnixNano()
	cands := w.cands[:0]
	for b := range Bands {
		bk := &w.buckets[b][s.Fingerprint.Band(b)]
		for i, fp := range bk.fps {
			if s.Fingerprint.Distance(fp) > MaxMatchDistance {
				continue
			}
			if bk.ats[i] < from {
				continue
			}
			cands = append(cands, candidate{fp, bk.es[i]})
		}
	}
	limit := MaxMatchDistance
	if len(cands) < maxMatches {
		limit = min(within, MaxMatchDistance)
	}
	var out []Sighting
	w.gen++
	for _, c := range cands {
		if s.Fingerprint.Distance(c.fp) > limit {
			continue
		}
		x := c.e
		if x.mark == w.gen || (s.AuthorKey != "" && x.AuthorKey == s.AuthorKey) {
			continue
		}
		x.mark = w.gen
		if j := authorIndex(out, x.AuthorKey); j >= 0 {
			if s.Fingerprint.Distance(c.fp) < s.Fingerprint.Distance(out[j].Fingerprint) {
				out[j] = x.Sighting
			}
			continue
		}
		out = append(out, x.Sighting)
		if len(out) == maxMatches {
			break
		}
	}
	clear(cands) // let sightings pruned before the next match be collected
	if cap(cands) > maxKeptCandidates {
		cands = nil
	}
	w.cands = cands[:0]
	if limit > within {
		out = slices.DeleteFunc(out, func(x Sighting) bool { return s.Fingerprint.Distance(x.Fingerprint) > within })
	}
	return out
}

// authorIndex returns the index of author's sighting in ss, or -1. A sighting without an author
// key stands for itself.
func authorIndex(ss []Sighting, author string) int {
	if author == "" {
		return -1
	}
	for i := range ss {
		if ss[i].AuthorKey == author {
			return i
		}
	}
	return -1
}

func (w *Window) add(s Sighting) {
	if s.At.Before(w.newest.Add(-w.keep)) {
		return // already out of the window (a late event from another server)
	}
	p := &entry{Sighting: s}
	w.order = append(w.order, p)
	for b := range Bands {
		w.buckets[b][s.Fingerprint.Band(b)].add(s.Fingerprint, s.At.UnixNano(), p)
	}
	w.n++
	w.added++
	if s.At.After(w.newest) {
		w.newest = s.At
	}
	if w.added >= pruneEvery || w.newest.Sub(w.pruned) >= w.keep/8 || len(w.order) > MaxWindowSightings+pruneEvery {
		w.prune()
	}
}

// prune drops the sightings older than keep before the newest one. It walks every bucket, so it
// runs only every keep/8 of sighting time or every pruneEvery sightings.
func (w *Window) prune() {
	cut := w.newest.Add(-w.keep)
	if over := len(w.order) - MaxWindowSightings; over > 0 && w.order[over].At.After(cut) {
		cut = w.order[over].At // also drop the oldest sightings beyond the size bound
	}
	w.pruneBefore(cut)
}

// pruneBefore drops the sightings older than cut.
func (w *Window) pruneBefore(cut time.Time) {
	kept := w.order[:0]
	for _, x := range w.order {
		if !x.At.Before(cut) {
			kept = append(kept, x)
		}
	}
	clear(w.order[len(kept):])
	w.order = kept
	n, cutNano := 0, cut.UnixNano()
	for b := range Bands {
		for v := range w.buckets[b] {
			bk := &w.buckets[b][v]
			k := 0
			for i, at := range bk.ats {
				if at >= cutNano {
					bk.fps[k], bk.ats[k], bk.es[k] = bk.fps[i], at, bk.es[i]
					k++
				}
			}
			clear(bk.es[k:]) // let the dropped sightings be collected
			bk.fps, bk.ats, bk.es = bk.fps[:k], bk.ats[:k], bk.es[:k]
			if b == 0 {
				n += k
			}
		}
	}
	w.n = n
	w.pruned = w.newest
	w.added = 0
}
