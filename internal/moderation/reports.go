package moderation

import (
	"context"
	"errors"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// Reports' rules.
const (
	// DefaultReportThreshold is how many distinct reports take a published comment down when
	// Options.ReportThreshold is not set.
	DefaultReportThreshold = 3
	// MaxReportsShown is how many of a comment's newest reports are kept with it and shown to
	// moderators. Older reports still count.
	MaxReportsShown = 20
	// ReasonReported is the hold reason of a comment that readers' reports took down, so the
	// reported comments are the queue filtered by this reason code.
	ReasonReported = "REPORTED"
	// ReportedMessage is the message of that hold reason.
	ReportedMessage = "taken down by readers' reports; waits for a moderator"
	// anonymousReporterLabel is the hash label of the reporter of a report without an address:
	// the API key it came through.
	anonymousReporterLabel = "reporter-key"
)

// Report is one reader's report against a comment.
type Report struct {
	Reason string // as the reader wrote it, at most comment.MaxReasonChars characters; may be empty
	At     time.Time
}

// ReportSummary is what moderators see of a comment's reports.
type ReportSummary struct {
	Count  int      // distinct reports in all
	Recent []Report // the newest, newest first, at most MaxReportsShown
}

// Reports keeps readers' reports.
type Reports interface {
	// AddReport records r against comment id on behalf of reporter, a keyed hash of the reader
	// (their IP address, or for a report without one the API key it came through) or "" when
	// unknown, and returns the comment after it and the number of distinct reports. A reporter counts once per comment (their later reports change nothing);
	// reports without a reporter always count. When the reports counted since a moderator last
	// approved the comment reach threshold and the comment is published, the same atomic step
	// takes it down to pending with hold reason ReasonReported, appends a report_takedown entry
	// by SystemModerator to the audit log and announces a reported queue event. Unknown ids give
	// comment.ErrNotFound.
	AddReport(ctx context.Context, id string, r Report, reporter string, threshold int) (comment.Comment, int, error)
	// ReportSummaries returns the report summaries of comments, in the order of ids.
	ReportSummaries(ctx context.Context, ids []string) ([]ReportSummary, error)
}

// Report records a reader's report against comment id, sent by a site with the reader's reason
// and IP address (either may be empty) through the API key named site. It returns the comment
// after the report, which is pending when the report took it down, and the number of distinct
// reports. Reports on comments that are not published are recorded and counted but take nothing
// down.
//
// Readers are told apart by their address. Reports without one count as one reader per comment
// and API key: nothing else tells two readers apart, and counting each as another reader let one
// reader who clicked "report" as often as the threshold take a comment down alone, on a site
// that sends no addresses. Such a site's readers take a comment down only with a threshold of 1.
func (s *Service) Report(ctx context.Context, id, reason, clientIP, site string) (comment.Comment, int, error) {
	if s.reports == nil {
		return comment.Comment{}, 0, unsupported("reports store")
	}
	var verr comment.ValidationError
	if !comment.ValidID(id) {
		verr.Add("name", "not a comment name (want comments/{id})")
	}
	reason, err := comment.ValidateReason("reason", reason)
	if rerr := (*comment.ValidationError)(nil); errors.As(err, &rerr) {
		verr.Violations = append(verr.Violations, rerr.Violations...)
	} else if privacy.HoldsEmail(reason) {
		// The reason is kept with the comment, shown to every moderator and left in place by the
		// author's erasure, as a decision's reason is (ValidateDecisionReason): an address a
		// reader quotes there, the author's above all, would outlive that erasure.
		verr.Add("reason", "holds an email address, which moderators would see and an erasure would leave in place; describe the problem without it")
	}
	// A keyed hash like an address's, under a label of its own, so it never equals one.
	reporter := s.keys.TextKey(anonymousReporterLabel, site)
	if clientIP != "" {
		ip, ok := privacy.ParseIP(clientIP)
		switch {
		case !ok:
			verr.Add("client_ip", "not an IPv4 or IPv6 address")
		case !comment.ValidClientIP(ip):
			verr.Add("client_ip", comment.UnspecifiedIPRule)
		}
		// By the address's rate-limit unit (an IPv6 /64): one client rotating through its
		// addresses is still one reporter, and cannot take a comment down alone.
		reporter = s.keys.IPLimitKey(ip)
	}
	if err := verr.Err(); err != nil {
		return comment.Comment{}, 0, err
	}
	return s.reports.AddReport(ctx, id, Report{Reason: reason, At: s.now().UTC()}, reporter, s.threshold)
}
