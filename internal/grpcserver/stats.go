package grpcserver

import (
	"context"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func (s *moderationServer) GetStats(ctx context.Context, r *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error) {
	st, err := s.moderation.Stats(ctx, int(r.GetDays()))
	if err != nil {
		return nil, err
	}
	return statsToProto(st), nil
}
