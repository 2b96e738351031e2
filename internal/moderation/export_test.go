package moderation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
)

// exporterFunc is an Exporter answering with its function.
type exporterFunc func(ctx context.Context, authorKeys []string, fn func(context.Context, []comment.Comment) error) error

func (f exporterFunc) AuthorComments(ctx context.Context, authorKeys []string, _ comment.ScanOptions, fn func(context.Context, []comment.Comment) error) error {
	return f(ctx, authorKeys, fn)
}

// auditFunc is an AuditLog whose appends go to its function.
type auditFunc func(AuditEvent) error

func (f auditFunc) AppendAudit(_ context.Context, e AuditEvent) error { return f(e) }
func (f auditFunc) ListAudit(context.Context, AuditQuery, comment.Page) ([]AuditEvent, string, error) {
	return nil, "", nil
}

// TestExportBounds: an export holds at most MaxExportComments comments and MaxExportBytes of them;
// beyond either it is refused with ErrExportTooLarge, the walk stops, and nothing is audited.
func TestExportBounds(t *testing.T) {
	small := strings.Repeat("x", 10)
	big := strings.Repeat("x", MaxExportBytes/100) // 100 of these exceed the bytes, not the count
	tests := []struct {
		name    string
		n       int
		body    string
		wantErr error
	}{
		{"count at the bound", MaxExportComments, small, nil},
		{"count beyond", MaxExportComments + 1, small, ErrExportTooLarge},
		{"bytes within", 95, big, nil},
		{"bytes beyond", 100, big, ErrExportTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var audited []AuditEvent
			s := NewService(&decideStub{}, testKeyring(t), Options{
				Exporter: exporterFunc(func(ctx context.Context, _ []string, fn func(context.Context, []comment.Comment) error) error {
					for i := range tt.n {
						if err := fn(ctx, []comment.Comment{{ID: fmt.Sprintf("c%05d", i), Body: tt.body}}); err != nil {
							return err
						}
					}
					return nil
				}),
				Audit: auditFunc(func(e AuditEvent) error { audited = append(audited, e); return nil }),
			})
			got, err := s.ExportAuthorData(context.Background(), "root", ExportQuery{Email: "reader@example.com"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ExportAuthorData(%d comments of %d bytes) = %d comments, %v; want error %v", tt.n, len(tt.body), len(got), err, tt.wantErr)
			}
			wantAudit := 1
			if tt.wantErr != nil {
				wantAudit = 0
			} else if len(got) != tt.n {
				t.Errorf("ExportAuthorData(%d comments of %d bytes) = %d comments; want all", tt.n, len(tt.body), len(got))
			}
			if len(audited) != wantAudit {
				t.Errorf("ExportAuthorData(%d comments of %d bytes) recorded %d audit events; want %d", tt.n, len(tt.body), len(audited), wantAudit)
			}
		})
	}
}

// TestCountComments: audit reasons say "1 comment", not "1 comments".
func TestCountComments(t *testing.T) {
	for n, want := range map[int]string{0: "0 comments", 1: "1 comment", 2: "2 comments", 10000: "10000 comments"} {
		if got := countComments(n); got != want {
			t.Errorf("countComments(%d) = %q, want %q", n, got, want)
		}
	}
}
