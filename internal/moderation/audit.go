package moderation

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/commentd/commentd/internal/comment"
)

// AuditAction names a kind of action in the audit log. The values are stored; never change one.
type AuditAction string

// The actions the audit log records. The five comment decisions have the names of their Action.
const (
	AuditApprove        AuditAction = "approve"
	AuditReject         AuditAction = "reject"
	AuditMarkSpam       AuditAction = "mark_spam"
	AuditMarkNotSpam    AuditAction = "mark_not_spam"
	AuditReopen         AuditAction = "reopen"
	AuditBan            AuditAction = "ban"
	AuditUnban          AuditAction = "unban"
	AuditUpdateThread   AuditAction = "update_thread"
	AuditCreateFilter   AuditAction = "create_filter"
	AuditDeleteFilter   AuditAction = "delete_filter"
	AuditReportTakedown AuditAction = "report_takedown"
	// AuditEraseAuthorData: an author's personal data was erased (erase.go). The entry's target is
	// ErasureTarget and its reason holds the number of comments; it never names the author.
	AuditEraseAuthorData AuditAction = "erase_author_data"
	// AuditExportAuthorData: an author's personal data was exported (export.go), with the same
	// target as an erasure and the number of comments in the reason; it never names the author.
	AuditExportAuthorData AuditAction = "export_author_data"
	// AuditPurgeSpam: spam past its retention was deleted (retention.go), by RetentionModerator.
	// The entry's target is ErasureTarget and its reason holds the number of comments.
	AuditPurgeSpam AuditAction = "purge_spam"
	// AuditTrainSpam: a spam model was trained with examples, one entry per call. The target is
	// SpamModelTarget and the reason holds the number of examples learnt, never their text.
	AuditTrainSpam AuditAction = "train_spam"
	// AuditDeleteSpamModel: a scratch spam model was deleted. The target is SpamModelTarget.
	AuditDeleteSpamModel AuditAction = "delete_spam_model"
)

// SpamModelTarget is the audit target of a spam model: "spamModel" for the site's model (model ""),
// "spamModels/{name}" for a scratch model.
func SpamModelTarget(model string) string {
	if model == "" {
		return SiteSpamModelTarget
	}
	return "spamModels/" + model
}

// SiteSpamModelTarget is the audit target of the site's spam model.
const SiteSpamModelTarget = "spamModel"

// Valid reports whether a is one of the actions above.
func (a AuditAction) Valid() bool {
	switch a {
	case AuditApprove, AuditReject, AuditMarkSpam, AuditMarkNotSpam, AuditReopen, AuditBan, AuditUnban,
		AuditUpdateThread, AuditCreateFilter, AuditDeleteFilter, AuditReportTakedown, AuditEraseAuthorData, AuditExportAuthorData,
		AuditPurgeSpam, AuditTrainSpam, AuditDeleteSpamModel:
		return true
	}
	return false
}

// Decision reports whether a counts among a moderator's decisions in the statistics. An export
// reads and changes nothing; training or deleting a spam model (an import of a corpus, or an
// evaluation's scratch model) decides nothing about a comment, a reader or a thread.
func (a AuditAction) Decision() bool {
	switch a {
	case AuditExportAuthorData, AuditTrainSpam, AuditDeleteSpamModel:
		return false
	}
	return true
}

// Audit returns the audit log's name for a comment decision.
func (a Action) Audit() AuditAction { return AuditAction(a.String()) }

// SystemModerator is the moderator recorded for actions the server takes by itself, such as a
// takedown by readers' reports. Its actions are logged but never counted as a moderator's
// decisions in the statistics.
const SystemModerator = "system"

// RetentionModerator is the moderator recorded for the deletion of spam past its retention
// (retention.go). Like SystemModerator's, its actions are never counted in the statistics.
const RetentionModerator = "retention"

// IsServer reports whether moderator names the server itself (SystemModerator,
// RetentionModerator) rather than a moderator's API key.
func IsServer(moderator string) bool {
	return moderator == SystemModerator || moderator == RetentionModerator
}

// AuditEvent is one entry of the append-only audit log.
type AuditEvent struct {
	ID        string    // set by the log: opaque and unique across the whole log
	At        time.Time // set by the log: when the entry was appended
	Moderator string    // API key name, or SystemModerator
	Action    AuditAction
	Target    string        // resource name: "comments/{id}", "threads/{id}", "bans/{id}", "filters/{id}"
	From, To  comment.State // comment actions only; StateUnspecified otherwise
	Reason    string        // the moderator's reason, or a description of the change
}

// AuditQuery filters the audit log. Zero fields mean "any".
type AuditQuery struct {
	Moderator string
	Target    string
	Since     time.Time // at or after
	Until     time.Time // before
}

// Matches reports whether e passes the moderator and target filters of q (a log applies the time
// range through its own order).
func (q AuditQuery) Matches(e AuditEvent) bool {
	return (q.Moderator == "" || e.Moderator == q.Moderator) && (q.Target == "" || e.Target == q.Target)
}

// Auditor appends to the audit log. Comment decisions (and takedowns by reports) and thread
// settings are appended by the Store, and bans and word-list entries by their stores
// (ratelimit.BanStore, spam.FilterStore), in the same atomic step as the change; everything else
// (erasures, exports, the spam retention, spam models) goes through an Auditor, by
// Service.RecordAudit.
type Auditor interface {
	// AppendAudit appends e; the log gives the entry its ID and its time (e.At, when set, only
	// picks the day it counts in). It also counts e as an "other" action of e.Moderator in that
	// day's statistics, unless the moderator is the server's own (IsServer).
	AppendAudit(ctx context.Context, e AuditEvent) error
}

// AuditLog is an Auditor that can also be read.
type AuditLog interface {
	Auditor
	// ListAudit returns one page of the entries matching q, newest first, and the next page
	// token ("" at the end). A log may bound how much one call reads and then return a short
	// (even empty) page with a token that continues.
	ListAudit(ctx context.Context, q AuditQuery, p comment.Page) ([]AuditEvent, string, error)
}

// Bounds of audit entries' text fields. A reason holds a moderator's reason (at most
// comment.MaxReasonChars) and, for an erasure or an export, the count the server writes before
// it: the bound leaves room for both, so the moderator's words are never cut.
const (
	maxAuditModerator = 64
	maxAuditTarget    = 200
	maxAuditReason    = comment.MaxReasonChars + 100
)

// RecordAudit appends an action that its store does not record itself to the audit log (an
// erasure, an export, the spam retention, a spam model's training or deletion), after it is done,
// with Moderator the caller's key name and Target the resource name. Reason is cut to
// maxAuditReason.
func (s *Service) RecordAudit(ctx context.Context, e AuditEvent) error {
	if s.audit == nil {
		return unsupported("audit log")
	}
	switch {
	case !e.Action.Valid():
		return fmt.Errorf("moderation: record audit: unknown action %q", e.Action)
	case e.Moderator == "" || len(e.Moderator) > maxAuditModerator:
		return fmt.Errorf("moderation: record audit: moderator %q: want 1 to %d bytes", e.Moderator, maxAuditModerator)
	case e.Target == "" || len(e.Target) > maxAuditTarget:
		return fmt.Errorf("moderation: record audit: target %q: want 1 to %d bytes", e.Target, maxAuditTarget)
	}
	e.Reason = cutRunes(e.Reason, maxAuditReason)
	e.At = s.now().UTC()
	if err := s.audit.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("record %s of %s in the audit log: %w", e.Action, e.Target, err)
	}
	return nil
}

// ListAudit returns one page of the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, q AuditQuery, p comment.Page) ([]AuditEvent, string, error) {
	if s.audit == nil {
		return nil, "", unsupported("audit log")
	}
	if err := q.Validate(p); err != nil {
		return nil, "", err
	}
	p.Size = comment.ClampPageSize(p.Size)
	return s.audit.ListAudit(ctx, q, p)
}

// Validate checks a ListAudit request and returns a *comment.ValidationError naming every bad
// field, or nil. The API layer runs it too when a field did not even convert, so that one error
// names that field and every other bad one.
func (q AuditQuery) Validate(p comment.Page) error {
	var verr comment.ValidationError
	if len(q.Moderator) > maxAuditModerator || !utf8.ValidString(q.Moderator) {
		verr.Add("moderator", fmt.Sprintf("at most %d characters", maxAuditModerator))
	}
	if len(q.Target) > maxAuditTarget || !utf8.ValidString(q.Target) {
		verr.Add("target", fmt.Sprintf("at most %d characters", maxAuditTarget))
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		verr.Add("end_time", "not after start_time")
	}
	comment.CheckPageSize(&verr, p.Size)
	return verr.Err()
}

// cutRunes returns s cut to at most n characters.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
