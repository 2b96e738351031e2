package grpcserver

import (
	"context"
	"errors"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// moderationServer serves ModerationService to moderators. Like commentServer, handlers only
// convert and call the domain service.
type moderationServer struct {
	commentdv1.UnimplementedModerationServiceServer
	moderation *moderation.Service
	metrics    *Metrics
	bans       *ratelimit.Bans // nil: the ban RPCs are disabled (bans.go)
	spam       SpamOptions     // the spam and word-list RPCs (spam.go, filters.go)
	// shutdown ends when the server shuts down, so open WatchQueue streams end (watch.go).
	shutdown context.Context
	// watchers holds a token per WatchQueue stream served; its capacity is Options.MaxWatchers.
	watchers chan struct{}
	// keyWatchers counts the WatchQueue streams served per API key (Options.MaxWatchersPerKey).
	keyWatchers *keyCounts
	// watchSendTimeout bounds the wait for a WatchQueue client to take an event (Options.WatchSendTimeout).
	watchSendTimeout time.Duration
}

// errNoCaller means a decision arrived without an authenticated caller: the interceptor chain is
// miswired. It maps to INTERNAL.
var errNoCaller = errors.New("grpcserver: no authenticated caller in context")

func (s *moderationServer) ListQueue(ctx context.Context, r *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
	q, err := queueQueryFromProto(r)
	if err != nil {
		return nil, requestError(err, q.Validate(comment.Page{Size: int(r.GetPageSize())}))
	}
	return boundedPage(comment.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()}, func(p comment.Page) (*commentdv1.ListQueueResponse, int, error) {
		vs, next, err := s.moderation.ListQueue(ctx, q, p)
		if err != nil {
			return nil, 0, err
		}
		return &commentdv1.ListQueueResponse{Comments: viewsToProto(vs), NextPageToken: next}, len(vs), nil
	})
}

func (s *moderationServer) GetComment(ctx context.Context, r *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
	id, err := moderation.ParseID("name", r.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.moderation.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &commentdv1.ModerationServiceGetCommentResponse{Comment: viewToProto(v)}, nil
}

func (s *moderationServer) ApproveComment(ctx context.Context, r *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
	v, err := s.decide(ctx, moderation.Approve, r.GetName(), r.GetReason(), r.GetEtag())
	if err != nil {
		return nil, err
	}
	return &commentdv1.ApproveCommentResponse{Comment: viewToProto(v)}, nil
}

func (s *moderationServer) RejectComment(ctx context.Context, r *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
	v, err := s.decide(ctx, moderation.Reject, r.GetName(), r.GetReason(), r.GetEtag())
	if err != nil {
		return nil, err
	}
	return &commentdv1.RejectCommentResponse{Comment: viewToProto(v)}, nil
}

// decide applies a decision in the name of the calling key, so the record says who decided; with
// an etag, only if the comment has not changed since it was read.
func (s *moderationServer) decide(ctx context.Context, a moderation.Action, name, reason, etag string) (moderation.View, error) {
	o, err := s.decideOutcome(ctx, a, name, reason, etag)
	return o.View, err
}

// decideOutcome is decide, also telling whether the decision changed the comment.
func (s *moderationServer) decideOutcome(ctx context.Context, a moderation.Action, name, reason, etag string) (moderation.Outcome, error) {
	id, err := moderation.ParseID("name", name)
	if err != nil {
		// Name the reason and the etag too if they are bad: Decide, which checks them, is not reached.
		_, reasonErr := moderation.ValidateDecisionReason("reason", reason)
		return moderation.Outcome{}, joinViolations(err, reasonErr, moderation.ValidateETag("etag", etag))
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return moderation.Outcome{}, errNoCaller
	}
	o, err := s.moderation.DecideOutcome(ctx, caller.Name, a, id, reason, etag)
	if err != nil {
		return moderation.Outcome{}, err
	}
	s.metrics.decided(a)
	return o, nil
}

func (s *moderationServer) GetThread(ctx context.Context, r *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
	id, err := moderation.ParseThreadID("name", r.GetName())
	if err != nil {
		return nil, err
	}
	t, err := s.moderation.GetThread(ctx, id)
	if err != nil {
		return nil, err
	}
	return &commentdv1.GetThreadResponse{Thread: threadToProto(t, s.moderation.EffectiveMode(t))}, nil
}

func (s *moderationServer) UpdateThread(ctx context.Context, r *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error) {
	u, err := threadUpdateFromProto(r)
	if err != nil {
		return nil, err
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	t, err := s.moderation.UpdateThread(ctx, caller.Name, u.id, u.mode, u.closed, u.etag)
	if err != nil {
		return nil, err
	}
	return &commentdv1.UpdateThreadResponse{Thread: threadToProto(t, s.moderation.EffectiveMode(t))}, nil
}

func (s *moderationServer) ListThreads(ctx context.Context, r *commentdv1.ListThreadsRequest) (*commentdv1.ListThreadsResponse, error) {
	f := threadFilterFromProto(r)
	ts, next, err := s.moderation.ListThreads(ctx, f, comment.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := make([]*commentdv1.Thread, len(ts))
	for i, t := range ts {
		out[i] = threadToProto(t.Thread, s.moderation.EffectiveMode(t.Thread))
		out[i].UpdateTime = timeToProto(t.Changed)
	}
	return &commentdv1.ListThreadsResponse{Threads: out, NextPageToken: next}, nil
}
