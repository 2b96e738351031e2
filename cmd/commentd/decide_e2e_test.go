package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// ctlFails runs commentctl against s with the moderator token, expects it to exit 1, and returns
// its stderr lines.
func ctlFails(t *testing.T, s *server, args ...string) []string {
	t.Helper()
	_, bin := binaries(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "COMMENTCTL_SERVER="+s.grpcAddr, "COMMENTCTL_TOKEN="+s.modToken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("commentctl %s: exit %d (%v); want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, err, stdout.String(), stderr.String())
	}
	return strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
}

// TestDecisionsDoNotOverturnEndToEnd: a moderator working from an earlier look at a comment
// (its etag, or the state they saw) does not overturn the decision a colleague took since; the
// refusal is one line saying what the comment is now, and changes nothing. Without either flag a
// decision still overturns, as documented.
func TestDecisionsDoNotOverturnEndToEnd(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t))
	s.ctl(t, "thread", "set", "e2e-etag", "--mode", "pre")
	c, err := s.submitter(t, "e2e-etag")("jane@example.com", "198.51.100.23", "A comment two moderators look at")
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	show := func() *commentdv1.ModeratedComment {
		t.Helper()
		var resp commentdv1.ModerationServiceGetCommentResponse
		if err := protojson.Unmarshal([]byte(s.ctl(t, "show", c.GetId(), "-o", "json")), &resp); err != nil {
			t.Fatalf("commentctl show %s -o json: %v", c.GetId(), err)
		}
		return resp.GetComment()
	}
	read := show()
	if read.GetEtag() == "" {
		t.Fatalf("commentctl show %s -o json: no etag", c.GetId())
	}
	ctlAs(t, s, s.adminToken, "approve", c.GetId()) // the colleague
	approved := show()

	want := c.GetName() + ": the comment changed since its etag was read (it is STATE_PUBLISHED now, last decided by e2e-admin); " +
		"nothing was changed: read it again and decide on what it is now (ABORTED, ETAG_MISMATCH)"
	if got := ctlFails(t, s, "reject", "--etag", read.GetEtag(), c.GetId()); len(got) != 2 || got[0] != want {
		t.Errorf("commentctl reject --etag <before the approval>: stderr %q; want the line %q and the summary", got, want)
	}
	want = c.GetName() + ": left alone: it is published now, not pending, last decided by e2e-admin (FAILED_PRECONDITION)"
	if got := ctlFails(t, s, "spam", "--if-state", "pending", c.GetId()); len(got) != 2 || got[0] != want {
		t.Errorf("commentctl spam --if-state pending: stderr %q; want the line %q and the summary", got, want)
	}
	if now := show(); now.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED || now.GetEtag() != approved.GetEtag() {
		t.Errorf("after two refused decisions: %v, etag %s; want published, etag %s as approved", now.GetComment().GetState(), now.GetEtag(), approved.GetEtag())
	}
	audited := func() int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.modToken)
		resp, err := commentdv1.NewModerationServiceClient(s.conn).ListAuditEvents(ctx, &commentdv1.ListAuditEventsRequest{Target: c.GetName()})
		if err != nil {
			t.Fatalf("ListAuditEvents(target %s): %v", c.GetName(), err)
		}
		return len(resp.GetEvents())
	}
	if n := audited(); n != 1 {
		t.Errorf("audit entries on %s after an approval and two refused decisions = %d; want 1", c.GetName(), n)
	}

	s.ctl(t, "reject", "--etag", approved.GetEtag(), c.GetId())
	s.ctl(t, "approve", c.GetId()) // no flag: overturns the rejection, as before
	if now := show(); now.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED || now.GetDecision().GetModerator() != "e2e-moderator" {
		t.Errorf("after reject --etag <current> and a plain approve: %v by %s; want published by e2e-moderator", now.GetComment().GetState(), now.GetDecision().GetModerator())
	}
	if n := audited(); n != 3 {
		t.Errorf("audit entries on %s = %d; want 3", c.GetName(), n)
	}
}

// TestReopenPendingEndToEnd: reopening a comment that waits in the queue already changes nothing,
// and commentctl says so rather than "reopened"; reopening a decided one reopens it.
func TestReopenPendingEndToEnd(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t))
	s.ctl(t, "thread", "set", "e2e-reopen", "--mode", "pre")
	c, err := s.submitter(t, "e2e-reopen")("jane@example.com", "198.51.100.24", "A comment that waits already")
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	audit := func() string {
		t.Helper()
		return s.ctl(t, "audit", "--target", c.GetName(), "-o", "json")
	}
	before := audit()
	if got, want := s.ctl(t, "reopen", c.GetId()), c.GetName()+": pending already; nothing changed\n"; got != want {
		t.Errorf("commentctl reopen <pending comment>: stdout %q; want %q", got, want)
	}
	if after := audit(); after != before {
		t.Errorf("commentctl reopen <pending comment> added to the audit log: %s; want it as before: %s", after, before)
	}
	s.ctl(t, "reject", c.GetId(), "--reason", "off topic")
	if got, want := s.ctl(t, "reopen", c.GetId()), c.GetName()+": reopened\n"; got != want {
		t.Errorf("commentctl reopen <rejected comment>: stdout %q; want %q", got, want)
	}
	if got, want := s.ctl(t, "reopen", c.GetId()), c.GetName()+": pending already; nothing changed\n"; got != want {
		t.Errorf("commentctl reopen <reopened comment>: stdout %q; want %q", got, want)
	}
}
