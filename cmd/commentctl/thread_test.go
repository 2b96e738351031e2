package main

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestThreadSetStaleETag: thread set --etag on a thread that changed since prints the server's
// refusal on one line of stderr, nothing on stdout, and exits 1, as approve --etag does.
func TestThreadSetStaleETag(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{updateThread: func(context.Context, *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error) {
		return nil, statusErr(t, codes.Aborted, "the thread changed since its etag was read (it is closed by a moderator now, mode MODERATION_MODE_UNSPECIFIED); nothing was changed", "ETAG_MISMATCH")
	}}
	args := withServer(serve(t, f), "thread", "set", "post-1", "--mode", "pre", "--etag", `W/"3f2a9c0d41b7e865"`)
	got := invocation{args: args}.run(t)
	if got.code != exitError {
		t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitError)
	}
	if got.stdout != "" {
		t.Errorf("%s: stdout %q; want nothing", cmdline(args), got.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "threads/post-1") || !strings.Contains(lines[0], "the thread changed since its etag was read") ||
		!strings.Contains(lines[0], "ABORTED, ETAG_MISMATCH") {
		t.Errorf("%s: stderr %q; want one line naming the thread, the server's message and ABORTED, ETAG_MISMATCH", cmdline(args), got.stderr)
	}
	if n := len(f.requests("UpdateThread")); n != 1 {
		t.Errorf("%s: %d UpdateThread calls; want 1 (a stale etag fails again when resent)", cmdline(args), n)
	}
}
