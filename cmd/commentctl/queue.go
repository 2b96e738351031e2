package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Widths of the free-text queue columns, in terminal columns, so one comment stays on one line.
const (
	queueBodyWidth   = 40
	queueAuthorWidth = 20
)

// maxPageSize is the server's largest page; a bigger --limit would be lowered silently.
const maxPageSize = 500

// parseQueueState reads a --state value: the states a comment can wait in for a moderator.
func parseQueueState(s string) (commentdv1.State, bool) {
	switch s {
	case "pending":
		return commentdv1.State_STATE_PENDING, true
	case "rejected":
		return commentdv1.State_STATE_REJECTED, true
	case "spam":
		return commentdv1.State_STATE_SPAM, true
	}
	return 0, false
}

func (c *cli) queueCmd() *cobra.Command {
	var (
		state  string
		thread string
		page   pageFlags
	)
	cmd := &cobra.Command{
		Use:   "queue [--state pending|rejected|spam] [--thread ID] [--limit N] [--page-token T] [--all]",
		Short: "List comments waiting for a moderator",
		Long: `queue lists the moderation queue, oldest first: pending comments by default, or the rejected or
spam ones with --state.

Columns: ID, THREAD, AGE (since submission), AUTHOR, EMAIL (masked by the server), SCORE (the spam
score the checks gave it, 0 to 1), WHY (the codes of the checks that held the comment) and the start
of the BODY. show prints the reasons in full.

One call returns one page (--limit comments, server default 50, at most 500). When there are more,
the next page's token is printed on stderr; pass it with --page-token, or use --all to fetch every
page. With -o json the output is the ListQueueResponse (with --all, one response holding every page).`,
		Example: `  commentctl queue
  commentctl queue --state spam --thread blog-post-42
  commentctl queue --all -o json | jq -r '.comments[].comment.name'`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, ok := parseQueueState(state)
			if !ok {
				return usagef(cmd, "--state %q: want pending, rejected or spam", state)
			}
			if err := page.check(cmd); err != nil {
				return err
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			req := &commentdv1.ListQueueRequest{State: st, ThreadId: thread, PageSize: int32(page.limit), PageToken: page.token}
			items, token, err := collectPages(cmd.Context(), c, "list queue", page.all, func(t string) { req.PageToken = t },
				func(ctx context.Context) ([]*commentdv1.ModeratedComment, string, error) {
					resp, err := client.ListQueue(ctx, req)
					return resp.GetComments(), resp.GetNextPageToken(), err
				})
			if err != nil {
				return err
			}
			merged := &commentdv1.ListQueueResponse{Comments: items, NextPageToken: token}

			if c.output == "json" {
				return writeJSON(c.stdout, merged)
			}
			if err := writeQueue(c.stdout, merged.GetComments(), time.Now()); err != nil {
				return err
			}
			c.moreHint("comments", merged.GetNextPageToken())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "pending", "which comments to list: pending, rejected or spam")
	f.StringVar(&thread, "thread", "", "only comments of this thread `ID`")
	page.add(cmd, "comments")
	_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pending", "rejected", "spam"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// writeQueue prints the queue table. An empty queue prints only the header, so scripts that skip
// the first line see no rows.
func writeQueue(w io.Writer, comments []*commentdv1.ModeratedComment, now time.Time) error {
	var t table
	t.row("ID", "THREAD", "AGE", "AUTHOR", "EMAIL", "SCORE", "WHY", "BODY")
	for _, mc := range comments {
		cm := mc.GetComment()
		codes := make([]string, 0, len(mc.GetHoldReasons()))
		for _, r := range mc.GetHoldReasons() {
			codes = append(codes, r.GetCode())
		}
		t.row(
			cell(cm.GetId(), 0),
			cell(cm.GetThreadId(), 0),
			age(cm.GetCreateTime(), now),
			cell(cm.GetAuthorName(), queueAuthorWidth),
			cell(mc.GetMaskedEmail(), 0),
			fmt.Sprintf("%.2f", mc.GetSpamScore()),
			cell(strings.Join(codes, ","), 0),
			cell(cm.GetBody(), queueBodyWidth),
		)
	}
	return t.write(w)
}

// cell makes a value fit one table cell: one line, no tabs, at most width columns (0: any).
func cell(s string, width int) string {
	s = oneLine(s)
	if width > 0 {
		s = truncate(s, width)
	}
	return orDash(s)
}
