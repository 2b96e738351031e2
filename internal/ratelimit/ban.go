package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	// Against the import rules (see the package comment): bans answer with comment's validation
	// error and page, hash with privacy.Keyring and read addresses and ranges as privacy does.
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// TargetKind is what a ban applies to.
type TargetKind int

// The kinds of ban target. The names are used in ban ids, the API and metric labels.
const (
	TargetAuthor TargetKind = iota + 1 // an author, by the keyed hash of the normalised email
	TargetIP                           // one IP address, by its keyed hash
	TargetRange                        // an IP range (CIDR), IPv4 or IPv6, kept in clear
)

func (k TargetKind) String() string {
	switch k {
	case TargetAuthor:
		return "author"
	case TargetIP:
		return "ip"
	case TargetRange:
		return "range"
	}
	return fmt.Sprintf("target(%d)", int(k))
}

// Target is what one ban applies to. Authors and single addresses are personal data and are only
// ever held as keyed hashes (comment.Comment.AuthorKey and IPKey, or privacy.Keyring.EmailKey and
// IPKey); a range is a network, not one reader, and is kept in clear so it can be listed and matched.
type Target struct {
	Kind  TargetKind
	Key   string       // TargetAuthor and TargetIP: the keyed hash, 40 lowercase hex digits
	Range netip.Prefix // TargetRange: the masked prefix
}

// AuthorTarget bans an author by the keyed hash of their email.
func AuthorTarget(key string) Target { return Target{Kind: TargetAuthor, Key: key} }

// IPTarget bans one address by its keyed hash.
func IPTarget(key string) Target { return Target{Kind: TargetIP, Key: key} }

// RangeTarget bans an IP range. Validate (or Bans.Ban) masks and checks it.
func RangeTarget(p netip.Prefix) Target { return Target{Kind: TargetRange, Range: p} }

// String is the target's id, stable and unique: "author:<hash>", "ip:<hash>" or "range:<cidr>"
// (for example "range:203.0.113.0/24" or "range:2001:db8::/32"). ParseTarget reads it back.
func (t Target) String() string {
	switch t.Kind {
	case TargetAuthor, TargetIP:
		return t.Kind.String() + ":" + t.Key
	case TargetRange:
		return "range:" + t.Range.String()
	}
	return t.Kind.String()
}

// ID is the ban's id, its target's id made safe for a URL path segment (letters, digits, '.',
// '-'), so one target has one id and the id needs no lookup:
//
//	author:<hash>            author-<hash>
//	ip:<hash>                ip-<hash>
//	range:203.0.113.0/24     range-203.0.113.0-24
//	range:2001:db8::/48      range-2001-db8---48     (':' becomes '-'; the last '-' starts the length)
//
// An IPv6 range never holds a '.' (netip writes embedded IPv4 only for IPv4-mapped addresses, which
// a range may not be) and an IPv4 range never a ':', so the '.' tells the two apart.
func (t Target) ID() string {
	switch t.Kind {
	case TargetAuthor, TargetIP:
		return t.Kind.String() + "-" + t.Key
	case TargetRange:
		return "range-" + strings.ReplaceAll(t.Range.Addr().String(), ":", "-") + "-" + strconv.Itoa(t.Range.Bits())
	}
	return ""
}

// BanCollection starts the resource name of every ban, "bans/{id}": the name the API gives a ban
// and the target of its entries in the moderators' audit log.
const BanCollection = "bans/"

// Name is the resource name of the ban on t, BanCollection and its ID.
func (t Target) Name() string { return BanCollection + t.ID() }

// Limits on ranges: a range ban must not be able to lock out the whole Internet by a typo (the
// bounds are privacy's, which word-list entries share), and a full-length prefix is one reader's
// address, which must be banned by hash (an IP ban) instead.
const (
	MinRangeBitsIPv4 = privacy.MinRangeBitsIPv4
	MinRangeBitsIPv6 = privacy.MinRangeBitsIPv6
)

var hashKeyPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// validate checks t and returns it in canonical form (a range masked to its prefix length).
func (t Target) validate(verr *comment.ValidationError, field string) Target {
	switch t.Kind {
	case TargetAuthor, TargetIP:
		if !hashKeyPattern.MatchString(t.Key) {
			verr.Add(field, "want the keyed hash shown to moderators: 40 lowercase hex digits")
		}
		return Target{Kind: t.Kind, Key: t.Key}
	case TargetRange:
		p := t.Range
		switch {
		case !p.IsValid():
			verr.Add(field, "want an IP range such as 203.0.113.0/24 or 2001:db8::/32")
		case p.Addr().Is4In6():
			verr.Add(field, "give an IPv4 range in IPv4 form, such as 203.0.113.0/24")
		case p.Addr().Zone() != "":
			verr.Add(field, "an IP range has no zone")
		case p.IsSingleIP():
			verr.Add(field, "a range of one address: ban the address (by its hash) instead, so it is not stored in clear")
		case p.Addr().Is4() && p.Bits() < MinRangeBitsIPv4:
			verr.Add(field, fmt.Sprintf("IPv4 range wider than /%d", MinRangeBitsIPv4))
		case p.Addr().Is6() && p.Bits() < MinRangeBitsIPv6:
			verr.Add(field, fmt.Sprintf("IPv6 range wider than /%d", MinRangeBitsIPv6))
		}
		return Target{Kind: TargetRange, Range: p.Masked()}
	}
	verr.Add(field, "want an author, ip or range target")
	return t
}

// ParseTarget reads a target id made by Target.String and checks it. A bare CIDR ("10.0.0.0/8") is
// read as a range. Errors are a *comment.ValidationError on field.
func ParseTarget(field, s string) (Target, error) {
	var verr comment.ValidationError
	s = strings.TrimSpace(s)
	kind, rest, ok := strings.Cut(s, ":")
	var t Target
	switch {
	case ok && kind == "author":
		t = AuthorTarget(rest)
	case ok && kind == "ip":
		t = IPTarget(rest)
	case ok && kind == "range":
		p, err := netip.ParsePrefix(rest)
		if err != nil {
			verr.Add(field, "want an IP range such as range:203.0.113.0/24 or range:2001:db8::/32")
			return Target{}, &verr
		}
		t = RangeTarget(p)
	default:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			verr.Add(field, "want author:<hash>, ip:<hash> or range:<cidr>")
			return Target{}, &verr
		}
		t = RangeTarget(p)
	}
	t = t.validate(&verr, field)
	return t, verr.Err()
}

// Ban is one ban as stored.
type Ban struct {
	Target    Target
	Reason    string // the moderator's reason, for moderators only
	Moderator string // the API key name of the moderator who banned
	CreatedAt time.Time
	ExpiresAt time.Time // zero: the ban lasts until removed
}

// Active reports whether b is in force at now.
func (b Ban) Active(now time.Time) bool { return b.ExpiresAt.IsZero() || now.Before(b.ExpiresAt) }

// BanRequest asks for a new ban. A ban on a target that is already banned replaces the old one.
type BanRequest struct {
	Target    Target
	Duration  time.Duration // 0 bans for good
	Reason    string
	Moderator string
	// RequestID is the client's idempotency key ("" when none; else comment.ValidRequestID): a
	// request sent again with it within BanRequestTTL returns the ban the first one stored and
	// changes nothing; the same id with another request is ErrBanRequestReused.
	RequestID string
}

// BanRequestTTL is how long a ban's request id is remembered: as long as a comment's, so a
// moderator's or a script's retry the next morning is still recognised.
const BanRequestTTL = 24 * time.Hour

// ErrBanRequestReused: the ban request's id was used, within BanRequestTTL, by a request for
// another ban (another target, duration, reason or moderator). Nothing was stored. A resend
// repeats the request unchanged; a new ban needs a new request id.
var ErrBanRequestReused = errors.New("ratelimit: request id already used for another ban")

// BanCall names one ban request for its resends (PutBan): the client's request id and a
// fingerprint of what it asks for. The zero BanCall names none, and every call stores its ban.
type BanCall struct {
	RequestID string
	// Fingerprint tells a resend (the same fingerprint) from a reuse of the id: 32 lowercase hex
	// digits, a hash of the moderator, the target id, the duration and the reason. It holds no
	// address in clear: an author's or an address's target id is already a keyed hash.
	Fingerprint string
}

// banFingerprint is BanCall.Fingerprint of the checked request (t canonical, reason trimmed):
// each part length-prefixed, so no two requests share their input.
func banFingerprint(t Target, d time.Duration, reason, moderator string) string {
	h := sha256.New()
	var n [8]byte
	for _, part := range []string{moderator, t.String(), strconv.FormatInt(int64(d), 10), reason} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// BanStore keeps bans. Expired bans are never returned.
//
// A store that keeps the moderators' audit log records each ban it stores and each one it lifts
// there (action ban or unban, target the ban's Name, by the moderator, a ban with its reason), and
// counts it among the moderator's other actions of the day, in the same atomic step as the change:
// an entry written after the change would be lost with a reply that came after the call's
// deadline, and the moderator's resend of an unban, which finds no ban, would record nothing. A
// call the store's client resends records nothing more.
type BanStore interface {
	// PutBan stores b, replacing any ban on the same target, and returns b and the ban it
	// replaced if that one was in force at b.CreatedAt (nil if none). With a call.RequestID
	// that an earlier PutBan used within BanRequestTTL, it stores and records nothing: with the
	// same call.Fingerprint it returns what that call stored and replaced, whatever became of the
	// ban since; with another, ErrBanRequestReused. The check and the change are one atomic step.
	PutBan(ctx context.Context, b Ban, call BanCall) (stored Ban, replaced *Ban, err error)
	// DeleteBan removes the ban on t in moderator's name, or returns ErrBanNotFound when no ban
	// on t is active at now.
	DeleteBan(ctx context.Context, t Target, now time.Time, moderator string) error
	// ListBans returns one page of the bans active at now, newest first, and the next page token
	// ("" at the end); a token it did not issue is comment.ErrInvalidPageToken.
	ListBans(ctx context.Context, now time.Time, p comment.Page) ([]Ban, string, error)
}

// BansOptions configures Bans.
type BansOptions struct {
	// Keys turns the email or IP address a moderator bans by into the keyed hash the ban is kept
	// under (EmailTarget, AddressTarget); without it those two refuse to work.
	Keys *privacy.Keyring
	Now  func() time.Time // defaults to time.Now
}

// Bans is the moderators' side of bans: create, list and remove. The check on the submit path is
// Guard's.
type Bans struct {
	store BanStore
	keys  *privacy.Keyring
	now   func() time.Time
}

// NewBans builds a Bans.
func NewBans(store BanStore, opts BansOptions) *Bans {
	b := &Bans{store: store, keys: opts.Keys, now: opts.Now}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// errNoKeys means Bans was built without BansOptions.Keys: a wiring bug.
var errNoKeys = errors.New("ratelimit: bans: no keyring to hash the address with")

// EmailTarget bans an author by email address: the address is normalised and hashed at once, and
// never stored. A malformed address is a *comment.ValidationError on field.
func (bs *Bans) EmailTarget(field, email string) (Target, error) {
	if bs.keys == nil {
		return Target{}, errNoKeys
	}
	e, ok := privacy.ParseEmail(email)
	if !ok {
		return Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: "not an email address (want a bare address such as name@example.com)"}}}
	}
	return AuthorTarget(bs.keys.EmailKey(e)), nil
}

// AddressTarget bans one IPv4 address, or an IPv6 address's /64: it is hashed at once and never
// stored. A malformed address is a *comment.ValidationError on field.
func (bs *Bans) AddressTarget(field, ip string) (Target, error) {
	if bs.keys == nil {
		return Target{}, errNoKeys
	}
	a, ok := privacy.ParseIP(strings.TrimSpace(ip))
	if !ok {
		return Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: "not an IPv4 or IPv6 address (for a network, ban an IP range)"}}}
	}
	if !comment.ValidClientIP(a) {
		// Submissions from it are refused already (comment.ValidClientIP): a ban would be stored,
		// listed and audited, and never match anyone.
		return Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: "the unspecified address (0.0.0.0 or ::) is no reader's address, and no submission comes from it"}}}
	}
	return AddressBan(bs.keys, a), nil
}

// CommentAddressTarget bans the address comment c was sent from, as AddressTarget bans an address
// given: an IPv6 address's /64. The address is opened from the comment's sealed copy; a comment
// without one (the site sent no address, or the author's data was erased) is a
// *comment.ValidationError on field. One whose sealed copy cannot be opened (its key was retired
// from the key ring) is banned by the keyed hash of its address alone.
func (bs *Bans) CommentAddressTarget(field string, c comment.Comment) (Target, error) {
	if bs.keys == nil {
		return Target{}, errNoKeys
	}
	if c.IPKey == "" {
		desc := "this comment has no IP address (the site sent none); ban its author instead"
		if c.AuthorKey == "" {
			// An erasure took both: there is nobody left to point the moderator to.
			desc = "this comment has no IP address and no author any more (the author's data was erased)"
		}
		return Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: desc}}}
	}
	ip, err := bs.keys.OpenIP(c.IPSealed, c.ID)
	if err != nil || ip.IsZero() {
		return IPTarget(c.IPKey), nil
	}
	return AddressBan(bs.keys, ip), nil
}

// AddressBan is the ban of address a: one IPv4 address by its keyed hash, or the /64 an IPv6
// address belongs to, by the keyed hash rate limits count it under (privacy.Keyring.IPLimitKey).
// A phone or a home network is given a /64 and changes its address within it at least daily
// (privacy extensions), so a ban of one IPv6 address would lapse within a day without a word.
func AddressBan(keys *privacy.Keyring, a privacy.IP) Target {
	return IPTarget(keys.IPLimitKey(a))
}

// MaxModeratorChars bounds the recorded moderator name (an API key name is at most 64).
const MaxModeratorChars = 64

// Ban validates r and stores the ban. Errors in r are a *comment.ValidationError naming every bad
// field: "target", "duration", "reason", "moderator".
func (bs *Bans) Ban(ctx context.Context, r BanRequest) (Ban, error) {
	b, _, err := bs.Replace(ctx, r)
	return b, err
}

// Replace is Ban, and also returns the ban in force on the same target that the new one replaced
// (nil if none): a ban made for a day on a target banned for good until then ends that ban too,
// so the moderator is told, and undoing the new ban means making the replaced one again. A
// request with the RequestID of an earlier one (within BanRequestTTL) returns what that one
// stored and replaced, and stores nothing; or, for another ban, fails with ErrBanRequestReused.
func (bs *Bans) Replace(ctx context.Context, r BanRequest) (Ban, *Ban, error) {
	var verr comment.ValidationError
	t := r.Target.validate(&verr, "target")
	if t.Kind == TargetRange {
		CheckNewRange(&verr, "target", t)
	}
	if r.Duration < 0 {
		verr.Add("duration", "must not be negative (0 bans for good)")
	}
	reason := CheckBanReason(&verr, "reason", r.Reason)
	if m := strings.TrimSpace(r.Moderator); m == "" || len(m) > MaxModeratorChars {
		verr.Add("moderator", fmt.Sprintf("required: 1 to %d characters", MaxModeratorChars))
	}
	if r.RequestID != "" && !comment.ValidRequestID(r.RequestID) {
		verr.Add("request_id", comment.RequestIDRule)
	}
	if err := verr.Err(); err != nil {
		return Ban{}, nil, err
	}
	now := bs.now().UTC().Truncate(time.Millisecond)
	b := Ban{Target: t, Reason: reason, Moderator: strings.TrimSpace(r.Moderator), CreatedAt: now}
	if r.Duration > 0 {
		// Whole milliseconds, as stored; rounded up so a ban lasts at least as long as asked. The
		// rounding is done on the time, not on the duration: near the longest time.Duration (what
		// the API's duration of more than 292 years comes to) the sum would overflow into the past
		// and store a ban that is over before it starts, in place of any ban on the target.
		b.ExpiresAt = now.Add(r.Duration)
		if t := b.ExpiresAt.Truncate(time.Millisecond); t.Before(b.ExpiresAt) {
			b.ExpiresAt = t.Add(time.Millisecond)
		}
	}
	var call BanCall
	if r.RequestID != "" {
		call = BanCall{RequestID: r.RequestID, Fingerprint: banFingerprint(t, r.Duration, reason, b.Moderator)}
	}
	stored, replaced, err := bs.store.PutBan(ctx, b, call)
	if err != nil {
		return Ban{}, nil, fmt.Errorf("store ban %s: %w", t.Kind, err)
	}
	return stored, replaced, nil
}

// CheckNewRange adds to verr, on field, why a new ban may not have range target t: a range in
// the NAT64 prefix, or one within one device's IPv6 /64. It is checked for new bans only, not by
// the target's own validation, which also reads the ids of stored bans back. A reader behind a
// NAT64 translator is matched by the IPv4 address they hold (privacy.ParseIP), so a range in the
// NAT64 prefix would be stored and listed and never refuse anyone.
func CheckNewRange(verr *comment.ValidationError, field string, t Target) {
	switch v4, ok := nat64Range(t.Range); {
	case ok && !t.Range.IsSingleIP() && v4.Bits() < MinRangeBitsIPv4:
		// Pointing to the IPv4 range would point to a ban the same call refuses.
		verr.Add(field, fmt.Sprintf("a range in the NAT64 prefix, which stands for the IPv4 range %s, which its readers are matched by and which is wider than a ban may be (/%d): ban narrower IPv4 ranges", v4.Masked(), MinRangeBitsIPv4))
	case ok && !t.Range.IsSingleIP():
		if what, narrow := privacy.NarrowRange(v4); narrow {
			// Nor to one the same call would refuse as too narrow to keep in clear.
			verr.Add(field, fmt.Sprintf("a range in the NAT64 prefix, which stands for the IPv4 range %s, %s: ban an address in it instead (kept only as a keyed hash), so it is not stored in clear", v4.Masked(), what))
			break
		}
		verr.Add(field, fmt.Sprintf("a range in the NAT64 prefix: ban the IPv4 range it stands for, %s, which its readers are matched by", v4.Masked()))
	default:
		// Also checked for new bans only, so that such bans stored before are still read back,
		// listed and lifted. A range is kept in clear, listed to every moderator and written to
		// the audit log; one this narrow names one reader or two, whom an address ban keeps only
		// as a keyed hash (and an IPv6 address ban counts by its /64, AddressBan).
		if what, narrow := privacy.NarrowRange(t.Range); narrow {
			verr.Add(field, what+": ban an address in it instead (kept only as a keyed hash; an IPv6 address ban covers its whole /"+strconv.Itoa(privacy.DeviceBitsIPv6)+"), so it is not stored in clear")
		}
	}
}

// CheckBanReason adds to verr, on field, what is wrong with a ban's reason (an empty one is
// fine here), and returns the reason trimmed. Replace checks it; a caller that resolves the
// ban's target first (which may need a lookup) checks it before that too, so that a request is
// refused with every bad field at once.
func CheckBanReason(verr *comment.ValidationError, field, reason string) string {
	reason, err := comment.ValidateReason(field, reason)
	if err != nil {
		verr.AddAll(err)
	} else if privacy.HoldsAddress(reason) {
		// A ban's reason is kept in clear, shown to every moderator, written to the audit log and
		// left in place by an erasure (bans stay), while an address is kept only as its keyed
		// hash: "also writes as jane@example.com" would name the reader for good.
		verr.Add(field, "holds an email or IP address, which would be kept in clear with the ban and in the audit log; name the masked address or the comment instead")
	}
	return reason
}

// Unban removes the ban on t in moderator's name. It returns ErrBanNotFound when there is none (or
// it has expired).
func (bs *Bans) Unban(ctx context.Context, t Target, moderator string) error {
	var verr comment.ValidationError
	t = t.validate(&verr, "target")
	if m := strings.TrimSpace(moderator); m == "" || len(m) > MaxModeratorChars {
		verr.Add("moderator", fmt.Sprintf("required: 1 to %d characters", MaxModeratorChars))
	}
	if err := verr.Err(); err != nil {
		return err
	}
	return bs.store.DeleteBan(ctx, t, bs.now(), strings.TrimSpace(moderator))
}

// List returns one page of the active bans, newest first, and the next page token.
func (bs *Bans) List(ctx context.Context, p comment.Page) ([]Ban, string, error) {
	var verr comment.ValidationError
	comment.CheckPageSize(&verr, p.Size)
	if err := verr.Err(); err != nil {
		return nil, "", err
	}
	p.Size = comment.ClampPageSize(p.Size)
	return bs.store.ListBans(ctx, bs.now(), p)
}
