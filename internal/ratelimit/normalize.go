package ratelimit

import (
	"strings"
	"unicode"
)

// NormalizeText returns the form of a comment body that duplicate control compares: lower case,
// punctuation, symbols and invisible format characters (zero-width spaces and joiners, which
// spammers sprinkle to dodge exact matches) dropped, and every run of white space made one space.
// "Great article!!" and "  great   ARTICLE " are the same text. A body made only of punctuation and
// symbols (say, a row of emoji) would normalise to nothing and so match every other such body; it
// keeps its symbols instead.
func NormalizeText(body string) string {
	if s := normalize(body, true); s != "" {
		return s
	}
	return normalize(body, false)
}

func normalize(body string, dropSymbols bool) string {
	var b strings.Builder
	b.Grow(len(body))
	space := false
	for _, r := range body {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.Is(unicode.Cf, r):
			continue
		case dropSymbols && (unicode.IsPunct(r) || unicode.IsSymbol(r)):
			// Punctuation separates words as a space would: "yes,no" matches "yes no".
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

// DuplicateText is the text whose keyed hash identifies a comment for duplicate control: the
// thread and the normalised body. The author is not part of it because the store keeps the
// duplicate marker under the author already. Hash it (privacy.Keyring.TextKey) before it goes
// anywhere: a comment body is never stored in a key.
func DuplicateText(threadID, body string) string {
	return threadID + "\x00" + NormalizeText(body)
}
