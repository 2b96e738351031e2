package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func TestCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shell string
		want  string // a line only that shell's script has
	}{
		{shell: "bash", want: "__start_commentctl"},
		{shell: "zsh", want: "#compdef commentctl"},
		{shell: "fish", want: "complete -c commentctl"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			t.Parallel()
			// No server and no token: completion must need neither.
			args := []string{"completion", tt.shell}
			got := invocation{args: args}.run(t)
			if got.code != exitOK || !strings.Contains(got.stdout, tt.want) {
				t.Errorf("%s: exit %d, %d bytes of stdout; want 0 and a script with %q", cmdline(args), got.code, len(got.stdout), tt.want)
			}
		})
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		got := invocation{args: args}.run(t)
		if got.code != exitUsage {
			t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitUsage)
		}
	}
}

// TestCompletionValues asks the completion engine, as the shell scripts do, for flag values.
func TestCompletionValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{args: []string{"__complete", "watch", "--kinds", ""}, want: []string{"held", "reported", "spam", "decided"}},
		{args: []string{"__complete", "watch", "--kinds", "held,"}, want: []string{"held,reported", "held,spam", "held,decided"}},
		{args: []string{"__complete", "watch", "--kinds", "held,spam,r"}, want: []string{"held,spam,reported", "held,spam,decided"}},
		{args: []string{"__complete", "review", "--state", ""}, want: []string{"pending", "spam"}},
		{args: []string{"__complete", "bulk", "reopen", "--state", ""}, want: []string{"rejected", "spam"}},
		{args: []string{"__complete", "queue", "--state", ""}, want: []string{"pending", "rejected", "spam"}},
		{args: []string{"__complete", "thread", "set", "t1", "--mode", ""}, want: []string{"pre", "post", "default"}},
		{args: []string{"__complete", "completion", ""}, want: []string{"bash", "zsh", "fish"}},
		{args: []string{"__complete", "filters", "add", "--list", ""}, want: []string{"hold", "spam"}},
		{args: []string{"__complete", "filters", "add", "--kind", ""}, want: []string{"word", "phrase", "domain", "email", "ip", "regex"}},
		{args: []string{"__complete", "filters", "list", "--list", ""}, want: []string{"hold", "spam"}},
		{args: []string{"__complete", "keygen", "--role", ""}, want: []string{"site", "moderator", "admin"}},
		{args: []string{"__complete", "queue", "-o", ""}, want: []string{"table", "json"}},
	}
	for _, tt := range tests {
		got := invocation{args: tt.args}.run(t)
		var values []string
		for _, l := range lines(got.stdout) {
			if !strings.HasPrefix(l, ":") { // the last line is the directive
				values = append(values, l)
			}
		}
		if diff := cmp.Diff(tt.want, values); diff != "" || got.code != exitOK {
			t.Errorf("%s: exit %d, completions mismatch (-want +got):\n%s", cmdline(tt.args), got.code, diff)
		}
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	// c3 waits in the queue already: the server reopens nothing and says so.
	d := &moderationDouble{reopenFn: func(_ context.Context, req *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		return &commentdv1.ReopenCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{
			Name: req.GetName(), State: commentdv1.State_STATE_PENDING,
		}}, AlreadyPending: req.GetName() == "comments/c3"}, nil
	}}
	args := withServer(serveDouble(t, d), "reopen", "c1", "comments/c2", "c3", "--reason", "mistake")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	if want := "comments/c1: reopened\ncomments/c2: reopened\ncomments/c3: pending already; nothing changed\n"; got.stdout != want {
		t.Errorf("%s: stdout %q; want %q", cmdline(args), got.stdout, want)
	}
	jsonArgs := append(slices.Clone(args), "-o", "json")
	var results []struct {
		Name      string `json:"name"`
		OK        bool   `json:"ok"`
		Unchanged bool   `json:"unchanged"`
	}
	if got := (invocation{args: jsonArgs}).run(t); got.code != exitOK || json.Unmarshal([]byte(got.stdout), &results) != nil ||
		len(results) != 3 || results[0].Unchanged || results[1].Unchanged || !results[2].Unchanged || !results[2].OK {
		t.Errorf("%s: exit %d, stdout %q; want three results, only the third unchanged", cmdline(jsonArgs), got.code, got.stdout)
	}
	if diff := cmp.Diff([]string{"comments/c1", "comments/c1", "comments/c2", "comments/c2", "comments/c3", "comments/c3"}, actionNames(d, "ReopenComment")); diff != "" {
		t.Errorf("%s: reopened comments mismatch (-want +got):\n%s", cmdline(args), diff)
	}
	for _, r := range d.requests("ReopenComment") {
		if reason := r.(*commentdv1.ReopenCommentRequest).GetReason(); reason != "mistake" {
			t.Errorf("%s: ReopenComment reason %q; want %q", cmdline(args), reason, "mistake")
		}
	}
}
