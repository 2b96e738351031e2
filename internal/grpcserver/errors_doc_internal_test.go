package grpcserver

import (
	"context"
	"errors"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
)

// TestErrorsDocListsMetadataKeys compares the ErrorInfo metadata keys docs/ERRORS.md's table
// gives for each reason with the keys statusFor sets: a client reads them by name, so a key the
// row leaves out is one nobody can find, and a key it names that the code never sets is one a
// client waits for in vain. The code's keys come from statusFor itself, given every kind of error
// it maps in each of its variants (the ones that add a key included); the reasons those produce
// must be the table's, so a reason mapped from a new error fails here until it is given one.
func TestErrorsDocListsMetadataKeys(t *testing.T) {
	code := map[string][]string{}
	for _, err := range mappedErrors() {
		st, _ := statusFor(err)
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if info == nil {
			t.Fatalf("called statusFor(%v), got details %v, want an ErrorInfo", err, st.Details())
		}
		code[info.Reason] = append(code[info.Reason], slices.Collect(maps.Keys(info.Metadata))...)
	}

	documented := map[string][]string{}
	for _, r := range errorsDocRows(t) {
		var keys []string
		if _, md, ok := strings.Cut(r.details, "metadata"); ok {
			for _, k := range docKey.FindAllStringSubmatch(docRemark.ReplaceAllString(md, ""), -1) {
				keys = append(keys, k[1])
			}
		}
		for _, reason := range r.reasons {
			documented[reason] = append(documented[reason], keys...)
		}
	}
	for _, m := range []map[string][]string{code, documented} {
		for r, keys := range m {
			slices.Sort(keys)
			m[r] = slices.Compact(keys)
		}
	}
	if diff := cmp.Diff(code, documented); diff != "" {
		t.Errorf("docs/ERRORS.md's ErrorInfo metadata keys per reason differ from those statusFor sets (-code +documented):\n%s", diff)
	}
}

// mappedErrors returns every kind of error statusFor maps, in each of its variants (the ones that
// add a metadata key or change a detail included).
func mappedErrors() []error {
	decided := comment.Comment{ID: "07abc", State: comment.StatePublished, Decision: &comment.Decision{
		Moderator: "mod-alice", At: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC), From: comment.StatePending, To: comment.StatePublished,
	}}
	return []error{
		&comment.ValidationError{Violations: []comment.FieldViolation{{Field: "body", Description: "required"}}},
		&comment.ValidationError{Violations: []comment.FieldViolation{{Field: "body", Description: "required"}}, Omitted: 3},
		comment.ErrInvalidPageToken,
		comment.ErrNotFound,
		ratelimit.ErrBanNotFound,
		spam.ErrModelNotFound,
		spam.ErrFilterNotFound,
		comment.ErrThreadClosed,
		&comment.ClosedError{},
		&comment.ClosedError{ByAge: true},
		&moderation.TransitionError{ID: "07abc", From: comment.StateRejected, To: comment.StatePending},
		&moderation.TransitionError{ID: "07abc", Action: moderation.MarkNotSpam, From: comment.StatePublished, To: comment.StatePending},
		&moderation.StaleError{ID: "07abc", Action: moderation.Reject, Current: comment.Comment{ID: "07abc", State: comment.StatePending}},
		&moderation.StaleError{ID: "07abc", Action: moderation.Reject, Current: decided},
		&moderation.StaleThreadError{ID: "post-1", Current: comment.Thread{ID: "post-1"}},
		&moderation.StaleThreadError{ID: "post-1", Current: comment.Thread{ID: "post-1", Closed: true, ClosedByAge: true}},
		&ratelimit.LimitError{Rule: "author-per-minute", RetryAfter: time.Minute},
		&ratelimit.LimitError{Rule: "author-per-minute", RetryAfter: 1500 * time.Millisecond},
		ratelimit.ErrDuplicate,
		comment.ErrRequestReused,
		ratelimit.ErrBanRequestReused,
		comment.ErrRequestInProgress,
		&ratelimit.BannedError{Ban: ratelimit.Ban{Target: ratelimit.AuthorTarget("ab12")}},
		&ratelimit.BannedError{Ban: ratelimit.Ban{Target: ratelimit.AuthorTarget("ab12"), ExpiresAt: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)}},
		comment.ErrUnavailable,
		errShuttingDown,
		errTooManyWatchers,
		errTooManyKeyWatchers,
		moderation.ErrWatcherBehind,
		errBansOff,
		errSpamOff,
		moderation.ErrExportTooLarge,
		context.DeadlineExceeded,
		context.Canceled,
		errMissingKey,
		errSeveralKeys,
		errUnknownKey,
		&permissionError{method: "/x.Y/Z", role: apikey.RoleAdmin},
		&permissionError{method: "/x.Y/Z", role: apikey.RoleSite, need: apikey.RoleModerator},
		errors.New("something else"),
	}
}

// errorsDocRow is one row of docs/ERRORS.md's table of reasons: | `CODE` | `REASON` (or `A`,
// `B`) | when | details |.
type errorsDocRow struct {
	reasons []string
	details string
}

var (
	docRow    = regexp.MustCompile("^\\| `[A-Z_]+` \\| ([^|]+) \\| [^|]+ \\|([^|]*)\\|")
	docReason = regexp.MustCompile("`([A-Z_]+)`")
	// The metadata keys are the lower_snake_case names in backquotes after the word "metadata" in
	// the details, out of parentheses (which hold values and remarks: `scope` (`key`, or absent)).
	docRemark = regexp.MustCompile(`\([^()]*\)`)
	docKey    = regexp.MustCompile("`([a-z][a-z0-9_]*)`")
)

// errorsDocRows reads the rows of docs/ERRORS.md's table of reasons.
func errorsDocRows(t *testing.T) []errorsDocRow {
	t.Helper()
	doc, err := os.ReadFile("../../docs/ERRORS.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []errorsDocRow
	for line := range strings.Lines(string(doc)) {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := errorsDocRow{details: m[2]}
		for _, reason := range docReason.FindAllStringSubmatch(m[1], -1) {
			r.reasons = append(r.reasons, reason[1])
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("docs/ERRORS.md: no rows found in the table of reasons")
	}
	return rows
}

// TestErrorsDocGivesEveryRetryDelay compares the RetryInfo docs/ERRORS.md's table gives for each
// reason with the one statusFor sends: a site waits what the row says before it sends again, so a
// row that names no delay where the server always sends the same one leaves the site to guess,
// one that names another delay misleads it, and a RetryInfo the row leaves out is never waited
// for. A delay that depends on the call (a rate limit's) is named without a number.
func TestErrorsDocGivesEveryRetryDelay(t *testing.T) {
	const varies = "a delay that depends on the call"
	code := map[string][]string{}
	for _, err := range mappedErrors() {
		st, _ := statusFor(err)
		var reason, delay string
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				reason = d.GetReason()
			case *errdetails.RetryInfo:
				delay = strconv.FormatFloat(d.GetRetryDelay().AsDuration().Seconds(), 'f', -1, 64) + " s"
			}
		}
		code[reason] = append(code[reason], delay)
	}
	for r, delays := range code {
		slices.Sort(delays)
		if delays = slices.Compact(delays); len(delays) > 1 {
			delays = []string{varies}
		}
		code[r] = delays
	}

	retry := regexp.MustCompile("`RetryInfo`(?: ([0-9]+(?:\\.[0-9]+)?) s\\b)?")
	documented := map[string][]string{}
	for _, r := range errorsDocRows(t) {
		delay := ""
		if m := retry.FindStringSubmatch(r.details); m != nil {
			delay = varies
			if m[1] != "" {
				delay = m[1] + " s"
			}
		}
		for _, reason := range r.reasons {
			if !slices.Contains(documented[reason], delay) {
				documented[reason] = append(documented[reason], delay)
			}
		}
	}
	if diff := cmp.Diff(code, documented); diff != "" {
		t.Errorf("docs/ERRORS.md's RetryInfo per reason differs from the one statusFor sends (-code +documented; \"\" is none):\n%s", diff)
	}
}
