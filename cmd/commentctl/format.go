package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// jsonOptions is how every message is encoded for -o json. It keeps fields whose value is zero
// (a count of 0, an empty reason): protojson leaves them out by default, and a script reading a
// field would find null or nothing where the answer is 0. Unset messages stay out.
var jsonOptions = protojson.MarshalOptions{EmitDefaultValues: true}

// writeJSON prints a response as protojson, one document followed by a newline.
func writeJSON(w io.Writer, m proto.Message) error {
	opts := jsonOptions
	opts.Multiline, opts.Indent = true, "  "
	b, err := opts.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s as json: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// clean makes text written by readers safe to print on a moderator's terminal: control characters
// (escape sequences could rewrite the screen or hide text) become spaces, invalid UTF-8 becomes
// U+FFFD. Newlines are kept only when keepNewlines is set.
func clean(s string, keepNewlines bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // invalid UTF-8 comes out of range as U+FFFD
		switch {
		case r == '\n' && keepNewlines:
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || isBidiControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidiControl reports the bidirectional overrides and isolates that can make text read in a
// different order than it is stored.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// oneLine cleans s and folds all whitespace runs, newlines included, into single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(clean(s, false)), " ")
}

// truncate shortens s to at most n columns of a terminal, marking a cut with "…". It measures what
// the terminal shows, not characters: a Chinese character or an emoji takes two columns, a
// combining accent none; and it cuts only between whole characters as a reader sees them, so an
// emoji made of several code points is never left in pieces.
func truncate(s string, n int) string {
	if ansi.StringWidth(s) <= n {
		return s
	}
	return strings.TrimRight(ansi.Truncate(s, n-1, ""), " ") + "…"
}

// padRight pads s with spaces to n columns of a terminal (see truncate); fmt's %-*s counts
// characters instead.
func padRight(s string, n int) string {
	return s + strings.Repeat(" ", max(n-ansi.StringWidth(s), 0))
}

// writeNoEntries is what a list command prints as its table when the list is empty, so that a
// moderator can tell an empty list from a header whose rows went missing. JSON output is the empty
// list instead.
func writeNoEntries(w io.Writer) error {
	_, err := fmt.Fprintln(w, "No entries.")
	return err
}

// table lays out rows in columns two spaces apart, each as wide as its widest cell on a terminal.
// text/tabwriter counts one column per character, so a row with a name in Chinese or an emoji in
// its text pushed every later column out of line. The last column is not padded.
type table struct {
	rows [][]string
}

// row adds one row; cells must already be one clean line each (see cell).
func (t *table) row(cells ...string) {
	t.rows = append(t.rows, cells)
}

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], ansi.StringWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(padRight(c, widths[i]+2))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// humanAge says how long ago something happened, in the largest whole unit: 45s, 3m, 2h, 4d.
func humanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s" // the server's clock is ahead of ours
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// humanUntil says how long until something happens, in the largest unit like humanAge, but rounded
// to the nearest unit rather than down: a ban made for 72h a moment ago ends in 71h59m59s, which
// humanAge calls 2d. Nearest errs by at most half a unit either way, where rounding up would turn
// 4h01m into 5h; the exact time is printed beside it where it matters. The unit is picked again
// after rounding, so 23h59m59s reads 1d, not 24h.
func humanUntil(d time.Duration) string {
	for _, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if d >= unit {
			return humanAge(d.Round(unit))
		}
	}
	return humanAge(d.Round(time.Second))
}

// age is humanAge of a timestamp, or "-" when it is unset.
func age(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil {
		return "-"
	}
	return humanAge(now.Sub(ts.AsTime()))
}

// when prints a timestamp in UTC with its age, or "-" when it is unset.
func when(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339) + " (" + age(ts, now) + " ago)"
}

func stateName(s commentdv1.State) string {
	if s == commentdv1.State_STATE_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATE_"))
}

func modeName(m commentdv1.ModerationMode) string {
	if m == commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED {
		return "default"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "MODERATION_MODE_"))
}

// orDash prints "-" for an empty value so table columns and fields never look missing.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// commentName turns "comments/ID" or a bare ID into the resource name the API takes.
func commentName(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "comments/") {
		return id
	}
	return "comments/" + id
}

// threadName turns "threads/ID" or a bare ID into the resource name the API takes.
func threadName(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "threads/") {
		return id
	}
	return "threads/" + id
}

// threadID turns a --thread value, a thread id or its resource name "threads/ID" (as thread get
// takes and prints it), into the bare id the list and watch requests take.
func threadID(s string) string {
	return strings.TrimPrefix(strings.TrimSpace(s), "threads/")
}

// threadFlag is threadID of the --thread flag's value v, or a usage error when the flag was given
// and names no thread: empty, or the prefix "threads/" alone, which "threads/$T" becomes with T
// unset. Read as no --thread, such a value would list, watch or decide every thread's comments.
func threadFlag(cmd *cobra.Command, v string) (string, error) {
	id := threadID(v)
	if id == "" && cmd.Flags().Changed("thread") {
		return "", usagef(cmd, "--thread %q names no thread; want a thread ID or threads/ID", v)
	}
	return id, nil
}

// pageFlags are the paging flags of every list command.
type pageFlags struct {
	limit int
	token string
	all   bool
}

// add declares the flags on cmd; noun is what one page holds ("comments").
func (p *pageFlags) add(cmd *cobra.Command, noun string) {
	f := cmd.Flags()
	f.IntVar(&p.limit, "limit", 0, noun+" per page, at most 500 (0: the server default, 50; with --all, 500)")
	f.StringVar(&p.token, "page-token", "", "continue from the page token a previous call printed")
	f.BoolVar(&p.all, "all", false, "follow the page tokens and list every page")
}

// size is the page size to ask for: --limit, or with --all and no --limit the largest page, as
// every page is read anyway and each costs a call (2,000 comments are 4 calls, not 40).
func (p *pageFlags) size() int32 {
	if p.all && p.limit == 0 {
		return maxPageSize
	}
	return int32(p.limit)
}

// check refuses a page size out of range and --all with --page-token.
func (p *pageFlags) check(cmd *cobra.Command) error {
	if p.limit < 0 || p.limit > maxPageSize {
		return usagef(cmd, "--limit %d: want 1 to %d (0 for the server default)", p.limit, maxPageSize)
	}
	if p.all && p.token != "" {
		return usagef(cmd, "--all starts at the first page; drop --page-token")
	}
	return nil
}

// moreHint tells, on stderr, how to get the next page when there is one. again are flags and
// values to give with the token, such as a time the command line gave as a span back from now: the
// server takes a token only with the same filters, and a span measured again later would be another.
func (c *cli) moreHint(noun, nextToken string, again ...string) {
	if nextToken != "" {
		more := ""
		if len(again) > 0 {
			more = " " + strings.Join(again, " ")
		}
		fmt.Fprintf(c.stderr, "More %s: add --page-token %s%s (or use --all).\n", noun, nextToken, more)
	}
}

// exactTime is a time as a flag value that parses back to the same instant, to the nanosecond.
func exactTime(ts *timestamppb.Timestamp) string {
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// collectPages calls page (each call under its own --timeout) and, while all is true, follows the
// next_page_token with next; it returns every item and the last next_page_token. op names the
// call in errors.
func collectPages[T any](ctx context.Context, c *cli, op string, all bool, next func(token string), page func(ctx context.Context) ([]T, string, error)) ([]T, string, error) {
	var items []T
	for {
		callCtx, cancel := c.callCtx(ctx)
		got, token, err := page(callCtx)
		cancel()
		if err != nil {
			return nil, "", c.callError(op, err)
		}
		items = append(items, got...)
		if !all || token == "" {
			return items, token, nil
		}
		next(token)
	}
}
