package ratelimit

import "testing"

func TestNormalizeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{name: "case", a: "Great Article", b: "great article", same: true},
		{name: "white space", a: "  great \n\n article\t", b: "great article", same: true},
		{name: "punctuation", a: "Great article!!!", b: "great, article.", same: true},
		{name: "punctuation between words", a: "yes,no", b: "yes no", same: true},
		{name: "zero-width characters", a: "gre\u200bat arti\u200dcle", b: "great article", same: true},
		{name: "symbols", a: "great article 👍👍", b: "great article", same: true},
		{name: "non-Latin case", a: "ΚΑΛΗΜΈΡΑ", b: "καλημέρα", same: true},
		{name: "different words", a: "great article", b: "great articles", same: false},
		{name: "word boundaries kept", a: "great article", b: "greatarticle", same: false},
		{name: "digits kept", a: "I paid 100", b: "I paid 1000", same: false},
		{name: "emoji-only bodies differ", a: "👍", b: "👎", same: false},
		{name: "emoji-only bodies same", a: " 👍 ", b: "👍", same: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na, nb := NormalizeText(tt.a), NormalizeText(tt.b)
			if (na == nb) != tt.same {
				t.Errorf("NormalizeText(%q) = %q, NormalizeText(%q) = %q; want equal %v", tt.a, na, tt.b, nb, tt.same)
			}
		})
	}
}

func TestDuplicateTextSeparatesThreads(t *testing.T) {
	t.Parallel()
	if a, b := DuplicateText("t1", "hello"), DuplicateText("t2", "hello"); a == b {
		t.Errorf("DuplicateText(t1, hello) = DuplicateText(t2, hello) = %q, want different", a)
	}
	if a, b := DuplicateText("t1", "Hello!"), DuplicateText("t1", "hello"); a != b {
		t.Errorf("DuplicateText(t1, Hello!) = %q, DuplicateText(t1, hello) = %q; want equal", a, b)
	}
}
