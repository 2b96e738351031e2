package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/grpcserver"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// noopEnv, when set to an address, makes this binary serve a no-op CommentService there instead of
// running the benchmark: a separate process, like commentd, so both sides are measured alike.
// With oneWriteEnv also set, to a Redis address, it serves the one-write reference instead.
const (
	noopEnv     = "COMMENTD_BENCH_NOOP_ADDR"
	oneWriteEnv = "COMMENTD_BENCH_ONE_WRITE_REDIS"
)

type noopServer struct {
	commentdv1.UnimplementedCommentServiceServer
}

// SubmitComment answers at once with a response shaped like the real one.
func (noopServer) SubmitComment(_ context.Context, req *commentdv1.SubmitCommentRequest) (*commentdv1.SubmitCommentResponse, error) {
	return noopResponse(req, "00noop", time.Now()), nil
}

func noopResponse(req *commentdv1.SubmitCommentRequest, id string, now time.Time) *commentdv1.SubmitCommentResponse {
	return &commentdv1.SubmitCommentResponse{Comment: &commentdv1.Comment{
		Name:       "comments/" + id,
		Id:         id,
		ThreadId:   req.GetThreadId(),
		AuthorName: req.GetAuthorName(),
		Body:       req.GetBody(),
		State:      commentdv1.State_STATE_PUBLISHED,
		CreateTime: timestamppb.New(now),
	}}
}

// oneWriteServer is the reference for what storing a comment costs at the least: one pipelined
// Redis exchange of two commands (the comment's hash and its place in the thread's index), no
// check, no encryption, no script. It keeps neither the email nor the IP address, and writes under
// its own key prefix.
type oneWriteServer struct {
	commentdv1.UnimplementedCommentServiceServer
	rdb *redis.Client
}

func (s oneWriteServer) SubmitComment(ctx context.Context, req *commentdv1.SubmitCommentRequest) (*commentdv1.SubmitCommentResponse, error) {
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	now := time.Now()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, "bench:c:"+id, "thread", req.GetThreadId(), "name", req.GetAuthorName(), "body", req.GetBody(),
			"created", strconv.FormatInt(now.UnixMicro(), 10))
		p.ZAdd(ctx, "bench:t:"+req.GetThreadId(), redis.Z{Score: float64(now.UnixMicro()), Member: id})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return noopResponse(req, id, now), nil
}

func serveNoop(addr, redisAddr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.NumStreamWorkers(grpcserver.StreamWorkers))
	if redisAddr == "" {
		commentdv1.RegisterCommentServiceServer(s, noopServer{})
	} else {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		commentdv1.RegisterCommentServiceServer(s, oneWriteServer{rdb: rdb})
	}
	return s.Serve(lis)
}
