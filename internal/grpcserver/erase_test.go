package grpcserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestEraseAuthorData drives an erasure request through the API: a dry run counts, the erasure
// anonymises what the site and the moderator see of the author's comments and nothing of the
// other author's, the audit log records it without the address, the author's comment can no longer
// be banned by author, and the address is in no log line.
func TestEraseAuthorData(t *testing.T) {
	const email = "Erin.Erasable@Erasure-Probe.example"
	e := newBansEnv(t, ratelimit.BanRefuse)
	site, mod, admin := e.as(t, siteKeyName), e.as(t, modKeyName), e.as(t, adminKeyName)

	var erased, kept []string
	for i := range 3 {
		erased = append(erased, e.submit(t, &commentdv1.SubmitCommentRequest{ThreadId: "erase", AuthorName: "Erin", AuthorEmail: email, Body: fmt.Sprintf("mine %d", i), ClientIp: "198.51.100.7", UserAgent: "ErinBrowser/1.0"}).GetName())
		if i < 2 {
			kept = append(kept, e.submit(t, &commentdv1.SubmitCommentRequest{ThreadId: "erase", AuthorName: "Kim", AuthorEmail: "kim@example.com", Body: fmt.Sprintf("theirs %d", i), ClientIp: "203.0.113.8", UserAgent: "KimBrowser/1.0"}).GetName())
		}
	}
	view := func(name string) *commentdv1.ModeratedComment {
		t.Helper()
		resp, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
		if err != nil {
			t.Fatalf("moderator GetComment(%s): %v", name, err)
		}
		return resp.GetComment()
	}
	authorKey := view(erased[0]).GetAuthorKey()
	keptBefore := []*commentdv1.ModeratedComment{view(kept[0]), view(kept[1])}

	dry, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email, ValidateOnly: true})
	if err != nil || dry.GetCommentCount() != 3 {
		t.Fatalf("EraseAuthorData(validate_only) = %v, %v; want 3 comments", dry, err)
	}
	if v := view(erased[0]); v.GetAuthorKey() != authorKey || v.GetComment().GetAuthorName() != "Erin" {
		t.Errorf("after a dry run the comment shows author %q, key %q; want it unchanged", v.GetComment().GetAuthorName(), v.GetAuthorKey())
	}

	resp, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: strings.ToUpper(email), Reason: "ticket 4711"})
	if err != nil || resp.GetCommentCount() != 3 {
		t.Fatalf("EraseAuthorData = %v, %v; want 3 comments", resp, err)
	}
	for _, name := range erased {
		v := view(name)
		if v.GetComment().GetAuthorName() != "Anonymous" || v.GetMaskedEmail() != "" || v.GetAuthorKey() != "" || v.GetMaskedIp() != "" || v.GetUserAgent() != "" {
			t.Errorf("moderator view of erased %s = %v; want author Anonymous and no email, key, IP or user agent", name, v)
		}
		if !strings.HasPrefix(v.GetComment().GetBody(), "mine ") || v.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED {
			t.Errorf("erased %s has body %q, state %v; want them unchanged", name, v.GetComment().GetBody(), v.GetComment().GetState())
		}
		got, err := e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: name})
		if err != nil || got.GetComment().GetAuthorName() != "Anonymous" {
			t.Errorf("site GetComment(%s) = %v, %v; want author Anonymous", name, got, err)
		}
	}
	for i, name := range kept {
		if diff := cmp.Diff(keptBefore[i].String(), view(name).String()); diff != "" {
			t.Errorf("other author's %s after the erasure (-before +after):\n%s", name, diff)
		}
	}

	audit, err := e.mod.ListAuditEvents(mod, &commentdv1.ListAuditEventsRequest{Target: "comments"})
	if err != nil || len(audit.GetEvents()) != 1 {
		t.Fatalf("ListAuditEvents(target comments) = %v, %v; want one event", audit, err)
	}
	ev := audit.GetEvents()[0]
	if ev.GetAction() != commentdv1.AuditAction_AUDIT_ACTION_ERASE_AUTHOR_DATA || ev.GetModerator() != adminKeyName || ev.GetReason() != "3 comments anonymised: ticket 4711" {
		t.Errorf("audit event = %v; want ERASE_AUTHOR_DATA by %s, reason \"3 comments anonymised: ticket 4711\"", ev, adminKeyName)
	}

	_, err = e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: erased[0]}, Reason: "abuse"})
	if code, _ := codeReason(err); code != codes.InvalidArgument || !cmp.Equal(badRequestFields(err), []string{"comment_author"}) {
		t.Errorf("CreateBan(author of erased %s) = %v; want InvalidArgument on comment_author", erased[0], err)
	}

	again, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email})
	if err != nil || again.GetCommentCount() != 0 {
		t.Errorf("second EraseAuthorData = %v, %v; want 0 comments", again, err)
	}

	logs := strings.ToLower(e.logs.String())
	for _, secret := range []string{email, "erin.erasable", authorKey} {
		if strings.Contains(logs, strings.ToLower(secret)) {
			t.Errorf("the server's log holds %q:\n%s", secret, e.logs.String())
		}
	}
}

// TestEraseAuthorDataInvalid: a missing or malformed address is INVALID_ARGUMENT with a field
// violation, and a reason too long or holding the address (in any case or spelling) is one more.
func TestEraseAuthorDataInvalid(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	for _, tc := range []struct {
		name string
		req  *commentdv1.EraseAuthorDataRequest
		want []string
	}{
		{"no address", &commentdv1.EraseAuthorDataRequest{}, []string{"author_email"}},
		{"not an address", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "erin@"}, []string{"author_email"}},
		{"display form", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "Erin <erin@example.com>"}, []string{"author_email"}},
		{"reason too long", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "erin@example.com", Reason: strings.Repeat("r", comment.MaxReasonChars+1)}, []string{"reason"}},
		{"reason holds the address", &commentdv1.EraseAuthorDataRequest{AuthorEmail: " Erin@Example.com", Reason: "request 17 from erin@EXAMPLE.com"}, []string{"reason"}},
		{"reason holds the address in another spelling", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "erin@bücher.example", Reason: "request 17 from Erin@XN--BCHER-KVA.example"}, []string{"reason"}},
		{"reason holds another address", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "erin@example.com", Reason: "request 19, also erin.b@example.org"}, []string{"reason"}},
		{"reason holds an IP address", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "erin@example.com", Reason: "request 20 sent from 198.51.100.7"}, []string{"reason"}},
		{"reason holds the address decomposed", &commentdv1.EraseAuthorDataRequest{AuthorEmail: "jos\u00e9@example.com", Reason: "request 18 from jose\u0301@example.com"}, []string{"reason"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.mod.EraseAuthorData(e.as(t, adminKeyName), tc.req)
			code, reason := codeReason(err)
			if code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !cmp.Equal(badRequestFields(err), tc.want) {
				t.Errorf("EraseAuthorData(%v) = %v %q fields %v; want InvalidArgument %q fields %v", tc.req, code, reason, badRequestFields(err), grpcserver.ReasonInvalidArgument, tc.want)
			}
		})
	}
}

// TestDataRequestsOutliveCallTimeout: the server's own call bound (-redis-timeout) does not cut an
// erasure or an export short, as each walks the whole store; other calls keep the bound.
func TestDataRequestsOutliveCallTimeout(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, callTimeout: time.Nanosecond})
	admin := e.as(t, adminKeyName)
	if _, err := e.mod.ListQueue(admin, &commentdv1.ListQueueRequest{}); err == nil {
		t.Fatalf("ListQueue with a 1ns call timeout succeeded; the test cannot tell bounded calls apart")
	}
	if resp, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: "erin@example.com"}); err != nil {
		t.Errorf("EraseAuthorData with a 1ns call timeout = %v, %v; want it unbounded by the server", resp, err)
	}
	if resp, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: "xena@example.com"}); err != nil {
		t.Errorf("ExportAuthorData with a 1ns call timeout = %v, %v; want it unbounded by the server", resp, err)
	}
}
