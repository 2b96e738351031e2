package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Limits of --days, as the server takes them.
const (
	maxStatsDays = 90
	shareBarLen  = 20 // characters of the spam-share bar at 100%
)

func (c *cli) statsCmd() *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "stats [--days N]",
		Short: "Show queue depths, decisions per moderator and the daily spam share",
		Long: `stats prints three tables:

  Queue        how many comments are pending, rejected and spam right now;
  Decisions    per moderator over the last --days days: approved, rejected, marked spam and other
               actions (not-spam, reopen, bans, word-list and thread changes, erasures);
  Spam share   per day (UTC) over the same days: comments submitted, how many of them were spam
               (judged at submission or marked later) and the share, with a bar.

--days is 1 to 90; without it the server uses 14. With -o json the output is the GetStatsResponse.`,
		Example: `  commentctl stats
  commentctl stats --days 30
  commentctl stats -o json | jq '.queue'`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 0 || days > maxStatsDays {
				return usagef(cmd, "--days %d: want 1 to %d (0 for the server default, 14)", days, maxStatsDays)
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			ctx, cancel := c.callCtx(cmd.Context())
			defer cancel()
			resp, err := client.GetStats(ctx, &commentdv1.GetStatsRequest{Days: int32(days)})
			if err != nil {
				return c.callError("get stats", err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			return writeStats(c.stdout, resp)
		},
	}
	cmd.Flags().IntVar(&days, "days", 0, "how many days back the decisions and daily figures reach, 1 to 90 (0: the server default, 14)")
	return cmd
}

// writeStats prints the three tables of stats, each with a title line.
func writeStats(w io.Writer, s *commentdv1.GetStatsResponse) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)

	fmt.Fprintln(tw, "Queue")
	fmt.Fprintln(tw, "STATE\tCOMMENTS")
	for _, q := range s.GetQueue() {
		fmt.Fprintf(tw, "%s\t%d\n", stateName(q.GetState()), q.GetCount())
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	period := "the period"
	if n := len(s.GetDays()); n > 0 {
		period = fmt.Sprintf("the last %d day%s", n, plural(int64(n)))
	}
	fmt.Fprintf(tw, "\nDecisions in %s\n", period)
	fmt.Fprintln(tw, "MODERATOR\tAPPROVED\tREJECTED\tSPAM\tOTHER\tTOTAL")
	for _, m := range s.GetModerators() {
		total := m.GetApproved() + m.GetRejected() + m.GetMarkedSpam() + m.GetOther()
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n",
			cell(m.GetModerator(), 0), m.GetApproved(), m.GetRejected(), m.GetMarkedSpam(), m.GetOther(), total)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(tw, "\nSpam share per day (UTC)")
	fmt.Fprintln(tw, "DATE\tSUBMITTED\tSPAM\tSHARE")
	for _, d := range s.GetDays() {
		share, bar := "-", ""
		if d.GetSubmitted() > 0 {
			f := float64(d.GetSpam()) / float64(d.GetSubmitted())
			share = shareText(d.GetSpam(), d.GetSubmitted())
			bar = shareBar(f)
		}
		// The share is right-aligned under its heading so the bars start in one column.
		line := strings.TrimRight(fmt.Sprintf("%5s  %s", share, bar), " ")
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", cell(d.GetDate(), 0), d.GetSubmitted(), d.GetSpam(), line)
	}
	return tw.Flush()
}

// shareText is spam's share of submitted in whole percent. Like the bar, it never rounds some spam
// to none, nor some comments that were not spam to all of them: 1 of 1000 is "<1%", not "0%".
func shareText(spam, submitted int64) string {
	p := math.Round(100 * float64(spam) / float64(submitted))
	switch {
	case spam > 0 && p == 0:
		return "<1%"
	case spam < submitted && p == 100:
		return ">99%"
	}
	return fmt.Sprintf("%.0f%%", p)
}

// shareBar draws a share from 0 to 1 as a bar of shareBarLen characters; any share above zero
// shows at least one block, so a little spam is never drawn as none.
func shareBar(f float64) string {
	f = min(max(f, 0), 1)
	n := int(f*shareBarLen + 0.5)
	if n == 0 && f > 0 {
		n = 1
	}
	return strings.Repeat("█", n) + strings.Repeat("·", shareBarLen-n)
}
