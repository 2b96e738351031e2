package moderation

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
)

// eraserStub anonymises n comments and then fails with err (nil: succeeds).
type eraserStub struct {
	n   int
	err error
}

func (e eraserStub) EraseAuthor(context.Context, []string, EraseOptions) (int, error) {
	return e.n, e.err
}

// auditStub records the entries appended.
type auditStub struct {
	events []AuditEvent
	err    error
}

func (a *auditStub) AppendAudit(_ context.Context, e AuditEvent) error {
	if a.err != nil {
		return a.err
	}
	a.events = append(a.events, e)
	return nil
}

func (a *auditStub) ListAudit(context.Context, AuditQuery, comment.Page) ([]AuditEvent, string, error) {
	return nil, "", nil
}

// TestEraseAuthorDataAudit: an erasure records who erased how many comments, and so does one that
// fails part way, since a repeat finds the comments anonymised already and counts 0; a dry run and
// an erasure that changed nothing before failing record nothing.
func TestEraseAuthorDataAudit(t *testing.T) {
	broken := errors.New("redis went away")
	longest := strings.Repeat("é", comment.MaxReasonChars) // a reason as long as one may be
	tests := []struct {
		name    string
		eraser  eraserStub
		reason  string // "ticket 7" unless set
		dryRun  bool
		auditFl error
		wantErr []error
		want    []string // the entries' reasons
	}{
		{name: "done", eraser: eraserStub{n: 3}, want: []string{"3 comments anonymised: ticket 7"}},
		// The count goes before the admin's reason, which stays whole.
		{name: "longest reason", eraser: eraserStub{n: 10000}, reason: longest, want: []string{"10000 comments anonymised: " + longest}},
		{name: "longest reason, failed part way", eraser: eraserStub{n: 10000, err: broken}, reason: longest, wantErr: []error{broken},
			want: []string{"10000 comments anonymised before the erasure failed; repeat it to finish: " + longest}},
		{name: "dry run", eraser: eraserStub{n: 3}, dryRun: true},
		{name: "failed part way", eraser: eraserStub{n: 2, err: broken}, wantErr: []error{broken},
			want: []string{"2 comments anonymised before the erasure failed; repeat it to finish: ticket 7"}},
		{name: "failed before any change", eraser: eraserStub{err: broken}, wantErr: []error{broken}},
		{name: "failed part way, and the audit log too", eraser: eraserStub{n: 1, err: broken}, auditFl: errFull,
			wantErr: []error{broken, errFull}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audit := &auditStub{err: tt.auditFl}
			s := NewService(nil, testKeyring(t), Options{Eraser: tt.eraser, Audit: audit})
			reason := cmp.Or(tt.reason, "ticket 7")
			got, err := s.EraseAuthorData(context.Background(), "root", "reader@example.com", reason, tt.dryRun)
			if got.Comments != tt.eraser.n {
				t.Errorf("EraseAuthorData counts %d comments, want %d", got.Comments, tt.eraser.n)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("EraseAuthorData error = %v, want it to wrap %v", err, want)
				}
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Errorf("EraseAuthorData error = %v, want none", err)
			}
			var reasons []string
			for _, e := range audit.events {
				if e.Moderator != "root" || e.Action != AuditEraseAuthorData || e.Target != ErasureTarget {
					t.Errorf("audit entry %+v: want root's %s of %s", e, AuditEraseAuthorData, ErasureTarget)
				}
				reasons = append(reasons, e.Reason)
			}
			if !slices.Equal(reasons, tt.want) {
				t.Errorf("audit entries %q, want %q", reasons, tt.want)
			}
		})
	}
}

var errFull = errors.New("audit log full")
