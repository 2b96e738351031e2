package grpcserver

import (
	"context"
	"strings"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// ReportComment records a reader's report for a site. The answer is the site's view of the
// comment, so a report never tells the site more than GetComment would.
func (s *commentServer) ReportComment(ctx context.Context, r *commentdv1.ReportCommentRequest) (*commentdv1.ReportCommentResponse, error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	// Report checks the id with the reason and the address, so a BadRequest names every bad field.
	// Reports without an address count once per comment and API key (see moderation.Service.Report).
	id := strings.TrimPrefix(r.GetName(), "comments/")
	c, n, err := s.moderation.Report(ctx, id, r.GetReason(), r.GetClientIp(), caller.Name)
	if err != nil {
		return nil, err
	}
	return &commentdv1.ReportCommentResponse{Comment: siteCommentToProto(c), ReportCount: int32(n)}, nil
}
