package redisstore

import (
	"context"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
)

// TestDecisionLearntAfterErasure: a moderator's decision stores the comment's new state and
// returns the comment as it was then, with its author; the learner is told a moment later. An
// erasure that ran in between (both steps) must not be undone by that lesson: the model must not
// learn the author's name and email domain again, for a comment that no longer has them.
func TestDecisionLearntAfterErasure(t *testing.T) {
	t.Parallel()
	f := newTrainingFixture(t)
	ctx := context.Background()
	personal := f.personalTokens(t)
	learner := spam.NewLearner(f.ts.Store, f.keys)
	// As Decide returned them, before the erasure: the approved comment marked spam, a pending one
	// approved.
	spammed, approved := f.trained, f.erased[2]
	spammed.State, approved.State = comment.StateSpam, comment.StatePublished
	spammed.Decision = &comment.Decision{Moderator: "mod", To: comment.StateSpam}
	approved.Decision = &comment.Decision{Moderator: "mod", To: comment.StatePublished}
	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	for _, c := range []comment.Comment{spammed, approved} {
		if err := learner.Learn(ctx, c); err != nil {
			t.Fatalf("Learn(%s) = %v", c.ID, err)
		}
	}
	dump := dumpKeys(t, f.ts)
	for _, tok := range personal {
		if strings.Contains(dump, tok) {
			t.Errorf("a decision learnt after the erasure put the token %q of the author's name or email back; every key and value:\n%s", tok, dump)
		}
	}
	if n := f.authorKeysExist(t, f.key); n != 0 {
		t.Errorf("a decision learnt after the erasure brought back %d keys of the erased author's record", n)
	}
	anon2 := spam.Features(spam.Input{Body: approved.Body, AuthorName: comment.ErasedAuthorName})
	f.wantModel(t, "after the late lessons", [][]string{f.anon}, [][]string{anon2, f.other})
}
