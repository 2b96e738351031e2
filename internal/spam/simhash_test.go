package spam_test

import (
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/spam"
)

func TestSimHashNearDuplicates(t *testing.T) {
	base := "Hey everyone, check out my new channel where I post covers of popular songs every week, please subscribe and like!"
	tests := []struct {
		name, a, b string
	}{
		{"identical", base, base},
		{"case, spacing and punctuation", base, "HEY everyone!!  check out my new channel where I post covers of popular songs every week please subscribe and like"},
		{"one word changed", base, "Hey everyone, check out my new channel where I post remixes of popular songs every week, please subscribe and like!"},
		{"a name swapped in", base + " -- Kobe", base + " -- Jonas"},
		{"look-alike letters", base, "Hey everyone, check out my new ｃｈａｎｎｅｌ where I post covers of popular songs every week, please subscribe and like!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := spam.SimHash(tt.a), spam.SimHash(tt.b)
			if d := a.Distance(b); d > spam.DefaultMaxDistance {
				t.Errorf("SimHash(%q).Distance(SimHash(%q)) = %d, want at most %d", tt.a, tt.b, d, spam.DefaultMaxDistance)
			}
		})
	}
}

func TestSimHashUnrelated(t *testing.T) {
	texts := []string{
		"Hey everyone, check out my new channel where I post covers of popular songs every week, please subscribe and like!",
		"This song reminds me of the summer I spent with my grandparents in the mountains, such good memories.",
		"Who else is watching this in 2015? The video still looks amazing after all these years of views.",
		"I made 500 dollars a day working from home with this simple trick, visit my profile to learn how it works.",
		"The drummer in the background is completely out of sync with the music during the second chorus.",
		"Honestly her voice live is even better than the studio version, I saw her in concert last year.",
	}
	var sum, n int
	for i := range texts {
		for j := i + 1; j < len(texts); j++ {
			d := spam.SimHash(texts[i]).Distance(spam.SimHash(texts[j]))
			if d <= spam.DefaultMaxDistance {
				t.Errorf("SimHash distance of unrelated texts %q and %q = %d, want above %d", texts[i], texts[j], d, spam.DefaultMaxDistance)
			}
			sum += d
			n++
		}
	}
	// Unrelated fingerprints should differ in about half their 64 bits.
	if mean := float64(sum) / float64(n); mean < 20 {
		t.Errorf("mean SimHash distance of unrelated texts = %.1f, want about 32 (at least 20)", mean)
	}
}

func TestFingerprintBandsFindNearOnes(t *testing.T) {
	// Pigeonhole: at distance below Bands, some 8-bit band is equal.
	f := spam.Fingerprint(0x0123456789abcdef)
	for d := 0; d < spam.Bands; d++ {
		g := f
		for i := range d {
			g ^= 1 << (i * 8) // flip one bit in each of the first d bands
		}
		shared := false
		for i := range spam.Bands {
			shared = shared || f.Band(i) == g.Band(i)
		}
		if !shared {
			t.Errorf("fingerprints %016x and %016x (distance %d) share no band, want at least one", uint64(f), uint64(g), f.Distance(g))
		}
		if got := f.Distance(g); got != d {
			t.Errorf("Distance(%016x, %016x) = %d, want %d", uint64(f), uint64(g), got, d)
		}
	}
	if got := f.Similarity(f); got != 1 {
		t.Errorf("Similarity of a fingerprint with itself = %v, want 1", got)
	}
}

func TestFingerprinted(t *testing.T) {
	for _, tt := range []struct {
		body string
		want bool
	}{
		{"first!!!", false},
		{"I love this song so much", false},
		{"Hey everyone, check out my new channel where I post covers", true},
		// The bound: letters and digits only, 39 is too few, 40 is enough.
		{strings.Repeat("ab ", 19) + "c!!", false},
		{strings.Repeat("ab ", 20) + "!!", true},
	} {
		if got := spam.Fingerprinted(tt.body, spam.DefaultCampaignMinChars); got != tt.want {
			t.Errorf("Fingerprinted(%q, %d) = %v, want %v", tt.body, spam.DefaultCampaignMinChars, got, tt.want)
		}
	}
}
