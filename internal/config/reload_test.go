package config

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/privacy"
)

// TestChanged: Changed names the settings whose values differ, secrets and lists included (their
// log forms hide what changed), and a flag that overrides the file hides the file's change, as it
// does at start.
func TestChanged(t *testing.T) {
	const base = `rate-limits:
  - name: flood-ip
    key: ip
    rate: 1/15s
redis-url: redis://app:first@127.0.0.1:6379
abuse-trusted-emails: [editor@example.com]
`
	env := envMap(map[string]string{"COMMENTD_HASH_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
	load := func(t *testing.T, file string, flags ...string) *Config {
		t.Helper()
		c, err := Load(append([]string{"-dev", "-config", file}, flags...), env, io.Discard)
		if err != nil {
			t.Fatalf("Load(%s): %v", file, err)
		}
		return c
	}
	tests := []struct {
		name  string
		file  string
		flags []string
		want  []string
	}{
		{name: "same file", file: base},
		{name: "a rule's burst", file: `rate-limits:
  - name: flood-ip
    key: ip
    rate: 1/15s
    burst: 3
redis-url: redis://app:first@127.0.0.1:6379
abuse-trusted-emails: [editor@example.com]
`, want: []string{"rate-limits"}},
		{name: "a rule made shadow", file: `rate-limits:
  - name: flood-ip
    key: ip
    rate: 1/15s
    shadow: true
redis-url: redis://app:first@127.0.0.1:6379
abuse-trusted-emails: [editor@example.com]
`, want: []string{"rate-limits"}},
		{name: "the Redis password and a staff address", file: `rate-limits:
  - name: flood-ip
    key: ip
    rate: 1/15s
redis-url: redis://app:second@127.0.0.1:6379
abuse-trusted-emails: [chief@example.com]
duplicate-window: 1m
`, want: []string{"redis-url", "abuse-trusted-emails", "duplicate-window"}},
		{name: "a flag overrides the file's change", flags: []string{"-rate-limits", "off"}, file: `rate-limits: []
redis-url: redis://app:first@127.0.0.1:6379
abuse-trusted-emails: [editor@example.com]
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := load(t, writeConfig(t, base), tt.flags...)
			next := load(t, writeConfig(t, tt.file), tt.flags...)
			if diff := cmp.Diff(tt.want, Changed(start, next), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Changed(start, next) with flags %q (-want +got):\n%s", tt.flags, diff)
			}
		})
	}

	// The secrets: compared, though their log form hides them.
	a, b := load(t, writeConfig(t, base)), load(t, writeConfig(t, base))
	b.HashKey = append([]byte(nil), a.HashKey...)
	b.HashKey[0]++
	b.EncryptionKeys = []privacy.Key{{ID: "dev", Secret: []byte("another secret of thirty-two b!!")}}
	if got := Changed(a, b); !cmp.Equal(got, []string{"encryption-keys", "hash-key"}) {
		t.Errorf("Changed of configurations with another hash key and encryption key = %q, want [encryption-keys hash-key]", got)
	}
}

func TestIsAbuse(t *testing.T) {
	for name, want := range map[string]bool{
		"rate-limits": true, "duplicate-window": true, "ban-style": true, "abuse-fail-open": true,
		"abuse-hold-unchecked": true, "abuse-timeout": true, "abuse-trusted-ranges": true, "abuse-trusted-emails": true,
		"redis-url": false, "grpc-addr": false, "spam-hold-at": false, "log-level": false, "config": false,
	} {
		if got := IsAbuse(name); got != want {
			t.Errorf("IsAbuse(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestFileEmpty(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       bool
	}{
		{"empty", "", true},
		{"comments and blank lines", "# abuse controls\n\n   \n", true},
		{"a document marker alone", "---\n", true},
		{"one setting", "duplicate-window: 1m\n", false},
		{"an empty list of rules", "rate-limits: []\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]string{"-dev", "-config", writeConfig(t, tt.file)}, envMap(nil), io.Discard)
			if err != nil {
				t.Fatalf("Load of a config file %q: %v", tt.file, err)
			}
			if got := c.FileEmpty(); got != tt.want {
				t.Errorf("FileEmpty() of a config file %q = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
	c, err := Load([]string{"-dev"}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.FileEmpty() {
		t.Errorf("FileEmpty() without a config file = true, want false")
	}
}
