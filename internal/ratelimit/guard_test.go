package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/comment"
)

// storeStub is a Store whose behaviour each test sets. The store's own behaviour is tested against
// a real Redis in redisstore; these tests cover the Guard's policy around it.
type storeStub struct {
	screen func(Query) (Result, error)
	mu     sync.Mutex
	refund []Ticket
}

func (s *storeStub) Screen(_ context.Context, q Query) (Result, error) { return s.screen(q) }
func (s *storeStub) Refund(ctx context.Context, t Ticket) error {
	if err := ctx.Err(); err != nil {
		return err // as a real store would fail: the refund is not recorded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refund = append(s.refund, t)
	return nil
}
func (s *storeStub) Banned(context.Context, BanLookup, time.Time) (*Ban, error) { return nil, nil }

// events records what an Observer was told.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) Observe(ev Event, label string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf("%s/%s", ev, label))
}

var (
	ruleIP     = Rule{Name: "ip", Key: KeyIP, Count: 1, Period: time.Minute, Burst: 1}
	ruleAuthor = Rule{Name: "author", Key: KeyAuthor, Count: 1, Period: time.Minute, Burst: 1}
	ruleThread = Rule{Name: "thread", Key: KeyThread, Count: 1, Period: time.Minute, Burst: 1}
	ruleSite   = Rule{Name: "site", Key: KeySite, Count: 1, Period: time.Minute, Burst: 1}
	allRules   = []Rule{ruleIP, ruleAuthor, ruleThread, ruleSite}
	subject    = Subject{AuthorKey: hashA, IPKey: "ffffffffffffffffffffffffffffffffffffffff", IP: netip.MustParseAddr("192.0.2.1"),
		ThreadID: "thread-1", TextKey: "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", RequestID: "req-1"}
)

func TestGuardQuery(t *testing.T) {
	t.Parallel()
	trusted, err := NewTrusted(nil, []string{"192.0.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	noIP := subject
	noIP.IPKey, noIP.IP = "", netip.Addr{}
	tests := []struct {
		name      string
		opts      Options
		subject   Subject
		wantTakes []Take
		wantDup   *DuplicateCheck
	}{
		{
			name:    "every kind of rule counts its own value",
			opts:    Options{Rules: allRules},
			subject: subject,
			wantTakes: []Take{{Rule: ruleIP, Subject: subject.IPKey}, {Rule: ruleAuthor, Subject: hashA},
				{Rule: ruleThread, Subject: "thread-1"}, {Rule: ruleSite}},
			wantDup: &DuplicateCheck{AuthorKey: hashA, TextKey: subject.TextKey, Window: DefaultDuplicateWindow, RequestID: "req-1"},
		},
		{
			name:      "no address: no ip rule",
			opts:      Options{Rules: allRules, DuplicateWindow: time.Minute},
			subject:   noIP,
			wantTakes: []Take{{Rule: ruleAuthor, Subject: hashA}, {Rule: ruleThread, Subject: "thread-1"}, {Rule: ruleSite}},
			wantDup:   &DuplicateCheck{AuthorKey: hashA, TextKey: subject.TextKey, Window: time.Minute, RequestID: "req-1"},
		},
		{
			name:    "trusted: no rules, duplicates still checked",
			opts:    Options{Rules: allRules, Trusted: trusted},
			subject: subject,
			wantDup: &DuplicateCheck{AuthorKey: hashA, TextKey: subject.TextKey, Window: DefaultDuplicateWindow, RequestID: "req-1"},
		},
		{
			name:      "duplicate control off",
			opts:      Options{Rules: []Rule{ruleSite}, DuplicateWindow: -1},
			subject:   subject,
			wantTakes: []Take{{Rule: ruleSite}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Query
			st := &storeStub{screen: func(q Query) (Result, error) { got = q; return Result{}, nil }}
			if _, err := NewGuard(st, tt.opts).Check(context.Background(), tt.subject); err != nil {
				t.Fatalf("Check(%+v) error = %v, want none", tt.subject, err)
			}
			if diff := cmp.Diff(tt.wantTakes, got.Takes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Check(%+v) sent takes (-want +got):\n%s", tt.subject, diff)
			}
			if diff := cmp.Diff(tt.wantDup, got.Duplicate); diff != "" {
				t.Errorf("Check(%+v) sent duplicate check (-want +got):\n%s", tt.subject, diff)
			}
			wantBans := BanLookup{AuthorKey: tt.subject.AuthorKey, IPKey: tt.subject.IPKey, IP: tt.subject.IP}
			if got.Bans != wantBans {
				t.Errorf("Check(%+v) sent ban lookup %+v, want %+v", tt.subject, got.Bans, wantBans)
			}
			// The record is read whatever the rules, trusted authors included: the spam check needs it.
			if got.History != tt.subject.AuthorKey {
				t.Errorf("Check(%+v) asked for the record of %q, want %q", tt.subject, got.History, tt.subject.AuthorKey)
			}
			if len(got.ID) < 16 {
				t.Errorf("Check(%+v) sent query id %q, want a random id", tt.subject, got.ID)
			}
		})
	}
}

func TestGuardOutcomes(t *testing.T) {
	t.Parallel()
	taken := Ticket{ID: "id1", Takes: []Take{{Rule: ruleSite}}}
	ban := &Ban{Target: RangeTarget(netip.MustParsePrefix("192.0.2.0/24")), Moderator: "m"}
	history := &comment.AuthorHistory{Approved: 3, Rejected: 1, Spam: 2}
	tests := []struct {
		name string
		// countBanned: Options.CountBanned (shadow bans): a banned subject is refused as a
		// duplicate or over a rule exactly as anyone would be, and keeps its counts when it passes,
		// so a troll cannot tell the shadow ban from the answers.
		countBanned bool
		res         Result
		want        Outcome
		wantErr     error
		wantLimit   *LimitError
		wantRefund  bool
		wantEvents  []string
	}{
		{name: "all pass", res: Result{Taken: taken}, want: Outcome{Ticket: taken}},
		{name: "counting banned, banned within the rules: counted", countBanned: true, res: Result{Taken: taken, Ban: ban, History: history},
			want: Outcome{Ban: ban, Ticket: taken, History: history}, wantEvents: []string{"banned/range"}},
		{name: "counting banned, banned over a rule: rate-limited like anyone", countBanned: true, res: Result{Taken: taken, Ban: ban, Refused: []Refusal{{Rule: "a", RetryAfter: time.Second}}},
			wantErr: ErrLimited, wantLimit: &LimitError{Rule: "a", RetryAfter: time.Second}, wantRefund: true, wantEvents: []string{"limited/a"}},
		{name: "counting banned, banned duplicate: refused like anyone", countBanned: true, res: Result{Taken: taken, Ban: ban, Duplicate: DuplicateFound},
			wantErr: ErrDuplicate, wantRefund: true, wantEvents: []string{"duplicate/"}},
		{name: "counting banned, banned replay: still banned, counts nothing", countBanned: true, res: Result{Taken: taken, Ban: ban, Duplicate: DuplicateReplay},
			want: Outcome{Replay: true, Unsettled: true, Ban: ban}, wantRefund: true},
		{name: "counting banned, not banned: as without the option", countBanned: true, res: Result{Taken: taken}, want: Outcome{Ticket: taken}},
		{name: "all pass, with the author's record", res: Result{Taken: taken, History: history}, want: Outcome{Ticket: taken, History: history}},
		{
			name:       "refused: the longest wait wins, rounded up to the ms",
			res:        Result{Taken: taken, Refused: []Refusal{{Rule: "a", RetryAfter: 2 * time.Second}, {Rule: "b", RetryAfter: 9*time.Second + 1}}},
			wantErr:    ErrLimited,
			wantLimit:  &LimitError{Rule: "b", RetryAfter: 9*time.Second + time.Millisecond},
			wantRefund: true,
			wantEvents: []string{"limited/a", "limited/b"},
		},
		{
			name:       "a shadow rule would refuse: passes, reported, no delay",
			res:        Result{Taken: taken, Shadowed: []Refusal{{Rule: "s", RetryAfter: time.Hour}}},
			want:       Outcome{Ticket: taken},
			wantEvents: []string{"shadow_limited/s"},
		},
		{
			name:       "a shadow rule would refuse one an enforced rule refuses: both reported, the delay is the enforced rule's",
			res:        Result{Taken: taken, Refused: []Refusal{{Rule: "a", RetryAfter: time.Second}}, Shadowed: []Refusal{{Rule: "s", RetryAfter: time.Hour}}},
			wantErr:    ErrLimited,
			wantLimit:  &LimitError{Rule: "a", RetryAfter: time.Second},
			wantRefund: true,
			wantEvents: []string{"shadow_limited/s", "limited/a"},
		},
		{
			name: "counting banned, a shadow rule would refuse: reported as for anyone", countBanned: true,
			res:        Result{Taken: taken, Ban: ban, Shadowed: []Refusal{{Rule: "s", RetryAfter: time.Hour}}},
			want:       Outcome{Ban: ban, Ticket: taken},
			wantEvents: []string{"shadow_limited/s", "banned/range"},
		},
		{
			// Had the shadow rule been enforced, the duplicate would still be refused as one, and
			// the rules not reported.
			name:       "duplicate, a shadow rule would refuse: only the duplicate reported",
			res:        Result{Taken: taken, Duplicate: DuplicateFound, Shadowed: []Refusal{{Rule: "s", RetryAfter: time.Hour}}},
			wantErr:    ErrDuplicate,
			wantRefund: true,
			wantEvents: []string{"duplicate/"},
		},
		{
			name:       "banned, a shadow rule would refuse: only the ban reported",
			res:        Result{Taken: taken, Ban: ban, Shadowed: []Refusal{{Rule: "s", RetryAfter: time.Hour}}},
			want:       Outcome{Ban: ban},
			wantRefund: true,
			wantEvents: []string{"banned/range"},
		},
		{
			name:       "resend, a shadow rule would refuse: nothing reported",
			res:        Result{Taken: taken, Request: RequestResent, MarkerAge: RequestSettle, Shadowed: []Refusal{{Rule: "s", RetryAfter: time.Hour}}},
			want:       Outcome{Replay: true},
			wantRefund: true,
		},
		{
			name:       "refused with a tiny wait: at least 1ms",
			res:        Result{Refused: []Refusal{{Rule: "a", RetryAfter: time.Microsecond}}},
			wantErr:    ErrLimited,
			wantLimit:  &LimitError{Rule: "a", RetryAfter: time.Millisecond},
			wantEvents: []string{"limited/a"},
		},
		{
			name:       "banned beats everything",
			res:        Result{Taken: taken, Ban: ban, Duplicate: DuplicateFound, Refused: []Refusal{{Rule: "a", RetryAfter: time.Second}}, History: history},
			want:       Outcome{Ban: ban, History: history},
			wantRefund: true,
			wantEvents: []string{"banned/range"},
		},
		{
			name:       "duplicate",
			res:        Result{Taken: taken, Duplicate: DuplicateFound},
			wantErr:    ErrDuplicate,
			wantRefund: true,
			wantEvents: []string{"duplicate/"},
		},
		{
			// Only the duplicate marker knew the request: its own marker is being set or given
			// back, so the first submission may not have ended.
			name:       "replay of a request by its duplicate marker: passes unsettled, counts nothing",
			res:        Result{Taken: taken, Duplicate: DuplicateReplay},
			want:       Outcome{Replay: true, Unsettled: true},
			wantRefund: true,
		},
		{
			// The duplicate marker outlived the settle bound: the first submission ended without
			// giving it back, and the resend is stored.
			name:       "replay of a request by a duplicate marker set long ago: passes, counts nothing",
			res:        Result{Taken: taken, Duplicate: DuplicateReplay, MarkerAge: RequestSettle},
			want:       Outcome{Replay: true},
			wantRefund: true,
		},
		{
			name:       "resend, the first checked moments ago: passes unsettled, counts nothing",
			res:        Result{Taken: taken, Request: RequestResent, MarkerAge: time.Second},
			want:       Outcome{Replay: true, Unsettled: true},
			wantRefund: true,
		},
		{
			name:       "resend, the first checked long ago: passes, counts nothing",
			res:        Result{Taken: taken, Request: RequestResent, MarkerAge: RequestSettle},
			want:       Outcome{Replay: true},
			wantRefund: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &storeStub{screen: func(Query) (Result, error) { return tt.res, nil }}
			var ev events
			got, err := NewGuard(st, Options{Rules: allRules, CountBanned: tt.countBanned, Observer: &ev}).Check(context.Background(), subject)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Check with store result %+v: error = %v, want %v", tt.res, err, tt.wantErr)
			}
			if tt.wantLimit != nil {
				var le *LimitError
				if !errors.As(err, &le) || *le != *tt.wantLimit {
					t.Errorf("Check with store result %+v: error = %#v, want %#v", tt.res, err, tt.wantLimit)
				}
			}
			if diff := cmp.Diff(tt.want, got, equateNetip); diff != "" {
				t.Errorf("Check with store result %+v: outcome (-want +got):\n%s", tt.res, diff)
			}
			var wantRefund []Ticket
			if tt.wantRefund {
				wantRefund = []Ticket{taken}
			}
			if diff := cmp.Diff(wantRefund, st.refund); diff != "" {
				t.Errorf("Check with store result %+v: refunds (-want +got):\n%s", tt.res, diff)
			}
			if diff := cmp.Diff(tt.wantEvents, ev.got); diff != "" {
				t.Errorf("Check with store result %+v: events (-want +got):\n%s", tt.res, diff)
			}
		})
	}
}

func TestGuardGivesBackARefusalAfterTheCheckDeadline(t *testing.T) {
	t.Parallel()
	// The store's reply came as the check's budget (Options.Timeout, or the call's deadline) ran
	// out: what it counted for a submission it refuses must be given back all the same, or a
	// refused reader is charged for it and, by its duplicate marker, refused the same text again
	// when retrying after the delay they were told.
	taken := Ticket{ID: "id1", Takes: []Take{{Rule: ruleSite}}, Duplicate: &DuplicateCheck{AuthorKey: hashA, TextKey: "t", Window: time.Minute}}
	ban := &Ban{Target: RangeTarget(netip.MustParsePrefix("192.0.2.0/24")), Moderator: "m"}
	tests := []struct {
		name string
		res  Result
	}{
		{name: "over a rule", res: Result{Taken: taken, Refused: []Refusal{{Rule: "ip", RetryAfter: time.Second}}}},
		{name: "duplicate", res: Result{Taken: taken, Duplicate: DuplicateFound}},
		{name: "request id reused", res: Result{Taken: taken, Request: RequestReused}},
		{name: "banned", res: Result{Taken: taken, Ban: ban}},
		{name: "resend", res: Result{Taken: taken, Request: RequestResent, MarkerAge: RequestSettle}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &storeStub{screen: func(Query) (Result, error) { return tt.res, nil }}
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			NewGuard(st, Options{Rules: allRules}).Check(ctx, subject)
			if diff := cmp.Diff([]Ticket{taken}, st.refund); diff != "" {
				t.Errorf("Check past its deadline with store result %+v: refunds (-want +got):\n%s", tt.res, diff)
			}
		})
	}
}

func TestGuardStoreFailure(t *testing.T) {
	t.Parallel()
	down := fmt.Errorf("redisstore: abuse check: %w: dial tcp: connection refused", comment.ErrUnavailable)
	bug := errors.New("redisstore: abuse check: unexpected script reply")
	tests := []struct {
		name          string
		storeErr      error
		failOpen      bool
		wantUnchecked bool
		wantIs        []error
		wantNotIs     []error
		wantEvents    []string
		// The check may have run in the store before failing: failing closed, what it may have
		// counted is refunded at once (wantRefund); failing open, it is the outcome's ticket.
		wantRefund bool
	}{
		{name: "down, fail closed", storeErr: down, wantIs: []error{comment.ErrUnavailable}, wantRefund: true},
		{name: "down, fail open", storeErr: down, failOpen: true, wantUnchecked: true, wantEvents: []string{"fail_open/"}},
		{name: "too slow, fail closed", storeErr: context.DeadlineExceeded, wantIs: []error{comment.ErrUnavailable, context.DeadlineExceeded}, wantRefund: true},
		{name: "too slow, fail open", storeErr: context.DeadlineExceeded, failOpen: true, wantUnchecked: true, wantEvents: []string{"fail_open/"}},
		{name: "a bug never fails open", storeErr: bug, failOpen: true, wantIs: []error{bug}, wantNotIs: []error{comment.ErrUnavailable}, wantRefund: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Query
			st := &storeStub{screen: func(got Query) (Result, error) { q = got; return Result{}, tt.storeErr }}
			var ev events
			// The call's own deadline has passed, as when the check's reply came too late.
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			got, err := NewGuard(st, Options{Rules: allRules, FailOpen: tt.failOpen, Observer: &ev}).Check(ctx, subject)
			maybe := Ticket{ID: q.ID, Takes: q.Takes, Duplicate: q.Duplicate, Request: q.Request, Unsure: true}
			var wantRefunds []Ticket
			if tt.wantRefund {
				wantRefunds = []Ticket{maybe}
			}
			if diff := cmp.Diff(wantRefunds, st.refund, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Check with store error %v (fail open %v): refunds (-want +got):\n%s", tt.storeErr, tt.failOpen, diff)
			}
			wantTicket := Ticket{}
			if tt.wantUnchecked {
				wantTicket = maybe
			}
			if diff := cmp.Diff(wantTicket, got.Ticket); diff != "" {
				t.Errorf("Check with store error %v (fail open %v): outcome ticket (-want +got):\n%s", tt.storeErr, tt.failOpen, diff)
			}
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("Check with store error %v (fail open %v): error = %v, want errors.Is %v", tt.storeErr, tt.failOpen, err, want)
				}
			}
			for _, notWant := range tt.wantNotIs {
				if errors.Is(err, notWant) {
					t.Errorf("Check with store error %v (fail open %v): error = %v, want not errors.Is %v", tt.storeErr, tt.failOpen, err, notWant)
				}
			}
			if len(tt.wantIs) == 0 && err != nil {
				t.Errorf("Check with store error %v (fail open %v): error = %v, want none", tt.storeErr, tt.failOpen, err)
			}
			if got.Unchecked != tt.wantUnchecked {
				t.Errorf("Check with store error %v (fail open %v): Unchecked = %v, want %v", tt.storeErr, tt.failOpen, got.Unchecked, tt.wantUnchecked)
			}
			if diff := cmp.Diff(tt.wantEvents, ev.got); diff != "" {
				t.Errorf("Check with store error %v (fail open %v): events (-want +got):\n%s", tt.storeErr, tt.failOpen, diff)
			}
		})
	}
}

func TestGuardTimeoutBoundsTheStoreCall(t *testing.T) {
	t.Parallel()
	st := &storeStub{}
	st.screen = func(Query) (Result, error) { return Result{}, nil }
	var deadline time.Time
	var hasDeadline bool
	g := NewGuard(storeFunc(func(ctx context.Context) { deadline, hasDeadline = ctx.Deadline() }, st), Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	if _, err := g.Check(context.Background(), subject); err != nil {
		t.Fatalf("Check error = %v, want none", err)
	}
	if !hasDeadline || deadline.Sub(start) > 50*time.Millisecond+10*time.Millisecond {
		t.Errorf("Check with Timeout 50ms gave the store deadline %v (set %v), want about %v", deadline, hasDeadline, start.Add(50*time.Millisecond))
	}
}

// storeFunc wraps a stub to see the context Screen gets.
func storeFunc(see func(context.Context), s *storeStub) Store {
	return ctxStore{see: see, storeStub: s}
}

type ctxStore struct {
	see func(context.Context)
	*storeStub
}

func (c ctxStore) Screen(ctx context.Context, q Query) (Result, error) {
	c.see(ctx)
	return c.storeStub.Screen(ctx, q)
}
