package spam

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// matchReference is Window.match as it was before it collected candidates and took a distance
// bound: it reads every sighting within MaxMatchDistance. TestWindowMatchNearAgreesWithReference
// holds the current match to it.
func (w *Window) matchReference(s Sighting, window time.Duration) []Sighting {
	from := s.At.Add(-window).UnixNano()
	var out []Sighting
	w.gen++
	for b := range Bands {
		bk := &w.buckets[b][s.Fingerprint.Band(b)]
		for i, fp := range bk.fps {
			if s.Fingerprint.Distance(fp) > MaxMatchDistance {
				continue
			}
			if bk.ats[i] < from {
				continue
			}
			x := bk.es[i]
			if x.mark == w.gen || (s.AuthorKey != "" && x.AuthorKey == s.AuthorKey) {
				continue
			}
			x.mark = w.gen
			if j := authorIndex(out, x.AuthorKey); j >= 0 {
				if s.Fingerprint.Distance(fp) < s.Fingerprint.Distance(out[j].Fingerprint) {
					out[j] = x.Sighting
				}
				continue
			}
			out = append(out, x.Sighting)
			if len(out) == maxMatches {
				return out
			}
		}
	}
	return out
}

// TestWindowMatchNearAgreesWithReference: match with a distance bound returns exactly the
// reference's sightings within that bound (in any order), and without one (MaxMatchDistance)
// exactly the reference's, in its order, on windows of clustered fingerprints: few and many
// sightings, authors with several sightings and sightings without an author, times on both sides
// of the window, and floods of one text that bring more candidates than a match returns.
func TestWindowMatchNearAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	t0 := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	// flip returns fp with n random bits flipped (some may flip back: at most n apart).
	flip := func(fp Fingerprint, n int) Fingerprint {
		for range n {
			fp ^= 1 << rng.IntN(64)
		}
		return fp
	}
	var capped, narrowed, fast int
	for trial := range 300 {
		size := []int{20, 300, 3000, 6000}[trial%4]
		clusters := 1 + rng.IntN(8)
		if trial%5 == 0 {
			clusters = 1 // a flood of one text
		}
		authors := 1 + rng.IntN(size)
		bases := make([]Fingerprint, clusters)
		for i := range bases {
			bases[i] = Fingerprint(rng.Uint64())
		}
		w := NewWindow(3 * time.Hour)
		for range size {
			author := fmt.Sprint("a", rng.IntN(authors))
			if rng.IntN(20) == 0 {
				author = ""
			}
			w.Add(Sighting{
				Fingerprint: flip(bases[rng.IntN(clusters)], rng.IntN(24)),
				AuthorKey:   author,
				At:          t0.Add(-time.Duration(rng.Int64N(int64(2 * time.Hour)))),
			})
		}
		for range 10 {
			author := "probe"
			if rng.IntN(3) == 0 {
				author = fmt.Sprint("a", rng.IntN(authors)) // an author with sightings of their own
			}
			s := Sighting{Fingerprint: flip(bases[rng.IntN(clusters)], rng.IntN(12)), AuthorKey: author, At: t0}
			ref := w.matchReference(s, time.Hour)
			if len(ref) == maxMatches {
				capped++
			}
			if got := w.match(s, time.Hour, MaxMatchDistance); !slices.Equal(got, ref) {
				t.Fatalf("trial %d: match(%016x, bound %d) = %d sightings, want the reference's %d in its order\ngot  %v\nwant %v",
					trial, uint64(s.Fingerprint), MaxMatchDistance, len(got), len(ref), got, ref)
			}
			for _, within := range []int{0, 3, 8, DefaultMaxDistance, 12, 15, MaxMatchDistance - 1} {
				want := slices.DeleteFunc(slices.Clone(ref), func(x Sighting) bool { return s.Fingerprint.Distance(x.Fingerprint) > within })
				if len(want) < len(ref) {
					narrowed++
				}
				if len(ref) < maxMatches && len(want) > 0 {
					fast++
				}
				got := w.match(s, time.Hour, within)
				if !slices.Equal(sortedSightings(got), sortedSightings(want)) {
					t.Fatalf("trial %d: match(%016x, bound %d) = %v, want the reference's sightings within %d: %v",
						trial, uint64(s.Fingerprint), within, sortedSightings(got), within, sortedSightings(want))
				}
			}
		}
	}
	// The cases must reach both ways of matching: the bound of returned sightings, and a bound
	// on distance that leaves some out and some in.
	if capped == 0 || narrowed == 0 || fast == 0 {
		t.Errorf("got %d matches at the bound of %d sightings, %d narrowed by distance, %d found within it below the bound; want some of each", capped, maxMatches, narrowed, fast)
	}
}

func sortedSightings(ss []Sighting) []Sighting {
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b Sighting) int {
		return cmp.Or(cmp.Compare(a.AuthorKey, b.AuthorKey), cmp.Compare(a.Fingerprint, b.Fingerprint), a.At.Compare(b.At))
	})
	return ss
}
