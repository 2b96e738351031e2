package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestWatchSaysEventsMayBeMissingAfterABreak: when commentd's Redis subscription breaks, the
// events published until it is renewed are lost, and the stream ends so that its client knows.
// commentctl watch reconnects; what it says then must tell the moderator that events may be
// missing and where to look, not only "reconnected", which read as if nothing had been missed.
func TestWatchSaysEventsMayBeMissingAfterABreak(t *testing.T) {
	srv := redistest.Start(t) // its own server: CLIENT KILL TYPE pubsub must not reach other tests
	s := startCommentd(t, srv.Addr, "-moderation-mode", "pre", "-rate-limits", "off")
	_, bin := binaries(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "watch", "--reconnect-delay", "50ms")
	cmd.Env = append(os.Environ(), "COMMENTCTL_SERVER="+s.grpcAddr, "COMMENTCTL_TOKEN="+s.modToken)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start commentctl watch: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	submit := s.submitter(t, "e2e-watch")
	// A held comment shown proves the stream subscribed.
	seen := func(body string) bool {
		if _, err := submit("reader@example.com", "203.0.113.9", body); err != nil {
			t.Fatalf("SubmitComment(%q): %v", body, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(stdout.String(), body) {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	for i := 0; !seen("before the break " + strings.Repeat("x", i)); i++ {
		if i == 5 {
			t.Fatalf("commentctl watch printed none of 6 held comments:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
	}

	if err := redistest.Client(t, srv.Addr).Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	var back string
	deadline := time.Now().Add(15 * time.Second)
	for back == "" && time.Now().Before(deadline) {
		for l := range strings.SplitSeq(stderr.String(), "\n") {
			if strings.Contains(l, "watch: reconnected") {
				back = l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if back == "" {
		t.Fatalf("killed commentd's Redis subscription: commentctl watch said no \"reconnected\" within 15s\nstderr: %s", stderr.String())
	}
	if !strings.Contains(back, "may be missing") || !strings.Contains(back, "commentctl queue") {
		t.Errorf("killed commentd's Redis subscription: commentctl watch said %q, want it to say that events may be missing and to run 'commentctl queue'", back)
	}
	// The break line gives the real server's reason once: commentctl strips the server's own
	// advice to retry, matched against its wording, so a change of that wording shows here.
	broke := ""
	for l := range strings.SplitSeq(stderr.String(), "\n") {
		if strings.Contains(l, "watch: disconnected") {
			broke = l
		}
	}
	if broke == "" || strings.Contains(broke, "retry later") || strings.Contains(broke, "retry in") {
		t.Errorf("killed commentd's Redis subscription: commentctl watch said %q as it broke, want a \"disconnected\" line without the server's advice to retry (the line says when watch tries again)\nstderr: %s", broke, stderr.String())
	}
	if !seen("after the break") {
		t.Errorf("commentctl watch, reconnected, did not print a comment held after the break:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
	for _, private := range []string{"reader@example.com", "203.0.113.9"} {
		if out := stdout.String() + stderr.String(); strings.Contains(out, private) {
			t.Errorf("commentctl watch printed %q in clear:\n%s", private, out)
		}
	}
}
