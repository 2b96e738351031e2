package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
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

// reasonCodes are the codes the server holds (or, BANNED, rejects) comments for: the checks'
// codes, which are stable. The server takes any UPPER_SNAKE code as --reason-code and lists the
// comments held for it, so a misspelt one would list none, and bulk would say there is nothing to
// do, as if the queue held no such comment. A code a newer server adds needs a newer commentctl.
func reasonCodes() []string {
	return []string{
		comment.ReasonPreModeration,
		moderation.ReasonReported,
		spam.ReasonClassifierSpam, spam.ReasonClassifierHold, spam.ReasonTooManyLinks,
		spam.ReasonHoldList, spam.ReasonSpamList, spam.ReasonHoneypot, spam.ReasonTooFast,
		spam.ReasonNoUserAgent, spam.ReasonAuthorSpam, spam.ReasonCampaign, spam.ReasonUnchecked,
		ratelimit.ReasonBanned, ratelimit.ReasonUnchecked,
	}
}

// queueFilter is what selects comments of the queue, from the flags of queue and bulk.
type queueFilter struct {
	state      string
	thread     string
	author     string
	olderThan  string
	scoreAbove float64
	scoreBelow float64
	reasonCode string
}

// addFlags declares the filter flags but --state, whose default and values differ by command.
func (f *queueFilter) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.thread, "thread", "", "only comments of this thread `ID` (or threads/ID)")
	fl.StringVar(&f.author, "author", "", "only comments of this author `KEY` (the author key show prints)")
	fl.StringVar(&f.olderThan, "older-than", "", "only comments created more than this long ago (90m, 48h, 7d) or before this time (RFC 3339 or a UTC date)")
	fl.Float64Var(&f.scoreAbove, "score-above", 0, "only comments with a spam score of at least `X` (0 to 1)")
	fl.Float64Var(&f.scoreBelow, "score-below", 0, "only comments with a spam score of at most `X` (0 to 1)")
	fl.StringVar(&f.reasonCode, "reason-code", "", "only comments held for this check `CODE`, such as TOO_MANY_LINKS (any case)")
	completeValues(cmd, "reason-code", reasonCodes()...)
}

// request turns the filter into a ListQueueRequest, with times measured from now. The caller has
// checked the state.
func (f queueFilter) request(cmd *cobra.Command, now time.Time) (*commentdv1.ListQueueRequest, error) {
	st, _ := parseQueueState(f.state)
	// Unset, a filter would select every comment; bulk would then decide them all.
	for _, name := range []string{"author", "reason-code", "older-than"} {
		if err := blankFlag(cmd, name, "give a value, or leave --"+name+" out to select every comment"); err != nil {
			return nil, err
		}
	}
	if strings.Contains(f.author, "@") {
		// An email address is the likely mistake; refused here, it is not sent either, and
		// moderators work with the keyed hash, never with the address.
		return nil, usagef(cmd, "--author takes the author key that show prints, not an email address")
	}
	code := strings.ToUpper(strings.TrimSpace(f.reasonCode))
	if code != "" && !slices.Contains(reasonCodes(), code) {
		return nil, usagef(cmd, "--reason-code %q: no check holds comments for that code; the codes are %s",
			f.reasonCode, strings.Join(reasonCodes(), ", "))
	}
	thread, err := threadFlag(cmd, f.thread)
	if err != nil {
		return nil, err
	}
	req := &commentdv1.ListQueueRequest{
		State:      st,
		ThreadId:   thread,
		AuthorKey:  strings.TrimSpace(f.author),
		ReasonCode: code,
	}
	if f.olderThan != "" {
		t, err := parseWhen(f.olderThan, now)
		if err != nil {
			return nil, usagef(cmd, "--older-than %q: %v", f.olderThan, err)
		}
		req.MaxCreateTime = timestamppb.New(t)
	}
	flags := cmd.Flags()
	// A score is checked as "within 0 to 1" rather than "below 0 or above 1": NaN, which the
	// flag parses, is neither, and would go to the server for it to refuse by its field name.
	if flags.Changed("score-above") {
		if !(f.scoreAbove >= 0 && f.scoreAbove <= 1) {
			return nil, usagef(cmd, "--score-above %g: want 0 to 1", f.scoreAbove)
		}
		req.MinSpamScore = &f.scoreAbove
	}
	if flags.Changed("score-below") {
		if !(f.scoreBelow >= 0 && f.scoreBelow <= 1) {
			return nil, usagef(cmd, "--score-below %g: want 0 to 1", f.scoreBelow)
		}
		req.MaxSpamScore = &f.scoreBelow
	}
	if req.MinSpamScore != nil && req.MaxSpamScore != nil && *req.MinSpamScore > *req.MaxSpamScore {
		return nil, usagef(cmd, "--score-above %g is above --score-below %g: nothing can match", *req.MinSpamScore, *req.MaxSpamScore)
	}
	return req, nil
}

func (c *cli) queueCmd() *cobra.Command {
	var (
		f    queueFilter
		page pageFlags
	)
	cmd := &cobra.Command{
		Use:   "queue [--state pending|rejected|spam] [filters] [--limit N] [--page-token T] [--all]",
		Short: "List comments waiting for a moderator",
		Long: `queue lists the moderation queue, oldest first: pending comments by default, or the rejected or
spam ones with --state.

Filters (all must match), as bulk takes them, so that queue lists every comment a bulk command
would act on: --thread, --author (the author key that show prints), --older-than (created more
than this long ago: 90m, 48h, 7d; or before an RFC 3339 time or a UTC date), --score-above and
--score-below (spam score from 0 to 1, bounds included) and --reason-code (held for this check,
such as TOO_MANY_LINKS; a code no check sets is refused, as it would list nothing).

Columns: ID, THREAD, AGE (since submission), AUTHOR, EMAIL (masked by the server), SCORE (the spam
score the checks gave it, 0 to 1), WHY (the codes of the checks that held the comment) and the start
of the BODY. show prints the reasons in full.

One call returns one page (--limit comments, server default 50, at most 500; --all asks for 500 a page
unless --limit says otherwise). When there are more,
the next page's token is printed on stderr; pass it with --page-token, or use --all to fetch every
page; with --older-than, the hint gives its exact time, as a token goes only with the same filters.
An empty list prints "No entries.". With -o json the output is the ListQueueResponse (with --all, one
response holding every page; an empty list is an empty response).`,
		Example: `  commentctl queue
  commentctl queue --state spam --thread blog-post-42
  commentctl queue --reason-code TOO_MANY_LINKS --score-above 0.5 --older-than 48h
  commentctl queue --all -o json | jq -r '.comments[].comment.name'`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, ok := parseQueueState(f.state); !ok {
				return usagef(cmd, "--state %q: want pending, rejected or spam", f.state)
			}
			req, err := f.request(cmd, time.Now())
			if err != nil {
				return err
			}
			if err := page.check(cmd); err != nil {
				return err
			}
			req.PageSize, req.PageToken = page.size(), page.token
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

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
			var again []string
			if f.olderThan != "" {
				// The token goes only with the same time; a span measured again would be another.
				again = append(again, "--older-than", exactTime(req.GetMaxCreateTime()))
			}
			c.moreHint("comments", merged.GetNextPageToken(), again...)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.state, "state", "pending", "which comments to list: pending, rejected or spam")
	f.addFlags(cmd)
	page.add(cmd, "comments")
	_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pending", "rejected", "spam"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// writeQueue prints the queue table, or "No entries." for an empty queue.
func writeQueue(w io.Writer, comments []*commentdv1.ModeratedComment, now time.Time) error {
	if len(comments) == 0 {
		return writeNoEntries(w)
	}
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
