package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// docCommand is one commentctl command line the docs print, and where.
type docCommand struct {
	where string   // file:line
	words []string // the words after "commentctl"
}

// documentedCommands collects the commentctl command lines of README.md and docs/*.md: the lines
// of code blocks that run commentctl ("commentctl ...", "$ commentctl ...", "./commentctl ...",
// "TOKEN=$(commentctl ...", "source <(commentctl ..."), and inline code that starts with
// "commentctl ". A line ends at a shell comment, pipe, redirection or the end of a command
// substitution.
func documentedCommands(t *testing.T) []docCommand {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	start := regexp.MustCompile(`^\s*(?:\$ |source <\(|[A-Z_]+=\$\()?(?:go run \./cmd/|\./)?commentctl(?:\s|$)`)
	inline := regexp.MustCompile("`(?:\\./)?commentctl ([^`]*)`")
	var cmds []docCommand
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		inBlock := false
		for i, line := range strings.Split(string(raw), "\n") {
			where := filepath.Base(file) + ":" + strconv.Itoa(i+1)
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inBlock = !inBlock
				continue
			}
			if inBlock {
				loc := start.FindStringIndex(line)
				if loc == nil {
					continue
				}
				_, rest, _ := strings.Cut(line[loc[0]:], "commentctl")
				cmds = append(cmds, docCommand{where: where, words: shellWords(rest)})
				continue
			}
			for _, m := range inline.FindAllStringSubmatch(line, -1) {
				cmds = append(cmds, docCommand{where: where, words: shellWords(m[1])})
			}
		}
	}
	return cmds
}

// shellWords splits a documented command into words the way a shell would, closely enough for
// flag names: quotes group, and the words stop at a comment, a pipe, a redirection or a ")".
// Square brackets (optional parts of a synopsis) are dropped.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	rs := []rune(s)
	for i, r := range rs {
		// "<" redirects ("< file", "<(cmd)"), but "<ID>" is a placeholder word.
		redirect := r == '<' && !inWord && (i+1 == len(rs) || rs[i+1] == ' ' || rs[i+1] == '(')
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord, r == '|' && !inWord, r == '>' && !inWord, redirect, r == ')', r == ';':
			if inWord {
				words = append(words, cur.String())
			}
			return words
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '[' || r == ']':
		default: // "<ID>" included: only the flags matter
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestDocumentedCommandsExist: every commentctl command the README and docs/ print names a command
// commentctl has, and every flag in it is a flag of that command, so a reader who copies one is
// not told "unknown command" or "unknown flag". A synopsis such as "approve|reject ID..." is
// checked for each alternative.
func TestDocumentedCommandsExist(t *testing.T) {
	cmds := documentedCommands(t)
	if len(cmds) < 50 {
		t.Fatalf("found %d commentctl command lines in README.md and docs/*.md; the parser lost them", len(cmds))
	}
	root := (&cli{}).rootCmd()
	for _, dc := range cmds {
		for _, words := range expandAlternatives(dc.words) {
			checkDocumentedCommand(t, root, dc.where, words)
		}
	}
}

// expandAlternatives turns a leading "a|b|c" word (a synopsis' choice of commands) into one
// command line per alternative.
func expandAlternatives(words []string) [][]string {
	for i, w := range words {
		if strings.HasPrefix(w, "-") {
			break
		}
		if strings.Contains(w, "|") {
			var out [][]string
			for _, alt := range strings.Split(w, "|") {
				line := append(append(append([]string{}, words[:i]...), alt), words[i+1:]...)
				out = append(out, expandAlternatives(line)...)
			}
			return out
		}
	}
	return [][]string{words}
}

func checkDocumentedCommand(t *testing.T, root *cobra.Command, where string, words []string) {
	t.Helper()
	cmd, next := root, ""
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			break
		}
		sub := findSub(cmd, w)
		if sub == nil {
			next = w
			break
		}
		cmd = sub
	}
	line := "commentctl " + strings.Join(words, " ")
	// A command that only groups others (root, thread, filters, bulk) takes any arguments, to
	// name a mistyped one in its own error: a word after it that is none of its commands is one.
	if cmd.HasSubCommands() && next != "" && next != "..." && sameFunc(cmd.Args, cobra.ArbitraryArgs) {
		t.Errorf("%s: %q: %q has no command %q", where, line, cmd.CommandPath(), next)
	}
	for _, w := range words {
		name, ok := flagName(w)
		if !ok {
			continue
		}
		var found bool
		if len(name) == 1 {
			found = cmd.Flags().ShorthandLookup(name) != nil || cmd.InheritedFlags().ShorthandLookup(name) != nil
		} else {
			found = cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
		}
		if !found && name != "help" && name != "h" {
			t.Errorf("%s: %q: %q has no flag %q", where, line, cmd.CommandPath(), w)
		}
	}
}

// sameFunc reports whether a and b are the same function.
func sameFunc(a, b cobra.PositionalArgs) bool {
	return a != nil && reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

// findSub returns cmd's subcommand called name (or with that alias), or nil.
func findSub(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

// flagName returns the name of the flag a word sets: "--state" and "--closed=false" give "state"
// and "closed", "-o" gives "o". "-" (stdin) and "--" are none.
func flagName(w string) (string, bool) {
	switch {
	case strings.HasPrefix(w, "--") && len(w) > 2:
		name, _, _ := strings.Cut(w[2:], "=")
		return name, true
	case strings.HasPrefix(w, "-") && len(w) == 2:
		return w[1:], true
	}
	return "", false
}
