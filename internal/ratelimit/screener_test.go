package ratelimit

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

func testKeyring(t *testing.T) *privacy.Keyring {
	t.Helper()
	k, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	})
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func testDraft(t *testing.T, email, ip, body string) *comment.Draft {
	t.Helper()
	d, err := comment.Limits{}.Validate(comment.Submission{ThreadID: "thread-1", AuthorName: "Jane", AuthorEmail: email, ClientIP: ip, Body: body})
	if err != nil {
		t.Fatalf("Validate(%s, %s, %q) = %v", email, ip, body, err)
	}
	return &d
}

func TestScreenerSubject(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	s := NewScreener(NewGuard(&storeStub{}, Options{}), keys, ScreenerOptions{})
	a := s.Subject(testDraft(t, "Jane@Example.com", "192.0.2.1", "Great article!"))
	b := s.Subject(testDraft(t, "jane@example.com", "192.0.2.1", "great   ARTICLE"))
	if a.AuthorKey != b.AuthorKey || a.TextKey != b.TextKey || a.IPKey != b.IPKey {
		t.Errorf("Subject of the same author, address and text in different spellings = %+v and %+v, want the same keys", a, b)
	}
	if a.IP != netip.MustParseAddr("192.0.2.1") || a.ThreadID != "thread-1" {
		t.Errorf("Subject(...) = %+v, want IP 192.0.2.1 and thread thread-1", a)
	}
	other := s.Subject(testDraft(t, "john@example.com", "", "Great article!"))
	if other.AuthorKey == a.AuthorKey || other.IPKey != "" || other.IP.IsValid() {
		t.Errorf("Subject of another author without address = %+v, want another author key and no address", other)
	}
}

// The ip rules count an IPv4 address as itself and an IPv6 address by its /64, while bans keep
// the single address: one client cannot rotate through its IPv6 network for fresh budgets.
func TestScreenerSubjectIPLimitKey(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	s := NewScreener(NewGuard(&storeStub{}, Options{}), keys, ScreenerOptions{})
	subj := func(ip string) Subject { return s.Subject(testDraft(t, "jane@example.com", ip, "hi")) }

	v4 := subj("192.0.2.1")
	if v4.IPLimitKey != v4.IPKey || v4.IPKey == "" {
		t.Errorf("Subject(192.0.2.1) IPLimitKey %q, IPKey %q: want the same, not empty", v4.IPLimitKey, v4.IPKey)
	}
	mapped := subj("::ffff:192.0.2.1")
	if mapped.IPLimitKey != v4.IPLimitKey {
		t.Errorf("Subject(::ffff:192.0.2.1) IPLimitKey %q, want the IPv4 address's %q", mapped.IPLimitKey, v4.IPLimitKey)
	}
	a, b, c := subj("2001:db8:1:2::1"), subj("2001:db8:1:2:ffff::7"), subj("2001:db8:1:3::1")
	if a.IPLimitKey != b.IPLimitKey || a.IPKey == b.IPKey {
		t.Errorf("two addresses of one /64: IPLimitKey %q and %q (want equal), IPKey %q and %q (want different)", a.IPLimitKey, b.IPLimitKey, a.IPKey, b.IPKey)
	}
	if a.IPLimitKey == c.IPLimitKey || a.IPLimitKey == a.IPKey {
		t.Errorf("another /64: IPLimitKey %q and %q, want different, and different from the address's IPKey", a.IPLimitKey, c.IPLimitKey)
	}

	// The Guard counts the ip rules under IPLimitKey.
	var takes []Take
	st := &storeStub{screen: func(q Query) (Result, error) { takes = q.Takes; return Result{}, nil }}
	var ipRules []Rule
	for _, r := range allRules {
		if r.Key == KeyIP {
			ipRules = append(ipRules, r)
		}
	}
	if _, err := NewGuard(st, Options{Rules: ipRules}).Check(context.Background(), a); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(takes) == 0 {
		t.Fatalf("Check of an IPv6 subject under the ip rules took nothing, want a take per rule")
	}
	for _, tk := range takes {
		if tk.Subject != a.IPLimitKey {
			t.Errorf("Check of an IPv6 subject counted rule %s under %q, want the /64 key %q", tk.Rule.Name, tk.Subject, a.IPLimitKey)
		}
	}
}

func TestScreenerApplies(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	ban := &Ban{Target: AuthorTarget(hashA), Moderator: "m"}
	tests := []struct {
		name     string
		res      Result
		storeErr error
		opts     ScreenerOptions
		failOpen bool
		wantErr  error
		want     comment.Verdict // but Undo
		// wantUndo: a submission let through unchecked gives back what its failed check may have
		// counted if it is finally not stored.
		wantUndo int
	}{
		{name: "clean", res: Result{}},
		{name: "banned, refuse", res: Result{Ban: ban}, wantErr: ErrBanned},
		{name: "banned, shadow", res: Result{Ban: ban}, opts: ScreenerOptions{BanStyle: BanShadow},
			want: comment.Verdict{Reject: []comment.Reason{{Code: ReasonBanned, Message: "the author, address or network is banned"}}}},
		{name: "limited", res: Result{Refused: []Refusal{{Rule: "x", RetryAfter: 1}}}, wantErr: ErrLimited},
		{name: "duplicate", res: Result{Duplicate: DuplicateFound}, wantErr: ErrDuplicate},
		{name: "fail open, published", storeErr: comment.ErrUnavailable, failOpen: true, wantUndo: 1},
		{name: "fail open, held", storeErr: comment.ErrUnavailable, failOpen: true, opts: ScreenerOptions{HoldUnchecked: true},
			want: comment.Verdict{Hold: []comment.Reason{{Code: ReasonUnchecked, Message: "abuse checks were unavailable"}}}, wantUndo: 1},
		{name: "fail closed", storeErr: comment.ErrUnavailable, wantErr: comment.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &storeStub{screen: func(Query) (Result, error) { return tt.res, tt.storeErr }}
			s := NewScreener(NewGuard(st, Options{FailOpen: tt.failOpen}), keys, tt.opts)
			var v comment.Verdict
			err := s.Screen(context.Background(), testDraft(t, "jane@example.com", "192.0.2.1", "hello"), &v)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Screen with store result %+v, %v: error = %v, want %v", tt.res, tt.storeErr, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, v, cmpopts.IgnoreFields(comment.Verdict{}, "Undo")); diff != "" {
				t.Errorf("Screen with store result %+v, %v: verdict (-want +got):\n%s", tt.res, tt.storeErr, diff)
			}
			if len(v.Undo) != tt.wantUndo {
				t.Errorf("Screen with store result %+v, %v: %d undo hooks, want %d", tt.res, tt.storeErr, len(v.Undo), tt.wantUndo)
			}
		})
	}
}

// TestScreenerHistoryAndUndo checks what the Screener leaves for the rest of the submission: the
// author's record on the draft, and a refund of what it counted for when the store refuses.
func TestScreenerHistoryAndUndo(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	taken := Ticket{ID: "id1", Takes: []Take{{Rule: ruleSite}}}
	history := &comment.AuthorHistory{Approved: 4, Spam: 1}
	tests := []struct {
		name        string
		res         Result
		opts        ScreenerOptions
		wantHistory *comment.AuthorHistory
		wantUndo    []Ticket // refunds made by running every Undo hook
	}{
		{name: "counted", res: Result{Taken: taken, History: history}, wantHistory: history, wantUndo: []Ticket{taken}},
		{name: "nothing counted (trusted, no duplicate control)", res: Result{History: history}, wantHistory: history},
		{name: "shadow-banned: counted nothing, record still read", res: Result{Ban: &Ban{Target: AuthorTarget(hashA)}, History: history},
			opts: ScreenerOptions{BanStyle: BanShadow}, wantHistory: history},
		{name: "no record read", res: Result{Taken: taken}, wantUndo: []Ticket{taken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &storeStub{screen: func(Query) (Result, error) { return tt.res, nil }}
			s := NewScreener(NewGuard(st, Options{}), keys, tt.opts)
			d := testDraft(t, "jane@example.com", "192.0.2.1", "hello")
			var v comment.Verdict
			if err := s.Screen(context.Background(), d, &v); err != nil {
				t.Fatalf("Screen with store result %+v: %v", tt.res, err)
			}
			if diff := cmp.Diff(tt.wantHistory, d.History); diff != "" {
				t.Errorf("Screen with store result %+v: draft history (-want +got):\n%s", tt.res, diff)
			}
			st.mu.Lock()
			before := len(st.refund) // the Guard's own refunds (a ban gives back what it took)
			st.mu.Unlock()
			// The submission's context is over when the store gave up: the refund must still run.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			for _, undo := range v.Undo {
				undo(ctx)
			}
			st.mu.Lock()
			got := append([]Ticket(nil), st.refund[before:]...)
			st.mu.Unlock()
			if diff := cmp.Diff(tt.wantUndo, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Screen with store result %+v, then its Undo hooks: refunds (-want +got):\n%s", tt.res, diff)
			}
		})
	}
}

func TestTrustedAuthorKeys(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	got, err := TrustedAuthorKeys(keys, []string{"Editor@Example.com"})
	if err != nil {
		t.Fatalf("TrustedAuthorKeys(Editor@Example.com) error = %v", err)
	}
	d := testDraft(t, "editor@example.com", "", "x")
	tr, err := NewTrusted(got, nil)
	if err != nil {
		t.Fatalf("NewTrusted(%v) = %v", got, err)
	}
	if !tr.Contains(keys.EmailKey(d.Email), netip.Addr{}) {
		t.Errorf("trusted keys of Editor@Example.com do not contain editor@example.com's key")
	}
	if _, err := TrustedAuthorKeys(keys, []string{"not an address"}); err == nil {
		t.Errorf("TrustedAuthorKeys(not an address) = nil error, want an error")
	}
}

// TestScreenerSwap: a Swap puts the new Guard and options in force for the next submission, while
// a submission screened during the Swap ends under the ones it started with, and its refund
// gives back what it counted under the old rules.
func TestScreenerSwap(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	tighter := Rule{Name: "ip", Key: KeyIP, Count: 1, Period: time.Hour, Burst: 1}
	var s *Screener
	var queries [][]Take
	ban := &Ban{Target: AuthorTarget(hashA), Moderator: "m"}
	stub := func(swap func()) *storeStub {
		return &storeStub{screen: func(q Query) (Result, error) {
			queries = append(queries, q.Takes)
			if swap != nil {
				swap() // a reload while this submission is being checked
			}
			return Result{Ban: ban, Taken: Ticket{ID: q.ID, Takes: q.Takes}}, nil
		}}
	}
	newStore := stub(nil)
	newGuard := NewGuard(newStore, Options{Rules: []Rule{tighter}, CountBanned: true})
	oldStore := stub(func() { s.Swap(newGuard, ScreenerOptions{BanStyle: BanShadow}) })
	oldGuard := NewGuard(oldStore, Options{Rules: []Rule{ruleIP}, CountBanned: true})
	s = NewScreener(oldGuard, keys, ScreenerOptions{BanStyle: BanRefuse})

	var first comment.Verdict
	err := s.Screen(context.Background(), testDraft(t, "jane@example.com", "192.0.2.1", "one"), &first)
	if !errors.Is(err, ErrBanned) {
		t.Fatalf("Screen of a banned author, swapped to shadow bans during its check: error %v, want %v (the ban style it started with)", err, ErrBanned)
	}
	var second comment.Verdict
	if err := s.Screen(context.Background(), testDraft(t, "jane@example.com", "192.0.2.1", "two"), &second); err != nil {
		t.Fatalf("Screen of a banned author after the swap to shadow bans: %v, want accepted (rejected in the verdict)", err)
	}
	if len(second.Reject) != 1 || second.Reject[0].Code != ReasonBanned {
		t.Errorf("Screen after the swap to shadow bans: verdict reject %+v, want %s", second.Reject, ReasonBanned)
	}
	wantQueries := [][]Take{{{Rule: ruleIP, Subject: queries[0][0].Subject}}, {{Rule: tighter, Subject: queries[0][0].Subject}}}
	if diff := cmp.Diff(wantQueries, queries); diff != "" {
		t.Errorf("rules checked before and after the swap (-want +got):\n%s", diff)
	}

	// The second submission is refused later (the store refused it, say): its refund goes to the
	// Guard that counted it, with the rule as it counted it.
	for _, undo := range second.Undo {
		undo(context.Background())
	}
	if len(newStore.refund) != 1 || len(oldStore.refund) != 0 ||
		!cmp.Equal(newStore.refund[0].Takes, []Take{{Rule: tighter, Subject: queries[1][0].Subject}}) {
		t.Errorf("refund of a submission counted after the swap: new Guard's store got %+v, old one's %+v; want the new rule's take on the new", newStore.refund, oldStore.refund)
	}
}

// TestScreenerRefundAcrossSwap: a submission counted before a Swap and refused after it is given
// back what the old rules took, through the Guard that took it.
func TestScreenerRefundAcrossSwap(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	oldStore := &storeStub{screen: func(q Query) (Result, error) { return Result{Taken: Ticket{ID: q.ID, Takes: q.Takes}}, nil }}
	newStore := &storeStub{screen: func(q Query) (Result, error) { return Result{}, nil }}
	s := NewScreener(NewGuard(oldStore, Options{Rules: []Rule{ruleIP}}), keys, ScreenerOptions{})
	var v comment.Verdict
	if err := s.Screen(context.Background(), testDraft(t, "jane@example.com", "192.0.2.1", "one"), &v); err != nil {
		t.Fatalf("Screen: %v", err)
	}
	looser := ruleIP
	looser.Count = 10
	s.Swap(NewGuard(newStore, Options{Rules: []Rule{looser}}), ScreenerOptions{})
	for _, undo := range v.Undo {
		undo(context.Background())
	}
	if len(oldStore.refund) != 1 || len(newStore.refund) != 0 || len(oldStore.refund[0].Takes) != 1 || oldStore.refund[0].Takes[0].Rule != ruleIP {
		t.Errorf("refund after a swap of a submission counted before it: old Guard's store got %+v, new one's %+v; want the old rule's take (%v) on the old", oldStore.refund, newStore.refund, ruleIP)
	}
}
