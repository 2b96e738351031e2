//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// buildCommentctl builds the commentctl binary, as users run it: what a linked library does
// before main runs shows only there.
func buildCommentctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "commentctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build commentctl: %v\n%s", err, out)
	}
	return bin
}

// TestCommandAsksTerminalNothing runs commentctl on a pseudo-terminal that answers no query, as
// some terminals, and scripts driving one, do not. A command that needs nothing from the terminal
// must not ask it anything: a question unanswered is a wait (seconds, with a library that asks its
// background colour before main runs), and an answer that comes late is read as typed input.
func TestCommandAsksTerminalNothing(t *testing.T) {
	t.Parallel()
	bin := buildCommentctl(t)

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	home := t.TempDir()
	cmd := exec.Command(bin, "keygen", "--name", "x", "--role", "site")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// A terminal that takes queries (screen, tmux and dumb ones are never asked), and no config of
	// the user running the test.
	cmd.Env = append(withoutEnv(os.Environ(), "TERM", "HOME", "XDG_CONFIG_HOME", "NO_COLOR"),
		"TERM=xterm-256color", "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	// The terminal is the command's controlling terminal, as in a login session.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start commentctl keygen on a pseudo-terminal: %v", err)
	}
	tty.Close() // the child has its own copy; with it gone, reads end when the child exits

	// Read what the command writes to the terminal, never answering, until the terminal closes.
	read := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		_, err := io.Copy(&b, ptmx)
		// Linux reports the other end closing as EIO.
		if err != nil && !errors.Is(err, syscall.EIO) {
			fmt.Fprintf(&b, "\n[read error: %v]", err)
		}
		read <- b.Bytes()
	}()
	waitErr := cmd.Wait()
	out := <-read

	if waitErr != nil {
		t.Fatalf("commentctl keygen --name x --role site on a silent terminal: %v; output %q", waitErr, out)
	}
	if !bytes.Contains(out, []byte("x site ")) {
		t.Errorf("commentctl keygen --name x --role site: output %q; want the keys-file line \"x site …\"", out)
	}
	for _, query := range []struct{ name, seq string }{
		{"background colour (OSC 11)", "\x1b]11;?"},
		{"cursor position (DSR)", "\x1b[6n"},
	} {
		if bytes.Contains(out, []byte(query.seq)) {
			t.Errorf("commentctl keygen on a terminal: wrote a %s query %q; want no query: output %q", query.name, query.seq, out)
		}
	}
}

// withoutEnv returns env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			if name == n {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
