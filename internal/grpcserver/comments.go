package grpcserver

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// commentServer serves CommentService to sites. Handlers convert, call the domain service and
// return its error as is; the error interceptor turns it into a status.
type commentServer struct {
	commentdv1.UnimplementedCommentServiceServer
	comments *comment.Service
	metrics  *Metrics
	spam     SpamOptions // CheckComment (spam.go)
	// moderation takes readers' reports (ReportComment, reports.go).
	moderation *moderation.Service
}

func (s *commentServer) SubmitComment(ctx context.Context, r *commentdv1.SubmitCommentRequest) (*commentdv1.SubmitCommentResponse, error) {
	c, err := s.comments.Submit(ctx, submissionFromProto(r))
	if err != nil {
		return nil, err
	}
	s.metrics.commentSubmitted(c.State)
	return &commentdv1.SubmitCommentResponse{Comment: siteCommentToProto(c)}, nil
}

func (s *commentServer) GetComment(ctx context.Context, r *commentdv1.GetCommentRequest) (*commentdv1.GetCommentResponse, error) {
	id, err := moderation.ParseID("name", r.GetName())
	if err != nil {
		return nil, err
	}
	c, err := s.comments.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &commentdv1.GetCommentResponse{Comment: siteCommentToProto(c)}, nil
}

func (s *commentServer) ListComments(ctx context.Context, r *commentdv1.ListCommentsRequest) (*commentdv1.ListCommentsResponse, error) {
	page := comment.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()}
	newest, err := newestFirstFromOrderBy("order_by", r.GetOrderBy())
	if err != nil {
		return nil, requestError(err, comment.ValidateListPublished(r.GetThreadId(), page))
	}
	page.NewestFirst = newest
	return boundedPage(page, func(p comment.Page) (*commentdv1.ListCommentsResponse, int, error) {
		pg, err := s.comments.ListPublished(ctx, r.GetThreadId(), p)
		if err != nil {
			return nil, 0, err
		}
		out := make([]*commentdv1.Comment, len(pg.Comments))
		for i, c := range pg.Comments {
			out[i] = siteCommentToProto(c)
		}
		return &commentdv1.ListCommentsResponse{Comments: out, NextPageToken: pg.Next, ThreadStatus: threadStatusToProto(pg.Thread)}, len(pg.Comments), nil
	})
}

// maxPageBytes bounds the encoded size of one page of comments. gRPC clients refuse a message over
// 4 MiB unless told otherwise, and 500 comments of the longest body in a script of three or four
// bytes a character (Chinese, Japanese, emoji) come to 7.5 to 10 MB: such a page could never be
// read.
const maxPageBytes = 3 << 20

// boundedPage reads a page with list and, while its response is over maxPageBytes, reads it again
// at half as many comments: a page may hold fewer than asked (the next page token carries on
// where it ends), and the extra reads happen only for pages of very long comments.
func boundedPage[R proto.Message](p comment.Page, list func(comment.Page) (R, int, error)) (R, error) {
	for {
		resp, n, err := list(p)
		if err != nil || n <= 1 || proto.Size(resp) <= maxPageBytes {
			return resp, err
		}
		p.Size = n / 2
	}
}

func (s *commentServer) CountComments(ctx context.Context, r *commentdv1.CountCommentsRequest) (*commentdv1.CountCommentsResponse, error) {
	counts, err := s.comments.CountPublished(ctx, r.GetThreadIds())
	if err != nil {
		return nil, err
	}
	if len(counts) != len(r.GetThreadIds()) {
		return nil, fmt.Errorf("count comments: store returned %d counts for %d threads", len(counts), len(r.GetThreadIds()))
	}
	return &commentdv1.CountCommentsResponse{Counts: threadCountsToProto(r.GetThreadIds(), counts)}, nil
}
