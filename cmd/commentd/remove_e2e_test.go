package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestRemoveNamedTwiceEndToEnd: commentctl unban and filters rm, given one name twice (bare, and
// as the resource name bans and filters list print), lift the ban and remove the entry once and
// exit 0. The server answers a second removal NOT_FOUND, which made a command that had done all
// it was asked exit 1 (s.ctl fails the test on a non-zero exit).
func TestRemoveNamedTwiceEndToEnd(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t))

	var ban struct{ Ban struct{ Name string } }
	out := s.ctl(t, "ban", "--range", "203.0.113.0/24", "--for", "1h", "--reason", "bot net", "-o", "json")
	if err := json.Unmarshal([]byte(out), &ban); err != nil || !strings.HasPrefix(ban.Ban.Name, "bans/") {
		t.Fatalf("commentctl ban -o json: %q (%v); want the ban with its name", out, err)
	}
	name := ban.Ban.Name
	if got, want := s.ctl(t, "unban", strings.TrimPrefix(name, "bans/"), name), name+": lifted\n"; got != want {
		t.Errorf("commentctl unban <id> %s: stdout %q; want %q", name, got, want)
	}
	if got := s.ctl(t, "bans"); got != "No entries.\n" {
		t.Errorf("commentctl bans after unban: %q; want no ban in force", got)
	}

	var filter struct{ Filter struct{ Name string } }
	out = s.ctl(t, "filters", "add", "--list", "hold", "--kind", "word", "casino", "-o", "json")
	if err := json.Unmarshal([]byte(out), &filter); err != nil || !strings.HasPrefix(filter.Filter.Name, "filters/") {
		t.Fatalf("commentctl filters add -o json: %q (%v); want the entry with its name", out, err)
	}
	name = filter.Filter.Name
	if got, want := s.ctl(t, "filters", "rm", name, strings.TrimPrefix(name, "filters/")), name+": removed\n"; got != want {
		t.Errorf("commentctl filters rm %s <id>: stdout %q; want %q", name, got, want)
	}
	if got := s.ctl(t, "filters", "list"); got != "No entries.\n" {
		t.Errorf("commentctl filters list after filters rm: %q; want no entry", got)
	}
}
