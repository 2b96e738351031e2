package comment

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/privacy"
)

// Skeleton returns text as the checks that compare it with other text read it (the word lists,
// duplicate control, the campaign check): compatibility characters as their plain ones (NFKC),
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
		switch {
		case privacy.Invisible(r):
			continue
		case unicode.Is(unicode.Mn, r):
			if latin {
				continue
			}
		default:
			if l, ok := lookAlikes[r]; ok {
				r = l
			}
			latin = r < utf8.RuneSelf && unicode.IsLetter(r) || r >= utf8.RuneSelf && unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic)
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
