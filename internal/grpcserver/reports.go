package grpcserver

import (
	"context"
	"strings"

	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// ReportComment records a reader's report for a site. The answer is the site's view of the
// comment, so a report never tells the site more than GetComment would.
func (s *commentServer) ReportComment(ctx context.Context, r *commentdv1.ReportCommentRequest) (*commentdv1.ReportCommentResponse, error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	// Report checks the id with the reason, the address and the reporter id, so a BadRequest names
	// every bad field. Reports with neither an address nor a reporter id count once per comment
	// and API key (see moderation.Service.Report).
	id := strings.TrimPrefix(r.GetName(), "comments/")
	from := moderation.Reporter{ID: r.GetReporterId(), IP: r.GetClientIp(), APIKey: caller.Name}
	c, n, err := s.moderation.Report(ctx, id, r.GetReason(), from)
	if err != nil {
		return nil, err
	}
	return &commentdv1.ReportCommentResponse{Comment: siteCommentToProto(c), ReportCount: int32(n)}, nil
}
