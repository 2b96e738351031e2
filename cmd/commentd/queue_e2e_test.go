package main

import (
	"testing"
	"time"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestQueueGauges: /metrics says how many comments wait for a moderator and for how long the
// oldest has, from the start (at zero), as comments are held and decided.
func TestQueueGauges(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t), "-moderation-mode", "pre")
	// check scrapes /metrics. The oldest comment's age must lie between minAge and the time since
	// oldestBefore (a moment before that comment was submitted) as the test sees it after the
	// scrape; for an empty queue (zero oldestBefore) it must be 0.
	check := func(step string, wantSize float64, minAge float64, oldestBefore time.Time) {
		t.Helper()
		size, ok := s.scrapeMetric(t, "commentd_moderation_queue_comments")
		if !ok || size != wantSize {
			t.Errorf("%s: /metrics commentd_moderation_queue_comments = %v (present %v); want %v", step, size, ok, wantSize)
		}
		age, ok := s.scrapeMetric(t, "commentd_moderation_queue_oldest_age_seconds")
		maxAge := 0.0
		if !oldestBefore.IsZero() {
			// Plus a millisecond: the store keeps creation times rounded.
			maxAge = (time.Since(oldestBefore) + time.Millisecond).Seconds()
		}
		if !ok || age < minAge || age > maxAge {
			t.Errorf("%s: /metrics commentd_moderation_queue_oldest_age_seconds = %v (present %v); want between %v and %v", step, age, ok, minAge, maxAge)
		}
	}
	check("at start", 0, 0, time.Time{})

	beforeFirst := time.Now()
	first, err := s.submitter(t, "queue-a")("first@example.org", "192.0.2.1", "the first comment held")
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	const wait = 1500 * time.Millisecond
	time.Sleep(wait)
	beforeSecond := time.Now()
	second, err := s.submitter(t, "queue-b")("second@example.org", "192.0.2.2", "the second comment held")
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	check("two comments held, the first 1.5 s ago", 2, wait.Seconds(), beforeFirst)

	s.ctl(t, "approve", first.GetId())
	check("the older one approved", 1, 0, beforeSecond)
	s.ctl(t, "reject", second.GetId())
	check("both decided", 0, 0, time.Time{})
}
