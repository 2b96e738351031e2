package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
)

// TestStatusFor covers the rows of the mapping table that no call through this package's test
// server produces (a TransitionError of an action not known, which the store never makes; a
// StaleError on a comment without a decision, which needs a report takedown between two reads; a
// context error raised on the server is hidden behind the status the client makes itself when
// its own deadline passes or it cancels; a StaleThreadError on a thread closed by age), and checks the rate-limit rows with fixed values;
// abuse_test.go produces those through real calls too. The other rows are tested through real
// calls in errors_test.go.
func TestStatusFor(t *testing.T) {
	transition := &moderation.TransitionError{ID: "07abc", From: comment.StateRejected, To: comment.StatePending}
	tests := []struct {
		name         string
		err          error
		wantCode     codes.Code
		wantInternal bool
		wantDetails  []any
	}{
		{
			name:     "invalid transition, wrapped",
			err:      fmt.Errorf("decide: %w", transition),
			wantCode: codes.FailedPrecondition,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonInvalidStateTransition, Domain: ErrorDomain, Metadata: map[string]string{
					"name": "comments/07abc", "from_state": "STATE_REJECTED", "to_state": "STATE_PENDING",
				}},
				&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
					{Type: "STATE", Subject: "comments/07abc"},
				}},
			},
		},
		{
			name:     "rate limited, wrapped",
			err:      fmt.Errorf("screen: %w", &ratelimit.LimitError{Rule: "author-per-minute", RetryAfter: 1500 * time.Millisecond}),
			wantCode: codes.ResourceExhausted,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonRateLimited, Domain: ErrorDomain, Metadata: map[string]string{
					"rule": "author-per-minute", "retry_delay": "1.5s",
				}},
				&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "rule:author-per-minute"}}},
				&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
			},
		},
		{
			// A delay of minutes is written in seconds ("179.962s", as protobuf's JSON writes a
			// Duration), never as Go writes one ("2m59.962s"), which a client in another
			// language would read as 2.
			name:     "rate limited for minutes",
			err:      &ratelimit.LimitError{Rule: "author-hourly", RetryAfter: 2*time.Minute + 59962*time.Millisecond},
			wantCode: codes.ResourceExhausted,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonRateLimited, Domain: ErrorDomain, Metadata: map[string]string{
					"rule": "author-hourly", "retry_delay": "179.962s",
				}},
				&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "rule:author-hourly"}}},
				&errdetails.RetryInfo{RetryDelay: durationpb.New(2*time.Minute + 59962*time.Millisecond)},
			},
		},
		{
			name:     "rate limited for whole hours",
			err:      &ratelimit.LimitError{Rule: "author-daily", RetryAfter: 3 * time.Hour},
			wantCode: codes.ResourceExhausted,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonRateLimited, Domain: ErrorDomain, Metadata: map[string]string{
					"rule": "author-daily", "retry_delay": "10800s",
				}},
				&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "rule:author-daily"}}},
				&errdetails.RetryInfo{RetryDelay: durationpb.New(3 * time.Hour)},
			},
		},
		{
			// Readers' reports took down a comment no moderator had decided: no decision to name.
			name:     "stale etag on a comment never decided, wrapped",
			err:      fmt.Errorf("decide: %w", &moderation.StaleError{ID: "07abc", Action: moderation.Reject, Current: comment.Comment{ID: "07abc", State: comment.StatePending}}),
			wantCode: codes.Aborted,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonETagMismatch, Domain: ErrorDomain, Metadata: map[string]string{
				"name": "comments/07abc", "action": "reject", "state": "STATE_PENDING",
				"etag": moderation.ETag(comment.Comment{ID: "07abc", State: comment.StatePending}),
			}}},
		},
		{
			// A thread closed by age whose period was restarted since the etag was read: the
			// reason says age, not a moderator. The calls in thread_etag_test.go give the rest.
			name: "stale etag on a thread closed by age, wrapped",
			err: fmt.Errorf("update thread: %w", &moderation.StaleThreadError{ID: "post-1", Current: comment.Thread{
				ID: "post-1", Mode: comment.ModePre, Closed: true, ClosedByAge: true, AutoCloseAt: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)}}),
			wantCode: codes.Aborted,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonETagMismatch, Domain: ErrorDomain, Metadata: map[string]string{
				"name": "threads/post-1", "moderation_mode": "MODERATION_MODE_PRE", "closed": "true",
				"close_reason": "THREAD_CLOSE_REASON_AGE",
				"etag":         moderation.ThreadETag(comment.Thread{ID: "post-1", Mode: comment.ModePre, AutoCloseAt: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)}),
			}}},
		},
		{
			name:        "duplicate",
			err:         fmt.Errorf("screen: %w", ratelimit.ErrDuplicate),
			wantCode:    codes.AlreadyExists,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonDuplicateComment, Domain: ErrorDomain}},
		},
		{
			name:        "request id reused, wrapped",
			err:         fmt.Errorf("store comment: %w", comment.ErrRequestReused),
			wantCode:    codes.AlreadyExists,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonRequestIDReused, Domain: ErrorDomain}},
		},
		{
			name:        "ban request id reused, wrapped",
			err:         fmt.Errorf("store ban range: %w", ratelimit.ErrBanRequestReused),
			wantCode:    codes.AlreadyExists,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonRequestIDReused, Domain: ErrorDomain}},
		},
		{
			name:     "same request still in progress, wrapped",
			err:      fmt.Errorf("store comment: %w", comment.ErrRequestInProgress),
			wantCode: codes.Aborted,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonRequestInProgress, Domain: ErrorDomain},
				&errdetails.RetryInfo{RetryDelay: durationpb.New(StoreRetryDelay)}},
		},
		{
			name: "banned until a time, without the target or reason",
			err: &ratelimit.BannedError{Ban: ratelimit.Ban{
				Target: ratelimit.RangeTarget(netip.MustParsePrefix("198.51.100.0/24")), Reason: "troll", Moderator: "mod-alice",
				ExpiresAt: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC),
			}},
			wantCode: codes.PermissionDenied,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonBanned, Domain: ErrorDomain,
				Metadata: map[string]string{"expire_time": "2031-02-03T04:05:06Z"}}},
		},
		{
			name: "banned until a time within a second, rounded up",
			err: &ratelimit.BannedError{Ban: ratelimit.Ban{
				Target: ratelimit.AuthorTarget("ab12"), ExpiresAt: time.Date(2031, 2, 3, 4, 5, 6, 1, time.UTC),
			}},
			wantCode: codes.PermissionDenied,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonBanned, Domain: ErrorDomain,
				Metadata: map[string]string{"expire_time": "2031-02-03T04:05:07Z"}}},
		},
		{
			name:        "banned for good",
			err:         &ratelimit.BannedError{Ban: ratelimit.Ban{Target: ratelimit.AuthorTarget("ab12")}},
			wantCode:    codes.PermissionDenied,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonBanned, Domain: ErrorDomain}},
		},
		{
			// A real export this large needs 10,000 comments or 32 MiB of text.
			name:     "export too large, wrapped",
			err:      fmt.Errorf("export author data: %w", moderation.ErrExportTooLarge),
			wantCode: codes.FailedPrecondition,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonExportTooLarge, Domain: ErrorDomain, Metadata: map[string]string{
					"max_comments": "10000", "max_bytes": "33554432",
				}},
				&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
					{Type: "EXPORT", Subject: "author_email"},
				}},
			},
		},
		{
			name:        "deadline exceeded",
			err:         fmt.Errorf("get comment: %w", context.DeadlineExceeded),
			wantCode:    codes.DeadlineExceeded,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonDeadlineExceeded, Domain: ErrorDomain}},
		},
		{
			name:        "cancelled",
			err:         context.Canceled,
			wantCode:    codes.Canceled,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonCancelled, Domain: ErrorDomain}},
		},
		{
			name:     "store unavailable that carries a context error reads as unavailable",
			err:      fmt.Errorf("list: %w: %w", comment.ErrUnavailable, context.DeadlineExceeded),
			wantCode: codes.Unavailable,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonStoreUnavailable, Domain: ErrorDomain},
				retryInfo(StoreRetryDelay),
			},
		},
		{
			// go-redis returns the context's error when the client leaves mid-call; the store
			// wraps it as unavailable, as it cannot tell the caller's context from Redis's.
			name:        "store unavailable that carries a cancellation reads as cancelled",
			err:         fmt.Errorf("get comment: %w: %w", comment.ErrUnavailable, context.Canceled),
			wantCode:    codes.Canceled,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonCancelled, Domain: ErrorDomain}},
		},
		{
			name:     "a watcher that fell behind is not told the store is unavailable",
			err:      fmt.Errorf("watch: %w", moderation.ErrWatcherBehind),
			wantCode: codes.Unavailable,
			wantDetails: []any{
				&errdetails.ErrorInfo{Reason: ReasonWatchFellBehind, Domain: ErrorDomain},
				retryInfo(StoreRetryDelay),
			},
		},
		{
			name:        "an existing status passes unchanged",
			err:         status.Error(codes.NotFound, "unknown service"),
			wantCode:    codes.NotFound,
			wantDetails: nil,
		},
		{
			name:     "permission error without a role",
			err:      &permissionError{method: "/x.Y/Z", role: apikey.RoleAdmin},
			wantCode: codes.PermissionDenied,
			wantDetails: []any{&errdetails.ErrorInfo{Reason: ReasonMethodNotAllowed, Domain: ErrorDomain,
				Metadata: map[string]string{"method": "/x.Y/Z"}}},
		},
		{
			name:         "unknown error",
			err:          errors.New("something else"),
			wantCode:     codes.Internal,
			wantInternal: true,
			wantDetails:  []any{&errdetails.ErrorInfo{Reason: ReasonInternal, Domain: ErrorDomain}},
		},
	}
	opts := cmp.Options{
		protocmp.Transform(),
		cmpopts.EquateEmpty(),
		protocmp.IgnoreFields(&errdetails.PreconditionFailure_Violation{}, "description"),
		protocmp.IgnoreFields(&errdetails.QuotaFailure_Violation{}, "description"),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, internal := statusFor(tc.err)
			// A ban's target and reason are for moderators: neither may reach the site.
			for _, secret := range []string{"198.51.100", "troll", "mod-alice"} {
				if strings.Contains(st.Message(), secret) {
					t.Errorf("called statusFor(%v), got message %q, want no %q in it", tc.err, st.Message(), secret)
				}
			}
			if st.Code() != tc.wantCode || internal != tc.wantInternal {
				t.Errorf("called statusFor(%v), got %v internal=%v, want %v internal=%v", tc.err, st.Code(), internal, tc.wantCode, tc.wantInternal)
			}
			if diff := cmp.Diff(tc.wantDetails, st.Details(), opts); diff != "" {
				t.Errorf("called statusFor(%v), got details differing from want (-want +got):\n%s", tc.err, diff)
			}
		})
	}
	if st, internal := statusFor(nil); st != nil || internal {
		t.Errorf("called statusFor(nil), got %v internal=%v, want nil false", st, internal)
	}
}

// TestStaleThreadMessageNamesMode: the ETAG_MISMATCH message of a thread update says the thread's
// mode as moderators set it ("default", "pre", "post"), not as the enum's name.
func TestStaleThreadMessageNamesMode(t *testing.T) {
	for _, tt := range []struct {
		mode comment.Mode
		want string
	}{{comment.ModeDefault, "mode default)"}, {comment.ModePre, "mode pre)"}, {comment.ModePost, "mode post)"}} {
		st, _ := statusFor(&moderation.StaleThreadError{ID: "post-1", Current: comment.Thread{ID: "post-1", Mode: tt.mode}})
		if !strings.Contains(st.Message(), tt.want) || strings.Contains(st.Message(), "MODERATION_MODE") {
			t.Errorf("statusFor(stale thread, mode %v).Message() = %q, want it to hold %q and no enum name", tt.mode, st.Message(), tt.want)
		}
	}
}
