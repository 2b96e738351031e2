package moderation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// Store behaviour is tested against Redis in redisstore; these tests cover the domain's own
// rules (validation, defaults, filters) with stubs that record what reached them.

type claimsStub struct {
	got ClaimQuery
}

func (c *claimsStub) Claim(_ context.Context, _ string, q ClaimQuery, _ time.Time) ([]comment.Comment, error) {
	c.got = q
	return nil, nil
}

func (c *claimsStub) Release(context.Context, string, []string) error { return nil }

type statsStub struct {
	first time.Time
	days  int
}

func (s *statsStub) Stats(_ context.Context, first time.Time, days int) (Stats, error) {
	s.first, s.days = first, days
	return Stats{}, nil
}

type reportsStub struct {
	reporter string
	report   Report
}

func (r *reportsStub) AddReport(_ context.Context, _ string, rep Report, reporter string, _ int) (comment.Comment, int, error) {
	r.report, r.reporter = rep, reporter
	return comment.Comment{}, 1, nil
}

func (r *reportsStub) ReportSummaries(context.Context, []string) ([]ReportSummary, error) {
	return nil, nil
}

func testKeyring(t *testing.T) *privacy.Keyring {
	t.Helper()
	k, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatalf("NewKeyring = %v", err)
	}
	return k
}

// violations returns the fields of a *comment.ValidationError, or nil.
func violations(err error) []string {
	var verr *comment.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var out []string
	for _, v := range verr.Violations {
		out = append(out, v.Field)
	}
	return out
}

func TestQueryMatches(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := comment.Comment{ID: "00a", ThreadID: "t", AuthorKey: "k1", State: comment.StatePending, SpamScore: 0.5, CreatedAt: at,
		HoldReasons: []comment.Reason{{Code: "TOO_MANY_LINKS"}, {Code: ReasonReported}}}
	score := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		q    Query
		want bool
	}{
		{"state only", Query{State: comment.StatePending}, true},
		{"other state", Query{State: comment.StateSpam}, false},
		{"thread", Query{State: comment.StatePending, ThreadID: "t"}, true},
		{"other thread", Query{State: comment.StatePending, ThreadID: "u"}, false},
		{"author", Query{State: comment.StatePending, AuthorKey: "k1"}, true},
		{"other author", Query{State: comment.StatePending, AuthorKey: "k2"}, false},
		{"created before, later", Query{State: comment.StatePending, CreatedBefore: at.Add(time.Microsecond)}, true},
		{"created before, same instant", Query{State: comment.StatePending, CreatedBefore: at}, false},
		{"score range holds it", Query{State: comment.StatePending, MinScore: score(0.5), MaxScore: score(0.5)}, true},
		{"score above max", Query{State: comment.StatePending, MaxScore: score(0.49)}, false},
		{"score below min", Query{State: comment.StatePending, MinScore: score(0.51)}, false},
		{"reason code", Query{State: comment.StatePending, ReasonCode: ReasonReported}, true},
		{"other reason code", Query{State: comment.StatePending, ReasonCode: "FIRST_COMMENT"}, false},
	}
	for _, tt := range tests {
		if got := tt.q.Matches(c); got != tt.want {
			t.Errorf("%s: Query%+v.Matches(comment) = %v, want %v", tt.name, tt.q, got, tt.want)
		}
	}
}

func TestListQueueRefusesBadFilters(t *testing.T) {
	s := NewService(nil, testKeyring(t), Options{})
	score := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"state", Query{State: comment.StatePublished}, []string{"state"}},
		{"author key", Query{AuthorKey: "jane@example.com"}, []string{"author_key"}},
		{"scores out of range", Query{MinScore: score(-0.1), MaxScore: score(1.1)}, []string{"min_spam_score", "max_spam_score"}},
		{"min above max", Query{MinScore: score(0.9), MaxScore: score(0.1)}, []string{"max_spam_score"}},
		{"reason code", Query{ReasonCode: "too many links"}, []string{"reason_code"}},
	}
	for _, tt := range tests {
		_, _, err := s.ListQueue(context.Background(), tt.q, comment.Page{})
		if got := violations(err); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ListQueue(%+v) = %v, want violations on %v", tt.name, tt.q, err, tt.want)
		}
	}
}

func TestClaimDefaultsAndBounds(t *testing.T) {
	stub := &claimsStub{}
	s := NewService(nil, testKeyring(t), Options{Claims: stub})
	tests := []struct {
		name    string
		q       ClaimQuery
		want    ClaimQuery
		wantErr []string
	}{
		{name: "defaults", q: ClaimQuery{}, want: ClaimQuery{State: comment.StatePending, Count: DefaultClaimCount, Lease: DefaultLease}},
		{name: "too many, too long", q: ClaimQuery{State: comment.StateSpam, Count: 500, Lease: 24 * time.Hour}, want: ClaimQuery{State: comment.StateSpam, Count: MaxClaimCount, Lease: MaxLease}},
		{name: "lease to the millisecond", q: ClaimQuery{Count: 1, Lease: 1500*time.Millisecond + 7}, want: ClaimQuery{State: comment.StatePending, Count: 1, Lease: 1500 * time.Millisecond}},
		{name: "skipped comments passed on", q: ClaimQuery{Skip: []string{"a", "b"}}, want: ClaimQuery{State: comment.StatePending, Count: DefaultClaimCount, Lease: DefaultLease, Skip: []string{"a", "b"}}},
		{name: "refused", q: ClaimQuery{State: comment.StateRejected, ThreadID: "bad thread", Count: -1, Lease: time.Millisecond}, wantErr: []string{"state", "thread_id", "count", "lease"}},
		{name: "too many skipped", q: ClaimQuery{Skip: make([]string, MaxClaimSkip+1)}, wantErr: []string{"skip_names"}},
	}
	for _, tt := range tests {
		stub.got = ClaimQuery{}
		_, until, err := s.Claim(context.Background(), "anna", tt.q)
		if tt.wantErr != nil {
			if got := violations(err); !slices.Equal(got, tt.wantErr) {
				t.Errorf("%s: Claim(%+v) = %v, want violations on %v", tt.name, tt.q, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !cmp.Equal(stub.got, tt.want) {
			t.Errorf("%s: Claim(%+v) passed %+v to the store (%v), want %+v", tt.name, tt.q, stub.got, err, tt.want)
		}
		if d := time.Until(until); d > tt.want.Lease || d < tt.want.Lease-time.Minute {
			t.Errorf("%s: Claim(%+v) lease ends in %v, want about %v", tt.name, tt.q, d, tt.want.Lease)
		}
	}
	if err := s.Release(context.Background(), "anna", make([]string, MaxRelease+1)); !slices.Equal(violations(err), []string{"names"}) {
		t.Errorf("Release(%d ids) = %v, want a violation on names", MaxRelease+1, err)
	}
}

func TestStatsPeriod(t *testing.T) {
	stub := &statsStub{}
	now := time.Date(2026, 5, 20, 23, 59, 0, 0, time.FixedZone("east", 3*3600))
	s := NewService(nil, testKeyring(t), Options{Stats: stub, Now: func() time.Time { return now }})
	for _, tt := range []struct {
		days, wantDays int
		wantFirst      time.Time
	}{
		{0, DefaultStatsDays, time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC)},
		{1, 1, time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)},
		{MaxStatsDays, MaxStatsDays, time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := s.Stats(context.Background(), tt.days); err != nil || stub.days != tt.wantDays || !stub.first.Equal(tt.wantFirst) {
			t.Errorf("Stats(%d) at %v asked the store for %d days from %v (%v), want %d from %v", tt.days, now, stub.days, stub.first, err, tt.wantDays, tt.wantFirst)
		}
	}
	for _, days := range []int{-1, MaxStatsDays + 1} {
		if _, err := s.Stats(context.Background(), days); !slices.Equal(violations(err), []string{"days"}) {
			t.Errorf("Stats(%d) = %v, want a violation on days", days, err)
		}
	}
}

func TestReportPassesOnlyAKeyedHash(t *testing.T) {
	stub := &reportsStub{}
	keys := testKeyring(t)
	s := NewService(nil, keys, Options{Reports: stub})
	if _, _, err := s.Report(context.Background(), "00abc", "  rude  ", Reporter{IP: "203.0.113.7", APIKey: "news-site"}); err != nil {
		t.Fatalf("Report = %v", err)
	}
	ip, _ := privacy.ParseIP("203.0.113.7")
	if stub.reporter != keys.IPKey(ip) || strings.Contains(stub.reporter, "203.0.113") || stub.report.Reason != "rude" {
		t.Errorf("Report passed reporter %q and %+v to the store, want the address's keyed hash and the trimmed reason", stub.reporter, stub.report)
	}
	// Two addresses of one IPv6 /64 are one reporter; another /64 is another.
	var v6 []string
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"} {
		if _, _, err := s.Report(context.Background(), "00abc", "spam", Reporter{IP: addr, APIKey: "news-site"}); err != nil {
			t.Fatalf("Report from %s = %v", addr, err)
		}
		v6 = append(v6, stub.reporter)
	}
	if v6[0] != v6[1] || v6[0] == v6[2] || strings.Contains(v6[0], "2001") {
		t.Errorf("Report from two addresses of one /64 and one of another gave reporters %q, want the first two equal, the third different, no address in clear", v6)
	}
	// Without an address, the reports of one API key are one reporter, another key's another, and
	// neither is any address's.
	var anonymous []string
	for _, site := range []string{"news-site", "news-site", "other-site"} {
		if _, _, err := s.Report(context.Background(), "00abc", "", Reporter{APIKey: site}); err != nil {
			t.Fatalf("Report without an address through %s = %v", site, err)
		}
		anonymous = append(anonymous, stub.reporter)
	}
	if anonymous[0] == "" || anonymous[0] != anonymous[1] || anonymous[0] == anonymous[2] || slices.Contains(v6, anonymous[0]) ||
		anonymous[0] == keys.IPKey(ip) || strings.Contains(anonymous[0], "news-site") {
		t.Errorf("Report without an address twice through news-site, then through other-site, gave reporters %q; want the first two equal, the third different, none empty, an address's or the key's name in clear", anonymous)
	}
	// A reporter id tells readers apart whatever their address, within the API key that sent it.
	var byID []string
	for _, from := range []Reporter{
		{ID: "account-42", IP: "203.0.113.7", APIKey: "news-site"},
		{ID: "account-42", IP: "198.51.100.1", APIKey: "news-site"},
		{ID: "account-43", IP: "203.0.113.7", APIKey: "news-site"},
		{ID: "account-42", IP: "203.0.113.7", APIKey: "other-site"},
	} {
		if _, _, err := s.Report(context.Background(), "00abc", "", from); err != nil {
			t.Fatalf("Report from %+v = %v", from, err)
		}
		byID = append(byID, stub.reporter)
	}
	if byID[0] != byID[1] || byID[0] == byID[2] || byID[0] == byID[3] || byID[0] == keys.IPKey(ip) || slices.Contains(anonymous, byID[0]) ||
		strings.Contains(byID[0], "account-42") {
		t.Errorf("Report by account-42 from two addresses, by account-43, by account-42 through another key gave reporters %q; want the first two equal, the others different, none an address's, a key's or the id in clear", byID)
	}
	_, _, err := s.Report(context.Background(), "bad id!", strings.Repeat("x", comment.MaxReasonChars+1), Reporter{IP: "999.1.1.1", ID: "two words", APIKey: "news-site"})
	if got := violations(err); !slices.Equal(got, []string{"name", "reason", "client_ip", "reporter_id"}) {
		t.Errorf("Report(bad id, long reason, bad address, bad reporter id) = %v, want violations on name, reason, client_ip, reporter_id", err)
	}
	if _, _, err := s.Report(context.Background(), "00abc", "", Reporter{ID: strings.Repeat("r", MaxReporterIDChars+1), APIKey: "news-site"}); !slices.Equal(violations(err), []string{"reporter_id"}) {
		t.Errorf("Report(reporter id of %d characters) = %v, want a violation on reporter_id", MaxReporterIDChars+1, err)
	}
}

func TestWatchRefusesUnknownKinds(t *testing.T) {
	s := NewService(nil, testKeyring(t), Options{Feed: feedFunc(func(context.Context, func(), func(QueueEvent) error) error {
		t.Errorf("Watch subscribed despite a bad filter")
		return nil
	})})
	err := s.Watch(context.Background(), WatchFilter{Kinds: []EventKind{EventHeld, 0}, ThreadID: "no spaces"}, func() {}, func(WatchEvent) error { return nil })
	if got := violations(err); !slices.Equal(got, []string{"kinds[1]", "thread_id"}) {
		t.Errorf("Watch(bad filter) = %v, want violations on kinds[1], thread_id", err)
	}
}

type feedFunc func(context.Context, func(), func(QueueEvent) error) error

func (f feedFunc) WatchQueue(ctx context.Context, subscribed func(), fn func(QueueEvent) error) error {
	return f(ctx, subscribed, fn)
}

func TestUnconfiguredWorkflowIsUnsupported(t *testing.T) {
	s := NewService(nil, testKeyring(t), Options{})
	ctx := context.Background()
	calls := map[string]error{}
	_, _, calls["Claim"] = s.Claim(ctx, "anna", ClaimQuery{})
	calls["Release"] = s.Release(ctx, "anna", nil)
	_, _, calls["Report"] = s.Report(ctx, "00a", "", Reporter{APIKey: "news-site"})
	_, calls["Stats"] = s.Stats(ctx, 0)
	_, _, calls["ListAudit"] = s.ListAudit(ctx, AuditQuery{}, comment.Page{})
	calls["RecordAudit"] = s.RecordAudit(ctx, AuditEvent{Moderator: "anna", Action: AuditBan, Target: "bans/1"})
	calls["Watch"] = s.Watch(ctx, WatchFilter{}, func() {}, func(WatchEvent) error { return nil })
	for name, err := range calls {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s without its store = %v, want errors.ErrUnsupported", name, err)
		}
	}
}

// threadStub is a Store whose update answers with the thread before and after it, as the test
// gives them. It records the moderator and etag of the last update and counts the updates.
type threadStub struct {
	Store
	before, after comment.Thread
	moderator     string
	etag          string
	updates       int
}

func (s *threadStub) UpdateThread(_ context.Context, moderator, _ string, _ *comment.Mode, _ *bool, etag string) (comment.Thread, comment.Thread, error) {
	s.moderator, s.etag = moderator, etag
	s.updates++
	return s.before, s.after, nil
}

// TestUpdateThreadNamesTheModerator: the store records the audit entry in the update's own
// atomic step, so the service hands it the moderator, and refuses an update in nobody's name
// (which the store would leave unrecorded) before it reaches the store.
func TestUpdateThreadNamesTheModerator(t *testing.T) {
	pre := comment.ModePre
	store := &threadStub{after: comment.Thread{Mode: comment.ModePre}}
	s := NewService(store, testKeyring(t), Options{Audit: &auditStub{}})
	if _, err := s.UpdateThread(context.Background(), "anna", "t1", &pre, nil, ""); err != nil || store.moderator != "anna" {
		t.Errorf("UpdateThread(anna, t1, mode pre) = %v, and the store was told moderator %q; want no error and anna", err, store.moderator)
	}
	for _, m := range []string{"", strings.Repeat("m", maxAuditModerator+1)} {
		store.updates = 0
		if _, err := s.UpdateThread(context.Background(), m, "t1", &pre, nil, ""); err == nil || store.updates != 0 {
			t.Errorf("UpdateThread(moderator of %d bytes) = %v after %d store updates; want an error and none", len(m), err, store.updates)
		}
	}
}

// countingStore is a Store whose Get answers with a pending comment of the id asked for and
// counts the calls. Until release is closed (when it is not nil), Get waits for it or for its
// caller to leave.
type countingStore struct {
	Store
	mu      sync.Mutex
	gets    int
	release chan struct{}
}

func (s *countingStore) Get(ctx context.Context, id string) (comment.Comment, error) {
	s.mu.Lock()
	s.gets++
	release := s.release
	s.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return comment.Comment{}, ctx.Err()
		}
	}
	return comment.Comment{ID: id, ThreadID: "t", State: comment.StatePending}, nil
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// TestWatchersShareTheReadOfAnEvent: every watcher of a server gets every event, and each
// used to read the comment itself: with 250 watchers, one held comment cost 250 reads of the
// comment, its author's record and its reports, and slowed every submission 30-fold. The
// watchers of one Service now share one read per event.
func TestWatchersShareTheReadOfAnEvent(t *testing.T) {
	const watchers = 8
	e := QueueEvent{Kind: EventHeld, CommentID: "00a", ThreadID: "t", At: time.UnixMicro(1_700_000_000_000_000)}
	st := &countingStore{}
	s := NewService(st, testKeyring(t), Options{Feed: feedFunc(func(_ context.Context, subscribed func(), fn func(QueueEvent) error) error {
		subscribed()
		return fn(e)
	})})
	var wg sync.WaitGroup
	got := make([][]string, watchers)
	for i := range watchers {
		wg.Go(func() {
			err := s.Watch(context.Background(), WatchFilter{}, func() {}, func(w WatchEvent) error {
				got[i] = append(got[i], w.Comment.Comment.ID)
				return nil
			})
			if err != nil {
				t.Errorf("watcher %d: Watch = %v, want nil once the feed ends", i, err)
			}
		})
	}
	wg.Wait()
	for i, ids := range got {
		if !slices.Equal(ids, []string{"00a"}) {
			t.Errorf("watcher %d got comments %q, want [00a]", i, ids)
		}
	}
	if n := st.count(); n != 1 {
		t.Errorf("%d watchers given one held event read the comment %d times, want once", watchers, n)
	}
}

// TestWatcherLeavingDuringASharedReadLeavesTheOthersTheirEvent: the watcher whose read the
// others wait for may leave while it reads; its read then ends with its context's error, which
// is not the others' to see.
func TestWatcherLeavingDuringASharedReadLeavesTheOthersTheirEvent(t *testing.T) {
	e := QueueEvent{Kind: EventHeld, CommentID: "00a", ThreadID: "t", At: time.UnixMicro(1_700_000_000_000_000)}
	st := &countingStore{release: make(chan struct{})}
	s := NewService(st, testKeyring(t), Options{Feed: feedFunc(func(_ context.Context, subscribed func(), fn func(QueueEvent) error) error {
		subscribed()
		return fn(e)
	})})
	first, leave := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.Watch(first, WatchFilter{}, func() {}, func(WatchEvent) error { return nil })
	}()
	for st.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	secondDone := make(chan []string, 1)
	go func() {
		var ids []string
		err := s.Watch(context.Background(), WatchFilter{}, func() {}, func(w WatchEvent) error {
			ids = append(ids, w.Comment.Comment.ID)
			return nil
		})
		if err != nil {
			t.Errorf("second watcher: Watch = %v, want nil once the feed ends", err)
		}
		secondDone <- ids
	}()
	// Time for the second watcher to wait for the first one's read; one that has not reached it
	// yet reads the comment itself once the first has left, which passes too.
	time.Sleep(50 * time.Millisecond)
	leave()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Errorf("first watcher, gone during its read: Watch = %v, want context.Canceled", err)
	}
	// The second watcher now reads the comment itself, and may wait for the store meanwhile.
	close(st.release)
	if ids := <-secondDone; !slices.Equal(ids, []string{"00a"}) {
		t.Errorf("second watcher, waiting for the read of a watcher that left, got comments %q, want [00a]", ids)
	}
}
