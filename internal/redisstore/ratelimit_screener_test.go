package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
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
		{name: "banned author, shadow", svc: shadow, sub: sub("troll@example.com", "192.0.2.2", "hi"), wantState: comment.StateRejected},
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
		if tt.wantState == comment.StateRejected && (len(got.HoldReasons) == 0 || got.HoldReasons[0].Code != ratelimit.ReasonBanned) {
			t.Errorf("%s: Submit(%q) reasons %+v, want %s first", tt.name, tt.sub.Body, got.HoldReasons, ratelimit.ReasonBanned)
		}
	}
	// Only the accepted submissions were stored: the two published ones, and the shadow-banned one
	// rejected. The refused submissions are in no list at all.
	published, _, err := pageOf(refuse.ListPublished(ctx, "news-1", comment.Page{}))
	if err != nil || len(published) != 2 {
		t.Errorf("ListPublished(news-1) = %d comments, %v; want the 2 accepted", len(published), err)
	}
	for _, st := range []comment.State{comment.StatePending, comment.StateRejected, comment.StateSpam} {
		queued, _, err := s.ListQueue(ctx, moderation.Query{State: st, ThreadID: "news-1"}, comment.Page{Size: 50})
		want := 0
		if st == comment.StateRejected {
			want = 1 // the shadow-banned submission
		}
		if err != nil || len(queued) != want {
			t.Errorf("ListQueue(%v, news-1) = %d comments, %v; want %d (refused submissions are not stored)", st, len(queued), err, want)
		}
	}
}

// TestScreenerRefundsWhenTheStoreRefuses checks the Screener's Undo hook end to end: a submission
// the comment store refuses (a closed thread) is not counted by the rules, and its duplicate marker
// is gone, so the same text can be posted once the thread reopens.
func TestScreenerRefundsWhenTheStoreRefuses(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	rules := []ratelimit.Rule{rule("flood-author", ratelimit.KeyAuthor, 1, time.Hour, 1)}
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
	svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})}})
	sub := comment.Submission{ThreadID: "closed-1", AuthorName: "A Reader", AuthorEmail: "jane@example.com", ClientIP: "192.0.2.1", Body: "Hello"}

	closed, open := true, false
	if _, _, err := s.UpdateThread(ctx, "", "closed-1", nil, &closed, ""); err != nil {
		t.Fatalf("UpdateThread(closed-1, closed) = %v", err)
	}
	for i := range 3 {
		if _, err := svc.Submit(ctx, sub); !errors.Is(err, comment.ErrThreadClosed) {
			t.Fatalf("Submit #%d to a closed thread = %v, want comment.ErrThreadClosed (not a rate limit: the refused ones were given back)", i+1, err)
		}
	}
	if _, _, err := s.UpdateThread(ctx, "", "closed-1", nil, &open, ""); err != nil {
		t.Fatalf("UpdateThread(closed-1, open) = %v", err)
	}
	if got, err := svc.Submit(ctx, sub); err != nil || got.State != comment.StatePublished {
		t.Fatalf("Submit of the same text after reopening = %+v, %v; want it published (no count, no duplicate marker left)", got, err)
	}
	sub.Body = "Hello again"
	if _, err := svc.Submit(ctx, sub); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("second stored Submit within the hour = %v, want ratelimit.ErrLimited by %v", err, rules[0])
	}
}

// TestScreenerPassesTheAuthorsRecord checks that the record another part of commentd keeps (the
// moderators' decisions) reaches the screeners after the abuse check, on the draft.
func TestScreenerPassesTheAuthorsRecord(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	jane := subjectOf(t, "jane@example.com", "", "t", "x")
	if err := s.rdb.HSet(ctx, s.keys.authorHistory(jane.AuthorKey), "approved", 7, "rejected", 2, "spam", 1).Err(); err != nil {
		t.Fatalf("HSET author record = %v", err)
	}
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: ratelimit.DefaultRules()})
	var seen []*comment.AuthorHistory
	after := screenerFunc(func(_ context.Context, d *comment.Draft, _ *comment.Verdict) error {
		seen = append(seen, d.History)
		return nil
	})
	svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{}), after}})
	for _, email := range []string{"Jane@Example.com", "newcomer@example.com"} {
		if _, err := svc.Submit(ctx, comment.Submission{ThreadID: "t", AuthorName: "A Reader", AuthorEmail: email, Body: "Hi from " + email}); err != nil {
			t.Fatalf("Submit by %s = %v", email, err)
		}
	}
	want := []*comment.AuthorHistory{{Approved: 7, Rejected: 2, Spam: 1}, {}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("history seen by the next screener for jane, then a newcomer (-want +got):\n%s", diff)
	}
}

// TestScreenerLaterRefusalGivesBack: a screener after the abuse check refuses the submission. What
// the abuse check took for it (the author's only count, the text's duplicate marker) must be given
// back, so the same author may send the same text at once.
func TestScreenerLaterRefusalGivesBack(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{rule("one-author", ratelimit.KeyAuthor, 1, time.Hour, 1)}})
	abuse := ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})
	errLater := errors.New("refused by a later check")
	refusing := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{
		abuse,
		screenerFunc(func(context.Context, *comment.Draft, *comment.Verdict) error { return errLater }),
	}})
	plain := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{abuse}})
	sub := comment.Submission{ThreadID: "later-refusal", AuthorName: "A Reader", AuthorEmail: "later@example.com", ClientIP: "192.0.2.40", Body: "Only once"}

	if _, err := refusing.Submit(ctx, sub); !errors.Is(err, errLater) {
		t.Fatalf("Submit with a refusing later screener = %v, want %v", err, errLater)
	}
	got, err := plain.Submit(ctx, sub)
	if err != nil {
		t.Fatalf("Submit of the same text by the same author after the refusal = %v, want it stored: the refused submission's count and duplicate marker were not given back", err)
	}
	if got.State != comment.StatePublished {
		t.Errorf("Submit after the refusal: state %v, want %v", got.State, comment.StatePublished)
	}
	if _, err := plain.Submit(ctx, comment.Submission{ThreadID: "later-refusal", AuthorName: "A Reader", AuthorEmail: "later@example.com", ClientIP: "192.0.2.40", Body: "A second one"}); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("second stored Submit by the author = %v, want %v: the rule counts a stored comment", err, ratelimit.ErrLimited)
	}
}

// screenerFunc adapts a function to comment.Screener.
type screenerFunc func(context.Context, *comment.Draft, *comment.Verdict) error

func (f screenerFunc) Screen(ctx context.Context, d *comment.Draft, v *comment.Verdict) error {
	return f(ctx, d, v)
}

// TestScreenerRequestIDResendAndReuse sends a request id again: unchanged (a resend, the site lost
// our answer), and with another body or author (a reuse, a bug of the site). A resend returns the
// first comment and a reuse is refused with comment.ErrRequestReused; neither may count against a
// rule, leave a duplicate marker or store anything. The author's burst must be whole afterwards,
// and the texts the reuses carried must pass duplicate control when sent under new request ids.
//
// It also counts round trips: a new submission takes two (the abuse check and the write), a reuse
// two (the check, which knows the request id, and the refund of what the other values' calls in
// the same exchange counted), a resend three (those two and the write, which returns the first
// comment).
func TestScreenerRequestIDResendAndReuse(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	var c counter
	rdb.AddHook(&c)
	s := abuseStore(t, rdb)
	ctx := context.Background()
	const burst = 3
	rules := []ratelimit.Rule{rule("burst-author", ratelimit.KeyAuthor, 1, time.Hour, burst), rule("burst-ip", ratelimit.KeyIP, 1, time.Hour, 2*burst)}
	service := func(dupWindow time.Duration) *comment.Service {
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules, DuplicateWindow: dupWindow})
		sc := ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})
		return comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{sc}})
	}
	// withDup recognises a resend by its duplicate marker; noDup (duplicate control off) cannot,
	// nor can anything once the duplicate window has passed: only the store knows the request id.
	withDup, noDup := service(0), service(-1)
	sub := func(email, requestID, body string) comment.Submission {
		return comment.Submission{ThreadID: "resend-1", AuthorName: "A Reader", AuthorEmail: email, ClientIP: "192.0.2.7", Body: body, RequestID: requestID}
	}

	// Loads the comment script, so the counts below are a submission's own.
	if _, err := withDup.Submit(ctx, comment.Submission{ThreadID: "warm-up", AuthorName: "W", AuthorEmail: "w@example.com", Body: "w"}); err != nil {
		t.Fatalf("warm-up Submit = %v", err)
	}
	trips := func(f func()) int64 {
		before := c.trips.Load()
		f()
		return c.trips.Load() - before
	}
	var first comment.Comment
	var err error
	if n := trips(func() { first, err = withDup.Submit(ctx, sub("jane@example.com", "r-1", "Hello")) }); err != nil || n != 2 {
		t.Fatalf("Submit(r-1, Hello) = %v in %d round trips, want it stored in 2", err, n)
	}
	keysAfterFirst := scanKeys(t, s.rdb, s.keys.prefix)
	resends := []struct {
		name string
		svc  *comment.Service
		sub  comment.Submission
	}{
		{"resend", withDup, sub("jane@example.com", "r-1", "Hello")},
		{"resend, address spelt otherwise", withDup, sub("Jane@Example.com", "r-1", "  Hello ")},
		{"resend without duplicate control", noDup, sub("jane@example.com", "r-1", "Hello")},
	}
	for _, tt := range resends {
		var got comment.Comment
		n := trips(func() { got, err = tt.svc.Submit(ctx, tt.sub) })
		if err != nil || got.ID != first.ID || n != 3 {
			t.Errorf("%s: Submit(r-1, %q) = %s, %v in %d round trips; want the first comment %s in 3", tt.name, tt.sub.Body, got.ID, err, n, first.ID)
		}
	}
	reuses := []struct {
		name string
		svc  *comment.Service
		sub  comment.Submission
	}{
		{"other body", withDup, sub("jane@example.com", "r-1", "Bye")},
		{"other body, no duplicate control", noDup, sub("jane@example.com", "r-1", "Bye")},
		{"other author", withDup, sub("bob@example.com", "r-1", "Hello")},
		{"other author and body", withDup, sub("bob@example.com", "r-1", "Bob here")},
	}
	for _, tt := range reuses {
		var got comment.Comment
		n := trips(func() { got, err = tt.svc.Submit(ctx, tt.sub) })
		if !errors.Is(err, comment.ErrRequestReused) || n != 2 {
			t.Errorf("%s: Submit(r-1, %s, %q) = %s, %v in %d round trips; want comment.ErrRequestReused in 2", tt.name, tt.sub.AuthorEmail, tt.sub.Body, got.ID, err, n)
		}
	}
	// The only keys the resends and reuses may leave are the marks of a check whose counts were
	// given back (":k:" that it counted, ":x:" that it was refunded), which keep a resent command
	// from counting or refunding twice and expire within a minute.
	var left []string
	for _, k := range scanKeys(t, s.rdb, s.keys.prefix) {
		if slices.Contains(keysAfterFirst, k) {
			continue
		}
		if strings.Contains(k, ":k:") || strings.Contains(k, ":x:") {
			if ttl, err := s.rdb.TTL(ctx, k).Result(); err == nil && ttl > 0 && ttl <= time.Minute {
				continue
			}
		}
		left = append(left, k)
	}
	if len(left) != 0 {
		t.Errorf("keys written by the resends and reuses: %v, want none but short-lived check marks", left)
	}

	// The counts are whole: Jane has burst-1 submissions left, Bob burst; and the texts of the
	// reuses are not duplicates of anything stored.
	for i, tt := range []struct {
		sub     comment.Submission
		wantErr error
	}{
		{sub("jane@example.com", "r-2", "Bye"), nil},
		{sub("jane@example.com", "r-3", "Third"), nil},
		{sub("jane@example.com", "r-4", "Fourth"), ratelimit.ErrLimited},
		{sub("bob@example.com", "r-5", "Hello"), nil},
		{sub("bob@example.com", "r-6", "Bob here"), nil},
		{sub("bob@example.com", "r-7", "Bob again"), nil},
		{sub("bob@example.com", "r-8", "Bob once more"), ratelimit.ErrLimited},
	} {
		if _, err := withDup.Submit(ctx, tt.sub); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("new submission #%d (%s, %s, %q) = %v, want %v", i+1, tt.sub.AuthorEmail, tt.sub.RequestID, tt.sub.Body, err, tt.wantErr)
		}
	}
	// Jane's burst is spent now: a resend still gets its comment, whatever the rules say (and
	// without duplicate control, which recognises resends only within its window).
	if got, err := noDup.Submit(ctx, sub("jane@example.com", "r-2", "Bye")); err != nil || got.Body != "Bye" {
		t.Errorf("resend of r-2 over the spent burst, without duplicate control = %q, %v; want the comment r-2 made", got.Body, err)
	}
}

// heldRefunds is the abuse store with its first Refund held until release is closed: a
// submission refused by a rule in another slot than its request marker's stays, that long, as it
// is between its check's exchange and the refund that takes its marker back.
type heldRefunds struct {
	*Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (h *heldRefunds) Refund(ctx context.Context, t ratelimit.Ticket) error {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.entered)
		<-h.release
	}
	return h.Store.Refund(ctx, t)
}

// heldCreates is the comment store with its first Create held until release is closed: a
// submission that passed its checks is between them and its write.
type heldCreates struct {
	*Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (h *heldCreates) Create(ctx context.Context, c comment.Comment, opts comment.CreateOptions) (comment.Comment, bool, error) {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.entered)
		<-h.release
	}
	return h.Store.Create(ctx, c, opts)
}

// TestScreenerRequestResentWhileFirstUnsettled sends a request again while its first submission
// is between its abuse check and its end (a site resending at once, or a client sending many
// copies on purpose). The copy sees the first one's request marker and counts nothing, so it must
// not store the comment itself: when the first is refused (a rule of the author's slot, whose
// refund of the marker is still on its way), the copy would store a comment no rule counted, over
// the author's limit; when the first stores it, the copy storing it first would leave it counted
// by nothing (the first, answered from the copy's record, gives its counts back). The copy is
// refused with comment.ErrRequestInProgress instead, and sent again later it gets what the first
// got. A marker left by a submission that never ended (its server stopped between check and write)
// no longer stands in the way once it is older than ratelimit.RequestSettle.
func TestScreenerRequestResentWhileFirstUnsettled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rules := []ratelimit.Rule{rule("flood-author", ratelimit.KeyAuthor, 1, time.Hour, 1)}
	sub := func(email, requestID, body string) comment.Submission {
		return comment.Submission{ThreadID: "unsettled-1", AuthorName: "A Reader", AuthorEmail: email, ClientIP: "192.0.2.9", Body: body, RequestID: requestID}
	}
	submitAsync := func(svc *comment.Service, s comment.Submission) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := svc.Submit(ctx, s)
			done <- err
		}()
		return done
	}

	t.Run("first refused", func(t *testing.T) {
		t.Parallel()
		s := sharedAbuseStore(t)
		held := &heldRefunds{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
		g := ratelimit.NewGuard(held, ratelimit.Options{Rules: rules})
		svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})}})
		// Jane spends her burst; her next request is refused, its marker given back late.
		if _, err := svc.Submit(ctx, sub("jane@example.com", "u-1", "First")); err != nil {
			t.Fatalf("Submit(u-1) = %v, want stored", err)
		}
		first := submitAsync(svc, sub("jane@example.com", "u-2", "Over the limit"))
		<-held.entered
		got, err := svc.Submit(ctx, sub("jane@example.com", "u-2", "Over the limit"))
		if !errors.Is(err, comment.ErrRequestInProgress) {
			t.Errorf("Submit(u-2) again while the first u-2 is being refused = %s, %v; want comment.ErrRequestInProgress (nothing stored)", got.ID, err)
		}
		close(held.release)
		if err := <-first; !errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("first Submit(u-2) = %v, want ratelimit.ErrLimited", err)
		}
		if got, err := svc.Submit(ctx, sub("jane@example.com", "u-2", "Over the limit")); !errors.Is(err, ratelimit.ErrLimited) {
			t.Errorf("Submit(u-2) again after the first was refused = %s, %v; want ratelimit.ErrLimited, as the first", got.ID, err)
		}
	})

	t.Run("first stored", func(t *testing.T) {
		t.Parallel()
		s := sharedAbuseStore(t)
		held := &heldCreates{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
		screeners := []comment.Screener{ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})}
		slow := comment.NewService(held, abuseKeys, comment.Options{Screeners: screeners})
		svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: screeners})
		first := make(chan comment.Comment, 1)
		go func() {
			c, err := slow.Submit(ctx, sub("ann@example.com", "v-1", "Hello"))
			if err != nil {
				t.Errorf("first Submit(v-1) = %v, want stored", err)
			}
			first <- c
		}()
		<-held.entered
		got, err := svc.Submit(ctx, sub("ann@example.com", "v-1", "Hello"))
		if !errors.Is(err, comment.ErrRequestInProgress) {
			t.Errorf("Submit(v-1) again while the first v-1 is being written = %s, %v; want comment.ErrRequestInProgress (nothing stored)", got.ID, err)
		}
		close(held.release)
		c := <-first
		if got, err := svc.Submit(ctx, sub("ann@example.com", "v-1", "Hello")); err != nil || got.ID != c.ID {
			t.Errorf("Submit(v-1) again after the first was stored = %s, %v; want the first comment %s", got.ID, err, c.ID)
		}
		// The comment counted once: Ann's burst of 1 is spent.
		if _, err := svc.Submit(ctx, sub("ann@example.com", "v-2", "Again")); !errors.Is(err, ratelimit.ErrLimited) {
			t.Errorf("Submit(v-2) after v-1 was stored = %v, want ratelimit.ErrLimited (v-1 counted)", err)
		}
	})

	t.Run("first never ended", func(t *testing.T) {
		t.Parallel()
		s := sharedAbuseStore(t)
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
		sc := ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})
		svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{sc}})
		// The first submission's check passed and its server stopped before the write.
		s1 := sub("bea@example.com", "w-1", "Lost")
		d, err := comment.Limits{}.Validate(s1)
		if err != nil {
			t.Fatal(err)
		}
		if o, err := g.Check(ctx, sc.Subject(&d)); err != nil || o.Replay {
			t.Fatalf("Check(w-1) = %+v, %v; want counted", o, err)
		}
		if _, err := svc.Submit(ctx, s1); !errors.Is(err, comment.ErrRequestInProgress) {
			t.Errorf("Submit(w-1) just after the first check = %v, want comment.ErrRequestInProgress", err)
		}
		mark := s.keys.requestMark(s1.ThreadID, s1.RequestID)
		age := ratelimit.RequestSettle + time.Second
		if err := s.rdb.PExpire(ctx, mark, time.Duration(requestTTL)*time.Second-age).Err(); err != nil {
			t.Fatalf("PEXPIRE %s = %v", mark, err)
		}
		if got, err := svc.Submit(ctx, s1); err != nil || got.Body != "Lost" {
			t.Errorf("Submit(w-1) %v after the first check = %s, %v; want it stored", age, got.ID, err)
		}
	})
}

// lostReplyStore is the real store whose Create runs and then reports the failure a caller sees
// when the call's deadline passes after Redis has run the write: the outcome is unknown to it.
type lostReplyStore struct {
	*Store
}

func (s lostReplyStore) Create(ctx context.Context, c comment.Comment, opts comment.CreateOptions) (comment.Comment, bool, error) {
	if _, _, err := s.Store.Create(ctx, c, opts); err != nil {
		return comment.Comment{}, false, err
	}
	return comment.Comment{}, false, fmt.Errorf("%w: %w", comment.ErrUnavailable, context.DeadlineExceeded)
}

// lostProbeStore is lostReplyStore whose look-ups fail too, as they do while Redis is too slow to
// answer either call in time.
type lostProbeStore struct {
	lostReplyStore
}

func (s lostProbeStore) Get(context.Context, string) (comment.Comment, error) {
	return comment.Comment{}, fmt.Errorf("%w: %w", comment.ErrUnavailable, context.DeadlineExceeded)
}

// TestScreenerKeepsCountsOfACommentStoredDespiteAnError checks that a submission whose write ran
// although the store reported a failure keeps its duplicate marker and its counts: the reader who
// posts the same text again under a new request id (the site showed an error) is told it is a
// duplicate, rather than getting the comment stored twice. That holds also when the look-up that
// would tell whether the write ran fails: the outcome is still unknown, and giving back would
// leave a stored comment uncounted.
func TestScreenerKeepsCountsOfACommentStoredDespiteAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rules := []ratelimit.Rule{rule("flood-author", ratelimit.KeyAuthor, 1, time.Hour, 2)}
	tests := []struct {
		name string
		lost func(*Store) comment.Store
	}{
		{name: "look-up finds it", lost: func(s *Store) comment.Store { return lostReplyStore{s} }},
		{name: "look-up fails too", lost: func(s *Store) comment.Store { return lostProbeStore{lostReplyStore{s}} }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sharedAbuseStore(t)
			g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
			screeners := []comment.Screener{ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})}
			lost := comment.NewService(tt.lost(s), abuseKeys, comment.Options{Screeners: screeners})
			svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: screeners})
			thread := fmt.Sprintf("lost-%d", i+1)
			sub := comment.Submission{ThreadID: thread, AuthorName: "A Reader", AuthorEmail: fmt.Sprintf("jane%d@example.com", i), ClientIP: "192.0.2.1",
				Body: "The figures do not add up", RequestID: "form-1"}

			if _, err := lost.Submit(ctx, sub); !errors.Is(err, comment.ErrUnavailable) {
				t.Fatalf("Submit(%q) with the store's reply lost = %v, want comment.ErrUnavailable", sub.Body, err)
			}
			sub.RequestID = "form-2"
			if got, err := svc.Submit(ctx, sub); !errors.Is(err, ratelimit.ErrDuplicate) {
				t.Errorf("Submit(%q) again under a new request id = %+v, %v; want ratelimit.ErrDuplicate (the first was stored)", sub.Body, got, err)
			}
			published, _, err := pageOf(svc.ListPublished(ctx, thread, comment.Page{}))
			if err != nil || len(published) != 1 {
				t.Errorf("ListPublished(%s) = %d comments, %v; want the one stored", thread, len(published), err)
			}
			sub.Body, sub.RequestID = "Another point", "form-3"
			if _, err := svc.Submit(ctx, sub); err != nil {
				t.Fatalf("Submit(%q), the second comment of a burst of 2 = %v, want it stored", sub.Body, err)
			}
			sub.Body, sub.RequestID = "A third point", "form-4"
			if _, err := svc.Submit(ctx, sub); !errors.Is(err, ratelimit.ErrLimited) {
				t.Errorf("Submit(%q), a third comment within the hour = %v, want ratelimit.ErrLimited by %v (the first was counted)", sub.Body, err, rules[0])
			}
		})
	}
}

// lostCheckStore is the real store whose abuse check runs in Redis and then reports the failure a
// caller sees when the call's deadline passes after Redis has run it: the outcome is unknown to it.
type lostCheckStore struct {
	*Store
}

func (s lostCheckStore) Screen(ctx context.Context, q ratelimit.Query) (ratelimit.Result, error) {
	if _, err := s.Store.Screen(ctx, q); err != nil {
		return ratelimit.Result{}, err
	}
	return ratelimit.Result{}, fmt.Errorf("%w: %w", comment.ErrUnavailable, context.DeadlineExceeded)
}

// TestScreenerGivesBackALostCheck checks what a submission whose abuse check ran in Redis, though
// its reply was lost, leaves behind. Refused, nothing of it was stored, so it gives back what the
// check counted and the duplicate marker it set: the reader may post the same text under a new
// request id at once. It never gives back what the check did not count (the check was refused),
// and a submission let through unchecked (fail open) and stored keeps both.
func TestScreenerGivesBackALostCheck(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	rules := []ratelimit.Rule{
		rule("flood-author", ratelimit.KeyAuthor, 1, time.Hour, 2), // a value with a duplicate marker
		rule("flood-ip", ratelimit.KeyIP, 1, time.Hour, 2),         // a value with a take mark
	}
	type post struct {
		email, body, requestID string
		wantErr                error
	}
	tests := []struct {
		name     string
		failOpen bool
		before   []post // stored before the lost check
		lost     post
		after    []post
	}{
		{name: "fail closed, same text under a new request id",
			lost: post{body: "X", requestID: "form-1", wantErr: comment.ErrUnavailable},
			after: []post{
				{body: "X", requestID: "form-2"},
				{body: "Y", requestID: "form-3"},
				{body: "Z", requestID: "form-4", wantErr: ratelimit.ErrLimited},
			}},
		{name: "fail closed, resend under the same request id",
			lost: post{body: "X", requestID: "form-1", wantErr: comment.ErrUnavailable},
			after: []post{
				{body: "X", requestID: "form-1"},
				{body: "Y", requestID: "form-3"},
				{body: "Z", requestID: "form-4", wantErr: ratelimit.ErrLimited},
			}},
		{name: "fail open, stored unchecked: kept", failOpen: true,
			lost: post{body: "X", requestID: "form-1"},
			after: []post{
				{body: "X", requestID: "form-2", wantErr: ratelimit.ErrDuplicate},
				{body: "Y", requestID: "form-3"},
				{body: "Z", requestID: "form-4", wantErr: ratelimit.ErrLimited},
			}},
		{name: "check refused by the author's rule gives back nothing",
			before: []post{{body: "A", requestID: "b-1"}, {body: "B", requestID: "b-2"}},
			lost:   post{body: "X", requestID: "form-1", wantErr: comment.ErrUnavailable},
			after:  []post{{body: "X", requestID: "form-2", wantErr: ratelimit.ErrLimited}}},
		{name: "check refused by the address's rule gives back nothing",
			before: []post{{email: "other@example.com", body: "A", requestID: "b-1"}, {email: "another@example.com", body: "B", requestID: "b-2"}},
			lost:   post{body: "X", requestID: "form-1", wantErr: comment.ErrUnavailable},
			after:  []post{{body: "X", requestID: "form-2", wantErr: ratelimit.ErrLimited}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := ratelimit.Options{Rules: rules, FailOpen: tt.failOpen}
			screener := func(st ratelimit.Store) comment.Options {
				return comment.Options{Screeners: []comment.Screener{ratelimit.NewScreener(ratelimit.NewGuard(st, opts), abuseKeys, ratelimit.ScreenerOptions{})}}
			}
			svc := comment.NewService(s, abuseKeys, screener(s))
			lost := comment.NewService(s, abuseKeys, screener(lostCheckStore{s}))
			thread, ip := fmt.Sprintf("lost-check-%d", i), fmt.Sprintf("192.0.2.%d", 10+i)
			submit := func(svc *comment.Service, p post) {
				t.Helper()
				if p.email == "" {
					p.email = fmt.Sprintf("jane%d@example.com", i)
				}
				sub := comment.Submission{ThreadID: thread, AuthorName: "A Reader", AuthorEmail: p.email, ClientIP: ip, Body: p.body, RequestID: p.requestID}
				if got, err := svc.Submit(ctx, sub); !errors.Is(err, p.wantErr) || (p.wantErr == nil && err != nil) {
					t.Errorf("Submit(%q, request id %q) = %+v, %v; want error %v", p.body, p.requestID, got.ID, err, p.wantErr)
				}
			}
			for _, p := range tt.before {
				submit(svc, p)
			}
			submit(lost, tt.lost)
			for _, p := range tt.after {
				submit(svc, p)
			}
		})
	}
}

// TestScreenerBannedAfterTheFirstCheck bans an author between a request's first abuse check and
// its resend. A resend of a request the store holds gets the first comment (see
// grpcserver's TestBannedAuthorsResendGetsTheFirstAnswer); one whose first submission has stored
// nothing is refused as the ban says once the first can no longer be on its way, and told to try
// again while it may be.
func TestScreenerBannedAfterTheFirstCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := sharedAbuseStore(t)
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	g := ratelimit.NewGuard(s, ratelimit.Options{})
	sc := ratelimit.NewScreener(g, abuseKeys, ratelimit.ScreenerOptions{})
	svc := comment.NewService(s, abuseKeys, comment.Options{Screeners: []comment.Screener{sc}})
	sub := comment.Submission{ThreadID: "banned-1", AuthorName: "A Troll", AuthorEmail: "troll@example.com", ClientIP: "192.0.2.9", Body: "Lost", RequestID: "x-1"}
	d, err := comment.Limits{}.Validate(sub)
	if err != nil {
		t.Fatal(err)
	}
	// The first submission's check passed and its server stopped before the write.
	if o, err := g.Check(ctx, sc.Subject(&d)); err != nil || o.Replay {
		t.Fatalf("Check(x-1) = %+v, %v; want counted", o, err)
	}
	mustBan(t, bans, ratelimit.BanRequest{Target: ratelimit.AuthorTarget(sc.Subject(&d).AuthorKey), Reason: "test", Moderator: "mod"})

	if got, err := svc.Submit(ctx, sub); !errors.Is(err, comment.ErrRequestInProgress) {
		t.Errorf("Submit(x-1) again just after the first check, author banned since = %s, %v; want comment.ErrRequestInProgress", got.ID, err)
	}
	mark := s.keys.requestMark(sub.ThreadID, sub.RequestID)
	age := ratelimit.RequestSettle + time.Second
	if err := s.rdb.PExpire(ctx, mark, time.Duration(requestTTL)*time.Second-age).Err(); err != nil {
		t.Fatalf("PEXPIRE %s = %v", mark, err)
	}
	var banned *ratelimit.BannedError
	if got, err := svc.Submit(ctx, sub); !errors.As(err, &banned) {
		t.Errorf("Submit(x-1) again %v after the first check, author banned since = %s, %v; want a *ratelimit.BannedError", age, got.ID, err)
	}
	if n, err := publishedCounts(s.CountPublished(ctx, []string{sub.ThreadID})); err != nil || n[0] != 0 {
		t.Errorf("CountPublished(%s) = %v, %v; want 0 (nothing stored for the banned author)", sub.ThreadID, n, err)
	}
}
