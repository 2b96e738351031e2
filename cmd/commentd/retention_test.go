package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestPurgeSpamLoop: the background purge commentd runs deletes spam past the retention, counts it
// in the metric, logs one line per run that deleted any, and the audit log says so, by the
// retention's moderator; spam not yet due and other comments stay.
func TestPurgeSpamLoop(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t, redistest.Shared(t))
	store, err := redisstore.New(ctx, rdb, redisstore.Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("redisstore.New = %v", err)
	}
	keys, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	const retention = time.Hour
	store1 := func(n int, st comment.State, age time.Duration) comment.Comment {
		thread := "retention-thread"
		c := comment.Comment{ID: store.NewID(thread), ThreadID: thread, AuthorName: "Reader", Body: "cheap watches " + strings.Repeat("!", n),
			State: st, CreatedAt: now.Add(-age)}
		if st == comment.StatePublished {
			c.PublishedAt = c.CreatedAt
		}
		c, _, err := store.Create(ctx, c, comment.CreateOptions{})
		if err != nil {
			t.Fatalf("Create = %v", err)
		}
		return c
	}
	old := []comment.Comment{store1(1, comment.StateSpam, 2*retention), store1(2, comment.StateSpam, retention+time.Minute)}
	keep := []comment.Comment{store1(3, comment.StateSpam, retention-time.Minute), store1(4, comment.StatePublished, 2*retention)}

	cfg := &config.Config{}
	mod := moderation.NewService(store, keys, buildWorkflow(moderation.Options{}, store, cfg))
	purged := prometheus.NewCounter(prometheus.CounterOpts{Name: "commentd_spam_purged_total", Help: "test"})
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	loopCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		purgeSpam(loopCtx, log, mod, 10*time.Millisecond, retention, purged)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(t, purged) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a few more runs, which find nothing
	stop()
	wg.Wait()

	if got := counterValue(t, purged); got != 2 {
		t.Errorf("commentd_spam_purged_total = %v, want 2", got)
	}
	for _, c := range old {
		if _, err := mod.Get(ctx, c.ID); !errors.Is(err, comment.ErrNotFound) {
			t.Errorf("Get(%s, spam for longer than %s) = %v, want comment.ErrNotFound", c.ID, retention, err)
		}
	}
	for _, c := range keep {
		if _, err := mod.Get(ctx, c.ID); err != nil {
			t.Errorf("Get(%s, state %v, created %s ago) = %v, want it kept", c.ID, c.State, now.Sub(c.CreatedAt), err)
		}
	}
	if n := strings.Count(out.String(), "deleted spam past its retention"); n != 1 {
		t.Errorf("the purge logged %d lines of deletions, want 1 (one run deleted; the later ones found nothing):\n%s", n, out.String())
	}
	events, _, err := mod.ListAudit(ctx, moderation.AuditQuery{Moderator: moderation.RetentionModerator}, comment.Page{Size: 10})
	if err != nil {
		t.Fatalf("ListAudit(moderator retention) = %v", err)
	}
	if len(events) != 1 || events[0].Action != moderation.AuditPurgeSpam || !strings.HasPrefix(events[0].Reason, "2 comments: spam for over ") {
		t.Errorf("ListAudit(moderator retention) = %+v, want one purge_spam entry for 2 comments", events)
	}
	stats, err := mod.Stats(ctx, 1)
	if err != nil {
		t.Fatalf("Stats = %v", err)
	}
	for _, m := range stats.Moderators {
		if m.Moderator == moderation.RetentionModerator {
			t.Errorf("Stats counts the retention as a moderator: %+v", m)
		}
	}
}

// counterValue reads c's value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}
