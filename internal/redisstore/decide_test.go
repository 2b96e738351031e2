package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// The allowed source states of the two moderator actions, as moderation.Service passes them.
var (
	approveFrom = []comment.State{comment.StatePending, comment.StateRejected, comment.StateSpam}
	rejectFrom  = []comment.State{comment.StatePending, comment.StatePublished, comment.StateSpam}
)

func TestDecideTransitions(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const (
		published = comment.StatePublished
		pending   = comment.StatePending
		rejected  = comment.StateRejected
		spam      = comment.StateSpam
	)
	tests := []struct {
		from, to  comment.State
		allowed   []comment.State
		wantMoved bool // false with wantErr false: already in the target state, nothing changes
		wantErr   bool // a *moderation.TransitionError
	}{
		{from: pending, to: published, allowed: approveFrom, wantMoved: true},
		{from: rejected, to: published, allowed: approveFrom, wantMoved: true},
		{from: spam, to: published, allowed: approveFrom, wantMoved: true},
		{from: published, to: published, allowed: approveFrom},
		{from: pending, to: rejected, allowed: rejectFrom, wantMoved: true},
		{from: published, to: rejected, allowed: rejectFrom, wantMoved: true},
		{from: spam, to: rejected, allowed: rejectFrom, wantMoved: true},
		{from: rejected, to: rejected, allowed: rejectFrom},
		// Rules narrower than today's actions, to prove the store enforces whatever it is given.
		{from: rejected, to: spam, allowed: []comment.State{pending}, wantErr: true},
		{from: published, to: pending, allowed: []comment.State{rejected, spam}, wantErr: true},
		{from: pending, to: spam, allowed: nil, wantErr: true},
		{from: pending, to: spam, allowed: []comment.State{pending}, wantMoved: true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%v to %v allowed from %v", tt.from, tt.to, tt.allowed), func(t *testing.T) {
			thread := fmt.Sprintf("decide-%d", i)
			c := draft(ts.Store, thread, i)
			c.State = tt.from
			if tt.from != published {
				c.PublishedAt = time.Time{}
			}
			before := mustCreate(t, ts.Store, c, comment.CreateOptions{})
			d := comment.Decision{Moderator: "mod-anna", At: t0.Add(time.Hour), To: tt.to, Reason: "checked: fine"}

			got, err := ts.Decide(ctx, c.ID, actionTo(tt.to), d, tt.allowed, "")

			if tt.wantErr {
				var terr *moderation.TransitionError
				if !errors.As(err, &terr) || !errors.Is(err, moderation.ErrInvalidTransition) {
					t.Fatalf("Decide(%s, to %v, allowed %v) = %v, want a *TransitionError", c.ID, tt.to, tt.allowed, err)
				}
				if want := (moderation.TransitionError{ID: c.ID, Action: actionTo(tt.to), From: tt.from, To: tt.to}); *terr != want {
					t.Errorf("Decide(...) error = %+v, want %+v", *terr, want)
				}
			} else if err != nil {
				t.Fatalf("Decide(%s, to %v, allowed %v) = %v, want no error", c.ID, tt.to, tt.allowed, err)
			}

			want := before
			if tt.wantMoved {
				want.State = tt.to
				want.PublishedAt = time.Time{}
				if tt.to == published {
					want.PublishedAt = d.At
				}
				want.Decision = &comment.Decision{Moderator: d.Moderator, At: d.At, From: tt.from, To: tt.to, Reason: d.Reason}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Decide(...) returned (-want +got):\n%s", diff)
				}
			} else if !tt.wantErr {
				if diff := cmp.Diff(before, got); diff != "" {
					t.Errorf("Decide(...) on a comment already %v changed it (-before +got):\n%s", tt.to, diff)
				}
			}
			stored, err := ts.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get(%s) = %v", c.ID, err)
			}
			if diff := cmp.Diff(want, stored); diff != "" {
				t.Errorf("Get(%s) after Decide (-want +got):\n%s", c.ID, diff)
			}
			if diff := cmp.Diff(wantMembership(want.State), indexMembership(t, ts, thread, c.ID)); diff != "" {
				t.Errorf("indexes holding %s after Decide (-want +got):\n%s", c.ID, diff)
			}
		})
	}
}

func TestDecideRepeatedIsIdempotent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := draft(ts.Store, "decide-twice", 1)
	c.State, c.PublishedAt = comment.StatePending, time.Time{}
	mustCreate(t, ts.Store, c, comment.CreateOptions{})

	first, err := ts.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "anna", At: t0.Add(time.Minute), To: comment.StatePublished}, approveFrom, "")
	if err != nil {
		t.Fatalf("first Decide(approve %s) = %v", c.ID, err)
	}
	again, err := ts.Decide(ctx, c.ID, moderation.Approve, comment.Decision{Moderator: "bert", At: t0.Add(time.Hour), To: comment.StatePublished, Reason: "again"}, approveFrom, "")
	if err != nil {
		t.Fatalf("repeated Decide(approve %s) = %v, want no error", c.ID, err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("repeated Decide(approve) changed the comment (-first +again):\n%s", diff)
	}
	if first.Decision == nil || first.Decision.Moderator != "anna" || first.Decision.From != comment.StatePending {
		t.Errorf("Decide(approve).Decision = %+v, want moderator anna from pending", first.Decision)
	}
	if n, err := publishedCounts(ts.CountPublished(ctx, []string{"decide-twice"})); err != nil || n[0] != 1 {
		t.Errorf("CountPublished after approving twice = %v, %v; want [1]", n, err)
	}
}

func TestDecideUnknownComment(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	d := comment.Decision{Moderator: "anna", At: t0, To: comment.StatePublished}
	for _, id := range []string{ts.NewID("nowhere"), "not-ours", ""} {
		if _, err := ts.Decide(context.Background(), id, moderation.Approve, d, approveFrom, ""); !errors.Is(err, comment.ErrNotFound) {
			t.Errorf("Decide(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if keys := scanKeys(t, ts.rdb, ts.prefix); len(keys) != 0 {
		t.Errorf("keys after deciding on unknown comments = %v, want none", keys)
	}
}

func TestThreadSettings(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const thread = "settings"
	pre, def := comment.ModePre, comment.ModeDefault
	yes, no := true, false

	steps := []struct {
		name   string
		mode   *comment.Mode
		closed *bool
		want   comment.Thread
	}{
		{name: "nothing changed on a new thread", want: comment.Thread{ID: thread}},
		{name: "set pre-moderation", mode: &pre, want: comment.Thread{ID: thread, Mode: comment.ModePre}},
		{name: "close, mode unchanged", closed: &yes, want: comment.Thread{ID: thread, Mode: comment.ModePre, Closed: true}},
		{name: "back to the site default, still closed", mode: &def, want: comment.Thread{ID: thread, Closed: true}},
		{name: "reopen", closed: &no, want: comment.Thread{ID: thread}},
	}
	for _, st := range steps {
		_, got, err := ts.UpdateThread(ctx, "", thread, st.mode, st.closed, "")
		if err != nil {
			t.Fatalf("%s: UpdateThread = %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: UpdateThread = %+v, want %+v", st.name, got, st.want)
		}
		if got, err := ts.GetThread(ctx, thread); err != nil || got != st.want {
			t.Errorf("%s: GetThread = %+v, %v; want %+v", st.name, got, err, st.want)
		}
	}
	// Each change leaves its call's mark, which expires by itself (thread_update.lua).
	left := withoutUpdateMarks(t, ts.rdb, scanKeys(t, ts.rdb, ts.prefix))
	if len(left) != 0 {
		t.Errorf("keys of a thread back at its defaults = %v, want none but expiring update marks", left)
	}
	bad := comment.Mode(7)
	if _, _, err := ts.UpdateThread(ctx, "", thread, &bad, nil, ""); err == nil {
		t.Errorf("UpdateThread(mode 7) = nil error, want one")
	}
}
