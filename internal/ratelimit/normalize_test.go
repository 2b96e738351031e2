package ratelimit

import (
	"strings"
	"testing"
	"unicode"
)

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
		{name: "variation selector after a dropped emoji", a: "Nice ❤\ufe0f", b: "nice ❤", same: true},
		{name: "emoji-only bodies with variation selectors differ", a: "❤\ufe0f", b: "☀\ufe0f", same: false},
		{name: "emoji-only bodies with and without variation selector", a: "❤\ufe0f❤\ufe0f", b: "❤❤", same: true},
		{name: "combining accent", a: "Cafe\u0301 au lait", b: "café au lait", same: true},
		{name: "full-width letters", a: "ＧＲＥＡＴ article", b: "great article", same: true},
		{name: "ligature", a: "\ufb01rst", b: "first", same: true},
		{name: "accents kept", a: "café", b: "cafe", same: false},
		{name: "invisible fillers and joiners", a: "great\u3164 arti\u034fcle\u115f", b: "great article", same: true},
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

// normalizeReference is normalize as written before its ASCII tables: every character through the
// unicode package. The tables must not change a single answer.
func normalizeReference(body string, dropSymbols bool) string {
	var b strings.Builder
	space := false
	for _, r := range body {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.Is(unicode.Cf, r), unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
			continue
		case dropSymbols && (unicode.IsPunct(r) || unicode.IsSymbol(r)):
			space = space || (b.Len() > 0 && unicode.IsPunct(r))
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func TestNormalizeMatchesReference(t *testing.T) {
	t.Parallel()
	var ascii strings.Builder
	for r := range rune(128) {
		ascii.WriteRune(r)
		ascii.WriteString("a")
	}
	bodies := []string{
		ascii.String(),
		"Great article!!! Read it at HTTP://EXAMPLE.COM/Page?x=1 -- 100% TRUE; {ok} [yes] <no> ~tilde~ `tick` ^caret^ |pipe|",
		"Tabs\tand\vvertical\ffeeds\r\n and \x00 control \x1f characters \x7f",
		"Ünïcödé ΚΑΛΗΜΈΡΑ gre\u200bat \u00a0nbsp\u0085nel 👍 «quotes» — dash ❤\ufe0f \u3164",
	}
	for _, body := range bodies {
		for _, drop := range []bool{true, false} {
			if got, want := normalize(body, drop), normalizeReference(body, drop); got != want {
				t.Errorf("normalize(%q, %v) = %q, want %q", body, drop, got, want)
			}
		}
	}
}

func FuzzNormalizeMatchesReference(f *testing.F) {
	f.Add("Great article!!! 👍 \u200b ΚΑΛΗ")
	f.Fuzz(func(t *testing.T, body string) {
		for _, drop := range []bool{true, false} {
			if got, want := normalize(body, drop), normalizeReference(body, drop); got != want {
				t.Errorf("normalize(%q, %v) = %q, want %q", body, drop, got, want)
			}
		}
	})
}

// BenchmarkNormalize compares normalize with normalizeReference on a mostly ASCII body.
func BenchmarkNormalize(b *testing.B) {
	body := strings.Repeat("The figures in the third paragraph do not add up, as anyone can check! ", 6)
	b.Run("tables", func(b *testing.B) {
		for b.Loop() {
			normalize(body, true)
		}
	})
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			normalizeReference(body, true)
		}
	})
}
