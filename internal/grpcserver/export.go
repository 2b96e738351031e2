package grpcserver

import (
	"context"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// ExportAuthorData serves an access request in the calling admin's name. Like an erasure's, the
// address goes straight to the domain, which hashes it; the response is the only place the
// author's email and IP address leave the server in clear, and never a log line or error.
func (s *moderationServer) ExportAuthorData(ctx context.Context, r *commentdv1.ExportAuthorDataRequest) (*commentdv1.ExportAuthorDataResponse, error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	q, err := exportQueryFromProto(r)
	if err != nil {
		return nil, requestError(err, q.Validate())
	}
	cs, err := s.moderation.ExportAuthorData(ctx, caller.Name, q)
	if err != nil {
		return nil, err
	}
	resp := &commentdv1.ExportAuthorDataResponse{Comments: make([]*commentdv1.ExportedComment, len(cs))}
	for i, c := range cs {
		resp.Comments[i] = exportedToProto(c)
	}
	return resp, nil
}

// exportQueryFromProto reads an ExportAuthorDataRequest; the domain validates the address, the
// reason and the period.
func exportQueryFromProto(r *commentdv1.ExportAuthorDataRequest) (moderation.ExportQuery, error) {
	q := moderation.ExportQuery{Email: r.GetAuthorEmail(), Reason: r.GetReason()}
	var verr comment.ValidationError
	q.Since = lowerBoundFromProto(&verr, "start_time", r.GetStartTime())
	q.Until = upperBoundFromProto(&verr, "end_time", r.GetEndTime())
	return q, verr.Err()
}

// exportedToProto is the author's own view of their comment: everything the moderator's view
// shows, with the email and IP address in clear instead of masked, and without the author key,
// spam history and reports, which are the site's records rather than the author's data.
func exportedToProto(x moderation.ExportedComment) *commentdv1.ExportedComment {
	c := x.Comment
	p := &commentdv1.ExportedComment{
		Comment:     commentToProto(c),
		AuthorEmail: x.Email.Reveal(),
		IpAddress:   x.IP.Reveal(),
		UserAgent:   c.UserAgent,
		Decision:    decisionToProto(c.Decision),
		SpamScore:   c.SpamScore,
		HoldReasons: reasonsToProto(c.HoldReasons),
	}
	if x.EmailUnreadable {
		p.UnreadableFields = append(p.UnreadableFields, "author_email")
	}
	if x.IPUnreadable {
		p.UnreadableFields = append(p.UnreadableFields, "ip_address")
	}
	return p
}
