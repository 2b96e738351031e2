package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestEraseEndToEnd answers an erasure request with commentctl against the commentd binary on a
// real redis-server: a moderator key is refused, a dry run counts, the erasure anonymises the
// author's comments and no other, and afterwards nothing in Redis or the log holds the author's
// address, IP address or user agent, and only keys that expire (rate limits, the erasure's own
// markers) hold the author key.
func TestEraseEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr)
	const email, ip, ua = "Erin.Erasure-E2E@Erasable.example", "192.0.2.177", "ErinsBrowser/7.7"
	mine, other := s.submitAuthorAndOther(t, "erase", "Erin E", email, ip, ua)
	show := func(id string) *commentdv1.ModeratedComment {
		t.Helper()
		var resp commentdv1.ModerationServiceGetCommentResponse
		if out := s.ctl(t, "show", id, "-o", "json"); protojson.Unmarshal([]byte(out), &resp) != nil {
			t.Fatalf("commentctl show %s -o json: not a ModerationServiceGetCommentResponse:\n%s", id, out)
		}
		return resp.GetComment()
	}
	authorKey := show(mine[0]).GetAuthorKey()

	// The moderator's key may not erase.
	s.refusedToModerator(t, "erase", "--email", email, "--yes")

	if out := ctlAs(t, s, s.adminToken, "erase", "--email", email, "--dry-run"); out != "Dry run: erase would anonymise 2 comments of this author.\n" {
		t.Errorf("commentctl erase --dry-run: stdout %q, want 2 comments", out)
	}
	if got := show(mine[0]); got.GetAuthorKey() != authorKey {
		t.Errorf("after a dry run comment %s has author key %q, want it unchanged", mine[0], got.GetAuthorKey())
	}
	var resp commentdv1.EraseAuthorDataResponse
	out := ctlAs(t, s, s.adminToken, "erase", "--email", strings.ToLower(email), "--reason", "request 17", "--yes", "-o", "json")
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil || resp.GetCommentCount() != 2 {
		t.Fatalf("commentctl erase -o json: %q (%v); want 2 comments", out, err)
	}
	for _, id := range mine {
		got := show(id)
		if got.GetComment().GetAuthorName() != "Anonymous" || got.GetMaskedEmail() != "" || got.GetAuthorKey() != "" || got.GetMaskedIp() != "" || got.GetUserAgent() != "" {
			t.Errorf("comment %s after the erasure = %v; want author Anonymous and no email, key, IP or user agent", id, got)
		}
	}
	if got := show(other); got.GetComment().GetAuthorName() != "Kim K" || got.GetAuthorKey() == "" || got.GetMaskedEmail() == "" {
		t.Errorf("the other author's comment %s after the erasure = %v; want it untouched", other, got)
	}
	if audit := s.ctl(t, "audit", "--target", "comments"); !strings.Contains(audit, "erase-author-data") || !strings.Contains(audit, "2 comments anonymised: request 17") {
		t.Errorf("commentctl audit --target comments:\n%s\nwant the erasure with its count and reason", audit)
	}

	secrets := []string{"erin.erasure-e2e", "erasable.example", ip, ua}
	check := func(where, text string) {
		t.Helper()
		for _, secret := range secrets {
			if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
				t.Errorf("%s holds %q after the erasure:\n%.3000s", where, secret, text)
			}
		}
	}
	check("server log", s.log.String())
	if strings.Contains(s.log.String(), authorKey) {
		t.Errorf("server log holds the author key %q after the erasure:\n%.3000s", authorKey, s.log.String())
	}
	rdb := redistest.Client(t, rs.Addr)
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS * = %d keys, %v; want the stored comments", len(keys), err)
	}
	for _, k := range keys {
		v := dumpKey(t, rdb, k)
		check("redis value of "+k, v)
		check("redis key name", k)
		if !strings.Contains(k, authorKey) && !strings.Contains(v, authorKey) {
			continue
		}
		// Rate-limit state and duplicate markers are kept under the hash, and the erasure's
		// markers (the fence on the author's record, the campaign writers' erased authors) name it
		// for a while; they expire by themselves. Nothing else may name it.
		if ttl, err := rdb.TTL(context.Background(), k).Result(); err != nil || ttl <= 0 {
			t.Errorf("key %s names the erased author's key and has TTL %v (%v); want it to expire:\n%.3000s", k, ttl, err, v)
		}
	}
}

// submitAuthorAndOther submits two comments of one author (in threads prefix-a and prefix-b) and
// one of another author, as the site would, and returns the ids of the author's two and the other.
func (s *server) submitAuthorAndOther(t *testing.T, prefix, name, email, ip, ua string) (mine []string, other string) {
	t.Helper()
	site := commentdv1.NewCommentServiceClient(s.conn)
	ctx := s.siteCtx(t)
	var ids []string
	for _, r := range []*commentdv1.SubmitCommentRequest{
		{ThreadId: prefix + "-a", AuthorName: name, AuthorEmail: email, Body: "first of mine", ClientIp: ip, UserAgent: ua},
		{ThreadId: prefix + "-b", AuthorName: name, AuthorEmail: email, Body: "second of mine", ClientIp: ip, UserAgent: ua},
		{ThreadId: prefix + "-a", AuthorName: "Kim K", AuthorEmail: "kim@example.com", Body: "not mine", ClientIp: "192.0.2.9", UserAgent: "KimsBrowser/1.0"},
	} {
		resp, err := site.SubmitComment(ctx, r)
		if err != nil {
			t.Fatalf("SubmitComment(%q): %v", r.GetBody(), err)
		}
		ids = append(ids, resp.GetComment().GetId())
	}
	return ids[:2], ids[2]
}

// refusedToModerator runs commentctl with args and the moderator's key, and checks that it fails
// with one PERMISSION_DENIED line on stderr and nothing on stdout.
func (s *server) refusedToModerator(t *testing.T, args ...string) {
	t.Helper()
	_, bin := binaries(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "COMMENTCTL_SERVER="+s.grpcAddr, "COMMENTCTL_TOKEN="+s.modToken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "PERMISSION_DENIED") || strings.Count(stderr.String(), "\n") != 1 || stdout.Len() != 0 {
		t.Errorf("commentctl %s with a moderator key: %v, stdout %q, stderr %q; want exit 1 and one PERMISSION_DENIED line", args[0], err, stdout.String(), stderr.String())
	}
}
