package grpcserver

import (
	"errors"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Converters for the spam and word-list RPCs.

func spamDecisionToProto(d spam.Decision) commentdv1.SpamDecision {
	switch d {
	case spam.DecisionPublish:
		return commentdv1.SpamDecision_SPAM_DECISION_PUBLISH
	case spam.DecisionHold:
		return commentdv1.SpamDecision_SPAM_DECISION_HOLD
	case spam.DecisionSpam:
		return commentdv1.SpamDecision_SPAM_DECISION_SPAM
	}
	return commentdv1.SpamDecision_SPAM_DECISION_UNSPECIFIED
}

// reasonsToProto converts hold or check reasons; none gives nil, as a message read from the wire
// has it.
func reasonsToProto(rs []comment.Reason) []*commentdv1.Reason {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*commentdv1.Reason, len(rs))
	for i, r := range rs {
		out[i] = &commentdv1.Reason{Code: r.Code, Message: r.Message}
	}
	return out
}

// checkResultToProto is the verdict CheckComment returns.
func checkResultToProto(r spam.Result) *commentdv1.CheckCommentResponse {
	return &commentdv1.CheckCommentResponse{SpamScore: r.Score, Decision: spamDecisionToProto(r.Decision), Reasons: reasonsToProto(r.Reasons)}
}

// nestCheckFields makes the field names of a validation error of CheckComment's submission
// relative to CheckCommentRequest ("body" becomes "comment.body"); spam_model is the request's own.
func nestCheckFields(err error) error {
	var verr *comment.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	out := &comment.ValidationError{Violations: make([]comment.FieldViolation, len(verr.Violations)), Omitted: verr.Omitted}
	for i, v := range verr.Violations {
		if v.Field != "spam_model" {
			v.Field = "comment." + v.Field
		}
		out.Violations[i] = v
	}
	return out
}

// examplesFromProto copies TrainSpam's examples; validation is the domain's job.
func examplesFromProto(xs []*commentdv1.TrainingExample) []spam.Example {
	out := make([]spam.Example, len(xs))
	for i, x := range xs {
		out[i] = spam.Example{Body: x.GetBody(), Spam: x.GetSpam()}
	}
	return out
}

// historyToProto is an author's record in the moderator's view.
func historyToProto(h comment.AuthorHistory) *commentdv1.AuthorHistory {
	return &commentdv1.AuthorHistory{Approved: h.Approved, Rejected: h.Rejected, Spam: h.Spam}
}

// filterListFromProto maps an unknown enum number to an invalid list, which the domain refuses.
func filterListFromProto(l commentdv1.FilterList) spam.FilterList {
	switch l {
	case commentdv1.FilterList_FILTER_LIST_UNSPECIFIED:
		return spam.FilterListAny
	case commentdv1.FilterList_FILTER_LIST_HOLD:
		return spam.FilterListHold
	case commentdv1.FilterList_FILTER_LIST_SPAM:
		return spam.FilterListSpam
	}
	return spam.FilterList(-1)
}

func filterListToProto(l spam.FilterList) commentdv1.FilterList {
	switch l {
	case spam.FilterListHold:
		return commentdv1.FilterList_FILTER_LIST_HOLD
	case spam.FilterListSpam:
		return commentdv1.FilterList_FILTER_LIST_SPAM
	}
	return commentdv1.FilterList_FILTER_LIST_UNSPECIFIED
}

// The filter kinds, by proto enum. An unknown one maps to kind 0, which the domain refuses.
var filterKinds = map[commentdv1.FilterKind]spam.FilterKind{
	commentdv1.FilterKind_FILTER_KIND_WORD:   spam.FilterWord,
	commentdv1.FilterKind_FILTER_KIND_PHRASE: spam.FilterPhrase,
	commentdv1.FilterKind_FILTER_KIND_DOMAIN: spam.FilterDomain,
	commentdv1.FilterKind_FILTER_KIND_EMAIL:  spam.FilterEmail,
	commentdv1.FilterKind_FILTER_KIND_IP:     spam.FilterIP,
	commentdv1.FilterKind_FILTER_KIND_REGEX:  spam.FilterRegex,
}

func filterKindFromProto(k commentdv1.FilterKind) spam.FilterKind { return filterKinds[k] }

func filterKindToProto(k spam.FilterKind) commentdv1.FilterKind {
	for p, d := range filterKinds {
		if d == k {
			return p
		}
	}
	return commentdv1.FilterKind_FILTER_KIND_UNSPECIFIED
}

// filterToProto never carries an entry's keyed hash: moderators see the masked form.
func filterToProto(f spam.Filter) *commentdv1.Filter {
	return &commentdv1.Filter{
		Name:       "filters/" + f.ID,
		List:       filterListToProto(f.List),
		Kind:       filterKindToProto(f.Kind),
		Value:      f.Value,
		Moderator:  f.Moderator,
		CreateTime: timeToProto(f.CreatedAt),
	}
}

func filtersToProto(fs []spam.Filter) []*commentdv1.Filter {
	out := make([]*commentdv1.Filter, len(fs))
	for i, f := range fs {
		out[i] = filterToProto(f)
	}
	return out
}
