package main

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/grpcserver"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// noopEnv, when set to an address, makes this binary serve a no-op CommentService there instead of
// running the benchmark: a separate process, like commentd, so both sides are measured alike.
const noopEnv = "COMMENTD_BENCH_NOOP_ADDR"

type noopServer struct {
	commentdv1.UnimplementedCommentServiceServer
}

// SubmitComment answers at once with a response shaped like the real one.
func (noopServer) SubmitComment(_ context.Context, req *commentdv1.SubmitCommentRequest) (*commentdv1.SubmitCommentResponse, error) {
	return &commentdv1.SubmitCommentResponse{Comment: &commentdv1.Comment{
		Name:       "comments/00noop",
		Id:         "00noop",
		ThreadId:   req.GetThreadId(),
		AuthorName: req.GetAuthorName(),
		Body:       req.GetBody(),
		State:      commentdv1.State_STATE_PUBLISHED,
		CreateTime: timestamppb.Now(),
	}}, nil
}

func serveNoop(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.NumStreamWorkers(grpcserver.StreamWorkers))
	commentdv1.RegisterCommentServiceServer(s, noopServer{})
	return s.Serve(lis)
}
