package grpcserver

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Converters between proto messages and domain types. Proto messages never go past this package;
// each direction is a named function so the rules (above all, what the site may see) are in one place.

// requestError joins conv, the violations found while converting a request, with those of domain,
// the domain's check of the converted request (in which a field that did not convert is left
// unset, so it is not reported twice): a request with a bad time and other bad fields gets one
// error naming all of them, not only the fields the converter saw.
func requestError(conv, domain error) error {
	var verr comment.ValidationError
	verr.AddAll(conv)
	if verr.Err() == nil {
		return conv
	}
	verr.AddAll(domain)
	return &verr
}

// newestFirstFromOrderBy reads a list's order_by (AIP-132) on create_time, the one field lists
// are ordered by: empty, "create_time" or "create_time asc" for oldest first, "create_time desc"
// for newest first. Spaces around the words do not matter.
func newestFirstFromOrderBy(field, orderBy string) (bool, error) {
	switch strings.Join(strings.Fields(orderBy), " ") {
	case "", "create_time", "create_time asc":
		return false, nil
	case "create_time desc":
		return true, nil
	}
	var verr comment.ValidationError
	verr.Add(field, `want "create_time" (oldest first, the default) or "create_time desc" (newest first)`)
	return false, &verr
}

// submissionFromProto copies a SubmitCommentRequest into a domain Submission; validation is the
// domain's job.
func submissionFromProto(r *commentdv1.SubmitCommentRequest) comment.Submission {
	// Unset is "unknown", which skips the too-fast check; a zero duration is a form sent at once,
	// which that check is for, so the two must not both become Go's zero duration.
	var formAge *time.Duration
	if d := r.GetFormDuration(); d != nil {
		a := d.AsDuration()
		if d.CheckValid() != nil {
			// Out of range, or seconds and nanos of opposite signs: AsDuration would make some
			// duration of it. A negative one is what validation refuses.
			a = -1
		}
		formAge = &a
	}
	return comment.Submission{
		ThreadID:    r.GetThreadId(),
		ParentID:    r.GetParentId(),
		AuthorName:  r.GetAuthorName(),
		AuthorEmail: r.GetAuthorEmail(),
		Body:        r.GetBody(),
		RequestID:   r.GetRequestId(),
		ClientIP:    r.GetClientIp(),
		UserAgent:   r.GetUserAgent(),
		Honeypot:    r.GetHoneypot(),
		FormAge:     formAge,
	}
}

// siteCommentToProto is the site's view of a comment. Comments the screeners judged spam or
// rejected (a ban, say) are shown as pending, so neither the site nor the reader behind it can
// tell that a submission was shadow-handled. Only a moderator's rejection shows as rejected: the
// site needs it to explain why a comment never appeared, and it reveals nothing about our checks.
func siteCommentToProto(c comment.Comment) *commentdv1.Comment {
	p := commentToProto(c)
	p.State = siteState(c)
	return p
}

func siteState(c comment.Comment) commentdv1.State {
	switch {
	case c.State == comment.StateSpam:
		return commentdv1.State_STATE_PENDING
	case c.State == comment.StateRejected && c.Decision == nil:
		return commentdv1.State_STATE_PENDING
	}
	return stateToProto(c.State)
}

// commentToProto converts a comment with its true state. It never copies the sealed email or IP
// (the message has no field for them).
func commentToProto(c comment.Comment) *commentdv1.Comment {
	return &commentdv1.Comment{
		Name:        "comments/" + c.ID,
		Id:          c.ID,
		ThreadId:    c.ThreadID,
		ParentId:    c.ParentID,
		AuthorName:  c.AuthorName,
		Body:        c.Body,
		State:       stateToProto(c.State),
		CreateTime:  timeToProto(c.CreatedAt),
		PublishTime: timeToProto(c.PublishedAt),
		Depth:       int32(c.Depth),
	}
}

// viewToProto is the moderator's view: the true state plus masked personal data and history.
func viewToProto(v moderation.View) *commentdv1.ModeratedComment {
	c := v.Comment
	p := &commentdv1.ModeratedComment{
		Comment:     commentToProto(c),
		MaskedEmail: v.MaskedEmail,
		AuthorKey:   c.AuthorKey,
		MaskedIp:    v.MaskedIP,
		UserAgent:   c.UserAgent,
		Decision:    decisionToProto(c.Decision),
		SpamScore:   c.SpamScore,
		// The record as moderators' decisions left it (convert_spam.go).
		AuthorHistory: historyToProto(v.History),
		Etag:          moderation.ETag(c),
		HoldReasons:   reasonsToProto(c.HoldReasons),
	}
	setReports(p, v) // convert_review.go
	return p
}

func viewsToProto(vs []moderation.View) []*commentdv1.ModeratedComment {
	out := make([]*commentdv1.ModeratedComment, len(vs))
	for i, v := range vs {
		out[i] = viewToProto(v)
	}
	return out
}

func decisionToProto(d *comment.Decision) *commentdv1.Decision {
	if d == nil {
		return nil
	}
	return &commentdv1.Decision{
		Moderator:  d.Moderator,
		DecideTime: timeToProto(d.At),
		FromState:  stateToProto(d.From),
		ToState:    stateToProto(d.To),
		Reason:     d.Reason,
	}
}

// timeToProto leaves a zero time unset, as the API documents for publish_time.
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func stateToProto(s comment.State) commentdv1.State {
	switch s {
	case comment.StatePublished:
		return commentdv1.State_STATE_PUBLISHED
	case comment.StatePending:
		return commentdv1.State_STATE_PENDING
	case comment.StateRejected:
		return commentdv1.State_STATE_REJECTED
	case comment.StateSpam:
		return commentdv1.State_STATE_SPAM
	}
	return commentdv1.State_STATE_UNSPECIFIED
}

// stateFromProto maps an unknown enum number to an invalid domain state, which the domain refuses
// with a field violation.
func stateFromProto(s commentdv1.State) comment.State {
	switch s {
	case commentdv1.State_STATE_UNSPECIFIED:
		return comment.StateUnspecified
	case commentdv1.State_STATE_PUBLISHED:
		return comment.StatePublished
	case commentdv1.State_STATE_PENDING:
		return comment.StatePending
	case commentdv1.State_STATE_REJECTED:
		return comment.StateRejected
	case commentdv1.State_STATE_SPAM:
		return comment.StateSpam
	}
	return comment.State(-1)
}

func modeToProto(m comment.Mode) commentdv1.ModerationMode {
	switch m {
	case comment.ModePre:
		return commentdv1.ModerationMode_MODERATION_MODE_PRE
	case comment.ModePost:
		return commentdv1.ModerationMode_MODERATION_MODE_POST
	}
	return commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED
}

// modeFromProto maps an unknown enum number to an invalid domain mode, which the domain refuses.
func modeFromProto(m commentdv1.ModerationMode) comment.Mode {
	switch m {
	case commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED:
		return comment.ModeDefault
	case commentdv1.ModerationMode_MODERATION_MODE_PRE:
		return comment.ModePre
	case commentdv1.ModerationMode_MODERATION_MODE_POST:
		return comment.ModePost
	}
	return comment.Mode(-1)
}

// threadToProto converts a thread; effective is the mode in force (its own or the site default).
func threadToProto(t comment.Thread, effective comment.Mode) *commentdv1.Thread {
	th := &commentdv1.Thread{
		Name:                    "threads/" + t.ID,
		ThreadId:                t.ID,
		ModerationMode:          modeToProto(t.Mode),
		EffectiveModerationMode: modeToProto(effective),
		Closed:                  t.Closed,
		CloseReason:             closeReasonToProto(t.Closed, t.ClosedByAge),
		AutoCloseTime:           timeToProto(t.AutoCloseAt),
		Etag:                    moderation.ThreadETag(t),
	}
	return th
}

// threadFilterFromProto reads a ListThreadsRequest's filters. An unknown mode becomes an invalid
// one, which ThreadFilter.Validate refuses on moderation_mode.
func threadFilterFromProto(r *commentdv1.ListThreadsRequest) moderation.ThreadFilter {
	f := moderation.ThreadFilter{Mode: modeFromProto(r.GetModerationMode())}
	if r.Closed != nil {
		closed := r.GetClosed()
		f.Closed = &closed
	}
	return f
}

// closeReasonToProto says why a thread is closed: UNSPECIFIED when it is open.
func closeReasonToProto(closed, byAge bool) commentdv1.ThreadCloseReason {
	switch {
	case byAge:
		return commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE
	case closed:
		return commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR
	}
	return commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_UNSPECIFIED
}

// threadCountsToProto pairs thread ids with their counts; the caller checks the lengths match.
func threadCountsToProto(ids []string, counts []comment.ThreadCount) []*commentdv1.ThreadCount {
	out := make([]*commentdv1.ThreadCount, len(ids))
	for i, id := range ids {
		out[i] = &commentdv1.ThreadCount{ThreadId: id, Published: counts[i].Published, ThreadStatus: threadStatusToProto(counts[i].Thread)}
	}
	return out
}

// threadStatusToProto converts what a site may know of a thread: whether, why and until when it
// takes new comments; never its moderation mode.
func threadStatusToProto(t comment.Thread) *commentdv1.ThreadStatus {
	return &commentdv1.ThreadStatus{
		Closed:        t.Closed,
		CloseReason:   closeReasonToProto(t.Closed, t.ClosedByAge),
		AutoCloseTime: timeToProto(t.AutoCloseAt),
	}
}

// Field mask paths UpdateThread accepts, relative to the thread.
const (
	pathModerationMode = "moderation_mode"
	pathClosed         = "closed"
	pathAll            = "*" // every field it can change (AIP-134)
)

// threadOutputPaths are the paths of the thread's fields UpdateThread does not change: the name
// and id (which say which thread, checked apart), the etag (the update's condition, named in a
// mask or not) and the output-only fields. A mask may name them, as one built from the whole
// message does, and they are ignored (AIP-203).
var threadOutputPaths = []string{"name", "thread_id", "etag", "effective_moderation_mode", "close_reason", "auto_close_time", "update_time"}

// threadUpdate is what an UpdateThreadRequest asks: the thread, the new mode and closed flag (each
// nil when the field mask leaves it out) and the etag the update is conditional on ("" for none).
type threadUpdate struct {
	id     string
	mode   *comment.Mode
	closed *bool
	etag   string
}

// threadUpdateFromProto reads an UpdateThreadRequest. An empty mask means the fields the thread
// populates, "*" every field (AIP-134). The thread's etag makes the update conditional whatever
// the mask (AIP-154): a client sends the thread back as it read it.
func threadUpdateFromProto(r *commentdv1.UpdateThreadRequest) (threadUpdate, error) {
	var verr comment.ValidationError
	t := r.GetThread()
	if t == nil {
		verr.Add("thread", "required")
		return threadUpdate{}, &verr
	}
	id, idErr := moderation.ParseThreadID("thread.name", t.GetName())
	// thread.name says which thread changes. A thread_id naming another one is a message meant for
	// that thread: changing the named one instead would change the wrong thread without a word.
	if tid := t.GetThreadId(); idErr == nil && tid != "" && tid != id {
		verr.Add("thread.thread_id", fmt.Sprintf("%q is not the thread thread.name names (%q): leave it empty or give the same id", shortPath(tid), id))
	}
	paths := r.GetUpdateMask().GetPaths()
	var setMode, setClosed bool
	if len(paths) == 0 {
		// No mask: the fields the message populates (AIP-134). A message that sets only closed
		// must not reset the mode, nor one that sets only a mode reopen the thread.
		setMode = t.GetModerationMode() != commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED
		setClosed = t.GetClosed()
	}
	for _, p := range paths {
		switch {
		case p == pathModerationMode:
			setMode = true
		case p == pathClosed:
			setClosed = true
		case p == pathAll:
			setMode, setClosed = true, true
		case !slices.Contains(threadOutputPaths, p):
			verr.Add("update_mask", fmt.Sprintf("unknown path %q: want %q, %q or %q", shortPath(p), pathModerationMode, pathClosed, pathAll))
		}
	}
	u := threadUpdate{id: id, etag: t.GetEtag()}
	if setMode {
		m := modeFromProto(t.GetModerationMode())
		if m < comment.ModeDefault {
			verr.Add("thread.moderation_mode", "unknown mode")
		}
		u.mode = &m
	}
	if setClosed {
		c := t.GetClosed()
		u.closed = &c
	}
	// Name a bad etag too: UpdateThread, which checks it, is not reached when another field is bad.
	if err := joinViolations(idErr, verr.Err(), moderation.ValidateETag("thread.etag", u.etag)); err != nil {
		return threadUpdate{}, err
	}
	return u, nil
}

// shortPath cuts an unknown field mask path to what an error may quote: the path is the client's
// and may be megabytes long, and an error that quotes it whole is larger than a client accepts.
func shortPath(p string) string {
	const max = 40
	if r := []rune(p); len(r) > max {
		return string(r[:max]) + "…"
	}
	return p
}

// joinViolations returns one *comment.ValidationError holding the violations of every
// *comment.ValidationError among errs (nil ones are skipped), so a BadRequest names every bad field
// even when they were found by separate checks. Any other error is returned as it is.
func joinViolations(errs ...error) error {
	var all comment.ValidationError
	for _, err := range errs {
		var verr *comment.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &verr):
			for _, v := range verr.Violations {
				all.Add(v.Field, v.Description)
			}
			all.Omitted += verr.Omitted
		default:
			return err
		}
	}
	return all.Err()
}
