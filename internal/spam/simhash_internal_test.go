package spam

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/commentd/commentd/internal/comment"
)

// simHashReference is SimHash as first written: one signed counter per bit and a branch per bit.
// The fast bit counter, and the reading of ASCII text a byte at a time, must give exactly the
// same fingerprints, which are stored and compared across servers.
func simHashReference(norm []rune) Fingerprint {
	var weights [64]int
	add := func(rs []rune) {
		h := hashRunes(rs)
		for b := range 64 {
			if h&(1<<b) != 0 {
				weights[b]++
			} else {
				weights[b]--
			}
		}
	}
	if len(norm) <= shingleRunes {
		add(norm)
	}
	for i := 0; i+shingleRunes <= len(norm); i++ {
		add(norm[i : i+shingleRunes])
	}
	var f Fingerprint
	for b, w := range weights {
		if w > 0 {
			f |= 1 << b
		}
	}
	return f
}

func TestSimHashMatchesReference(t *testing.T) {
	long := strings.Repeat("Cheap watches and sunglasses at http://spam.example ", 40) // > 255 shingles
	// Bodies that fill SimHash's stack buffer exactly, and that just do not fit it.
	full, over := strings.Repeat("word ", simHashStackRunes/5), strings.Repeat("x", simHashStackRunes+1)
	var ascii strings.Builder // every ASCII character
	for c := range utf8.RuneSelf {
		ascii.WriteByte(byte(c))
	}
	// Text beyond ASCII is read through comment.Skeleton, after an ASCII beginning that SimHash
	// has read already, or in a body longer than its stack buffer.
	bodies := []string{"", "a", "short text", "The council approved the budget after a long night.", long, full, over,
		ascii.String(), "The council appro\u0301ved the b\u0443dget", "Le conseil a approuvé le budget", long + "caf\u00e9", over + "\u00e9"}
	// The reference reads every body the general way: the whole skeleton through appendText.
	for _, body := range bodies {
		norm := appendText(nil, comment.Skeleton(body))
		if got, want := SimHash(body), simHashReference(norm); got != want {
			t.Errorf("SimHash(%.30q) = %016x, want %016x (reference)", body, uint64(got), uint64(want))
		}
	}
}

// BenchmarkSimHash compares the bit counter with the original per-bit loop on a 500-character
// comment, and measures comments of about 500 characters beyond ASCII (accented French, Russian),
// which SimHash reads through comment.Skeleton first: go test -run XXX -bench SimHash ./internal/spam/
func BenchmarkSimHash(b *testing.B) {
	body := strings.Repeat("The council approved the budget after a long night of debate. ", 9)[:500]
	var norm []rune
	for _, r := range strings.ToLower(body) {
		norm = append(norm, r)
	}
	b.Run("bit-counter", func(b *testing.B) {
		for range b.N {
			SimHash(body)
		}
	})
	b.Run("per-bit-reference", func(b *testing.B) {
		for range b.N {
			simHashReference(norm)
		}
	})
	for _, bc := range []struct{ name, body string }{
		{"accented", strings.Repeat("Le conseil a approuvé le budget après une très longue nuit de débats. ", 8)},
		{"cyrillic", strings.Repeat("Совет утвердил бюджет после долгой ночи споров. ", 11)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				SimHash(bc.body)
			}
		})
	}
}
