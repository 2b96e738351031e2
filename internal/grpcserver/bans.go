package grpcserver

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// The ban RPCs of ModerationService. A ban is made in the calling moderator's name; its target is
// resolved here from whatever the moderator had at hand (a comment, an email or IP address, an
// author key, a range) into what ratelimit keeps: a keyed hash or a range, never an address in clear.

func (s *moderationServer) CreateBan(ctx context.Context, r *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
	if s.bans == nil {
		return nil, errBansOff
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	req := ratelimit.BanRequest{Reason: r.GetReason(), Moderator: caller.Name, RequestID: r.GetRequestId()}
	var verr comment.ValidationError
	if d := r.GetDuration(); d != nil {
		// Unset means for good; an explicit zero (or less) is far more likely a mistake than a
		// way of saying "for good", so it is refused rather than read as one.
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			verr.Add("duration", "must be a positive duration; leave it unset to ban for good")
		} else {
			req.Duration = d.AsDuration()
		}
	}
	before := len(verr.Violations)
	if strings.TrimSpace(r.GetReason()) == "" {
		verr.Add("reason", "required: why, for the other moderators (at most 500 characters)")
	} else {
		// Checked here as well as by Replace: a refusal from Replace would come after the
		// target's lookup, alone, once the other fields are fixed.
		ratelimit.CheckBanReason(&verr, "reason", r.GetReason())
	}
	reasonOK := len(verr.Violations) == before
	if id := r.GetRequestId(); id != "" && !comment.ValidRequestID(id) {
		// Checked here as well as by Replace, as the reason is: before the target's lookup.
		verr.Add("request_id", comment.RequestIDRule)
	}
	// A comment target is looked up only for a request with nothing else wrong: its NOT_FOUND
	// (or the store's failure) would hide the bad fields the moderator can fix at once.
	t, err := s.banTarget(ctx, r, len(verr.Violations) == 0)
	var terr *comment.ValidationError
	switch {
	case errors.As(err, &terr):
		// Reported with the other bad fields, so the moderator fixes everything at once.
		verr.Violations = append(terr.Violations, verr.Violations...)
	case err != nil:
		return nil, err
	case reasonOK && reasonQuotesAddress(r):
		verr.Add("reason", "must not contain the address banned: it is kept only as a keyed hash")
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	req.Target = t
	b, replaced, err := s.bans.Replace(ctx, req)
	if err != nil {
		return nil, err
	}
	// The store recorded the ban in the audit log in the step that stored it (ratelimit.BanStore);
	// a resend with the request id gets the first call's ban and replaced ban, recorded once.
	resp := &commentdv1.CreateBanResponse{Ban: banToProto(b)}
	if replaced != nil {
		resp.ReplacedBan = banToProto(*replaced)
	}
	return resp, nil
}

// banTarget resolves the request's target. A comment target needs the comment, which must exist
// (NOT_FOUND otherwise); every other target is checked and hashed without any lookup. Without
// lookup, a comment target's name is only checked, and a well-formed one gives the zero Target.
func (s *moderationServer) banTarget(ctx context.Context, r *commentdv1.CreateBanRequest, lookup bool) (ratelimit.Target, error) {
	switch t := r.GetTarget().(type) {
	case *commentdv1.CreateBanRequest_CommentAuthor:
		c, err := s.bannedComment(ctx, "comment_author", t.CommentAuthor, lookup)
		if err != nil || !lookup {
			return ratelimit.Target{}, err
		}
		if c.AuthorKey == "" {
			// Banning the empty key would match nothing; the author's data was erased.
			return ratelimit.Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: "comment_author", Description: "this comment's author data was erased; nothing links it to an author any more"}}}
		}
		return ratelimit.AuthorTarget(c.AuthorKey), nil
	case *commentdv1.CreateBanRequest_CommentIp:
		c, err := s.bannedComment(ctx, "comment_ip", t.CommentIp, lookup)
		if err != nil || !lookup {
			return ratelimit.Target{}, err
		}
		return s.bans.CommentAddressTarget("comment_ip", c)
	case *commentdv1.CreateBanRequest_AuthorEmail:
		return s.bans.EmailTarget("author_email", t.AuthorEmail)
	case *commentdv1.CreateBanRequest_AuthorKey:
		return ratelimit.ParseTarget("author_key", "author:"+strings.TrimSpace(t.AuthorKey))
	case *commentdv1.CreateBanRequest_Ip:
		return s.bans.AddressTarget("ip", t.Ip)
	case *commentdv1.CreateBanRequest_IpRange:
		cidr := strings.TrimSpace(t.IpRange)
		if _, err := netip.ParsePrefix(cidr); err != nil {
			// Said here rather than by ParseTarget, whose examples are target ids ("range:..."),
			// which this field does not take.
			desc := "want an IP range in CIDR form, such as 203.0.113.0/24 or 2001:db8::/32"
			if _, aerr := netip.ParseAddr(cidr); aerr == nil {
				desc = "one address, not a range; ban it with ip, which keeps it only as its keyed hash"
			}
			return ratelimit.Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{Field: "ip_range", Description: desc}}}
		}
		rt, err := ratelimit.ParseTarget("ip_range", "range:"+cidr)
		if err != nil {
			return ratelimit.Target{}, err
		}
		var verr comment.ValidationError
		ratelimit.CheckNewRange(&verr, "ip_range", rt)
		return rt, verr.Err()
	}
	return ratelimit.Target{}, &comment.ValidationError{Violations: []comment.FieldViolation{{
		Field: "target", Description: "required: one of comment_author, comment_ip, author_email, author_key, ip or ip_range",
	}}}
}

// reasonQuotesAddress reports whether the reason of a ban by email or IP address holds that
// address. The reason is stored with the ban, shown to every moderator and written to the audit
// log, while the address is to be kept only as its keyed hash.
func reasonQuotesAddress(r *commentdv1.CreateBanRequest) bool {
	if utf8.RuneCountInString(strings.TrimSpace(r.GetReason())) > comment.MaxReasonChars {
		// Refused for its length (as comment.ValidateReason counts it), so never stored; and
		// the search below is not meant for megabytes.
		return false
	}
	var forms []string
	reason := strings.ToLower(r.GetReason())
	switch t := r.GetTarget().(type) {
	case *commentdv1.CreateBanRequest_AuthorEmail:
		if e, ok := privacy.ParseEmail(t.AuthorEmail); ok {
			// Every spelling of the address (its domain in Unicode or xn-- form, accents
			// composed or not) names the same reader.
			forms = append(forms, e.Spellings()...)
		}
	case *commentdv1.CreateBanRequest_Ip:
		ip, ok := privacy.ParseIP(t.Ip)
		if !ok {
			break
		}
		// An IPv6 address has many spellings and an IPv4 address an IPv6 form, so rather than
		// looking for some of them, every address-like run of the reason is read as an address.
		for run := range strings.FieldsFuncSeq(reason, func(c rune) bool { return !strings.ContainsRune("0123456789abcdef:.", c) }) {
			if runQuotesAddress(run, ip.Addr()) {
				return true
			}
		}
	}
	for _, f := range forms {
		for i := 0; ; {
			j := strings.Index(reason[i:], f)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(f)
			// A whole address only: jane@example.com is not quoted by a reason naming
			// mary.jane@example.com or jane@example.com.au. What may come before it is anything
			// that cannot end a local part ("mailto:", "<"), and after it anything that does not
			// go on with the domain: a full stop ends a sentence unless a label follows it.
			if (start == 0 || !emailLocalChar(reason[start-1])) && !domainGoesOn(reason[end:]) {
				return true
			}
			i = start + 1
		}
	}
	return false
}

// maxAddressText is the longest text of an IP address (an IPv6 address ending in an IPv4 one).
const maxAddressText = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")

// runQuotesAddress reports whether run, a run of the characters IP addresses are written with,
// holds a. The address may be all of it, or a part cut at colons: a run also takes in a port
// ("203.0.113.7:51234") and a label before it whose last letters are hex digits
// ("source:203.0.113.7"). Parts are at most maxAddressText long: a few dozen parses per colon.
func runQuotesAddress(run string, a netip.Addr) bool {
	is := func(part string) bool {
		for _, s := range []string{part, strings.Trim(part, ":."), strings.TrimRight(part, ":.")} {
			if p, err := netip.ParseAddr(s); err == nil && p.Unmap() == a {
				return true
			}
		}
		return false
	}
	if is(run) {
		return true
	}
	cut := func(i int) bool { return i == 0 || i == len(run) || run[i] == ':' || run[i-1] == ':' }
	for start := 0; start < len(run); start++ {
		if !cut(start) {
			continue
		}
		for end := start + 1; end <= len(run) && end-start <= maxAddressText+2; end++ {
			if !cut(end) {
				continue
			}
			if is(run[start:end]) {
				return true
			}
		}
	}
	return false
}

// emailLocalChar reports whether c, written just before text that looks like the address banned,
// makes it part of another address. Only the characters local parts are commonly made of count:
// the rarer ones an address may hold (quotes, '/', '=') are far more often the reason's own
// punctuation, and a reason refused for naming some odd address is only reworded, while one let
// through keeps the address banned in clear.
func emailLocalChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 0x80 || c == '.' || c == '-' || c == '_' || c == '+'
}

// domainGoesOn reports whether rest, the text after what looks like the address banned, carries
// on its domain (another label, or more of the last one), making it another address.
func domainGoesOn(rest string) bool {
	label := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c >= 0x80 }
	switch {
	case rest == "":
		return false
	case label(rest[0]):
		return true
	case rest[0] == '.':
		return len(rest) > 1 && label(rest[1])
	}
	return false
}

// bannedComment reads the comment named by field, or, without lookup, only checks its name.
func (s *moderationServer) bannedComment(ctx context.Context, field, name string, lookup bool) (comment.Comment, error) {
	id, err := moderation.ParseID(field, strings.TrimSpace(name))
	if err != nil || !lookup {
		return comment.Comment{}, err
	}
	v, err := s.moderation.Get(ctx, id)
	if err != nil {
		return comment.Comment{}, err
	}
	return v.Comment, nil
}

func (s *moderationServer) ListBans(ctx context.Context, r *commentdv1.ListBansRequest) (*commentdv1.ListBansResponse, error) {
	if s.bans == nil {
		return nil, errBansOff
	}
	bans, next, err := s.bans.List(ctx, comment.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &commentdv1.ListBansResponse{Bans: bansToProto(bans), NextPageToken: next}, nil
}

func (s *moderationServer) DeleteBan(ctx context.Context, r *commentdv1.DeleteBanRequest) (*commentdv1.DeleteBanResponse, error) {
	if s.bans == nil {
		return nil, errBansOff
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	t, err := banTargetFromName("name", r.GetName())
	if err != nil {
		return nil, err
	}
	// Recorded in the audit log by the store, in the step that lifts the ban.
	if err := s.bans.Unban(ctx, t, caller.Name); err != nil {
		return nil, err
	}
	return &commentdv1.DeleteBanResponse{}, nil
}
