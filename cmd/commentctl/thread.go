package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// parseMode reads a --mode value; "default" is the unset mode, which follows the site-wide one.
func parseMode(s string) (commentdv1.ModerationMode, bool) {
	switch s {
	case "pre":
		return commentdv1.ModerationMode_MODERATION_MODE_PRE, true
	case "post":
		return commentdv1.ModerationMode_MODERATION_MODE_POST, true
	case "default":
		return commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, true
	}
	return 0, false
}

func (c *cli) threadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "thread get|set ID | thread list",
		Short: "Show, change or list threads' moderation settings",
		Long: `thread shows or changes the moderation settings of one thread (article): its moderation mode
(pre: every new comment waits for a moderator, except those of authors the server trusts, by
default after one approved comment and none marked spam; post: comments are published unless a
check holds them; default: follow the server's site-wide mode) and whether it is closed to new
comments. thread list lists the threads that have settings of their own.`,
		Example: `  commentctl thread get blog-post-42
  commentctl thread set blog-post-42 --mode pre
  commentctl thread set blog-post-42 --closed
  commentctl thread set blog-post-42 --mode pre --etag 'W/"3f2a9c0d41b7e865"'
  commentctl thread list --closed`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return missingSubcommand(cmd, args)
		},
	}
	cmd.AddCommand(c.threadGetCmd(), c.threadSetCmd(), c.threadListCmd())
	return cmd
}

func (c *cli) threadGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a thread's moderation settings",
		Long: `thread get prints a thread's own moderation mode, the mode in force (its own, or the site-wide
default), whether it is closed and by what: a moderator, or its age on a server that closes
threads by age (-close-threads-after), and when its period ends or ended ("Closes by age"; "-"
when the server does not close threads by age or the thread has no comment yet), and its etag,
which thread set --etag takes to change the thread only if nobody has since. ID is a thread id or
its resource name, threads/ID. A thread nobody configured shows the defaults, and can be closed by
age only. With -o json the output is the GetThreadResponse.`,
		Example: `  commentctl thread get blog-post-42
  commentctl thread get threads/blog-post-42 -o json`,
		Args: argCount(1, 1, "one thread ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			name := threadName(args[0])
			ctx, cancel := c.callCtx(cmd.Context())
			defer cancel()
			resp, err := client.GetThread(ctx, &commentdv1.GetThreadRequest{Name: name})
			if err != nil {
				return c.callError("get "+name, err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			return writeThread(c.stdout, resp.GetThread(), time.Now())
		},
	}
}

func (c *cli) threadSetCmd() *cobra.Command {
	var mode, etag string
	var closed bool
	cmd := &cobra.Command{
		Use:   "set ID [--mode pre|post|default] [--closed=true|false] [--etag ETAG]",
		Short: "Change a thread's moderation mode, or close or reopen it",
		Long: `thread set changes only the settings given: --mode sets the moderation mode (default: follow the
site-wide mode), --closed closes the thread to new comments and --closed=false reopens it. On a
server that closes threads by age (-close-threads-after), a thread reopened that way closes again
when that much time has passed since the reopening, and --closed on a thread closed by age
changes nothing (it stays closed by age). It prints the thread as it is afterwards.
With -o json the output is the UpdateThreadResponse.

A plain call overwrites whatever the thread is now, including a colleague's change made since you
looked at it. To change only what you saw, give --etag ETAG, the etag thread get printed (W/"..."
with or without the W/ and the quotes): the server refuses the change if the thread changed since,
nothing is changed, and the error says what it is now (exit status 1). A thread that has closed
by age since keeps its etag, and a change the thread already has is not refused.`,
		Example: `  commentctl thread set blog-post-42 --mode pre
  commentctl thread set blog-post-42 --closed
  commentctl thread set blog-post-42 --mode default --closed=false
  commentctl thread set blog-post-42 --closed --etag 'W/"3f2a9c0d41b7e865"'`,
		Args: argCount(1, 1, "one thread ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := threadName(args[0])
			// Unset, --etag would let the change overwrite whatever the thread has become, which
			// --etag is given to prevent.
			if err := blankFlag(cmd, "etag", "give the etag thread get printed, or leave --etag out to change the thread whatever it is now"); err != nil {
				return err
			}
			// The etag goes in the thread, which makes the update conditional (AIP-154); the mask
			// need not name it.
			th := &commentdv1.Thread{Name: name, Etag: normalizeETag(etag)}
			// The mask names only the flags given, so a setting left out keeps its value on the server.
			var paths []string
			if cmd.Flags().Changed("mode") {
				m, ok := parseMode(mode)
				if !ok {
					return usagef(cmd, "--mode %q: want pre, post or default", mode)
				}
				th.ModerationMode = m
				paths = append(paths, "moderation_mode")
			}
			if cmd.Flags().Changed("closed") {
				th.Closed = closed
				paths = append(paths, "closed")
			}
			if len(paths) == 0 {
				// No flag, no mask: refuse, as the server would take the empty mask for the fields the
				// message sets, which are none, and change nothing.
				return usagef(cmd, "nothing to change: give --mode and/or --closed")
			}

			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			ctx, cancel := c.callCtx(cmd.Context())
			defer cancel()
			resp, err := client.UpdateThread(ctx, &commentdv1.UpdateThreadRequest{
				Thread:     th,
				UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
			})
			if err != nil {
				return c.callError("update "+name, err)
			}
			if th.GetClosed() && resp.GetThread().GetCloseReason() == commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE {
				// The server leaves a thread closed by age as it is: say so, or the moderator takes
				// it for a close that outlasts a change of the server's period.
				fmt.Fprintf(c.stderr, "commentctl: %s was closed by age already and stays so: it opens again if the server's -close-threads-after is raised or turned off. To close it for good, reopen it (--closed=false), then close it.\n", name)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			return writeThread(c.stdout, resp.GetThread(), time.Now())
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "", "moderation mode: pre, post or default (the site-wide mode)")
	cmd.Flags().BoolVar(&closed, "closed", false, "close the thread to new comments; --closed=false reopens it")
	cmd.Flags().StringVar(&etag, "etag", "", "change the thread only if it still has this etag (from thread get)")
	_ = cmd.RegisterFlagCompletionFunc("mode", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pre", "post", "default"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (c *cli) threadListCmd() *cobra.Command {
	var (
		page   pageFlags
		mode   string
		closed bool
	)
	cmd := &cobra.Command{
		Use:   "list [--mode pre|post] [--closed=true|false] [--limit N] [--page-token T] [--all]",
		Short: "List the threads with settings of their own",
		Long: `thread list lists the threads that have settings of their own: a moderation mode other than the
site-wide default, or closed by a moderator. A thread that only has comments, or is only closed by
age, is not listed; one set back to the default mode and reopened leaves the list. The most
recently changed come first.

Columns: THREAD (the thread id, what thread get and thread set take), MODE (its own mode, or
default), CLOSED (no, "yes, by a moderator", or "yes, by age" for a listed thread whose auto-close
period has run out) and CHANGED (when a moderator last changed its settings; "-" for a thread
configured before the server kept the list, and not changed since).

--mode lists only threads with that mode of their own; --closed only the closed ones, and
--closed=false only the open ones. One call returns one page (--limit threads, server default 50,
at most 500); with a filter a page may hold fewer, even none, and still have a next page. When
there are more, the next page's token is printed on stderr; pass it with --page-token and the same
filters, or use --all to fetch every page. No threads prints "No entries.". With -o json the output
is the ListThreadsResponse (with --all, one response holding every page).`,
		Example: `  commentctl thread list
  commentctl thread list --mode pre --all
  commentctl thread list --closed --limit 20
  commentctl thread list --all -o json | jq -r '.threads[] | select(.closeReason == "THREAD_CLOSE_REASON_MODERATOR") | .threadId'`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := page.check(cmd); err != nil {
				return err
			}
			req := &commentdv1.ListThreadsRequest{PageSize: page.size(), PageToken: page.token}
			var again []string
			if cmd.Flags().Changed("mode") {
				m, ok := parseMode(mode)
				if !ok || m == commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED {
					return usagef(cmd, "--mode %q: want pre or post", mode)
				}
				req.ModerationMode = m
				again = append(again, "--mode", mode)
			}
			if cmd.Flags().Changed("closed") {
				req.Closed = &closed
				again = append(again, fmt.Sprintf("--closed=%v", closed))
			}

			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			items, token, err := collectPages(cmd.Context(), c, "list threads", page.all, func(t string) { req.PageToken = t },
				func(ctx context.Context) ([]*commentdv1.Thread, string, error) {
					resp, err := client.ListThreads(ctx, req)
					return resp.GetThreads(), resp.GetNextPageToken(), err
				})
			if err != nil {
				return err
			}
			merged := &commentdv1.ListThreadsResponse{Threads: items, NextPageToken: token}
			if c.output == "json" {
				return writeJSON(c.stdout, merged)
			}
			if err := writeThreads(c.stdout, merged.GetThreads(), time.Now()); err != nil {
				return err
			}
			c.moreHint("threads", merged.GetNextPageToken(), again...)
			return nil
		},
	}
	page.add(cmd, "threads")
	cmd.Flags().StringVar(&mode, "mode", "", "only threads with this moderation mode of their own: pre or post")
	cmd.Flags().BoolVar(&closed, "closed", false, "only closed threads; --closed=false: only open ones")
	_ = cmd.RegisterFlagCompletionFunc("mode", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pre", "post"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// writeThreads prints threads as a table, one a line; now is the time CHANGED is counted back from.
func writeThreads(w io.Writer, threads []*commentdv1.Thread, now time.Time) error {
	if len(threads) == 0 {
		return writeNoEntries(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "THREAD\tMODE\tCLOSED\tCHANGED")
	for _, th := range threads {
		changed := "-"
		if th.GetUpdateTime() != nil {
			changed = age(th.GetUpdateTime(), now) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(th.GetThreadId(), 0), modeName(th.GetModerationMode()), closedName(th), changed)
	}
	return tw.Flush()
}

// closedName says whether a thread is closed and by what.
func closedName(th *commentdv1.Thread) string {
	switch {
	case th.GetCloseReason() == commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE:
		return "yes, by age"
	case th.GetCloseReason() == commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR:
		return "yes, by a moderator"
	case th.GetClosed():
		return "yes"
	}
	return "no"
}

// writeThread prints a thread as fields: whether it is closed and by what (a moderator, or its
// age), and when its auto-close period ends or ended, now being the time it is compared with.
func writeThread(w io.Writer, th *commentdv1.Thread, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	closed := closedName(th)
	autoClose := "-"
	if ts := th.GetAutoCloseTime(); ts != nil {
		if at := ts.AsTime(); at.After(now) {
			autoClose = at.UTC().Format(time.RFC3339) + " (in " + humanUntil(at.Sub(now)) + ")"
		} else {
			autoClose = when(ts, now)
		}
	}
	fmt.Fprintf(tw, "Name:\t%s\n", cell(th.GetName(), 0))
	fmt.Fprintf(tw, "Thread:\t%s\n", cell(th.GetThreadId(), 0))
	fmt.Fprintf(tw, "Mode:\t%s\n", modeName(th.GetModerationMode()))
	fmt.Fprintf(tw, "Mode in force:\t%s\n", modeName(th.GetEffectiveModerationMode()))
	fmt.Fprintf(tw, "Closed:\t%s\n", closed)
	fmt.Fprintf(tw, "Closes by age:\t%s\n", autoClose)
	// What thread set --etag takes, to change the thread only if nobody has since.
	fmt.Fprintf(tw, "Etag:\t%s\n", cell(th.GetEtag(), 0))
	return tw.Flush()
}
