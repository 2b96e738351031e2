package main

import (
	"strings"
	"testing"
	"time"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// An erased author's comment has no author key and no record: show must not present its zero
// history as a new author's clean slate, while a kept author with no decisions still reads as
// zeros.
func TestShowHistoryOfErasedAuthor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		authorKey string
		want      string
	}{
		{"erased", "", "History:       - (the author's data was erased)\n"},
		{"kept", "ak-1", "History:       0 approved, 0 rejected, 0 spam\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mc := &commentdv1.ModeratedComment{
				Comment:       &commentdv1.Comment{Name: "comments/c1", ThreadId: "post-1", AuthorName: "Anonymous"},
				AuthorKey:     tt.authorKey,
				AuthorHistory: &commentdv1.AuthorHistory{},
			}
			var b strings.Builder
			if err := writeComment(&b, mc, time.Now()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("show printed\n%s\nwant a line %q", b.String(), tt.want)
			}
		})
	}
}
