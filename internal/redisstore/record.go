package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// A comment record is a hash with these fields. Empty optional fields are not stored. Times are
// unix microseconds in decimal; states are the comment.State numbers. The Lua scripts use the
// names state, thread, created, published, hold and dec_* as written here.
//
//	id            comment id
//	thread        thread id
//	parent        parent comment id (absent for a top-level comment)
//	name          author's display name
//	email_sealed  author's email, sealed by privacy.Keyring (never in clear)
//	author_key    keyed hash of the author's email
//	ip_sealed     client IP, sealed (absent when unknown)
//	ip_key        keyed hash of the client IP
//	ua            user agent
//	body          comment text
//	score         spam score 0..1 as a decimal string; absent when 0 (unscored)
//	state         1 published, 2 pending, 3 rejected, 4 spam
//	created       creation time
//	published     publication time, present only while published
//	depth         how deep a reply is nested: 1 for a reply to a top-level comment, and so on;
//	              absent for a top-level comment, and for replies stored before it was kept
//	              (create.lua takes those as 1)
//	hold          why the comment was held or marked spam: a JSON array of [code, message]
//	              pairs, e.g. [["PRE_MODERATION","..."]]; absent when there is none
//	dec_by, dec_at, dec_from, dec_to, dec_reason
//	              the last moderator decision: API key name, time, state before and after,
//	              free-text reason; absent until a moderator decides
//	erased        a random token of the script call that anonymised the record for an erasure
//	              request (erase.lua), so a resent call knows its own work; absent until then
const (
	fID          = "id"
	fThread      = "thread"
	fParent      = "parent"
	fName        = "name"
	fEmailSealed = "email_sealed"
	fAuthorKey   = "author_key"
	fIPSealed    = "ip_sealed"
	fIPKey       = "ip_key"
	fUserAgent   = "ua"
	fBody        = "body"
	fScore       = "score"
	fState       = "state"
	fCreated     = "created"
	fPublished   = "published"
	fHold        = "hold"
	fDepth       = "depth"
	fDecBy       = "dec_by"
	fDecAt       = "dec_at"
	fDecFrom     = "dec_from"
	fDecTo       = "dec_to"
	fDecReason   = "dec_reason"
)

// errCorrupt means a record or script reply does not have the shape this code writes. It is a bug
// or a foreign writer, never a client mistake.
var errCorrupt = errors.New("redisstore: malformed record")

// recordFields returns the field/value pairs of c that Create writes as they are. state,
// published and hold are left out: the create script sets them once it has resolved the mode.
// The names are strings; each value is a *string into one array, which go-redis writes as the
// string (see evalShaCmd): one allocation for the values instead of one each.
func recordFields(c comment.Comment) []any {
	var vals *[recordFieldCount]string
	f := make([]any, 0, 2*recordFieldCount)
	add := func(name any, value string) {
		if value == "" {
			return
		}
		if vals == nil {
			vals = new([recordFieldCount]string)
		}
		n := len(f) / 2
		vals[n] = value
		f = append(f, name, &vals[n])
	}
	add(fID, c.ID)
	add(fThread, c.ThreadID)
	add(fParent, c.ParentID)
	add(fName, c.AuthorName)
	add(fEmailSealed, c.EmailSealed)
	add(fAuthorKey, c.AuthorKey)
	add(fIPSealed, c.IPSealed)
	add(fIPKey, c.IPKey)
	add(fUserAgent, c.UserAgent)
	add(fBody, c.Body)
	if c.SpamScore > 0 {
		add(fScore, strconv.FormatFloat(c.SpamScore, 'g', 6, 64))
	}
	return f
}

// recordFieldCount is how many fields recordFields may return.
const recordFieldCount = 11

// encodeHold encodes hold reasons for the hold field; "" for none.
func encodeHold(rs []comment.Reason) string {
	if len(rs) == 0 {
		return ""
	}
	pairs := make([][2]string, len(rs))
	for i, r := range rs {
		pairs[i] = [2]string{r.Code, r.Message}
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		// Marshalling strings cannot fail.
		panic(fmt.Sprintf("redisstore: encode hold reasons: %v", err))
	}
	return string(b)
}

func decodeHold(s string) ([]comment.Reason, error) {
	if s == "" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, fmt.Errorf("%w: hold: %v", errCorrupt, err)
	}
	rs := make([]comment.Reason, len(pairs))
	for i, p := range pairs {
		rs[i] = comment.Reason{Code: p[0], Message: p[1]}
	}
	return rs, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q", errCorrupt, s)
	}
	return time.UnixMicro(n).UTC(), nil
}

func parseState(s string) (comment.State, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !comment.State(n).Valid() {
		return 0, fmt.Errorf("%w: state %q", errCorrupt, s)
	}
	return comment.State(n), nil
}

// decodeRecord turns a record's fields into a Comment.
func decodeRecord(m map[string]string) (comment.Comment, error) {
	c := comment.Comment{
		ID:          m[fID],
		ThreadID:    m[fThread],
		ParentID:    m[fParent],
		AuthorName:  m[fName],
		EmailSealed: m[fEmailSealed],
		AuthorKey:   m[fAuthorKey],
		IPSealed:    m[fIPSealed],
		IPKey:       m[fIPKey],
		UserAgent:   m[fUserAgent],
		Body:        m[fBody],
	}
	if c.ID == "" || c.ThreadID == "" {
		return comment.Comment{}, fmt.Errorf("%w: no id or thread", errCorrupt)
	}
	var err error
	if v := m[fScore]; v != "" {
		if c.SpamScore, err = strconv.ParseFloat(v, 64); err != nil {
			return comment.Comment{}, fmt.Errorf("%w: score: %v", errCorrupt, err)
		}
	}
	if c.State, err = parseState(m[fState]); err != nil {
		return comment.Comment{}, err
	}
	if c.CreatedAt, err = fromMicros(m[fCreated]); err != nil {
		return comment.Comment{}, err
	}
	if c.PublishedAt, err = fromMicros(m[fPublished]); err != nil {
		return comment.Comment{}, err
	}
	if v := m[fDepth]; v != "" {
		if c.Depth, err = strconv.Atoi(v); err != nil || c.Depth < 0 {
			return comment.Comment{}, fmt.Errorf("%w: depth %q", errCorrupt, v)
		}
	} else if c.ParentID != "" {
		c.Depth = 1 // stored before replies kept their depth; create.lua takes it as 1 too
	}
	if c.HoldReasons, err = decodeHold(m[fHold]); err != nil {
		return comment.Comment{}, err
	}
	if to := m[fDecTo]; to != "" {
		d := &comment.Decision{Moderator: m[fDecBy], Reason: m[fDecReason]}
		if d.To, err = parseState(to); err != nil {
			return comment.Comment{}, err
		}
		if d.From, err = parseState(m[fDecFrom]); err != nil {
			return comment.Comment{}, err
		}
		if d.At, err = fromMicros(m[fDecAt]); err != nil {
			return comment.Comment{}, err
		}
		c.Decision = d
	}
	return c, nil
}

// pairsToMap turns a flat [field, value, field, value...] reply (HGETALL inside a script) into a map.
func pairsToMap(v any) (map[string]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("%w: want a field/value list, got %T", errCorrupt, v)
	}
	m := make(map[string]string, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, ok1 := arr[i].(string)
		val, ok2 := arr[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: non-string field", errCorrupt)
		}
		m[k] = val
	}
	return m, nil
}

// decodeReplyRecord decodes a record returned by a script as a flat field/value list.
func decodeReplyRecord(v any) (comment.Comment, error) {
	m, err := pairsToMap(v)
	if err != nil {
		return comment.Comment{}, err
	}
	return decodeRecord(m)
}
