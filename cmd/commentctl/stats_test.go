package main

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func statsResponse() *commentdv1.GetStatsResponse {
	return &commentdv1.GetStatsResponse{
		Queue: []*commentdv1.StateCount{
			{State: commentdv1.State_STATE_PENDING, Count: 12},
			{State: commentdv1.State_STATE_REJECTED, Count: 340},
			{State: commentdv1.State_STATE_SPAM, Count: 7},
		},
		Moderators: []*commentdv1.ModeratorStats{
			{Moderator: "alice", Approved: 120, Rejected: 30, MarkedSpam: 12, Other: 3},
			{Moderator: "bob", Approved: 5},
		},
		Days: []*commentdv1.DailyStats{
			{Date: "2026-02-27", Submitted: 200, Spam: 50},
			{Date: "2026-02-28", Submitted: 0},
			{Date: "2026-03-01", Submitted: 1000, Spam: 1},
		},
	}
}

func TestStatsTable(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{statsFn: func(context.Context, *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error) {
		return statsResponse(), nil
	}}
	args := withServer(serveDouble(t, d), "stats", "--days", "3")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	want := "" +
		"Queue\n" +
		"STATE     COMMENTS\n" +
		"pending   12\n" +
		"rejected  340\n" +
		"spam      7\n" +
		"\n" +
		"Decisions in the last 3 days\n" +
		"MODERATOR  APPROVED  REJECTED  SPAM  OTHER  TOTAL\n" +
		"alice      120       30        12    3      165\n" +
		"bob        5         0         0     0      5\n" +
		"\n" +
		"Spam share per day (UTC)\n" +
		"DATE        SUBMITTED  SPAM  SHARE\n" +
		"2026-02-27  200        50      25%  █████···············\n" +
		"2026-02-28  0          0         -\n" +
		"2026-03-01  1000       1       <1%  █···················\n"
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("%s: stdout mismatch (-want +got):\n%s", cmdline(args), diff)
	}
	if diff := cmp.Diff([]proto.Message{&commentdv1.GetStatsRequest{Days: 3}}, d.requests("GetStats"), protocmp.Transform()); diff != "" {
		t.Errorf("%s: GetStats requests mismatch (-want +got):\n%s", cmdline(args), diff)
	}
}

func TestStatsJSON(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{statsFn: func(context.Context, *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error) {
		return statsResponse(), nil
	}}
	args := withServer(serveDouble(t, d), "stats", "-o", "json")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	var resp commentdv1.GetStatsResponse
	if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
		t.Fatalf("%s: stdout %q is not a GetStatsResponse: %v", cmdline(args), got.stdout, err)
	}
	if diff := cmp.Diff(statsResponse(), &resp, protocmp.Transform()); diff != "" {
		t.Errorf("%s: output mismatch (-want +got):\n%s", cmdline(args), diff)
	}
	// Without --days the server picks its default.
	if diff := cmp.Diff([]proto.Message{&commentdv1.GetStatsRequest{}}, d.requests("GetStats"), protocmp.Transform()); diff != "" {
		t.Errorf("%s: GetStats requests mismatch (-want +got):\n%s", cmdline(args), diff)
	}
}

func TestStatsErrors(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{statsFn: func(context.Context, *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error) {
		return nil, statusErr(t, codes.Unavailable, "redis unavailable", "UNAVAILABLE")
	}}
	addr := serveDouble(t, d)
	tests := []struct {
		args     []string
		wantCode int
	}{
		{args: []string{"stats"}, wantCode: exitError},
		{args: []string{"stats", "--days", "91"}, wantCode: exitUsage},
		{args: []string{"stats", "--days", "-1"}, wantCode: exitUsage},
		{args: []string{"stats", "today"}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		args := withServer(addr, tt.args...)
		got := invocation{args: args}.run(t)
		if got.code != tt.wantCode {
			t.Errorf("%s: exit %d (stderr %q); want %d", cmdline(args), got.code, got.stderr, tt.wantCode)
		}
	}
	if n := len(d.requests("GetStats")); n != 1 {
		t.Errorf("stats error cases made %d calls; want 1", n)
	}
}

func TestShareBar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{0, "····················"},
		{0.001, "█···················"}, // a little spam is never drawn as none
		{0.5, "██████████··········"},
		{1, "████████████████████"},
		{1.7, "████████████████████"},
	}
	for _, tt := range tests {
		if got := shareBar(tt.in); got != tt.want {
			t.Errorf("shareBar(%g) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestShareText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spam, submitted int64
		want            string
	}{
		{0, 10, "0%"},
		{1, 1000, "<1%"},
		{5, 1000, "1%"}, // 0.5% rounds up
		{1, 4, "25%"},
		{999, 1000, ">99%"},
		{1000, 1000, "100%"},
	}
	for _, tt := range tests {
		if got := shareText(tt.spam, tt.submitted); got != tt.want {
			t.Errorf("shareText(%d, %d) = %q; want %q", tt.spam, tt.submitted, got, tt.want)
		}
	}
}
