package spam

import (
	"html"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FeatureVersion names the tokeniser's output. Trained counts are only meaningful for the tokens
// of the version that produced them, so a store keeps its counts under this version and a change
// to what features produces must bump it (and start training again).
const FeatureVersion = 1

// Limits that keep tokenising cheap and the counts store small whatever the input.
const (
	maxTokenBytes = 40  // longer words become the single token "long"
	maxFeatures   = 400 // a 5000-character body yields about this many before de-duplication
)

// Token prefixes. Body words carry none; everything else is prefixed so a word can never collide
// with a feature of another kind (the word "url" is not the link marker "u:").
const (
	prefixURL     = "u:" // u:link for any link, u:h:host, u:d:domain, u:p:first path segment
	prefixNumber  = "n:" // n:<digits> for numbers of up to 4 digits, n:long for longer ones
	prefixShape   = "s:" // shape of the text: its length bucket
	prefixName    = "a:" // words of the author's display name
	prefixEmail   = "e:" // domain of the author's email address, or of an address in the body
	prefixBigram  = "b:" // two adjacent body words
	tokenLongWord = "long"
)

// analysis is what the tokeniser found in a comment.
type analysis struct {
	tokens []string // distinct, in order of first appearance: what the classifier counts
	links  []link   // distinct links in the body
}

// analyse turns a comment into the tokens the classifier counts and the links the rules count.
// Only the body, the display name and the email domain are used: the local part of an address and
// the IP address never become tokens, because tokens are stored in clear.
func analyse(body, name, emailDomain string) analysis {
	t := tokenizer{out: make([]string, 0, 64), seen: make(map[string]struct{}, 64)}
	t.body(body)
	if name != "" {
		t.words(name, prefixName, false)
	}
	if emailDomain != "" {
		t.add(prefixEmail + strings.ToLower(emailDomain))
	}
	return analysis{tokens: t.out, links: t.links}
}

type tokenizer struct {
	out   []string
	links []link              // distinct links of the body
	seen  map[string]struct{} // tokens in out; nil keeps duplicates (for word lists)
	prev  string              // previous body word, for bigrams; "" at a boundary
	buf   []byte
}

// add appends tok unless it is already there or the output is full.
func (t *tokenizer) add(tok string) {
	if len(t.out) >= maxFeatures {
		return
	}
	if t.seen != nil {
		if _, dup := t.seen[tok]; dup {
			return
		}
		t.seen[tok] = struct{}{}
	}
	t.out = append(t.out, tok)
}

// body splits on white space; each chunk is either a link (or an email address), handled as a
// whole, or text split into words.
func (t *tokenizer) body(s string) {
	if strings.IndexByte(s, '&') >= 0 {
		// Sites and importers send HTML-escaped text ("don&#39;t"); the words are the same.
		s = html.UnescapeString(s)
	}
	// Length carries signal single words miss (in the evaluation, dropping it cost more than any
	// other feature). The bucket is the bit length of the character count: 1, 2-3, 4-7, ...
	t.add(prefixShape + "len" + strconv.Itoa(bits.Len(uint(utf8.RuneCountInString(s)))))

	for chunk := range strings.FieldsSeq(s) {
		for {
			i := linkStart(chunk)
			if i < 0 {
				break
			}
			t.words(chunk[:i], "", true)
			n := linkEnd(chunk[i:])
			t.link(chunk[i : i+n])
			t.prev = ""
			chunk = chunk[i+n:]
		}
		if at := strings.IndexByte(chunk, '@'); at > 0 && at < len(chunk)-1 && strings.Contains(chunk[at+1:], ".") {
			// An address in the body: keep only its domain (the local part is personal data).
			t.add(prefixEmail + strings.ToLower(strings.Trim(chunk[at+1:], ".,;:!?)\"'")))
			t.prev = ""
			continue
		}
		if isBareDomain(chunk) {
			t.link(chunk)
			t.prev = ""
			continue
		}
		t.words(chunk, "", true)
	}
}

// linkEnd returns the length of the link at the start of s: up to a quote or angle bracket (links
// inside HTML attributes and tags) or the end.
func linkEnd(s string) int {
	if i := strings.IndexAny(s, "\"'<>"); i > 0 {
		return i
	}
	return len(s)
}

// linkStart returns the index where a link starts in chunk: "http://", "https://" or "www.",
// in any case, or -1.
func linkStart(chunk string) int {
	for i := 0; i+4 <= len(chunk); i++ {
		c := chunk[i] | 0x20
		if c != 'h' && c != 'w' {
			continue
		}
		rest := chunk[i:]
		if hasPrefixFold(rest, "http://") || hasPrefixFold(rest, "https://") || hasPrefixFold(rest, "www.") {
			return i
		}
	}
	return -1
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// commonTLDs are the top-level domains recognised in a bare "example.com" without a scheme. A
// short list on purpose: "end.so" or "ok.it" in prose must not count as links.
var commonTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "info": true, "biz": true, "ru": true, "de": true,
	"uk": true, "io": true, "me": true, "tv": true, "us": true, "ly": true, "gl": true, "tk": true,
	"xyz": true, "online": true, "site": true, "club": true, "fr": true, "br": true, "pl": true,
	"nl": true, "es": true, "in": true, "cn": true, "top": true, "link": true, "eu": true, "ca": true,
	"au": true, "co": true,
}

// isBareDomain reports whether chunk (trimmed of punctuation) is a host name with a common TLD,
// optionally followed by a path: "murdev.com", "bit.ly/abc".
func isBareDomain(chunk string) bool {
	if strings.IndexByte(chunk, '.') < 0 {
		return false
	}
	host, _, _ := strings.Cut(strings.TrimFunc(chunk, isEdgePunct), "/")
	dot := strings.LastIndexByte(host, '.')
	if dot <= 0 || !commonTLDs[strings.ToLower(host[dot+1:])] {
		return false
	}
	for i := 0; i < dot; i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isEdgePunct(r rune) bool { return strings.ContainsRune(".,;:!?()[]\"'", r) }

// link adds the tokens of one link: a marker, the host, its registrable domain and the first
// path segment ("watch", "user", "channel" tell a video from a channel plug).
func (t *tokenizer) link(raw string) {
	t.add(prefixURL + "link")
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	host, path, _ := strings.Cut(s, "/")
	host, _, _ = strings.Cut(host, "?")
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:] // drop "user:password@": it may be an address
	}
	host = strings.TrimRight(strings.ToLower(host), ".,;:!?)")
	host = strings.TrimPrefix(host, "www.")
	if host == "" || len(host) > 100 {
		return
	}
	path = strings.TrimRight(path, ".,;:!?)")
	if !slices.Contains(t.links, link{host, path}) {
		t.links = append(t.links, link{host, path})
	}
	t.add(prefixURL + "h:" + host)
	if d := registrableDomain(host); d != host {
		t.add(prefixURL + "d:" + d)
	}
	seg, _, _ := strings.Cut(path, "/")
	seg, _, _ = strings.Cut(seg, "?")
	if seg != "" && len(seg) <= 20 && !strings.Contains(seg, "@") {
		t.add(prefixURL + "p:" + strings.ToLower(seg))
	}
}

// link is one distinct link of a body.
type link struct {
	host string // lower case, without "www."
	path string // as written, after the first "/"
}

// registrableDomain approximates the domain a registrant owns: the last two labels, or three when
// the second-level label is a generic one under a country code ("example.co.uk"). It is a
// heuristic, not the public suffix list, which is fine for a feature.
func registrableDomain(host string) string {
	last := strings.LastIndexByte(host, '.')
	if last <= 0 {
		return host
	}
	second := strings.LastIndexByte(host[:last], '.')
	if second < 0 {
		return host
	}
	if len(host)-last-1 == 2 {
		switch host[second+1 : last] {
		case "co", "com", "net", "org", "ac", "gov", "edu":
			if third := strings.LastIndexByte(host[:second], '.'); third >= 0 {
				return host[third+1:]
			}
			return host
		}
	}
	return host[second+1:]
}

// words splits s into words of letters, digits and combining marks, lower-cased and folded (see
// fold). Apostrophes inside a word are dropped ("don't" is "dont"); ideographs are one word each,
// since Chinese and Japanese do not separate words with spaces. With bigrams, each word is also paired
// with the one before it.
func (t *tokenizer) words(s, prefix string, bigrams bool) {
	t.buf = t.buf[:0]
	digits := true
	flush := func() {
		if len(t.buf) == 0 {
			return
		}
		var w string
		switch {
		case len(t.buf) > maxTokenBytes:
			w = tokenLongWord
		case digits && prefix == "":
			if len(t.buf) <= 4 {
				w = prefixNumber + string(t.buf)
			} else {
				w = prefixNumber + tokenLongWord
			}
		default:
			w = prefix + string(t.buf)
		}
		t.add(w)
		if bigrams && prefix == "" {
			if t.prev != "" {
				t.add(prefixBigram + t.prev + " " + w)
			}
			t.prev = w
		}
		t.buf = t.buf[:0]
		digits = true
	}
	for _, r := range s {
		if r < 0x80 {
			// The common case, without the Unicode tables.
			switch {
			case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
				c := byte(r) | 0x20
				if n := len(t.buf); n < 2 || t.buf[n-1] != c || t.buf[n-2] != c {
					t.buf = append(t.buf, c)
				}
				digits = false
			case r >= '0' && r <= '9':
				t.buf = append(t.buf, byte(r))
			case r == '\'':
			default:
				flush()
			}
			continue
		}
		r = fold(r)
		switch {
		case r == ignoredRune, r == '’':
			continue
		case isIdeograph(r):
			flush()
			t.buf = utf8.AppendRune(t.buf, r)
			digits = false
			flush()
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r):
			t.buf = utf8.AppendRune(t.buf, unicode.ToLower(r))
			digits = false
		case unicode.IsDigit(r):
			t.buf = utf8.AppendRune(t.buf, r)
		default:
			flush()
		}
	}
	flush()
}

// ignoredRune marks characters that are dropped without splitting a word.
const ignoredRune = -1

// fold maps look-alike characters spammers use to dodge word lists onto the plain ones, and marks
// invisible characters (byte order mark, zero-width space and joiners) to be ignored, so
// "s\u200bubscribe" and "ｓｕｂｓｃｒｉｂｅ" are both "subscribe".
func fold(r rune) rune {
	switch {
	case r < 0x80:
		return r
	case r == 0xFEFF, r >= 0x200B && r <= 0x200D, r == 0x2060, r == 0xAD:
		return ignoredRune
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return r - 0xFEE0
	case r >= 0x1D400 && r <= 0x1D6A3: // mathematical bold, italic, script ... Latin letters
		i := (r - 0x1D400) % 52
		if i < 26 {
			return 'A' + i
		}
		return 'a' + i - 26
	}
	return r
}

func isIdeograph(r rune) bool {
	return r >= 0x2E80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r))
}
