package ratelimit

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	// Against the import rules (see the package comment): privacy.Invisible is the one list of
	// invisible characters, shared by every check that compares text.
	"github.com/commentd/commentd/internal/privacy"
)

// NormalizeText returns the form of a comment body that duplicate control compares: lower case,
// punctuation, symbols and invisible characters (zero-width spaces and joiners, variation
// selectors, fillers, which spammers sprinkle to dodge exact matches) dropped, and every run of white space made one space.
// "Great article!!" and "  great   ARTICLE " are the same text. A body made only of punctuation and
// symbols (say, a row of emoji) would normalise to nothing and so match every other such body; it
// keeps its symbols instead.
//
// The body is first brought to Unicode's compatibility form (NFKC), so text that looks the same is
// the same whatever its encoding: "café" typed with a combining accent, letters in their
// full-width forms ("ＧＲＥＡＴ"), ligatures ("ﬁ").
func NormalizeText(body string) string {
	body = norm.NFKC.String(body)
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
		var class runeClass
		if r < utf8.RuneSelf {
			class = asciiClasses[r]
		} else {
			class = classify(r)
		}
		switch {
		case class == classSpace:
			space = b.Len() > 0
			continue
		case class == classInvisible:
			continue
		case dropSymbols && (class == classPunct || class == classSymbol):
			// Punctuation separates words as a space would: "yes,no" matches "yes no".
			space = space || (b.Len() > 0 && class == classPunct)
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if r < utf8.RuneSelf {
			b.WriteByte(asciiLower[r])
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// runeClass is what normalize does with a character.
type runeClass uint8

const (
	classKeep      runeClass = iota // written, lower-cased
	classSpace                      // white space
	classInvisible                  // an invisible character (Cf, or default ignorable), dropped
	classPunct                      // punctuation
	classSymbol                     // a symbol
)

func classify(r rune) runeClass {
	switch {
	case unicode.IsSpace(r):
		return classSpace
	case privacy.Invisible(r):
		// Not only the format characters: a variation selector (the U+FE0F that follows most
		// emoji, so "❤️" would keep it after its symbol is dropped) and the other characters
		// Unicode says to draw as nothing, such as the Hangul fillers and the combining grapheme
		// joiner, which are letters and marks only by category.
		return classInvisible
	case unicode.IsPunct(r):
		return classPunct
	case unicode.IsSymbol(r):
		return classSymbol
	}
	return classKeep
}

// asciiClasses and asciiLower answer classify and unicode.ToLower for ASCII from a table: most
// bodies are mostly ASCII, and the unicode range-table lookups were most of normalize's cost on
// every submission. Built from the same functions, so the answers cannot differ.
var asciiClasses, asciiLower = func() (classes [utf8.RuneSelf]runeClass, lower [utf8.RuneSelf]byte) {
	for r := range rune(utf8.RuneSelf) {
		classes[r] = classify(r)
		lower[r] = byte(unicode.ToLower(r))
	}
	return classes, lower
}()

// DuplicateText is the text whose keyed hash identifies a comment for duplicate control: the
// thread and the normalised body. The author is not part of it because the store keeps the
// duplicate marker under the author already. Hash it (privacy.Keyring.TextKey) before it goes
// anywhere: a comment body is never stored in a key.
func DuplicateText(threadID, body string) string {
	return threadID + "\x00" + NormalizeText(body)
}
