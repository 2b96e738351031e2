package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// abuseStore returns a Store with a key prefix of its own on rdb.
func abuseStore(t *testing.T, rdb redis.UniversalClient) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("New = %v, want no error", err)
	}
	return s
}

// sharedAbuseStore is abuseStore on the package's shared server.
func sharedAbuseStore(t *testing.T) *Store {
	t.Helper()
	return abuseStore(t, redistest.Client(t, redistest.Shared(t)))
}

var abuseKeys = func() *privacy.Keyring {
	k, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	})
	if err != nil {
		panic(err)
	}
	return k
}()

// subjectOf is what the Screener would make of a submission by email from ip (either may be "")
// with body in thread.
func subjectOf(t *testing.T, email, ip, thread, body string) ratelimit.Subject {
	t.Helper()
	s := ratelimit.Subject{ThreadID: thread, TextKey: abuseKeys.TextKey(ratelimit.DuplicateLabel, ratelimit.DuplicateText(thread, body))}
	if email != "" {
		e, ok := privacy.ParseEmail(email)
		if !ok {
			t.Fatalf("ParseEmail(%q) failed", email)
		}
		s.AuthorKey = abuseKeys.EmailKey(e)
	}
	if ip != "" {
		a, ok := privacy.ParseIP(ip)
		if !ok {
			t.Fatalf("ParseIP(%q) failed", ip)
		}
		s.IPKey, s.IPLimitKey, s.IP = abuseKeys.IPKey(a), abuseKeys.IPLimitKey(a), a.Addr()
	}
	return s
}

func rule(name string, key ratelimit.KeyKind, count int, period time.Duration, burst int) ratelimit.Rule {
	return ratelimit.Rule{Name: name, Key: key, Count: count, Period: period, Burst: burst}
}

// counter is a go-redis hook counting round trips (a command or a pipeline) and commands.
type counter struct {
	trips, cmds atomic.Int64
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestRateLimitConcurrentSubmissionsNeverExceedTheRule(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	// Two rules on different values (different hash slots): each must hold on its own, although
	// their counts are taken in separate scripts and refunded across slots.
	author := rule("author", ratelimit.KeyAuthor, 10, time.Second, 5) // interval 100ms
	ip := rule("ip", ratelimit.KeyIP, 20, time.Second, 2)             // interval 50ms
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{author, ip}, DuplicateWindow: -1})
	ctx := context.Background()

	const workers = 32
	var accepted, refused atomic.Int64
	var unexpected sync.Map
	sub := subjectOf(t, "flood@example.com", "192.0.2.1", "thread-c", "text")
	start := time.Now()
	stop := start.Add(1200 * time.Millisecond)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				_, err := g.Check(ctx, sub)
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ratelimit.ErrLimited):
					refused.Add(1)
				default:
					unexpected.Store(err.Error(), true)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	unexpected.Range(func(k, _ any) bool { t.Errorf("Check under load: unexpected error %v", k); return true })

	// GCRA: over a window W, at most burst + W/interval are accepted; the Redis-side window is
	// inside [start, end], so elapsed bounds it.
	bound := func(r ratelimit.Rule) int64 { return int64(r.Burst) + int64(elapsed/r.Interval()) }
	limit := min(bound(author), bound(ip))
	if got := accepted.Load(); got > limit {
		t.Errorf("%d workers for %s under %v and %v: %d accepted, want at most %d", workers, elapsed, author, ip, got, limit)
	}
	// A saturated key keeps getting its full rate (minus what the refunds briefly withhold).
	if got, floor := accepted.Load(), limit/2; got < floor {
		t.Errorf("%d workers for %s under %v and %v: %d accepted, want at least %d", workers, elapsed, author, ip, got, floor)
	}
	t.Logf("%d workers for %s: %d accepted (bound %d), %d refused", workers, elapsed, accepted.Load(), limit, refused.Load())
	if refused.Load() == 0 {
		t.Errorf("%d workers for %s: nothing refused, want the flood refused", workers, elapsed)
	}
}

func TestRateLimitBurst(t *testing.T) {
	t.Parallel()
	for _, burst := range []int{1, 3, 10} {
		t.Run(fmt.Sprint("burst ", burst), func(t *testing.T) {
			t.Parallel()
			s := sharedAbuseStore(t)
			r := rule("hourly", ratelimit.KeyAuthor, 1, time.Hour, burst)
			g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{r}, DuplicateWindow: -1})
			ctx := context.Background()
			for i := range burst {
				if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "", "t", fmt.Sprint(i))); err != nil {
					t.Fatalf("Check #%d under %v = %v, want accepted", i+1, r, err)
				}
			}
			_, err := g.Check(ctx, subjectOf(t, "jane@example.com", "", "t", "one too many"))
			var le *ratelimit.LimitError
			if !errors.As(err, &le) {
				t.Fatalf("Check #%d under %v = %v, want a *ratelimit.LimitError", burst+1, r, err)
			}
			if le.Rule != r.Name || le.RetryAfter <= time.Hour-time.Second || le.RetryAfter > time.Hour {
				t.Errorf("Check #%d under %v = %+v, want rule %s and a retry delay just under 1h", burst+1, r, le, r.Name)
			}
			// Another author is not affected.
			if _, err := g.Check(ctx, subjectOf(t, "john@example.com", "", "t", "x")); err != nil {
				t.Errorf("Check by another author under %v = %v, want accepted", r, err)
			}
		})
	}
}

// TestRateLimitRetryAfterIsExact: the retry delay is what is left of the rule's interval by Redis'
// clock, rounded up to the millisecond: the test bounds it by the time it saw pass between the
// checks, so a loaded machine slowing the checks down moves the bounds, not the verdict.
func TestRateLimitRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	// Rounding up to whole milliseconds, and Redis' clock and the test's reading the same time a
	// little differently.
	const slack = 2 * time.Millisecond
	try := 0
	withinSpan(t, 400*time.Millisecond, func(interval time.Duration) bool {
		try++
		r := rule("flood", ratelimit.KeyIP, 1, interval, 1)
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{r}, DuplicateWindow: -1})
		sub := subjectOf(t, "jane@example.com", fmt.Sprintf("198.51.100.%d", 20+try), "t", "x")
		start := time.Now()
		if _, err := g.Check(ctx, sub); err != nil {
			t.Fatalf("first Check under %v = %v, want accepted", r, err)
		}
		beforeSecond := time.Now()
		_, err := g.Check(ctx, sub)
		afterSecond := time.Now()
		var le *ratelimit.LimitError
		// The interval runs from the first check: what is left of it is the interval less the
		// time between the two checks, at most what the test saw pass from before the first to
		// after the second.
		if low := interval - afterSecond.Sub(start) - slack; !errors.As(err, &le) || le.RetryAfter < low || le.RetryAfter > interval {
			t.Fatalf("second Check under %v, %v after the first began = %v, want a *ratelimit.LimitError with a delay in [%v, %v]",
				r, afterSecond.Sub(start).Round(time.Millisecond), err, low, interval)
		}
		// Retrying before the delay is refused again, with the delay shrunk by the time between the
		// second check and this one. That is only so if this one came before the delay ended.
		time.Sleep(le.RetryAfter / 2)
		beforeThird := time.Now()
		_, err = g.Check(ctx, sub)
		afterThird := time.Now()
		if afterThird.Sub(beforeSecond) >= le.RetryAfter-slack {
			return false // the delay may have ended before the third check
		}
		var le2 *ratelimit.LimitError
		low, high := le.RetryAfter-afterThird.Sub(beforeSecond)-slack, le.RetryAfter-beforeThird.Sub(afterSecond)+slack
		if !errors.As(err, &le2) || le2.RetryAfter < low || le2.RetryAfter > high {
			t.Fatalf("Check %v after the second (delay %v) = %v, want refused with a delay in [%v, %v]",
				beforeThird.Sub(afterSecond).Round(time.Millisecond), le.RetryAfter, err, low, high)
		}
		// Retrying after the delay it was told passes.
		time.Sleep(le2.RetryAfter)
		if _, err := g.Check(ctx, sub); err != nil {
			t.Errorf("Check after the retry delay %s = %v, want accepted", le2.RetryAfter, err)
		}
		return true
	})
}

func TestRateLimitChangedRuleWaitsByItsOwnInterval(t *testing.T) {
	t.Parallel()
	// An operator changes a rule and restarts: its counts carry over by name, but a reader who
	// spent the old rule's burst waits for the new rule, never longer than one of its intervals,
	// not for the old rule to let them through.
	tests := []struct {
		name     string
		old, new ratelimit.Rule
	}{
		{
			name: "faster rate",
			old:  rule("flood", ratelimit.KeyAuthor, 1, time.Hour, 3),
			new:  rule("flood", ratelimit.KeyAuthor, 1000, time.Second, 1),
		},
		{
			name: "smaller burst",
			old:  rule("flood", ratelimit.KeyAuthor, 1, time.Hour, 10),
			new:  rule("flood", ratelimit.KeyAuthor, 1, time.Hour, 2),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sharedAbuseStore(t)
			ctx := context.Background()
			sub := subjectOf(t, "jane@example.com", "", "t", "x")
			before := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{tt.old}, DuplicateWindow: -1})
			for i := range tt.old.Burst {
				if _, err := before.Check(ctx, sub); err != nil {
					t.Fatalf("Check #%d under %v = %v, want accepted", i+1, tt.old, err)
				}
			}

			after := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{tt.new}, DuplicateWindow: -1})
			_, err := after.Check(ctx, sub)
			var le *ratelimit.LimitError
			if !errors.As(err, &le) || le.RetryAfter > tt.new.Interval() {
				t.Fatalf("Check under %v after the burst of %v = %v, want refused with a delay of at most %s", tt.new, tt.old, err, tt.new.Interval())
			}
			if tt.new.Interval() > time.Second {
				return
			}
			time.Sleep(le.RetryAfter)
			if _, err := after.Check(ctx, sub); err != nil {
				t.Errorf("Check under %v after the retry delay %s = %v, want accepted", tt.new, le.RetryAfter, err)
			}
		})
	}
}

func TestRefusedSubmissionIsNotCounted(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	author := rule("author", ratelimit.KeyAuthor, 2, time.Hour, 2)
	ip := rule("ip", ratelimit.KeyIP, 1, time.Hour, 1)
	site := rule("site", ratelimit.KeySite, 100, time.Hour, 100)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{author, ip, site}, DuplicateWindow: -1})
	ctx := context.Background()
	steps := []struct {
		ip       string
		wantRule string // "" = accepted
	}{
		{ip: "192.0.2.1"},                 // author 1/2, ip .1 1/1
		{ip: "192.0.2.1", wantRule: "ip"}, // refused by ip: the author's count is given back
		{ip: "192.0.2.1", wantRule: "ip"}, // and again
		{ip: "192.0.2.2"},                 // so the author still has one left
		{ip: "192.0.2.3", wantRule: "author"},
	}
	for i, st := range steps {
		_, err := g.Check(ctx, subjectOf(t, "jane@example.com", st.ip, "t", fmt.Sprint(i)))
		var le *ratelimit.LimitError
		switch {
		case st.wantRule == "" && err != nil:
			t.Fatalf("step %d: Check from %s = %v, want accepted", i, st.ip, err)
		case st.wantRule != "" && (!errors.As(err, &le) || le.Rule != st.wantRule):
			t.Fatalf("step %d: Check from %s = %v, want refused by rule %s", i, st.ip, err, st.wantRule)
		}
	}
	// The site rule counted only the two accepted submissions: 98 of its 100 are left.
	g2 := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{site}, DuplicateWindow: -1})
	for i := range 98 {
		if _, err := g2.Check(ctx, subjectOf(t, fmt.Sprintf("r%d@example.com", i), "", "t", "x")); err != nil {
			t.Fatalf("site Check #%d = %v, want accepted (refused submissions must not have been counted)", i+3, err)
		}
	}
	if _, err := g2.Check(ctx, subjectOf(t, "last@example.com", "", "t", "x")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("site Check #101 = %v, want refused", err)
	}
}

func TestRefundIsAppliedOnce(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	r := rule("site", ratelimit.KeySite, 1, time.Hour, 2)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{r}, DuplicateWindow: -1})
	ctx := context.Background()
	if _, err := g.Check(ctx, subjectOf(t, "a@example.com", "", "t", "x")); err != nil {
		t.Fatalf("Check #1 = %v, want accepted", err)
	}
	o, err := g.Check(ctx, subjectOf(t, "b@example.com", "", "t", "x"))
	if err != nil || len(o.Ticket.Takes) != 1 {
		t.Fatalf("Check #2 = %+v, %v; want accepted with a ticket of one take", o, err)
	}
	for i := range 2 {
		if err := s.Refund(ctx, o.Ticket); err != nil {
			t.Fatalf("Refund #%d of check #2 = %v, want no error", i+1, err)
		}
	}
	// Refunded once: one more passes; had it been refunded twice, two more would.
	if _, err := g.Check(ctx, subjectOf(t, "c@example.com", "", "t", "x")); err != nil {
		t.Errorf("Check after the refund = %v, want accepted", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "d@example.com", "", "t", "x")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("second Check after the refund = %v, want refused", err)
	}
}

func TestLateRefundGivesBackNoOtherCount(t *testing.T) {
	t.Parallel()
	// A refund can come seconds after its check (the comment write timed out, and the look-up
	// found nothing). By then the count it took may have drained away and the rule's state be
	// another submission's alone: moving that back would let one more through than the rule
	// allows.
	s := sharedAbuseStore(t)
	r := rule("site", ratelimit.KeySite, 1, 2*time.Second, 1)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{r}, DuplicateWindow: -1})
	ctx := context.Background()
	first, err := g.Check(ctx, subjectOf(t, "a@example.com", "", "t", "x"))
	if err != nil {
		t.Fatalf("first Check under %v = %v, want accepted", r, err)
	}
	// Past the first count's interval: it has drained.
	time.Sleep(r.Interval() + 100*time.Millisecond)
	if _, err := g.Check(ctx, subjectOf(t, "b@example.com", "", "t", "x")); err != nil {
		t.Fatalf("Check one interval after the first under %v = %v, want accepted", r, err)
	}
	if err := s.Refund(ctx, first.Ticket); err != nil {
		t.Fatalf("Refund of the first check = %v, want no error", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "c@example.com", "", "t", "x")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("Check right after the second under %v, the first refunded late = %v, want refused (the second's count stands)", r, err)
	}
}

func TestTrustedSkipsRateLimitsButNotBans(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	trusted, err := ratelimit.NewTrusted(nil, []string{"192.0.2.0/24", "2001:db8:5::/48"})
	if err != nil {
		t.Fatalf("NewTrusted = %v", err)
	}
	r := rule("flood", ratelimit.KeySite, 1, time.Hour, 1)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{r}, Trusted: trusted, DuplicateWindow: -1})
	ctx := context.Background()
	for i, ip := range []string{"192.0.2.10", "192.0.2.11", "2001:db8:5::1", "192.0.2.10"} {
		if _, err := g.Check(ctx, subjectOf(t, "editor@example.com", ip, "t", fmt.Sprint(i))); err != nil {
			t.Fatalf("Check #%d from trusted %s = %v, want accepted", i+1, ip, err)
		}
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "198.51.100.1", "t", "x")); err != nil {
		t.Fatalf("first Check from an untrusted address = %v, want accepted (trusted ones were not counted)", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "198.51.100.1", "t", "y")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("second Check from an untrusted address = %v, want refused", err)
	}
	// A ban still applies to a trusted network.
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	staff := subjectOf(t, "editor@example.com", "192.0.2.10", "t", "z")
	if _, err := bans.Ban(ctx, ratelimit.BanRequest{Target: ratelimit.AuthorTarget(staff.AuthorKey), Moderator: "admin"}); err != nil {
		t.Fatalf("Ban = %v", err)
	}
	if o, err := g.Check(ctx, staff); err != nil || o.Ban == nil {
		t.Errorf("Check by a banned author from a trusted network = %+v, %v; want the ban", o, err)
	}
}

func TestAbuseCheckIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	var c counter
	rdb.AddHook(&c)
	s := abuseStore(t, rdb)
	rules := []ratelimit.Rule{
		rule("ip", ratelimit.KeyIP, 100, time.Minute, 100),
		rule("ip-flood", ratelimit.KeyIP, 100, time.Minute, 100),
		rule("author", ratelimit.KeyAuthor, 100, time.Minute, 100),
		rule("thread", ratelimit.KeyThread, 100, time.Minute, 100),
		rule("site", ratelimit.KeySite, 100, time.Minute, 100),
	}
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
	ctx := context.Background()
	// The first call loads the scripts (NOSCRIPT, SCRIPT LOAD, resend); later calls find them.
	if _, err := g.Check(ctx, subjectOf(t, "warm@example.com", "192.0.2.1", "t", "warm up")); err != nil {
		t.Fatalf("warm-up Check = %v", err)
	}
	tests := []struct {
		name      string
		sub       ratelimit.Subject
		wantTrips int64
		wantCmds  int64
	}{
		// 4 script calls (ip, author+duplicate, thread, site) + 1 HMGET of the bans.
		{name: "IPv4", sub: subjectOf(t, "jane@example.com", "192.0.2.1", "t", "hello"), wantTrips: 1, wantCmds: 5},
		{name: "IPv6", sub: subjectOf(t, "jane@example.com", "2001:db8::1", "t", "hello again"), wantTrips: 1, wantCmds: 5},
		{name: "no address", sub: subjectOf(t, "john@example.com", "", "t", "hello"), wantTrips: 1, wantCmds: 4},
		// Refused (a duplicate): the counts taken in the other slots are given back, one more trip.
		{name: "duplicate", sub: subjectOf(t, "jane@example.com", "192.0.2.1", "t", "Hello!"), wantTrips: 2, wantCmds: 5 + 3},
	}
	for _, tt := range tests {
		trips, cmds := c.trips.Load(), c.cmds.Load()
		_, err := g.Check(ctx, tt.sub)
		if err != nil && !errors.Is(err, ratelimit.ErrDuplicate) {
			t.Fatalf("%s: Check = %v", tt.name, err)
		}
		if got := c.trips.Load() - trips; got != tt.wantTrips {
			t.Errorf("%s: Check took %d round trips, want %d", tt.name, got, tt.wantTrips)
		}
		if got := c.cmds.Load() - cmds; got != tt.wantCmds {
			t.Errorf("%s: Check sent %d commands, want %d", tt.name, got, tt.wantCmds)
		}
	}
}

func TestAbuseScriptsSurviveScriptFlush(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.Client(t, srv.Addr)
	s := abuseStore(t, rdb)
	r := rule("site", ratelimit.KeySite, 1, time.Hour, 2)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{r}})
	ctx := context.Background()
	if _, err := g.Check(ctx, subjectOf(t, "a@example.com", "", "t", "one")); err != nil {
		t.Fatalf("Check #1 = %v", err)
	}
	// As after a restart or a failover to a replica that never saw the scripts.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH = %v", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "b@example.com", "", "t", "two")); err != nil {
		t.Fatalf("Check #2 after SCRIPT FLUSH = %v, want accepted", err)
	}
	// Counted once, not twice, across the resend: the third is the first refused.
	if _, err := g.Check(ctx, subjectOf(t, "c@example.com", "", "t", "three")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("Check #3 = %v, want refused by %v", err, r)
	}
}

func TestAbuseCheckWithRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb, err := NewClient(srv.Addr) // the production client settings: retries, timeouts
	if err != nil {
		t.Fatalf("NewClient(%s) = %v", srv.Addr, err)
	}
	t.Cleanup(func() { rdb.Close() })
	s := abuseStore(t, rdb)
	srv.Stop()
	rules := ratelimit.DefaultRules()
	sub := subjectOf(t, "jane@example.com", "192.0.2.1", "t", "hello")
	for _, failOpen := range []bool{false, true} {
		var events []string
		var mu sync.Mutex
		obs := ratelimit.ObserverFunc(func(e ratelimit.Event, label string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e.String())
		})
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules, FailOpen: failOpen, Observer: obs})
		// That the check gives up at the call's deadline rather than waiting for Redis is
		// TestAbuseCheckWithRedisStalled's: a refused connection fails fast with or without it.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		o, err := g.Check(ctx, sub)
		cancel()
		if failOpen {
			if err != nil || !o.Unchecked {
				t.Errorf("Check with Redis stopped, fail open: %+v, %v; want Unchecked, no error", o, err)
			}
			if len(events) != 1 || events[0] != "fail_open" {
				t.Errorf("Check with Redis stopped, fail open: events %v, want [fail_open]", events)
			}
		} else if !errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("Check with Redis stopped, fail closed: %+v, %v; want an error wrapping comment.ErrUnavailable", o, err)
		}
	}
	// The ban check never fails open.
	g := ratelimit.NewGuard(s, ratelimit.Options{FailOpen: true})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := g.Banned(ctx, ratelimit.BanLookup{AuthorKey: sub.AuthorKey, IPKey: sub.IPKey, NetKey: sub.IPLimitKey, IP: sub.IP}); !errors.Is(err, comment.ErrUnavailable) {
		t.Errorf("Banned with Redis stopped = %v, want an error wrapping comment.ErrUnavailable", err)
	}
}

func TestAbuseCheckWithRedisStalled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// Stall every client of this server for 20s, with a client whose own dial, read and write
	// timeouts are as long: a check that waited for Redis instead of giving up (at its budget, its
	// call's deadline or the store's own bound) returns only when the stall ends, so one that
	// returns before gave up, however late a loaded machine let it.
	const stall = 20 * time.Second
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, DialTimeout: stall, ReadTimeout: stall, WriteTimeout: stall})
	t.Cleanup(func() { rdb.Close() })
	s := abuseStore(t, rdb)
	ctx := context.Background()
	sub := subjectOf(t, "jane@example.com", "192.0.2.1", "t", "hello")
	// Load the scripts first.
	if _, err := ratelimit.NewGuard(s, ratelimit.Options{Rules: ratelimit.DefaultRules()}).Check(ctx, sub); err != nil {
		t.Fatalf("Check before the stall = %v", err)
	}
	admin := redistest.Client(t, srv.Addr)
	paused := time.Now()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", stall.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE = %v", err)
	}
	// No CLIENT UNPAUSE at the end: it would wait for the stall like any command; the server,
	// this test's own, stops when the test ends.

	// Given up by the check's own budget (-abuse-timeout), or, without one, by the call's deadline.
	tests := []struct {
		name     string
		failOpen bool
		budget   time.Duration
		deadline time.Duration
	}{
		{"fail closed, 150ms budget", false, 150 * time.Millisecond, 0},
		{"fail open, 150ms budget", true, 150 * time.Millisecond, 0},
		{"fail closed, 500ms deadline", false, 0, 500 * time.Millisecond},
		{"fail open, 500ms deadline", true, 0, 500 * time.Millisecond},
	}
	for i, tc := range tests {
		g := ratelimit.NewGuard(s, ratelimit.Options{Rules: ratelimit.DefaultRules(), FailOpen: tc.failOpen, Timeout: tc.budget})
		callCtx, cancel := ctx, context.CancelFunc(func() {})
		if tc.deadline > 0 {
			callCtx, cancel = context.WithTimeout(ctx, tc.deadline)
		}
		start := time.Now()
		o, err := g.Check(callCtx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", fmt.Sprint(i)))
		took := time.Since(start)
		cancel()
		if tc.failOpen && (err != nil || !o.Unchecked) {
			t.Errorf("%s: Check with Redis stalled = %+v, %v; want Unchecked, no error", tc.name, o, err)
		}
		if !tc.failOpen && !errors.Is(err, comment.ErrUnavailable) {
			t.Errorf("%s: Check with Redis stalled = %+v, %v; want an error wrapping comment.ErrUnavailable", tc.name, o, err)
		}
		if time.Since(paused) >= stall {
			t.Errorf("%s: Check with Redis stalled took %s and returned after the %v stall, want it to give up before", tc.name, took, stall)
		}
	}
}

// TestAbuseCheckReadsAuthorHistory checks that the author's record comes back with every kind of
// outcome, inside the one round trip of the check, even when the author has nothing to count.
func TestAbuseCheckReadsAuthorHistory(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	var c counter
	rdb.AddHook(&c)
	s := abuseStore(t, rdb)
	ctx := context.Background()
	jane := subjectOf(t, "jane@example.com", "192.0.2.1", "t", "hello")
	if err := rdb.HSet(ctx, s.keys.authorHistory(jane.AuthorKey), "approved", 5, "rejected", 1, "spam", 2).Err(); err != nil {
		t.Fatalf("HSET author record = %v", err)
	}
	janeRecord := &comment.AuthorHistory{Approved: 5, Rejected: 1, Spam: 2}
	trusted, err := ratelimit.NewTrusted([]string{jane.AuthorKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	authorRule := rule("author", ratelimit.KeyAuthor, 1, time.Hour, 1)
	withRules := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{authorRule, rule("ip", ratelimit.KeyIP, 100, time.Hour, 100)}})
	if _, err := withRules.Check(ctx, subjectOf(t, "warm@example.com", "", "t", "warm up")); err != nil {
		t.Fatalf("warm-up Check = %v", err)
	}
	tests := []struct {
		name     string
		guard    *ratelimit.Guard
		sub      ratelimit.Subject
		wantErr  error
		want     *comment.AuthorHistory
		wantCmds int64 // in the first round trip
	}{
		{name: "accepted", guard: withRules, sub: jane, want: janeRecord, wantCmds: 3},
		{name: "an author with no record", guard: withRules, sub: subjectOf(t, "new@example.com", "192.0.2.2", "t", "hi"), want: &comment.AuthorHistory{}, wantCmds: 3},
		// Trusted and without duplicate control the author has nothing to count: the record is read
		// by a script call of its own, in the same pipeline.
		{name: "trusted, no duplicate control",
			guard: ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{authorRule}, Trusted: trusted, DuplicateWindow: -1}),
			sub:   subjectOf(t, "jane@example.com", "192.0.2.1", "t", "third"), want: janeRecord, wantCmds: 2},
		{name: "no rules at all", guard: ratelimit.NewGuard(s, ratelimit.Options{DuplicateWindow: -1}),
			sub: subjectOf(t, "jane@example.com", "", "t", "fourth"), want: janeRecord, wantCmds: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trips, cmds := c.trips.Load(), c.cmds.Load()
			o, err := tt.guard.Check(ctx, tt.sub)
			if err != nil {
				t.Fatalf("Check = %v, want accepted", err)
			}
			if diff := cmp.Diff(tt.want, o.History); diff != "" {
				t.Errorf("Check: author's record (-want +got):\n%s", diff)
			}
			if got := c.trips.Load() - trips; got != 1 {
				t.Errorf("Check took %d round trips, want 1", got)
			}
			if got := c.cmds.Load() - cmds; got != tt.wantCmds {
				t.Errorf("Check sent %d commands, want %d", got, tt.wantCmds)
			}
		})
	}
}

// TestLoadAbuseScripts checks that a store whose scripts were loaded at start pays no extra round
// trip on its first abuse check, which a pipelined EVALSHA would otherwise pay (NOSCRIPT, load,
// resend).
func TestLoadAbuseScripts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redistest.Client(t, srv.Addr)
	ctx := context.Background()
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH = %v", err)
	}
	s := abuseStore(t, rdb)
	if err := s.LoadAbuseScripts(ctx); err != nil {
		t.Fatalf("LoadAbuseScripts = %v", err)
	}
	// Open a connection in the client's pipeline pool first: its set-up commands are round trips
	// of their own, paid once per connection, and not what this test measures.
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); err != nil {
		t.Fatalf("pipelined PING = %v", err)
	}
	var c counter
	rdb.AddHook(&c)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: ratelimit.DefaultRules()})
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "first")); err != nil {
		t.Fatalf("first Check = %v", err)
	}
	if got := c.trips.Load(); got != 1 {
		t.Errorf("first Check after LoadAbuseScripts took %d round trips, want 1", got)
	}
	trips := c.trips.Load()
	if _, _, err := ratelimit.NewBans(s, ratelimit.BansOptions{}).List(ctx, comment.Page{}); err != nil {
		t.Fatalf("first List of bans = %v", err)
	}
	if got := c.trips.Load() - trips; got != 1 {
		t.Errorf("first List of bans after LoadAbuseScripts took %d round trips, want 1 (no EVALSHA miss)", got)
	}
}

// BenchmarkAbuseCheck measures one submission's abuse check under the default rules, from the
// Screener to Redis and back, with a new author and address each time (the worst case: every key is
// new). Run with -benchmem: allocations are what the check costs commentd besides the round trip.
func BenchmarkAbuseCheck(b *testing.B) {
	rdb, err := NewClient(redistest.Shared(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.LoadAbuseScripts(ctx); err != nil {
		b.Fatal(err)
	}
	sc := ratelimit.NewScreener(ratelimit.NewGuard(s, ratelimit.Options{Rules: ratelimit.DefaultRules()}), abuseKeys, ratelimit.ScreenerOptions{})
	// Distinct authors and addresses, made before the clock starts; the thread rule is the default's
	// (60/m, burst 30), so 1,000 threads keep it from refusing.
	drafts := make([]comment.Draft, 1<<15)
	run := time.Now().UnixNano()
	for i := range drafts {
		d, err := comment.Limits{}.Validate(comment.Submission{ThreadID: "article-" + strconv.Itoa(i%1000), AuthorName: "A Reader",
			AuthorEmail: fmt.Sprintf("reader.%d.%d@example.com", i, run), ClientIP: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255),
			Body: fmt.Sprintf("Comment %d: the figures in the third paragraph don't match the ministry's.", i)})
		if err != nil {
			b.Fatal(err)
		}
		drafts[i] = d
	}
	for i := 0; b.Loop(); i++ {
		if i == len(drafts) {
			b.Fatalf("more than %d iterations: make more drafts", len(drafts))
		}
		var v comment.Verdict
		if err := sc.Screen(ctx, &drafts[i], &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
}
