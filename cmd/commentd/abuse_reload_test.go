package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// reloadRig is commentd's abuse controls on a real Redis, built from a config file as run builds
// them, with the reload SIGHUP runs.
type reloadRig struct {
	t    *testing.T
	file string
	ab   *abuse
	rc   *configReload
	reg  *prometheus.Registry
	log  *syncBuffer
}

// newReloadRig writes text as the config file and builds the abuse controls from it and flags.
func newReloadRig(t *testing.T, text string, flags ...string) *reloadRig {
	t.Helper()
	ctx := context.Background()
	r := &reloadRig{t: t, file: filepath.Join(t.TempDir(), "commentd.yaml"), reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	r.write(text)
	args := append([]string{"-dev", "-config", r.file}, flags...)
	load := func() (*config.Config, error) {
		return config.Load(args, func(string) string { return "" }, io.Discard)
	}
	cfg, err := load()
	if err != nil {
		t.Fatalf("config.Load(%q): %v", args, err)
	}
	store, err := redisstore.New(ctx, redistest.Client(t, redistest.Shared(t)), redisstore.Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	keys, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(r.log, nil))
	r.ab, err = buildAbuse(ctx, cfg, store, keys, newAbuseMetrics(r.reg, cfg.Abuse.Rules), log)
	if err != nil {
		t.Fatalf("buildAbuse: %v", err)
	}
	r.rc = &configReload{load: load, started: cfg, current: cfg, abuse: r.ab, log: log, reloaded: newReloadMetric(r.reg, cfg)}
	return r
}

// reloadedOK reads commentd_reload_last_successful{file="config"}.
func (r *reloadRig) reloadedOK() float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "commentd_reload_last_successful" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if l := m.GetLabel(); len(l) == 1 && l[0].GetValue() == reloadConfig {
				return m.GetGauge().GetValue()
			}
		}
	}
	r.t.Fatalf("no commentd_reload_last_successful{file=%q} series", reloadConfig)
	return 0
}

func (r *reloadRig) write(text string) {
	r.t.Helper()
	if err := os.WriteFile(r.file, []byte(text), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// reloadWith writes text as the config file and reloads it, as SIGHUP does.
func (r *reloadRig) reloadWith(text string) {
	r.t.Helper()
	r.write(text)
	r.rc.reload()
}

// screen runs the abuse check on a submission by email, and returns its verdict (with the refund
// of what it counted in Undo) and the refusing rule's name, "" when it passed.
func (r *reloadRig) screen(email, body string) (comment.Verdict, string) {
	r.t.Helper()
	d, err := comment.Limits{}.Validate(comment.Submission{ThreadID: "reload", AuthorName: "A Reader", AuthorEmail: email, ClientIP: "192.0.2.7", Body: body})
	if err != nil {
		r.t.Fatal(err)
	}
	var v comment.Verdict
	err = r.ab.screener.Screen(context.Background(), &d, &v)
	var limit *ratelimit.LimitError
	switch {
	case errors.As(err, &limit):
		return v, limit.Rule
	case err != nil:
		r.t.Fatalf("Screen(%q by %s): %v", body, email, err)
	}
	return v, ""
}

// lines returns the rig's log lines whose msg is msg.
func (r *reloadRig) lines(msg string) []map[string]any {
	r.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(r.log.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			r.t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// series reports whether metric has a series labelled rule=name.
func (r *reloadRig) series(metric, name string) bool {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" && l.GetValue() == name {
					return true
				}
			}
		}
	}
	return false
}

const (
	looseRule = `rate-limits:
  - name: per-author
    key: author
    rate: 10/h
    burst: 10
`
	tightRule = `rate-limits:
  - name: per-author
    key: author
    rate: 1/h
    burst: 1
`
)

// TestReloadAbuseRules: a reload puts the file's rules in force for the next submission, keeping a
// rule's counts by name; a rule tightened refuses, loosened lets through; a new rule's metric
// series appears, and the log says what changed.
func TestReloadAbuseRules(t *testing.T) {
	t.Parallel()
	r := newReloadRig(t, looseRule)
	for _, body := range []string{"one", "two"} {
		if _, rule := r.screen("ann@example.com", body); rule != "" {
			t.Fatalf("submission %q under 10/h, burst 10: refused by %s, want accepted", body, rule)
		}
	}

	// Tightened: the two comments counted under the old rate are the rule's state, by its name.
	r.reloadWith(tightRule + `  - name: trial-ip
    key: ip
    rate: 1/h
    shadow: true
`)
	if _, rule := r.screen("ann@example.com", "three"); rule != "per-author" {
		t.Errorf("third submission after the rule was tightened to 1/h, burst 1: refused by %q, want per-author", rule)
	}
	if _, rule := r.screen("bob@example.com", "hello"); rule != "" {
		t.Errorf("another author's first submission after the reload: refused by %q, want accepted", rule)
	}
	if !r.series("commentd_abuse_shadow_refusals_total", "trial-ip") {
		t.Errorf("no commentd_abuse_shadow_refusals_total{rule=\"trial-ip\"} series after the reload added the shadow rule")
	}
	done := r.lines("reload: abuse controls reloaded")
	if len(done) != 1 {
		t.Fatalf("%d \"reload: abuse controls reloaded\" log lines, want 1\n%s", len(done), r.log)
	}
	want := map[string]any{
		"changed":       []any{"rate-limits"},
		"rules_added":   []any{"trial-ip: 1/h per ip, burst 1, shadow"},
		"rules_removed": []any{},
		"rules_changed": []any{"per-author: 10/h per author, burst 10 -> per-author: 1/h per author, burst 1"},
	}
	for k, v := range want {
		if got, _ := json.Marshal(done[0][k]); string(got) != mustJSON(t, v) {
			t.Errorf("reload log line %s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
	controls := r.lines("abuse controls")
	if len(controls) != 2 || !slices.Contains(controls[1]["rules"].([]any), any("trial-ip: 1/h per ip, burst 1, shadow")) {
		t.Errorf("abuse controls log lines %v, want the start-up one and one after the reload listing the shadow rule", controls)
	}

	// Loosened: let through again.
	r.reloadWith(looseRule)
	if _, rule := r.screen("ann@example.com", "four"); rule != "" {
		t.Errorf("submission after the rule was loosened back to 10/h, burst 10: refused by %s, want accepted", rule)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReloadAbuseInvalidFile: a file that does not parse or validate, or holds no setting at all,
// changes nothing: the ERROR line says why, and the rules in force stay.
func TestReloadAbuseInvalidFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, text string }{
		{"not YAML", "rate-limits: [\n"},
		{"a rule that does not validate", "rate-limits:\n  - name: per-author\n    key: author\n    rate: fast\n"},
		{"an unknown key", tightRule + "rate-limit-typo: 1\n"},
		{"another setting that does not validate", tightRule + "max-body-chars: 0\n"},
		// Caught while an editor or a deploy tool writes it: read as every default, it would put
		// the built-in rules in force and drop the trusted lists and the ban style.
		{"an empty file", ""},
		{"a file of comments and blank lines only", "# rate limits\n\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReloadRig(t, tightRule)
			if _, rule := r.screen("ann@example.com", "one"); rule != "" {
				t.Fatalf("first submission under 1/h: refused by %s", rule)
			}
			r.reloadWith(tt.text)
			if got := r.lines("reload: config file not reloaded; the abuse controls in force stay"); len(got) != 1 || got[0]["level"] != "ERROR" || got[0]["error"] == "" {
				t.Errorf("reload of a broken file: error lines %v, want one ERROR line with the reason\n%s", got, r.log)
			}
			if n := len(r.lines("reload: abuse controls reloaded")); n != 0 {
				t.Errorf("reload of a broken file logged %d \"abuse controls reloaded\" lines, want none", n)
			}
			if _, rule := r.screen("ann@example.com", "two"); rule != "per-author" {
				t.Errorf("second submission after a broken file's reload: refused by %q, want per-author (the rule in force stays)", rule)
			}
			if got := r.reloadedOK(); got != 0 {
				t.Errorf("commentd_reload_last_successful{file=\"config\"} after a broken file's reload = %v, want 0", got)
			}
			// Fixed, the file is put in force, and the metric says so.
			r.reloadWith(looseRule)
			if got := r.reloadedOK(); got != 1 {
				t.Errorf("commentd_reload_last_successful{file=\"config\"} after the file was fixed and reloaded = %v, want 1", got)
			}
		})
	}
}

// TestReloadAbuseFlagsOverride: flags override the file on reload exactly as at start, and the
// settings outside the abuse controls keep their start-up values, with a WARN naming them (never
// a secret's value).
func TestReloadAbuseFlagsOverride(t *testing.T) {
	t.Parallel()
	r := newReloadRig(t, looseRule, "-rate-limits", "off", "-duplicate-window", "0")
	r.reloadWith(tightRule + "duplicate-window: 1h\nban-style: shadow\nredis-url: redis://app:s3cret@192.0.2.1:6379\nmax-body-chars: 100\n")
	for _, body := range []string{"same", "same", "same"} {
		if _, rule := r.screen("ann@example.com", body); rule != "" {
			t.Errorf("submission under -rate-limits off after a reload of a file with a 1/h rule: refused by %s, want accepted", rule)
		}
	}
	done := r.lines("reload: abuse controls reloaded")
	if len(done) != 1 || mustJSON(t, done[0]["changed"]) != `["ban-style"]` {
		t.Errorf("reload log lines %v, want one with changed [ban-style] (the flags hide the rest)", done)
	}
	warn := r.lines("reload: the config file changes settings that only a restart puts in force; they keep their start-up values")
	if len(warn) != 1 || warn[0]["level"] != "WARN" || mustJSON(t, warn[0]["settings"]) != `["redis-url","max-body-chars"]` {
		t.Errorf("reload's WARN lines %v, want one naming redis-url and max-body-chars", warn)
	}
	if strings.Contains(r.log.String(), "s3cret") {
		t.Errorf("the log shows the Redis password of the reloaded file:\n%s", r.log)
	}
}

// TestReloadAbuseRefundAcrossSwap: a submission counted before a reload and refused by a later
// step after it is given back what the old rule took: the interval it was counted by, not the new
// rule's. Given back the new rule's (a minute), an hour's count would stay nearly whole and the
// next submission under the new 1/m, burst 1 would be refused.
func TestReloadAbuseRefundAcrossSwap(t *testing.T) {
	t.Parallel()
	r := newReloadRig(t, tightRule)
	v, rule := r.screen("ann@example.com", "counted under the old rule")
	if rule != "" || len(v.Undo) == 0 {
		t.Fatalf("first submission under 1/h: refused by %q, %d undo hooks; want accepted, with a refund", rule, len(v.Undo))
	}
	r.reloadWith(strings.Replace(tightRule, "1/h", "1/m", 1))
	for _, undo := range v.Undo {
		undo(context.Background()) // the comment store refused it (the thread closed, say)
	}
	if _, rule := r.screen("ann@example.com", "after the refund"); rule != "" {
		t.Errorf("submission after the refund of the only one counted, under the reloaded 1/m, burst 1: refused by %s, want accepted (the rule's state given back whole)", rule)
	}
	if _, rule := r.screen("ann@example.com", "and again"); rule != "per-author" {
		t.Errorf("second submission within the minute under 1/m, burst 1: refused by %q, want per-author", rule)
	}
}

// TestReloadWithoutConfigFile: with no config file there is nothing to read again; the log says so.
func TestReloadWithoutConfigFile(t *testing.T) {
	t.Parallel()
	r := newReloadRig(t, tightRule)
	started := *r.rc.started
	started.ConfigFile = ""
	r.rc.started = &started
	r.rc.reload()
	if n := len(r.lines("reload: no config file to read (-config is not set); abuse controls unchanged")); n != 1 {
		t.Errorf("reload without a config file: %d lines saying so, want 1\n%s", n, r.log)
	}
}

// TestReloadBanStyle: a reload to shadow bans changes both the submissions' answer (accepted,
// stored rejected) and CheckComment's (silent about the ban), as at start.
func TestReloadBanStyle(t *testing.T) {
	t.Parallel()
	r := newReloadRig(t, "ban-style: refuse\n")
	target, err := r.ab.bans.EmailTarget("email", "troll@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ab.bans.Ban(context.Background(), ratelimit.BanRequest{Target: target, Moderator: "mod", Reason: "abuse"}); err != nil {
		t.Fatalf("Ban(troll@example.com): %v", err)
	}
	d, err := comment.Limits{}.Validate(comment.Submission{ThreadID: "reload", AuthorName: "Troll", AuthorEmail: "troll@example.com", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ab.checkBans.CheckBan(context.Background(), &d); !errors.Is(err, ratelimit.ErrBanned) {
		t.Errorf("CheckBan of a banned author under ban-style refuse = %v, want %v", err, ratelimit.ErrBanned)
	}

	r.reloadWith("ban-style: shadow\n")
	if err := r.ab.checkBans.CheckBan(context.Background(), &d); err != nil {
		t.Errorf("CheckBan of a banned author after a reload to ban-style shadow = %v, want nil (silent)", err)
	}
	var v comment.Verdict
	if err := r.ab.screener.Screen(context.Background(), &d, &v); err != nil || len(v.Reject) != 1 || v.Reject[0].Code != ratelimit.ReasonBanned {
		t.Errorf("Screen of a banned author after a reload to ban-style shadow = %v, reject %+v; want accepted, rejected %s", err, v.Reject, ratelimit.ReasonBanned)
	}
}
