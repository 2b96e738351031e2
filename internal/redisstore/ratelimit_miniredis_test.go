package redisstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// TestAbuseScriptsRunOnMiniredis proves the abuse-control scripts run on miniredis, which
// commentd -dev uses instead of Redis. It is not where their behaviour is tested: that is against
// a real redis-server, in the other tests.
func TestAbuseScriptsRunOnMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	s := abuseStore(t, rdb)
	ctx := context.Background()
	rules := []ratelimit.Rule{
		rule("ip", ratelimit.KeyIP, 1, time.Hour, 1),
		rule("author", ratelimit.KeyAuthor, 5, time.Hour, 5),
		rule("thread", ratelimit.KeyThread, 5, time.Hour, 5),
		rule("site", ratelimit.KeySite, 5, time.Hour, 5),
	}
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})

	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "hello")); err != nil {
		t.Fatalf("Check #1 on miniredis = %v, want accepted", err)
	}
	var le *ratelimit.LimitError
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "again")); !errors.As(err, &le) || le.Rule != "ip" || le.RetryAfter <= 59*time.Minute {
		t.Fatalf("Check #2 from the same address on miniredis = %v, want refused by rule ip for about an hour", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.2", "t", "hello")); !errors.Is(err, ratelimit.ErrDuplicate) {
		t.Fatalf("duplicate Check on miniredis = %v, want ratelimit.ErrDuplicate", err)
	}
	mustBan(t, bans, ratelimit.BanRequest{Target: rangeTarget("203.0.113.0/24"), Moderator: "mod", Duration: time.Hour})
	if o, err := g.Check(ctx, subjectOf(t, "john@example.com", "203.0.113.5", "t", "x")); err != nil || o.Ban == nil {
		t.Fatalf("Check from a banned range on miniredis = %+v, %v; want the ban", o, err)
	}
	if list, _, err := bans.List(ctx, comment.Page{}); err != nil || len(list) != 1 {
		t.Fatalf("List on miniredis = %d bans, %v; want 1", len(list), err)
	}
	if err := bans.Unban(ctx, rangeTarget("203.0.113.0/24"), "ann"); err != nil {
		t.Fatalf("Unban on miniredis = %v", err)
	}
	// The refunds worked: the author has 4 of 5 left (1 accepted; the refused and the duplicate
	// were given back).
	for i, ip := range []string{"192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"} {
		if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", ip, "t", ip)); err != nil {
			t.Fatalf("Check #%d by the author on miniredis = %v, want accepted", i+2, err)
		}
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.14", "t", "over")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("sixth Check by the author on miniredis = %v, want refused", err)
	}
}

// TestShadowRuleRunsOnMiniredis proves a shadow rule works on miniredis as on Redis: it lets
// through what it would refuse, reports it, and a refund, sure or unsure, gives back only what it
// took.
func TestShadowRuleRunsOnMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	s := abuseStore(t, rdb)
	ctx := context.Background()
	trial := shadowOf(rule("", ratelimit.KeyAuthor, 1, time.Hour, 1), "trial")
	counted := rule("counted", ratelimit.KeyAuthor, 10, time.Hour, 10)
	var ev shadowEvents
	opts := ratelimit.Options{Rules: []ratelimit.Rule{trial, counted}, Observer: &ev}
	g, lost := ratelimit.NewGuard(s, opts), ratelimit.NewGuard(lostCheckStore{s}, opts)
	sub := subjectOf(t, "jane@example.com", "192.0.2.1", "t", "first")
	if _, err := g.Check(ctx, sub); err != nil {
		t.Fatalf("Check #1 on miniredis = %v, want accepted", err)
	}
	trialBefore, countedBefore := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "trial"), ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "counted")
	o, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "second"))
	if err != nil || hasTake(o.Ticket, "trial") {
		t.Fatalf("Check #2 on miniredis = %+v, %v; want accepted, not counted by the shadow rule trial", o.Ticket, err)
	}
	if shadow, _ := ev.take(); !slices.Equal(shadow, []string{"trial"}) {
		t.Errorf("Check #2 on miniredis: shadow refusals %q, want [trial]", shadow)
	}
	g.Refund(ctx, o.Ticket)
	if _, err := lost.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "third")); !errors.Is(err, comment.ErrUnavailable) {
		t.Fatalf("Check #3 on miniredis, its reply lost = %v, want comment.ErrUnavailable", err)
	}
	if got := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "trial"); got != trialBefore {
		t.Errorf("state of trial on miniredis after a refund and a lost check = %d, want %d as after Check #1", got, trialBefore)
	}
	if got := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "counted"); got != countedBefore {
		t.Errorf("state of counted on miniredis after a refund and a lost check = %d, want %d as after Check #1", got, countedBefore)
	}
}
