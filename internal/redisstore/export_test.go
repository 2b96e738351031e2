package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
)

// splitAudit splits every key and value of the store, one line per key (dumpKeys), into the audit
// stream, statistics and call marks of actions on no shard, which an export's audit entry writes,
// and the rest.
func splitAudit(t *testing.T, ts testStore) (audit, rest string) {
	t.Helper()
	var a, r strings.Builder
	for _, line := range strings.SplitAfter(dumpKeys(t, ts), "\n") {
		key, _, _ := strings.Cut(line, " (")
		if key == ts.keys.audit(auditShard) || strings.HasPrefix(key, ts.keys.statsBase(auditShard)) ||
			strings.HasPrefix(key, ts.keys.auditMark(auditShard, "")) {
			a.WriteString(line)
		} else {
			r.WriteString(line)
		}
	}
	return a.String(), r.String()
}

// TestExportAuthorData: the export holds exactly the author's comments, oldest first, with their
// email and IP address as submitted and the decisions on them; it changes nothing in Redis but
// the audit entry, which holds the count and reason and never the address or its hash; a period
// narrows it; after an erasure it is empty.
func TestExportAuthorData(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()

	_, before := splitAudit(t, f.ts)
	if !strings.Contains(before, "Erased author's remark 3") {
		t.Fatalf("the dump of every key lacks the author's text; the dump is broken:\n%s", before)
	}
	got, err := f.mod.ExportAuthorData(ctx, "root", moderation.ExportQuery{Email: " " + strings.ToUpper(f.email), Reason: "request 2025-117"})
	if err != nil {
		t.Fatalf("ExportAuthorData = %v", err)
	}
	audit, after := splitAudit(t, f.ts)
	if after != before {
		t.Errorf("Redis after the export, audit entry aside (-before +after):\n%s", cmp.Diff(before, after))
	}
	if len(got) != len(f.erased) {
		t.Fatalf("ExportAuthorData = %d comments; want the author's %d", len(got), len(f.erased))
	}
	for i, x := range got {
		want := f.erased[i] // submitted in order, so oldest first
		want.EmailSealed, want.IPSealed, want.AuthorKey, want.IPKey = "", "", "", ""
		if diff := cmp.Diff(want, x.Comment); diff != "" {
			t.Errorf("exported comment %d (-want +got):\n%s", i, diff)
		}
		if x.Email.Reveal() != f.email || x.IP.Reveal() != f.ip || x.EmailUnreadable || x.IPUnreadable {
			t.Errorf("exported comment %d has email %q, IP %q, unreadable %t/%t; want %q, %q, both read", i, x.Email.Reveal(), x.IP.Reveal(), x.EmailUnreadable, x.IPUnreadable, f.email, f.ip)
		}
	}
	if d := got[1].Comment.Decision; d == nil || d.Moderator != "anna" || d.To != comment.StateRejected || d.Reason != "off topic" {
		t.Errorf("exported comment 1 has decision %+v; want anna's rejection, \"off topic\"", d)
	}

	evs, _, err := f.mod.ListAudit(ctx, moderation.AuditQuery{Target: moderation.ExportTarget}, comment.Page{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListAudit(target %s) = %d events, %v; want 1", moderation.ExportTarget, len(evs), err)
	}
	if ev := evs[0]; ev.Moderator != "root" || ev.Action != moderation.AuditExportAuthorData || ev.Reason != "4 comments exported: request 2025-117" {
		t.Errorf("audit event = %+v; want root, %s, reason \"4 comments exported: request 2025-117\"", ev, moderation.AuditExportAuthorData)
	}
	for _, secret := range []string{f.email, f.ip, f.key, f.erased[0].IPKey} {
		if strings.Contains(strings.ToLower(audit), strings.ToLower(secret)) {
			t.Errorf("the audit log and statistics hold %q after the export:\n%s", secret, audit)
		}
	}

	// A period: from the second comment's creation, before the fourth's.
	part, err := f.mod.ExportAuthorData(ctx, "root", moderation.ExportQuery{Email: f.email, Since: f.erased[1].CreatedAt, Until: f.erased[3].CreatedAt})
	if err != nil || len(part) != 2 || part[0].Comment.ID != f.erased[1].ID || part[1].Comment.ID != f.erased[2].ID {
		t.Errorf("ExportAuthorData(comments 1 to 2 by time) = %d comments, %v; want comments %s and %s", len(part), err, f.erased[1].ID, f.erased[2].ID)
	}

	if _, err := f.mod.EraseAuthorData(ctx, "root", f.email, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	if none, err := f.mod.ExportAuthorData(ctx, "root", moderation.ExportQuery{Email: f.email}); err != nil || len(none) != 0 {
		t.Errorf("ExportAuthorData after the erasure = %d comments, %v; want none", len(none), err)
	}
}

// TestExportUnreadable: a sealed value that does not open (here, another record's) is reported as
// unreadable and left empty, and the rest of the export is served.
func TestExportUnreadable(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()
	shard, _ := shardOfID(f.erased[2].ID)
	// A sealed value names its record in its authenticated context: moved, it fails to open.
	if err := f.ts.rdb.HSet(ctx, f.ts.keys.record(shard, f.erased[2].ID), fEmailSealed, f.erased[0].EmailSealed).Err(); err != nil {
		t.Fatalf("HSET email_sealed: %v", err)
	}
	got, err := f.mod.ExportAuthorData(ctx, "root", moderation.ExportQuery{Email: f.email})
	if err != nil || len(got) != len(f.erased) {
		t.Fatalf("ExportAuthorData = %d comments, %v; want %d", len(got), err, len(f.erased))
	}
	for i, x := range got {
		broken := i == 2
		if x.EmailUnreadable != broken || (x.Email.Reveal() == "") != broken || x.IPUnreadable || x.IP.Reveal() != f.ip {
			t.Errorf("exported comment %d: email %q unreadable %t, IP %q unreadable %t; want the email unreadable and empty only for comment 2, the IP %q everywhere",
				i, x.Email.Reveal(), x.EmailUnreadable, x.IP.Reveal(), x.IPUnreadable, f.ip)
		}
	}
}

// TestExportAuthorDataRefuses: a bad address, reason or period is a validation error naming each
// field, and nothing is audited.
func TestExportAuthorDataRefuses(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	at := f.erased[0].CreatedAt
	for _, tc := range []struct {
		name   string
		q      moderation.ExportQuery
		fields []string
	}{
		{"no address", moderation.ExportQuery{Email: " "}, []string{"author_email"}},
		{"not an address", moderation.ExportQuery{Email: "erin at example.net"}, []string{"author_email"}},
		{"reason too long", moderation.ExportQuery{Email: f.email, Reason: strings.Repeat("x", comment.MaxReasonChars+1)}, []string{"reason"}},
		{"empty period", moderation.ExportQuery{Email: f.email, Since: at, Until: at}, []string{"end_time"}},
		{"all", moderation.ExportQuery{Email: "@example.net", Reason: "a\x00b", Since: at.Add(1), Until: at}, []string{"end_time", "author_email", "reason"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.mod.ExportAuthorData(context.Background(), "root", tc.q)
			var verr *comment.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("ExportAuthorData(%+v) = %v, want a *comment.ValidationError", tc.q, err)
			}
			var fields []string
			for _, v := range verr.Violations {
				fields = append(fields, v.Field)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("ExportAuthorData(%+v) violations (-want +got):\n%s", tc.q, diff)
			}
		})
	}
	if evs, _, err := f.mod.ListAudit(context.Background(), moderation.AuditQuery{Target: moderation.ExportTarget}, comment.Page{}); err != nil || len(evs) != 0 {
		t.Errorf("ListAudit(target %s) after refused exports = %v, %v; want none", moderation.ExportTarget, evs, err)
	}
}

// TestExportTooLarge: an author whose comments hold more than moderation.MaxExportBytes is refused,
// and nothing is audited.
func TestExportTooLarge(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	})
	if err != nil {
		t.Fatalf("NewKeyring = %v", err)
	}
	email, _ := privacy.ParseEmail("big@example.com")
	mod := moderation.NewService(ts.Store, keys, moderation.Options{Audit: ts.Store, Exporter: ts.Store})
	body := strings.Repeat("long remark ", moderation.MaxExportBytes/12/4+1) // a quarter of the bound, and more
	for i := range 4 {
		c := draft(ts.Store, threadInShard("export-big", i), i)
		c.AuthorKey, c.Body = keys.EmailKey(email), body
		mustCreate(t, ts.Store, c, comment.CreateOptions{})
	}
	if _, err := mod.ExportAuthorData(ctx, "root", moderation.ExportQuery{Email: "big@example.com"}); !errors.Is(err, moderation.ErrExportTooLarge) {
		t.Errorf("ExportAuthorData(4 comments of %d bytes) = %v; want ErrExportTooLarge", len(body), err)
	}
	if evs, _, err := mod.ListAudit(ctx, moderation.AuditQuery{}, comment.Page{}); err != nil || len(evs) != 0 {
		t.Errorf("ListAudit after a refused export = %v, %v; want nothing", evs, err)
	}
}
