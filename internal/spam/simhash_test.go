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
		{"cyrillic and greek look-alikes", base, "H\u0435y \u0435v\u0435ry\u03bfn\u0435, \u0441heck \u03bfut my new \u0441h\u0430nnel where I p\u03bfst covers of popular songs every week, please subscribe and like!"},
		{"accents", base, "H\u00e9y \u00e9v\u00e9ryone, ch\u00e8ck o\u00fbt my new ch\u00e0nnel where I post covers of popular songs every week, please subscribe and like!"},
		{"stacked marks", base, markLetters(base, "\u0336")},
		{"invisible characters", base, "Hey every\u2063one, check\u200e out my new chan\u034fnel where I post cov\ufe0fers of popular songs every week, please subscribe and like!"},
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

// markLetters writes mark (combining marks) after every ASCII letter of s.
func markLetters(s, mark string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteString(mark)
		}
	}
	return b.String()
}

func TestSimHashUnrelated(t *testing.T) {
	texts := []string{
		"Hey everyone, check out my new channel where I post covers of popular songs every week, please subscribe and like!",
		"This song reminds me of the summer I spent with my grandparents in the mountains, such good memories.",
		"Who else is watching this in 2015? The video still looks amazing after all these years of views.",
		"I made 500 dollars a day working from home with this simple trick, visit my profile to learn how it works.",
		"The drummer in the background is completely out of sync with the music during the second chorus.",
		"Honestly her voice live is even better than the studio version, I saw her in concert last year.",
		// Read as the eye reads them, Cyrillic and Greek texts become partly Latin; unrelated
		// ones must stay apart all the same.
		"Эта песня напоминает мне лето, которое я провёл у бабушки в горах, такие хорошие воспоминания.",
		"Барабанщик на заднем плане совсем не попадает в ритм музыки во время второго припева.",
		"Ειλικρινά η φωνή της ζωντανά είναι ακόμα καλύτερη από την εκδοχή του στούντιο, την είδα πέρυσι.",
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

// TestSimHashStable: fingerprints are shared between servers through the campaign window, so
// a server of another release must compute the same ones. These were computed before SimHash read
// text through comment.Skeleton, which returns ASCII text as it is; the fullwidth letters and the
// zero-width space of the last one were folded by SimHash itself, and Skeleton folds them alike.
func TestSimHashStable(t *testing.T) {
	for _, tt := range []struct {
		body string
		want spam.Fingerprint
	}{
		{"", 0xf52a15e9a9b5e89b},
		{"Hey everyone, check out my new channel where I post covers of popular songs every week!", 0xd21b96c42f31fc52},
		{"I made 500 dollars a day working from home with this simple trick, visit http://spam.example/x", 0xbed53a4a264507ab},
		{"Hey everyone, check out my new \uff43\uff48\uff41\uff4e\uff4e\uff45\uff4c where I post cov\u200bers every week!", 0xd219aedc2f39f952},
	} {
		if got := spam.SimHash(tt.body); got != tt.want {
			t.Errorf("SimHash(%q) = %016x, want %016x", tt.body, uint64(got), uint64(tt.want))
		}
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
