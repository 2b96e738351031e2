package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	dir := t.TempDir()
	file := filepath.Join(dir, "commentd.yaml")
	os.WriteFile(file, []byte("grpc-addr: 10.0.0.1:1\nhttp-addr: 10.0.0.1:2\nmoderation-mode: pre\nmax-body-chars: 300\nkeys: /from/file\n"), 0o600)
	env := map[string]string{
		"COMMENTD_CONFIG":          file,
		"COMMENTD_HTTP_ADDR":       "10.0.0.2:2",
		"COMMENTD_MAX_BODY_CHARS":  "400",
		"COMMENTD_ENCRYPTION_KEYS": "k1:" + key,
		"COMMENTD_HASH_KEY":        key,
	}
	c, err := Load([]string{"-max-body-chars", "500"}, envMap(env), io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct{ what, got, want string }{
		{"grpc-addr from file", c.GRPCAddr, "10.0.0.1:1"},
		{"http-addr env beats file", c.HTTPAddr, "10.0.0.2:2"},
		{"moderation-mode from file", c.ModerationMode.String(), "pre"},
		{"keys from file", c.KeysFile, "/from/file"},
		{"redis-url default", c.RedisURL, "redis://127.0.0.1:6379"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("Load: %s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	if c.MaxBodyChars != 500 {
		t.Errorf("Load: flag -max-body-chars 500 over env 400 and file 300 gave %d, want 500", c.MaxBodyChars)
	}
	if len(c.EncryptionKeys) != 1 || c.EncryptionKeys[0].ID != "k1" || len(c.HashKey) != privacy.KeySize {
		t.Errorf("Load: keys = %d encryption keys, %d-byte hash key; want 1 (k1) and %d bytes", len(c.EncryptionKeys), len(c.HashKey), privacy.KeySize)
	}
	attrs := c.LogAttrs()
	for _, a := range attrs {
		if s, ok := a.(string); ok && strings.Contains(s, key) {
			t.Errorf("LogAttrs() contains a secret key in %q", s)
		}
	}
}

func TestLogAttrsMaskRedisPassword(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_KEYS": "/k", "COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	for url, want := range map[string]string{
		"redis://app:s3cret@10.0.0.1:6379/2":            "redis://app:***@10.0.0.1:6379/2",
		"redis+sentinel://:s3cret@h1:26379,h2:26379/m1": "redis+sentinel://:***@h1:26379,h2:26379/m1",
		"rediss://app@10.0.0.1:6380":                    "rediss://app@10.0.0.1:6380",
		"redis://10.0.0.1:6379":                         "redis://10.0.0.1:6379",
		"redis://app:s3cret/x+y@10.0.0.1:6379/2":        "redis://app:***@10.0.0.1:6379/2",
		"redis://app:s3/cr@et@10.0.0.1:6379":            "redis://app:***@10.0.0.1:6379",
		// Without a scheme the parser refuses credentials, but only after the start-up log.
		"app:s3cret@10.0.0.1:6379": "app:***@10.0.0.1:6379",
		":s3cret@10.0.0.1:6379":    ":***@10.0.0.1:6379",
		"10.0.0.1:6379":            "10.0.0.1:6379",
	} {
		c, err := Load([]string{"-redis-url", url}, envMap(env), io.Discard)
		if err != nil {
			t.Fatalf("Load(-redis-url %s): %v", url, err)
		}
		logged := fmt.Sprint(c.LogAttrs()...)
		if strings.Contains(logged, "s3cret") || !strings.Contains(logged, want) {
			t.Errorf("LogAttrs() with -redis-url %s = %s, want %s and no password", url, logged, want)
		}
		if c.RedisURL != url {
			t.Errorf("RedisURL = %q, want %q unchanged", c.RedisURL, url)
		}
	}
}

func TestDevDefaults(t *testing.T) {
	c, err := Load([]string{"-dev"}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatalf("Load(-dev): %v", err)
	}
	if c.GRPCAddr != "127.0.0.1:7070" || c.HTTPAddr != "127.0.0.1:7071" || !c.AcceptDataLoss {
		t.Errorf("Load(-dev) = grpc %q http %q accept-loss %v; want loopback 7070/7071 and true", c.GRPCAddr, c.HTTPAddr, c.AcceptDataLoss)
	}
	if c.ModerationMode != comment.ModePost || c.ShutdownTimeout != 15*time.Second {
		t.Errorf("Load(-dev) defaults: mode %v, shutdown %v; want post, 15s", c.ModerationMode, c.ShutdownTimeout)
	}
}

func TestInvalid(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	base := map[string]string{"COMMENTD_KEYS": "k", "COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"no keys in production", nil, map[string]string{}},
		{"bad mode", []string{"-moderation-mode", "maybe"}, base},
		{"thread-only mode", []string{"-moderation-mode", "default"}, base},
		{"bad number", []string{"-max-body-chars", "many"}, base},
		{"zero body", []string{"-max-body-chars", "0"}, base},
		{"tls half", []string{"-tls-cert", "c.pem"}, base},
		{"bad level", []string{"-log-level", "loud"}, base},
		{"short key", nil, map[string]string{"COMMENTD_KEYS": "k", "COMMENTD_ENCRYPTION_KEYS": "k1:AAAA", "COMMENTD_HASH_KEY": key}},
		{"stray argument", []string{"-dev", "extra"}, nil},
		{"missing config file", []string{"-dev", "-config", "/nonexistent/commentd.yaml"}, nil},
		// An empty address would serve /metrics (and -pprof) on every interface, at a random port.
		{"empty http addr", []string{"-http-addr", ""}, base},
		{"empty http addr in dev", []string{"-dev", "-http-addr", ""}, nil},
		// The store would use its default prefix while the log said "".
		{"empty redis prefix", []string{"-redis-prefix", ""}, base},
		// Refused by the store too, but only once Redis answers.
		{"redis prefix with a hash tag", []string{"-redis-prefix", "{site}:"}, base},
		{"redis prefix with a brace", nil, map[string]string{"COMMENTD_KEYS": "k", "COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key, "COMMENTD_REDIS_PREFIX": "site}:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.args, envMap(tt.env), io.Discard); err == nil {
				t.Errorf("Load(%q) with env %v = nil error, want an error", tt.args, tt.env)
			}
		})
	}
}

// All problems are reported at once, not only the first.
func TestInvalidListsEveryProblem(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_KEYS": "k", "COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	_, err := Load([]string{"-moderation-mode", "strict", "-log-level", "verbose"}, envMap(env), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "moderation-mode") || !strings.Contains(err.Error(), "log-level") {
		t.Errorf("Load(bad mode and bad log level) = %v, want an error naming both", err)
	}
}

// A refused value is reported once: not again as a required setting that is missing.
func TestRefusedValueNotAlsoRequired(t *testing.T) {
	_, err := Load([]string{"-keys", "k", "-encryption-keys", "bad", "-hash-key", "short"}, envMap(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-encryption-keys:") || !strings.Contains(err.Error(), "-hash-key:") || strings.Contains(err.Error(), "required") {
		t.Errorf("Load(bad -encryption-keys and -hash-key) = %v, want both refused values and no \"required\"", err)
	}
}

func TestUnknownFileKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("grpc_adr: x\n"), 0o600)
	if _, err := Load([]string{"-dev", "-config", file}, envMap(nil), io.Discard); err == nil {
		t.Errorf("Load with unknown config key grpc_adr = nil error, want an error")
	}
}

// An unknown key is refused by its line, with the setting it was most likely meant for: the
// spellings of its variable and its flag, or a setting's name a letter or two away. A name far
// from every setting's gets no guess.
func TestUnknownFileKeyLineAndGuess(t *testing.T) {
	tests := []struct {
		key, want string // want: the setting suggested, "" for none
	}{
		{"duplicate-windw", "duplicate-window"},
		{"Duplicate-Window", "duplicate-window"},
		{"redis_url", "redis-url"},
		{"COMMENTD_REDIS_URL", "redis-url"},
		{"-max-body-chars", "max-body-chars"},
		{"spam-hold-at-score", ""},
		{"colour", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			file := writeConfig(t, "# commentd\nban-style: refuse\n"+tt.key+": x\n")
			_, err := Load([]string{"-dev", "-config", file}, envMap(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), file+": line 3: unknown key") {
				t.Fatalf("Load(config file with key %q on line 3) = %v, want the key refused by its line", tt.key, err)
			}
			if got := strings.Contains(err.Error(), "did you mean"); got != (tt.want != "") || !strings.Contains(err.Error(), "did you mean "+tt.want+"?") && tt.want != "" {
				t.Errorf("Load(config file with key %q) = %v, want a guess of %q (none if empty)", tt.key, err, tt.want)
			}
		})
	}
}

// A config file is one YAML document. Settings after a "---" that starts a second one are refused
// with its line, not dropped (yaml reads the first document only, and ban-style below would stay
// refuse); a "---" that opens the file, or ends it with nothing after it, starts no second one.
func TestFileOneDocument(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_KEYS": "k", "COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	tests := []struct {
		name, file string
		refused    string // the line the error names; "" when the file loads
	}{
		{"a second document", "duplicate-window: 5m\n---\nban-style: shadow\n", "line 2"},
		{"a third document", "---\nduplicate-window: 5m\n---\n---\nban-style: shadow\n", "line 4"},
		{"opening ---", "---\nduplicate-window: 5m\nban-style: shadow\n", ""},
		{"closing ---", "duplicate-window: 5m\nban-style: shadow\n---\n", ""},
		{"closing --- and a comment", "duplicate-window: 5m\nban-style: shadow\n---\n# end\n", ""},
		{"closing ...", "duplicate-window: 5m\nban-style: shadow\n...\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(file, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load([]string{"-config", file}, envMap(env), io.Discard)
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), file+": "+tt.refused+":") {
					t.Errorf("Load(config file %q) = %v, want an error naming %s of the file", tt.file, err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(config file %q) = %v, want no error", tt.file, err)
			}
			if c.Abuse.DuplicateWindow != 5*time.Minute || c.Abuse.BanStyle != ratelimit.BanShadow {
				t.Errorf("Load(config file %q): duplicate window %v, ban style %v; want 5m0s and shadow", tt.file, c.Abuse.DuplicateWindow, c.Abuse.BanStyle)
			}
		})
	}
}

// YAML's null, in each of its spellings, is no value: the same as an empty one, never a file,
// an address or a list item named "~" or "null". A quoted "~" stays text.
func TestFileNullIsNoValue(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	tests := []struct {
		name, file string
		got        func(c *Config) string
		want       string
	}{
		{"empty", "tls-cert:\ntls-key:\n", func(c *Config) string { return c.TLSCert + c.TLSKey }, ""},
		{"tilde", "tls-cert: ~\ntls-key: ~\n", func(c *Config) string { return c.TLSCert + c.TLSKey }, ""},
		{"null", "tls-cert: null\ntls-key: Null\n", func(c *Config) string { return c.TLSCert + c.TLSKey }, ""},
		{"quoted tilde is text", "tls-cert: \"~\"\ntls-key: '~'\n", func(c *Config) string { return c.TLSCert + c.TLSKey }, "~~"},
		{"list", "abuse-trusted-emails: ~\n", func(c *Config) string { return strings.Join(c.Abuse.TrustedEmails, ",") }, ""},
		{"list item", "abuse-trusted-ranges: [10.0.0.0/8, ~, null]\n", func(c *Config) string { return strings.Join(c.Abuse.TrustedRanges, ",") }, "10.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(file, []byte("keys: k\n"+tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load([]string{"-config", file}, envMap(env), io.Discard)
			if err != nil {
				t.Fatalf("Load(config file %q) = %v, want no error", tt.file, err)
			}
			if got := tt.got(c); got != tt.want {
				t.Errorf("Load(config file %q) gave %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

// LoadReseal reads the server's settings as Load does (file, environment, flags) plus -dry-run,
// and needs no API keys file; without keys it fails like the server.
func TestLoadReseal(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	file := filepath.Join(t.TempDir(), "commentd.yaml")
	os.WriteFile(file, []byte("redis-url: redis://from-file:6379\nredis-prefix: \"site-a:\"\nredis-timeout: 5s\n"), 0o600)
	env := map[string]string{"COMMENTD_CONFIG": file, "COMMENTD_ENCRYPTION_KEYS": "k2:" + key + ",k1:" + privacy.EncodeSecret(privacy.NewSecret()), "COMMENTD_HASH_KEY": key}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantDryRun bool
		wantErr    bool
	}{
		{name: "the servers' settings", env: env},
		{name: "dry run", args: []string{"-dry-run"}, env: env, wantDryRun: true},
		{name: "a flag over the file", args: []string{"-redis-timeout", "5s", "-dry-run=false"}, env: env},
		{name: "no encryption keys", env: map[string]string{"COMMENTD_CONFIG": file, "COMMENTD_HASH_KEY": key}, wantErr: true},
		{name: "dev", args: []string{"-dev"}, env: env, wantErr: true},
		{name: "stray argument", args: []string{"-dry-run", "now"}, env: env, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, opts, err := LoadReseal(tt.args, envMap(tt.env), io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Errorf("LoadReseal(%q) = nil error, want an error", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadReseal(%q) = %v, want no error (no API keys file needed)", tt.args, err)
			}
			if c.RedisURL != "redis://from-file:6379" || c.RedisPrefix != "site-a:" || c.RedisTimeout != 5*time.Second || len(c.EncryptionKeys) != 2 || c.EncryptionKeys[0].ID != "k2" {
				t.Errorf("LoadReseal(%q) = redis %q prefix %q timeout %v, %d keys; want the file's and the environment's", tt.args, c.RedisURL, c.RedisPrefix, c.RedisTimeout, len(c.EncryptionKeys))
			}
			if opts.DryRun != tt.wantDryRun {
				t.Errorf("LoadReseal(%q) dry run = %v, want %v", tt.args, opts.DryRun, tt.wantDryRun)
			}
		})
	}
	if _, err := Load(nil, envMap(env), io.Discard); err == nil {
		t.Errorf("Load (the server) without an API keys file = nil error, want one")
	}
	if _, err := Load([]string{"-dry-run"}, envMap(env), io.Discard); err == nil {
		t.Errorf("Load (the server) with -dry-run = nil error, want one: the flag is reseal's")
	}
}

// A value the config file gives and Load refuses is reported once, naming the file, the line and the key:
// not again as a required setting that is missing, which would send the operator looking for a
// setting the file does give.
func TestRefusedFileValueNotAlsoRequired(t *testing.T) {
	file := filepath.Join(t.TempDir(), "commentd.yaml")
	os.WriteFile(file, []byte("keys: /k\nencryption-keys: \"k1:AAAA\"\nhash-key: short\n"), 0o600)
	_, err := Load([]string{"-config", file}, envMap(nil), io.Discard)
	if err == nil {
		t.Fatalf("Load(-config with a bad encryption-keys and hash-key) = nil error, want one")
	}
	for _, want := range []string{"line 2: encryption-keys:", "line 3: hash-key:"} {
		if !strings.Contains(err.Error(), file+": "+want) {
			t.Errorf("Load(-config with bad keys) = %v, want the file's %s refused", err, want)
		}
	}
	if strings.Contains(err.Error(), "required") {
		t.Errorf("Load(-config with bad keys) = %v, want no \"required\" for settings the file gives", err)
	}
}

// A bad value is reported naming its setting, and only its setting.
func TestInvalidNamesOnlyTheBadSetting(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_KEYS": "k", "COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	tests := []struct {
		name      string
		args      []string
		want, not string
	}{
		{"zero redis timeout", []string{"-redis-timeout", "0"}, "redis-timeout", "shutdown-timeout"},
		{"negative shutdown timeout", []string{"-shutdown-timeout", "-1s"}, "shutdown-timeout", "redis-timeout"},
		{"negative shutdown delay", []string{"-shutdown-delay", "-1s"}, "shutdown-delay", "shutdown-timeout"},
		{"negative redis wait", []string{"-redis-wait", "-1s"}, "redis-wait", "redis-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, envMap(env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.not) {
				t.Errorf("Load(%q) = %v, want an error naming %s and not %s", tt.args, err, tt.want, tt.not)
			}
		})
	}
}

// TestRedisWait reads -redis-wait from each source: a duration, 0 (do not wait) included.
func TestRedisWait(t *testing.T) {
	file := filepath.Join(t.TempDir(), "commentd.yaml")
	if err := os.WriteFile(file, []byte("redis-wait: 90s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{name: "default", want: 5 * time.Minute},
		{name: "flag", args: []string{"-redis-wait", "30s"}, want: 30 * time.Second},
		{name: "no wait", args: []string{"-redis-wait", "0"}, want: 0},
		{name: "environment", env: map[string]string{"COMMENTD_REDIS_WAIT": "10m"}, want: 10 * time.Minute},
		{name: "config file", args: []string{"-config", file}, want: 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append([]string{"-dev"}, tt.args...), envMap(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("Load(%q, env %v) = %v, want no error", tt.args, tt.env, err)
			}
			if c.RedisWait != tt.want {
				t.Errorf("Load(%q, env %v).RedisWait = %v, want %v", tt.args, tt.env, c.RedisWait, tt.want)
			}
		})
	}
}

// UnknownEnv names the COMMENTD_* variables that set nothing (a misspelt name), and only those.
func TestUnknownEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"settings and others", []string{"PATH=/bin", "COMMENTD_REDIS_URL=redis://r", "COMMENTD_CONFIG=/etc/c.yaml", "COMMENTD_SPAM_RETENTION=48h"}, nil},
		{"misspelt", []string{"COMMENTD_SHUTDOWN_DEALY=5s", "COMMENTD_REDIS_URL=redis://r", "COMMENTD_HASHKEY=c2VjcmV0"}, []string{"COMMENTD_HASHKEY", "COMMENTD_SHUTDOWN_DEALY"}},
		{"test and benchmark variables", []string{"COMMENTD_TEST_REDIS_ADDR=127.0.0.1:1", "COMMENTD_BENCH_NOOP_ADDR=x"}, nil},
		{"empty value", []string{"COMMENTD_GRPC_ADR="}, []string{"COMMENTD_GRPC_ADR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnknownEnv(tt.environ); !slices.Equal(got, tt.want) {
				t.Errorf("UnknownEnv(%q) = %q, want %q", tt.environ, got, tt.want)
			}
		})
	}
}

// A mistyped flag is one line, the error, naming the flag; the usage, a hundred lines that would
// push it off the screen, is printed only when asked for.
func TestFlagErrorIsOneLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"unknown flag", []string{"-dev", "-redis-ulr", "redis://r:6379"}, "-redis-ulr"},
		{"missing value", []string{"-dev", "-keys"}, "-keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var usage bytes.Buffer
			_, err := Load(tt.args, envMap(nil), &usage)
			if err == nil || errors.Is(err, ErrHelp) {
				t.Fatalf("Load(%q) = %v, want a flag error", tt.args, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("Load(%q) error = %q, want one line naming %s", tt.args, msg, tt.want)
			}
			if usage.Len() != 0 {
				t.Errorf("Load(%q) wrote %d bytes of usage, want none:\n%s", tt.args, usage.Len(), usage.String())
			}
		})
	}
	var usage bytes.Buffer
	if _, err := Load([]string{"-h"}, envMap(nil), &usage); !errors.Is(err, ErrHelp) {
		t.Fatalf("Load(-h) = %v, want ErrHelp", err)
	}
	for _, want := range []string{"Usage: commentd", "-redis-url", "COMMENTD_REDIS_URL", "Precedence"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("Load(-h) usage lacks %q:\n%s", want, usage.String())
		}
	}
}

// TestUsageDefaults: -h shows each default the way Go's own flags show theirs. Every setting is
// one flag.Value type, and the flag package printed "(default false)" after every switch that is
// off and "(default default)" for -rate-limits. A duration taken from a constant reads as the
// README writes it, "1h" rather than time.Duration's "1h0m0s".
func TestUsageDefaults(t *testing.T) {
	var usage bytes.Buffer
	if _, err := Load([]string{"-h"}, envMap(nil), &usage); !errors.Is(err, ErrHelp) {
		t.Fatalf("Load(-h) = %v, want ErrHelp", err)
	}
	// The flag package writes "  -name [placeholder]" and then the help on the next line.
	help := map[string]string{}
	lines := strings.Split(usage.String(), "\n")
	for i, line := range lines[:len(lines)-1] {
		if name, ok := strings.CutPrefix(line, "  -"); ok {
			name, _, _ = strings.Cut(name, " ")
			help[name] = lines[i+1]
		}
	}
	tests := []struct {
		flag string
		want string // the default as shown; "" for none
	}{
		{flag: "dev"},
		{flag: "accept-data-loss"},
		{flag: "pprof"},
		{flag: "keys"},
		{flag: "spam-hold-author-spam", want: "(default true)"},
		{flag: "rate-limits", want: `(default "default")`},
		{flag: "log-level", want: `(default "info")`},
		{flag: "grpc-addr", want: `(default ":7070")`},
		{flag: "shutdown-timeout", want: "(default 15s)"},
		{flag: "max-body-chars", want: "(default 5000)"},
		{flag: "spam-hold-at", want: "(default 0)"},
		{flag: "spam-campaign-window", want: "(default 1h)"},
		{flag: "spam-retention", want: "(default 360h)"},
		{flag: "redis-wait", want: "(default 5m)"},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			line, ok := help[tt.flag]
			if !ok {
				t.Fatalf("Load(-h) usage has no -%s:\n%s", tt.flag, usage.String())
			}
			_, got, _ := strings.Cut(line, "(default ")
			if got != "" {
				got = "(default " + got
			}
			if got != tt.want {
				t.Errorf("Load(-h) shows -%s's default as %q, want %q; line: %q", tt.flag, got, tt.want, line)
			}
		})
	}
}

// TestKeyEncodingHint: a refused secret key is told what encoding commentd reads and how to make
// a key, and a hex key (64 digits, 48 bytes when read as base64) is called hex: "want 32 bytes,
// got 48" alone sent operators looking for a key of another length. The message is what this
// is about, so it is checked, and it must never hold the key.
func TestKeyEncodingHint(t *testing.T) {
	hexKey := strings.Repeat("0123456789abcdef", 4)
	good := privacy.EncodeSecret(privacy.NewSecret())
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		secret  string // must not appear in the error
		wantHex bool
	}{
		{name: "hex hash key flag", args: []string{"-hash-key", hexKey, "-encryption-keys", "k1:" + good}, secret: hexKey, wantHex: true},
		{name: "hex hash key in the environment", env: map[string]string{"COMMENTD_HASH_KEY": hexKey, "COMMENTD_ENCRYPTION_KEYS": "k1:" + good}, secret: hexKey, wantHex: true},
		{name: "hex encryption key second in the list", env: map[string]string{"COMMENTD_HASH_KEY": good, "COMMENTD_ENCRYPTION_KEYS": "k1:" + good + ",k2:" + strings.ToUpper(hexKey)}, secret: strings.ToUpper(hexKey), wantHex: true},
		{name: "short base64 hash key", args: []string{"-hash-key", "c2VjcmV0", "-encryption-keys", "k1:" + good}, secret: "c2VjcmV0"},
		{name: "encryption key not base64", args: []string{"-hash-key", good, "-encryption-keys", "k1:s3cr3t!"}, secret: "s3cr3t!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(append([]string{"-keys", "k"}, tt.args...), envMap(tt.env), io.Discard)
			if err == nil {
				t.Fatalf("Load(%q, env %v) = nil error, want the key refused", tt.args, tt.env)
			}
			msg := err.Error()
			if !strings.Contains(msg, "base64") || !strings.Contains(msg, "openssl rand -base64 32") {
				t.Errorf("Load(%q, env %v) = %q, want it to say keys are base64 and how to make one (openssl rand -base64 32)", tt.args, tt.env, msg)
			}
			if got := strings.Contains(msg, "hex"); got != tt.wantHex {
				t.Errorf("Load(%q, env %v) = %q; says hex: %v, want %v", tt.args, tt.env, msg, got, tt.wantHex)
			}
			if strings.Contains(msg, tt.secret) {
				t.Errorf("Load(%q, env %v) = %q, which holds the key", tt.args, tt.env, msg)
			}
		})
	}
}

// A variable set to "" counts as unset, as README says: the file's value stays in force. A flag
// given "" does set its setting, which is how the file's list is cleared from the command line.
func TestEmptyEnvIsUnset(t *testing.T) {
	file := writeConfig(t, "abuse-trusted-ranges: [10.0.0.0/8]\nabuse-fail-open: true\n")
	env := map[string]string{"COMMENTD_ABUSE_FAIL_OPEN": "", "COMMENTD_ABUSE_TRUSTED_RANGES": ""}
	c, err := Load([]string{"-dev", "-config", file}, envMap(env), io.Discard)
	if err != nil {
		t.Fatalf("Load(file, variables set to \"\") = %v", err)
	}
	if !c.Abuse.FailOpen || !slices.Equal(c.Abuse.TrustedRanges, []string{"10.0.0.0/8"}) {
		t.Errorf("Load(file, variables set to \"\"): fail-open %v, trusted ranges %q; want the file's true and [10.0.0.0/8]", c.Abuse.FailOpen, c.Abuse.TrustedRanges)
	}
	c, err = Load([]string{"-dev", "-config", file, "-abuse-trusted-ranges", ""}, envMap(nil), io.Discard)
	if err != nil {
		t.Fatalf("Load(file, -abuse-trusted-ranges \"\") = %v", err)
	}
	if len(c.Abuse.TrustedRanges) != 0 {
		t.Errorf("Load(file, -abuse-trusted-ranges \"\"): trusted ranges %q, want none", c.Abuse.TrustedRanges)
	}
}
