package grpcserver

import (
	"context"
	"errors"
	"maps"
	"os"
	"regexp"
	"slices"
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
	decided := comment.Comment{ID: "07abc", State: comment.StatePublished, Decision: &comment.Decision{
		Moderator: "mod-alice", At: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC), From: comment.StatePending, To: comment.StatePublished,
	}}
	inputs := []error{
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
	code := map[string][]string{}
	for _, err := range inputs {
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

	doc, err := os.ReadFile("../../docs/ERRORS.md")
	if err != nil {
		t.Fatal(err)
	}
	// A row of the table: | `CODE` | `REASON` (or `A`, `B`) | when | details |. The metadata keys
	// are the lower_snake_case names in backquotes after the word "metadata" in the details, out
	// of parentheses (which hold values and remarks: `scope` (`key`, or absent)).
	row := regexp.MustCompile("^\\| `[A-Z_]+` \\| ([^|]+) \\| [^|]+ \\|([^|]*)\\|")
	reason := regexp.MustCompile("`([A-Z_]+)`")
	remark := regexp.MustCompile(`\([^()]*\)`)
	key := regexp.MustCompile("`([a-z][a-z0-9_]*)`")
	documented := map[string][]string{}
	for line := range strings.Lines(string(doc)) {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var keys []string
		if _, md, ok := strings.Cut(m[2], "metadata"); ok {
			for _, k := range key.FindAllStringSubmatch(remark.ReplaceAllString(md, ""), -1) {
				keys = append(keys, k[1])
			}
		}
		for _, r := range reason.FindAllStringSubmatch(m[1], -1) {
			documented[r[1]] = append(documented[r[1]], keys...)
		}
	}
	if len(documented) == 0 {
		t.Fatal("docs/ERRORS.md: no rows found in the table of reasons")
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
