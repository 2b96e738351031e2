package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// guardDouble holds two comments: comments/a pending, never decided; comments/b published by bert.
// Like the server, it refuses a decision whose etag is set and not the comment's.
func guardDouble(t *testing.T) *moderationDouble {
	comments := map[string]*commentdv1.ModeratedComment{
		"comments/a": {Comment: &commentdv1.Comment{Name: "comments/a", State: commentdv1.State_STATE_PENDING}, Etag: `W/"000000000000000a"`},
		"comments/b": {Comment: &commentdv1.Comment{Name: "comments/b", State: commentdv1.State_STATE_PUBLISHED}, Etag: `W/"000000000000000b"`,
			Decision: &commentdv1.Decision{Moderator: "bert", ToState: commentdv1.State_STATE_PUBLISHED}},
	}
	check := func(name, etag string) (*commentdv1.ModeratedComment, error) {
		mc, ok := comments[name]
		switch {
		case !ok:
			return nil, statusErr(t, codes.NotFound, "comment not found", "COMMENT_NOT_FOUND")
		case etag != "" && etag != mc.GetEtag():
			return nil, statusErr(t, codes.Aborted, "the comment changed since its etag was read", "ETAG_MISMATCH")
		}
		return mc, nil
	}
	d := &moderationDouble{}
	d.getComment = func(_ context.Context, r *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
		mc, err := check(r.GetName(), "")
		return &commentdv1.ModerationServiceGetCommentResponse{Comment: mc}, err
	}
	d.approve = func(_ context.Context, r *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		mc, err := check(r.GetName(), r.GetEtag())
		return &commentdv1.ApproveCommentResponse{Comment: mc}, err
	}
	d.reject = func(_ context.Context, r *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
		mc, err := check(r.GetName(), r.GetEtag())
		return &commentdv1.RejectCommentResponse{Comment: mc}, err
	}
	d.markSpamFn = func(_ context.Context, r *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
		mc, err := check(r.GetName(), r.GetEtag())
		return &commentdv1.MarkSpamResponse{Comment: mc}, err
	}
	d.notSpamFn = func(_ context.Context, r *commentdv1.MarkNotSpamRequest) (*commentdv1.MarkNotSpamResponse, error) {
		mc, err := check(r.GetName(), r.GetEtag())
		return &commentdv1.MarkNotSpamResponse{Comment: mc}, err
	}
	d.reopenFn = func(_ context.Context, r *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		mc, err := check(r.GetName(), r.GetEtag())
		return &commentdv1.ReopenCommentResponse{Comment: mc}, err
	}
	return d
}

// --etag and --if-state send the etag that keeps a decision from overturning one taken since the
// moderator looked; without them the decision goes without one, as before.
func TestDecideGuard(t *testing.T) {
	t.Parallel()
	const etagA = `W/"000000000000000a"`
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantReqs   []proto.Message // the decisions sent, sorted by name
		wantGets   int             // GetComment calls
		wantStdout string
		wantStderr string
	}{
		{
			name:       "no flag: no etag",
			args:       []string{"approve", "a", "b"},
			wantReqs:   []proto.Message{&commentdv1.ApproveCommentRequest{Name: "comments/a"}, &commentdv1.ApproveCommentRequest{Name: "comments/b"}},
			wantStdout: "comments/a: approved\ncomments/b: approved\n",
		},
		{
			name:       "etag as shown",
			args:       []string{"approve", "--etag", etagA, "a"},
			wantReqs:   []proto.Message{&commentdv1.ApproveCommentRequest{Name: "comments/a", Etag: etagA}},
			wantStdout: "comments/a: approved\n",
		},
		{
			name:       "etag whose quotes the shell took",
			args:       []string{"spam", "--etag", "W/000000000000000a", "a"},
			wantReqs:   []proto.Message{&commentdv1.MarkSpamRequest{Name: "comments/a", Etag: etagA}},
			wantStdout: "comments/a: marked spam\n",
		},
		{
			name:       "bare etag",
			args:       []string{"not-spam", "--etag", "000000000000000a", "a"},
			wantReqs:   []proto.Message{&commentdv1.MarkNotSpamRequest{Name: "comments/a", Etag: etagA}},
			wantStdout: "comments/a: marked not spam\n",
		},
		{
			name:       "stale etag: refused by the server",
			args:       []string{"reopen", "--etag", etagA, "b"},
			wantCode:   exitError,
			wantReqs:   []proto.Message{&commentdv1.ReopenCommentRequest{Name: "comments/b", Etag: etagA}},
			wantStderr: "comments/b: the comment changed since its etag was read (ABORTED, ETAG_MISMATCH)\ncommentctl: reopen: 1 of 1 failed\n",
		},
		{
			name:       "if-state: each read first, the one in another state left alone",
			args:       []string{"reject", "--if-state", "pending", "a", "b"},
			wantCode:   exitError,
			wantReqs:   []proto.Message{&commentdv1.RejectCommentRequest{Name: "comments/a", Etag: etagA}},
			wantGets:   2,
			wantStdout: "comments/a: rejected\n",
			wantStderr: "comments/b: left alone: it is published now, not pending, last decided by bert (FAILED_PRECONDITION)\ncommentctl: reject: 1 of 2 failed\n",
		},
		{
			name:       "if-state published",
			args:       []string{"reopen", "--if-state", "published", "b"},
			wantReqs:   []proto.Message{&commentdv1.ReopenCommentRequest{Name: "comments/b", Etag: `W/"000000000000000b"`}},
			wantGets:   1,
			wantStdout: "comments/b: reopened\n",
		},
		{name: "etag for two comments", args: []string{"approve", "--etag", etagA, "a", "b"}, wantCode: exitUsage},
		{name: "etag and if-state", args: []string{"approve", "--etag", etagA, "--if-state", "pending", "a"}, wantCode: exitUsage},
		{name: "unknown state", args: []string{"approve", "--if-state", "held", "a"}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := guardDouble(t)
			args := withServer(serveDouble(t, d), tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != tt.wantCode {
				t.Fatalf("%s: exit %d; want %d (stderr %q)", cmdline(args), got.code, tt.wantCode, got.stderr)
			}
			var reqs []proto.Message
			gets := 0
			for _, c := range d.recorded() {
				if c.method == "GetComment" {
					gets++
				} else {
					reqs = append(reqs, c.req)
				}
			}
			slices.SortFunc(reqs, func(a, b proto.Message) int { return strings.Compare(nameOf(a), nameOf(b)) })
			if diff := cmp.Diff(tt.wantReqs, reqs, protocmp.Transform()); diff != "" {
				t.Errorf("%s: decisions sent (-want +got):\n%s", cmdline(args), diff)
			}
			if gets != tt.wantGets {
				t.Errorf("%s: %d GetComment calls; want %d", cmdline(args), gets, tt.wantGets)
			}
			if tt.wantCode == exitUsage {
				return
			}
			if got.stdout != tt.wantStdout || got.stderr != tt.wantStderr {
				t.Errorf("%s: stdout %q, stderr %q; want %q, %q", cmdline(args), got.stdout, got.stderr, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

// TestDecideExampleGuardsAStateTheDecisionChanges: the --if-state example of approve, reject and
// reopen names a state the command takes a comment out of. "reopen --if-state pending" did
// nothing to any comment: a pending comment is where reopen puts it ("pending already; nothing
// changed"), and a comment in any other state is left alone by the guard.
func TestDecideExampleGuardsAStateTheDecisionChanges(t *testing.T) {
	for _, tc := range []struct {
		verb   string
		target string // the state the decision puts a comment in
	}{
		{"approve", "published"},
		{"reject", "rejected"},
		{"reopen", "pending"},
	} {
		t.Run(tc.verb, func(t *testing.T) {
			got := invocation{args: []string{tc.verb, "--help"}}.run(t)
			_, examples, _ := strings.Cut(got.stdout, "Examples:\n")
			examples, _, _ = strings.Cut(examples, "\n\n")
			found := false
			for _, ex := range exampleCommands(examples) {
				if i := slices.Index(ex, "--if-state"); i >= 0 && i+1 < len(ex) {
					found = true
					if ex[i+1] == tc.target {
						t.Errorf("%s --help: example %s guards on %s, the state %s puts a comment in: it changes nothing", tc.verb, cmdline(ex), tc.target, tc.verb)
					}
				}
			}
			if !found {
				t.Errorf("%s --help: no example with --if-state STATE:\n%s", tc.verb, examples)
			}
		})
	}
}
