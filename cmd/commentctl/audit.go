package main

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// auditReasonWidth keeps one event on one line.
const auditReasonWidth = 40

// errBadSpan is a span or time on the command line that cannot be read.
var errBadSpan = errors.New("want a duration such as 90m, 48h or 7d")

// parseSpan reads a length of time: a Go duration (90m, 48h, 1h30m) or a number of days (7d).
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, errBadSpan
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errBadSpan
	}
	return d, nil
}

// parseWhen reads a point in time: a span back from now (24h, 7d), an RFC 3339 time, or a UTC date
// (2026-03-01, meaning its midnight).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseSpan(s)
	if err != nil {
		return time.Time{}, errors.New("want a span back from now (24h, 7d), an RFC 3339 time or a date (2026-03-01)")
	}
	return now.Add(-d), nil
}

// parsePeriod reads the --since and --until flags ("" for unbounded) as the start and end times of
// a request, and checks that the end comes after the start. Its error is a usage error.
func parsePeriod(cmd *cobra.Command, since, until string, now time.Time) (start, end *timestamppb.Timestamp, err error) {
	// --since "$T" with T unset would be read as no bound, widening the period instead of
	// narrowing it: an audit search or an export would take in everything.
	for _, name := range []string{"since", "until"} {
		if err := blankFlag(cmd, name, "give a span (24h, 7d), an RFC 3339 time or a date, or leave --"+name+" out for no bound"); err != nil {
			return nil, nil, err
		}
	}
	if since != "" {
		t, err := parseWhen(since, now)
		if err != nil {
			return nil, nil, usagef(cmd, "--since %q: %v", since, err)
		}
		start = timestamppb.New(t)
	}
	if until != "" {
		t, err := parseWhen(until, now)
		if err != nil {
			return nil, nil, usagef(cmd, "--until %q: %v", until, err)
		}
		end = timestamppb.New(t)
	}
	if start != nil && end != nil && !end.AsTime().After(start.AsTime()) {
		return nil, nil, usagef(cmd, "--until must be after --since")
	}
	return start, end, nil
}

func (c *cli) auditCmd() *cobra.Command {
	var (
		moderator string
		target    string
		since     string
		until     string
		page      pageFlags
	)
	cmd := &cobra.Command{
		Use:   "audit [--moderator NAME] [--target comments/ID] [--since 24h|RFC3339] [--until ...] [--limit N] [--all]",
		Short: "List moderation actions from the audit log",
		Long: `audit lists moderation actions from the server's append-only audit log, newest first: who did
what to which comment, ban, thread or word-list entry, and why. An erasure, an export and a
deletion of old spam name the target "comments" and give the number of comments in the reason.
Training a spam model names "spamModel" (the site's) or "spamModels/NAME" (a scratch model) and
gives the number of examples in the reason.

Columns: TIME (UTC), MODERATOR (the API key name, "system" for the server's own actions such as a
reports takedown, or "retention" for the deletion of spam past the server's -spam-retention),
ACTION, TARGET, FROM→TO (the comment's state before and after) and the REASON.

--since and --until take a span back from now (90m, 24h, 7d), an RFC 3339 time
(2026-03-01T09:00:00Z) or a UTC date (2026-03-01). One call returns one page (--limit events,
server default 50, at most 500); the next page's token is printed on stderr with the exact times
to give with it (a span such as 24h is measured from now, and the token goes only with the same
times), or use --all.
No matching event prints "No entries.". With -o json the output is the ListAuditEventsResponse (with
--all, one holding every page).`,
		Example: `  commentctl audit --since 24h
  commentctl audit --moderator alice --since 2026-03-01 --until 2026-03-02 --all
  commentctl audit --target comments/01HZX3K9 -o json
  commentctl audit --moderator retention --since 7d`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Unset, either filter would list every event: "--moderator $M" with M unset would
			// answer "what did M do?" with what everybody did.
			for _, name := range []string{"moderator", "target"} {
				if err := blankFlag(cmd, name, "give a value, or leave --"+name+" out to list every event"); err != nil {
					return err
				}
			}
			now := time.Now()
			req := &commentdv1.ListAuditEventsRequest{
				Moderator: strings.TrimSpace(moderator),
				Target:    auditTarget(target),
				PageSize:  page.size(),
				PageToken: page.token,
			}
			var err error
			if req.StartTime, req.EndTime, err = parsePeriod(cmd, since, until, now); err != nil {
				return err
			}
			if err := page.check(cmd); err != nil {
				return err
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			items, token, err := collectPages(cmd.Context(), c, "list audit events", page.all, func(t string) { req.PageToken = t },
				func(ctx context.Context) ([]*commentdv1.AuditEvent, string, error) {
					resp, err := client.ListAuditEvents(ctx, req)
					return resp.GetEvents(), resp.GetNextPageToken(), err
				})
			if err != nil {
				return err
			}
			merged := &commentdv1.ListAuditEventsResponse{Events: items, NextPageToken: token}

			if c.output == "json" {
				return writeJSON(c.stdout, merged)
			}
			if err := writeAudit(c.stdout, merged.GetEvents()); err != nil {
				return err
			}
			var again []string
			if since != "" {
				again = append(again, "--since", exactTime(req.GetStartTime()))
			}
			if until != "" {
				again = append(again, "--until", exactTime(req.GetEndTime()))
			}
			c.moreHint("events", merged.GetNextPageToken(), again...)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&moderator, "moderator", "", "only actions of this moderator (API key `NAME`)")
	f.StringVar(&target, "target", "", "only actions on this resource, such as comments/ID (or the bare comment ID), bans/ID or threads/ID")
	f.StringVar(&since, "since", "", "only events at or after this time: 24h, 7d, RFC 3339 or a date")
	f.StringVar(&until, "until", "", "only events before this time: 24h, 7d, RFC 3339 or a date")
	page.add(cmd, "events")
	return cmd
}

// writeAudit prints the audit table, or "No entries." when no event matches.
func writeAudit(w io.Writer, events []*commentdv1.AuditEvent) error {
	if len(events) == 0 {
		return writeNoEntries(w)
	}
	var tb table
	tb.row("TIME", "MODERATOR", "ACTION", "TARGET", "FROM→TO", "REASON")
	for _, ev := range events {
		t := "-"
		if ev.GetCreateTime() != nil {
			t = ev.GetCreateTime().AsTime().UTC().Format(time.RFC3339)
		}
		tb.row(
			t,
			cell(ev.GetModerator(), 0),
			actionName(ev.GetAction()),
			cell(ev.GetTarget(), 0),
			transition(ev.GetFromState(), ev.GetToState()),
			cell(ev.GetReason(), auditReasonWidth),
		)
	}
	return tb.write(w)
}

// auditTarget turns --target into the resource name the log records. A bare id is a comment's, as
// for every other command that takes one: the log would hold nothing under the bare id, and an
// empty answer would read as "no action on this comment". "comments", the target of erasures,
// exports and the deletion of old spam, "spamModel", the target of the site model's training, and
// names with a collection stay as they are.
func auditTarget(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || s == moderation.ErasureTarget || s == moderation.SiteSpamModelTarget || strings.Contains(s, "/") {
		return s
	}
	return commentName(s)
}

// actionName is an audit action as one lowercase word: AUDIT_ACTION_MARK_SPAM → mark-spam.
func actionName(a commentdv1.AuditAction) string {
	if a == commentdv1.AuditAction_AUDIT_ACTION_UNSPECIFIED {
		return "-"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(a.String(), "AUDIT_ACTION_")), "_", "-")
}

// transition is "from→to" for a comment action, "-" for others.
func transition(from, to commentdv1.State) string {
	if from == commentdv1.State_STATE_UNSPECIFIED && to == commentdv1.State_STATE_UNSPECIFIED {
		return "-"
	}
	return stateName(from) + "→" + stateName(to)
}
