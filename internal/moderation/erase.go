package moderation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// Erasure requests. A reader may ask the site to erase their personal data. As WordPress does for
// comments, the text stays (it is the site's publication, and replies quote it) and everything
// that names or locates the author goes: the name, the sealed email and IP address, the user
// agent, and the keyed hashes of the email and IP that link the author's comments to each other
// and to them. The author's record of decided comments, kept under the same hash, goes too.
//
// Bans stay: a ban is the site's legitimate interest in keeping an abuser out and holds only the
// keyed hash, which links to no comment once the records are anonymised. Rate-limit counters and
// duplicate markers under the hash expire by themselves within their windows; the store deletes
// the author's campaign sightings, shared and in every server's memory, including one a server
// held unsent while the erasure ran.

// EraseOptions is what Eraser.EraseAuthor needs besides the author.
type EraseOptions struct {
	// Name replaces the author's name in each anonymised comment.
	Name string
	// DryRun counts the comments that would be anonymised and changes nothing.
	DryRun bool
	// Scan bounds the walk over the stored comments: records per store call and the time each
	// call may take.
	Scan comment.ScanOptions
	// Before, when set, is called with each slice of the author's comments, as stored, just before
	// they are anonymised (not on a dry run). An error stops the erasure before that slice.
	Before func(ctx context.Context, cs []comment.Comment) error
}

// Refeaturer moves what a comment taught the spam model from the features of one version of it to
// those of another. The learner implements it; an erasure needs it because the author's name and
// email domain are features: without the move, a later decision on an anonymised comment would
// untrain features it never taught and leave the old ones (the name among them) in the model.
type Refeaturer interface {
	Refeature(ctx context.Context, before, after comment.Comment) error
}

// Eraser removes an author's personal data from the store.
type Eraser interface {
	// EraseAuthor anonymises every stored comment whose author key is one of authorKeys (the
	// author's keys, privacy.Keyring.EmailKeys; see comment.Anonymised for what goes and what
	// stays) and deletes the author's record under each, and returns how many comments it changed.
	// Each comment is changed atomically, only while it still has that author key, so a deleted
	// comment is never brought back, a change made meanwhile to other fields is kept, and a second
	// call finds nothing. A comment stored while the call runs may be left out. With opts.DryRun
	// it returns the number of comments and writes nothing.
	EraseAuthor(ctx context.Context, authorKeys []string, opts EraseOptions) (int, error)
}

// Defaults of the erasure walk.
const (
	// defaultEraseBatch is the records read per store call: a walk over millions of records is not
	// made of millions of round trips, and one call holds a server up for a moment only.
	defaultEraseBatch = 500
	// defaultEraseCallTimeout bounds each store call of the walk (the walk as a whole is bounded by
	// the caller's context only, as it lasts as long as the store is large).
	defaultEraseCallTimeout = 5 * time.Second
)

// ErasureTarget is the audit log's target of an erasure: the comments collection, as the entry
// must not name the author (not even by the keyed hash, which a ban could be matched with).
const ErasureTarget = "comments"

// Erasure is the outcome of an erasure request.
type Erasure struct {
	Comments int  // comments anonymised (or, on a dry run, that would be)
	DryRun   bool // nothing was changed
}

// EraseAuthorData anonymises every comment of the author of email, for admin, and records the
// request in the audit log with the number of comments and the reason, never the address or its
// hash. With dryRun it only counts. It is safe to repeat: a call that failed part way leaves
// some comments anonymised, and the next call does the rest.
func (s *Service) EraseAuthorData(ctx context.Context, admin, email, reason string, dryRun bool) (Erasure, error) {
	if s.eraser == nil {
		return Erasure{}, unsupported("eraser")
	}
	e, reason, err := authorRequest(email, reason, nil)
	if err != nil {
		return Erasure{}, err
	}
	opts := EraseOptions{Name: comment.ErasedAuthorName, DryRun: dryRun, Scan: comment.ScanOptions{Batch: s.eraseBatch, CallTimeout: s.eraseCallTimeout}}
	// The learner moves each comment's training before the comment changes: a call that fails in
	// between leaves the comment with its author, so the repeat finds it again, and the move,
	// marked as done, is not made twice. From the move on, every decision on the comment teaches
	// its anonymised features, even one that read the comment before the erasure.
	if r, ok := s.learner.(Refeaturer); ok {
		opts.Before = func(ctx context.Context, cs []comment.Comment) error {
			for _, c := range cs {
				if err := r.Refeature(ctx, c, comment.Anonymised(c)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	// Every key the author's comments may carry: a comment stored before addresses were hashed in
	// one spelling carries the hash of the spelling it was sent with.
	n, err := s.eraser.EraseAuthor(ctx, s.keys.EmailKeys(e), opts)
	if err != nil {
		err = fmt.Errorf("erase author data: %w", err)
		// The comments anonymised before the failure stay so, and a repeat finds them anonymised
		// already and counts 0: only an entry written now says who changed them.
		if n > 0 && !dryRun && s.audit != nil {
			note := countComments(n) + " anonymised before the erasure failed; repeat it to finish"
			if aerr := s.recordErasure(ctx, admin, note, reason); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return Erasure{Comments: n}, err
	}
	if dryRun || s.audit == nil {
		return Erasure{Comments: n, DryRun: dryRun}, nil
	}
	// Recorded after the change, like thread settings: when the entry cannot be written the caller
	// gets the error, and a repeat (which finds nothing left to anonymise) records the request.
	if err := s.recordErasure(ctx, admin, countComments(n)+" anonymised", reason); err != nil {
		return Erasure{Comments: n}, err
	}
	return Erasure{Comments: n}, nil
}

// recordErasure writes an erasure's audit entry: what it did, then the request's reason.
func (s *Service) recordErasure(ctx context.Context, admin, note, reason string) error {
	if reason != "" {
		note += ": " + reason
	}
	return s.RecordAudit(ctx, AuditEvent{Moderator: admin, Action: AuditEraseAuthorData, Target: ErasureTarget, Reason: note})
}

// authorRequest checks the address and reason of a data-protection request (an erasure or an
// export), adding the violations of any other fields in verr, and returns the parsed address and
// the cleaned reason. Every bad field comes at once, so the admin fixes them in one go.
func authorRequest(email, reason string, verr *comment.ValidationError) (privacy.Email, string, error) {
	if verr == nil {
		verr = &comment.ValidationError{}
	}
	e, ok := privacy.ParseEmail(email)
	switch {
	case strings.TrimSpace(email) == "":
		verr.Add("author_email", "required")
	case !ok:
		verr.Add("author_email", "not a valid email address (want a bare address such as name@example.com)")
	}
	reason, err := comment.ValidateReason("reason", reason)
	if rv := (*comment.ValidationError)(nil); errors.As(err, &rv) {
		verr.Violations = append(verr.Violations, rv.Violations...)
	} else if ok && quotesEmail(reason, e) {
		// The reason goes to the audit log, which every moderator reads and which must never
		// hold the address: refused rather than stored.
		verr.Add("reason", "must not contain the author's email address (give the request's reference instead)")
	} else if privacy.HoldsAddress(reason) {
		// Nor any other address (another of the reader's, the IP address the request came
		// from): the audit log keeps it in clear, and no erasure ever reaches it.
		verr.Add("reason", "must not contain an email or IP address (give the request's reference instead)")
	}
	if err := verr.Err(); err != nil {
		return privacy.Email{}, "", err
	}
	return e, reason, nil
}

// quotesEmail reports whether text holds the address e in any case and in any of its spellings
// (its domain in Unicode or in its "xn--" form, say), which all name the reader.
func quotesEmail(text string, e privacy.Email) bool {
	lower := strings.ToLower(text)
	for _, s := range e.Spellings() {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// countComments says "1 comment" or "n comments", for audit reasons.
func countComments(n int) string {
	if n == 1 {
		return "1 comment"
	}
	return fmt.Sprintf("%d comments", n)
}
