package comment

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/privacy"
)

// Skeleton returns text as the checks that compare one author's text with another's read it (the
// word lists, the campaign check; duplicate control, which compares an author's own resends,
// keeps accents apart): compatibility characters as their plain ones (NFKC),
// without invisible characters (privacy.Invisible), without the accents and other combining marks
// on Latin, Greek and Cyrillic letters ("cásino", or a mark stacked on every letter), and with the
// Greek and Cyrillic letters that look like Latin ones written as those ("саsinο" with a Cyrillic
// "с" and "а" and a Greek "ο"). A spammer writes a listed word, or a copy of a text, that way so
// that the eye reads it and the check does not. Case is left as it is, but a look-alike is
// written in lower case: compare the result case-insensitively.
//
// Both sides of a comparison must be read this way. Marks on letters of other scripts are kept
// (a Thai vowel or a Devanagari sign is part of the letter), and so are their letters. Text that
// is all ASCII comes back as it is.
func Skeleton(text string) string {
	if isASCII(text) {
		return text
	}
	text = norm.NFKD.String(text)
	var b strings.Builder
	b.Grow(len(text))
	latin := false // the last letter written is Latin, Greek or Cyrillic (or was made Latin)
	for _, r := range text {
		switch c := classOf(r); c {
		case classInvisible:
			continue
		case classMark:
			if latin {
				continue
			}
		default:
			if int(r) < len(lookAlikeOf) && lookAlikeOf[r] != 0 {
				r = lookAlikeOf[r]
			}
			latin = c == classLatin
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// lookAlikes maps the Greek and Cyrillic letters that are drawn like a Latin letter in common
// fonts onto it (lower case), capitals and small letters alike: the confusables of Unicode's
// UTS #39 that spammers use, not the whole table.
var lookAlikes = map[rune]rune{
	// Cyrillic capitals and small letters.
	'А': 'a', 'В': 'b', 'Е': 'e', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p', 'С': 'c',
	'Т': 't', 'Х': 'x', 'У': 'y', 'Ү': 'y', 'Ѕ': 's', 'І': 'i', 'Ј': 'j', 'Һ': 'h', 'Ԛ': 'q',
	'Ԝ': 'w', 'Ӏ': 'l', 'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x',
	'ѕ': 's', 'і': 'i', 'ј': 'j', 'һ': 'h', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'l', 'ү': 'y',
	'к': 'k',
	// Greek capitals and small letters.
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h', 'Ι': 'i', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n',
	'Ο': 'o', 'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x', 'α': 'a', 'ο': 'o', 'ρ': 'p', 'ν': 'v',
	'υ': 'u', 'ι': 'i', 'κ': 'k', 'χ': 'x', 'ϲ': 'c', 'ϳ': 'j',
	// Latin letters drawn like others.
	'ı': 'i', 'ɑ': 'a', 'ɡ': 'g',
}

// runeClass is what Skeleton does with a character.
type runeClass uint8

const (
	classOther     runeClass = iota // kept; the marks after it are kept too
	classLatin                      // a letter of Latin, Greek or Cyrillic: the marks after it go
	classMark                       // a combining mark (Mn)
	classInvisible                  // dropped (privacy.Invisible)
)

// classify returns r's class from the Unicode tables. A look-alike is Greek or Cyrillic, or Latin
// ("ı"), so it is classLatin before and after it is made Latin.
func classify(r rune) runeClass {
	switch {
	case privacy.Invisible(r):
		return classInvisible
	case unicode.Is(unicode.Mn, r):
		return classMark
	case r < utf8.RuneSelf && unicode.IsLetter(r) || r >= utf8.RuneSelf && unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic):
		return classLatin
	}
	return classOther
}

// runeClasses holds classify of the characters that make up Latin, Greek and Cyrillic text once
// decomposed (NFKD), combining marks included: looking them up in several Unicode tables for each
// character was most of Skeleton's cost, which the campaign check pays for every comment beyond
// ASCII.
var runeClasses = func() (t [0x800]runeClass) {
	for r := range t {
		t[r] = classify(rune(r))
	}
	return t
}()

func classOf(r rune) runeClass {
	if int(r) < len(runeClasses) {
		return runeClasses[r]
	}
	return classify(r)
}

// lookAlikeOf is lookAlikes indexed by rune (0: none), which Skeleton reads without hashing. Its
// length covers the letters lookAlikes holds (Cyrillic ends at U+052F); one beyond it panics
// at start-up, so every test catches it.
var lookAlikeOf = func() (t [0x530]rune) {
	for from, to := range lookAlikes {
		t[from] = to
	}
	return t
}()

// isASCII reports whether s is all ASCII. Every comment the campaign check fingerprints passes
// here first, so it tests eight bytes at a time: a byte-by-byte loop cost about 5 % of the
// fingerprint of an ASCII comment.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
