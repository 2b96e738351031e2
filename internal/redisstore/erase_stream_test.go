package redisstore

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/moderation"
)

// personalTokens returns the tokens of f.trained that its author's name and email domain make.
func (f trainingFixture) personalTokens(t *testing.T) []string {
	t.Helper()
	var personal []string
	for _, tok := range f.orig {
		if !slices.Contains(f.anon, tok) {
			personal = append(personal, tok)
		}
	}
	if len(personal) == 0 {
		t.Fatal("the name and email are not features: the test shows nothing")
	}
	return personal
}

// TestErasureOfUnlabelledAuthorEmptiesStream: an approval that was taken back (reopen) left the
// comment without a label, but the model's change stream still lists the tokens of its author's
// name and email domain (the approval's entry and the reopen's). No comment of the author has a
// label when the erasure runs; the stream must not keep those tokens all the same.
func TestErasureOfUnlabelledAuthorEmptiesStream(t *testing.T) {
	t.Parallel()
	f := newTrainingFixture(t)
	ctx := context.Background()
	personal := f.personalTokens(t)
	if _, err := f.mod.Decide(ctx, "anna", moderation.Reopen, f.trained.ID, "", ""); err != nil {
		t.Fatalf("Decide(reopen %s) = %v", f.trained.ID, err)
	}
	if dump := dumpKeys(t, f.ts); !strings.Contains(dump, personal[0]) {
		t.Fatalf("before the erasure no key holds the token %q; the test shows nothing:\n%s", personal[0], dump)
	}
	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	dump := dumpKeys(t, f.ts)
	for _, tok := range personal {
		if strings.Contains(dump, tok) {
			t.Errorf("after the erasure Redis still holds the token %q of the author's name or email; every key and value:\n%s", tok, dump)
		}
	}
	f.wantModel(t, "after the erasure", nil, [][]string{f.other})
}
