package spam

import (
	"context"
	"fmt"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// Features returns the tokens the classifier counts for in: what Train and Untrain add and take
// away, for stores that must train many examples, or a label and its counts, in one step.
func Features(in Input) []string { return inputAnalysis(in).tokens }

// Label is what a comment has taught the site's model.
type Label int

// The labels.
const (
	LabelNone Label = iota // nothing (never decided, or the decision was undone)
	LabelHam               // trained as ham: a moderator approved it
	LabelSpam              // trained as spam: a moderator marked it spam
)

func (l Label) String() string {
	switch l {
	case LabelHam:
		return "ham"
	case LabelSpam:
		return "spam"
	}
	return "none"
}

// Outcome is what a comment counts as in its author's record.
type Outcome int

// The outcomes.
const (
	OutcomeNone     Outcome = iota // not decided (or back in the queue)
	OutcomeApproved                // published by a moderator
	OutcomeRejected                // rejected by a moderator
	OutcomeSpam                    // marked spam by a moderator
)

// Lesson is what one moderator decision teaches: the comment's label in the site's model (with
// its features), and its outcome in the author's record.
type Lesson struct {
	CommentID string
	AuthorKey string // keyed email hash; "" leaves the record alone
	Tokens    []string
	// Anonymised are the comment's tokens as an erasure request leaves it (comment.Anonymised).
	// An erasure moves a comment's training to them before it changes the record (Refeature);
	// when that happened, the old label is untrained with these, whatever the record still holds.
	Anonymised []string
	Label      Label
	Outcome    Outcome
}

// Lessons stores lessons. Learn sets the comment's label and outcome to the lesson's; it undoes
// exactly what an earlier label taught (the counts of lesson.Tokens in the old class go back down)
// and teaches the new one, and moves the author's record from the old outcome to the new one.
// Each of the two is atomic and idempotent per comment: a lesson learnt twice changes nothing.
// Refeature moves what comment id's label taught from the tokens from to the tokens to (its
// anonymised tokens), atomically and once (a repeated call moves nothing), and remembers it, so
// that a later Learn untrains the label with lesson.Anonymised; a comment without a label teaches
// nothing and is left alone.
type Lessons interface {
	Learn(ctx context.Context, l Lesson) error
	Refeature(ctx context.Context, id string, from, to []string) error
}

// Learner teaches the site's model and the authors' records from moderators' decisions (it fits
// moderation.Learner; package spam does not import moderation, so cmd/commentd plugs it in). Only moderators' decisions teach: the spam checks' own verdicts
// never do, so the model cannot reinforce its own mistakes.
type Learner struct {
	store Lessons
	keys  *privacy.Keyring
}

// NewLearner builds a Learner.
func NewLearner(store Lessons, keys *privacy.Keyring) *Learner {
	return &Learner{store: store, keys: keys}
}

// Learn records what the last decision on c teaches: approve → ham, mark spam →
// spam, and reject, mark not spam or reopen → undo whatever c taught before. A rejected comment is
// not evidence of spam (it may be rude, or off topic), so it teaches nothing. Idempotent per
// comment.
func (l *Learner) Learn(ctx context.Context, c comment.Comment) error {
	lesson := Lesson{CommentID: c.ID, AuthorKey: c.AuthorKey}
	// A comment no moderator has decided teaches nothing: its state is the checks' verdict. The
	// store records no decision when a moderator approves a comment the checks published (it is
	// already in the target state), so that approval must not teach or count either. The lesson
	// is the decision's, not the state's: readers' reports take an approved comment down into the
	// queue, which is no moderator's decision, and must not undo what the approval taught (the
	// next learning of it, a repeated decision or LearnPending, would otherwise untrain it).
	if c.Decision != nil {
		switch c.Decision.To {
		case comment.StatePublished:
			lesson.Label, lesson.Outcome = LabelHam, OutcomeApproved
		case comment.StateSpam:
			lesson.Label, lesson.Outcome = LabelSpam, OutcomeSpam
		case comment.StateRejected:
			lesson.Outcome = OutcomeRejected
		}
	}
	lesson.Tokens = l.features(c)
	lesson.Anonymised = l.features(comment.Anonymised(c))
	if err := l.store.Learn(ctx, lesson); err != nil {
		return fmt.Errorf("spam: learn %s as %s: %w", c.ID, lesson.Label, err)
	}
	return nil
}

// Refeature moves what comment before taught (if anything) from its features to those of after,
// the same comment changed: an erasure request replaces the author's name and removes the email
// address, which are features. Without it, a later decision on the comment would untrain the new
// features, which were never trained, and leave the old ones (the author's name among them) in the
// model for good. Repeating it moves nothing twice.
func (l *Learner) Refeature(ctx context.Context, before, after comment.Comment) error {
	if err := l.store.Refeature(ctx, before.ID, l.features(before), l.features(after)); err != nil {
		return fmt.Errorf("spam: move what %s taught to its new features: %w", before.ID, err)
	}
	return nil
}

// features are the tokens c teaches. They are those the comment was scored with at submission.
// Untraining recomputes them from the same record, so it takes away exactly what training added;
// the counts live under the tokeniser's FeatureVersion, so a new tokeniser never untrains tokens it
// did not make.
func (l *Learner) features(c comment.Comment) []string {
	in := Input{Body: c.Body, AuthorName: c.AuthorName}
	if c.EmailSealed != "" {
		// Only the address's domain becomes a token. A record whose key was retired keeps that
		// token out of training and untraining alike.
		if e, err := l.keys.OpenEmail(c.EmailSealed, c.ID); err == nil {
			in.Email = e
		}
	}
	return Features(in)
}
