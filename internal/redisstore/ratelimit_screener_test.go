package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// TestScreenerInCommentService drives comment.Service with the abuse Screener on a real Redis:
// what readers and moderators get, and that nothing is stored for a refused submission.
func TestScreenerInCommentService(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	rules := []ratelimit.Rule{rule("flood-author", ratelimit.KeyAuthor, 1, time.Hour, 2)}
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	troll := subjectOf(t, "troll@example.com", "", "t", "x")
	mustBan(t, bans, ratelimit.BanRequest{Target: ratelimit.AuthorTarget(troll.AuthorKey), Moderator: "mod", Reason: "abuse"})
	mustBan(t, bans, ratelimit.BanRequest{Target: rangeTarget("203.0.113.0/24"), Moderator: "mod"})

	service := func(style ratelimit.BanStyle) *comment.Service {
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
		sc := ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{BanStyle: style})
		return comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{sc}})
	}
	refuse, shadow := service(ratelimit.BanRefuse), service(ratelimit.BanShadow)
	sub := func(email, ip, body string) comment.Submission {
		return comment.Submission{ThreadID: "news-1", AuthorName: "A Reader", AuthorEmail: email, ClientIP: ip, Body: body}
	}
	tests := []struct {
		name      string
		svc       *comment.Service
		sub       comment.Submission
		wantErr   error
		wantState comment.State
	}{
		{name: "first comment", svc: refuse, sub: sub("jane@example.com", "192.0.2.1", "First!"), wantState: comment.StatePublished},
		{name: "same text again", svc: refuse, sub: sub("Jane@example.com", "192.0.2.1", "first"), wantErr: ratelimit.ErrDuplicate},
		{name: "second comment (burst 2)", svc: refuse, sub: sub("jane@example.com", "192.0.2.1", "Second"), wantState: comment.StatePublished},
		{name: "third: flood", svc: refuse, sub: sub("jane@example.com", "192.0.2.1", "Third"), wantErr: ratelimit.ErrLimited},
		{name: "banned author, refused", svc: refuse, sub: sub("troll@example.com", "192.0.2.2", "hi"), wantErr: ratelimit.ErrBanned},
		{name: "banned range, refused", svc: refuse, sub: sub("other@example.com", "203.0.113.9", "hi"), wantErr: ratelimit.ErrBanned},
		{name: "banned author, shadow", svc: shadow, sub: sub("troll@example.com", "192.0.2.2", "hi"), wantState: comment.StateSpam},
	}
	for _, tt := range tests {
		got, err := tt.svc.Submit(ctx, tt.sub)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Fatalf("%s: Submit(%q) = %v, want %v", tt.name, tt.sub.Body, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		if got.State != tt.wantState {
			t.Errorf("%s: Submit(%q) stored state %v, want %v", tt.name, tt.sub.Body, got.State, tt.wantState)
		}
		if tt.wantState == comment.StateSpam && (len(got.HoldReasons) == 0 || got.HoldReasons[0].Code != ratelimit.ReasonBanned) {
			t.Errorf("%s: Submit(%q) reasons %+v, want %s first", tt.name, tt.sub.Body, got.HoldReasons, ratelimit.ReasonBanned)
		}
	}
	// Only the accepted submissions were stored: the two published ones.
	published, _, err := refuse.ListPublished(ctx, "news-1", comment.Page{})
	if err != nil || len(published) != 2 {
		t.Errorf("ListPublished(news-1) = %d comments, %v; want the 2 accepted", len(published), err)
	}
}
