package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// resealRun is one run of the commentd binary's reseal command.
type resealRun struct {
	stdout, stderr string
	exit           int
}

// keyCounts reads the "KEY VALUES" table that follows title in a reseal report.
func (r resealRun) keyCounts(t *testing.T, title string) map[string]int {
	t.Helper()
	_, section, ok := strings.Cut(r.stdout, title)
	if !ok {
		t.Fatalf("reseal output has no %q section:\n%s%s", title, r.stdout, r.stderr)
	}
	section, _, _ = strings.Cut(section, "\n\n")
	counts := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^  (\S+)\s+(\d+)`).FindAllStringSubmatch(section, -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] = n
	}
	return counts
}

// TestResealEndToEnd rotates the encryption key of a store the commentd binary filled: reseal
// run as an operator would (the servers' config file and environment), with the old key first
// missing, then kept second, then gone; and a server holding the new key alone shows moderators
// every comment's masked address. No output of the job holds an address or a sealed value.
func TestResealEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	prefix := redistest.Prefix(t)
	k1, k2 := privacy.EncodeSecret(privacy.NewSecret()), privacy.EncodeSecret(privacy.NewSecret())
	hash := privacy.EncodeSecret(privacy.NewSecret())
	common := []string{"-redis-prefix", prefix, "-hash-key", hash, "-rate-limits", "off"}
	s1 := startCommentd(t, rs.Addr, append(common, "-encryption-keys", "k1:"+k1)...)
	submit := s1.submitter(t, "e2e-reseal")
	type sent struct{ id, email, ip string }
	var comments []sent
	for i := range 5 {
		email, ip := fmt.Sprintf("rotated.reader%d@example.org", i), fmt.Sprintf("198.51.100.%d", 50+i)
		if i%2 == 1 {
			ip = fmt.Sprintf("2001:db8:77::%d", 50+i)
		}
		c, err := submit(email, ip, fmt.Sprintf("comment number %d about the rotation", i))
		if err != nil {
			t.Fatalf("SubmitComment(%d): %v", i, err)
		}
		comments = append(comments, sent{c.GetId(), email, ip})
	}
	values := 2 * len(comments)

	bin, _ := binaries(t)
	cfgFile := writeConfig(t, fmt.Sprintf("redis-url: redis://%s\nredis-prefix: %q\n", rs.Addr, prefix))
	var output strings.Builder // everything the job printed, for the leak check
	reseal := func(keys string, args ...string) resealRun {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"reseal"}, args...)...)
		cmd.Env = append(os.Environ(), "COMMENTD_CONFIG="+cfgFile, "COMMENTD_ENCRYPTION_KEYS="+keys, "COMMENTD_HASH_KEY="+hash)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := resealRun{stdout: stdout.String(), stderr: stderr.String()}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			r.exit = exit.ExitCode()
		case err != nil:
			t.Fatalf("commentd reseal %v: %v", args, err)
		}
		output.WriteString(r.stdout + r.stderr)
		return r
	}
	rdb := redistest.Client(t, rs.Addr)
	var sealed []string // every sealed value the store held at some point
	readSealed := func() {
		keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if v, err := rdb.HMGet(context.Background(), k, "email_sealed", "ip_sealed").Result(); err == nil {
				for _, s := range v {
					if s, ok := s.(string); ok {
						sealed = append(sealed, s)
					}
				}
			}
		}
	}
	readSealed()
	if len(sealed) != values {
		t.Fatalf("the store holds %d sealed values, want %d (an email and an IP per comment)", len(sealed), values)
	}

	// The new key alone, too early: every value is reported, none is written, and the exit says so.
	r := reseal("k2:" + k2)
	if r.exit != 1 {
		t.Errorf("commentd reseal with k1 missing exited %d, want 1\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if got := r.keyCounts(t, "Sealed values by key, before:"); got["k1"] != values || got["k2"] != 0 {
		t.Errorf("commentd reseal with k1 missing counted %v, want k1 %d, k2 0", got, values)
	}
	for _, c := range comments {
		if strings.Count(r.stdout, c.id) != 2 || !strings.Contains(r.stdout, "sealed with a key not in -encryption-keys") {
			t.Errorf("commentd reseal with k1 missing does not report both values of comment %s as sealed with a missing key:\n%s", c.id, r.stdout)
		}
	}

	// The rotation: the new key first, the old one kept.
	r = reseal("k2:"+k2+",k1:"+k1, "-dry-run")
	if got := r.keyCounts(t, "(dry run: nothing written):"); r.exit != 0 || got["k1"] != values || got["k2"] != 0 {
		t.Errorf("commentd reseal -dry-run = exit %d, counts %v; want 0, k1 %d, k2 0\n%s%s", r.exit, got, values, r.stdout, r.stderr)
	}
	r = reseal("k2:" + k2 + ",k1:" + k1)
	before, after := r.keyCounts(t, "Sealed values by key, before:"), r.keyCounts(t, "Sealed values by key, after:")
	if r.exit != 0 || before["k1"] != values || after["k1"] != 0 || after["k2"] != values || !strings.Contains(r.stdout, fmt.Sprintf("Re-sealed with k2: %d values.", values)) {
		t.Errorf("commentd reseal = exit %d, before %v, after %v; want 0, k1 %d before, k2 %d after, all re-sealed\n%s%s", r.exit, before, after, values, values, r.stdout, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^  k1\s+0\s+no stored value needs it$`).MatchString(r.stdout) {
		t.Errorf("commentd reseal's report does not say k1 is no longer needed:\n%s", r.stdout)
	}
	r = reseal("k2:" + k2 + ",k1:" + k1)
	if r.exit != 0 || !strings.Contains(r.stdout, "Re-sealed with k2: 0 values.") {
		t.Errorf("second commentd reseal = exit %d, want 0 and nothing re-sealed\n%s%s", r.exit, r.stdout, r.stderr)
	}
	readSealed()

	// The old key removed: everything opens with the new one alone.
	r = reseal("k2:"+k2, "-dry-run")
	if got := r.keyCounts(t, "(dry run: nothing written):"); r.exit != 0 || got["k2"] != values || len(got) != 1 {
		t.Errorf("commentd reseal -dry-run with k2 alone = exit %d, counts %v; want 0, k2 %d only\n%s%s", r.exit, got, values, r.stdout, r.stderr)
	}
	s2 := startCommentd(t, rs.Addr, append(common, "-encryption-keys", "k2:"+k2)...)
	for _, c := range comments {
		shown := s2.ctl(t, "show", c.id, "-o", "json")
		if masked := privacy.MaskEmail(c.email); !strings.Contains(shown, masked) {
			t.Errorf("commentctl show %s on a server with k2 alone lacks the masked email %q:\n%s", c.id, masked, shown)
		}
	}

	out := output.String()
	if !strings.Contains(out, `"msg":"reseal: done"`) {
		t.Errorf("commentd reseal logged no completion line:\n%s", out)
	}
	for _, c := range comments {
		for _, secret := range []string{strings.Split(c.email, "@")[0], c.ip} {
			if strings.Contains(out, secret) {
				t.Errorf("commentd reseal's output holds %q", secret)
			}
		}
	}
	for _, s := range sealed {
		if strings.Contains(out, s) || strings.Contains(out, s[strings.IndexByte(s, ':')+1:]) {
			t.Errorf("commentd reseal's output holds a sealed value")
		}
	}
}

// TestResealCommandLine: the command's place on the command line, its settings and what it
// refuses, through run as main calls it.
func TestResealCommandLine(t *testing.T) {
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string // part of the error; "" for none
	}{
		{"the command after a flag", []string{"-redis-url", "redis://127.0.0.1:1", "reseal"}, "the command goes first"},
		{"-dev", []string{"reseal", "-dev"}, "-dev's embedded Redis starts empty"},
		{"an unknown argument", []string{"reseal", "now"}, `unexpected argument "now"`},
		{"no encryption key", []string{"reseal", "-encryption-keys", ""}, "encryption-keys: required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr, envList(env), nil, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error saying %q", tt.args, err, tt.wantErr)
			}
		})
	}
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"reseal", "-h"}, &bytes.Buffer{}, &stderr, envList(env), nil, nil, nil)
	if !errors.Is(err, config.ErrHelp) || !strings.Contains(stderr.String(), "Usage: commentd reseal [-dry-run]") || !strings.Contains(stderr.String(), "-dry-run") {
		t.Errorf("run(reseal -h) = %v with usage:\n%s\nwant config.ErrHelp and the reseal usage with -dry-run", err, stderr.String())
	}
}
