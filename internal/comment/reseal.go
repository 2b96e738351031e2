package comment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commentd/commentd/internal/privacy"
)

// Key rotation. A comment's email and IP are sealed once, at submission, with the keyring's
// primary key. Putting a new key first makes new comments use it, but the records stored before
// still name the old key, which therefore can never be removed. A Resealer walks every record,
// seals again with the primary key each value another key sealed, and counts the values per key,
// so the operator can see when an old key is no longer used.

// SealedField names one sealed field of a comment record.
type SealedField int

// The sealed fields of a comment.
const (
	SealedEmail SealedField = iota + 1
	SealedIP
)

func (f SealedField) String() string {
	switch f {
	case SealedEmail:
		return "email"
	case SealedIP:
		return "ip"
	default:
		return fmt.Sprintf("field(%d)", int(f))
	}
}

// SealedRecord is one stored comment's sealed personal data: Comment.EmailSealed and
// Comment.IPSealed ("" when the comment has none).
type SealedRecord struct {
	ID        string
	Email, IP string
}

// SealedUpdate replaces one sealed value of a record: New is written only if the field still
// holds Old, so a change made since Old was read is never overwritten.
type SealedUpdate struct {
	ID       string
	Field    SealedField
	Old, New string
}

// ScanOptions bound a store's walk over the sealed fields.
type ScanOptions struct {
	Batch       int           // about how many records a batch holds; 0: the store's default
	CallTimeout time.Duration // bound of each store call the walk makes; 0: none of its own
}

// SealedStore is what key rotation needs of the store.
type SealedStore interface {
	// ScanSealed calls fn with the sealed fields of every stored comment, one batch at a time and
	// from one goroutine, and stops at fn's first error, which it returns. A comment stored while
	// the walk runs may be left out, and one may come twice if the store reorganises itself
	// meanwhile; every comment stored before the walk began and still there when it ends comes.
	ScanSealed(ctx context.Context, opts ScanOptions, fn func(ctx context.Context, batch []SealedRecord) error) error
	// ReplaceSealed applies each update on its own, atomically, and reports for each whether the
	// field now holds New: true when it was written (or already held New, as after a resent
	// write), false when the field had changed since Old was read. It never creates a record.
	ReplaceSealed(ctx context.Context, us []SealedUpdate) ([]bool, error)
}

// ErrUnopened means some sealed values did not open with the keyring: a key that sealed them is
// missing, or the values were altered. A Resealer returns it after walking every record.
var ErrUnopened = errors.New("comment: sealed values that do not open with the keyring")

// Limits of a report, so a walk over any number of records keeps a bounded amount in memory.
const (
	// MaxListedUnopened is how many values that did not open a report names.
	MaxListedUnopened = 100
	// maxKeyIDs is how many key ids a report counts apart; values of further ids (only foreign
	// or damaged data would name so many) are counted under OtherKeys.
	maxKeyIDs = 64
	// OtherKeys is the report's row for the key ids beyond maxKeyIDs. It cannot be a key id.
	OtherKeys = "(others)"
)

// Unopened is a sealed value that did not open, named by its comment and field only: the value
// itself may hold anything, even an address in clear, so it is never kept or shown.
type Unopened struct {
	ID    string
	Field SealedField
	// UnknownKey is true when the value names a key the keyring lacks; false when it failed
	// authentication or is not a sealed value at all.
	UnknownKey bool
}

// ResealReport is what one walk found and did.
type ResealReport struct {
	Records int // comment records walked
	Values  int // sealed values among them (a record has up to two)
	// ByKey counts the sealed values by the id of the key that sealed them, as the walk found
	// them (before it sealed any again). Every key of the keyring has an entry, 0 included, so an
	// unused key shows as 0; values not shaped as sealed values are counted in Unopened only.
	ByKey    map[string]int
	Resealed int // values sealed again with the primary key and written back
	// Changed counts values another writer changed between the read and the write; they were left
	// as they are, and a later run looks at them again.
	Changed int
	// UnopenedCount counts the values that did not open; Unopened names the first
	// MaxListedUnopened of them.
	UnopenedCount int
	Unopened      []Unopened
}

// ResealOptions configures a Resealer.
type ResealOptions struct {
	// Batch is how many records one store call reads; 0 leaves it to the store.
	Batch int
	// CallTimeout bounds each store call (default 5s).
	CallTimeout time.Duration
	// Progress, when set, is called after each batch with the report so far. It must not keep
	// the report, which the walk goes on changing.
	Progress func(ResealReport)
}

// Resealer counts and re-seals the sealed values of stored comments.
type Resealer struct {
	store SealedStore
	keys  *privacy.Keyring
	opts  ResealOptions
}

// NewResealer builds a Resealer.
func NewResealer(store SealedStore, keys *privacy.Keyring, opts ResealOptions) *Resealer {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	return &Resealer{store: store, keys: keys, opts: opts}
}

// Count walks every record and counts its sealed values by key, writing nothing. It opens each
// value as Reseal does, so it reports the same values as not opening. The error wraps
// ErrUnopened when some did not open.
func (r *Resealer) Count(ctx context.Context) (ResealReport, error) {
	return r.walk(ctx, false)
}

// Reseal walks every record and seals again with the primary key each value another key sealed,
// writing it back only if the record still holds the value read. It is safe to run while servers
// store and decide comments, to interrupt, and to run again: a second run finds nothing left to
// do. The report counts the values as found; the error wraps ErrUnopened when some did not
// open (the walk still went through every record), or is the store's error that ended the walk.
func (r *Resealer) Reseal(ctx context.Context) (ResealReport, error) {
	return r.walk(ctx, true)
}

func (r *Resealer) walk(ctx context.Context, write bool) (ResealReport, error) {
	rep := ResealReport{ByKey: make(map[string]int)}
	for _, id := range r.keys.KeyIDs() {
		rep.ByKey[id] = 0
	}
	var updates []SealedUpdate
	err := r.store.ScanSealed(ctx, ScanOptions{Batch: r.opts.Batch, CallTimeout: r.opts.CallTimeout}, func(ctx context.Context, batch []SealedRecord) error {
		updates = updates[:0]
		for _, rec := range batch {
			rep.Records++
			updates = r.visit(&rep, updates, rec.ID, SealedEmail, rec.Email, write)
			updates = r.visit(&rep, updates, rec.ID, SealedIP, rec.IP, write)
		}
		if len(updates) > 0 {
			cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
			written, err := r.store.ReplaceSealed(cctx, updates)
			cancel()
			if err != nil {
				return fmt.Errorf("write %d re-sealed values: %w", len(updates), err)
			}
			for _, ok := range written {
				if ok {
					rep.Resealed++
				} else {
					rep.Changed++
				}
			}
		}
		if r.opts.Progress != nil {
			r.opts.Progress(rep)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("walk sealed values: %w", err)
	}
	if rep.UnopenedCount > 0 {
		return rep, fmt.Errorf("%d of %d sealed values: %w", rep.UnopenedCount, rep.Values, ErrUnopened)
	}
	return rep, nil
}

// visit counts one sealed value and opens it; with write, a value another key sealed is sealed
// again and its update added to updates. Both modes open every value, so a dry run reports the
// same values as not opening.
func (r *Resealer) visit(rep *ResealReport, updates []SealedUpdate, id string, field SealedField, sealed string, write bool) []SealedUpdate {
	if sealed == "" {
		return updates
	}
	rep.Values++
	if key, ok := privacy.KeyID(sealed); ok {
		rep.countKey(key)
	}
	reseal := r.keys.ResealEmail
	if field == SealedIP {
		reseal = r.keys.ResealIP
	}
	out, err := reseal(sealed, id)
	switch {
	case err != nil:
		rep.unopened(Unopened{ID: id, Field: field, UnknownKey: errors.Is(err, privacy.ErrUnknownKey)})
	case write && out != sealed:
		updates = append(updates, SealedUpdate{ID: id, Field: field, Old: sealed, New: out})
	}
	return updates
}

func (r *ResealReport) countKey(id string) {
	if _, ok := r.ByKey[id]; !ok && len(r.ByKey) >= maxKeyIDs {
		id = OtherKeys
	}
	r.ByKey[id]++
}

func (r *ResealReport) unopened(u Unopened) {
	r.UnopenedCount++
	if len(r.Unopened) < MaxListedUnopened {
		r.Unopened = append(r.Unopened, u)
	}
}
