package main

import (
	"encoding/json"
	"testing"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestFiltersOfOtherScriptsEndToEnd: commentctl filters add takes a Chinese word, written without
// spaces, as a word, and a fullwidth spelling of a listed word is the entry already listed.
func TestFiltersOfOtherScriptsEndToEnd(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t))
	add := func(value string) (name, shown string) {
		t.Helper()
		var resp struct{ Filter struct{ Name, Value string } }
		out := s.ctl(t, "filters", "add", "--list", "spam", "--kind", "word", value, "-o", "json")
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("commentctl filters add --kind word %s -o json: %q (%v)", value, out, err)
		}
		return resp.Filter.Name, resp.Filter.Value
	}
	if _, shown := add("赌场赢钱"); shown != "赌场赢钱" {
		t.Errorf("commentctl filters add --kind word 赌场赢钱: value %q; want the word as entered", shown)
	}
	plain, _ := add("casino")
	if fullwidth, shown := add("Ｃａｓｉｎｏ"); fullwidth != plain || shown != "casino" {
		t.Errorf("commentctl filters add --kind word Ｃａｓｉｎｏ after casino: %s %q; want the entry %s, \"casino\", already listed", fullwidth, shown, plain)
	}
	var list struct{ Filters []struct{ Name string } }
	if out := s.ctl(t, "filters", "list", "-o", "json"); json.Unmarshal([]byte(out), &list) != nil || len(list.Filters) != 2 {
		t.Errorf("commentctl filters list -o json: %q; want 2 entries", out)
	}
}
