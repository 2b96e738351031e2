package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// The spam RPCs: CheckComment (CommentService), and MarkSpam, MarkNotSpam, TrainSpam and
// DeleteSpamModel (ModerationService). Marking spam and not spam are moderators' decisions like
// approve and reject; the spam model learns from them through moderation.Service's Learner.

// SpamOptions are the spam services behind the RPCs. Either may be nil: the RPCs that need it then
// fail with FAILED_PRECONDITION, reason SPAM_DISABLED.
type SpamOptions struct {
	Service *spam.Service // CheckComment, TrainSpam, DeleteSpamModel
	Filters *spam.Filters // CreateFilter, ListFilters, DeleteFilter
}

// BanLookup is the abuse guard's read-only ban lookup (ratelimit.Guard.Banned): CheckComment asks
// it without counting anything against the rate limits.
type BanLookup interface {
	Banned(ctx context.Context, l ratelimit.BanLookup) (*ratelimit.Ban, error)
}

// GuardBans adapts a BanLookup to spam.Bans. A banned reader's check fails as the submission would:
// *ratelimit.BannedError (PERMISSION_DENIED, reason BANNED). Under shadow bans (shadow true) the
// check says nothing of the ban, since a shadow-banned submission looks accepted to the site too.
func GuardBans(g BanLookup, keys *privacy.Keyring, shadow bool) spam.Bans {
	return guardBans{g: g, keys: keys, shadow: shadow}
}

type guardBans struct {
	g      BanLookup
	keys   *privacy.Keyring
	shadow bool
}

func (b guardBans) CheckBan(ctx context.Context, d *comment.Draft) error {
	if b.shadow {
		return nil
	}
	ban, err := b.g.Banned(ctx, ratelimit.BanLookup{
		AuthorKey: b.keys.EmailKey(d.Email), IPKey: b.keys.IPKey(d.IP), NetKey: b.keys.IPLimitKey(d.IP), IP: d.IP.Addr(),
	})
	switch {
	case err != nil:
		return err
	case ban != nil:
		return &ratelimit.BannedError{Ban: *ban}
	}
	return nil
}

func (s *commentServer) CheckComment(ctx context.Context, r *commentdv1.CheckCommentRequest) (*commentdv1.CheckCommentResponse, error) {
	if s.spam.Service == nil {
		return nil, errSpamOff
	}
	res, err := s.spam.Service.Check(ctx, submissionFromProto(r.GetComment()), r.GetSpamModel())
	if err != nil {
		return nil, nestCheckFields(err)
	}
	return checkResultToProto(res), nil
}

func (s *moderationServer) MarkSpam(ctx context.Context, r *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
	v, err := s.decide(ctx, moderation.MarkSpam, r.GetName(), r.GetReason(), r.GetEtag())
	if err != nil {
		return nil, err
	}
	return &commentdv1.MarkSpamResponse{Comment: viewToProto(v)}, nil
}

func (s *moderationServer) MarkNotSpam(ctx context.Context, r *commentdv1.MarkNotSpamRequest) (*commentdv1.MarkNotSpamResponse, error) {
	v, err := s.decide(ctx, moderation.MarkNotSpam, r.GetName(), r.GetReason(), r.GetEtag())
	if err != nil {
		return nil, err
	}
	return &commentdv1.MarkNotSpamResponse{Comment: viewToProto(v)}, nil
}

func (s *moderationServer) TrainSpam(ctx context.Context, r *commentdv1.TrainSpamRequest) (*commentdv1.TrainSpamResponse, error) {
	if s.spam.Service == nil {
		return nil, errSpamOff
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	examples := examplesFromProto(r.GetExamples())
	n, repeated, err := s.spam.Service.Train(ctx, r.GetSpamModel(), r.GetRequestId(), examples)
	if errors.Is(err, spam.ErrTrainingCut) {
		// The steps that finished before the failure stay trained: without an entry now, an
		// import cut short (Ctrl-C, a deadline, Redis gone) would change the model unrecorded
		// unless someone resent it. The call's context may be what ended, hence a bound of its own.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditAfterFailureTimeout)
		defer cancel()
		what := fmt.Sprintf("%d examples (%d spam, %d ham) sent; the call failed part way and some of them may be trained", len(examples), countSpam(examples), len(examples)-countSpam(examples))
		if r.GetRequestId() != "" {
			what += ": resend it with its request id to train the rest"
		}
		if aerr := s.auditChange(actx, moderation.AuditTrainSpam, caller.Name, moderation.SpamModelTarget(r.GetSpamModel()), what); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	if err != nil {
		return nil, err
	}
	// Training changes every later verdict, so who trained the model, and with how much, is in the
	// audit log; the examples' text is not. A resend with the request id is recorded too, saying
	// how many of its examples the earlier call had trained: when the earlier call's entry was
	// not written (it failed after training), the resend's is the only one.
	if n > 0 {
		what := fmt.Sprintf("%d examples (%d spam, %d ham)", n, countSpam(examples), n-countSpam(examples))
		if repeated > 0 {
			what += fmt.Sprintf(", %d of them trained by an earlier call with this request id", repeated)
		}
		if err := s.auditChange(ctx, moderation.AuditTrainSpam, caller.Name, moderation.SpamModelTarget(r.GetSpamModel()), what); err != nil {
			return nil, err
		}
	}
	return &commentdv1.TrainSpamResponse{Trained: int32(n), AlreadyTrained: int32(repeated)}, nil
}

func (s *moderationServer) DeleteSpamModel(ctx context.Context, r *commentdv1.DeleteSpamModelRequest) (*commentdv1.DeleteSpamModelResponse, error) {
	if s.spam.Service == nil {
		return nil, errSpamOff
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, errNoCaller
	}
	if err := s.spam.Service.DeleteModel(ctx, r.GetSpamModel()); err != nil {
		return nil, err
	}
	if err := s.auditChange(ctx, moderation.AuditDeleteSpamModel, caller.Name, moderation.SpamModelTarget(r.GetSpamModel()), ""); err != nil {
		return nil, err
	}
	return &commentdv1.DeleteSpamModelResponse{}, nil
}

// auditAfterFailureTimeout bounds the audit write made after a call failed part way, whose own
// context may have ended: about a Redis timeout (commentd's default -redis-timeout is 2 s) and
// a reconnection.
const auditAfterFailureTimeout = 3 * time.Second

// countSpam counts the examples labelled spam.
func countSpam(xs []spam.Example) int {
	n := 0
	for _, x := range xs {
		if x.Spam {
			n++
		}
	}
	return n
}

// auditChange records an action on a spam model in the audit log, after it is done: when the
// entry cannot be written the caller gets the error, though the action was done. A server without
// an audit log records nothing. Bans and word-list entries are recorded by their stores, in the
// change's own atomic step (ratelimit.BanStore, spam.FilterStore).
func (s *moderationServer) auditChange(ctx context.Context, a moderation.AuditAction, moderator, name, reason string) error {
	err := s.moderation.RecordAudit(ctx, moderation.AuditEvent{Moderator: moderator, Action: a, Target: name, Reason: reason})
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}
