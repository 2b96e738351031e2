package grpcserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// faultHeader makes the fault-injecting interceptor below fail a call: "panic" panics in the
// handler's place, "error" returns an error the mapping does not know.
const faultHeader = "x-test-fault"

// secretCause is the text of the injected error; it must reach the server log and never the client.
const secretCause = "disk on fire at /var/lib/secret"

// injectFaults runs innermost (after auth), where a handler would, and fails calls on request.
func injectFaults(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	switch v := md.Get(faultHeader); {
	case len(v) == 1 && v[0] == "panic":
		panic(secretCause)
	case len(v) == 1 && v[0] == "error":
		return nil, errors.New(secretCause)
	}
	return handler(ctx, req)
}

// TestErrorMapping produces each mapped error through a real call and checks the code, the
// ErrorInfo and the extra details.
func TestErrorMapping(t *testing.T) {
	e := newEnv(t, envOptions{
		redisAddr:     redistest.Start(t).Addr,
		serverOptions: []grpc.ServerOption{grpc.ChainUnaryInterceptor(injectFaults)},
	})
	if _, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/closed-thread", Closed: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	}); err != nil {
		t.Fatalf("UpdateThread(closed-thread, closed): %v", err)
	}

	published, err := e.site.SubmitComment(e.as(t, siteKeyName), validSubmission("transitions", "published at once"))
	if err != nil || published.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Fatalf("SubmitComment(transitions) = %v, %v; want a published comment", published.GetComment(), err)
	}
	publishedName := published.GetComment().GetName()

	tests := []struct {
		name        string
		call        func(t *testing.T) error
		wantCode    codes.Code
		wantInfo    *errdetails.ErrorInfo
		wantDetails []any // details after the ErrorInfo, compared with protocmp
	}{
		{
			name: "validation lists every bad field",
			call: func(t *testing.T) error {
				_, err := e.site.SubmitComment(e.as(t, siteKeyName), &commentdv1.SubmitCommentRequest{ThreadId: "thread-1", AuthorEmail: "not-an-address"})
				return err
			},
			wantCode: codes.InvalidArgument,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonInvalidArgument, Domain: grpcserver.ErrorDomain,
				Metadata: map[string]string{"fields": "author_name,body,author_email"}},
			wantDetails: []any{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "author_name"}, {Field: "body"}, {Field: "author_email"},
			}}},
		},
		{
			name: "unknown update_mask path",
			call: func(t *testing.T) error {
				_, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
					Thread:     &commentdv1.Thread{Name: "threads/thread-1"},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed", "title"}},
				})
				return err
			},
			wantCode: codes.InvalidArgument,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonInvalidArgument, Domain: grpcserver.ErrorDomain,
				Metadata: map[string]string{"fields": "update_mask"}},
			wantDetails: []any{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "update_mask"}}}},
		},
		{
			name: "invalid page token",
			call: func(t *testing.T) error {
				_, err := e.site.ListComments(e.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: "thread-1", PageToken: "not-a-token"})
				return err
			},
			wantCode:    codes.InvalidArgument,
			wantInfo:    &errdetails.ErrorInfo{Reason: grpcserver.ReasonInvalidPageToken, Domain: grpcserver.ErrorDomain},
			wantDetails: []any{&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "page_token"}}}},
		},
		{
			name: "comment not found",
			call: func(t *testing.T) error {
				_, err := e.site.GetComment(e.as(t, siteKeyName), &commentdv1.GetCommentRequest{Name: "comments/00nosuchcomment"})
				return err
			},
			wantCode: codes.NotFound,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonCommentNotFound, Domain: grpcserver.ErrorDomain},
		},
		{
			name: "moderator: comment not found",
			call: func(t *testing.T) error {
				_, err := e.mod.ApproveComment(e.as(t, modKeyName), &commentdv1.ApproveCommentRequest{Name: "00nosuchcomment"})
				return err
			},
			wantCode: codes.NotFound,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonCommentNotFound, Domain: grpcserver.ErrorDomain},
		},
		{
			name: "thread closed",
			call: func(t *testing.T) error {
				_, err := e.site.SubmitComment(e.as(t, siteKeyName), validSubmission("closed-thread", "hello"))
				return err
			},
			wantCode: codes.FailedPrecondition,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonThreadClosed, Domain: grpcserver.ErrorDomain,
				Metadata: map[string]string{"close_reason": "THREAD_CLOSE_REASON_MODERATOR"}},
			wantDetails: []any{&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
				{Type: "THREAD", Subject: "thread"},
			}}},
		},
		{
			// The only decision refused today. It names the action and what it takes: "cannot
			// become STATE_PENDING" alone would deny what ReopenComment does to the comment.
			name: "mark not spam on a published comment",
			call: func(t *testing.T) error {
				_, err := e.mod.MarkNotSpam(e.as(t, modKeyName), &commentdv1.MarkNotSpamRequest{Name: publishedName})
				return err
			},
			wantCode: codes.FailedPrecondition,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonInvalidStateTransition, Domain: grpcserver.ErrorDomain,
				Metadata: map[string]string{
					"name": publishedName, "from_state": "STATE_PUBLISHED", "to_state": "STATE_PENDING",
					"action": "mark_not_spam", "allowed_states": "STATE_SPAM",
				}},
			wantDetails: []any{&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
				{Type: "STATE", Subject: publishedName},
			}}},
		},
		{
			name: "unrecognised error",
			call: func(t *testing.T) error {
				ctx := metadata.AppendToOutgoingContext(e.as(t, siteKeyName), faultHeader, "error")
				_, err := e.site.CountComments(ctx, &commentdv1.CountCommentsRequest{ThreadIds: []string{"t"}})
				return err
			},
			wantCode: codes.Internal,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonInternal, Domain: grpcserver.ErrorDomain},
		},
		{
			name: "panic",
			call: func(t *testing.T) error {
				ctx := metadata.AppendToOutgoingContext(e.as(t, modKeyName), faultHeader, "panic")
				_, err := e.mod.GetThread(ctx, &commentdv1.GetThreadRequest{Name: "threads/t"})
				return err
			},
			wantCode: codes.Internal,
			wantInfo: &errdetails.ErrorInfo{Reason: grpcserver.ReasonInternal, Domain: grpcserver.ErrorDomain},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t)
			checkStatus(t, tc.name, err, tc.wantCode, tc.wantInfo, tc.wantDetails)
		})
	}

	t.Run("internal causes are logged once and never sent", func(t *testing.T) {
		for _, fault := range []string{"error", "panic"} {
			var header metadata.MD
			ctx := metadata.AppendToOutgoingContext(e.as(t, siteKeyName), faultHeader, fault)
			_, err := e.site.CountComments(ctx, &commentdv1.CountCommentsRequest{ThreadIds: []string{"t"}}, grpc.Header(&header))
			if strings.Contains(err.Error(), secretCause) {
				t.Errorf("called CountComments with fault %s, got message %q, want no trace of the cause", fault, err.Error())
			}
			ids := header.Get(grpcserver.RequestIDHeader)
			if len(ids) != 1 {
				t.Fatalf("called CountComments with fault %s, got header %s=%v, want one request id", fault, grpcserver.RequestIDHeader, ids)
			}
			logged := e.logs.find(t, "internal error", map[string]string{"request_id": ids[0]})
			if len(logged) != 1 || !strings.Contains(logged[0]["error"].(string), secretCause) || logged[0]["level"] != "ERROR" {
				t.Errorf("called CountComments with fault %s, got error log lines %v, want one ERROR line with the cause", fault, logged)
			}
		}
	})
}

// TestErrorMappingStoreUnavailable stops Redis under a running server: calls must fail with
// UNAVAILABLE and a retry delay, and succeed again once Redis is back.
func TestErrorMappingStoreUnavailable(t *testing.T) {
	rs := redistest.Start(t)
	e := newEnv(t, envOptions{redisAddr: rs.Addr})
	e.submit(t, validSubmission("thread-1", "before the outage"))
	rs.Stop()

	calls := map[string]func(ctx context.Context) error{
		"SubmitComment": func(ctx context.Context) error {
			_, err := e.site.SubmitComment(ctx, validSubmission("thread-1", "during the outage"))
			return err
		},
		"ListComments": func(ctx context.Context) error {
			_, err := e.site.ListComments(ctx, &commentdv1.ListCommentsRequest{ThreadId: "thread-1"})
			return err
		},
		"CountComments": func(ctx context.Context) error {
			_, err := e.site.CountComments(ctx, &commentdv1.CountCommentsRequest{ThreadIds: []string{"thread-1"}})
			return err
		},
		"ListQueue": func(ctx context.Context) error {
			_, err := e.mod.ListQueue(ctx, &commentdv1.ListQueueRequest{})
			return err
		},
		"UpdateThread": func(ctx context.Context) error {
			_, err := e.mod.UpdateThread(ctx, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: "threads/thread-1", Closed: true}})
			return err
		},
	}
	// The store's client retries a refused dial for about a second before giving up: run the
	// calls side by side. The group returns once they all have.
	t.Run("while down", func(t *testing.T) {
		for name, call := range calls {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(e.as(t, adminKeyName), 10*time.Second)
				defer cancel()
				checkStatus(t, name+" with Redis stopped", call(ctx), codes.Unavailable,
					&errdetails.ErrorInfo{Reason: grpcserver.ReasonStoreUnavailable, Domain: grpcserver.ErrorDomain},
					[]any{&errdetails.RetryInfo{RetryDelay: durationpb.New(grpcserver.StoreRetryDelay)}})
			})
		}
	})

	rs.Restart(t)
	ok := eventually(5*time.Second, func() bool {
		_, err := e.site.SubmitComment(e.as(t, siteKeyName), validSubmission("thread-1", "after the outage"))
		return err == nil
	})
	if !ok {
		t.Errorf("called SubmitComment after Redis restarted, got errors for 5s, want success")
	}
}

// checkStatus compares err's code, ErrorInfo and the details after it. Descriptions in field
// violations and preconditions are prose for people and are not compared.
func checkStatus(t *testing.T, call string, err error, wantCode codes.Code, wantInfo *errdetails.ErrorInfo, wantDetails []any) {
	t.Helper()
	st, info := errorInfo(err)
	if st.Code() != wantCode {
		t.Fatalf("called %s, got code %v (%v), want %v", call, st.Code(), err, wantCode)
	}
	if diff := cmp.Diff(wantInfo, info, protocmp.Transform()); diff != "" {
		t.Errorf("called %s, got ErrorInfo differing from want (-want +got):\n%s", call, diff)
	}
	var rest []any
	for _, d := range st.Details() {
		if _, isInfo := d.(*errdetails.ErrorInfo); !isInfo {
			rest = append(rest, d)
		}
	}
	ignoreProse := cmp.Options{
		protocmp.Transform(),
		cmpopts.EquateEmpty(),
		protocmp.IgnoreFields(&errdetails.BadRequest_FieldViolation{}, "description"),
		protocmp.IgnoreFields(&errdetails.PreconditionFailure_Violation{}, "description"),
	}
	if diff := cmp.Diff(wantDetails, rest, ignoreProse); diff != "" {
		t.Errorf("called %s, got details differing from want (-want +got):\n%s", call, diff)
	}
}

// TestCallTimeoutBoundsCallsWithoutDeadline: Options.CallTimeout (-redis-timeout) ends a call whose
// client set no deadline while Redis does not answer, with the store's retryable error.
func TestCallTimeoutBoundsCallsWithoutDeadline(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, envOptions{redisAddr: srv.Addr, callTimeout: 300 * time.Millisecond})
	ctx := e.as(t, siteKeyName)
	list := &commentdv1.ListCommentsRequest{ThreadId: "paused"}
	if _, err := e.site.ListComments(ctx, list); err != nil {
		t.Fatalf("called ListComments before the pause, got %v", err)
	}
	admin := redistest.Client(t, srv.Addr)
	// The pause outlasts the test's calls: an answer before it ends came from the bound.
	const pause = 3 * time.Second
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "CLIENT", "UNPAUSE") })

	start := time.Now()
	_, err := e.site.ListComments(ctx, list)
	took := time.Since(start)
	if code, reason := codeReason(err); code != codes.Unavailable || reason != grpcserver.ReasonStoreUnavailable {
		t.Errorf("called ListComments without a deadline on a paused Redis, got %v %q, want Unavailable %q", code, reason, grpcserver.ReasonStoreUnavailable)
	}
	if took >= pause-time.Second {
		t.Errorf("called ListComments without a deadline on a paused Redis, got an answer after %v, want it well before the %v pause ends", took, pause)
	}

}

// TestStoreUnavailableCauseLogged: a caller told STORE_UNAVAILABLE learns nothing of why, so the
// operator must: the log names the cause (here Redis out of memory, which leaves it answering
// PING and health SERVING), once per interval however many calls fail.
func TestStoreUnavailableCauseLogged(t *testing.T) {
	rs := redistest.Start(t)
	e := newEnv(t, envOptions{redisAddr: rs.Addr})
	ctx := context.Background()
	for _, kv := range [][2]string{{"maxmemory-policy", "noeviction"}, {"maxmemory", "1"}} {
		if err := e.redis.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", kv[0], kv[1], err)
		}
	}
	for i := range 3 {
		_, err := e.site.SubmitComment(e.as(t, siteKeyName), validSubmission("thread-1", fmt.Sprintf("while Redis is full, %d", i)))
		checkStatus(t, "SubmitComment with Redis out of memory", err, codes.Unavailable,
			&errdetails.ErrorInfo{Reason: grpcserver.ReasonStoreUnavailable, Domain: grpcserver.ErrorDomain},
			[]any{&errdetails.RetryInfo{RetryDelay: durationpb.New(grpcserver.StoreRetryDelay)}})
	}
	logged := e.logs.find(t, "store unavailable", nil)
	if len(logged) != 1 {
		t.Fatalf("3 calls failed for want of memory, got %d %q log lines, want 1:\n%s", len(logged), "store unavailable", e.logs.String())
	}
	if cause, _ := logged[0]["error"].(string); !strings.Contains(cause, "OOM") || logged[0]["level"] != "WARN" {
		t.Errorf("store unavailable log line = %v, want a WARN line whose error names the OOM refusal", logged[0])
	}
}
