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
			want: Spam{HoldAt: spam.DefaultHoldAt, SpamAt: spam.DefaultSpamAt, MaxLinks: spam.DefaultMaxLinks, MinFormAge: spam.DefaultMinFormAge,
				TrustAfter: 1, HoldAuthorSpam: true, CampaignWindow: spam.DefaultCampaignWindow},
		},
		{
			name: "flags, environment and file",
			args: []string{"-config", file, "-spam-hold-at", "0.4", "-spam-trust-after", "0", "-spam-hold-author-spam=false"},
			env:  map[string]string{"COMMENTD_SPAM_SPAM_AT": "0.95", "COMMENTD_SPAM_MIN_FORM_AGE": "0s", "COMMENTD_SPAM_MAX_LINKS": "3"},
			want: Spam{HoldAt: 0.4, SpamAt: 0.95, MaxLinks: 3, MinFormAge: 0, TrustAfter: 0, HoldAuthorSpam: false, HoldNoUserAgent: true, CampaignWindow: 30 * time.Minute},
		},
		{name: "thresholds out of order", args: []string{"-spam-hold-at", "0.9", "-spam-spam-at", "0.5"}, wantErr: true},
		{name: "threshold above one", args: []string{"-spam-spam-at", "1.5"}, wantErr: true},
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
