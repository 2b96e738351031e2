package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/commentd/commentd/internal/moderation"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// exportMaxMessage is the largest export response commentctl accepts: the server's bound of one
// export (which counts its framing too) and room to spare. gRPC's default, 4 MiB, holds only a few
// thousand comments.
const exportMaxMessage = moderation.MaxExportBytes + 4<<20

// exportBodyWidth is how much of each comment's text the table shows.
const exportBodyWidth = 50

func (c *cli) exportCmd() *cobra.Command {
	var (
		email, reason, since, until, out string
	)
	cmd := &cobra.Command{
		Use:   "export --email ADDRESS [--reason R] [--since T] [--until T] [--out FILE]",
		Short: "Export an author's personal data (an access request); admin keys only",
		Long: `export answers a reader's request for a copy of their personal data: every comment of the author
with that email address, oldest first, with their name, email and IP address, user agent, the
times, the text, why the checks held it and the last moderator decision. It changes nothing but
the audit log. It needs a key of role "admin".

The export holds the email and IP addresses IN CLEAR: it is the reader's own data, for them only.
--out FILE writes it as JSON (the ExportAuthorDataResponse) to a new file only you can read (mode
0600; an existing file is never overwritten; it is made before the call, so a file that cannot be
made stops export before anything is handed out or audited) and prints a one-line summary.
Without --out, -o json prints the JSON, and the table lists the comments without the addresses,
which are in the JSON only, or prints "No entries." when the author has none (in the period).
--reason (at most 500 characters), such as the request's reference, goes to the audit log with the
number of comments: do not put the address in it.

An author with more than 10,000 comments (or 32 MiB of them) is refused: export them in periods
with --since and --until (a span back from now such as 7d, an RFC 3339 time or a UTC date; a
comment counts by its creation time). The server walks every stored comment, so the call may take
a while: export waits up to ` + eraseMinTimeout.String() + ` (or --timeout, if longer).`,
		Example: `  commentctl export --email reader@example.com --reason "request 2025-118" --out reader-export.json
  commentctl export --email reader@example.com --since 2020-01-01 --until 2023-01-01 --out part1.json`,
		Args: argCount(0, 0, "no arguments: give the address with --email"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(email) == "" {
				return usagef(cmd, "--email is required: the address of the author whose data to export")
			}
			req := &commentdv1.ExportAuthorDataRequest{AuthorEmail: email, Reason: reason}
			now := time.Now()
			var err error
			if req.StartTime, req.EndTime, err = parsePeriod(cmd, since, until, now); err != nil {
				return err
			}
			var file *os.File
			if out != "" {
				// Made before the call: the walk may take minutes, and an export that cannot be
				// saved (the file exists, its directory does not, or is not ours to write) would be
				// audited for nothing. It is removed unless the export is written to it.
				if file, err = createExportFile(out); err != nil {
					return err
				}
				defer func() {
					if file != nil {
						file.Close()
						os.Remove(out)
					}
				}()
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := c.export(cmd.Context(), client, req)
			if err != nil {
				return err
			}
			n := int64(len(resp.GetComments()))
			switch {
			case out != "":
				f := file
				file = nil // writeExportFile closes it, and removes it if it fails
				if err := writeExportFile(f, resp); err != nil {
					return err
				}
				_, err := fmt.Fprintf(c.stdout, "Wrote %d comment%s of this author to %s. It holds personal data in clear: hand it to the author only.\n", n, plural(n), out)
				return err
			case c.output == "json":
				return writeJSON(c.stdout, resp)
			}
			return writeExport(c.stdout, resp.GetComments())
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the author's email `ADDRESS` (hashed by the server to find their comments; never printed)")
	f.StringVar(&reason, "reason", "", "why, such as the request's reference, for the audit log (at most 500 characters)")
	f.StringVar(&since, "since", "", "only comments created at or after this time: 7d, RFC 3339 or a date")
	f.StringVar(&until, "until", "", "only comments created before this time: 7d, RFC 3339 or a date")
	f.StringVar(&out, "out", "", "write the export as JSON to this new `FILE` (mode 0600)")
	return cmd
}

// export sends one ExportAuthorData call with erase's longer timeout and a receive limit that holds
// the largest export.
func (c *cli) export(ctx context.Context, client commentdv1.ModerationServiceClient, req *commentdv1.ExportAuthorDataRequest) (*commentdv1.ExportAuthorDataResponse, error) {
	timeout := max(c.timeout, eraseMinTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := client.ExportAuthorData(ctx, req, grpc.MaxCallRecvMsgSize(exportMaxMessage))
	if err != nil {
		return nil, &callError{op: "export", err: err, timeout: timeout, plaintext: !c.secure(), tokenFrom: c.tokenFrom}
	}
	return resp, nil
}

// createExportFile makes the new, empty file at path that only its owner can read, for
// writeExportFile; an existing file is never overwritten.
func createExportFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("--out %s: the file exists; export never overwrites one", path)
	}
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	return f, nil
}

// writeExportFile writes resp as JSON to f, made by createExportFile, and closes it. A file left
// half written is removed.
func writeExportFile(f *os.File, resp *commentdv1.ExportAuthorDataResponse) error {
	err := writeJSON(f, resp)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if rerr := os.Remove(f.Name()); rerr != nil {
			return fmt.Errorf("write --out %s: %w; the half-written file is left: %v", f.Name(), err, rerr)
		}
		return fmt.Errorf("write --out %s: %w", f.Name(), err)
	}
	return nil
}

// writeExport prints the export as a table, without the email and IP addresses, and a summary;
// or "No entries.", as the other list commands do, when there is no comment.
func writeExport(w io.Writer, cs []*commentdv1.ExportedComment) error {
	if len(cs) == 0 {
		return writeNoEntries(w)
	}
	var t table
	t.row("CREATED", "COMMENT", "THREAD", "STATE", "DECISION", "TEXT")
	unreadable := 0
	for _, x := range cs {
		cm := x.GetComment()
		decision := "-"
		if d := x.GetDecision(); d != nil {
			decision = stateName(d.GetToState()) + " by " + oneLine(d.GetModerator())
		}
		if len(x.GetUnreadableFields()) > 0 {
			unreadable++
		}
		t.row(
			cm.GetCreateTime().AsTime().UTC().Format(time.RFC3339),
			cell(cm.GetName(), 0),
			cell(cm.GetThreadId(), 0),
			stateName(cm.GetState()),
			decision,
			cell(cm.GetBody(), exportBodyWidth),
		)
	}
	if err := t.write(w); err != nil {
		return err
	}
	n := int64(len(cs))
	fmt.Fprintf(w, "%d comment%s. The email and IP addresses are in the JSON export only (--out FILE or -o json).\n", n, plural(n))
	if unreadable > 0 {
		verb := "holds"
		if unreadable != 1 {
			verb = "hold"
		}
		fmt.Fprintf(w, "%d comment%s %s a sealed value the server's keys do not open (see unreadableFields in the JSON).\n", unreadable, plural(int64(unreadable)), verb)
	}
	return nil
}
