package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestDocumentedBulkSpamExample runs the "bulk spam" example of docs/MODERATING.md, as a dry run,
// after the spam checks held comments with high scores: the example must find them.
func TestDocumentedBulkSpamExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/MODERATING.md")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for line := range strings.Lines(string(doc)) {
		if strings.HasPrefix(line, "commentctl bulk spam ") {
			line, _, _ = strings.Cut(line, "#")
			args = strings.Fields(line)[1:]
			break
		}
	}
	if args == nil {
		t.Fatal("docs/MODERATING.md has no line starting with \"commentctl bulk spam \"")
	}
	if i := slices.Index(args, "--yes"); i >= 0 {
		args[i] = "--dry-run"
	}
	args = append(args, "-o", "json")
	above := 0.0
	if i := slices.Index(args, "--score-above"); i >= 0 && i+1 < len(args) {
		if above, err = strconv.ParseFloat(args[i+1], 64); err != nil {
			t.Fatalf("docs/MODERATING.md: commentctl %s: --score-above: %v", strings.Join(args, " "), err)
		}
	}

	// A spam threshold of 1 keeps the learned verdict from deciding alone: comments the model
	// scores high wait for a moderator, which is what the example is for.
	s := startCommentd(t, redistest.Shared(t), "-rate-limits", "off", "-spam-spam-at", "1")
	ctlAs(t, s, s.adminToken, "spam", "train", spamCorpus(t, "train.csv", 0, 30))
	submit := s.submitter(t, "e2e-docs")
	var held []string
	for i, body := range []string{
		"check out my channel and subscribe for free gift cards",
		"free gift cards, subscribe to my channel now",
		"this song is beautiful, love the chorus",
	} {
		c, err := submit("reader"+string(rune('a'+i))+"@example.org", "198.51.100.7", body)
		if err != nil {
			t.Fatalf("SubmitComment(%q): %v", body, err)
		}
		var resp commentdv1.ModerationServiceGetCommentResponse
		if err := protojson.Unmarshal([]byte(s.ctl(t, "show", c.GetId(), "-o", "json")), &resp); err != nil {
			t.Fatalf("commentctl show %s -o json: %v", c.GetId(), err)
		}
		mc := resp.GetComment()
		t.Logf("%q: %v, score %.4f, reasons %v", body, mc.GetComment().GetState(), mc.GetSpamScore(), mc.GetHoldReasons())
		if mc.GetComment().GetState() == commentdv1.State_STATE_PENDING && mc.GetSpamScore() >= above {
			held = append(held, mc.GetComment().GetName())
		}
	}
	if len(held) == 0 {
		t.Fatalf("no comment was held with a spam score of %g or more; the test needs one", above)
	}

	out := s.ctl(t, args...)
	var dry struct {
		Count    int `json:"count"`
		Comments []struct {
			Comment struct {
				Name string `json:"name"`
			} `json:"comment"`
		} `json:"comments"`
	}
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatalf("commentctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var found []string
	for _, c := range dry.Comments {
		found = append(found, c.Comment.Name)
	}
	slices.Sort(found)
	slices.Sort(held)
	if !slices.Equal(found, held) {
		t.Errorf("commentctl %s (the documented example): found %q; want the comments held with a spam score of %g or more, %q",
			strings.Join(args, " "), found, above, held)
	}
}

// TestDocumentedMetricsExist: every commentd_* metric the README and docs/ name is on /metrics of
// a server on a real Redis (the durability gauge, which -dev does not export) with an enforced and
// a shadow rule (the rule counters have series only for rules of their kind), so an operator's dashboard or alert built
// from the docs finds its series.
func TestDocumentedMetricsExist(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{} // metric name → the files naming it
	for _, file := range append(docs, "../../README.md") {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\bcommentd_[a-z0-9_]*[a-z0-9]`).FindAllString(string(raw), -1) {
			if f := filepath.Base(file); !slices.Contains(documented[m], f) {
				documented[m] = append(documented[m], f)
			}
		}
	}
	if len(documented) == 0 {
		t.Fatal("no commentd_* metric found in README.md and docs/*.md")
	}

	cfg := writeConfig(t, "rate-limits:\n  - {name: flood, key: ip, rate: 1/15s, burst: 3}\n  - {name: trial, key: ip, rate: 30/h, burst: 5, shadow: true}\n")
	s := startCommentd(t, redistest.Shared(t), "-config", cfg)
	body := s.metricsText(t)
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(string(body), -1) {
		exported[m[1]] = true
	}
	for name, files := range documented {
		// A histogram's series carry the suffixes _bucket, _sum and _count.
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !exported[name] && !exported[base] {
			t.Errorf("%s name %s, which /metrics does not export", strings.Join(files, ", "), name)
		}
	}
}
