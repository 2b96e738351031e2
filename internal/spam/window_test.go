package spam_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

func TestWindowMatch(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	base := spam.SimHash("Win a free phone today, just click the link in my profile and claim it now")
	near := base ^ 0b1011                    // three bits apart: shares every band but the lowest
	far := ^base                             // shares no band
	oneBand := base ^ 0xffffffffffff         // only the top two bands agree, but 48 bits apart
	oneBandNear := base ^ 0x0001010101010101 // seven bands differ by one bit each: 7 bits apart
	tests := []struct {
		name   string
		seen   []spam.Sighting
		query  spam.Sighting
		window time.Duration
		want   []string // author keys found
	}{
		{
			name:   "near copy within the window",
			seen:   []spam.Sighting{{Fingerprint: near, AuthorKey: "a", At: t0.Add(-time.Minute)}},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
			want:   []string{"a"},
		},
		{
			name:   "one shared band and near is a candidate",
			seen:   []spam.Sighting{{Fingerprint: oneBandNear, AuthorKey: "a", At: t0.Add(-time.Minute)}},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
			want:   []string{"a"},
		},
		{
			name:   "one shared band but far apart is not",
			seen:   []spam.Sighting{{Fingerprint: oneBand, AuthorKey: "a", At: t0.Add(-time.Minute)}},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
		},
		{
			name:   "no shared band",
			seen:   []spam.Sighting{{Fingerprint: far, AuthorKey: "a", At: t0.Add(-time.Minute)}},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
		},
		{
			name: "outside the window",
			seen: []spam.Sighting{
				{Fingerprint: base, AuthorKey: "old", At: t0.Add(-2 * time.Hour)},
				{Fingerprint: base, AuthorKey: "edge", At: t0.Add(-time.Hour)},
			},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
			want:   []string{"edge"},
		},
		{
			// Another server's clock runs ahead, or a concurrent submission read the clock after
			// the query's: the sighting was made all the same.
			name:   "stamped after the query",
			seen:   []spam.Sighting{{Fingerprint: near, AuthorKey: "later", At: t0.Add(time.Second)}},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
			want:   []string{"later"},
		},
		{
			name: "each sighting once, however many bands it shares",
			seen: []spam.Sighting{
				{Fingerprint: base, AuthorKey: "a", At: t0.Add(-3 * time.Minute)},
				{Fingerprint: near, AuthorKey: "b", At: t0.Add(-2 * time.Minute)},
			},
			query:  spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0},
			window: time.Hour,
			want:   []string{"a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := spam.NewWindow(3 * time.Hour)
			w.Add(tt.seen...)
			got := authors(w.Match(tt.query, tt.window))
			if !slices.Equal(got, tt.want) {
				t.Errorf("called Match(%x at %s, window %s) after adding %d sightings, got authors %q, want %q", uint64(tt.query.Fingerprint), tt.query.At.Format(time.TimeOnly), tt.window, len(tt.seen), got, tt.want)
			}
			if n := w.Len(); n != len(tt.seen) {
				t.Errorf("called Match, got Len %d, want %d: Match must not record", n, len(tt.seen))
			}
		})
	}
}

// TestWindowMatchNearestOfEachAuthor: a match gives one sighting per author, the nearest, so that
// an author whose nearest copy is close enough counts even when their first copy was not.
func TestWindowMatchNearestOfEachAuthor(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	base := spam.SimHash("Win a free phone today, just click the link in my profile and claim it now")
	farther := base ^ 0x0000000000003fff // 14 bits apart, in the two lowest bands
	nearer := base ^ 0b101               // 2 bits apart
	w := spam.NewWindow(time.Hour)
	w.Add(spam.Sighting{Fingerprint: farther, AuthorKey: "a", At: t0.Add(-2 * time.Minute)},
		spam.Sighting{Fingerprint: nearer, AuthorKey: "a", At: t0.Add(-time.Minute)})
	got := w.Match(spam.Sighting{Fingerprint: base, AuthorKey: "q", At: t0}, time.Hour)
	if len(got) != 1 || got[0].Fingerprint != nearer {
		t.Errorf("called Match after two sightings of author a, %d and %d bits apart, got %v, want only the nearer one", base.Distance(farther), base.Distance(nearer), got)
	}
}

func TestWindowObserveRecords(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	fp := spam.SimHash("the same campaign text, posted by one account after another")
	w := spam.NewWindow(time.Hour)
	for i, author := range []string{"a", "b", "c"} {
		got := authors(w.Observe(spam.Sighting{Fingerprint: fp, AuthorKey: author, At: t0.Add(time.Duration(i) * time.Second)}, time.Hour))
		want := []string{"a", "b", "c"}[:i]
		if !slices.Equal(got, want) {
			t.Errorf("called Observe for author %s (sighting %d), got %q, want the earlier ones %q", author, i+1, got, want)
		}
	}
}

// TestWindowObserveOutOfOrder: concurrent submissions read the clock before they take the window's
// lock, so they may be observed in the other order than their times. The last observed must still
// see the others, or a campaign of concurrent copies passes unseen.
func TestWindowObserveOutOfOrder(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	fp := spam.SimHash("the same campaign text, posted by three accounts at the same moment")
	w := spam.NewWindow(time.Hour)
	w.Observe(spam.Sighting{Fingerprint: fp, AuthorKey: "a", At: t0.Add(2 * time.Millisecond)}, time.Hour)
	w.Observe(spam.Sighting{Fingerprint: fp, AuthorKey: "b", At: t0.Add(time.Millisecond)}, time.Hour)
	got := authors(w.Observe(spam.Sighting{Fingerprint: fp, AuthorKey: "c", At: t0}, time.Hour))
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("called Observe for author c, stamped before a's and b's but observed after them, got %q, want %q", got, want)
	}
}

func TestWindowPrunes(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	w := spam.NewWindow(time.Minute)
	for i := range 100 {
		w.Add(spam.Sighting{Fingerprint: spam.Fingerprint(i), AuthorKey: "a", At: t0.Add(time.Duration(i) * time.Second)})
	}
	// The newest is at 99s: with a minute kept, at most the last 60s (plus one prune interval of
	// slack) may remain, and sightings older than the window are refused on arrival.
	if n := w.Len(); n > 60+60/8+1 || n < 60 {
		t.Errorf("added 100 sightings a second apart to a 1m window, got Len %d, want between 60 and %d", n, 60+60/8+1)
	}
	w.Add(spam.Sighting{Fingerprint: 1, AuthorKey: "late", At: t0})
	if got := authors(w.Match(spam.Sighting{Fingerprint: 1, At: t0}, time.Hour)); slices.Contains(got, "late") {
		t.Errorf("added a sighting older than the window, got it back from Match, want it dropped")
	}

	// After pruning, what is kept still answers with its own author: far-apart fingerprints, one
	// author each, more of them than one prune interval holds.
	w = spam.NewWindow(time.Minute)
	rng := rand.New(rand.NewPCG(3, 4))
	fps := make([]spam.Fingerprint, 5000)
	for i := range fps {
		fps[i] = spam.Fingerprint(rng.Uint64())
		w.Add(spam.Sighting{Fingerprint: fps[i], AuthorKey: fmt.Sprint("a", i), At: t0.Add(time.Duration(i) * 20 * time.Millisecond)})
	}
	now := t0.Add(time.Duration(len(fps)) * 20 * time.Millisecond)
	for i := len(fps) - 2000; i < len(fps); i += 97 {
		got := authors(w.Match(spam.Sighting{Fingerprint: fps[i], AuthorKey: "probe", At: now}, time.Minute))
		if !slices.Contains(got, fmt.Sprint("a", i)) {
			t.Errorf("after pruning, Match(fingerprint of sighting %d) = %v, want its author a%d among them", i, got, i)
		}
	}
}

func authors(ss []spam.Sighting) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.AuthorKey)
	}
	slices.Sort(out)
	return out
}

// BenchmarkWindowObserve is one campaign check against a full window (MaxWindowSightings
// sightings): the cost every submission pays once the window has filled. "random" holds random
// fingerprints, which almost never come within MaxMatchDistance of the one asked about; "texts"
// holds the fingerprints of comments written from one vocabulary, as cmd/commentd-bench sends
// them, of which some dozens per match come within MaxMatchDistance (but not within
// DefaultMaxDistance): the sightings a match must read beyond their fingerprints. "texts-near"
// asks, as the campaign check does, only for those within DefaultMaxDistance.
//
//	go test -run XXX -bench WindowObserve -benchmem ./internal/spam/
func BenchmarkWindowObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomFP := func() spam.Fingerprint { return spam.Fingerprint(rng.Uint64()) }
	textFP := func() spam.Fingerprint { return spam.SimHash(vocabularyComment(rng)) }
	for _, bc := range []struct {
		name   string
		fp     func() spam.Fingerprint
		within int // the distance bound asked for (MatchNear)
	}{
		{"random", randomFP, spam.MaxMatchDistance},
		{"texts", textFP, spam.MaxMatchDistance},
		{"texts-near", textFP, spam.DefaultMaxDistance},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := spam.NewWindow(time.Hour)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range spam.MaxWindowSightings {
				w.Add(spam.Sighting{Fingerprint: bc.fp(), AuthorKey: fmt.Sprint("a", i%5000), At: t0.Add(time.Duration(i) * time.Millisecond)})
			}
			probes := make([]spam.Fingerprint, 512)
			for i := range probes {
				probes[i] = bc.fp()
			}
			at := t0.Add(time.Duration(spam.MaxWindowSightings) * time.Millisecond)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s := spam.Sighting{Fingerprint: probes[i%len(probes)], AuthorKey: "probe", At: at.Add(time.Duration(i) * time.Microsecond)}
				w.MatchNear(s, time.Hour, bc.within)
			}
		})
	}
}

// benchVocabulary and benchOpenings make comments as cmd/commentd-bench's generator does: one to
// four sentences of 6 to 18 words from a vocabulary of local news, each after an opening.
var (
	benchOpenings = []string{"I think", "Honestly,", "As a resident,", "Thanks for this.", "I disagree:", "Good point, but",
		"Does anyone know whether", "My family", "The article says", "Last year", "In my experience", "Why does nobody mention"}
	benchVocabulary = strings.Fields(`council budget bridge school teacher parents street traffic bus train timetable
		weekend survey ministry figures paragraph spring summer winter harvest farmers market prices rent housing
		tenants landlord hospital nurses doctors waiting list clinic emergency ambulance river flooding rain storm
		power outage cables library museum concert festival football stadium tickets parking fines police report
		court judge appeal vote election candidate mayor opposition coalition tax pension salary workers strike union
		factory closure jobs airport noise runway climate emissions solar wind turbines heating gas bills energy water
		pipes repairs roadworks cyclists pedestrians crossing children playground park trees neighbours shop bakery
		closed opened finally again never always usually rarely reported explained ignored promised delayed cancelled
		approved rejected increased reduced doubled halved expected surprising disappointing excellent fair unfair
		clear confusing wrong right because although however since while until after before during without despite
		nobody everyone somebody`)
)

func vocabularyComment(r *rand.Rand) string {
	var b strings.Builder
	for i := 0; i <= r.IntN(4); i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(benchOpenings[r.IntN(len(benchOpenings))])
		for range 6 + r.IntN(13) {
			b.WriteString(" ")
			b.WriteString(benchVocabulary[r.IntN(len(benchVocabulary))])
		}
		b.WriteString(".")
	}
	return b.String()
}

// TestWindowForget: an erasure drops every sighting of the author, from every band, and keeps the
// others'.
func TestWindowForget(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := spam.NewWindow(time.Hour)
	fp := spam.SimHash("Everyone must read the report on the harbour redevelopment before the vote")
	for i, author := range []string{"gone", "kept", "gone", "other"} {
		w.Add(spam.Sighting{Fingerprint: fp ^ spam.Fingerprint(i), AuthorKey: author, At: t0.Add(time.Duration(i) * time.Second)})
	}
	if n := w.Forget("gone", "never-seen"); n != 2 {
		t.Errorf("Forget(gone, never-seen) = %d, want 2", n)
	}
	if n := w.Len(); n != 2 {
		t.Errorf("after Forget, Len() = %d, want 2", n)
	}
	got := authors(w.Match(spam.Sighting{Fingerprint: fp, AuthorKey: "probe", At: t0.Add(time.Minute)}, time.Hour))
	if want := []string{"kept", "other"}; !slices.Equal(got, want) {
		t.Errorf("after Forget(gone), Match = %v, want %v", got, want)
	}
	if n := w.Forget("gone"); n != 0 {
		t.Errorf("second Forget(gone) = %d, want 0", n)
	}
}

// TestWindowExpire: Expire drops the sightings older than the window before the time given, and
// keeps the others, though no newer sighting came.
func TestWindowExpire(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w := spam.NewWindow(time.Hour)
	w.Add(spam.Sighting{Fingerprint: 1, AuthorKey: "old", At: t0}, spam.Sighting{Fingerprint: 1, AuthorKey: "new", At: t0.Add(30 * time.Minute)})
	for _, tt := range []struct {
		name string
		now  time.Time
		want []string
	}{
		{name: "within the window", now: t0.Add(time.Hour), want: []string{"new", "old"}},
		{name: "past the first", now: t0.Add(time.Hour + time.Second), want: []string{"new"}},
		{name: "past both", now: t0.Add(2 * time.Hour), want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w.Expire(tt.now)
			if got := authors(w.Match(spam.Sighting{Fingerprint: 1, AuthorKey: "probe", At: t0.Add(31 * time.Minute)}, 2*time.Hour)); !slices.Equal(got, tt.want) {
				t.Errorf("after Expire(%s), Match = %v, want %v", tt.now.Format(time.TimeOnly), got, tt.want)
			}
			if n := w.Len(); n != len(tt.want) {
				t.Errorf("after Expire(%s), Len() = %d, want %d", tt.now.Format(time.TimeOnly), n, len(tt.want))
			}
		})
	}
}

// observeOnly is a spam.Campaigns over a window that ignores the distance it is given, as a store
// that cannot bound its match may: the campaign check then filters every sighting within
// MaxMatchDistance itself.
type observeOnly struct{ w *spam.Window }

func (c observeOnly) Observe(_ context.Context, s spam.Sighting, window time.Duration, _ int) ([]spam.Sighting, error) {
	return c.w.Observe(s, window), nil
}

// observeNear is a spam.Campaigns over a window that bounds its match by the distance, as the
// Redis store's.
type observeNear struct{ w *spam.Window }

func (c observeNear) Observe(_ context.Context, s spam.Sighting, window time.Duration, maxDistance int) ([]spam.Sighting, error) {
	return c.w.ObserveNear(s, window, maxDistance), nil
}

// TestCampaignCheckSameThroughObserveNear: a Scorer whose store bounds its match by the distance
// it is given gives the same results, reasons and their author counts included, as one whose
// store ignores the distance, on the same comments: texts written from one vocabulary, campaigns of near copies, and a flood of
// one text by more authors than a match returns.
func TestCampaignCheckSameThroughObserveNear(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	campaigns := make([]string, 4)
	for i := range campaigns {
		campaigns[i] = vocabularyComment(rng) + " " + vocabularyComment(rng)
	}
	for _, opts := range []spam.CampaignOptions{
		{},
		{MaxDistance: 4, MinAuthors: 3},
		{MaxDistance: 14, MinAuthors: 200},
		{MaxDistance: spam.MaxMatchDistance},
	} {
		name := fmt.Sprintf("max distance %d, min authors %d", opts.MaxDistance, opts.MinAuthors)
		if opts.MaxDistance == 0 && opts.MinAuthors == 0 {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
			opts.Now = func() time.Time { return now }
			scorer := func(c spam.Campaigns) *spam.Scorer {
				s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{Campaigns: c, Campaign: opts})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			plain := scorer(observeOnly{spam.NewWindow(time.Hour)})
			near := scorer(observeNear{spam.NewWindow(time.Hour)})
			held := 0
			for i := range 1500 {
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				body := vocabularyComment(rng)
				switch {
				case i >= 1000 && i < 1400: // a flood: one text, a word changed now and then
					body = campaigns[0]
					if rng.IntN(2) == 0 {
						body += " " + benchVocabulary[rng.IntN(len(benchVocabulary))]
					}
				case rng.IntN(4) == 0:
					body = campaigns[rng.IntN(len(campaigns))] + " " + benchVocabulary[rng.IntN(len(benchVocabulary))]
				}
				in := spam.Input{Body: body, UserAgent: ua, AuthorKey: fmt.Sprint("author-", rng.IntN(900))}
				want, err := plain.Score(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := near.Score(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("comment %d (%q by %s): Score through ObserveNear differs from Score through Observe (-Observe +ObserveNear):\n%s", i, body, in.AuthorKey, diff)
				}
				if want.Decision == spam.DecisionHold {
					held++
				}
			}
			if held == 0 {
				t.Errorf("no comment held as a campaign: the cases do not reach the check's outcome")
			}
		})
	}
}
