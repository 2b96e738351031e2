package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func (c *cli) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one comment with everything a moderator may see",
		Long: `show prints one comment in the moderator's view: its thread, state and times, the author's name,
masked email and IP address, author key and user agent, the author's record, the spam score (0 to 1),
why the checks held it, readers' reports (how many, and the newest with their reasons), the last
moderator decision (who, when, from which state to which, and why) and the full text.

ID is a comment id or its resource name, comments/ID. With -o json the output is the
ModerationServiceGetCommentResponse.`,
		Example: `  commentctl show 01HZX3K9
  commentctl show comments/01HZX3K9 -o json`,
		Args: argCount(1, 1, "one comment ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			name := commentName(args[0])
			ctx, cancel := c.callCtx(cmd.Context())
			defer cancel()
			resp, err := client.GetComment(ctx, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
			if err != nil {
				return c.callError("get "+name, err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			return writeComment(c.stdout, resp.GetComment(), time.Now())
		},
	}
}

// writeComment prints the moderator's view of a comment as labelled lines, the body last and
// indented so its own lines cannot pass for fields.
func writeComment(w io.Writer, mc *commentdv1.ModeratedComment, now time.Time) error {
	cm := mc.GetComment()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(label, value string) { fmt.Fprintf(tw, "%s:\t%s\n", label, value) }

	field("Name", cell(cm.GetName(), 0))
	field("Thread", cell(cm.GetThreadId(), 0))
	reply := cell(cm.GetParentId(), 0)
	if cm.GetParentId() != "" {
		reply += fmt.Sprintf(" (depth %d)", cm.GetDepth())
	}
	field("Reply to", reply)
	field("State", stateName(cm.GetState()))
	field("Created", when(cm.GetCreateTime(), now))
	field("Published", when(cm.GetPublishTime(), now))
	field("Author", cell(cm.GetAuthorName(), 0))
	field("Email", cell(mc.GetMaskedEmail(), 0))
	field("Author key", cell(mc.GetAuthorKey(), 0))
	field("IP", cell(mc.GetMaskedIp(), 0))
	field("User agent", cell(mc.GetUserAgent(), 0))
	h := mc.GetAuthorHistory()
	history := fmt.Sprintf("%d approved, %d rejected, %d spam", h.GetApproved(), h.GetRejected(), h.GetSpam())
	if mc.GetAuthorKey() == "" {
		// An erased author has no record any more: zeros would read as a new author's clean slate.
		history = "- (the author's data was erased)"
	}
	field("History", history)
	field("Spam score", fmt.Sprintf("%.2f", mc.GetSpamScore()))
	// One reason per line; the label only on the first.
	label := "Held because:"
	if len(mc.GetHoldReasons()) == 0 {
		fmt.Fprintf(tw, "%s\t-\n", label)
	}
	for _, r := range mc.GetHoldReasons() {
		text := cell(r.GetCode(), 0)
		if m := oneLine(r.GetMessage()); m != "" {
			text += ": " + m
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, text)
		label = ""
	}
	// Readers' reports, newest first; the server sends at most the newest 20 of them.
	if n := mc.GetReportCount(); n > 0 {
		count := fmt.Sprint(n)
		if shown := len(mc.GetReports()); shown < int(n) {
			count += fmt.Sprintf(" (the newest %d below)", shown)
		}
		field("Reports", count)
		for _, r := range mc.GetReports() {
			reason := "-"
			if s := oneLine(r.GetReason()); s != "" {
				reason = fmt.Sprintf("%q", s)
			}
			fmt.Fprintf(tw, "\t%s: %s\n", when(r.GetCreateTime(), now), reason)
		}
	}
	field("Decision", decisionText(mc.GetDecision(), now))
	// What approve/reject/... --etag takes, to decide only if nobody has since.
	field("Etag", cell(mc.GetEtag(), 0))
	if err := tw.Flush(); err != nil {
		return err
	}

	var b strings.Builder
	b.WriteString("Body:\n")
	for line := range strings.Lines(clean(cm.GetBody(), true)) {
		b.WriteString("  ")
		b.WriteString(strings.TrimRight(line, "\n"))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// decisionText is one line about the last moderator decision, or "-" when there was none.
func decisionText(d *commentdv1.Decision, now time.Time) string {
	if d == nil {
		return "-"
	}
	s := fmt.Sprintf("%s → %s by %s at %s", stateName(d.GetFromState()), stateName(d.GetToState()),
		cell(d.GetModerator(), 0), when(d.GetDecideTime(), now))
	if r := oneLine(d.GetReason()); r != "" {
		s += fmt.Sprintf(", reason: %q", r)
	}
	return s
}
