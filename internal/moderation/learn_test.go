package moderation

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
)

// learnQueueStub lists unlearnt decisions and records MarkLearnt calls.
type learnQueueStub struct {
	pending   []Unlearnt
	marked    []Unlearnt
	postponed map[string]time.Time
}

func (q *learnQueueStub) UnlearntDecisions(_ context.Context, before time.Time, limit int) ([]Unlearnt, error) {
	var out []Unlearnt
	for _, u := range q.pending {
		if !u.At.After(before) && len(out) < limit {
			out = append(out, u)
		}
	}
	return out, nil
}

func (q *learnQueueStub) MarkLearnt(_ context.Context, id string, at time.Time) error {
	q.marked = append(q.marked, Unlearnt{ID: id, At: at})
	return nil
}

func (q *learnQueueStub) PostponeLearning(_ context.Context, id string, _, until time.Time) error {
	if q.postponed == nil {
		q.postponed = map[string]time.Time{}
	}
	q.postponed[id] = until
	return nil
}

// storedStub is a Store whose comments are in states; Decide records the decision on them.
type storedStub struct {
	Store
	states map[string]comment.State
}

func (s *storedStub) Decide(_ context.Context, id string, _ Action, d comment.Decision, _ []comment.State, _ string) (comment.Comment, error) {
	s.states[id] = d.To
	return comment.Comment{ID: id, State: d.To, Decision: &d}, nil
}

func (s *storedStub) Get(_ context.Context, id string) (comment.Comment, error) {
	st, ok := s.states[id]
	if !ok {
		return comment.Comment{}, comment.ErrNotFound
	}
	return comment.Comment{ID: id, State: st}, nil
}

// TestDecideMarksItsDecisionLearnt: a decision is taken off the list once learnt, and left on it
// when learning failed, for LearnPending.
func TestDecideMarksItsDecisionLearnt(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		learnErr error
		want     []Unlearnt
	}{
		{name: "learnt", want: []Unlearnt{{ID: "c1", At: at}}},
		{name: "learning failed", learnErr: errors.New("redis went away")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := &learnQueueStub{}
			s := NewService(&storedStub{states: map[string]comment.State{"c1": comment.StatePending}}, testKeyring(t), Options{
				Now:        func() time.Time { return at },
				Learner:    learnerFunc(func(context.Context, comment.Comment) error { return tt.learnErr }),
				LearnQueue: q,
			})
			_, err := s.Decide(context.Background(), "anna", Approve, "c1", "", "")
			if !errors.Is(err, tt.learnErr) {
				t.Errorf("Decide = %v, want %v", err, tt.learnErr)
			}
			if !slices.Equal(q.marked, tt.want) {
				t.Errorf("MarkLearnt calls %v, want %v", q.marked, tt.want)
			}
		})
	}
}

// TestLearnPending: the decisions older than the grace are learnt from the comments' states now
// and taken off the list; a comment gone is taken off without learning; a learning that fails
// leaves that decision listed but postponed, is named in the error, and does not hold up the ones
// after it; without a Learner the list is cleared.
func TestLearnPending(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-time.Minute), now.Add(-time.Second)
	pending := []Unlearnt{{ID: "approved", At: old}, {ID: "gone", At: old}, {ID: "broken", At: old}, {ID: "spam", At: old}, {ID: "young", At: recent}}
	states := map[string]comment.State{"approved": comment.StatePublished, "broken": comment.StateRejected, "spam": comment.StateSpam, "young": comment.StateSpam}
	broken := errors.New("model unavailable")
	for _, tt := range []struct {
		name       string
		learner    Learner
		wantN      int
		wantErr    error
		wantLearnt []string
		wantMarked []string
		wantLater  []string // postponed
	}{
		{
			name:       "with a learner",
			wantN:      3,
			wantErr:    broken,
			wantLearnt: []string{"approved", "spam"},
			wantMarked: []string{"approved", "gone", "spam"},
			wantLater:  []string{"broken"},
		},
		{
			name:       "without one",
			wantN:      4,
			wantMarked: []string{"approved", "gone", "broken", "spam"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := &learnQueueStub{pending: pending}
			var learnt []string
			opts := Options{Now: func() time.Time { return now }, LearnQueue: q}
			if tt.name == "with a learner" {
				opts.Learner = learnerFunc(func(_ context.Context, c comment.Comment) error {
					if c.ID == "broken" {
						return broken
					}
					if c.State != states[c.ID] {
						t.Errorf("learnt %s in state %v, want its state now, %v", c.ID, c.State, states[c.ID])
					}
					learnt = append(learnt, c.ID)
					return nil
				})
			}
			s := NewService(&storedStub{states: states}, testKeyring(t), opts)
			n, err := s.LearnPending(context.Background(), 30*time.Second)
			if n != tt.wantN || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("LearnPending = %d, %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
			}
			if !slices.Equal(learnt, tt.wantLearnt) {
				t.Errorf("learnt %v, want %v", learnt, tt.wantLearnt)
			}
			var marked []string
			for _, m := range q.marked {
				marked = append(marked, m.ID)
				if !m.At.Equal(old) {
					t.Errorf("MarkLearnt(%s, %v): want the listed decision's time %v", m.ID, m.At, old)
				}
			}
			if !slices.Equal(marked, tt.wantMarked) {
				t.Errorf("marked learnt %v, want %v", marked, tt.wantMarked)
			}
			var later []string
			for id, until := range q.postponed {
				later = append(later, id)
				if !until.Equal(now.Add(learnRetryAfter)) {
					t.Errorf("PostponeLearning(%s) until %v, want %v", id, until, now.Add(learnRetryAfter))
				}
			}
			if !slices.Equal(later, tt.wantLater) {
				t.Errorf("postponed %v, want %v", later, tt.wantLater)
			}
		})
	}
}
