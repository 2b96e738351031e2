package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// bulkPageSize is how many comments the double returns per page, whatever the request says, so
// the tests cross page boundaries with few comments.
const bulkPageSize = 10

// bulkDouble lists n comments over pages of bulkPageSize and accepts every action, except on the
// names in fail, which it refuses with FAILED_PRECONDITION.
func bulkDouble(t *testing.T, n int, fail ...string) *moderationDouble {
	var all []*commentdv1.ModeratedComment
	for i := range n {
		id := fmt.Sprintf("b%02d", i)
		mc := moderated(id, "post-1", "Author", "a•••@example.com", "body "+id, time.Now().Add(-72*time.Hour))
		mc.Etag = listedETag(i)
		all = append(all, mc)
	}
	refuse := func(name string) error {
		if slices.Contains(fail, name) {
			return statusErr(t, codes.FailedPrecondition, "comment cannot change", "INVALID_TRANSITION")
		}
		return nil
	}
	done := func(name string) *commentdv1.ModeratedComment {
		return &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: name}}
	}
	d := &moderationDouble{}
	d.listQueue = func(_ context.Context, req *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
		start := 0
		if req.GetPageToken() != "" {
			if _, err := fmt.Sscanf(req.GetPageToken(), "from-%d", &start); err != nil {
				return nil, statusErr(t, codes.InvalidArgument, "bad page token", "INVALID_ARGUMENT")
			}
		}
		end := min(start+bulkPageSize, len(all))
		resp := &commentdv1.ListQueueResponse{Comments: all[start:end]}
		if end < len(all) {
			resp.NextPageToken = fmt.Sprintf("from-%d", end)
		}
		return resp, nil
	}
	d.approve = func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		if err := refuse(req.GetName()); err != nil {
			return nil, err
		}
		return &commentdv1.ApproveCommentResponse{Comment: done(req.GetName())}, nil
	}
	d.reject = func(_ context.Context, req *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
		if err := refuse(req.GetName()); err != nil {
			return nil, err
		}
		return &commentdv1.RejectCommentResponse{Comment: done(req.GetName())}, nil
	}
	d.markSpamFn = func(_ context.Context, req *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
		if err := refuse(req.GetName()); err != nil {
			return nil, err
		}
		return &commentdv1.MarkSpamResponse{Comment: done(req.GetName())}, nil
	}
	d.reopenFn = func(_ context.Context, req *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		if err := refuse(req.GetName()); err != nil {
			return nil, err
		}
		return &commentdv1.ReopenCommentResponse{Comment: done(req.GetName())}, nil
	}
	return d
}

// listedETag is the etag bulkDouble lists its comment i with.
func listedETag(i int) string { return fmt.Sprintf(`W/"%016x"`, i) }

// nameField is the "name" field of a request, the comment it acts on.
func nameField(m proto.Message) string {
	r := m.ProtoReflect()
	return r.Get(r.Descriptor().Fields().ByName("name")).String()
}

// actionNames returns the comment names of the calls to method, sorted.
func actionNames(d *moderationDouble, method string) []string {
	var names []string
	for _, r := range d.requests(method) {
		names = append(names, nameField(r))
	}
	slices.Sort(names)
	return names
}

func TestBulkDryRunMatchesRealRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		verb   string
		method string
	}{
		{verb: "approve", method: "ApproveComment"},
		{verb: "reject", method: "RejectComment"},
		{verb: "spam", method: "MarkSpam"},
		{verb: "reopen", method: "ReopenComment"},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			t.Parallel()
			d := bulkDouble(t, 23)
			addr := serveDouble(t, d)

			dry := withServer(addr, "bulk", tt.verb, "--thread", "post-1", "--dry-run", "-o", "json")
			got := invocation{args: dry}.runOK(t)
			var plan struct {
				Action   string            `json:"action"`
				Count    int               `json:"count"`
				Comments []json.RawMessage `json:"comments"`
			}
			if err := json.Unmarshal([]byte(got.stdout), &plan); err != nil {
				t.Fatalf("%s: stdout %q is not JSON: %v", cmdline(dry), got.stdout, err)
			}
			if plan.Action != tt.verb || plan.Count != 23 || len(plan.Comments) != 23 {
				t.Errorf("%s: action %q, count %d, %d comments; want %q, 23, 23", cmdline(dry), plan.Action, plan.Count, len(plan.Comments), tt.verb)
			}
			if n := len(d.requests(tt.method)); n != 0 {
				t.Errorf("%s: %d %s calls; want none in a dry run", cmdline(dry), n, tt.method)
			}

			real := withServer(addr, "bulk", tt.verb, "--thread", "post-1", "--yes", "--reason", "cleanup")
			got = invocation{args: real}.runOK(t)
			sent := actionNames(d, tt.method)
			if len(sent) != plan.Count {
				t.Errorf("%s: sent %d %s calls; the dry run counted %d", cmdline(real), len(sent), tt.method, plan.Count)
			}
			var want []string
			for i := range 23 {
				want = append(want, fmt.Sprintf("comments/b%02d", i))
			}
			if diff := cmp.Diff(want, sent); diff != "" {
				t.Errorf("%s: comments acted on mismatch (-want +got):\n%s", cmdline(real), diff)
			}
			for _, r := range d.requests(tt.method) {
				if reason := r.ProtoReflect().Get(r.ProtoReflect().Descriptor().Fields().ByName("reason")).String(); reason != "cleanup" {
					t.Errorf("%s: %s reason %q; want %q", cmdline(real), tt.method, reason, "cleanup")
				}
			}
			if !strings.Contains(got.stdout, " 23 of 23 comments") {
				t.Errorf("%s: stdout %q; want a summary of 23 of 23", cmdline(real), got.stdout)
			}
			// The server claims a reopened comment for the moderator; bulk gives each back.
			if tt.verb == "reopen" {
				var released []string
				for _, r := range d.requests("ReleaseComments") {
					released = append(released, r.(*commentdv1.ReleaseCommentsRequest).GetNames()...)
				}
				slices.Sort(released)
				if diff := cmp.Diff(want, released); diff != "" {
					t.Errorf("%s: comments given back to the queue mismatch (-want +got):\n%s", cmdline(real), diff)
				}
			} else if n := len(d.requests("ReleaseComments")); n != 0 {
				t.Errorf("%s: %d ReleaseComments calls; want none", cmdline(real), n)
			}
			// Both runs listed every page: three per run.
			if n := len(d.requests("ListQueue")); n != 6 {
				t.Errorf("dry and real run: %d ListQueue calls; want 6 (three pages each)", n)
			}
		})
	}
}

// TestBulkReopenReleasesInGroups: the server claims each reopened comment for the moderator, and
// bulk reopen gives the claims back in ReleaseComments calls of at most 50 names (its limit), not
// one call per comment; a failed release does not fail the command.
func TestBulkReopenReleasesInGroups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		comments     int
		refused      []string // names whose ReopenComment fails
		releaseFails bool
		wantReleases int // ReleaseComments calls
		wantStdout   string
		wantCode     int
	}{
		{name: "200 reopens", comments: 200, wantReleases: 4, wantStdout: "Reopened 200 of 200 comments.\n"},
		{name: "fewer than a group", comments: 7, wantReleases: 1, wantStdout: "Reopened 7 of 7 comments.\n"},
		{name: "refused ones not released", comments: 52, refused: []string{"comments/b03", "comments/b40"}, wantReleases: 1,
			wantStdout: "Reopened 50 of 52 comments; 2 failed (listed on stderr).\n", wantCode: exitError},
		{name: "failed releases", comments: 120, releaseFails: true, wantReleases: 3, wantStdout: "Reopened 120 of 120 comments.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := bulkDouble(t, tt.comments, tt.refused...)
			if tt.releaseFails {
				d.releaseFn = func(context.Context, *commentdv1.ReleaseCommentsRequest) (*commentdv1.ReleaseCommentsResponse, error) {
					return nil, statusErr(t, codes.Unavailable, "the store is unavailable", "STORE_UNAVAILABLE")
				}
			}
			args := withServer(serveDouble(t, d), "bulk", "reopen", "--yes")
			got := invocation{args: args}.run(t)
			if got.code != tt.wantCode || got.stdout != tt.wantStdout {
				t.Errorf("%s: exit %d, stdout %q; want %d, %q", cmdline(args), got.code, got.stdout, tt.wantCode, tt.wantStdout)
			}
			if n := len(d.requests("ReopenComment")); n != tt.comments {
				t.Errorf("%s: %d ReopenComment calls; want %d", cmdline(args), n, tt.comments)
			}
			calls := d.requests("ReleaseComments")
			var released []string
			for _, r := range calls {
				names := r.(*commentdv1.ReleaseCommentsRequest).GetNames()
				if len(names) == 0 || len(names) > 50 {
					t.Errorf("%s: a ReleaseComments call with %d names; want 1 to 50", cmdline(args), len(names))
				}
				released = append(released, names...)
			}
			if len(calls) != tt.wantReleases {
				t.Errorf("%s: %d ReleaseComments calls for %d reopened comments; want %d", cmdline(args), len(calls), tt.comments-len(tt.refused), tt.wantReleases)
			}
			var want []string
			for i := range tt.comments {
				if name := fmt.Sprintf("comments/b%02d", i); !slices.Contains(tt.refused, name) {
					want = append(want, name)
				}
			}
			slices.Sort(want)
			slices.Sort(released)
			if diff := cmp.Diff(want, released); diff != "" {
				t.Errorf("%s: comments given back to the queue mismatch (-want +got):\n%s", cmdline(args), diff)
			}
		})
	}
}

func TestBulkListRequest(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name      string
		args      []string
		want      *commentdv1.ListQueueRequest
		olderThan time.Duration // expected distance of max_create_time before now; 0: as in want (unset)
	}{
		{
			name: "approve defaults to pending",
			args: []string{"bulk", "approve"},
			want: &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, PageSize: 500},
		},
		{
			name: "reopen defaults to rejected",
			args: []string{"bulk", "reopen"},
			want: &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_REJECTED, PageSize: 500},
		},
		{
			name: "every filter",
			args: []string{"bulk", "reject", "--state", "spam", "--thread", "post-1", "--author", "ak_1", "--older-than", "48h",
				"--score-above", "0.5", "--score-below", "0.9", "--reason-code", "TOO_MANY_LINKS"},
			want: &commentdv1.ListQueueRequest{
				State: commentdv1.State_STATE_SPAM, ThreadId: "post-1", AuthorKey: "ak_1", PageSize: 500,
				MinSpamScore: f(0.5), MaxSpamScore: f(0.9), ReasonCode: "TOO_MANY_LINKS",
			},
			olderThan: 48 * time.Hour,
		},
		{
			name: "reason code in lower case",
			args: []string{"bulk", "approve", "--reason-code", " reported "},
			want: &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, PageSize: 500, ReasonCode: "REPORTED"},
		},
		{
			name:      "older than in days, zero score bound kept",
			args:      []string{"bulk", "spam", "--older-than", "7d", "--score-above", "0"},
			want:      &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, PageSize: 500, MinSpamScore: f(0)},
			olderThan: 7 * 24 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := bulkDouble(t, 0)
			args := withServer(serveDouble(t, d), append(tt.args, "--dry-run")...)
			got, _ := d.checkOneRequest(t, args, "ListQueue", tt.want, "max_create_time", tt.olderThan)
			if !strings.Contains(got.stdout, "would change 0 comments") {
				t.Errorf("%s: stdout %q; want the count of 0", cmdline(args), got.stdout)
			}
		})
	}
}

func TestBulkDryRunTable(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 12)
	args := withServer(serveDouble(t, d), "bulk", "approve", "--dry-run")
	got := invocation{args: args}.runOK(t)
	out := lines(got.stdout)
	// The count, "The first 10:", the header and 10 rows.
	if len(out) != 13 || out[0] != "Dry run: bulk approve would change 12 comments." || out[1] != "The first 10:" || !strings.HasPrefix(out[2], "ID ") {
		t.Errorf("%s: stdout:\n%s\nwant the count, then the first 10 in a queue table", cmdline(args), got.stdout)
	}
}

func TestBulkFailures(t *testing.T) {
	t.Parallel()
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			d := bulkDouble(t, 5, "comments/b01", "comments/b03")
			args := withServer(serveDouble(t, d), "bulk", "approve", "--yes", "-o", output)
			got := invocation{args: args}.run(t)
			if got.code != exitError {
				t.Errorf("%s with 2 refusals: exit %d; want %d", cmdline(args), got.code, exitError)
			}
			if n := len(d.requests("ApproveComment")); n != 5 {
				t.Errorf("%s: %d ApproveComment calls; want all 5 tried", cmdline(args), n)
			}
			if output == "json" {
				var out []struct {
					Name  string
					OK    bool
					Error *struct{ Code, Reason string }
				}
				if err := json.Unmarshal([]byte(got.stdout), &out); err != nil {
					t.Fatalf("%s: stdout %q is not a JSON array: %v", cmdline(args), got.stdout, err)
				}
				var failed []string
				for _, r := range out {
					if !r.OK {
						failed = append(failed, r.Name)
						if r.Error == nil || r.Error.Code != "FAILED_PRECONDITION" || r.Error.Reason != "INVALID_TRANSITION" {
							t.Errorf("%s: result for %s has error %+v; want FAILED_PRECONDITION, INVALID_TRANSITION", cmdline(args), r.Name, r.Error)
						}
					}
				}
				if diff := cmp.Diff([]string{"comments/b01", "comments/b03"}, failed); diff != "" || len(out) != 5 {
					t.Errorf("%s: %d results, failed ones mismatch (-want +got):\n%s", cmdline(args), len(out), diff)
				}
				return
			}
			if got.stdout != "Approved 3 of 5 comments; 2 failed (listed on stderr).\n" {
				t.Errorf("%s: stdout %q; want the summary of 3 of 5", cmdline(args), got.stdout)
			}
			for _, name := range []string{"comments/b01: ", "comments/b03: "} {
				if !strings.Contains(got.stderr, name) || !strings.Contains(got.stderr, "INVALID_TRANSITION") {
					t.Errorf("%s: stderr %q; want a line for %s with its reason", cmdline(args), got.stderr, name)
				}
			}
		})
	}
}

// TestBulkLeavesCommentsDecidedMeanwhile: a listed comment that another moderator decided before
// its turn came is left alone and reported, not decided again over their decision.
// A comment decided by another moderator between the listing and its turn is left alone by the
// server: bulk sends each decision with the etag the listing showed (and reads nothing again
// itself), the server refuses the one whose etag changed, and that line says so.
func TestBulkLeavesCommentsDecidedMeanwhile(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 4)
	listed := d.reject
	d.reject = func(ctx context.Context, req *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
		if req.GetName() == "comments/b02" && req.GetEtag() != `W/"approved-by-bert"` {
			return nil, statusErr(t, codes.Aborted, "the comment changed since its etag was read (it is STATE_PUBLISHED now, last decided by bert); nothing was changed", "ETAG_MISMATCH")
		}
		return listed(ctx, req)
	}
	args := withServer(serveDouble(t, d), "bulk", "reject", "--yes")
	got := invocation{args: args}.run(t)
	if got.code != exitError {
		t.Errorf("%s with one comment approved meanwhile: exit %d; want %d", cmdline(args), got.code, exitError)
	}
	var etags []string
	for _, r := range d.requests("RejectComment") {
		etags = append(etags, r.(*commentdv1.RejectCommentRequest).GetEtag())
	}
	slices.Sort(etags)
	if diff := cmp.Diff([]string{listedETag(0), listedETag(1), listedETag(2), listedETag(3)}, etags); diff != "" {
		t.Errorf("%s: RejectComment etags (-listed +sent):\n%s", cmdline(args), diff)
	}
	if n := len(d.requests("GetComment")); n != 0 {
		t.Errorf("%s: %d GetComment calls; want none, the server checks the etag", cmdline(args), n)
	}
	if want := "comments/b02: the comment changed since its etag was read (it is STATE_PUBLISHED now, last decided by bert); nothing was changed (ABORTED, ETAG_MISMATCH)"; !slices.Contains(lines(got.stderr), want) {
		t.Errorf("%s: stderr %q; want the line %q", cmdline(args), got.stderr, want)
	}
	if got.stdout != "Rejected 3 of 4 comments; 1 failed (listed on stderr).\n" {
		t.Errorf("%s: stdout %q; want the summary of 3 of 4", cmdline(args), got.stdout)
	}
}

func TestBulkProgressLines(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 20)
	args := withServer(serveDouble(t, d), "bulk", "reject", "--yes")
	got := invocation{args: args}.runOK(t)
	// stderr is not a terminal: one line at every tenth of the work, the last one complete.
	out := lines(got.stderr)
	if len(out) != 10 || out[len(out)-1] != "bulk reject: 20/20 done, 0 failed" {
		t.Errorf("%s: stderr:\n%s\nwant 10 progress lines ending in 20/20", cmdline(args), got.stderr)
	}
	if strings.Contains(got.stderr, "\r") {
		t.Errorf("%s: stderr redraws a bar (\\r) though it is not a terminal: %q", cmdline(args), got.stderr)
	}
}

func TestBulkConcurrencyBound(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 30)
	var mu sync.Mutex
	inFlight, most := 0, 0
	d.markSpamFn = func(_ context.Context, req *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return &commentdv1.MarkSpamResponse{}, nil
	}
	args := withServer(serveDouble(t, d), "bulk", "spam", "--yes")
	invocation{args: args}.runOK(t)
	mu.Lock()
	defer mu.Unlock()
	if most > bulkConcurrency || most < 2 {
		t.Errorf("%s: at most %d calls in flight; want 2 to %d", cmdline(args), most, bulkConcurrency)
	}
}

func TestBulkSendsNothingOnceCancelled(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 0)
	client := dialDouble(t, serveDouble(t, d))
	c := &cli{stderr: io.Discard, timeout: 10 * time.Second}
	// Ctrl-C before the first call, as while the confirmation question waits: every slot is free.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	items := make([]bulkItem, 40)
	for i := range items {
		items[i] = bulkItem{name: fmt.Sprintf("comments/b%02d", i), etag: listedETag(i)}
	}
	var approve bulkVerb
	for _, v := range bulkVerbs() {
		if v.name == "approve" {
			approve = v
		}
	}
	results := c.bulkApply(ctx, client, approve, items, "")
	if n := len(d.requests("ApproveComment")); n != 0 {
		t.Errorf("bulkApply(cancelled context, %d comments) sent %d ApproveComment calls; want none", len(items), n)
	}
	for _, r := range results {
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("bulkApply(cancelled context): result for %s = %v; want not sent, context.Canceled", r.name, r.err)
		}
	}
}

func TestBulkNothingMatches(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 0)
	args := withServer(serveDouble(t, d), "bulk", "approve", "--yes")
	got := invocation{args: args}.run(t)
	if got.code != exitOK || got.stdout != "No comments match; nothing to do.\n" {
		t.Errorf("%s: exit %d, stdout %q; want 0 and the nothing-to-do line", cmdline(args), got.code, got.stdout)
	}
}

func TestBulkListFailure(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{}
	d.listQueue = func(context.Context, *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
		return nil, statusErr(t, codes.PermissionDenied, "not a moderator", "PERMISSION_DENIED")
	}
	args := withServer(serveDouble(t, d), "bulk", "approve", "--yes")
	got := invocation{args: args}.run(t)
	if got.code != exitError || !strings.Contains(got.stderr, "PERMISSION_DENIED") {
		t.Errorf("%s: exit %d, stderr %q; want 1 and the reason", cmdline(args), got.code, got.stderr)
	}
	if n := len(d.requests("ApproveComment")); n != 0 {
		t.Errorf("%s: %d approvals after the listing failed; want none", cmdline(args), n)
	}
}

func TestBulkUsage(t *testing.T) {
	t.Parallel()
	d := bulkDouble(t, 3)
	addr := serveDouble(t, d)
	tests := []usageCase{
		{name: "no verb", args: []string{"bulk"}},
		{name: "unknown verb", args: []string{"bulk", "delete"}},
		{name: "arguments", args: []string{"bulk", "approve", "c1", "--yes"}},
		{name: "reject rejected", args: []string{"bulk", "reject", "--state", "rejected", "--yes"}},
		{name: "spam spam", args: []string{"bulk", "spam", "--state", "spam", "--yes"}},
		{name: "reopen pending", args: []string{"bulk", "reopen", "--state", "pending", "--yes"}},
		{name: "unknown state", args: []string{"bulk", "approve", "--state", "published", "--yes"}},
		{name: "score above one", args: []string{"bulk", "approve", "--score-above", "1.5", "--yes"}},
		{name: "score below zero", args: []string{"bulk", "approve", "--score-below", "-0.1", "--yes"}},
		{name: "empty score range", args: []string{"bulk", "approve", "--score-above", "0.8", "--score-below", "0.2", "--yes"}},
		{name: "bad older-than", args: []string{"bulk", "approve", "--older-than", "soon", "--yes"}},
		// The server lists nothing for a code no check sets: the run would end "nothing to do".
		{name: "misspelt reason code", args: []string{"bulk", "reject", "--reason-code", "TOO_MANY_LINK", "--yes"}},
		{name: "reason code of no check", args: []string{"bulk", "spam", "--reason-code", "LINKS", "--yes"}},
		{name: "reason code not a code", args: []string{"bulk", "approve", "--reason-code", "too many links", "--yes"}},
		{name: "queue, misspelt reason code", args: []string{"queue", "--reason-code", "REPORT"}},
		// The test's stdin is not a terminal: without --yes there is nobody to ask.
		{name: "no confirmation", args: []string{"bulk", "approve"}},
	}
	checkUsageErrors(t, d, addr, "bulk", tests)
}

func TestParseSpanAndWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		span    time.Duration
		spanErr bool
		when    time.Time
		whenErr bool
	}{
		{in: "48h", span: 48 * time.Hour, when: now.Add(-48 * time.Hour)},
		{in: "7d", span: 7 * 24 * time.Hour, when: now.Add(-7 * 24 * time.Hour)},
		{in: "90m", span: 90 * time.Minute, when: now.Add(-90 * time.Minute)},
		{in: "2026-03-01", spanErr: true, when: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-03-01T09:30:00+01:00", spanErr: true, when: time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)},
		{in: "-1h", spanErr: true, whenErr: true},
		{in: "xd", spanErr: true, whenErr: true},
		{in: "soon", spanErr: true, whenErr: true},
	}
	for _, tt := range tests {
		span, err := parseSpan(tt.in)
		if (err != nil) != tt.spanErr || (!tt.spanErr && span != tt.span) {
			t.Errorf("parseSpan(%q) = %s, %v; want %s, error %v", tt.in, span, err, tt.span, tt.spanErr)
		}
		when, err := parseWhen(tt.in, now)
		if (err != nil) != tt.whenErr || (!tt.whenErr && !when.Equal(tt.when)) {
			t.Errorf("parseWhen(%q) = %s, %v; want %s, error %v", tt.in, when, err, tt.when, tt.whenErr)
		}
	}
}
