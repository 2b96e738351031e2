package grpcserver

import (
	"context"

	"github.com/commentd/commentd/internal/comment"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func (s *moderationServer) ListAuditEvents(ctx context.Context, r *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
	p := comment.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()}
	q, err := auditQueryFromProto(r)
	if err != nil {
		return nil, requestError(err, q.Validate(p))
	}
	events, next, err := s.moderation.ListAudit(ctx, q, p)
	if err != nil {
		return nil, err
	}
	out := &commentdv1.ListAuditEventsResponse{NextPageToken: next}
	for _, e := range events {
		out.Events = append(out.Events, auditEventToProto(e))
	}
	return out, nil
}
