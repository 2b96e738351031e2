package grpcserver

import (
	"strconv"
	"strings"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// A ban's resource name is "bans/{ban_id}", and the id is its target's id made safe for a URL path
// segment (letters, digits, '.', '-'), so one target has one name and the name needs no lookup:
//
//	author:<hash>            author-<hash>
//	ip:<hash>                ip-<hash>
//	range:203.0.113.0/24     range-203.0.113.0-24
//	range:2001:db8::/48      range-2001-db8---48     (':' becomes '-'; the last '-' starts the length)
//
// An IPv6 range never holds a '.' (netip writes embedded IPv4 only for IPv4-mapped addresses, which
// a range may not be) and an IPv4 range never a ':', so the '.' tells the two apart.

const banCollection = "bans/"

// banID returns the id of the ban on t.
func banID(t ratelimit.Target) string {
	switch t.Kind {
	case ratelimit.TargetAuthor, ratelimit.TargetIP:
		return t.Kind.String() + "-" + t.Key
	case ratelimit.TargetRange:
		return "range-" + strings.ReplaceAll(t.Range.Addr().String(), ":", "-") + "-" + strconv.Itoa(t.Range.Bits())
	}
	return ""
}

// banTargetFromName reads a ban's resource name back into its target. Anything but the canonical
// name of a valid target is a *comment.ValidationError on field.
func banTargetFromName(field, name string) (ratelimit.Target, error) {
	desc := "not a ban name (want bans/{id}, as ListBans returns it)"
	if name == "" {
		desc = "required (want bans/{id}, as ListBans returns it)"
	}
	bad := &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: desc}}}
	id, ok := strings.CutPrefix(name, banCollection)
	if !ok {
		return ratelimit.Target{}, bad
	}
	kind, rest, ok := strings.Cut(id, "-")
	if !ok {
		return ratelimit.Target{}, bad
	}
	var text string
	switch kind {
	case "author", "ip":
		text = kind + ":" + rest
	case "range":
		i := strings.LastIndexByte(rest, '-')
		if i < 0 {
			return ratelimit.Target{}, bad
		}
		addr := rest[:i]
		if !strings.Contains(addr, ".") {
			addr = strings.ReplaceAll(addr, "-", ":")
		}
		text = "range:" + addr + "/" + rest[i+1:]
	default:
		return ratelimit.Target{}, bad
	}
	t, err := ratelimit.ParseTarget(field, text)
	if err != nil || banID(t) != id {
		return ratelimit.Target{}, bad
	}
	return t, nil
}

// banToProto is a ban as moderators see it. The target is already a keyed hash or a range: a ban
// never holds an email or a single address in clear.
func banToProto(b ratelimit.Ban) *commentdv1.Ban {
	return &commentdv1.Ban{
		Name:       banCollection + banID(b.Target),
		Target:     b.Target.String(),
		Reason:     b.Reason,
		Moderator:  b.Moderator,
		CreateTime: timeToProto(b.CreatedAt),
		ExpireTime: timeToProto(b.ExpiresAt),
	}
}

func bansToProto(bs []ratelimit.Ban) []*commentdv1.Ban {
	out := make([]*commentdv1.Ban, len(bs))
	for i, b := range bs {
		out[i] = banToProto(b)
	}
	return out
}
