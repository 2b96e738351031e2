package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
)

// recountModel counts the site's model again from the labels of the decided comments, with each
// comment's features as stored now.
func recountModel(t *testing.T, ts testStore, keys *privacy.Keyring, ids []string) siteModel {
	t.Helper()
	ctx := context.Background()
	labels, err := ts.rdb.HGetAll(ctx, ts.keys.spamLabels("")).Result()
	if err != nil {
		t.Fatalf("HGETALL labels: %v", err)
	}
	counts := map[string]int64{}
	var nSpam, nHam, spamTokens, hamTokens int64
	for _, id := range ids {
		c, err := ts.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		wantLabel := ""
		if c.Decision != nil {
			switch c.Decision.To {
			case comment.StatePublished:
				wantLabel = "h"
			case comment.StateSpam:
				wantLabel = "s"
			}
		}
		// Upper case: an erasure moved the comment's training to its anonymised features, which
		// the stored comment now has; "E": no label.
		label := strings.ToLower(strings.TrimSuffix(labels[id], "E"))
		if label != wantLabel {
			t.Errorf("comment %s decided %+v: got label %q, want %q", id, c.Decision, labels[id], wantLabel)
		}
		if label == "" {
			continue
		}
		in := spam.Input{Body: c.Body, AuthorName: c.AuthorName}
		if e, err := keys.OpenEmail(c.EmailSealed, c.ID); err == nil {
			in.Email = e
		}
		toks := spam.Features(in)
		if label == "s" {
			nSpam++
			spamTokens += int64(len(toks))
		} else {
			nHam++
			hamTokens += int64(len(toks))
		}
		for _, tok := range toks {
			counts[label+":"+tok]++
		}
	}
	vocab := map[string]bool{}
	m := siteModel{Counts: map[string]string{}, Labels: labels}
	for f, n := range counts {
		m.Counts[f] = strconv.FormatInt(n, 10)
		vocab[f[2:]] = true
	}
	m.Totals = map[string]string{
		"spam": strconv.FormatInt(nSpam, 10), "ham": strconv.FormatInt(nHam, 10),
		"spam_tokens": strconv.FormatInt(spamTokens, 10), "ham_tokens": strconv.FormatInt(hamTokens, 10),
		"vocab": strconv.Itoa(len(vocab)),
	}
	return m
}

// TestLearningMatchesRecount makes random decisions (and readers' takedowns, and an erasure) on a
// few comments, some decisions stored and learnt by LearnPending only, and checks that the site's model equals a recount from
// the decided comments' labels, and that a second server's copy holds the same counts.
func TestLearningMatchesRecount(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { t.Parallel(); learnRecount(t, seed) })
	}
}

func learnRecount(t *testing.T, seed uint64) {
	ts := newTestStore(t)
	keys := spamKeyring(t)
	ctx := context.Background()
	now := t0
	clock := func() time.Time { return now }
	svc := moderation.NewService(ts.Store, keys, moderation.Options{Learner: spam.NewLearner(ts.Store, keys), Histories: ts.Store,
		LearnQueue: ts.Store, Eraser: ts.Store, Now: clock})

	mirror := NewSpamMirror(ts.Store, SpamMirrorOptions{Block: 50 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); mirror.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	email, _ := privacy.ParseEmail("someone@example.org")
	var ids []string
	for i := range 6 {
		c := draft(ts.Store, "recount", i)
		c.State = comment.StatePending
		c.Body = fmt.Sprintf("Buy cheap watches %d at shop%d dot com, or say hello to user %d", i, i%3, i)
		if i%2 == 0 {
			sealed, err := keys.SealEmail(email, c.ID)
			if err != nil {
				t.Fatalf("SealEmail: %v", err)
			}
			c.EmailSealed, c.AuthorKey = sealed, keys.EmailKey(email)
		}
		mustCreate(t, ts.Store, c, comment.CreateOptions{})
		ids = append(ids, c.ID)
	}
	actions := []moderation.Action{moderation.Approve, moderation.Reject, moderation.MarkSpam, moderation.MarkNotSpam, moderation.Reopen}
	r := rand.New(rand.NewPCG(seed, 2))
	for step := range 120 {
		now = now.Add(time.Second)
		id := ids[r.IntN(len(ids))]
		a := actions[r.IntN(len(actions))]
		if step == 60 {
			if _, err := svc.EraseAuthorData(ctx, "admin", "someone@example.org", "asked", false); err != nil {
				t.Fatalf("EraseAuthorData: %v", err)
			}
		}
		if r.IntN(8) == 0 {
			// Readers' reports take the comment down if it is published: no decision.
			if _, _, err := ts.AddReport(ctx, id, moderation.Report{At: now}, fmt.Sprint("reader-", step), 1); err != nil {
				t.Fatalf("step %d: AddReport(%s): %v", step, id, err)
			}
			continue
		}
		if r.IntN(4) == 0 {
			// Stored, not learnt: the server stopped before it learnt.
			to, from := moderationRule(a)
			_, err := ts.Decide(ctx, id, a, comment.Decision{Moderator: "mod", At: now, To: to}, from, "")
			if err != nil && !isDenied(err) {
				t.Fatalf("step %d: store Decide(%v, %s): %v", step, a, id, err)
			}
			continue
		}
		if _, err := svc.Decide(ctx, "mod", a, id, "", ""); err != nil && !isDenied(err) {
			t.Fatalf("step %d: Decide(%v, %s): %v", step, a, id, err)
		}
		if r.IntN(5) == 0 {
			if _, err := svc.LearnPending(ctx, 0); err != nil {
				t.Fatalf("step %d: LearnPending: %v", step, err)
			}
		}
	}
	now = now.Add(time.Hour)
	if _, err := svc.LearnPending(ctx, 0); err != nil {
		t.Fatalf("LearnPending: %v", err)
	}
	got := siteModelOf(t, ts)
	delete(got.Totals, "gen")
	want := recountModel(t, ts, keys, ids)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after random decisions, the site's model differs from a recount (-recount +model):\n%s", diff)
	}

	// A second server's copy, following the changes all along, holds the same counts.
	seq, err := ts.rdb.HGet(ctx, ts.keys.spamTotals(""), "seq").Int64()
	if err != nil {
		t.Fatalf("HGET seq: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); mirror.Seq() != seq && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	mirrorCounts := map[string]string{}
	var toks []string
	for f := range got.Counts {
		toks = append(toks, f[2:])
	}
	sc, hc := make([]int64, len(toks)), make([]int64, len(toks))
	tot, _ := mirror.TokenCounts(ctx, toks, sc, hc)
	for i, tok := range toks {
		if sc[i] > 0 {
			mirrorCounts["s:"+tok] = strconv.FormatInt(sc[i], 10)
		}
		if hc[i] > 0 {
			mirrorCounts["h:"+tok] = strconv.FormatInt(hc[i], 10)
		}
	}
	if diff := cmp.Diff(got.Counts, mirrorCounts); diff != "" {
		t.Errorf("the other server's copy at change %d (Redis at %d) differs from Redis (-redis +copy):\n%s", mirror.Seq(), seq, diff)
	}
	gotTot := fmt.Sprint(tot.Spam, tot.Ham, tot.SpamTokens, tot.HamTokens, tot.Vocabulary)
	wantTot := strings.Join([]string{got.Totals["spam"], got.Totals["ham"], got.Totals["spam_tokens"], got.Totals["ham_tokens"], got.Totals["vocab"]}, " ")
	if gotTot != wantTot {
		t.Errorf("the other server's copy has totals %s, want %s", gotTot, wantTot)
	}
}

func moderationRule(a moderation.Action) (comment.State, []comment.State) {
	all := []comment.State{comment.StatePending, comment.StatePublished, comment.StateRejected, comment.StateSpam}
	switch a {
	case moderation.Approve:
		return comment.StatePublished, all
	case moderation.Reject:
		return comment.StateRejected, all
	case moderation.MarkSpam:
		return comment.StateSpam, all
	case moderation.MarkNotSpam:
		return comment.StatePending, []comment.State{comment.StateSpam}
	}
	return comment.StatePending, all
}

func isDenied(err error) bool {
	return errors.Is(err, moderation.ErrInvalidTransition)
}
