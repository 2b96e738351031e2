package redisstore

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
)

// Bans (ratelimit.BanStore, and the ban lookup of ratelimit.Store) live in one hash slot, "{bans}":
// a hash of records by target id and two sorted sets, by creation (to list) and by expiry (to
// purge). One slot means one HMGET finds every ban that can match a submission, whatever its
// author, address and ranges; bans are few and small, so one slot holds them easily.
//
// A range ban is matched by asking for every prefix of the address: the /31, /30, ... down to the
// widest range a ban may have (ratelimit.MinRangeBitsIPv4, ...IPv6), so the lookup is exact and
// costs one command whatever the number of bans (at most 24 fields for IPv4 and 112 for IPv6).
//
// A record's expiry is checked on every read, so an expired ban stops applying at once; the bans
// scripts also purge expired records (bans_purge.lua).

var (
	//go:embed bans_purge.lua
	banPurgeSrc string
	//go:embed bans_put.lua
	banPutSrc string
	//go:embed bans_delete.lua
	banDeleteSrc string
	//go:embed bans_list.lua
	banListSrc string
)

// Immutable like the rate-limit scripts; each starts with the purge, and those that change a ban
// with the audit step that records it. They run alone (not pipelined), so Script.Run falls back to
// EVAL by itself after a Redis restart.
var (
	banPutScript    = redis.NewScript(banPurgeSrc + auditRecordSrc + banPutSrc)
	banDeleteScript = redis.NewScript(banPurgeSrc + auditRecordSrc + banDeleteSrc)
	banListScript   = redis.NewScript(banPurgeSrc + banListSrc)
)

// banRecord is a ban's value in the records hash; the target is the field.
type banRecord struct {
	Reason    string `json:"reason,omitempty"`
	Moderator string `json:"moderator"`
	CreatedMS int64  `json:"created_ms"`
	ExpiresMS int64  `json:"expires_ms,omitempty"` // 0: never
}

func (s *Store) banKeys() []string {
	return []string{s.keys.banRecords(), s.keys.banCreated(), s.keys.banExpiry()}
}

// PutBan stores b, replacing any ban on the same target, and returns b and the ban it replaced
// when that one was in force at b.CreatedAt (ratelimit.BanStore). The ban is recorded in the audit
// log (action ban, by b.Moderator, with b.Reason) in the same script, marked so that a resend of
// the call by the Redis client records it once. With call.RequestID, the script first looks for
// the record of an earlier call with that id (keys.banRequest), and answers from it.
func (s *Store) PutBan(ctx context.Context, b ratelimit.Ban, call ratelimit.BanCall) (ratelimit.Ban, *ratelimit.Ban, error) {
	rec := banRecord{Reason: b.Reason, Moderator: b.Moderator, CreatedMS: b.CreatedAt.UnixMilli()}
	if !b.ExpiresAt.IsZero() {
		rec.ExpiresMS = b.ExpiresAt.UnixMilli()
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return ratelimit.Ban{}, nil, fmt.Errorf("redisstore: put ban: %w", err)
	}
	auditKeys, auditArgs := s.auditStep(auditBans, moderation.AuditEvent{
		Moderator: b.Moderator, Action: moderation.AuditBan, Target: b.Target.Name(), Reason: b.Reason, At: b.CreatedAt,
	})
	keys := append(append(s.banKeys(), s.keys.auditMark(auditBans, newMarkID())), auditKeys...)
	args := append([]any{rec.CreatedMS, b.Target.String(), raw, rec.CreatedMS, rec.ExpiresMS, auditMarkTTL}, auditArgs...)
	if call.RequestID != "" {
		keys = append(keys, s.keys.banRequest(call.RequestID))
		args = append(args, call.Fingerprint, int64(ratelimit.BanRequestTTL/time.Second))
	}
	reply, err := banPutScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return ratelimit.Ban{}, nil, storeError("put ban", err)
	}
	id := b.Target.String()
	var stored ratelimit.Ban
	switch {
	case len(reply) == 2 && reply[0] == "stored":
		stored = b
	case len(reply) == 3 && reply[0] == "resent":
		if stored, err = decodeBan(id, reply[1]); err != nil {
			return ratelimit.Ban{}, nil, fmt.Errorf("redisstore: put ban: the first call's ban: %w", err)
		}
	case len(reply) == 1 && reply[0] == "reused":
		return ratelimit.Ban{}, nil, fmt.Errorf("redisstore: put ban: %w", ratelimit.ErrBanRequestReused)
	default:
		return ratelimit.Ban{}, nil, fmt.Errorf("redisstore: put ban: reply of %d values", len(reply))
	}
	old := reply[len(reply)-1]
	if old == "" {
		return stored, nil, nil
	}
	replaced, err := decodeBan(id, old)
	if err != nil {
		return ratelimit.Ban{}, nil, fmt.Errorf("redisstore: put ban: the replaced ban: %w", err)
	}
	return stored, &replaced, nil
}

// DeleteBan removes the ban on t (ratelimit.BanStore), and records that in the audit log (action
// unban, by moderator) in the same script; a resend of the call by the Redis client finds the
// call's mark and records nothing more.
func (s *Store) DeleteBan(ctx context.Context, t ratelimit.Target, now time.Time, moderator string) error {
	auditKeys, auditArgs := s.auditStep(auditBans, moderation.AuditEvent{
		Moderator: moderator, Action: moderation.AuditUnban, Target: t.Name(), At: now,
	})
	keys := append(append(s.banKeys(), s.keys.unbanMark(newMarkID())), auditKeys...)
	args := append([]any{now.UnixMilli(), t.String(), unbanMarkTTL}, auditArgs...)
	n, err := banDeleteScript.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return storeError("delete ban", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: delete ban %s: %w", t.Kind, ratelimit.ErrBanNotFound)
	}
	return nil
}

// ListBans returns one page of the bans active at now, newest first (ratelimit.BanStore).
func (s *Store) ListBans(ctx context.Context, now time.Time, p comment.Page) ([]ratelimit.Ban, string, error) {
	size := comment.ClampPageSize(p.Size)
	after, err := decodeBanToken(p.Token)
	if err != nil {
		return nil, "", err
	}
	afterScore, afterID := "", ""
	if after != nil {
		afterScore, afterID = strconv.FormatInt(after.score, 10), after.id
	}
	reply, err := banListScript.Run(ctx, s.rdb, s.banKeys(), now.UnixMilli(), size, afterScore, afterID).Slice()
	if err != nil {
		return nil, "", storeError("list bans", err)
	}
	if len(reply)%3 != 0 {
		return nil, "", fmt.Errorf("redisstore: list bans: reply of %d values", len(reply))
	}
	var bans []ratelimit.Ban
	var lastID, lastScore string
	more := false
	for i := 0; i < len(reply); i += 3 {
		if len(bans) == size {
			more = true
			break
		}
		id, _ := reply[i].(string)
		score, _ := reply[i+1].(string)
		raw, _ := reply[i+2].(string)
		b, err := decodeBan(id, raw)
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: list bans: %w", err)
		}
		lastID, lastScore = id, score
		if b.Active(now) {
			bans = append(bans, b)
		}
	}
	if !more {
		return bans, "", nil
	}
	ms, err := parseScore(lastScore)
	if err != nil {
		return nil, "", fmt.Errorf("redisstore: list bans: ban %s: %w", lastID, err)
	}
	return bans, encodeToken(banQuery, cursor{score: ms, id: lastID}), nil
}

// A bans page token is made and read as the other listings' are (page.go), for the query
// banQuery and the position (created ms, target id) of the last ban of its page:
// "v2.<check>.<created ms>.<target id>". The previous release's tokens, "b1.<created ms>.<target
// id>" without a check, are still read. A token cut short, or another spelling of the same
// position (a leading zero, a target id with a space, a bare or unmasked range), is refused: the
// script would take it as another position.
const banQuery = "bans"

// decodeBanToken returns the position in tok, or nil for the empty token (the first page).
func decodeBanToken(tok string) (*cursor, error) {
	if tok == "" {
		return nil, nil
	}
	parse := func(pos string) (cursor, bool) { return parseCursor(pos, validBanID) }
	if c, ok := openToken(tok, banQuery, []string{"v2"}, parse, cursor.spell); ok {
		return &c, nil
	}
	if raw, err := base64.RawURLEncoding.DecodeString(tok); err == nil {
		if pos, found := strings.CutPrefix(string(raw), "b1."); found {
			if c, ok := parse(pos); ok && base64.RawURLEncoding.EncodeToString([]byte("b1."+c.spell())) == tok {
				return &c, nil
			}
		}
	}
	return nil, fmt.Errorf("redisstore: bans page token: %w", comment.ErrInvalidPageToken)
}

// validBanID reports whether id is a ban's id as stored: ratelimit.Target.String of a valid
// target, and not merely an id ratelimit.ParseTarget reads.
func validBanID(id string) bool {
	t, err := ratelimit.ParseTarget("page_token", id)
	return err == nil && t.String() == id
}

// Banned returns the most specific ban on l active at now, ending when the last ban on l ends
// (ratelimit.Store).
func (s *Store) Banned(ctx context.Context, l ratelimit.BanLookup, now time.Time) (*ratelimit.Ban, error) {
	fields := banFields(l)
	if len(fields) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.banRecords(), fields...).Result()
	if err != nil {
		return nil, storeError("ban check", err)
	}
	b, err := pickBan(fields, vals, now)
	if err != nil {
		return nil, fmt.Errorf("redisstore: ban check: %w", err)
	}
	return b, nil
}

// banFields lists the target ids that could ban l, most specific first: the author, the address,
// an IPv6 address's /64, then every range holding the address from the narrowest to the widest a
// ban may be. Each id is
// exactly ratelimit.Target.String of its target.
//
// This runs on every submission with 24 (IPv4) or 112 (IPv6) ranges, so the range ids are written
// into one strings.Builder, sized for the family's widest address, and cut from its string: one
// allocation instead of three per range, and no copy of the buffer into the string.
func banFields(l ratelimit.BanLookup) []string {
	a := l.IP.Unmap()
	ranges := 0
	widest := ratelimit.MinRangeBitsIPv6
	if a.IsValid() && a.Zone() == "" {
		if a.Is4() {
			widest = ratelimit.MinRangeBitsIPv4
		}
		ranges = a.BitLen() - widest
	}
	fields := make([]string, 0, 3+ranges)
	if l.AuthorKey != "" {
		fields = append(fields, ratelimit.AuthorTarget(l.AuthorKey).String())
	}
	if l.IPKey != "" {
		fields = append(fields, ratelimit.IPTarget(l.IPKey).String())
	}
	if l.NetKey != "" && l.NetKey != l.IPKey {
		fields = append(fields, ratelimit.IPTarget(l.NetKey).String())
	}
	if ranges == 0 {
		return fields
	}
	const rangePrefix = "range:"
	widestText := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
	if a.Is4() {
		widestText = "255.255.255.255/32"
	}
	var (
		ends    [128]int
		b       strings.Builder
		scratch [64]byte // one id: "range:", the widest address, "/128"
	)
	b.Grow(ranges * (len(rangePrefix) + len(widestText)))
	for i, bits := 0, a.BitLen()-1; bits >= widest; i, bits = i+1, bits-1 {
		id := append(scratch[:0], rangePrefix...)
		id = netip.PrefixFrom(a, bits).Masked().Addr().AppendTo(id)
		id = append(id, '/')
		id = strconv.AppendInt(id, int64(bits), 10)
		b.Write(id)
		ends[i] = b.Len()
	}
	all := b.String()
	start := 0
	for _, end := range ends[:ranges] {
		fields = append(fields, all[start:end])
		start = end
	}
	return fields
}

// pickBan returns the first ban in vals (HMGET's reply for fields) active at now, the most
// specific, with the end of the refusal as its ExpiresAt: the latest end of every active ban in
// vals, or none while one of them is permanent. The site is told the ban is over by then, and a
// wider or longer ban of the same reader would otherwise refuse them again at that time.
func pickBan(fields []string, vals []any, now time.Time) (*ratelimit.Ban, error) {
	if len(vals) != len(fields) {
		return nil, fmt.Errorf("ban lookup: %d values for %d fields", len(vals), len(fields))
	}
	var first *ratelimit.Ban
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue // nil: no such ban
		}
		b, err := decodeBan(fields[i], raw)
		if err != nil {
			return nil, err
		}
		switch {
		case !b.Active(now):
		case first == nil:
			first = &b
		case first.ExpiresAt.IsZero():
		case b.ExpiresAt.IsZero() || b.ExpiresAt.After(first.ExpiresAt):
			first.ExpiresAt = b.ExpiresAt
		}
	}
	return first, nil
}

func decodeBan(id, raw string) (ratelimit.Ban, error) {
	t, err := ratelimit.ParseTarget("target", id)
	if err != nil {
		return ratelimit.Ban{}, errors.New("ban record with an unreadable target id")
	}
	var rec banRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return ratelimit.Ban{}, fmt.Errorf("ban record of %s: %w", t.Kind, err)
	}
	b := ratelimit.Ban{Target: t, Reason: rec.Reason, Moderator: rec.Moderator, CreatedAt: time.UnixMilli(rec.CreatedMS).UTC()}
	if rec.ExpiresMS != 0 {
		b.ExpiresAt = time.UnixMilli(rec.ExpiresMS).UTC()
	}
	return b, nil
}
