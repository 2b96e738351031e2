package main

import "github.com/charmbracelet/x/term"

// fder is what *os.File offers to reach the descriptor under a stream.
type fder interface{ Fd() uintptr }

// isTerminal reports whether stream (a reader or writer run was given) is an interactive terminal.
// Anything that is not a file, such as a buffer in a test or a pipe, is not.
func isTerminal(stream any) bool {
	f, ok := stream.(fder)
	return ok && term.IsTerminal(f.Fd())
}

// useColor reports whether output to w may carry colours and styles: only on a terminal, and not
// when the user asked for none (NO_COLOR, see no-color.org) or the terminal cannot show them.
func useColor(w any, env func(string) string) bool {
	if env("NO_COLOR") != "" || env("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}
