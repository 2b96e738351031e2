package grpcserver

import (
	"context"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// EraseAuthorData serves an erasure request in the calling admin's name. The address goes straight
// to the domain, which hashes it; it is in no error, log line or audit entry.
func (s *moderationServer) EraseAuthorData(ctx context.Context, r *commentdv1.EraseAuthorDataRequest) (*commentdv1.EraseAuthorDataResponse, error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	e, err := s.moderation.EraseAuthorData(ctx, caller.Name, r.GetAuthorEmail(), r.GetReason(), r.GetValidateOnly())
	if err != nil {
		return nil, err
	}
	return &commentdv1.EraseAuthorDataResponse{CommentCount: int64(e.Comments)}, nil
}
