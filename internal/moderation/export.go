package moderation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// Access requests. A reader may ask the site for a copy of their personal data. As WordPress does
// for comments, the answer is every comment of their email address with what was stored about it:
// their name, email and IP address, user agent, the times, the text, and what the checks and the
// moderators decided. It is the one place where the sealed email and IP address are opened for
// anyone but the keyring's own checks: the export is the data subject's own data, which an admin
// hands to them, so it is an admin's call, audited, and never logged.
//
// The export is read by the same walk as an erasure (there is no index from an author to their
// comments) and built whole, so it is bounded: see MaxExportComments.

// Bounds of one export. A response is built in memory and sent as one message, so an author with
// more is refused with ErrExportTooLarge, and the admin exports them in periods (ExportQuery's
// times) instead. Paging by the walk's position was the alternative: the walk is a SCAN, whose
// position orders nothing, so pages could not come oldest first, could repeat a comment, and would
// make one request many audit entries.
const (
	// MaxExportComments is far more than a reader writes: five comments a day, every day, for five
	// years, are 9,000. An author with more is rarer than a spam run under one address.
	MaxExportComments = 10_000
	// MaxExportBytes bounds the export's size, about as the API encodes it (exportSize), since
	// 10,000 comments of the longest text allowed would make hundreds of MiB. 32 MiB is 10,000
	// comments of about 3,300 bytes, and a message a client can still be told to accept.
	MaxExportBytes = 32 << 20
)

// ErrExportTooLarge: the author has more comments (or more text) in the period asked for than one
// export holds (MaxExportComments, MaxExportBytes). Nothing was handed out or audited.
var ErrExportTooLarge = errors.New("moderation: the author's comments exceed one export")

// Exporter reads an author's comments from the store.
type Exporter interface {
	// AuthorComments calls fn with every stored comment whose author key is one of authorKeys (the
	// author's keys, privacy.Keyring.EmailKeys), as stored,
	// a batch at a time and from one goroutine, and stops at fn's first error, which it returns.
	// It writes nothing. Like EraseAuthor's walk, it may leave out a comment stored meanwhile.
	AuthorComments(ctx context.Context, authorKeys []string, opts comment.ScanOptions, fn func(ctx context.Context, batch []comment.Comment) error) error
}

// ExportTarget is the audit log's target of an export: like an erasure's, the comments
// collection, as the entry must not name the author.
const ExportTarget = ErasureTarget

// ExportQuery is an access request.
type ExportQuery struct {
	Email  string // the author's address, as the reader gives it
	Reason string // for the audit log: the request's reference, say
	// Only comments created at or after Since and before Until; zero means unbounded.
	Since, Until time.Time
}

// Validate checks an access request and returns a *comment.ValidationError naming every bad field,
// or nil. The API layer runs it too when a field did not even convert, so that one error names
// that field and every other bad one.
func (q ExportQuery) Validate() error {
	var verr comment.ValidationError
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		verr.Add("end_time", "not after start_time")
	}
	_, _, err := authorRequest(q.Email, q.Reason, &verr)
	return err
}

// ExportedComment is one comment of an export, with the author's data opened.
type ExportedComment struct {
	// Comment is the comment as stored. Its sealed fields and keyed hashes are cleared: the export
	// holds the values themselves, and the hashes are the server's, not the author's data.
	Comment comment.Comment
	// Email and IP are opened from the record; zero when it holds none or the value did not open.
	Email privacy.Email
	IP    privacy.IP
	// EmailUnreadable and IPUnreadable say the record holds a value that did not open (a key was
	// removed from the keyring, or the record was altered): it is reported as such, never guessed.
	EmailUnreadable, IPUnreadable bool
}

// exportSize is about the size of c as the API encodes it: its text, plus a fixed allowance for
// the names, times and framing around it. It is what MaxExportBytes counts.
func exportSize(c ExportedComment) int {
	const fixed = 256 // field tags and lengths, two timestamps, the state, the score
	x := c.Comment
	n := fixed + 2*len(x.ID) + len(x.ThreadID) + len(x.ParentID) + len(x.AuthorName) + len(x.Body) + len(x.UserAgent)
	n += len(c.Email.Reveal()) + len(c.IP.Reveal())
	for _, r := range x.HoldReasons {
		n += len(r.Code) + len(r.Message) + 8
	}
	if d := x.Decision; d != nil {
		n += len(d.Moderator) + len(d.Reason)
	}
	return n
}

// ExportAuthorData returns every comment of the author of q.Email, oldest first, with their email
// and IP address opened, for admin, and records the export in the audit log with the number of
// comments and the reason, never the address or its hash. It changes nothing else. An author with
// more than one export holds gets ErrExportTooLarge.
func (s *Service) ExportAuthorData(ctx context.Context, admin string, q ExportQuery) ([]ExportedComment, error) {
	if s.exporter == nil {
		return nil, unsupported("exporter")
	}
	if s.audit == nil {
		// Checked first: an export that cannot be audited must not even be read.
		return nil, unsupported("audit log")
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	e, reason, err := authorRequest(q.Email, q.Reason, nil)
	if err != nil {
		return nil, err
	}
	var (
		out  []ExportedComment
		size int
	)
	scan := comment.ScanOptions{Batch: s.eraseBatch, CallTimeout: s.eraseCallTimeout}
	// Every key the author's comments may carry, as for an erasure.
	err = s.exporter.AuthorComments(ctx, s.keys.EmailKeys(e), scan, func(_ context.Context, cs []comment.Comment) error {
		for _, c := range cs {
			if !q.Since.IsZero() && c.CreatedAt.Before(q.Since) || !q.Until.IsZero() && !c.CreatedAt.Before(q.Until) {
				continue
			}
			x := s.exported(c)
			size += exportSize(x)
			out = append(out, x)
			// Checked as the walk goes, so a refused export stops early and never holds more than
			// the bound in memory.
			if len(out) > MaxExportComments || size > MaxExportBytes {
				return ErrExportTooLarge
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export author data: %w", err)
	}
	slices.SortFunc(out, func(a, b ExportedComment) int {
		return cmp.Or(a.Comment.CreatedAt.Compare(b.Comment.CreatedAt), cmp.Compare(a.Comment.ID, b.Comment.ID))
	})
	note := countComments(len(out)) + " exported"
	if reason != "" {
		note += ": " + reason
	}
	// Recorded before the export is handed out: personal data in clear never leaves unaudited.
	ev := AuditEvent{Moderator: admin, Action: AuditExportAuthorData, Target: ExportTarget, Reason: note}
	if err := s.RecordAudit(ctx, ev); err != nil {
		return nil, err
	}
	return out, nil
}

// exported opens c's sealed values. A value that does not open is flagged, not an error: one
// damaged record must not keep the rest of the author's data from them.
func (s *Service) exported(c comment.Comment) ExportedComment {
	x := ExportedComment{}
	if c.EmailSealed != "" {
		e, err := s.keys.OpenEmail(c.EmailSealed, c.ID)
		x.Email, x.EmailUnreadable = e, err != nil
	}
	if c.IPSealed != "" {
		ip, err := s.keys.OpenIP(c.IPSealed, c.ID)
		x.IP, x.IPUnreadable = ip, err != nil
	}
	c.EmailSealed, c.IPSealed, c.AuthorKey, c.IPKey = "", "", "", ""
	x.Comment = c
	return x
}
