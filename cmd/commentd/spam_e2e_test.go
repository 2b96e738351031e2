package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// spamCorpus writes a labelled CSV in the YouTube Spam Collection's layout (byte order mark,
// columns commentctl must ignore) with n spam and n genuine comments, numbered from first.
func spamCorpus(t *testing.T, name string, first, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("\uFEFFCOMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n")
	spamLines := []string{
		"check out my channel %d and subscribe for free gift cards",
		"subscribe to my channel %d, free money and gift cards",
		"free gift cards %d, check out my channel now",
	}
	hamLines := []string{
		"this song %d is beautiful, love the chorus",
		"the video %d is so funny, great dancing",
		"her voice in this song %d is amazing",
	}
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "s%d,\"Spammer %d\",2015-01-01,\"%s\",1\n", i, i, fmt.Sprintf(spamLines[i%3], i))
		fmt.Fprintf(&b, "h%d,\"Fan %d\",2015-01-01,\"%s\",0\n", i, i, fmt.Sprintf(hamLines[i%3], i))
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ctlAs runs the commentctl binary against s with token and returns stdout.
func ctlAs(t *testing.T, s *server, token string, args ...string) string {
	t.Helper()
	_, bin := binaries(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "COMMENTCTL_SERVER="+s.grpcAddr, "COMMENTCTL_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("commentctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestSpamEndToEnd trains the site's model with commentctl, submits spammy and genuine comments,
// marks one spam with commentctl, and runs an evaluation, all against the commentd binary on a
// real redis-server.
func TestSpamEndToEnd(t *testing.T) {
	// Training takes an admin key: startCommentd's keys file has one.
	s := startCommentd(t, redistest.Shared(t), "-rate-limits", "off")
	admin := s.adminToken
	site := commentdv1.NewCommentServiceClient(s.conn)
	ctx := s.siteCtx(t)

	out := ctlAs(t, s, admin, "spam", "train", spamCorpus(t, "train.csv", 0, 30))
	if !strings.Contains(out, "60 examples (30 spam, 30 not spam)") {
		t.Fatalf("commentctl spam train: stdout %q, want 60 examples trained", out)
	}

	n := 0
	submit := func(body string) *commentdv1.Comment {
		t.Helper()
		n++
		resp, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{
			ThreadId: "e2e-spam", AuthorName: fmt.Sprintf("Reader %d", n), AuthorEmail: fmt.Sprintf("reader%d@example.org", n),
			Body: body, ClientIp: fmt.Sprintf("198.51.100.%d", n), UserAgent: "e2e-test",
		})
		if err != nil {
			t.Fatalf("SubmitComment(%q): %v", body, err)
		}
		return resp.GetComment()
	}
	show := func(id string) *commentdv1.ModeratedComment {
		t.Helper()
		var resp commentdv1.ModerationServiceGetCommentResponse
		if err := protojson.Unmarshal([]byte(s.ctl(t, "show", id, "-o", "json")), &resp); err != nil {
			t.Fatalf("commentctl show %s -o json: %v", id, err)
		}
		return resp.GetComment()
	}
	check := func(body string) *commentdv1.CheckCommentResponse {
		t.Helper()
		resp, err := site.CheckComment(ctx, &commentdv1.CheckCommentRequest{Comment: &commentdv1.SubmitCommentRequest{
			ThreadId: "e2e-spam-check", AuthorName: "Probe", AuthorEmail: "probe@example.org", Body: body, UserAgent: "e2e-test",
		}})
		if err != nil {
			t.Fatalf("CheckComment(%q): %v", body, err)
		}
		return resp
	}

	// The trained model tells the two apart.
	spammy := show(submit("check out my channel and subscribe for free gift cards").GetId())
	clean := show(submit("this song is beautiful, love the chorus").GetId())
	if spammy.GetComment().GetState() == commentdv1.State_STATE_PUBLISHED || spammy.GetSpamScore() <= clean.GetSpamScore() {
		t.Errorf("a spammy comment was %v with score %.4f (reasons %v), a genuine one %v with %.4f; want the spammy one held or spam, scored higher",
			spammy.GetComment().GetState(), spammy.GetSpamScore(), spammy.GetHoldReasons(), clean.GetComment().GetState(), clean.GetSpamScore())
	}
	t.Logf("spammy comment: %v, score %.4f, reasons %v; genuine: %v, score %.4f", spammy.GetComment().GetState(), spammy.GetSpamScore(), spammy.GetHoldReasons(), clean.GetComment().GetState(), clean.GetSpamScore())
	if clean.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Errorf("a genuine comment was %v (reasons %v), want published", clean.GetComment().GetState(), clean.GetHoldReasons())
	}

	// A moderator marks a published comment spam with commentctl: it is taken down, the author's
	// record counts it, and the model learns it at once.
	const text = "my uncle sells watches, visit his shop this weekend"
	before := check(text).GetSpamScore()
	c := submit(text)
	if got := s.ctl(t, "spam", c.GetId(), "--reason", "advertising"); !strings.Contains(got, "marked spam") {
		t.Fatalf("commentctl spam %s: stdout %q", c.GetId(), got)
	}
	marked := show(c.GetId())
	if marked.GetComment().GetState() != commentdv1.State_STATE_SPAM || marked.GetAuthorHistory().GetSpam() != 1 || marked.GetDecision().GetModerator() != "e2e-moderator" {
		t.Errorf("after commentctl spam: state %v, record %v, decision %v; want spam, one spam on record, by e2e-moderator",
			marked.GetComment().GetState(), marked.GetAuthorHistory(), marked.GetDecision())
	}
	deadline := time.Now().Add(2 * time.Second)
	for check(text).GetSpamScore() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("after commentctl spam, CheckComment(%q) still scored %.4f after 2s, want above %.4f", text, check(text).GetSpamScore(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.ctl(t, "not-spam", c.GetId()); !strings.Contains(got, "marked not spam") {
		t.Fatalf("commentctl not-spam %s: stdout %q", c.GetId(), got)
	}
	deadline = time.Now().Add(2 * time.Second)
	for check(text).GetSpamScore() != before {
		if time.Now().After(deadline) {
			t.Fatalf("after commentctl not-spam, CheckComment(%q) scored %.6f after 2s, want exactly %.6f again", text, check(text).GetSpamScore(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// An evaluation on a scratch model leaves the site's model alone and deletes its own.
	probe := check(text).GetSpamScore()
	var eval struct {
		Model         string  `json:"model"`
		TestSpam      int     `json:"testSpam"`
		TestHam       int     `json:"testHam"`
		SpamPublished float64 `json:"spamPublished"`
		HamMarkedSpam float64 `json:"hamMarkedSpam"`
		HamHeld       float64 `json:"hamHeld"`
		F1            float64 `json:"f1"`
		MCC           float64 `json:"mcc"`
	}
	evalOut := ctlAs(t, s, admin, "spam", "eval", "--train", spamCorpus(t, "train.csv", 100, 20), "--test", spamCorpus(t, "test.csv", 200, 10), "-o", "json")
	if err := json.Unmarshal([]byte(evalOut), &eval); err != nil {
		t.Fatalf("commentctl spam eval -o json: %v\n%s", err, evalOut)
	}
	t.Logf("commentctl spam eval: %s", evalOut)
	if eval.TestSpam != 10 || eval.TestHam != 10 {
		t.Errorf("commentctl spam eval: checked %d spam and %d ham, want 10 and 10", eval.TestSpam, eval.TestHam)
	}
	// The checks must separate the classes: more spam than ham kept from publication.
	if spamStopped, hamStopped := 1-eval.SpamPublished, eval.HamMarkedSpam+eval.HamHeld; spamStopped <= hamStopped {
		t.Errorf("commentctl spam eval: %.0f%% of spam and %.0f%% of ham kept from publication, want more spam than ham (output %s)", 100*spamStopped, 100*hamStopped, evalOut)
	}
	for _, v := range []float64{eval.F1, eval.MCC} {
		if v < -1 || v > 1 {
			t.Errorf("commentctl spam eval: F1 %v, MCC %v out of range", eval.F1, eval.MCC)
		}
	}
	if got := check(text).GetSpamScore(); got != probe {
		t.Errorf("after commentctl spam eval, the site's model scored %.6f, want %.6f as before (the evaluation trains a scratch model)", got, probe)
	}
	rdb := redistest.Client(t, redistest.Shared(t))
	left, err := rdb.Keys(context.Background(), "*{spam:*:x:"+eval.Model+"}*").Result()
	if err != nil {
		t.Fatal(err)
	}
	left = slices.DeleteFunc(left, func(k string) bool { // resend markers of training and deletion expire on their own
		return strings.Contains(k, "}:b:") || strings.Contains(k, "}:d:")
	})
	if len(left) > 0 {
		t.Errorf("after commentctl spam eval, the scratch model's keys are still in Redis: %v", left)
	}
}

// TestStartWarnsOfEarlierSpamModel: after an upgrade that changes the spam checks' feature version,
// the site's model starts empty; commentd says so at start, naming the earlier model's training,
// instead of leaving moderators to wonder why the checks forgot what they were taught.
func TestStartWarnsOfEarlierSpamModel(t *testing.T) {
	addr := redistest.Shared(t)
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t, addr)
	if err := rdb.HSet(context.Background(), prefix+"{spam:2:site}:n", "spam", 40, "ham", 60, "seq", 100).Err(); err != nil {
		t.Fatal(err)
	}
	s := startCommentd(t, addr, "-redis-prefix", prefix)
	log := s.log.String()
	for _, want := range []string{`"level":"WARN"`, `"earlier_feature_version":2`, `"earlier_spam":40`, `"earlier_ham":60`, "train it again"} {
		if !strings.Contains(log, want) {
			t.Errorf("commentd's log at start lacks %s:\n%s", want, log)
		}
	}
	// The same start without the earlier model says nothing of one.
	quiet := startCommentd(t, addr)
	if strings.Contains(quiet.log.String(), "earlier_feature_version") {
		t.Errorf("commentd warned of an earlier model on a Redis without one:\n%s", quiet.log)
	}
}
