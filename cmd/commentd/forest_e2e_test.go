package main

import (
	"testing"
	"time"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestSpamForestGauge: a server started on an empty model has no forest (the gauge says 0); once
// the model holds 10 examples of each class the server fits one without waiting for its refit
// period, and the gauge gives its examples.
func TestSpamForestGauge(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t), "-rate-limits", "off")
	if n, ok := s.scrapeMetric(t, "commentd_spam_forest_examples"); !ok || n != 0 {
		t.Fatalf("at start: /metrics commentd_spam_forest_examples = %v (present %v), want 0", n, ok)
	}
	ctlAs(t, s, s.adminToken, "spam", "train", spamCorpus(t, "train.csv", 0, 12))
	// A liveness bound, far above the second it takes: the refit period (30 s) is not waited for.
	var n float64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, _ = s.scrapeMetric(t, "commentd_spam_forest_examples"); n > 0 {
			break
		}
	}
	if n != 24 {
		t.Errorf("after training 12 spam and 12 ham comments: /metrics commentd_spam_forest_examples = %v, want 24", n)
	}
}
