package spam

import (
	"sync"
	"time"
)

// Window keeps recent campaign sightings in memory, indexed by fingerprint band, so the campaign
// check answers without a network round trip. A Campaigns store built on it adds the sightings
// of other servers as they arrive and shares its own in the background. Safe for concurrent use.
type Window struct {
	mu      sync.Mutex
	keep    time.Duration
	buckets [Bands][256][]slot
	order   []*entry  // every sighting held, in arrival order, for the size bound
	gen     uint64    // stamps entries during one match, so each is returned once without a map
	n       int       // sightings held (each is in Bands buckets)
	newest  time.Time // latest sighting time seen: the window's "now", so tests and replays need no clock
	pruned  time.Time // newest at the last prune
	added   int       // sightings added since the last prune
}

// pruneEvery bounds how many sightings are added between two prunes, whatever the clock does.
const pruneEvery = 4096

// MaxWindowSightings bounds the sightings a window holds, whatever the rate of comments: memory
// stays bounded (about 100 bytes a sighting) and so does the cost of a match, which reads about
// Bands × held / 256 entries. At a busy news site's rate (tens of comments a second) an hour fits
// well inside it; at a flood rate the window shrinks to the most recent sightings.
const MaxWindowSightings = 100_000

// maxMatches bounds what one match returns: the campaign check needs only a few other authors.
const maxMatches = 256

// MaxMatchDistance is the farthest a returned sighting's fingerprint may be from the one asked
// about. Sharing one 8-bit band is common by chance (one sighting in 256 per band), so without this
// bound a match would copy out hundreds of unrelated sightings; unrelated texts differ in about 32
// bits, and campaign checks ask for at most DefaultMaxDistance (10).
const MaxMatchDistance = 16

// entry is a sighting held by the window.
type entry struct {
	Sighting
	mark uint64
}

// slot is an entry's place in a band bucket. It carries the fingerprint and time inline, so a
// match reads buckets sequentially and follows the pointer only for the few near sightings:
// with a full window a match looks at thousands of slots, and chasing a pointer for each one was
// most of the campaign check's cost.
type slot struct {
	fp Fingerprint
	at int64 // s.At in Unix nanoseconds
	e  *entry
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

// Match returns the sightings from s.At-window up to s.At that share at least one band with
// s.Fingerprint, each once. s itself is not recorded.
func (w *Window) Match(s Sighting, window time.Duration) []Sighting {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.match(s, window)
}

// Observe is Match followed by Add of s, in one step: of two concurrent near-copies, the second
// always sees the first.
func (w *Window) Observe(s Sighting, window time.Duration) []Sighting {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.match(s, window)
	w.add(s)
	return out
}

// Len returns the number of sightings held.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// match returns up to maxMatches sightings of other authors than s's that share a band with s and
// are at most MaxMatchDistance from it, each once, within the window.
func (w *Window) match(s Sighting, window time.Duration) []Sighting {
	from, to := s.At.Add(-window).UnixNano(), s.At.UnixNano()
	var out []Sighting
	w.gen++
	for b := range Bands {
		for _, sl := range w.buckets[b][s.Fingerprint.Band(b)] {
			if sl.at < from || sl.at > to || s.Fingerprint.Distance(sl.fp) > MaxMatchDistance {
				continue
			}
			x := sl.e
			if x.mark == w.gen || (s.AuthorKey != "" && x.AuthorKey == s.AuthorKey) {
				continue
			}
			x.mark = w.gen
			out = append(out, x.Sighting)
			if len(out) == maxMatches {
				return out
			}
		}
	}
	return out
}

func (w *Window) add(s Sighting) {
	if s.At.Before(w.newest.Add(-w.keep)) {
		return // already out of the window (a late event from another server)
	}
	p := &entry{Sighting: s}
	w.order = append(w.order, p)
	for b := range Bands {
		v := s.Fingerprint.Band(b)
		w.buckets[b][v] = append(w.buckets[b][v], slot{fp: s.Fingerprint, at: s.At.UnixNano(), e: p})
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
			bucket := w.buckets[b][v]
			kept := bucket[:0]
			for _, x := range bucket {
				if x.at >= cutNano {
					kept = append(kept, x)
				}
			}
			clear(bucket[len(kept):]) // let the dropped sightings be collected
			w.buckets[b][v] = kept
			if b == 0 {
				n += len(kept)
			}
		}
	}
	w.n = n
	w.pruned = w.newest
	w.added = 0
}
