package ratelimit

import (
	"testing"
	"time"
)

// TestThrottle: one event per interval goes through, and it counts the ones held back since the
// last that went through.
func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle(10 * time.Second)
	steps := []struct {
		at          time.Duration
		wantOK      bool
		wantSkipped int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{15 * time.Second, false, 0},
		{40 * time.Second, true, 1},
		{50 * time.Second, true, 0},
	}
	for _, s := range steps {
		ok, skipped := th.Allow(t0.Add(s.at))
		if ok != s.wantOK || skipped != s.wantSkipped {
			t.Errorf("Allow(t0+%v) = %v, %d; want %v, %d", s.at, ok, skipped, s.wantOK, s.wantSkipped)
		}
	}
}
