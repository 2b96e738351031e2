package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// eraseMinTimeout is the least time erase gives each call: the server walks every stored comment,
// which takes minutes on a large site, far beyond the usual --timeout.
const eraseMinTimeout = 30 * time.Minute

func (c *cli) eraseCmd() *cobra.Command {
	var (
		email, reason string
		dryRun, yes   bool
	)
	cmd := &cobra.Command{
		Use:   "erase --email ADDRESS [--reason R] [--dry-run] [--yes]",
		Short: "Erase an author's personal data (an erasure request); admin keys only",
		Long: `erase answers a reader's request to erase their personal data. Every comment of the author with
that email address keeps its text, thread, state and moderation history, and loses the author's name
(it becomes "Anonymous"), email and IP address, user agent and author key; the author's record of
decided comments is deleted. Bans stay. This cannot be undone. It needs a key of role "admin".

The address is sent to the server, which hashes it and never stores it; commentctl never prints
it. --reason (at most 500 characters), such as the request's reference, goes to the audit log with
the number of comments: do not put the address in it.

--dry-run prints how many comments would be anonymised and changes nothing. Otherwise erase counts
them first and asks "Anonymise N comments...?" on the terminal, or needs --yes (required when stdin
is not a terminal, as in scripts). The server walks every stored comment, so each call may take a
while: erase waits up to ` + eraseMinTimeout.String() + ` (or --timeout, if longer). A run cut short is safe to repeat.

With -o json the output is the EraseAuthorDataResponse: {"commentCount": "N"}.`,
		Example: `  commentctl erase --email reader@example.com --dry-run
  commentctl erase --email reader@example.com --reason "request 2025-117" --yes`,
		Args: argCount(0, 0, "no arguments: give the address with --email"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(email) == "" {
				return usagef(cmd, "--email is required: the address of the author whose data to erase")
			}
			if !dryRun && !yes && !isTerminal(c.stdin) {
				return usagef(cmd, "stdin is not a terminal, so erase cannot ask for confirmation: add --yes (or try --dry-run first)")
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			req := &commentdv1.EraseAuthorDataRequest{AuthorEmail: email, Reason: reason}
			if dryRun || !yes {
				count, err := c.erase(cmd.Context(), client, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email, Reason: reason, ValidateOnly: true})
				if err != nil {
					return err
				}
				if dryRun {
					if c.output == "json" {
						return writeJSON(c.stdout, count)
					}
					n := count.GetCommentCount()
					_, err := fmt.Fprintf(c.stdout, "Dry run: erase would anonymise %d comment%s of this author.\n", n, plural(n))
					return err
				}
				n := count.GetCommentCount()
				ok, err := c.confirm(fmt.Sprintf("Anonymise %d comment%s of this author and delete their record? This cannot be undone. [y/N] ", n, plural(n)))
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(c.stderr, "Nothing erased.")
					return nil
				}
			}
			resp, err := c.erase(cmd.Context(), client, req)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			n := resp.GetCommentCount()
			msg := fmt.Sprintf("Anonymised %d comment%s; the author's record is deleted.", n, plural(n))
			if n == 0 {
				// The server deletes the record under the address's hash either way, but cannot say
				// whether there was one: claim no more than that.
				msg = "No comments of this author were found; their record, if there was one, is deleted."
			}
			if _, err := fmt.Fprintln(c.stdout, msg); err != nil {
				return err
			}
			if n > 0 {
				// The server cannot do this part: the operator runs Redis, its replicas and backups.
				fmt.Fprintln(c.stderr, "Redis's append-only file keeps the old writes until it is rewritten: run BGREWRITEAOF on every node (docs/MODERATING.md).")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the author's email `ADDRESS` (hashed by the server, never stored or printed)")
	f.StringVar(&reason, "reason", "", "why, such as the request's reference, for the audit log (at most 500 characters)")
	f.BoolVar(&dryRun, "dry-run", false, "print how many comments would be anonymised; change nothing")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

// erase sends one EraseAuthorData call with erase's longer timeout.
func (c *cli) erase(ctx context.Context, client commentdv1.ModerationServiceClient, req *commentdv1.EraseAuthorDataRequest) (*commentdv1.EraseAuthorDataResponse, error) {
	timeout := max(c.timeout, eraseMinTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := client.EraseAuthorData(ctx, req)
	if err != nil {
		what := "erase"
		if req.GetValidateOnly() {
			what = "count the author's comments"
		}
		return nil, &callError{op: what, err: err, timeout: timeout, plaintext: !c.secure(), tokenFrom: c.tokenFrom}
	}
	return resp, nil
}
