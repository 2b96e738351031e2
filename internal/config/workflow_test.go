package config

import (
	"io"
	"testing"
	"time"
)

func TestWorkflowSettings(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Workflow
		wantErr bool
	}{
		{name: "defaults", want: Workflow{ReportThreshold: 3}},
		{name: "flags", args: []string{"-report-threshold", "5", "-close-threads-after", "720h"}, want: Workflow{ReportThreshold: 5, CloseThreadsAfter: 720 * time.Hour}},
		{name: "environment", env: map[string]string{"COMMENTD_REPORT_THRESHOLD": "1", "COMMENTD_CLOSE_THREADS_AFTER": "48h"}, want: Workflow{ReportThreshold: 1, CloseThreadsAfter: 48 * time.Hour}},
		{name: "threshold zero", args: []string{"-report-threshold", "0"}, wantErr: true},
		{name: "threshold not a number", args: []string{"-report-threshold", "three"}, wantErr: true},
		{name: "negative period", args: []string{"-close-threads-after", "-1h"}, wantErr: true},
		{name: "period without unit", args: []string{"-close-threads-after", "30"}, wantErr: true},
		// The store counts the period in whole microseconds: 1ns would be 0 there (never close)
		// while GetThread said the thread closed.
		{name: "period below a microsecond", args: []string{"-close-threads-after", "1ns"}, wantErr: true},
		{name: "period not whole microseconds", args: []string{"-close-threads-after", "1500ns"}, wantErr: true},
		{name: "period of one microsecond", args: []string{"-close-threads-after", "1us"}, want: Workflow{ReportThreshold: 3, CloseThreadsAfter: time.Microsecond}},
		{name: "period of a century", args: []string{"-close-threads-after", "876000h"}, want: Workflow{ReportThreshold: 3, CloseThreadsAfter: 876000 * time.Hour}},
		// Far beyond, a period's end in µs passes 2^53, where the store's scripts compute it
		// inexactly: every thread update sent with an etag was refused as stale.
		{name: "period over a century", args: []string{"-close-threads-after", "876001h"}, wantErr: true},
		{name: "period of 250 years", args: []string{"-close-threads-after", "2200000h"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append([]string{"-dev"}, tt.args...), envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Load(%v, env %v) = %+v, nil; want an error", tt.args, tt.env, c.Workflow)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%v, env %v) = %v, want no error", tt.args, tt.env, err)
			}
			if c.Workflow != tt.want {
				t.Errorf("Load(%v, env %v).Workflow = %+v, want %+v", tt.args, tt.env, c.Workflow, tt.want)
			}
		})
	}
}
