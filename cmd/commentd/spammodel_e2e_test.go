package main

import (
	"testing"
	"time"

	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// TestSpamModelGauges: /metrics shows what the spam model has learnt, from the start (nothing),
// and each moderator's approval and spam mark as the model learns it, without reading the
// whole model again.
func TestSpamModelGauges(t *testing.T) {
	s := startCommentd(t, redistest.Shared(t), "-moderation-mode", "pre")
	check := func(step string, wantSpam, wantHam float64) {
		t.Helper()
		var spam, ham float64
		var okSpam, okHam bool
		// The server's copy of the model follows Redis's change log within about a second.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			spam, okSpam = s.scrapeMetric(t, `commentd_spam_model_trained_comments{class="spam"}`)
			ham, okHam = s.scrapeMetric(t, `commentd_spam_model_trained_comments{class="ham"}`)
			if okSpam && okHam && spam == wantSpam && ham == wantHam || time.Now().After(deadline) {
				break
			}
		}
		if !okSpam || !okHam || spam != wantSpam || ham != wantHam {
			t.Errorf("%s: /metrics commentd_spam_model_trained_comments spam = %v (present %v), ham = %v (present %v); want %v and %v",
				step, spam, okSpam, ham, okHam, wantSpam, wantHam)
		}
	}
	check("at start", 0, 0)

	submit := s.submitter(t, "model-gauges")
	good, err := submit("good@example.org", "192.0.2.1", "a fair point about the bus timetable")
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	bad, err := submit("bad@example.org", "192.0.2.2", "cheap pills without prescription, order today")
	if err != nil {
		t.Fatalf("SubmitComment: %v", err)
	}
	s.ctl(t, "approve", good.GetId())
	check("one comment approved", 0, 1)
	s.ctl(t, "spam", bad.GetId())
	check("one comment marked spam", 1, 1)

	// The copy read the whole model once, at start: decisions reach it as changes, not reloads.
	if loads, ok := s.scrapeMetric(t, "commentd_spam_model_loads_total"); !ok || loads != 1 {
		t.Errorf("after two decisions: /metrics commentd_spam_model_loads_total = %v (present %v), want 1 (the load at start)", loads, ok)
	}
}
