package moderation

import (
	"context"
	"errors"
	"testing"
	"time"
)

// purgerStub deletes from a count of due comments, failing on call failOn (1-based) when set.
type purgerStub struct {
	due    int
	failOn int
	calls  int
	before []time.Time
}

func (p *purgerStub) PurgeSpam(_ context.Context, before time.Time, limit int) (int, error) {
	p.calls++
	p.before = append(p.before, before)
	if p.calls == p.failOn {
		return 3, errors.New("redis went away")
	}
	n := min(p.due, limit)
	p.due -= n
	return n, nil
}

// TestPurgeSpam: a run deletes in batches up to its bound, measures the retention from now, and
// records one audit entry by RetentionModerator with the count when it deleted any (even when it
// stopped on an error part way), none otherwise.
func TestPurgeSpam(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const retention = 15 * 24 * time.Hour
	tests := []struct {
		name       string
		due        int
		failOn     int
		wantN      int
		wantCalls  int
		wantErr    bool
		wantReason string // "" for no audit entry
	}{
		{name: "nothing due", due: 0, wantN: 0, wantCalls: 1},
		{name: "one comment", due: 1, wantN: 1, wantCalls: 1, wantReason: "1 comment: spam for over 360h"},
		{name: "less than a batch", due: 7, wantN: 7, wantCalls: 1, wantReason: "7 comments: spam for over 360h"},
		{name: "exactly a batch", due: 100, wantN: 100, wantCalls: 2, wantReason: "100 comments: spam for over 360h"},
		{name: "backlog beyond a run", due: 5000, wantN: 1000, wantCalls: 10, wantReason: "1000 comments: spam for over 360h"},
		{name: "failure part way", due: 500, failOn: 2, wantN: 103, wantCalls: 2, wantErr: true, wantReason: "103 comments: spam for over 360h"},
		{name: "failure at once", due: 500, failOn: 1, wantN: 3, wantCalls: 1, wantErr: true, wantReason: "3 comments: spam for over 360h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			purger := &purgerStub{due: tt.due, failOn: tt.failOn}
			audit := &auditStub{}
			s := NewService(nil, nil, Options{Now: func() time.Time { return now }, Purger: purger, Audit: audit})
			n, err := s.PurgeSpam(context.Background(), retention)
			if n != tt.wantN || (err != nil) != tt.wantErr {
				t.Errorf("PurgeSpam(%s) with %d due = %d, %v; want %d, error %v", retention, tt.due, n, err, tt.wantN, tt.wantErr)
			}
			if purger.calls != tt.wantCalls {
				t.Errorf("PurgeSpam(%s) with %d due made %d store calls, want %d", retention, tt.due, purger.calls, tt.wantCalls)
			}
			for _, b := range purger.before {
				if !b.Equal(now.Add(-retention)) {
					t.Errorf("PurgeSpam(%s) at %s asked for spam since before %s, want %s", retention, now, b, now.Add(-retention))
				}
			}
			if tt.wantReason == "" {
				if len(audit.events) != 0 {
					t.Errorf("PurgeSpam with nothing deleted appended %+v to the audit log, want nothing", audit.events)
				}
				return
			}
			if len(audit.events) != 1 {
				t.Fatalf("PurgeSpam appended %d audit entries, want 1", len(audit.events))
			}
			e := audit.events[0]
			if e.Moderator != RetentionModerator || e.Action != AuditPurgeSpam || e.Target != ErasureTarget || e.Reason != tt.wantReason {
				t.Errorf("PurgeSpam's audit entry = %+v, want by %s, %s of %s, reason %q", e, RetentionModerator, AuditPurgeSpam, ErasureTarget, tt.wantReason)
			}
		})
	}
}

func TestPurgeSpamNeedsAPurgerAndARetention(t *testing.T) {
	if _, err := NewService(nil, nil, Options{}).PurgeSpam(context.Background(), time.Hour); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("PurgeSpam without a purger = %v, want errors.ErrUnsupported", err)
	}
	if _, err := NewService(nil, nil, Options{Purger: &purgerStub{}}).PurgeSpam(context.Background(), 0); err == nil {
		t.Errorf("PurgeSpam(retention 0) = nil error, want one (0 keeps spam: the caller must not run it)")
	}
}
