package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// shadowOf is r as a shadow rule named name.
func shadowOf(r ratelimit.Rule, name string) ratelimit.Rule {
	r.Name, r.Shadow = name, true
	return r
}

// shadowEvents records a Guard's shadow refusals and refusals, by rule.
type shadowEvents struct {
	mu      sync.Mutex
	shadow  []string
	limited []string
}

func (e *shadowEvents) Observe(ev ratelimit.Event, label string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev {
	case ratelimit.EventShadowLimited:
		e.shadow = append(e.shadow, label)
	case ratelimit.EventLimited:
		e.limited = append(e.limited, label)
	}
}

// take returns and clears what was recorded.
func (e *shadowEvents) take() (shadow, limited []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	shadow, limited, e.shadow, e.limited = e.shadow, e.limited, nil, nil
	return shadow, limited
}

// ruleTAT returns the state (theoretical arrival time, µs) rule keeps for value of kind, 0 when
// it has none (idle).
func ruleTAT(t *testing.T, s *Store, kind ratelimit.KeyKind, value, rule string) int64 {
	t.Helper()
	v, err := s.rdb.Get(context.Background(), s.keys.rate(kind.String(), value, rule)).Result()
	if errors.Is(err, redis.Nil) {
		return 0
	}
	if err != nil {
		t.Fatalf("GET the state of rule %s: %v", rule, err)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("state of rule %s = %q, want a number", rule, v)
	}
	return int64(f)
}

func hasTake(tk ratelimit.Ticket, rule string) bool {
	return slices.ContainsFunc(tk.Takes, func(t ratelimit.Take) bool { return t.Rule.Name == rule })
}

// TestShadowRuleMatchesAnEnforcedCopy runs the same submissions, and refunds, through a Guard
// enforcing a rule, one holding a shadow copy of it (and a loose enforced rule, which counts
// what the shadow rule lets through), and one holding both copies side by side. The shadow copy
// lets everything through, reports a refusal at exactly the submissions the enforced copy refuses,
// and keeps the state the enforced copy keeps; a refund gives back its take, and nothing for a
// submission it did not count.
func TestShadowRuleMatchesAnEnforcedCopy(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	enforced := rule("e", ratelimit.KeyAuthor, 1, time.Hour, 2)
	loose := rule("loose-ip", ratelimit.KeyIP, 100, time.Hour, 100)
	side := rule("side-e", ratelimit.KeyAuthor, 1, time.Hour, 2)
	var evE, evS, evSide shadowEvents
	gE := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{enforced}, DuplicateWindow: -1, Observer: &evE})
	gS := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{shadowOf(enforced, "s"), loose}, DuplicateWindow: -1, Observer: &evS})
	gSide := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{side, shadowOf(side, "side-s")}, DuplicateWindow: -1, Observer: &evSide})
	sub := subjectOf(t, "jane@example.com", "192.0.2.60", "t", "x")

	type tickets struct{ e, s, side ratelimit.Ticket }
	var got []tickets
	steps := []struct {
		refund      int // > 0: give back the tickets of that step (a later step refused it), 1-based
		wantRefused bool
	}{
		{},                  // 1: burst 1 of 2
		{},                  // 2: burst spent
		{wantRefused: true}, // 3
		{refund: 2},         // 4: one given back...
		{},                  // 5: ...so one more passes
		{wantRefused: true}, // 6
		{refund: 6},         // 7: the shadow rule did not count 6: nothing of it to give back
		{wantRefused: true}, // 8
	}
	for i, st := range steps {
		n := i + 1
		if st.refund > 0 {
			tk := got[st.refund-1]
			gE.Refund(ctx, tk.e)
			gS.Refund(ctx, tk.s)
			gSide.Refund(ctx, tk.side)
			got = append(got, tickets{})
		} else {
			oE, errE := gE.Check(ctx, sub)
			oS, errS := gS.Check(ctx, sub)
			oSide, errSide := gSide.Check(ctx, sub)
			got = append(got, tickets{oE.Ticket, oS.Ticket, oSide.Ticket})
			shadow, _ := evS.take()
			sideShadow, sideLimited := evSide.take()
			evE.take()
			if refused := errors.Is(errE, ratelimit.ErrLimited); refused != st.wantRefused || (!refused && errE != nil) {
				t.Fatalf("step %d: Check under %v = %v, want refused %v", n, enforced, errE, st.wantRefused)
			}
			if errS != nil {
				t.Errorf("step %d: Check under the shadow copy = %v, want accepted", n, errS)
			}
			if want := map[bool][]string{true: {"s"}}[st.wantRefused]; !slices.Equal(shadow, want) {
				t.Errorf("step %d: shadow refusals reported = %q, want %q (enforced copy refused: %v)", n, shadow, want, st.wantRefused)
			}
			if st.wantRefused && hasTake(oS.Ticket, "s") {
				t.Errorf("step %d: ticket %+v holds a take of the shadow rule, which counted nothing", n, oS.Ticket)
			}
			var le *ratelimit.LimitError
			switch {
			case st.wantRefused && (!errors.As(errSide, &le) || le.Rule != "side-e"):
				t.Errorf("step %d: Check under both copies = %v, want refused by side-e", n, errSide)
			case !st.wantRefused && errSide != nil:
				t.Errorf("step %d: Check under both copies = %v, want accepted", n, errSide)
			}
			if want := map[bool][]string{true: {"side-s"}}[st.wantRefused]; !slices.Equal(sideShadow, want) {
				t.Errorf("step %d: shadow refusals reported beside the enforced copy = %q, want %q", n, sideShadow, want)
			}
			if want := map[bool][]string{true: {"side-e"}}[st.wantRefused]; !slices.Equal(sideLimited, want) {
				t.Errorf("step %d: refusals reported beside the shadow copy = %q, want %q", n, sideLimited, want)
			}
		}
		// The separate Guards run a moment apart, so their states differ by as much.
		e, sh := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "e"), ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "s")
		if d := time.Duration(e-sh) * time.Microsecond; e == 0 || d < -time.Second || d > time.Second {
			t.Errorf("step %d: state of the shadow copy %d, of the enforced copy %d: want the same (within 1s)", n, sh, e)
		}
		se, ss := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "side-e"), ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "side-s")
		if se != ss || se == 0 {
			t.Errorf("step %d: side by side, state of the shadow copy %d, of the enforced copy %d: want the same", n, ss, se)
		}
	}
	// The loose rule counted every submission the shadow rule let through, less the two refunds.
	if got, want := ruleTAT(t, s, ratelimit.KeyIP, sub.IPLimitKey, "loose-ip"), time.Now().Add(4*loose.Interval()).UnixMicro(); got < want-int64(time.Minute/time.Microsecond) || got > want {
		t.Errorf("state of loose-ip = %d, want about %d: four counts from now", got, want)
	}
}

// TestEnforcedRefusalCountsNoShadowRule: a submission an enforced rule refuses is counted by no
// rule, a shadow rule that would let it through included, whether the two rules count the same
// value (one script) or different ones (a refund across slots).
func TestEnforcedRefusalCountsNoShadowRule(t *testing.T) {
	t.Parallel()
	for _, key := range []ratelimit.KeyKind{ratelimit.KeyAuthor, ratelimit.KeyIP} {
		t.Run("enforced rule per "+key.String(), func(t *testing.T) {
			t.Parallel()
			s := sharedAbuseStore(t)
			ctx := context.Background()
			trial := shadowOf(rule("", ratelimit.KeyAuthor, 10, time.Hour, 10), "trial")
			strict := rule("strict", key, 1, time.Hour, 1)
			var ev shadowEvents
			g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{trial, strict}, DuplicateWindow: -1, Observer: &ev})
			sub := subjectOf(t, "jane@example.com", "192.0.2.61", "t", "x")
			o, err := g.Check(ctx, sub)
			if err != nil || !hasTake(o.Ticket, "trial") {
				t.Fatalf("first Check under %v and %v = %+v, %v; want accepted, counted by trial", trial, strict, o.Ticket, err)
			}
			before := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "trial")
			if _, err := g.Check(ctx, sub); !errors.Is(err, ratelimit.ErrLimited) {
				t.Fatalf("second Check under %v = %v, want refused", strict, err)
			}
			if after := ruleTAT(t, s, ratelimit.KeyAuthor, sub.AuthorKey, "trial"); after != before {
				t.Errorf("state of the shadow rule trial after a refused Check = %d, want %d as before it", after, before)
			}
			if shadow, limited := ev.take(); len(shadow) != 0 || !slices.Equal(limited, []string{"strict"}) {
				t.Errorf("events = shadow %q, limited %q; want no shadow refusal, one refusal by strict", shadow, limited)
			}
		})
	}
}

// shadowMarkerCases are the three ways a counted value's call recognises itself: the take mark
// (no marker), the author's duplicate marker and the thread's request marker.
var shadowMarkerCases = []struct {
	name      string
	key       ratelimit.KeyKind
	dupWindow time.Duration
	requestID bool
}{
	{name: "take mark", key: ratelimit.KeyAuthor, dupWindow: -1},
	{name: "duplicate marker", key: ratelimit.KeyAuthor, dupWindow: time.Minute},
	{name: "request marker", key: ratelimit.KeyThread, dupWindow: -1, requestID: true},
}

// shadowSubject is the n-th submission of one author in one thread, with its own text and
// request id.
func shadowSubject(t *testing.T, thread string, n int, requestID bool) ratelimit.Subject {
	sub := subjectOf(t, "jane@example.com", "", thread, fmt.Sprint("text ", n))
	if requestID {
		sub.RequestID, sub.RequestKey = fmt.Sprint("req-", n), fmt.Sprint("key-", n)
	}
	return sub
}

// TestShadowRuleResentTake: a take the Redis client resends after losing its reply is counted
// once, and the shadow rule that would have refused the first sending is reported by the resent
// one and left out of the ticket, so a refund gives back exactly what was taken.
func TestShadowRuleResentTake(t *testing.T) {
	t.Parallel()
	for _, tc := range shadowMarkerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := redistest.Client(t, redistest.Shared(t))
			s := abuseStore(t, rdb)
			ctx := context.Background()
			trial := shadowOf(rule("", tc.key, 1, time.Hour, 1), "trial")
			counted := rule("counted", tc.key, 10, time.Hour, 10)
			var ev shadowEvents
			g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{trial, counted}, DuplicateWindow: tc.dupWindow, Observer: &ev})
			thread := "resent-" + tc.name
			first := shadowSubject(t, thread, 1, tc.requestID)
			value := first.AuthorKey
			if tc.key == ratelimit.KeyThread {
				value = thread
			}
			if _, err := g.Check(ctx, first); err != nil {
				t.Fatalf("first Check = %v, want accepted", err)
			}
			ev.take()
			trialBefore, countedBefore := ruleTAT(t, s, tc.key, value, "trial"), ruleTAT(t, s, tc.key, value, "counted")

			sent := resend(rdb, s.keys.rate(tc.key.String(), value, "trial"), scriptNames...)
			o, err := g.Check(ctx, shadowSubject(t, thread, 2, tc.requestID))
			if !sent() {
				t.Fatalf("the second Check's take was not resent")
			}
			if err != nil {
				t.Fatalf("second Check, its take resent = %v, want accepted (trial is a shadow rule)", err)
			}
			if shadow, _ := ev.take(); !slices.Equal(shadow, []string{"trial"}) {
				t.Errorf("second Check, its take resent: shadow refusals %q, want [trial]", shadow)
			}
			if hasTake(o.Ticket, "trial") || !hasTake(o.Ticket, "counted") {
				t.Errorf("second Check, its take resent: ticket %+v, want the take of counted and none of trial", o.Ticket)
			}
			if got := ruleTAT(t, s, tc.key, value, "trial"); got != trialBefore {
				t.Errorf("state of trial after a resent take it would have refused = %d, want %d as before", got, trialBefore)
			}
			if got, want := ruleTAT(t, s, tc.key, value, "counted"), countedBefore+counted.Interval().Microseconds(); got != want {
				t.Errorf("state of counted after a resent take = %d, want %d: one interval on, counted once", got, want)
			}
			g.Refund(ctx, o.Ticket)
			if got := ruleTAT(t, s, tc.key, value, "counted"); got != countedBefore {
				t.Errorf("state of counted after the refund = %d, want %d as before the second Check", got, countedBefore)
			}
			if got := ruleTAT(t, s, tc.key, value, "trial"); got != trialBefore {
				t.Errorf("state of trial after the refund = %d, want %d: it took nothing to give back", got, trialBefore)
			}
		})
	}
}

// TestShadowRuleLostCheckRefund: a check whose reply was lost is given back unsurely, with every
// take it asked for (ratelimit.Ticket.Unsure); the shadow rule that did not count is not among
// what is given back, while one that counted is.
func TestShadowRuleLostCheckRefund(t *testing.T) {
	t.Parallel()
	for _, tc := range shadowMarkerCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sharedAbuseStore(t)
			ctx := context.Background()
			trial := shadowOf(rule("", tc.key, 1, time.Hour, 1), "trial")
			loose := shadowOf(rule("", tc.key, 10, time.Hour, 10), "loose")
			counted := rule("counted", tc.key, 10, time.Hour, 10)
			opts := ratelimit.Options{Rules: []ratelimit.Rule{trial, loose, counted}, DuplicateWindow: tc.dupWindow}
			g, lost := ratelimit.NewGuard(s, opts), ratelimit.NewGuard(lostCheckStore{s}, opts)
			thread := "lost-shadow-" + tc.name
			first := shadowSubject(t, thread, 1, tc.requestID)
			value := first.AuthorKey
			if tc.key == ratelimit.KeyThread {
				value = thread
			}
			if _, err := g.Check(ctx, first); err != nil {
				t.Fatalf("first Check = %v, want accepted", err)
			}
			var before [3]int64
			for i, r := range opts.Rules {
				before[i] = ruleTAT(t, s, tc.key, value, r.Name)
			}
			if _, err := lost.Check(ctx, shadowSubject(t, thread, 2, tc.requestID)); !errors.Is(err, comment.ErrUnavailable) {
				t.Fatalf("Check whose reply was lost = %v, want comment.ErrUnavailable", err)
			}
			for i, r := range opts.Rules {
				if got := ruleTAT(t, s, tc.key, value, r.Name); got != before[i] {
					t.Errorf("state of %s after a lost check, given back = %d, want %d as before it", r.Name, got, before[i])
				}
			}
		})
	}
}

// TestShadowRuleOnCluster: the take mark a shadow rule adds to a call with a marker is in the
// value's slot, as every key of the call, so the calls and their refunds run on a Cluster.
func TestShadowRuleOnCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	rdb, err := NewClient(strings.Join(cluster.Addrs, ","))
	if err != nil {
		t.Fatalf("NewClient(cluster addresses) = %v", err)
	}
	defer rdb.Close()
	s := abuseStore(t, rdb)
	ctx := context.Background()
	var rules []ratelimit.Rule
	for _, k := range []ratelimit.KeyKind{ratelimit.KeyAuthor, ratelimit.KeyIP, ratelimit.KeyThread, ratelimit.KeySite} {
		rules = append(rules, shadowOf(rule("", k, 1, time.Hour, 1), "trial-"+k.String()), rule("counted-"+k.String(), k, 10, time.Hour, 10))
	}
	var ev shadowEvents
	opts := ratelimit.Options{Rules: rules, Observer: &ev}
	g, lost := ratelimit.NewGuard(s, opts), ratelimit.NewGuard(lostCheckStore{s}, opts)
	sub := func(n int) ratelimit.Subject {
		sub := subjectOf(t, "jane@example.com", "192.0.2.1", "t", fmt.Sprint("text ", n))
		sub.RequestID, sub.RequestKey = fmt.Sprint("req-", n), fmt.Sprint("key-", n)
		return sub
	}
	if _, err := g.Check(ctx, sub(1)); err != nil {
		t.Fatalf("Check #1 on the cluster = %v, want accepted", err)
	}
	o, err := g.Check(ctx, sub(2))
	if err != nil {
		t.Fatalf("Check #2 on the cluster = %v, want accepted", err)
	}
	shadow, _ := ev.take()
	slices.Sort(shadow)
	if want := []string{"trial-author", "trial-ip", "trial-site", "trial-thread"}; !slices.Equal(shadow, want) {
		t.Errorf("Check #2 on the cluster: shadow refusals %q, want %q", shadow, want)
	}
	g.Refund(ctx, o.Ticket)
	if _, err := lost.Check(ctx, sub(3)); !errors.Is(err, comment.ErrUnavailable) {
		t.Fatalf("Check #3 on the cluster, its reply lost = %v, want comment.ErrUnavailable", err)
	}
	// Two refunds and one count: the counted rules have nine left, the shadow ones none.
	for i := range 9 {
		if _, err := g.Check(ctx, sub(10+i)); err != nil {
			t.Fatalf("Check #%d on the cluster = %v, want accepted", 4+i, err)
		}
	}
	if _, err := g.Check(ctx, sub(20)); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("Check #13 on the cluster = %v, want refused: the counted rules' ten are used", err)
	}
}
