package grpcserver

import (
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Converters of the moderator workflow: queue filters, claims, queue events, reports, the audit
// log and statistics.

// queueQueryFromProto reads a ListQueueRequest's filters; the domain validates them.
func queueQueryFromProto(r *commentdv1.ListQueueRequest) (moderation.Query, error) {
	q := moderation.Query{
		State:      stateFromProto(r.GetState()),
		ThreadID:   r.GetThreadId(),
		AuthorKey:  r.GetAuthorKey(),
		MinScore:   copyFloat(r.MinSpamScore),
		MaxScore:   copyFloat(r.MaxSpamScore),
		ReasonCode: r.GetReasonCode(),
	}
	var verr comment.ValidationError
	q.CreatedBefore = upperBoundFromProto(&verr, "max_create_time", r.GetMaxCreateTime())
	return q, verr.Err()
}

func copyFloat(v *float64) *float64 {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// A request's timestamps are optional bounds. A Timestamp may be any instant from 0001-01-01 to
// 9999-12-31, and 0001-01-01T00:00:00Z, a valid one, is Go's zero time.Time, which the domain reads
// as "no bound". So whether the field is set is decided here, from the message, and each kind of
// bound says what a set value before anything commentd records means: nothing it stores (comments,
// audit events) is older than the Unix epoch, and its stores count time from it.
var unixEpoch = time.Unix(0, 0).UTC()

// setTimeFromProto returns ts as a time and true when it is set and valid; a set but invalid one
// is a violation of field.
func setTimeFromProto(verr *comment.ValidationError, field string, ts *timestamppb.Timestamp) (time.Time, bool) {
	if ts == nil {
		return time.Time{}, false
	}
	if err := ts.CheckValid(); err != nil {
		verr.Add(field, "not a valid timestamp")
		return time.Time{}, false
	}
	return ts.AsTime(), true
}

// lowerBoundFromProto reads an optional "at or after" bound: zero when unset, a violation of field
// when it is not a valid time. Every valid value is honoured: one at or before the Unix epoch
// selects every comment or event, exactly what no bound selects, so it is passed on as the
// domain's "no bound" (a store could not express an earlier time anyway).
func lowerBoundFromProto(verr *comment.ValidationError, field string, ts *timestamppb.Timestamp) time.Time {
	t, ok := setTimeFromProto(verr, field, ts)
	if !ok {
		return time.Time{}
	}
	if !t.After(unixEpoch) {
		return time.Time{}
	}
	return t
}

// upperBoundFromProto reads an optional "before" bound: zero when unset, a violation of field when
// it is not a valid time or not after the Unix epoch. Such a bound would select nothing at all, and
// it is far more often a client's zero time sent for "unset" than a real question: answered, it
// would list an empty queue, or tell an admin that an author has no data at all. So it is refused,
// naming the field, rather than read as unset (everything) or honoured (nothing) in silence.
func upperBoundFromProto(verr *comment.ValidationError, field string, ts *timestamppb.Timestamp) time.Time {
	t, ok := setTimeFromProto(verr, field, ts)
	if !ok {
		return time.Time{}
	}
	if !t.After(unixEpoch) {
		verr.Add(field, "must be after 1970-01-01T00:00:00Z: nothing older is kept; leave it unset for no bound")
		return time.Time{}
	}
	return t
}

// claimQueryFromProto reads a ClaimCommentsRequest; the domain applies defaults and bounds.
func claimQueryFromProto(r *commentdv1.ClaimCommentsRequest) (moderation.ClaimQuery, error) {
	q := moderation.ClaimQuery{
		State:    stateFromProto(r.GetState()),
		ThreadID: r.GetThreadId(),
		Count:    int(r.GetCount()),
	}
	var verr comment.ValidationError
	if n := len(r.GetSkipNames()); n > moderation.MaxClaimSkip {
		moderation.CheckClaimSkipCount(&verr, n)
	} else {
		for i, name := range r.GetSkipNames() {
			id, err := moderation.ParseID("skip_names["+strconv.Itoa(i)+"]", name)
			if err != nil {
				verr.AddAll(err)
				continue
			}
			q.Skip = append(q.Skip, id)
		}
	}
	if d := r.GetLease(); d != nil {
		switch {
		case d.CheckValid() != nil:
			verr.Add("lease", "not a valid duration")
		case d.AsDuration() == 0:
			// The domain reads a zero lease as "unset" (the default); an explicit zero asks for a
			// claim that ends at once, which is below the shortest lease, not the default.
			verr.Add("lease", fmt.Sprintf("at least %s; leave it unset for the default, %s", moderation.MinLease, moderation.DefaultLease))
		default:
			q.Lease = d.AsDuration()
		}
	}
	return q, verr.Err()
}

// releaseIDsFromProto parses a ReleaseCommentsRequest's names. A list too long is named first, as
// moderation.Service.Release would name it, so that the bad entries do not hide it.
func releaseIDsFromProto(r *commentdv1.ReleaseCommentsRequest) ([]string, error) {
	var verr comment.ValidationError
	moderation.CheckReleaseCount(&verr, len(r.GetNames()))
	ids := make([]string, 0, len(r.GetNames()))
	for i, name := range r.GetNames() {
		id, err := moderation.ParseID("names["+strconv.Itoa(i)+"]", name)
		if err != nil {
			verr.AddAll(err)
			continue
		}
		ids = append(ids, id)
	}
	return ids, verr.Err()
}

func eventKindToProto(k moderation.EventKind) commentdv1.QueueEventKind {
	switch k {
	case moderation.EventHeld:
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD
	case moderation.EventReported:
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_REPORTED
	case moderation.EventSpam:
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_SPAM
	case moderation.EventDecided:
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED
	}
	return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_UNSPECIFIED
}

// eventKindFromProto maps an unknown kind (UNSPECIFIED included) to an invalid domain kind, which
// the domain refuses with a field violation.
func eventKindFromProto(k commentdv1.QueueEventKind) moderation.EventKind {
	switch k {
	case commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD:
		return moderation.EventHeld
	case commentdv1.QueueEventKind_QUEUE_EVENT_KIND_REPORTED:
		return moderation.EventReported
	case commentdv1.QueueEventKind_QUEUE_EVENT_KIND_SPAM:
		return moderation.EventSpam
	case commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED:
		return moderation.EventDecided
	}
	return moderation.EventKind(-1)
}

func watchFilterFromProto(r *commentdv1.WatchQueueRequest) moderation.WatchFilter {
	f := moderation.WatchFilter{ThreadID: r.GetThreadId()}
	for _, k := range r.GetKinds() {
		f.Kinds = append(f.Kinds, eventKindFromProto(k))
	}
	return f
}

func watchEventToProto(e moderation.WatchEvent) *commentdv1.WatchQueueResponse {
	return &commentdv1.WatchQueueResponse{
		Kind:      eventKindToProto(e.Kind),
		Comment:   viewToProto(e.Comment),
		EventTime: timeToProto(e.At),
	}
}

// setReports copies a view's reports into the moderator's view of the comment.
func setReports(p *commentdv1.ModeratedComment, v moderation.View) {
	p.ReportCount = int32(v.ReportCount)
	for _, r := range v.Reports {
		p.Reports = append(p.Reports, &commentdv1.Report{Reason: r.Reason, CreateTime: timeToProto(r.At)})
	}
}

func auditActionToProto(a moderation.AuditAction) commentdv1.AuditAction {
	switch a {
	case moderation.AuditApprove:
		return commentdv1.AuditAction_AUDIT_ACTION_APPROVE
	case moderation.AuditReject:
		return commentdv1.AuditAction_AUDIT_ACTION_REJECT
	case moderation.AuditMarkSpam:
		return commentdv1.AuditAction_AUDIT_ACTION_MARK_SPAM
	case moderation.AuditMarkNotSpam:
		return commentdv1.AuditAction_AUDIT_ACTION_MARK_NOT_SPAM
	case moderation.AuditReopen:
		return commentdv1.AuditAction_AUDIT_ACTION_REOPEN
	case moderation.AuditBan:
		return commentdv1.AuditAction_AUDIT_ACTION_BAN
	case moderation.AuditUnban:
		return commentdv1.AuditAction_AUDIT_ACTION_UNBAN
	case moderation.AuditUpdateThread:
		return commentdv1.AuditAction_AUDIT_ACTION_UPDATE_THREAD
	case moderation.AuditCreateFilter:
		return commentdv1.AuditAction_AUDIT_ACTION_CREATE_FILTER
	case moderation.AuditDeleteFilter:
		return commentdv1.AuditAction_AUDIT_ACTION_DELETE_FILTER
	case moderation.AuditReportTakedown:
		return commentdv1.AuditAction_AUDIT_ACTION_REPORT_TAKEDOWN
	case moderation.AuditEraseAuthorData:
		return commentdv1.AuditAction_AUDIT_ACTION_ERASE_AUTHOR_DATA
	case moderation.AuditExportAuthorData:
		return commentdv1.AuditAction_AUDIT_ACTION_EXPORT_AUTHOR_DATA
	case moderation.AuditPurgeSpam:
		return commentdv1.AuditAction_AUDIT_ACTION_PURGE_SPAM
	case moderation.AuditTrainSpam:
		return commentdv1.AuditAction_AUDIT_ACTION_TRAIN_SPAM
	case moderation.AuditDeleteSpamModel:
		return commentdv1.AuditAction_AUDIT_ACTION_DELETE_SPAM_MODEL
	}
	return commentdv1.AuditAction_AUDIT_ACTION_UNSPECIFIED
}

func auditQueryFromProto(r *commentdv1.ListAuditEventsRequest) (moderation.AuditQuery, error) {
	var verr comment.ValidationError
	q := moderation.AuditQuery{
		Moderator: r.GetModerator(),
		Target:    r.GetTarget(),
		Since:     lowerBoundFromProto(&verr, "start_time", r.GetStartTime()),
		Until:     upperBoundFromProto(&verr, "end_time", r.GetEndTime()),
	}
	return q, verr.Err()
}

func auditEventToProto(e moderation.AuditEvent) *commentdv1.AuditEvent {
	return &commentdv1.AuditEvent{
		Name:       "auditEvents/" + e.ID,
		CreateTime: timeToProto(e.At),
		Moderator:  e.Moderator,
		Action:     auditActionToProto(e.Action),
		Target:     e.Target,
		FromState:  stateToProto(e.From),
		ToState:    stateToProto(e.To),
		Reason:     e.Reason,
	}
}

func statsToProto(s moderation.Stats) *commentdv1.GetStatsResponse {
	out := &commentdv1.GetStatsResponse{}
	for _, q := range s.Queue {
		out.Queue = append(out.Queue, &commentdv1.StateCount{State: stateToProto(q.State), Count: q.Count})
	}
	for _, m := range s.Moderators {
		out.Moderators = append(out.Moderators, &commentdv1.ModeratorStats{
			Moderator: m.Moderator, Approved: m.Approved, Rejected: m.Rejected, MarkedSpam: m.MarkedSpam, Other: m.Other,
		})
	}
	for _, d := range s.Days {
		out.Days = append(out.Days, &commentdv1.DailyStats{Date: d.Day.UTC().Format(time.DateOnly), Submitted: d.Submitted, Spam: d.Spam})
	}
	return out
}
