package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/spam"
)

func TestSpamSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "commentd.yaml")
	if err := os.WriteFile(file, []byte("spam-max-links: 5\nspam-campaign-window: 30m\nspam-hold-no-user-agent: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Spam
		wantErr bool
	}{
		{
			name: "defaults",
			want: Spam{MaxLinks: spam.DefaultMaxLinks, MinFormAge: spam.DefaultMinFormAge,
				TrustAfter: 1, HoldAuthorSpam: true, CampaignWindow: spam.DefaultCampaignWindow, Retention: DefaultSpamRetention},
		},
		{
			name: "flags, environment and file",
			args: []string{"-config", file, "-spam-hold-at", "0.4", "-spam-trust-after", "0", "-spam-hold-author-spam=false"},
			env:  map[string]string{"COMMENTD_SPAM_SPAM_AT": "0.95", "COMMENTD_SPAM_MIN_FORM_AGE": "0s", "COMMENTD_SPAM_MAX_LINKS": "3"},
			want: Spam{HoldAt: 0.4, SpamAt: 0.95, MaxLinks: 3, MinFormAge: 0, TrustAfter: 0, HoldAuthorSpam: false, HoldNoUserAgent: true, CampaignWindow: 30 * time.Minute, Retention: DefaultSpamRetention},
		},
		{name: "thresholds out of order", args: []string{"-spam-hold-at", "0.9", "-spam-spam-at", "0.5"}, wantErr: true},
		{name: "threshold above one", args: []string{"-spam-spam-at", "1.5"}, wantErr: true},
		// 0.9 is above the default spam threshold with a forest (0.8): the hold threshold alone
		// cannot be raised past it.
		{name: "hold threshold above the default spam threshold", args: []string{"-spam-hold-at", "0.9"}, wantErr: true},
		{name: "negative hold threshold", args: []string{"-spam-hold-at", "-0.1"}, wantErr: true},
		{name: "negative links", args: []string{"-spam-max-links", "-1"}, wantErr: true},
		{name: "negative window", args: []string{"-spam-campaign-window", "-1m"}, wantErr: true},
		{name: "not a number", args: []string{"-spam-hold-at", "half"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append([]string{"-dev"}, tt.args...), envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Errorf("called Load(%q), got no error, want one", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("called Load(%q), got error %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, c.Spam); diff != "" {
				t.Errorf("called Load(%q), got spam settings diff (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestSpamRetention(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "commentd.yaml")
	if err := os.WriteFile(file, []byte("spam-retention: 720h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.WriteFile(zero, []byte("spam-retention: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{name: "default is 15 days", want: 15 * 24 * time.Hour},
		{name: "flag", args: []string{"-spam-retention", "48h"}, want: 48 * time.Hour},
		{name: "environment", env: map[string]string{"COMMENTD_SPAM_RETENTION": "26h30m"}, want: 26*time.Hour + 30*time.Minute},
		{name: "config file", args: []string{"-config", file}, want: 720 * time.Hour},
		{name: "flag over environment over file", args: []string{"-config", file, "-spam-retention", "30h"}, env: map[string]string{"COMMENTD_SPAM_RETENTION": "40h"}, want: 30 * time.Hour},
		{name: "environment over file", args: []string{"-config", file}, env: map[string]string{"COMMENTD_SPAM_RETENTION": "40h"}, want: 40 * time.Hour},
		{name: "zero keeps spam", args: []string{"-spam-retention", "0"}, want: 0},
		{name: "zero in the file", args: []string{"-config", zero}, want: 0},
		{name: "exactly the minimum", args: []string{"-spam-retention", "24h"}, want: 24 * time.Hour},
		{name: "below the minimum", args: []string{"-spam-retention", "23h59m59s"}, wantErr: true},
		{name: "seconds", env: map[string]string{"COMMENTD_SPAM_RETENTION": "30s"}, wantErr: true},
		{name: "negative", args: []string{"-spam-retention", "-360h"}, wantErr: true},
		{name: "days are not a Go duration", args: []string{"-spam-retention", "15d"}, wantErr: true},
		{name: "no unit", args: []string{"-spam-retention", "15"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append([]string{"-dev"}, tt.args...), envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Errorf("called Load(%q, env %v), got spam retention %s and no error, want an error", tt.args, tt.env, c.Spam.Retention)
				}
				return
			}
			if err != nil {
				t.Fatalf("called Load(%q, env %v), got error %v, want none", tt.args, tt.env, err)
			}
			if c.Spam.Retention != tt.want {
				t.Errorf("called Load(%q, env %v), got spam retention %s, want %s", tt.args, tt.env, c.Spam.Retention, tt.want)
			}
		})
	}
}
