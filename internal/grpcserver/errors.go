package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error commentd returns.
const ErrorDomain = "commentd.dev"

// ErrorInfo reasons. Clients branch on these (with the status code), never on the message.
const (
	ReasonInvalidArgument        = "INVALID_ARGUMENT"
	ReasonInvalidPageToken       = "INVALID_PAGE_TOKEN"
	ReasonCommentNotFound        = "COMMENT_NOT_FOUND"
	ReasonBanNotFound            = "BAN_NOT_FOUND"
	ReasonSpamModelNotFound      = "SPAM_MODEL_NOT_FOUND"
	ReasonFilterNotFound         = "FILTER_NOT_FOUND"
	ReasonThreadClosed           = "THREAD_CLOSED"
	ReasonInvalidStateTransition = "INVALID_STATE_TRANSITION"
	ReasonStoreUnavailable       = "STORE_UNAVAILABLE"
	ReasonRateLimited            = "RATE_LIMITED"
	ReasonDuplicateComment       = "DUPLICATE_COMMENT"
	ReasonBanned                 = "BANNED"
	ReasonDeadlineExceeded       = "DEADLINE_EXCEEDED"
	ReasonCancelled              = "CANCELLED"
	ReasonAPIKeyMissing          = "API_KEY_MISSING"
	ReasonAPIKeyInvalid          = "API_KEY_INVALID"
	ReasonRoleNotAllowed         = "ROLE_NOT_ALLOWED"
	ReasonMethodNotAllowed       = "METHOD_NOT_ALLOWED"
	ReasonInternal               = "INTERNAL"
	// ReasonBansDisabled and ReasonSpamDisabled: this server was started without bans or spam
	// checks. FAILED_PRECONDITION, not UNIMPLEMENTED: the API has the methods, and no retry helps.
	ReasonBansDisabled = "BANS_DISABLED"
	ReasonSpamDisabled = "SPAM_DISABLED"
	// ReasonShuttingDown: the server ended a WatchQueue stream because it is stopping; reconnect
	// (another instance will answer).
	ReasonShuttingDown = "SHUTTING_DOWN"
	// ReasonTooManyWatchers: this server already serves Options.MaxWatchers WatchQueue streams, or
	// (metadata "scope": "key") the caller's API key has Options.MaxWatchersPerKey open on it.
	ReasonTooManyWatchers = "TOO_MANY_WATCHERS"
	// ReasonWatchFellBehind: the server ended a WatchQueue stream whose client read its events too
	// slowly, and dropped events rather than hold them without bound. UNAVAILABLE with RetryInfo:
	// reconnect and list the queue. It was STORE_UNAVAILABLE, which sent the moderator (and the
	// operator reading the log) looking for a Redis fault that was not there.
	ReasonWatchFellBehind = "WATCH_FELL_BEHIND"
	// ReasonExportTooLarge: the author has more comments in the period than one ExportAuthorData
	// response holds. FAILED_PRECONDITION: no retry helps, a shorter period does.
	ReasonExportTooLarge = "EXPORT_TOO_LARGE"
	// ReasonRequestIDReused: SubmitComment's request_id already made a comment in the thread, for
	// a request with another author, name, parent or body; or CreateBan's made a ban, for a
	// request with another target, duration or reason, or from another key. ALREADY_EXISTS: what the id names
	// exists, made by another request, and no retry with this id can succeed; not
	// INVALID_ARGUMENT, which is for a request bad whatever the state (this one was valid until
	// the id was used). The fix is a new request_id.
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonRequestInProgress: SubmitComment repeats a request whose first submission has not
	// ended yet; nothing was stored or counted. ABORTED (a concurrency conflict), with RetryInfo:
	// sent again in a moment, the request gets what the first got.
	ReasonRequestInProgress = "REQUEST_IN_PROGRESS"
	// ReasonETagMismatch: a decision's etag is no longer the comment's (AIP-154): another decision,
	// or readers' reports, changed it since the moderator read it; or a thread update's etag is no
	// longer the thread's: another update changed it. ABORTED, a concurrency conflict, as the AIP
	// asks; no RetryInfo, as the same call fails again: read the comment or thread and act anew.
	ReasonETagMismatch = "ETAG_MISMATCH"
)

// featureOffError says this server was started without a feature the method needs.
type featureOffError struct {
	feature, reason string
}

func (e *featureOffError) Error() string {
	return "grpcserver: " + e.feature + " not enabled on this server"
}

var (
	errBansOff         = &featureOffError{feature: "bans", reason: ReasonBansDisabled}
	errSpamOff         = &featureOffError{feature: "spam checks", reason: ReasonSpamDisabled}
	errShuttingDown    = errors.New("grpcserver: the server is shutting down")
	errTooManyWatchers = errors.New("grpcserver: too many WatchQueue streams on this server")
	// errTooManyKeyWatchers: the caller's key has Options.MaxWatchersPerKey streams open here.
	errTooManyKeyWatchers = errors.New("grpcserver: too many WatchQueue streams of this API key on this server")
)

// WatcherRetryDelay is the RetryInfo delay sent with TOO_MANY_WATCHERS.
const WatcherRetryDelay = 30 * time.Second

// StoreRetryDelay is the RetryInfo delay sent with STORE_UNAVAILABLE. It is about the time
// go-redis needs to notice a restarted server and reconnect.
const StoreRetryDelay = time.Second

// Precondition violation types used in google.rpc.PreconditionFailure.
const (
	preconditionThread  = "THREAD"
	preconditionComment = "STATE"
)

// statusFor is the one place that turns an error into the status a client sees. Handlers and
// interceptors return plain (domain) errors; the error interceptor calls statusFor on the way out.
// internal reports that the error was not recognised: the caller must log the cause, which the
// client never sees.
//
// The mapping (code / ErrorInfo reason / extra details), in the order it is checked:
//
//	*comment.ValidationError          INVALID_ARGUMENT    INVALID_ARGUMENT          BadRequest: one field violation per bad field;
//	                                                                                metadata "fields" = comma-separated field names;
//	                                                                                past comment.MaxViolations, only the first ones and
//	                                                                                metadata "more_violations" = how many more
//	comment.ErrInvalidPageToken       INVALID_ARGUMENT    INVALID_PAGE_TOKEN        BadRequest on "page_token"
//	comment.ErrNotFound               NOT_FOUND           COMMENT_NOT_FOUND         -
//	ratelimit.ErrBanNotFound          NOT_FOUND           BAN_NOT_FOUND             -
//	spam.ErrModelNotFound             NOT_FOUND           SPAM_MODEL_NOT_FOUND      -
//	spam.ErrFilterNotFound            NOT_FOUND           FILTER_NOT_FOUND          -
//	comment.ErrThreadClosed           FAILED_PRECONDITION THREAD_CLOSED             PreconditionFailure type "THREAD", subject "thread";
//	                                                                                metadata "close_reason" (THREAD_CLOSE_REASON_MODERATOR
//	                                                                                or _AGE) when the error is a *comment.ClosedError
//	*moderation.TransitionError       FAILED_PRECONDITION INVALID_STATE_TRANSITION  PreconditionFailure type "STATE", subject "comments/{id}";
//	                                                                                metadata "name", "from_state", "to_state" (STATE_*),
//	                                                                                "action" (as the audit log names it) and
//	                                                                                "allowed_states" (STATE_*, comma-separated)
//	*moderation.StaleError            ABORTED             ETAG_MISMATCH             metadata "name", "action" (the decision refused),
//	                                                                                "state" (STATE_*) and "etag" of the comment now;
//	                                                                                "moderator" and "decide_time" (RFC 3339) of its
//	                                                                                last decision when it has one
//	*moderation.StaleThreadError      ABORTED             ETAG_MISMATCH             metadata "name" (threads/{id}), "etag",
//	                                                                                "moderation_mode" (MODERATION_MODE_*, its own) and
//	                                                                                "closed" of the thread now; "close_reason"
//	                                                                                (THREAD_CLOSE_REASON_*) when it is closed
//	*ratelimit.LimitError             RESOURCE_EXHAUSTED  RATE_LIMITED              QuotaFailure subject "rule:{rule}" + RetryInfo with the
//	                                                                                error's delay; metadata "rule", "retry_delay" (that
//	                                                                                delay in seconds: "179.962s", see secondsText)
//	ratelimit.ErrDuplicate            ALREADY_EXISTS      DUPLICATE_COMMENT         -
//	comment.ErrRequestReused          ALREADY_EXISTS      REQUEST_ID_REUSED         -
//	ratelimit.ErrBanRequestReused     ALREADY_EXISTS      REQUEST_ID_REUSED         -
//	comment.ErrRequestInProgress      ABORTED             REQUEST_IN_PROGRESS       RetryInfo 1s
//	*ratelimit.BannedError            PERMISSION_DENIED   BANNED                    metadata "expire_time" (RFC 3339, whole seconds rounded
//	                                                                                up, absent for a permanent ban); never the ban's
//	                                                                                target or reason
//	moderation.ErrWatcherBehind       UNAVAILABLE         WATCH_FELL_BEHIND         RetryInfo 1s: reconnect and list the queue
//	comment.ErrUnavailable            UNAVAILABLE         STORE_UNAVAILABLE         RetryInfo 1s; cause logged at WARN, one line per 10 s
//	errShuttingDown (WatchQueue,      UNAVAILABLE         SHUTTING_DOWN             RetryInfo 1s: reconnect
//	  health Watch)
//	errTooManyWatchers (WatchQueue)   RESOURCE_EXHAUSTED  TOO_MANY_WATCHERS         RetryInfo 30s
//	errTooManyKeyWatchers (WatchQueue) RESOURCE_EXHAUSTED TOO_MANY_WATCHERS         RetryInfo 30s; metadata "scope": "key"
//	*featureOffError                  FAILED_PRECONDITION BANS_DISABLED /           PreconditionFailure type "SERVER"
//	                                                      SPAM_DISABLED
//	moderation.ErrExportTooLarge      FAILED_PRECONDITION EXPORT_TOO_LARGE          PreconditionFailure type "EXPORT", subject "author_email";
//	                                                                                metadata "max_comments", "max_bytes"
//	context.DeadlineExceeded          DEADLINE_EXCEEDED   DEADLINE_EXCEEDED         -
//	context.Canceled, also under      CANCELLED           CANCELLED                 -
//	  comment.ErrUnavailable (a Redis
//	  call the client's leaving cut)
//	errMissingKey (auth)              UNAUTHENTICATED     API_KEY_MISSING           - (no or malformed "authorization: Bearer <key>")
//	errUnknownKey (auth)              UNAUTHENTICATED     API_KEY_INVALID           -
//	*permissionError, role too low    PERMISSION_DENIED   ROLE_NOT_ALLOWED          metadata "method", "role", "required_role"
//	*permissionError, method unlisted PERMISSION_DENIED   METHOD_NOT_ALLOWED        metadata "method"
//	an error that already is a status unchanged           unchanged                 (grpc's own health and reflection services)
//	a recovered panic                 INTERNAL            INTERNAL                  generic message; cause and stack logged at ERROR
//	anything else                     INTERNAL            INTERNAL                  generic message; cause logged at ERROR
//
// Context errors are checked after the domain errors so that a store failure that merely carries a
// context error as its cause still reads as the domain outcome, and before the fallback so a
// deadline never looks like a server bug.
func statusFor(err error) (st *status.Status, internal bool) {
	var (
		ferr  *featureOffError
		verr  *comment.ValidationError
		terr  *moderation.TransitionError
		serr  *moderation.StaleError
		tserr *moderation.StaleThreadError
		perr  *permissionError
		lerr  *ratelimit.LimitError
		berr  *ratelimit.BannedError
		gerr  interface{ GRPCStatus() *status.Status }
	)
	switch {
	case err == nil:
		return nil, false

	case errors.As(err, &verr):
		br := &errdetails.BadRequest{}
		fields := make([]string, 0, len(verr.Violations))
		for _, v := range verr.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
			fields = append(fields, v.Field)
		}
		md := map[string]string{"fields": strings.Join(fields, ",")}
		if verr.Omitted > 0 {
			md["more_violations"] = strconv.Itoa(verr.Omitted)
		}
		return withDetails(codes.InvalidArgument, verr.Error(), ReasonInvalidArgument, md, br), false

	case errors.Is(err, comment.ErrInvalidPageToken):
		return withDetails(codes.InvalidArgument, "invalid page token", ReasonInvalidPageToken, nil,
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
				Field:       "page_token",
				Description: "not a token this server issued for the same query; start again with an empty token",
			}}}), false

	case errors.Is(err, comment.ErrNotFound):
		return withDetails(codes.NotFound, "comment not found", ReasonCommentNotFound, nil), false

	case errors.Is(err, ratelimit.ErrBanNotFound):
		return withDetails(codes.NotFound, "no such ban in force", ReasonBanNotFound, nil), false

	case errors.Is(err, spam.ErrModelNotFound):
		return withDetails(codes.NotFound, "no such spam model (never trained, deleted or expired)", ReasonSpamModelNotFound, nil), false

	case errors.Is(err, spam.ErrFilterNotFound):
		return withDetails(codes.NotFound, "no such word-list entry", ReasonFilterNotFound, nil), false

	case errors.Is(err, comment.ErrThreadClosed):
		var (
			md   map[string]string
			cerr *comment.ClosedError
		)
		msg, desc := "the thread is closed to new comments", "the thread accepts no new comments"
		if errors.As(err, &cerr) {
			msg, desc = "a moderator closed the thread to new comments", "a moderator closed the thread"
			if cerr.ByAge {
				msg, desc = "the thread is closed to new comments by age", "the thread's auto-close period has run out"
			}
			md = map[string]string{"close_reason": closeReasonToProto(true, cerr.ByAge).String()}
		}
		return withDetails(codes.FailedPrecondition, msg, ReasonThreadClosed, md,
			&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type:        preconditionThread,
				Subject:     "thread",
				Description: desc,
			}}}), false

	case errors.As(err, &terr):
		name := "comments/" + terr.ID
		from, to := stateToProto(terr.From).String(), stateToProto(terr.To).String()
		md := map[string]string{"name": name, "from_state": from, "to_state": to}
		msg, desc := "the comment is "+from+" and cannot become "+to, "a "+from+" comment cannot become "+to
		if allowed := terr.Allowed(); allowed != nil {
			// Name the action and what it takes: "cannot become STATE_PENDING" alone would deny
			// what ReopenComment does to the same comment.
			names := make([]string, len(allowed))
			for i, st := range allowed {
				names[i] = stateToProto(st).String()
			}
			action := terr.Action.String()
			md["action"], md["allowed_states"] = action, strings.Join(names, ",")
			msg = "the comment is " + from + ": " + action + " takes only a comment that is " + strings.Join(names, " or ")
			desc = action + " needs a comment that is " + strings.Join(names, " or ") + ", not " + from
		}
		return withDetails(codes.FailedPrecondition, msg, ReasonInvalidStateTransition, md,
			&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type:        preconditionComment,
				Subject:     name,
				Description: desc,
			}}}), false

	case errors.As(err, &serr):
		cur := serr.Current
		state := stateToProto(cur.State).String()
		md := map[string]string{"name": "comments/" + serr.ID, "action": serr.Action.String(), "state": state, "etag": moderation.ETag(cur)}
		now := "it is " + state + " now"
		if d := cur.Decision; d != nil {
			md["moderator"], md["decide_time"] = d.Moderator, d.At.UTC().Format(time.RFC3339)
			now += ", last decided by " + d.Moderator
		}
		return withDetails(codes.Aborted, "the comment changed since its etag was read ("+now+"); nothing was changed: read it again and decide on what it is now",
			ReasonETagMismatch, md), false

	case errors.As(err, &tserr):
		cur := tserr.Current
		mode := modeToProto(cur.Mode).String()
		md := map[string]string{"name": "threads/" + tserr.ID, "etag": moderation.ThreadETag(cur),
			"moderation_mode": mode, "closed": strconv.FormatBool(cur.Closed)}
		now := "it is open now"
		if cur.Closed {
			reason := closeReasonToProto(cur.Closed, cur.ClosedByAge)
			md["close_reason"] = reason.String()
			now = "it is closed by a moderator now"
			if cur.ClosedByAge {
				now = "it is closed by age now"
			}
		}
		// The message names the mode in the words moderators set it with (commentctl thread set
		// --mode default|pre|post); the metadata keeps the enum for programs.
		return withDetails(codes.Aborted, "the thread changed since its etag was read ("+now+", mode "+cur.Mode.String()+"); nothing was changed: read it again and update what it is now",
			ReasonETagMismatch, md), false

	case errors.As(err, &lerr):
		return withDetails(codes.ResourceExhausted, "rate limit exceeded; retry later", ReasonRateLimited,
			map[string]string{"rule": lerr.Rule, "retry_delay": secondsText(lerr.RetryAfter)},
			&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
				Subject:     "rule:" + lerr.Rule,
				Description: "too many submissions under this rule",
			}}},
			retryInfo(lerr.RetryAfter)), false

	case errors.Is(err, ratelimit.ErrDuplicate):
		return withDetails(codes.AlreadyExists, "the same comment was just submitted", ReasonDuplicateComment, nil), false

	case errors.Is(err, comment.ErrRequestInProgress):
		return withDetails(codes.Aborted, "the same request is still in progress; send it again in a moment for its answer",
			ReasonRequestInProgress, nil, retryInfo(StoreRetryDelay)), false

	case errors.Is(err, comment.ErrRequestReused):
		return withDetails(codes.AlreadyExists, "request_id was already used for another comment in this thread: "+
			"resend that request unchanged, or give this one a new request_id", ReasonRequestIDReused, nil), false

	case errors.Is(err, ratelimit.ErrBanRequestReused):
		return withDetails(codes.AlreadyExists, "request_id was already used for another ban: "+
			"resend that request unchanged, or give this one a new request_id", ReasonRequestIDReused, nil), false

	case errors.As(err, &berr):
		// Only the end of the ban goes out: who is banned, why and by whom is for moderators.
		var md map[string]string
		if !berr.Ban.ExpiresAt.IsZero() {
			// Whole seconds, rounded up: a client that waits until the time given must find the
			// ban over, not refused again for the fraction cut off.
			end := berr.Ban.ExpiresAt.UTC().Add(time.Second - 1).Truncate(time.Second)
			md = map[string]string{"expire_time": end.Format(time.RFC3339)}
		}
		return withDetails(codes.PermissionDenied, "submissions from this reader are refused", ReasonBanned, md), false

	case errors.Is(err, errShuttingDown):
		return withDetails(codes.Unavailable, "the server is shutting down; reconnect", ReasonShuttingDown, nil,
			retryInfo(StoreRetryDelay)), false

	case errors.Is(err, errTooManyKeyWatchers):
		return withDetails(codes.ResourceExhausted, "this API key has as many queue watchers open on this server as one key may; close one", ReasonTooManyWatchers,
			map[string]string{"scope": "key"}, retryInfo(WatcherRetryDelay)), false

	case errors.Is(err, errTooManyWatchers):
		return withDetails(codes.ResourceExhausted, "this server serves as many queue watchers as it may; retry later", ReasonTooManyWatchers, nil,
			retryInfo(WatcherRetryDelay)), false

	case errors.As(err, &ferr):
		return withDetails(codes.FailedPrecondition, ferr.feature+" are not enabled on this server", ferr.reason, nil,
			&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type: "SERVER", Subject: ferr.feature, Description: "the server was started without " + ferr.feature,
			}}}), false

	case errors.Is(err, moderation.ErrExportTooLarge):
		maxComments, maxBytes := strconv.Itoa(moderation.MaxExportComments), strconv.Itoa(moderation.MaxExportBytes)
		return withDetails(codes.FailedPrecondition, "the author has more comments than one export holds; export them in periods (start_time, end_time)", ReasonExportTooLarge,
			map[string]string{"max_comments": maxComments, "max_bytes": maxBytes},
			&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type: "EXPORT", Subject: "author_email",
				Description: "more than " + maxComments + " comments (or " + maxBytes + " bytes) in the period asked for",
			}}}), false

	case errors.Is(err, moderation.ErrWatcherBehind):
		return withDetails(codes.Unavailable, "this stream fell behind: its client left events unread too long, and some were dropped; "+
			"reconnect and list the queue", ReasonWatchFellBehind, nil, retryInfo(StoreRetryDelay)), false

	case errors.Is(err, comment.ErrUnavailable) && errors.Is(err, context.Canceled):
		// A Redis call cut short because the call's context was cancelled: the client went away
		// (a moderator closing a watch while the server reads an event's comment, a site giving up
		// on a slow page), not Redis. Read as STORE_UNAVAILABLE, every watch closed at the wrong
		// moment was a "store unavailable" WARN line, which holds back the next one (a real
		// outage's cause) for 10 s, and an UNAVAILABLE in the metrics operators alert on.
		return withDetails(codes.Canceled, "the call was cancelled", ReasonCancelled, nil), false

	case errors.Is(err, comment.ErrUnavailable):
		return withDetails(codes.Unavailable, "the store is unavailable; retry later", ReasonStoreUnavailable, nil,
			retryInfo(StoreRetryDelay)), false

	case errors.Is(err, context.DeadlineExceeded):
		return withDetails(codes.DeadlineExceeded, "deadline exceeded", ReasonDeadlineExceeded, nil), false

	case errors.Is(err, context.Canceled):
		return withDetails(codes.Canceled, "the call was cancelled", ReasonCancelled, nil), false

	case errors.Is(err, errSeveralKeys):
		return withDetails(codes.Unauthenticated, `several authorization headers: send exactly one "authorization: Bearer <key>"`, ReasonAPIKeyMissing, nil), false

	case errors.Is(err, errMissingKey):
		return withDetails(codes.Unauthenticated, `missing API key: send "authorization: Bearer <key>"`, ReasonAPIKeyMissing, nil), false

	case errors.Is(err, errUnknownKey):
		return withDetails(codes.Unauthenticated, "unknown API key", ReasonAPIKeyInvalid, nil), false

	case errors.As(err, &perr):
		if perr.need == apikey.RoleUnknown {
			return withDetails(codes.PermissionDenied, "no API key may call this method", ReasonMethodNotAllowed,
				map[string]string{"method": perr.method}), false
		}
		return withDetails(codes.PermissionDenied, "this API key's role may not call this method", ReasonRoleNotAllowed,
			map[string]string{"method": perr.method, "role": perr.role.String(), "required_role": perr.need.String()}), false

	case errors.As(err, &gerr):
		// Already a status, made by grpc-go's own services (health, reflection). Pass it on.
		return gerr.GRPCStatus(), false
	}
	return withDetails(codes.Internal, "internal error", ReasonInternal, nil), true
}

// withDetails builds a status with an ErrorInfo (reason, our domain, metadata) followed by extra
// details. Attaching details only fails for a nil or OK status, which never happens here.
func withDetails(c codes.Code, msg, reason string, md map[string]string, extra ...protoadapt.MessageV1) *status.Status {
	st := status.New(c, msg)
	details := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}}, extra...)
	withD, err := st.WithDetails(details...)
	if err != nil {
		panic("grpcserver: attach error details: " + err.Error())
	}
	return withD
}

// secondsText writes d (not negative) as protobuf's JSON mapping writes a google.protobuf.Duration: seconds, a
// fraction without trailing zeros when there is one, and "s" ("179.962s", "15s"). Any client reads
// it with its language's float parsing (and Go's time.ParseDuration reads it too), where Go's own
// form, "2m59.962s", reads as 2 to a client that takes the leading number.
func secondsText(d time.Duration) string {
	text := strconv.FormatInt(int64(d/time.Second), 10)
	if frac := d % time.Second; frac != 0 {
		text += "." + strings.TrimRight(fmt.Sprintf("%09d", int64(frac)), "0")
	}
	return text + "s"
}

// retryInfo tells a client how long to wait before it tries again.
func retryInfo(d time.Duration) *errdetails.RetryInfo {
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}
