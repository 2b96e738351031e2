package spam

import (
	"html"
	"math/bits"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/privacy"
)

// FeatureVersion names the tokeniser's output. Trained counts are only meaningful for the tokens
// of the version that produced them, so a store keeps its counts under this version and a change
// to what features produces must bump it (and start training again).
//
// Version 2 added the character 5-grams of the body's text ("c:" tokens) and made an IP address
// in the body one token ("n:ip") instead of its numbers. Version 3 stores the tokens of open
// vocabularies as bucket numbers (see featureBits).
const FeatureVersion = 3

// Limits that keep tokenising cheap and the counts store small whatever the input.
const (
	maxTokenBytes = 40  // longer words become the single token "long"
	maxFeatures   = 400 // word, link and other tokens; a 5000-character body yields about this many
	// maxCharGrams bounds the character n-grams, taken from the start of the text, and with them
	// the cost of scoring a long comment. Measured on the YouTube Spam Collection, a bound of 250
	// held about one point more comments for moderators; the model's weights were fitted with 500.
	maxCharGrams = 500
	// charGramRunes is the length of the character n-grams. Measured on the YouTube Spam
	// Collection, 3-grams did worse, and 4- and 5-grams did equally well (see docs/SPAM_QUALITY.md).
	charGramRunes = 5
)

// Token prefixes. Body words carry none; everything else is prefixed so a word can never collide
// with a feature of another kind (the word "url" is not the link marker "u:"). Words hold only
// letters and digits, so no word contains a colon.
const (
	prefixURL     = "u:" // u:link for any link, u:h:host, u:d:domain, u:p:first path segment
	prefixNumber  = "n:" // n:<digits> for numbers of up to 4 digits, n:long for longer ones
	prefixShape   = "s:" // shape of the text: its length bucket
	prefixName    = "a:" // words of the author's display name
	prefixEmail   = "e:" // domain of the author's email address, or of an address in the body
	prefixBigram  = "b:" // two adjacent body words
	prefixChars   = "c:" // charGramRunes characters of the body's normalised text (see charText)
	tokenLongWord = "long"
	tokenIP       = prefixNumber + "ip" // an IP address in the body
)

// analysis is what the tokeniser found in a comment.
type analysis struct {
	tokens []string // distinct, in order of first appearance: what the classifier counts
	links  []link   // distinct links in the body
}

// analyse turns a comment into the features the classifier counts (see appendFeatures) and the
// links the rules count. Only the body, the display name and the email domain are used: the
// author's email local part and IP address, which the store keeps encrypted, never become tokens,
// since a token of a finite kind is stored as it is, and any other could be found again by hashing
// a list of guesses. An address the author wrote in the body is public text, stored in clear with
// the comment; the tokeniser still keeps only the domain of an email address written as one
// ("jane@example.com") and turns an IP address standing alone (edge punctuation aside) into
// "n:ip". One it does not read as an address (a port after it, "ip=" before it, a full-width "＠")
// becomes words and numbers like the text around it. Changing that changes the tokens, which takes
// a new FeatureVersion.
func analyse(body, name, emailDomain string) analysis {
	return analyseInto(nil, body, name, emailDomain)
}

// analyseInto is analyse, appending the features to buf[:0] (so a caller can reuse the slice).
func analyseInto(buf []string, body, name, emailDomain string) analysis {
	t := tokenizers.Get().(*tokenizer)
	defer tokenizers.Put(t)
	t.bareGrams = true
	defer func() { t.bareGrams = false }()
	t.comment(body, name, emailDomain)
	return analysis{tokens: t.appendFeatures(buf[:0]), links: t.links}
}

// analyseTokens is analyse with the tokens as the tokeniser read them, before they become
// features: what the tokeniser's tests look at.
func analyseTokens(body, name, emailDomain string) analysis {
	t := tokenizers.Get().(*tokenizer)
	defer tokenizers.Put(t)
	t.comment(body, name, emailDomain)
	return analysis{tokens: t.tokens(), links: t.links}
}

// comment collects the tokens of a comment.
func (t *tokenizer) comment(body, name, emailDomain string) {
	t.reset(body)
	t.body(body)
	if name != "" {
		t.words(name, prefixName, false)
	}
	if emailDomain != "" {
		t.add(prefixEmail + strings.ToLower(emailDomain))
	}
	t.charGrams()
}

// Feature hashing. Every distinct token a model has seen is a field in Redis and an entry in every
// server's mirror, and the tokens of natural text have no end: each new name, typo, word pair or
// character 5-gram adds one, for as long as the site runs. So a token of an open vocabulary is
// counted as its kind's prefix and a bucket, the top featureBits bits of its 64-bit hash, written
// in hexadecimal ("c:3fa2b"): a kind can never hold more than 2^bits tokens however much text the
// model learns, and the whole model at most about 2.19 million (MaxModelTokens). Two tokens that
// share a bucket share its counts; on the YouTube Spam Collection (49,000 distinct tokens) these
// sizes measured the same quality as counting every token apart (docs/SPAM_QUALITY.md). Numbers of
// up to four bytes of digits and the length bucket are finite kinds and are kept as they are.
//
// Hashing bounds the vocabulary, nothing else: anyone who can read the model can hash a list of
// guessed words and find their buckets, so the model is handled as if it held them in clear.
const (
	bitsWords  = 18 // body words and "long"
	bitsPairs  = 19 // adjacent body words
	bitsChars  = 20 // character n-grams
	bitsLinks  = 17 // link hosts, domains and first path segments
	bitsNames  = 17 // words of the author's name
	bitsEmails = 16 // email domains
	// finiteTokens is how many tokens the kinds kept as they are can make: a number is up to four
	// bytes of digits as written, so "7", "07" and "0007" are three tokens, and a digit of another
	// script takes 2 to 4 bytes (30, 320 and 310 of them in the Unicode tables of Go 1.26): 28,670 numbers. Then n:long,
	// n:ip and the length buckets s:len0 to s:len64 (TestFiniteTokens counts them again).
	finiteTokens = 28_670 + 2 + 65
	// MaxModelTokens bounds the distinct tokens of a model (the fields of its counts hash are at
	// most twice this: one per class).
	MaxModelTokens = 1<<bitsWords + 1<<bitsPairs + 1<<bitsChars + 1<<bitsLinks + 1<<bitsNames +
		1<<bitsEmails + finiteTokens
)

// FeatureKind is a kind of token counted by bucket: a feature of it is Prefix followed by the
// bucket, Bits bits written as (Bits+3)/4 lower-case hexadecimal digits.
type FeatureKind struct {
	Prefix string
	Bits   uint
}

// FeatureKinds lists the kinds counted by bucket (see featureBits), for measuring what a model
// that holds every feature costs.
func FeatureKinds() []FeatureKind {
	return []FeatureKind{{"", bitsWords}, {prefixBigram, bitsPairs}, {prefixChars, bitsChars},
		{prefixURL, bitsLinks}, {prefixName, bitsNames}, {prefixEmail, bitsEmails}}
}

// featureBits returns the length of tok's kind prefix and the bits of its bucket; 0 bits keeps the
// token as it is.
func featureBits(tok []byte) (prefix int, bits uint) {
	if len(tok) < 2 || tok[1] != ':' {
		return 0, bitsWords
	}
	switch string(tok[:2]) {
	case prefixChars:
		return 2, bitsChars
	case prefixBigram:
		return 2, bitsPairs
	case prefixURL:
		return 2, bitsLinks
	case prefixName:
		return 2, bitsNames
	case prefixEmail:
		return 2, bitsEmails
	}
	return 0, 0 // numbers and the length bucket
}

// appendFeatures appends the collected tokens as features (see featureBits) to out, distinct and
// in the order the tokens came, all sharing one string. A bucket is the top bits of the hash the
// tokeniser found duplicates by (tokenHash). It reuses the duplicate set, which the tokens no
// longer need.
func (t *tokenizer) appendFeatures(out []string) []string {
	const hexDigits = "0123456789abcdef"
	clear(t.set)
	t.nset = 0
	t.features, t.featureEnds = t.features[:0], t.featureEnds[:0]
	start := 0
	for i, end := range t.ends {
		tok := t.arena[start:end]
		start = end
		prefix, bits := featureBits(tok)
		h := t.hashes[i]
		if bits == 0 {
			if t.insert(h) {
				t.features = append(t.features, tok...)
				t.featureEnds = append(t.featureEnds, len(t.features))
			}
			continue
		}
		bucket := h >> (64 - bits)
		// The set's key: the kind beside the bucket, mixed so the set's low bits spread.
		kind := uint64(0) // body words
		if prefix > 0 {
			kind = uint64(tok[0])
		}
		if !t.insert(mix64(bucket<<8 | kind)) {
			continue // another token of the comment has this bucket
		}
		t.features = append(t.features, tok[:prefix]...)
		for shift := int(bits+3)/4*4 - 4; shift >= 0; shift -= 4 {
			t.features = append(t.features, hexDigits[bucket>>uint(shift)&15])
		}
		t.featureEnds = append(t.featureEnds, len(t.features))
	}
	all := string(t.features)
	out = slices.Grow(out, len(t.featureEnds))
	start = 0
	for _, end := range t.featureEnds {
		out = append(out, all[start:end])
		start = end
	}
	return out
}

// tokenizers keeps tokenizers' buffers between comments: scoring is the hot path, and without
// them every comment would allocate (and the collector clear) some 20 kB.
var tokenizers = sync.Pool{New: func() any { return &tokenizer{distinct: true} }}

// reset empties t for a body, with a duplicate set sized for the tokens such a body gives: about
// one n-gram per character and one word and one bigram per five bytes.
func (t *tokenizer) reset(body string) {
	est := min(len(body), maxCharGrams) + min(len(body)/2, maxFeatures) + 16
	size := 1 << bits.Len(uint(2*est))
	if cap(t.set) >= size {
		t.set = t.set[:size]
		clear(t.set)
	} else {
		t.set = make([]uint64, size)
	}
	t.nset, t.nfeatures = 0, 0
	t.arena, t.ends, t.hashes = t.arena[:0], t.ends[:0], t.hashes[:0]
	t.links = nil // returned to the caller: never reused
	t.prev, t.buf, t.scratch = t.prev[:0], t.buf[:0], t.scratch[:0]
	if t.chars == nil {
		t.chars = make([]rune, 0, maxCharGrams+charGramRunes+2)
	}
	t.chars = t.chars[:0]
}

// tokenizer collects tokens in one byte arena, so a comment's hundreds of tokens cost a few
// allocations rather than one each, and finds duplicates by a 64-bit hash of each token (a
// collision would only drop one feature).
type tokenizer struct {
	distinct bool // drop repeated tokens (false for word lists, which keep every word)
	// whole keeps every word and number as it is (word lists): the classifier's bounds, which make
	// a long word "long" and a long number "n:long", would make a listed long word or number
	// match every long one, and a run of Thai longer than a few words match no entry in it.
	whole     bool
	arena     []byte   // the tokens, back to back
	ends      []int    // token i is arena[ends[i-1]:ends[i]]
	hashes    []uint64 // token i's hash (tokenHash), when distinct
	set       []uint64 // open-addressing set of the tokens' hashes (0: empty), at most half full
	nset      int
	nfeatures int // tokens other than character n-grams, bounded by maxFeatures
	links     []link
	prev      []byte // previous body word, for bigrams; empty at a boundary
	buf       []byte // the word being read
	scratch   []byte // the word token being built
	// chars collects the body's text for character n-grams (see charText); nil collects nothing.
	chars []rune
	// features and featureEnds hold appendFeatures' output as arena and ends hold the tokens.
	features    []byte
	featureEnds []int
	// bareGrams writes each character n-gram as its prefix alone: a gram's feature is made from
	// its hash (appendFeatures), so only the tokens as read (analyseTokens) need its characters,
	// and writing them out was a fifth of charGrams' time.
	bareGrams bool
}

// add appends tok unless it is already there or the output is full.
func (t *tokenizer) add(tok string) {
	if t.nfeatures >= maxFeatures {
		return
	}
	start := len(t.arena)
	t.arena = append(t.arena, tok...)
	if t.commit(start) {
		t.nfeatures++
	}
}

// commit keeps the token appended to the arena from start on, unless it is a duplicate, in which
// case it is taken off again. It reports whether it was kept.
func (t *tokenizer) commit(start int) bool {
	if !t.distinct {
		t.ends = append(t.ends, len(t.arena))
		return true
	}
	h := hashBytes(t.arena[start:])
	if !t.insert(h) {
		t.arena = t.arena[:start]
		return false
	}
	t.ends = append(t.ends, len(t.arena))
	t.hashes = append(t.hashes, h)
	return true
}

// insert adds h to the set and reports whether it was not there yet.
func (t *tokenizer) insert(h uint64) bool {
	h |= 1 // 0 marks an empty slot
	if 2*(t.nset+1) > len(t.set) {
		old := t.set
		t.set = make([]uint64, max(64, 2*len(old)))
		t.nset = 0
		for _, x := range old {
			if x != 0 {
				t.insert(x)
			}
		}
	}
	mask := uint64(len(t.set) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.set[i] {
		case h:
			return false
		case 0:
			t.set[i] = h
			t.nset++
			return true
		}
	}
}

// tokenHash is the hash the tokeniser gives tok: hashGram of a character n-gram's characters,
// hashBytes of any other token. The tokeniser computes it as it goes; this is for tests.
func tokenHash(tok []byte) uint64 {
	if len(tok) > 2 && string(tok[:2]) == prefixChars {
		return hashGram([]rune(string(tok[2:])))
	}
	return hashBytes(tok)
}

// hashBytes is FNV-1a followed by mix64, as hashRunes.
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix64(h)
}

// tokens returns the collected tokens, sharing one string.
func (t *tokenizer) tokens() []string { return t.appendTokens(nil) }

// appendTokens appends the collected tokens to out, sharing one string.
func (t *tokenizer) appendTokens(out []string) []string {
	all := string(t.arena)
	out = slices.Grow(out, len(t.ends))
	start := 0
	for _, end := range t.ends {
		out = append(out, all[start:end])
		start = end
	}
	return out
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
			t.charText(chunk[:i])
			n := linkEnd(chunk[i:])
			t.link(chunk[i : i+n])
			t.prev = t.prev[:0]
			chunk = chunk[i+n:]
		}
		if at := strings.IndexByte(chunk, '@'); at > 0 && at < len(chunk)-1 && strings.Contains(chunk[at+1:], ".") {
			// An address in the body: keep only its domain (the local part is personal data).
			t.add(prefixEmail + strings.ToLower(strings.Trim(chunk[at+1:], ".,;:!?)\"'")))
			t.prev = t.prev[:0]
			continue
		}
		if isBareDomain(chunk) {
			t.link(chunk)
			t.prev = t.prev[:0]
			continue
		}
		if isIPAddress(chunk) {
			// Personal data: only the fact that there is one is kept.
			t.add(tokenIP)
			t.prev = t.prev[:0]
			continue
		}
		t.words(chunk, "", true)
		t.charText(chunk)
	}
}

// charText appends the text of s to t.chars in the form character n-grams are taken from: lower
// case, look-alikes folded and runs of a letter cut to two (as for words), every digit as "0", and
// each run of anything else (punctuation, white space, symbols) as one space. Links, email and IP
// addresses never reach it: they have their own tokens, and the n-grams must not store an address
// or a URL's path in clear. Digits become "0" for the same reason: a phone number's n-grams say
// only that there was a long number.
func (t *tokenizer) charText(s string) {
	if t.chars == nil {
		return
	}
	limit := maxCharGrams + charGramRunes - 1
	if len(t.chars) == 0 {
		t.chars = append(t.chars, ' ')
	}
	for _, r := range s {
		if len(t.chars) >= limit {
			return
		}
		r = fold(r)
		switch {
		case r == ignoredRune, r == '\'', r == '’':
			continue
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			r |= 0x20
		case r >= '0' && r <= '9':
			r = '0'
		case r >= 0x80 && (unicode.IsLetter(r) || unicode.Is(unicode.Mn, r)):
			r = unicode.ToLower(r)
		case r >= 0x80 && unicode.IsDigit(r):
			r = '0'
		default:
			r = ' '
		}
		n := len(t.chars)
		if r == ' ' && t.chars[n-1] == ' ' || r != ' ' && r != '0' && n >= 2 && t.chars[n-1] == r && t.chars[n-2] == r {
			continue
		}
		t.chars = append(t.chars, r)
	}
	// Chunks are separated by white space.
	if len(t.chars) < limit && t.chars[len(t.chars)-1] != ' ' {
		t.chars = append(t.chars, ' ')
	}
}

// charGrams adds the distinct charGramRunes-grams of t.chars, each as the token "c:<gram>", in
// order of first appearance, at most maxCharGrams of them. A gram is written out only once it is
// known to be new.
func (t *tokenizer) charGrams() {
	// Local copies: writing the slices back to t on every gram costs a GC write barrier each.
	arena, ends, hashes := t.arena, t.ends, t.hashes
	n := min(len(t.chars)-charGramRunes+1, maxCharGrams)
	for i := 0; i < n; i++ {
		gram := t.chars[i : i+charGramRunes]
		if t.distinct {
			h := hashGram(gram)
			if !t.insert(h) {
				continue
			}
			hashes = append(hashes, h)
		}
		arena = append(arena, prefixChars...)
		if !t.bareGrams {
			for _, r := range gram {
				arena = utf8.AppendRune(arena, r)
			}
		}
		ends = append(ends, len(arena))
	}
	t.arena, t.ends, t.hashes = arena, ends, hashes
}

// hashGram hashes a character n-gram for the duplicate set: five ASCII characters pack into 35
// bits exactly, others fold in with shifts, and mix64 spreads the bits over the set. It differs
// from hashBytes of the gram's token; a gram and a word token then collide only by a 2⁻⁶⁴
// accident, which would drop one feature.
func hashGram(gram []rune) uint64 {
	var h uint64
	for _, r := range gram {
		h = h<<7 ^ uint64(r)
	}
	return mix64(h)
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

// isIPAddress reports whether chunk, trimmed of punctuation, is an IPv4 or IPv6 address.
func isIPAddress(chunk string) bool {
	// The cheap tests first, without allocating: most chunks are words.
	if len(chunk) < 3 || strings.IndexByte(chunk, '.') < 0 && strings.IndexByte(chunk, ':') < 0 {
		return false
	}
	if c := chunk[0]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '[' || c == '(') {
		return false
	}
	_, err := netip.ParseAddr(strings.TrimFunc(chunk, isEdgePunct))
	return err == nil
}

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
	path = strings.TrimRight(path, ".,;:!?)")
	// Counted and matched against the domain lists whatever its length: a name of up to 253
	// characters is valid, and one kept out would let a listed domain through under a long
	// subdomain. The host the rules see is read again from s as a browser reads it (ruleHost):
	// host stays as the classifier's tokens have always had it.
	if l := (link{siteHost(ruleHost(s)), path}); l.host != "" && !slices.Contains(t.links, l) {
		t.links = append(t.links, l)
	}
	if host == "" || len(host) > 100 {
		return
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
	host string // the site's name as siteHost gives it
	path string // as written, after the first "/"
}

// siteHost returns the name of the site a link's host leads to, as the domain lists match it:
// without brackets or quotes around a bare domain ("(shop.example)"), without a port
// ("shop.example:8080"), a fragment or what follows a backslash, percent-encoding decoded
// ("cheap-pills%2Eshop"), with fullwidth letters and dots folded ("ｓｈｏｐ．example",
// "shop。example", which a browser maps to the same name), without invisible characters, lower
// case, labels beyond ASCII in their "xn--" form, without "www.". Otherwise a listed domain
// written in one of these ways would be let through. It returns "" for what is no site's name.
// The classifier's tokens keep the host as it was (they are FeatureVersion's, and a trained model holds their counts).
func siteHost(host string) string {
	if strings.IndexByte(host, '%') >= 0 {
		// Browsers decode a percent-encoded host before they look it up: "cheap-pills%2Eshop".
		if h, err := url.PathUnescape(host); err == nil {
			host = h
		}
	}
	host = strings.Map(hostRune, host)
	if i := strings.IndexAny(host, `#\`); i >= 0 {
		host = host[:i] // a fragment, or a backslash, which browsers read as "/"
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host = host[:i] // one colon: a port (an IPv6 address has more)
	}
	host = strings.ToLower(strings.TrimFunc(host, isEdgePunct))
	if strings.Contains(host, "..") {
		// No site's name has an empty label: this is prose, words joined by an ellipsis
		// ("lol...me too"), which must not count as a link.
		return ""
	}
	return strings.TrimPrefix(asciiHost(host), "www.")
}

// hostRune is r as a browser reads it in a host name, for siteHost and namedHosts: look-alikes
// folded as the tokeniser folds them, the other dots IDNA takes for a full stop (the ideographic
// one and its halfwidth form) as ".", and -1 for a character it drops, invisible ones among them
// (privacy.Invisible: a combining grapheme joiner or a variation selector in a listed name).
func hostRune(r rune) rune {
	switch r = fold(r); {
	case r == ignoredRune, r >= utf8.RuneSelf && privacy.Invisible(r):
		return -1
	case r == '\u3002', r == '\uff61':
		return '.'
	}
	return r
}

// ruleHost returns the host of a link written without its scheme ("user@host:port/path"), as a
// browser finds it, for siteHost: up to the first "/", "?", "#" or "\" (which browsers read as
// "/", so "cheap-pills.shop\@good.example" leads to cheap-pills.shop), after the last "@" before
// that (user and password).
func ruleHost(s string) string {
	if i := strings.IndexAny(s, `/?#\`); i >= 0 {
		s = s[:i]
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	return s
}

// asciiHost returns a lower-case host name with its labels beyond ASCII written in their "xn--"
// form (of the composed spelling, NFC), the one form the domain lists keep (see validHost): a
// browser and a mail system take "bücher.example" and "xn--bcher-kva.example" to the same place.
func asciiHost(host string) string {
	if strings.IndexFunc(host, func(r rune) bool { return r >= utf8.RuneSelf }) < 0 {
		return host
	}
	if a, err := idna.Punycode.ToASCII(norm.NFC.String(host)); err == nil {
		return a
	}
	return host
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
	// Local copies of t's buffers, written back at the end: writing a slice field of t on every
	// word costs a GC write barrier each time, which showed in the hot path's profile.
	arena, ends, hashes, buf, word, prev := t.arena, t.ends, t.hashes, t.buf[:0], t.scratch, t.prev
	digits := true
	// keep keeps the token appended to arena from start on, unless it is a duplicate.
	keep := func(start int) {
		if t.distinct {
			h := hashBytes(arena[start:])
			if !t.insert(h) {
				arena = arena[:start]
				return
			}
			hashes = append(hashes, h)
		}
		ends = append(ends, len(arena))
		t.nfeatures++
	}
	flush := func() {
		if len(buf) == 0 {
			return
		}
		word = word[:0]
		switch {
		case len(buf) > maxTokenBytes && !t.whole:
			word = append(word, tokenLongWord...)
		case digits && prefix == "":
			word = append(word, prefixNumber...)
			if len(buf) <= 4 || t.whole {
				word = append(word, buf...)
			} else {
				word = append(word, tokenLongWord...)
			}
		default:
			word = append(word, prefix...)
			word = append(word, buf...)
		}
		if t.nfeatures < maxFeatures {
			start := len(arena)
			arena = append(arena, word...)
			keep(start)
		}
		if bigrams && prefix == "" {
			if len(prev) > 0 && t.nfeatures < maxFeatures {
				start := len(arena)
				arena = append(arena, prefixBigram...)
				arena = append(arena, prev...)
				arena = append(arena, ' ')
				arena = append(arena, word...)
				keep(start)
			}
			prev = append(prev[:0], word...)
		}
		buf = buf[:0]
		digits = true
	}
	for _, r := range s {
		if r < 0x80 {
			// The common case, without the Unicode tables.
			switch {
			case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
				c := byte(r) | 0x20
				if n := len(buf); n < 2 || buf[n-1] != c || buf[n-2] != c {
					buf = append(buf, c)
				}
				digits = false
			case r >= '0' && r <= '9':
				buf = append(buf, byte(r))
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
			buf = utf8.AppendRune(buf, r)
			digits = false
			flush()
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r):
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
			digits = false
		case unicode.IsDigit(r):
			buf = utf8.AppendRune(buf, r)
		default:
			flush()
		}
	}
	flush()
	t.arena, t.ends, t.hashes, t.buf, t.scratch, t.prev = arena, ends, hashes, buf, word, prev
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
