package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/config"
)

// TestLogAbuseWarnsOfHoldWithoutFailOpen: -abuse-hold-unchecked holds what fail-open lets through;
// without -abuse-fail-open nothing is, and the abuse controls' line is followed by a WARN saying so.
func TestLogAbuseWarnsOfHoldWithoutFailOpen(t *testing.T) {
	tests := []struct {
		name     string
		abuse    config.Abuse
		wantWarn bool
	}{
		{"hold without fail-open", config.Abuse{HoldUnchecked: true}, true},
		{"hold with fail-open", config.Abuse{HoldUnchecked: true, FailOpen: true}, false},
		{"fail-open alone", config.Abuse{FailOpen: true}, false},
		{"neither", config.Abuse{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logAbuse(slog.New(slog.NewJSONHandler(&buf, nil)), tt.abuse, 0)
			warned := strings.Contains(buf.String(), `"level":"WARN"`) && strings.Contains(buf.String(), "abuse-hold-unchecked has no effect")
			if warned != tt.wantWarn {
				t.Errorf("logAbuse(FailOpen %v, HoldUnchecked %v) warned = %v, want %v; log:\n%s", tt.abuse.FailOpen, tt.abuse.HoldUnchecked, warned, tt.wantWarn, buf.String())
			}
		})
	}
}
