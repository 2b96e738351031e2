package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// TestResealReportCounts: the report's counts read as English for one as for many.
func TestResealReportCounts(t *testing.T) {
	keys, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k2", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rep  comment.ResealReport
		want []string
	}{
		{comment.ResealReport{Records: 1, Values: 1, Resealed: 1, Changed: 1, ByKey: map[string]int{"k2": 1}},
			[]string{"  1 value in 1 comment; 0 do not open.", "Re-sealed with k2: 1 value.", "left as they were: 1 value ("}},
		{comment.ResealReport{Records: 5, Values: 10, Resealed: 0, Changed: 2, ByKey: map[string]int{"k2": 10}},
			[]string{"  10 values in 5 comments; 0 do not open.", "Re-sealed with k2: 0 values.", "left as they were: 2 values ("}},
	} {
		var b bytes.Buffer
		printCounts(&b, "Sealed values by key:", keys, tt.rep)
		printResealed(&b, keys, tt.rep)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("report of %+v:\n%s\nwant a line holding %q", tt.rep, b.String(), w)
			}
		}
	}
}
