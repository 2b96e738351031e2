package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestExportEndToEnd answers an access request with commentctl against the commentd binary on a
// real redis-server: a moderator key is refused, the export file holds the author's comments and
// no other, with the email and IP address as submitted and the decision on them, the audit log
// records it, the server's log holds neither address, and after an erasure the export is empty.
func TestExportEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	s := startCommentd(t, rs.Addr)
	const email, ip, ua = "Xena.Export-E2E@Exportable.example", "192.0.2.178", "XenasBrowser/7.7"
	ids, _ := s.submitAuthorAndOther(t, "export", "Xena X", email, ip, ua)
	s.ctl(t, "reject", ids[1], "--reason", "off topic")

	// The moderator's key may not export.
	s.refusedToModerator(t, "export", "--email", email)

	path := filepath.Join(t.TempDir(), "export.json")
	out := ctlAs(t, s, s.adminToken, "export", "--email", strings.ToUpper(email), "--reason", "request 18", "--out", path)
	if out != "Wrote 2 comments of this author to "+path+". It holds personal data in clear: hand it to the author only.\n" {
		t.Errorf("commentctl export --out: stdout %q; want the two comments written", out)
	}
	b, err := os.ReadFile(path)
	var export commentdv1.ExportAuthorDataResponse
	if err != nil || protojson.Unmarshal(b, &export) != nil || len(export.GetComments()) != 2 {
		t.Fatalf("the --out file holds %q (%v); want an export of 2 comments", b, err)
	}
	for i, x := range export.GetComments() {
		if x.GetComment().GetId() != ids[i] || x.GetAuthorEmail() != email || x.GetIpAddress() != ip || x.GetUserAgent() != ua || x.GetComment().GetAuthorName() != "Xena X" {
			t.Errorf("exported comment %d = %v; want %s by Xena X, %s, %s, %s", i, x, ids[i], email, ip, ua)
		}
	}
	if d := export.GetComments()[1].GetDecision(); d.GetToState() != commentdv1.State_STATE_REJECTED || d.GetReason() != "off topic" {
		t.Errorf("exported comment 1 has decision %v; want the rejection, \"off topic\"", d)
	}
	if audit := s.ctl(t, "audit", "--target", "comments"); !strings.Contains(audit, "export-author-data") || !strings.Contains(audit, "2 comments exported: request 18") {
		t.Errorf("commentctl audit --target comments:\n%s\nwant the export with its count and reason", audit)
	}
	for _, secret := range []string{"xena.export-e2e", "exportable.example", ip} {
		if strings.Contains(strings.ToLower(s.log.String()), secret) {
			t.Errorf("the server's log holds %q:\n%.3000s", secret, s.log.String())
		}
	}

	ctlAs(t, s, s.adminToken, "erase", "--email", email, "--yes")
	if out := ctlAs(t, s, s.adminToken, "export", "--email", email); out != "No entries.\n" {
		t.Errorf("commentctl export after the erasure:\n%s\nwant \"No entries.\", as for any empty list", out)
	}
}
