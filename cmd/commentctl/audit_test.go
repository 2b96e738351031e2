package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func auditEvents() []*commentdv1.AuditEvent {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	return []*commentdv1.AuditEvent{
		{
			Name: "auditEvents/e3", CreateTime: timestamppb.New(at.Add(2 * time.Hour)), Moderator: "alice",
			Action: commentdv1.AuditAction_AUDIT_ACTION_MARK_SPAM, Target: "comments/c7",
			FromState: commentdv1.State_STATE_PENDING, ToState: commentdv1.State_STATE_SPAM,
			Reason: "link farm\nwith a second line and much more text than fits in a column",
		},
		{
			Name: "auditEvents/e2", CreateTime: timestamppb.New(at.Add(time.Hour)), Moderator: "system",
			Action: commentdv1.AuditAction_AUDIT_ACTION_REPORT_TAKEDOWN, Target: "comments/c5",
			FromState: commentdv1.State_STATE_PUBLISHED, ToState: commentdv1.State_STATE_PENDING,
		},
		{
			Name: "auditEvents/e1", CreateTime: timestamppb.New(at), Moderator: "bob",
			Action: commentdv1.AuditAction_AUDIT_ACTION_BAN, Target: "bans/b1", Reason: "abusive",
		},
	}
}

func TestAuditRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		want  *commentdv1.ListAuditEventsRequest
		since time.Duration // expected start_time distance before now; 0: as in want
	}{
		{name: "no filters", args: []string{"audit"}, want: &commentdv1.ListAuditEventsRequest{}},
		{
			name: "every filter",
			args: []string{"audit", "--moderator", "alice", "--target", "comments/c1", "--since", "2026-03-01T00:00:00Z",
				"--until", "2026-03-02", "--limit", "5", "--page-token", "p2"},
			want: &commentdv1.ListAuditEventsRequest{
				Moderator: "alice", Target: "comments/c1", PageSize: 5, PageToken: "p2",
				StartTime: timestamppb.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)),
				EndTime:   timestamppb.New(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)),
			},
		},
		{
			// The id queue and show print: every other command takes it for comments/ID.
			name: "bare comment id",
			args: []string{"audit", "--target", "c1"},
			want: &commentdv1.ListAuditEventsRequest{Target: "comments/c1"},
		},
		{
			// Erasures, exports and the deletion of old spam name the collection itself.
			name: "the comments collection",
			args: []string{"audit", "--target", "comments"},
			want: &commentdv1.ListAuditEventsRequest{Target: "comments"},
		},
		{
			name: "a ban",
			args: []string{"audit", "--target", "bans/range-203.0.113.0-24"},
			want: &commentdv1.ListAuditEventsRequest{Target: "bans/range-203.0.113.0-24"},
		},
		{
			name:  "since a span back",
			args:  []string{"audit", "--since", "24h"},
			want:  &commentdv1.ListAuditEventsRequest{},
			since: 24 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &moderationDouble{auditFn: func(context.Context, *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
				return &commentdv1.ListAuditEventsResponse{}, nil
			}}
			args := withServer(serveDouble(t, d), tt.args...)
			d.checkOneRequest(t, args, "ListAuditEvents", tt.want, "start_time", tt.since)
		})
	}
}

func TestAuditTable(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{auditFn: func(context.Context, *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
		return &commentdv1.ListAuditEventsResponse{Events: auditEvents(), NextPageToken: "p2"}, nil
	}}
	args := withServer(serveDouble(t, d), "audit")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	want := "" +
		"TIME                  MODERATOR  ACTION           TARGET       FROM→TO            REASON\n" +
		"2026-03-01T11:30:00Z  alice      mark-spam        comments/c7  pending→spam       link farm with a second line and much m…\n" +
		"2026-03-01T10:30:00Z  system     report-takedown  comments/c5  published→pending  -\n" +
		"2026-03-01T09:30:00Z  bob        ban              bans/b1      -                  abusive\n"
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("%s: stdout mismatch (-want +got):\n%s", cmdline(args), diff)
	}
	if !strings.Contains(got.stderr, "--page-token p2") {
		t.Errorf("%s: stderr %q; want a hint with --page-token p2", cmdline(args), got.stderr)
	}
}

func TestAuditAllPagesJSON(t *testing.T) {
	t.Parallel()
	events := auditEvents()
	pages := map[string]*commentdv1.ListAuditEventsResponse{
		"":   {Events: events[:2], NextPageToken: "p2"},
		"p2": {Events: events[2:]},
	}
	d := &moderationDouble{auditFn: func(_ context.Context, req *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
		return pages[req.GetPageToken()], nil
	}}
	args := withServer(serveDouble(t, d), "audit", "--moderator", "alice", "--all", "-o", "json")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	var resp commentdv1.ListAuditEventsResponse
	if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
		t.Fatalf("%s: stdout %q is not a ListAuditEventsResponse: %v", cmdline(args), got.stdout, err)
	}
	if diff := cmp.Diff(&commentdv1.ListAuditEventsResponse{Events: events}, &resp, protocmp.Transform()); diff != "" {
		t.Errorf("%s: output mismatch (-want +got):\n%s", cmdline(args), diff)
	}
	want := []proto.Message{
		&commentdv1.ListAuditEventsRequest{Moderator: "alice", PageSize: maxPageSize},
		&commentdv1.ListAuditEventsRequest{Moderator: "alice", PageSize: maxPageSize, PageToken: "p2"},
	}
	if diff := cmp.Diff(want, d.requests("ListAuditEvents"), protocmp.Transform()); diff != "" {
		t.Errorf("%s: requests mismatch (-want +got):\n%s", cmdline(args), diff)
	}
}

func TestAuditErrors(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{auditFn: func(context.Context, *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
		return nil, statusErr(t, codes.PermissionDenied, "admins only", "PERMISSION_DENIED")
	}}
	addr := serveDouble(t, d)
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{name: "refused", args: []string{"audit"}, wantCode: exitError},
		{name: "bad since", args: []string{"audit", "--since", "yesterday"}, wantCode: exitUsage},
		{name: "bad until", args: []string{"audit", "--until", "soon"}, wantCode: exitUsage},
		{name: "until before since", args: []string{"audit", "--since", "2026-03-02", "--until", "2026-03-01"}, wantCode: exitUsage},
		{name: "limit too big", args: []string{"audit", "--limit", "501"}, wantCode: exitUsage},
		{name: "all with page token", args: []string{"audit", "--all", "--page-token", "p"}, wantCode: exitUsage},
		{name: "arguments", args: []string{"audit", "alice"}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(addr, tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != tt.wantCode {
				t.Errorf("%s: exit %d (stderr %q); want %d", cmdline(args), got.code, got.stderr, tt.wantCode)
			}
			if tt.wantCode == exitError && !strings.Contains(got.stderr, "PERMISSION_DENIED") {
				t.Errorf("%s: stderr %q; want the refusal's reason", cmdline(args), got.stderr)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(d.requests("ListAuditEvents")); n != 1 {
			t.Errorf("audit error cases made %d calls; want 1 (only the refused one)", n)
		}
	})
}

func TestAuditTarget(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"01HZX3K9", "comments/01HZX3K9"},
		{" comments/01HZX3K9 ", "comments/01HZX3K9"},
		{"comments", "comments"},
		{"spamModel", "spamModel"},
		{"spamModels/eval-1", "spamModels/eval-1"},
		{"bans/7", "bans/7"},
	} {
		if got := auditTarget(tt.in); got != tt.want {
			t.Errorf("auditTarget(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAuditNextPageHint checks that the command the next-page hint asks for is a valid next call:
// the server takes a page token only with the same filters, so a period given as a span back from
// now must come back as the same times, not be measured again.
func TestAuditNextPageHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{name: "since a span back", args: []string{"audit", "--since", "24h"}},
		{name: "since and until spans back", args: []string{"audit", "--since", "7d", "--until", "90m"}},
		{name: "since a date", args: []string{"audit", "--since", "2026-03-01"}},
		{name: "no period", args: []string{"audit", "--moderator", "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &moderationDouble{auditFn: func(context.Context, *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
				return &commentdv1.ListAuditEventsResponse{Events: auditEvents()[:1], NextPageToken: "p2"}, nil
			}}
			addr := serveDouble(t, d)
			args := withServer(addr, tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			hint := nextPageHint(t, args, got.stderr)

			next := append(args, strings.Fields(hint)...)
			if got := (invocation{args: next}).run(t); got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(next), got.code, got.stderr)
			}
			reqs := d.requests("ListAuditEvents")
			if len(reqs) != 2 {
				t.Fatalf("%s, then %s: %d ListAuditEvents calls; want 2", cmdline(args), cmdline(next), len(reqs))
			}
			want := proto.Clone(reqs[0]).(*commentdv1.ListAuditEventsRequest)
			want.PageToken = "p2"
			if diff := cmp.Diff(want, reqs[1], protocmp.Transform()); diff != "" {
				t.Errorf("%s after %s: request mismatch with the first page's (-want +got):\n%s", cmdline(next), cmdline(args), diff)
			}
		})
	}
}
