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
	// keyReporterLabel is the hash label of the reporter of a report without an address or a
	// reporter id: the API key it came through.
	keyReporterLabel = "reporter-key"
	// idReporterLabel is the hash label of a reporter id, with the API key that sent it.
	idReporterLabel = "reporter-id"
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
	// (the site's id of them, their IP address, or the API key the report came through; see
	// Service.Report; never empty: a store refuses ""), and returns the comment after it and the
	// number of distinct reports. A reporter counts once per comment (their later reports change
	// nothing). When the reports counted since a moderator last
	// approved the comment reach threshold and the comment is published, the same atomic step
	// takes it down to pending with hold reason ReasonReported, appends a report_takedown entry
	// by SystemModerator to the audit log and announces a reported queue event. Unknown ids give
	// comment.ErrNotFound.
	AddReport(ctx context.Context, id string, r Report, reporter string, threshold int) (comment.Comment, int, error)
	// ReportSummaries returns the report summaries of comments, in the order of ids.
	ReportSummaries(ctx context.Context, ids []string) ([]ReportSummary, error)
}

// Reporter identifies the reader behind a report, as the site knows them. Every field may be
// empty.
type Reporter struct {
	// ID is the site's own stable id of the reader (an account id), at most MaxReporterIDChars
	// printable ASCII characters. Only its keyed hash is kept.
	ID string
	// IP is the reader's IP address.
	IP string
	// APIKey is the name of the API key the report came through.
	APIKey string
}

// MaxReporterIDChars bounds Reporter.ID.
const MaxReporterIDChars = 128

// Report records a reader's report against comment id, sent by a site with the reader's reason
// (may be empty) on behalf of from. It returns the comment after the report, which is pending
// when the report took it down, and the number of distinct reports. Reports on comments that are
// not published are recorded and counted but take nothing down.
//
// Readers are told apart by the site's id of them (from.ID, scoped to the API key, as the
// backends behind two site keys may give one id to two readers), else by their address. Reports with neither count as one reader
// per comment and API key: nothing else tells two readers apart, and counting each as another
// reader let one reader who clicked "report" as often as the threshold take a comment down
// alone, on a site that sends neither. Such a site's readers take a comment down only with a
// threshold of 1.
func (s *Service) Report(ctx context.Context, id, reason string, from Reporter) (comment.Comment, int, error) {
	if s.reports == nil {
		return comment.Comment{}, 0, unsupported("reports store")
	}
	var verr comment.ValidationError
	if !comment.ValidID(id) {
		verr.Add("name", comment.BadCommentName(id, "comments/{id}"))
	}
	reason, err := comment.ValidateReason("reason", reason)
	if rerr := (*comment.ValidationError)(nil); errors.As(err, &rerr) {
		verr.Violations = append(verr.Violations, rerr.Violations...)
	} else if privacy.HoldsAddress(reason) {
		// The reason is kept with the comment, shown to every moderator and left in place by the
		// author's erasure, as a decision's reason is (ValidateDecisionReason): an address a
		// reader quotes there, the author's above all, would outlive that erasure.
		verr.Add("reason", "holds an email or IP address, which moderators would see and an erasure would leave in place; describe the problem without it")
	}
	// Keyed hashes like an address's, each under a label of its own, so none equals another kind.
	reporter := s.keys.TextKey(keyReporterLabel, from.APIKey)
	if from.IP != "" {
		ip, ok := privacy.ParseIP(from.IP)
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
	if from.ID != "" {
		if !validReporterID(from.ID) {
			verr.Add("reporter_id", "at most 128 printable ASCII characters without spaces")
		}
		reporter = s.keys.TextKey(idReporterLabel, from.APIKey+"\x00"+from.ID)
	}
	if err := verr.Err(); err != nil {
		return comment.Comment{}, 0, err
	}
	return s.reports.AddReport(ctx, id, Report{Reason: reason, At: s.now().UTC()}, reporter, s.threshold)
}

// validReporterID reports whether id is 1 to MaxReporterIDChars printable ASCII characters
// without spaces.
func validReporterID(id string) bool {
	if len(id) == 0 || len(id) > MaxReporterIDChars {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
