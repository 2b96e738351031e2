package redisstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// A page token is the unpadded base64url of "v2.<check>.<score>.<id>": (score, id) is the last
// entry of the page it ends, and <check> is the crc32 (8 hex digits) of the query the token belongs
// to and of that position. The next page starts strictly after that entry, so entries removed
// between two calls shift nothing and no entry is seen twice. A token for another query, or one we
// could not have made, is comment.ErrInvalidPageToken: the check covers the position too, so a
// token cut short or changed by the way is refused rather than read as another position (an id
// cut short names an earlier one, and the page would repeat the entry that ended the last).
// Tokens the previous release made, "v1.<crc32 of the query>.<score>.<id>", are still read, as
// they were.
//
// sealToken and openToken make and read the tokens of every listing, with the same check; a
// listing whose positions are not (score, id) pairs spells its own.

// sealToken returns the token of version v ("v1" or "v2") for query and pos, a position as its
// listing spells it: the unpadded base64url of "<v>.<check>.<pos>", where <check> is the crc32 (8
// hex digits) of query and, from v2 on, of pos too.
func sealToken(v, query, pos string) string {
	check := crc32.ChecksumIEEE([]byte(query))
	if v != "v1" {
		check = crc32.Update(crc32.ChecksumIEEE([]byte(query+"\x00")), crc32.IEEETable, []byte(pos))
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s.%08x.%s", v, check, pos))
}

// openToken reads tok, a token of query of one of versions: parse reads the position from its
// text and spell writes a position as the listing spells it. It returns the position, and true
// only when tok is, byte for byte, the token sealToken makes of that version for query and the
// position: a token cut short or changed, one of another query, and any other spelling of the
// same parts (a leading zero, a line break, another form of the same id) are refused.
func openToken[P any](tok, query string, versions []string, parse func(string) (P, bool), spell func(P) string) (P, bool) {
	var none P
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return none, false
	}
	v, rest, _ := strings.Cut(string(raw), ".")
	_, pos, found := strings.Cut(rest, ".")
	if !found || !slices.Contains(versions, v) {
		return none, false
	}
	p, ok := parse(pos)
	if !ok || sealToken(v, query, spell(p)) != tok {
		return none, false
	}
	return p, true
}

// cursor is a position in an index: the last (score, id) pair seen.
type cursor struct {
	score int64 // creation time, unix µs (ms in a bans page token)
	id    string
}

// less orders entries as a Redis sorted set does: by score, then by id bytes.
func (c cursor) less(o cursor) bool {
	if c.score != o.score {
		return c.score < o.score
	}
	return c.id < o.id // Go compares strings bytewise, as Redis does
}

// spell writes c as a token holds it, "<score>.<id>".
func (c cursor) spell() string { return strconv.FormatInt(c.score, 10) + "." + c.id }

// parseCursor reads "<score>.<id>", an id validID accepts; the score is bounded as parseScore
// bounds every score read from an index, at 2^53, so a token past it, which was never made here,
// is refused rather than taken to list nothing.
func parseCursor(pos string, validID func(string) bool) (cursor, bool) {
	sc, id, _ := strings.Cut(pos, ".")
	score, err := strconv.ParseInt(sc, 10, 64)
	if err != nil || score < 0 || score > 1<<53 || !validID(id) {
		return cursor{}, false
	}
	return cursor{score: score, id: id}, true
}

// pageVersions are the versions of the tokens of the listings of comments, the queue, threads and
// word lists that are read: this release's and the previous one's.
var pageVersions = []string{"v1", "v2"}

func encodeToken(query string, c cursor) string { return sealToken("v2", query, c.spell()) }

// decodeToken returns the cursor in tok, or nil for the empty token (the first page), for an
// index of comment ids.
func decodeToken(tok, query string) (*cursor, error) {
	return decodeTokenOf(tok, query, comment.ValidID)
}

// decodeTokenOf is decodeToken for an index whose members validID accepts.
func decodeTokenOf(tok, query string, validID func(string) bool) (*cursor, error) {
	if tok == "" {
		return nil, nil
	}
	parse := func(pos string) (cursor, bool) { return parseCursor(pos, validID) }
	c, ok := openToken(tok, query, pageVersions, parse, cursor.spell)
	if !ok {
		return nil, fmt.Errorf("redisstore: page token: %w", comment.ErrInvalidPageToken)
	}
	return &c, nil
}

// The queries tokens are bound to. A newest-first listing has a query of its own, so that its
// tokens, whose cursor means "before", are refused by an oldest-first one and the other way round.
func publishedQuery(threadID string, newestFirst bool) string {
	if newestFirst {
		return "published-desc/" + threadID
	}
	return "published/" + threadID
}

// queueQuery is the query of a moderation queue listing. The filters beyond state and thread
// are appended only when set, so tokens of unfiltered listings keep their form.
func queueQuery(q moderation.Query) string {
	s := "queue/" + strconv.Itoa(int(q.State)) + "/" + q.ThreadID
	if q.AuthorKey != "" || !q.CreatedBefore.IsZero() || q.MinScore != nil || q.MaxScore != nil || q.ReasonCode != "" {
		s += fmt.Sprintf("?a=%s&b=%d&min=%s&max=%s&r=%s", q.AuthorKey, micros(q.CreatedBefore),
			formatScore(q.MinScore), formatScore(q.MaxScore), q.ReasonCode)
	}
	return s
}

// ceilMicros returns t in unix microseconds, rounded up.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}

// formatScore formats an optional spam score bound for a script argument; "" when unset.
func formatScore(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

// entry is one item of a page script's reply.
type entry struct {
	cursor
	rec any // the record's field/value list; nil when ids only were asked for
}

// pageScan is one run of the page script: where it starts, how much it returns and looks at, and
// the filters it applies.
type pageScan struct {
	after       *cursor
	limit       int
	recordBase  string // "" when neither records nor filters are needed
	withRecords bool
	scanBound   int // index entries to look at at most; 0 for no bound
	q           moderation.Query
	desc        bool // newest first: the index read backwards from the cursor
}

// args returns the page script's arguments.
func (p pageScan) args() []any {
	a := []any{"", "", p.limit, p.recordBase, "0", "", p.scanBound, p.q.AuthorKey, formatScore(p.q.MinScore), formatScore(p.q.MaxScore), p.q.ReasonCode, "0"}
	if p.after != nil {
		a[0], a[1] = p.after.score, p.after.id
	}
	if p.withRecords {
		a[4] = "1"
	}
	if !p.q.CreatedBefore.IsZero() {
		// Rounded up: the script keeps the scores below the bound, and a comment of the bound's
		// own microsecond was created before a bound that falls later in it (as q.Matches says).
		a[5] = ceilMicros(p.q.CreatedBefore)
	}
	if p.desc {
		a[11] = "1"
	}
	return a
}

// parsePage decodes a page script's reply: the entries and the horizon, nil when the script
// reached the end of the index.
func parsePage(v any) ([]entry, *cursor, error) {
	reply, ok := v.([]any)
	if !ok || len(reply) != 2 {
		return nil, nil, fmt.Errorf("%w: page reply is %T", errCorrupt, v)
	}
	out, err := parseEntries(reply[0])
	if err != nil {
		return nil, nil, err
	}
	h, ok := reply[1].([]any)
	if !ok {
		return nil, nil, fmt.Errorf("%w: page horizon", errCorrupt)
	}
	if len(h) == 0 {
		return out, nil, nil
	}
	hs, err := parseEntries([]any{h})
	if err != nil {
		return nil, nil, err
	}
	return out, &hs[0].cursor, nil
}

// parseEntries decodes the entry list of a page script's reply.
func parseEntries(v any) ([]entry, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: page entries are %T", errCorrupt, v)
	}
	out := make([]entry, 0, len(items))
	for _, it := range items {
		fields, ok := it.([]any)
		if !ok || len(fields) < 2 {
			return nil, fmt.Errorf("%w: page entry", errCorrupt)
		}
		id, ok1 := fields[0].(string)
		sc, ok2 := fields[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: page entry", errCorrupt)
		}
		score, err := parseScore(sc)
		if err != nil {
			return nil, err
		}
		e := entry{cursor: cursor{score: score, id: id}}
		if len(fields) > 2 {
			e.rec = fields[2]
		}
		out = append(out, e)
	}
	return out, nil
}

// parseScore reads a sorted-set score. Scores are whole microseconds (below 2^53, so exact in a
// float64), but servers may print them in exponent form.
func parseScore(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1<<53 {
		return 0, fmt.Errorf("%w: score %q", errCorrupt, s)
	}
	return int64(math.Round(f)), nil
}

// finishPage decodes the records of up to size entries (the page script was asked for size+1, so
// one more means there is a next page) and makes the next page token.
func finishPage(entries []entry, size int, query string) ([]comment.Comment, string, error) {
	next := ""
	if len(entries) > size {
		entries = entries[:size]
		next = encodeToken(query, entries[size-1].cursor)
	}
	out := make([]comment.Comment, 0, len(entries))
	for _, e := range entries {
		c, err := decodeReplyRecord(e.rec)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, next, nil
}

// runPageScan runs the page script on one index and returns its entries and horizon.
func (s *Store) runPageScan(ctx context.Context, index string, p pageScan) ([]entry, *cursor, error) {
	v, err := s.page.Run(ctx, s.rdb, []string{index}, p.args()...).Result()
	if err != nil {
		return nil, nil, err
	}
	return parsePage(v)
}

// pageSize returns the size to use for p: the caller clamps it, this only guards against zero.
func pageSize(p comment.Page) int { return comment.ClampPageSize(p.Size) }
