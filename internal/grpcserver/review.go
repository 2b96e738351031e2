package grpcserver

import (
	"context"

	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// The review handlers: claims, releases and reopening. Like the other handlers they convert, call
// the domain service in the caller's name and return its error as is.

func (s *moderationServer) ClaimComments(ctx context.Context, r *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	q, err := claimQueryFromProto(r)
	if err != nil {
		return nil, requestError(err, q.Validate())
	}
	vs, until, err := s.moderation.Claim(ctx, caller.Name, q)
	if err != nil {
		return nil, err
	}
	return &commentdv1.ClaimCommentsResponse{Comments: viewsToProto(vs), LeaseExpireTime: timeToProto(until)}, nil
}

func (s *moderationServer) ReleaseComments(ctx context.Context, r *commentdv1.ReleaseCommentsRequest) (*commentdv1.ReleaseCommentsResponse, error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	ids, err := releaseIDsFromProto(r)
	if err != nil {
		return nil, err
	}
	if err := s.moderation.Release(ctx, caller.Name, ids); err != nil {
		return nil, err
	}
	return &commentdv1.ReleaseCommentsResponse{}, nil
}

func (s *moderationServer) ReopenComment(ctx context.Context, r *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
	o, err := s.decideOutcome(ctx, moderation.Reopen, r.GetName(), r.GetReason(), r.GetEtag())
	if err != nil {
		return nil, err
	}
	// The comment alone cannot say whether this call reopened it: pending either way.
	return &commentdv1.ReopenCommentResponse{Comment: viewToProto(o.View), AlreadyPending: !o.Changed}, nil
}
