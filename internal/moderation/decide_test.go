package moderation

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// decideStub is a Store that records what Decide was asked and returns the comment in d.To.
type decideStub struct {
	Store
	to      comment.State
	allowed []comment.State
	action  Action
	missing bool // Get answers ErrNotFound
	dec     *comment.Decision
	etag    string
	calls   int
}

func (s *decideStub) Decide(_ context.Context, id string, a Action, d comment.Decision, allowedFrom []comment.State, etag string) (comment.Comment, error) {
	s.action, s.to, s.allowed, s.dec, s.etag = a, d.To, slices.Clone(allowedFrom), &d, etag
	s.calls++
	return comment.Comment{ID: id, State: d.To, Decision: &d}, nil
}

func (s *decideStub) Get(_ context.Context, id string) (comment.Comment, error) {
	if s.missing {
		return comment.Comment{}, comment.ErrNotFound
	}
	if s.to != comment.StateUnspecified {
		return comment.Comment{ID: id, State: s.to, Decision: s.dec}, nil
	}
	return comment.Comment{ID: id, State: comment.StatePending}, nil
}

type learnerFunc func(context.Context, comment.Comment) error

func (f learnerFunc) Learn(ctx context.Context, c comment.Comment) error { return f(ctx, c) }

// The state changes the API documents (moderation_service.proto): approve publishes a pending,
// rejected or spam comment; reject takes a pending, published or spam one; mark spam takes it down
// from anywhere; mark not spam only takes back a spam verdict; reopen puts a decided one back.
func TestDecideTransitionRules(t *testing.T) {
	const (
		pending   = comment.StatePending
		published = comment.StatePublished
		rejected  = comment.StateRejected
		spam      = comment.StateSpam
	)
	tests := []struct {
		a    Action
		to   comment.State
		from []comment.State
	}{
		{Approve, published, []comment.State{pending, rejected, spam}},
		{Reject, rejected, []comment.State{pending, published, spam}},
		{MarkSpam, spam, []comment.State{pending, published, rejected}},
		{MarkNotSpam, pending, []comment.State{spam}},
		{Reopen, pending, []comment.State{published, rejected, spam}},
	}
	for _, tt := range tests {
		store := &decideStub{}
		var learnt []comment.Comment
		s := NewService(store, testKeyring(t), Options{Learner: learnerFunc(func(_ context.Context, c comment.Comment) error {
			learnt = append(learnt, c)
			return nil
		})})
		v, err := s.Decide(context.Background(), "anna", tt.a, "00abc", "because", "")
		if err != nil {
			t.Fatalf("Decide(%s) = %v", tt.a, err)
		}
		got := slices.Sorted(slices.Values(store.allowed))
		want := slices.Sorted(slices.Values(tt.from))
		if store.action != tt.a || store.to != tt.to || !slices.Equal(got, want) {
			t.Errorf("Decide(%s) asked the store for %s to %v from %v; want to %v from %v", tt.a, store.action, store.to, got, tt.to, want)
		}
		if v.Comment.State != tt.to || len(learnt) != 1 || learnt[0].State != tt.to {
			t.Errorf("Decide(%s) returned state %v and taught %v; want the comment in %v taught once", tt.a, v.Comment.State, learnt, tt.to)
		}
	}
}

// A decision stored but not learnt is reported, so the caller retries and the retry learns.
func TestDecideReportsLearnFailure(t *testing.T) {
	boom := errors.New("counts store down")
	s := NewService(&decideStub{}, testKeyring(t), Options{Learner: learnerFunc(func(context.Context, comment.Comment) error { return boom })})
	if _, err := s.Decide(context.Background(), "anna", MarkSpam, "00abc", "", ""); !errors.Is(err, boom) {
		t.Errorf("Decide(mark spam) with the learner failing = %v; want its error", err)
	}
}

// Two moderators decide one comment at once: the second decision is stored, and learnt, between the
// first one's decision and its learning. What the model learns last is the comment's final state,
// not the first decision that learns last.
func TestDecideConcurrentDecisionsLearnFinalState(t *testing.T) {
	store := &decideStub{}
	var s *Service
	var learnt []comment.State
	interleaved := false
	s = NewService(store, testKeyring(t), Options{Learner: learnerFunc(func(ctx context.Context, c comment.Comment) error {
		if !interleaved {
			interleaved = true
			if _, err := s.Decide(ctx, "bob", MarkSpam, c.ID, "", ""); err != nil {
				t.Fatalf("Decide(mark spam) by the second moderator = %v", err)
			}
		}
		learnt = append(learnt, c.State)
		return nil
	})})
	if _, err := s.Decide(context.Background(), "anna", Approve, "00abc", "", ""); err != nil {
		t.Fatalf("Decide(approve) = %v", err)
	}
	if len(learnt) == 0 || learnt[len(learnt)-1] != comment.StateSpam {
		t.Errorf("approve and mark spam at once, the comment ending spam: learnt %v; want the last lesson %v", learnt, comment.StateSpam)
	}
}

// An event about a comment deleted since is skipped; the stream goes on.
func TestWatchSkipsDeletedComments(t *testing.T) {
	var sent int
	feed := feedFunc(func(ctx context.Context, subscribed func(), fn func(QueueEvent) error) error {
		subscribed()
		return fn(QueueEvent{Kind: EventHeld, CommentID: "00gone", At: time.Now()})
	})
	s := NewService(&decideStub{missing: true}, testKeyring(t), Options{Feed: feed})
	err := s.Watch(context.Background(), WatchFilter{}, func() {}, func(WatchEvent) error { sent++; return nil })
	if err != nil || sent != 0 {
		t.Errorf("Watch with an event for a deleted comment = %v, %d sent; want nil and none", err, sent)
	}
}

// getStub is a Store whose Get returns one comment.
type getStub struct {
	Store
	c comment.Comment
}

func (s getStub) Get(context.Context, string) (comment.Comment, error) { return s.c, nil }

// A sealed value that does not open (its key left the keyring, or the record was altered) shows
// as "•••", the IP address as the email: an empty one would read as "the site sent none".
func TestViewMasksWhatDoesNotOpen(t *testing.T) {
	keys := testKeyring(t)
	email, _ := privacy.ParseEmail("jane@example.com")
	ip, _ := privacy.ParseIP("203.0.113.9")
	sealedEmail, err := keys.SealEmail(email, "00abc")
	if err != nil {
		t.Fatalf("SealEmail = %v", err)
	}
	sealedIP, err := keys.SealIP(ip, "00abc")
	if err != nil {
		t.Fatalf("SealIP = %v", err)
	}
	tests := []struct {
		name                   string
		email, ip              string
		wantEmail, wantAddress string
	}{
		{"both open", sealedEmail, sealedIP, "j•••@example.com", "203.0.113.x"},
		{"neither opens", "k9:not-ours", "k9:not-ours", "•••", "•••"},
		{"erased", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewService(getStub{c: comment.Comment{ID: "00abc", State: comment.StatePending, EmailSealed: tt.email, IPSealed: tt.ip}}, keys, Options{})
			v, err := s.Get(context.Background(), "00abc")
			if err != nil || v.MaskedEmail != tt.wantEmail || v.MaskedIP != tt.wantAddress {
				t.Errorf("Get(00abc) = masked email %q, IP %q, %v; want %q, %q", v.MaskedEmail, v.MaskedIP, err, tt.wantEmail, tt.wantAddress)
			}
		})
	}
}

// outcomeStub is a Store whose Decide answers with the comment holding last, as a store does
// when the comment already is in the target state (or, with keep, with the decision it was given,
// as stored: to the microsecond).
type outcomeStub struct {
	Store
	last *comment.Decision
	keep bool
}

func (s *outcomeStub) Decide(_ context.Context, id string, _ Action, d comment.Decision, _ []comment.State, _ string) (comment.Comment, error) {
	c := comment.Comment{ID: id, State: d.To, Decision: s.last}
	if s.keep {
		d.At = d.At.Truncate(time.Microsecond)
		c.Decision = &d
	}
	return c, nil
}

// DecideOutcome tells a decision that changed the comment from one that found it in the target
// state already, which the comment alone does not tell apart.
func TestDecideOutcomeChanged(t *testing.T) {
	now := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	tests := []struct {
		name  string
		store *outcomeStub
		want  bool
	}{
		{name: "stored as given, to the microsecond", store: &outcomeStub{keep: true}, want: true},
		{name: "pending, never decided", store: &outcomeStub{}, want: false},
		{name: "reopened before by someone else", store: &outcomeStub{last: &comment.Decision{Moderator: "bob", At: now.Add(-time.Hour), To: comment.StatePending}}, want: false},
		{name: "reopened before by the same moderator", store: &outcomeStub{last: &comment.Decision{Moderator: "anna", At: now.Add(-time.Second), To: comment.StatePending}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewService(tt.store, testKeyring(t), Options{Now: func() time.Time { return now }})
			o, err := s.DecideOutcome(context.Background(), "anna", Reopen, "00abc", "", "")
			if err != nil || o.Changed != tt.want || o.View.Comment.State != comment.StatePending {
				t.Errorf("DecideOutcome(reopen) = changed %v, state %v, %v; want changed %v, pending", o.Changed, o.View.Comment.State, err, tt.want)
			}
		})
	}
}
