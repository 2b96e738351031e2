package comment_test

import (
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
)

// TestSkeleton: the ways of writing a word that the eye reads as the word and a plain comparison
// does not are one skeleton; other words and other scripts' letters stay apart.
func TestSkeleton(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"ascii", "Casino", "Casino", true},
		{"cyrillic look-alikes", "\u0441\u0430sino", "casino", true},
		{"cyrillic capitals", "\u0421\u0410SIN\u041e", "casino", true},
		{"greek look-alike", "casin\u03bf", "casino", true},
		{"greek capitals", "\u039a\u0391\u03a4\u0395", "kate", true},
		{"accent", "ca\u0301sino", "casino", true},
		{"composed accent", "c\u00e1sino", "casino", true},
		{"zalgo", "c\u0336a\u0336s\u0301\u0302i\u0303n\u0304o\u0305", "casino", true},
		{"combining grapheme joiner", "ca\u034fsino", "casino", true},
		{"variation selector", "cas\ufe0fino", "casino", true},
		{"invisible times", "ca\u2062sino", "casino", true},
		{"direction mark", "ca\u200esino", "casino", true},
		{"tag character", "ca\U000E0020sino", "casino", true},
		{"hangul filler", "c\u3164asino", "casino", true},
		{"fullwidth", "\uff43\uff41\uff53\uff49\uff4e\uff4f", "casino", true},
		{"another word", "casino", "cashew", false},
		{"thai marks kept", "\u0e04\u0e32\u0e2a\u0e34\u0e42\u0e19", "\u0e04\u0e32\u0e2a\u0e42\u0e19", false},
		{"devanagari signs kept", "\u0915\u093f", "\u0915", false},
		{"japanese voicing kept", "\u30ac", "\u30ab", false},
		{"hangul", "\ud55c\uad6d", "\ud55c\uad6d", true},
		// The test for ASCII text reads eight bytes at a time, then the rest one by one.
		{"look-alike past eight bytes", "play at casino c\u0430sino tonight", "play at casino casino tonight", true},
		{"look-alike in the last bytes", "play at the very best casin\u03bf", "play at the very best casino", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := strings.ToLower(comment.Skeleton(tt.a)), strings.ToLower(comment.Skeleton(tt.b))
			if (a == b) != tt.same {
				t.Errorf("Skeleton(%q) = %q, Skeleton(%q) = %q; want the same: %v", tt.a, a, tt.b, b, tt.same)
			}
		})
	}
}

// BenchmarkSkeleton reads comments of about 500 characters: go test -run XXX -bench Skeleton ./internal/comment/
func BenchmarkSkeleton(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"ascii", strings.Repeat("The council approved the budget after a long night of debate. ", 8)},
		{"accented", strings.Repeat("Le conseil a approuvé le budget après une très longue nuit de débats. ", 8)},
		{"cyrillic", strings.Repeat("Совет утвердил бюджет после долгой ночи споров. ", 11)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				comment.Skeleton(bc.text)
			}
		})
	}
}
