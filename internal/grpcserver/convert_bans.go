package grpcserver

import (
	"strings"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// A ban's resource name is "bans/{ban_id}" (ratelimit.Target.Name): the id is its target's id
// made safe for a URL path segment, so one target has one name and the name needs no lookup.

const banCollection = ratelimit.BanCollection

// banTargetFromName reads a ban's resource name back into its target. Anything but the canonical
// name of a valid target is a *comment.ValidationError on field.
func banTargetFromName(field, name string) (ratelimit.Target, error) {
	bad := &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: comment.BadName("ban", name, "bans/{id}, as ListBans returns it")}}}
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
	if err != nil || t.ID() != id {
		return ratelimit.Target{}, bad
	}
	return t, nil
}

// banToProto is a ban as moderators see it. The target is already a keyed hash or a range: a ban
// never holds an email or a single address in clear.
func banToProto(b ratelimit.Ban) *commentdv1.Ban {
	return &commentdv1.Ban{
		Name:       b.Target.Name(),
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
