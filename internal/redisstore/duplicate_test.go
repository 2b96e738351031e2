package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/ratelimit"
)

func TestDuplicateControl(t *testing.T) {
	t.Parallel()
	type post struct{ email, thread, body string }
	tests := []struct {
		name          string
		first, second post
		wantDuplicate bool
	}{
		{name: "same text", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t1", "Great article"}, wantDuplicate: true},
		{name: "case", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t1", "GREAT ARTICLE"}, wantDuplicate: true},
		{name: "white space", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t1", "  Great\n\n  article  "}, wantDuplicate: true},
		{name: "punctuation", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t1", "Great article!!!"}, wantDuplicate: true},
		{name: "zero-width space", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t1", "Great\u200b article"}, wantDuplicate: true},
		{name: "email spelled differently", first: post{"jane@example.com", "t1", "Great article"}, second: post{"Jane@Example.COM", "t1", "great article"}, wantDuplicate: true},
		{name: "another word", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t1", "Great articles"}},
		{name: "another thread", first: post{"jane@example.com", "t1", "Great article"}, second: post{"jane@example.com", "t2", "Great article"}},
		{name: "another author", first: post{"jane@example.com", "t1", "Great article"}, second: post{"john@example.com", "t1", "Great article"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := ratelimit.NewGuard(sharedAbuseStore(t), ratelimit.Options{DuplicateWindow: time.Minute})
			ctx := context.Background()
			if _, err := g.Check(ctx, subjectOf(t, tt.first.email, "", tt.first.thread, tt.first.body)); err != nil {
				t.Fatalf("Check(%+v) = %v, want accepted", tt.first, err)
			}
			_, err := g.Check(ctx, subjectOf(t, tt.second.email, "", tt.second.thread, tt.second.body))
			if got := errors.Is(err, ratelimit.ErrDuplicate); got != tt.wantDuplicate || (!got && err != nil) {
				t.Errorf("Check(%+v) after Check(%+v) = %v, want duplicate %v", tt.second, tt.first, err, tt.wantDuplicate)
			}
		})
	}
}

func TestDuplicateWindowExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	try := 0
	withinSpan(t, 300*time.Millisecond, func(window time.Duration) bool {
		try++
		g := ratelimit.NewGuard(sharedAbuseStore(t), ratelimit.Options{DuplicateWindow: window})
		sub := subjectOf(t, "jane@example.com", "", "t", fmt.Sprintf("hello %d", try))
		start := time.Now()
		if _, err := g.Check(ctx, sub); err != nil {
			t.Fatalf("Check #1 = %v, want accepted", err)
		}
		_, err := g.Check(ctx, sub)
		second := time.Now()
		if second.Sub(start) >= window-leaseSlack {
			return false // the window may have ended before Check #2
		}
		if !errors.Is(err, ratelimit.ErrDuplicate) {
			t.Fatalf("Check #2 %v after #1 began = %v, want ratelimit.ErrDuplicate", second.Sub(start).Round(time.Millisecond), err)
		}
		// The marker was set (or, by #2, set again) before #2 returned: it is gone a window later.
		time.Sleep(time.Until(second.Add(window + leaseSlack)))
		if _, err := g.Check(ctx, sub); err != nil {
			t.Errorf("Check #3 after the %v window = %v, want accepted", window, err)
		}
		return true
	})
}

func TestDuplicateRefusedSubmissionLeavesNoMarker(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ip := rule("ip", ratelimit.KeyIP, 1, time.Hour, 1)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{ip}, DuplicateWindow: time.Hour})
	ctx := context.Background()
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "first")); err != nil {
		t.Fatalf("Check #1 = %v, want accepted", err)
	}
	// Refused by the IP rule, in another slot than the author's marker: the marker is removed.
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "t", "second")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("Check #2 from the same address = %v, want refused", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.2", "t", "second")); err != nil {
		t.Errorf("Check #2 again from another address = %v, want accepted (the refused one left no duplicate marker)", err)
	}
}

func TestDuplicateRetriedRequestIsNotCountedTwice(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	author := rule("author", ratelimit.KeyAuthor, 1, time.Hour, 2)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{author}, DuplicateWindow: time.Hour})
	ctx := context.Background()
	withRequest := func(sub ratelimit.Subject, id string) ratelimit.Subject { sub.RequestID = id; return sub }
	hello := subjectOf(t, "jane@example.com", "", "t", "hello")

	if o, err := g.Check(ctx, withRequest(hello, "req-1")); err != nil || o.Replay {
		t.Fatalf("Check(hello, req-1) = %+v, %v; want accepted, not a replay", o, err)
	}
	// The site retries after losing our answer: same request id, same text.
	if o, err := g.Check(ctx, withRequest(hello, "req-1")); err != nil || !o.Replay {
		t.Fatalf("Check(hello, req-1) again = %+v, %v; want a replay, no error", o, err)
	}
	// Another request with the same text is a duplicate.
	if _, err := g.Check(ctx, withRequest(hello, "req-2")); !errors.Is(err, ratelimit.ErrDuplicate) {
		t.Fatalf("Check(hello, req-2) = %v, want ratelimit.ErrDuplicate", err)
	}
	// The replay counted nothing: the author's second (of two) still passes, the third does not.
	if _, err := g.Check(ctx, withRequest(subjectOf(t, "jane@example.com", "", "t", "second"), "req-3")); err != nil {
		t.Fatalf("Check(second, req-3) = %v, want accepted", err)
	}
	if _, err := g.Check(ctx, withRequest(subjectOf(t, "jane@example.com", "", "t", "third"), "req-4")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("Check(third, req-4) = %v, want refused by %v", err, author)
	}
}

// TestDuplicateReplaySettles: a resend recognised by its duplicate marker alone (its request
// marker gone: the first submission's refund of it ran, that of the duplicate marker did not) is
// unsettled while the marker is younger than the settle bound, so it is answered from the comment
// store only, and settled once it is older: the first submission ended without storing, and the
// resend is stored instead of being told to wait for the rest of the duplicate window.
func TestDuplicateReplaySettles(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	const window = time.Hour
	g := ratelimit.NewGuard(s, ratelimit.Options{DuplicateWindow: window})
	ctx := context.Background()
	sub := subjectOf(t, "jane@example.com", "", "t", "hello")
	sub.RequestID = "req-1"
	if _, err := g.Check(ctx, sub); err != nil {
		t.Fatalf("Check(hello, req-1) = %v, want accepted", err)
	}
	if o, err := g.Check(ctx, sub); err != nil || !o.Replay || !o.Unsettled {
		t.Fatalf("Check(hello, req-1) again at once = %+v, %v; want an unsettled replay", o, err)
	}
	// The marker as it stands two settle bounds after it was set.
	marker := s.keys.duplicate(sub.AuthorKey, sub.TextKey)
	if err := s.rdb.PExpire(ctx, marker, window-2*ratelimit.RequestSettle).Err(); err != nil {
		t.Fatal(err)
	}
	if o, err := g.Check(ctx, sub); err != nil || !o.Replay || o.Unsettled {
		t.Errorf("Check(hello, req-1) with its duplicate marker set %s ago = %+v, %v; want a settled replay", 2*ratelimit.RequestSettle, o, err)
	}
}

// TestDuplicateReplayOlderThanRequestID: under a duplicate window longer than a request id is
// remembered, a resend that comes after the id's marker and idempotency record have expired finds
// only the duplicate marker holding the id. Nothing can answer it with the first comment any more,
// so it is a duplicate of it; taken for a resend, it was stored as a second comment that duplicate
// control let through and no rule counted.
func TestDuplicateReplayOlderThanRequestID(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	const window = 48 * time.Hour
	author := rule("author", ratelimit.KeyAuthor, 1, time.Hour, 5)
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: []ratelimit.Rule{author}, DuplicateWindow: window})
	ctx := context.Background()
	sub := subjectOf(t, "jane@example.com", "", "t", "hello")
	sub.RequestID, sub.RequestKey = "req-1", "fingerprint-1"
	if _, err := g.Check(ctx, sub); err != nil {
		t.Fatalf("Check(hello, req-1) = %v, want accepted", err)
	}
	// A day and a minute later: the request marker has expired, the duplicate marker has not.
	if err := s.rdb.Del(ctx, s.keys.requestMark(sub.ThreadID, sub.RequestID)).Err(); err != nil {
		t.Fatal(err)
	}
	marker := s.keys.duplicate(sub.AuthorKey, sub.TextKey)
	if err := s.rdb.PExpire(ctx, marker, window-time.Duration(requestTTL)*time.Second-time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if o, err := g.Check(ctx, sub); !errors.Is(err, ratelimit.ErrDuplicate) {
		t.Errorf("Check(hello, req-1) a day after the first, within the %s duplicate window = %+v, %v; want ratelimit.ErrDuplicate", window, o, err)
	}
	if n, err := s.rdb.Exists(ctx, s.keys.requestMark(sub.ThreadID, sub.RequestID)).Result(); err != nil || n != 0 {
		t.Errorf("after the duplicate, the request marker of req-1 exists: %d, %v; want it given back", n, err)
	}
}

func TestDuplicateMarkerSurvivesAResentScript(t *testing.T) {
	t.Parallel()
	// The Redis client resends a command whose reply was lost; the script then finds its own
	// marker and must report success, not a duplicate. Run the same query twice to see that.
	s := sharedAbuseStore(t)
	sub := subjectOf(t, "jane@example.com", "", "t", "hello")
	q := ratelimit.Query{
		ID:        "fixedcheckid000000000000",
		Takes:     []ratelimit.Take{{Rule: rule("author", ratelimit.KeyAuthor, 1, time.Hour, 5), Subject: sub.AuthorKey}},
		Duplicate: &ratelimit.DuplicateCheck{AuthorKey: sub.AuthorKey, TextKey: sub.TextKey, Window: time.Minute},
	}
	ctx := context.Background()
	for i := range 2 {
		res, err := s.Screen(ctx, q)
		if err != nil || res.Duplicate != ratelimit.DuplicateNone || len(res.Refused) != 0 {
			t.Fatalf("Screen #%d of the same query = %+v, %v; want it passed, no duplicate", i+1, res, err)
		}
	}
	q.ID = "anothercheckid0000000000"
	if res, err := s.Screen(ctx, q); err != nil || res.Duplicate != ratelimit.DuplicateFound {
		t.Errorf("Screen of a new query with the same text = %+v, %v; want a duplicate", res, err)
	}
}

// TestTakeMarkOnResentChecks: a value without a duplicate marker (an address here) is recognised
// by its take mark when the Redis client resends a check: a resent check that counted counts
// nothing more, and a resent check that was refused is refused again (its mark went with the
// refusal, so it does not pass as "counted already").
func TestTakeMarkOnResentChecks(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	ip := "ip-" + t.Name()
	query := func(id string) ratelimit.Query {
		return ratelimit.Query{ID: id, Takes: []ratelimit.Take{{Rule: rule("ip", ratelimit.KeyIP, 1, time.Hour, 2), Subject: ip}}}
	}
	steps := []struct {
		id      string
		refused bool
	}{
		{"firstcheck00000000000000", false},
		{"firstcheck00000000000000", false}, // resent: counted once
		{"secondcheck0000000000000", false}, // the burst of 2 is now used
		{"thirdcheck00000000000000", true},
		{"thirdcheck00000000000000", true}, // resent: refused again
	}
	for i, st := range steps {
		res, err := s.Screen(ctx, query(st.id))
		if err != nil || (len(res.Refused) > 0) != st.refused {
			t.Errorf("step %d: Screen(check %s) = refused %v, %v; want refused %v", i+1, st.id, res.Refused, err, st.refused)
		}
	}
}
