package spam

import (
	"context"
	"fmt"
	"math/bits"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/commentd/commentd/internal/comment"
)

// Fingerprint is a 64-bit SimHash of a comment body: bodies that share most of their text have
// fingerprints that differ in few bits, unrelated bodies in about 32.
type Fingerprint uint64

// Bands is the number of 8-bit bands a Fingerprint is cut into for lookup: a store indexes recent
// fingerprints by (band, value) and finds candidates with Bands exact lookups. Two fingerprints at
// Hamming distance below Bands always agree on at least one band (pigeonhole); at distance 10
// (DefaultMaxDistance) they still do unless all eight bands were hit, which happens to about 4 %
// of randomly placed differences. A campaign shows up as many near copies, so a rare miss of one
// copy is harmless.
const Bands = 8

// Band returns the i-th 8-bit band (0 <= i < Bands).
func (f Fingerprint) Band(i int) uint8 { return uint8(f >> (8 * i)) }

// Distance returns the number of bits in which f and g differ.
func (f Fingerprint) Distance(g Fingerprint) int { return bits.OnesCount64(uint64(f ^ g)) }

// Similarity returns 1 - Distance/64: 1 for equal fingerprints, about 0.5 for unrelated ones.
func (f Fingerprint) Similarity(g Fingerprint) float64 { return 1 - float64(f.Distance(g))/64 }

// shingleRunes is the length of the character shingles hashed into a fingerprint. Word shingles
// are too few in a short comment: one changed word would move most bits. Character 5-grams of the
// normalised text give a near-duplicate most of its shingles in common.
const shingleRunes = 5

// Fingerprinted reports whether body is long enough for a meaningful fingerprint: short comments
// ("first!", "love this song") are alike by nature, not by campaign.
func Fingerprinted(body string, minChars int) bool {
	n := 0
	for _, r := range body {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n >= minChars
}

// SimHash returns the fingerprint of body. Case, punctuation, white space and the look-alike
// characters the tokeniser folds are ignored, so trivial variants of a text are identical. The
// body is read as the eye reads it (comment.Skeleton): a campaign that writes each copy with other
// Greek or Cyrillic look-alikes, accents, marks stacked on the letters or invisible characters
// between them shows readers one text, and gets one fingerprint. Skeleton returns ASCII text as
// it is, so the fingerprints of ASCII text, which servers share through the campaign window, are
// those they always were.
func SimHash(body string) Fingerprint {
	// The normalised text of most comments fits in a buffer on the stack; a longer body gets one
	// on the heap, as every body did (about 2 kB per comment of 500 characters).
	var stack [simHashStackRunes]rune
	buf := stack[:0]
	if len(body) > len(stack) {
		buf = make([]rune, 0, len(body))
	}
	norm, ascii := appendASCIIText(buf, body)
	if !ascii {
		norm = appendText(buf, comment.Skeleton(body))
	}
	var c bitCounter
	if len(norm) <= shingleRunes {
		c.add(hashRunes(norm))
	}
	for i := 0; i+shingleRunes <= len(norm); i++ {
		c.add(hashRunes(norm[i : i+shingleRunes]))
	}
	// A bit of the fingerprint is set when more shingle hashes have it set than clear.
	ones, total := c.sum()
	var f Fingerprint
	for b, n := range ones {
		if 2*n > total {
			f |= 1 << b
		}
	}
	return f
}

// appendText appends the text SimHash hashes to norm: the letters and digits of body in lower
// case, each run of other characters as one space, the characters fold ignores left out.
func appendText(norm []rune, body string) []rune {
	space := true
	for _, r := range body {
		r = fold(r)
		switch {
		case r == ignoredRune:
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			norm = append(norm, unicode.ToLower(r))
			space = false
		case !space:
			norm = append(norm, ' ')
			space = true
		}
	}
	return norm
}

// appendASCIIText is appendText for ASCII text, a byte at a time and without the Unicode tables,
// and in the same pass the test for it: most comments are ASCII, and SimHash reads them no slower
// than before it read text through comment.Skeleton. At the first byte beyond ASCII it stops and
// reports false, leaving part of body appended.
func appendASCIIText(norm []rune, body string) ([]rune, bool) {
	space := true
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c >= utf8.RuneSelf:
			return norm, false
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			norm = append(norm, rune(c))
			space = false
		case 'A' <= c && c <= 'Z':
			norm = append(norm, rune(c+'a'-'A'))
			space = false
		case !space:
			norm = append(norm, ' ')
			space = true
		}
	}
	return norm, true
}

// simHashStackRunes is the length of SimHash's buffer on the stack, in runes (4 kB).
const simHashStackRunes = 1024

// bitCounter counts, for each of 64 bit positions, how many added hashes have that bit set. It is
// the hot loop of SimHash (one hash per character of a comment), so instead of 64 branches per
// hash it adds eight table entries whose bytes are the bits of one byte of the hash: eight
// counters per uint64, flushed before a byte can overflow. That is about eight times cheaper and
// gives exactly the same counts.
type bitCounter struct {
	lanes [8]uint64 // lanes[j] byte i counts bit 8j+i since the last flush
	ones  [64]int
	added int
}

// spreadBits[v] has byte i equal to bit i of v.
var spreadBits = func() (t [256]uint64) {
	for v := range t {
		for i := range 8 {
			t[v] |= uint64(v>>i&1) << (8 * i)
		}
	}
	return t
}()

func (c *bitCounter) add(h uint64) {
	for j := range c.lanes {
		c.lanes[j] += spreadBits[byte(h>>(8*j))]
	}
	c.added++
	if c.added%255 == 0 {
		c.flush()
	}
}

func (c *bitCounter) flush() {
	for j, lane := range c.lanes {
		for i := range 8 {
			c.ones[8*j+i] += int(lane >> (8 * i) & 0xff)
		}
		c.lanes[j] = 0
	}
}

func (c *bitCounter) sum() ([64]int, int) {
	c.flush()
	return c.ones, c.added
}

// hashRunes is FNV-1a over the runes followed by a SplitMix64 finaliser, so every output bit
// depends on every input bit. Fingerprints are stored and compared across servers and restarts, so
// the hash is fixed, not seeded.
func hashRunes(rs []rune) uint64 {
	h := uint64(14695981039346656037)
	for _, r := range rs {
		h ^= uint64(r)
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is the SplitMix64 finaliser: every output bit depends on every input bit.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Sighting is one comment body seen by the campaign detector.
type Sighting struct {
	Fingerprint Fingerprint
	AuthorKey   string // keyed hash of the author's email (privacy.Keyring.EmailKey), never the address
	At          time.Time
}

// Campaigns remembers recent fingerprints across all servers, to spot the same text posted by
// many authors.
type Campaigns interface {
	// Observe records s and returns the sightings from s.At-window on that agree with
	// s.Fingerprint on at least one band, those stamped after s.At included: clocks, not order,
	// put them there. s itself is not returned. It may return only the nearest sighting of each
	// author. It returns every such sighting at most maxDistance from s.Fingerprint and may leave
	// out the farther ones (the caller checks the real distance): a store that reads each
	// sighting it returns from memory (Window) saves the reads of those it leaves out.
	Observe(ctx context.Context, s Sighting, window time.Duration, maxDistance int) ([]Sighting, error)
}

// Defaults of the campaign check.
const (
	DefaultCampaignMinChars   = 40
	DefaultMaxDistance        = 10
	DefaultCampaignWindow     = time.Hour
	DefaultCampaignMinAuthors = 2
)

// CampaignOptions configures the campaign check. Zero fields take the defaults.
type CampaignOptions struct {
	// MinChars: bodies with fewer letters and digits are not checked (default 40).
	MinChars int
	// MaxDistance: fingerprints this close count as the same text (default 10, at most
	// MaxMatchDistance, which the window applies first; one changed word
	// in a 100-character comment measured 9). Unrelated texts differ in about 32 bits.
	MaxDistance int
	// Window: how far back to look (default 1h).
	Window time.Duration
	// MinAuthors: hold when at least this many other authors posted the same text in the window
	// (default 2).
	MinAuthors int
	// Now gives the time of a sighting (default time.Now).
	Now func() time.Time
}

func (o CampaignOptions) withDefaults() CampaignOptions {
	if o.MinChars <= 0 {
		o.MinChars = DefaultCampaignMinChars
	}
	if o.MaxDistance <= 0 {
		o.MaxDistance = DefaultMaxDistance
	}
	if o.Window <= 0 {
		o.Window = DefaultCampaignWindow
	}
	if o.MinAuthors <= 0 {
		o.MinAuthors = DefaultCampaignMinAuthors
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// checkCampaign records the body's fingerprint and holds the comment when enough other authors
// posted nearly the same text recently.
func (s *Scorer) checkCampaign(ctx context.Context, in Input, v *verdict) error {
	o := s.opts.Campaign
	if in.AuthorKey == "" || !Fingerprinted(in.Body, o.MinChars) {
		return nil
	}
	fp := SimHash(in.Body)
	seen, err := s.opts.Campaigns.Observe(ctx, Sighting{Fingerprint: fp, AuthorKey: in.AuthorKey, At: o.Now()}, o.Window, o.MaxDistance)
	if err != nil {
		return fmt.Errorf("spam: campaign check: %w", err)
	}
	authors := make(map[string]bool)
	for _, x := range seen {
		if x.AuthorKey != in.AuthorKey && fp.Distance(x.Fingerprint) <= o.MaxDistance {
			authors[x.AuthorKey] = true
		}
	}
	if len(authors) >= o.MinAuthors {
		v.add(DecisionHold, ReasonCampaign, fmt.Sprintf("%d other authors posted nearly the same text in the last %s", len(authors), comment.ShortDuration(o.Window)))
	}
	return nil
}
