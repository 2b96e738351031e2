package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// banReasonWidth is the width of the REASON column, in characters, so one ban stays on one line.
// Targets are never cut: a hash is only useful whole.
const banReasonWidth = 40

// ipOfComment is what --ip holds when it is given without a value (help shows it as
// --ip ADDR[="comment"]): with --comment it asks for the comment's address; alone, the address is
// the next argument ("--ip 192.0.2.1"). No IP address reads "comment".
const ipOfComment = "comment"

func (c *cli) banCmd() *cobra.Command {
	var (
		commentID, email, author, ip, cidr, reason string
		forSpan, requestID                         string
	)
	cmd := &cobra.Command{
		Use:   "ban (--comment ID [--ip] | --email E | --author KEY | --ip ADDR | --range CIDR) [--for 72h] --reason R [--request-id ID]",
		Short: "Ban an author, an IP address or an IP range from commenting",
		Long: `ban refuses new comments from an author, an IP address or an IP range, for a time (--for) or for good.
What a banned reader's site sees depends on the server's -ban-style: an error, or "pending" for a
comment no one else will ever see.

Say what to ban with exactly one of:
  --comment ID        the author of a comment (comments/ID or ID), by the author key shown with it
  --comment ID --ip   the IP address that comment was sent from (never shown, only its hash is used;
                      an IPv6 address is banned with its /64, which a device keeps as it changes address)
  --email E           an author by email address; the server hashes it and never stores it
  --author KEY        an author by the author_key shown in the moderator view (show, queue -o json)
  --ip ADDR           one IPv4 address, or an IPv6 address's /64; the server hashes it and never stores it
  --range CIDR        a network, such as 203.0.113.0/24 (at most /8 wide for IPv4, /16 for IPv6;
                      kept in clear, so an IPv4 range must be /29 or wider and an IPv6 range wider
                      than a /64, which --ip bans by its hash)

--for takes a length such as 90m, 72h or 30d (days), or forever; without it the ban lasts until
lifted with unban, as with forever. --reason (required, at most 500 characters) is kept with the ban for the other moderators,
together with your key's name; readers never see it. Banning what is already banned replaces the
old ban.

Each run sends a fresh random request id, which makes the ban safe to send again. When the call
fails in a way that leaves its outcome unknown (the server or Redis did not answer in time, the
connection broke), the ban may have been stored all the same: commentctl prints the id, and the
same command run again with --request-id ID (within 24 hours) gets the ban the first call stored
instead of banning, and recording the ban, a second time. A script that retries a ban should choose
one id per ban (a UUID) and pass it with --request-id to every try. The same id with another ban
(another target, --for or --reason) is refused with REQUEST_ID_REUSED.

It prints the ban; its NAME is what unban takes. With -o json the output is the CreateBanResponse.`,
		Example: `  commentctl ban --comment 01HZX3K9 --for 72h --reason "insults"
  commentctl ban --comment 01HZX3K9 --ip --for 24h --reason "sock puppets"
  commentctl ban --email troll@example.com --reason "ban evasion"
  commentctl ban --ip 2001:db8::42 --for 30d --reason "spam run"
  commentctl ban --range 203.0.113.0/24 --for 6h --reason "bot net"`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			req := &commentdv1.CreateBanRequest{Reason: strings.TrimSpace(reason)}
			// --ip ADDR arrives as --ip without a value plus one argument, since --ip may also stand
			// alone (with --comment).
			if f.Changed("ip") && ip == ipOfComment && !f.Changed("comment") && len(args) == 1 {
				ip, args = args[0], nil
			}
			if len(args) > 0 {
				return usagef(cmd, "ban takes no arguments, got %s: say what to ban with a flag", strings.Join(args, " "))
			}
			// A target given empty, as --email "$E" becomes with E unset, names nothing to ban:
			// sent, it would come back as the server's refusal of a bad value, which does not say
			// the command line is at fault.
			for _, t := range []struct{ name, value, want string }{
				{"comment", strings.TrimPrefix(strings.TrimSpace(commentID), "comments/"), "a comment ID or comments/ID"},
				{"email", email, "an email address"},
				{"author", author, "the author key shown with a comment (show, queue -o json)"},
				{"ip", ip, "an IP address, or --ip without a value beside --comment"},
				{"range", cidr, "a range such as 203.0.113.0/24"},
			} {
				if f.Changed(t.name) && strings.TrimSpace(t.value) == "" {
					return usagef(cmd, "--%s is empty; give %s", t.name, t.want)
				}
			}
			var given []string
			for _, name := range []string{"comment", "email", "author", "range"} {
				if f.Changed(name) {
					given = append(given, "--"+name)
				}
			}
			switch {
			case f.Changed("comment") && f.Changed("ip") && ip != ipOfComment:
				return usagef(cmd, "--comment takes --ip without a value (the comment's address); to ban another address drop --comment")
			case f.Changed("comment") && f.Changed("ip"):
				req.Target = &commentdv1.CreateBanRequest_CommentIp{CommentIp: commentName(commentID)}
			case f.Changed("comment"):
				req.Target = &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: commentName(commentID)}
			case f.Changed("ip") && ip == ipOfComment:
				return usagef(cmd, "--ip needs an address (--ip ADDR), or --comment ID to ban the address of a comment")
			case f.Changed("ip"):
				given = append(given, "--ip")
				req.Target = &commentdv1.CreateBanRequest_Ip{Ip: ip}
			case f.Changed("email"):
				req.Target = &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: email}
			case f.Changed("author"):
				req.Target = &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: author}
			case f.Changed("range"):
				req.Target = &commentdv1.CreateBanRequest_IpRange{IpRange: cidr}
			}
			switch {
			case len(given) == 0:
				return usagef(cmd, "say what to ban: --comment ID [--ip], --email, --author, --ip or --range")
			case len(given) > 1:
				return usagef(cmd, "ban one thing at a time, got %s", strings.Join(given, " and "))
			case req.GetReason() == "":
				return usagef(cmd, "--reason is required: say why, for the other moderators")
			}
			switch {
			case f.Changed("request-id") && strings.TrimSpace(requestID) == "":
				return usagef(cmd, "--request-id is empty; give the id of the ban to send again, or leave the flag out")
			case f.Changed("request-id"):
				req.RequestId = strings.TrimSpace(requestID)
			default:
				req.RequestId = newBanRequestID()
			}
			if f.Changed("for") {
				d, err := parseBanSpan(forSpan)
				if err != nil {
					return usagef(cmd, "--for %q: %v", forSpan, err)
				}
				if d > 0 { // 0: forever, which is no duration
					req.Duration = durationpb.New(d)
				}
			}

			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := c.callCtx(cmd.Context())
			defer cancel()
			resp, err := client.CreateBan(ctx, req)
			if err != nil {
				if outcomeUnknown(err) {
					fmt.Fprintf(c.stderr, "commentctl: the ban may have been stored; %s\n", banRetryHint("run the same command with", req.GetRequestId()))
				}
				return c.callError("ban", err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			if old := resp.GetReplacedBan(); old != nil {
				// A target has one ban: say so when this one ended another, which may have been longer.
				fmt.Fprintf(c.stderr, "commentctl: this ban replaced the one in force on %s (%s, by %s: %s)\n",
					cell(old.GetTarget(), 0), banEnd(old.GetExpireTime(), time.Now()), cell(old.GetModerator(), 0), cell(old.GetReason(), banReasonWidth))
			}
			return writeBan(c.stdout, resp.GetBan(), time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&commentID, "comment", "", "ban the author of this comment `ID` (with --ip: its address)")
	f.StringVar(&ip, "ip", "", "ban the IP address `ADDR`; without a value, with --comment, the address of that comment")
	f.Lookup("ip").NoOptDefVal = ipOfComment
	f.StringVar(&email, "email", "", "ban the author with this email address `E` (hashed by the server, never stored)")
	f.StringVar(&author, "author", "", "ban the author with this author `KEY` (from the moderator view)")
	f.StringVar(&cidr, "range", "", "ban this IP range `CIDR`, such as 203.0.113.0/24")
	f.StringVar(&forSpan, "for", "", "how long the ban lasts: a `LENGTH` such as 90m, 72h or 30d, or forever (the default: until lifted)")
	f.StringVar(&reason, "reason", "", "why (`R`), for the other moderators: required, at most 500 characters")
	f.StringVar(&requestID, "request-id", "", "send the ban with this request `ID` (the one printed by a failed run, or a script's own), to retry it safely; default: a fresh random id")
	return cmd
}

// newBanRequestID returns a fresh request id for one ban command.
func newBanRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return "ban-" + hex.EncodeToString(b[:])
}

// banRetryHint tells a moderator whose ban ended without an answer how to send it again with its
// request id, which gets the ban the first call stored, if it did, instead of banning twice:
// rerun is the command to run ("run the same command with"), to which --request-id is added.
func banRetryHint(rerun, requestID string) string {
	return fmt.Sprintf("to try again without banning twice, %s --request-id %s (within 24 hours)", rerun, requestID)
}

// shellWord quotes s for a POSIX shell when it holds anything but letters, digits and a few
// punctuation marks that need no quoting, so a command line printed for the moderator can be
// pasted as it is.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// banForFlag is the --for value that asks for a ban of length d (0: for good), as parseBanSpan
// reads it back.
func banForFlag(d time.Duration) string {
	switch {
	case d == 0:
		return "forever"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// outcomeUnknown reports whether a CreateBan that failed with err may have stored its ban: the
// call was cut short (a timeout, Ctrl-C, the connection or Redis lost) rather than refused. A
// connection that could not be made (gRPC says so only in the message) sent nothing.
func outcomeUnknown(err error) bool {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable:
		return !strings.Contains(st.Message(), "while dialing") && connHint(err, false) == "" && connHint(err, true) == ""
	case codes.Canceled, codes.DeadlineExceeded, codes.Unknown, codes.Internal:
		return true
	}
	return false
}

// parseBanSpan reads --for: a Go duration ("90m", "72h", "1h30m"), a number of days ("30d"), or
// "forever" (0: until lifted), as the review screen's ban prompt takes them.
func parseBanSpan(s string) (time.Duration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "forever", "permanent", "for good":
		return 0, nil
	}
	d, err := parseSpan(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("want a length such as 90m, 72h or 30d, or forever")
	case d <= 0:
		return 0, fmt.Errorf("must be positive (leave --for out to ban until lifted)")
	}
	return d, nil
}

func (c *cli) bansCmd() *cobra.Command {
	var (
		page pageFlags
	)
	cmd := &cobra.Command{
		Use:   "bans [--limit N] [--page-token T] [--all]",
		Short: "List the bans in force",
		Long: `bans lists the bans in force, newest first. Expired bans are gone.

Columns: NAME (what unban takes), TARGET (author:<key>, ip:<hash> or range:<cidr>: an author or a
single address is only ever shown as its keyed hash), CREATED, EXPIRES ("never" for a ban until
lifted), BY (the moderator's key name) and REASON.

One call returns one page (--limit bans, server default 50, at most 500). When there are more, the
next page's token is printed on stderr; pass it with --page-token, or use --all to fetch every
page. No bans prints "No entries.". With -o json the output is the ListBansResponse (with --all, one
response holding every page).`,
		Example: `  commentctl bans
  commentctl bans --all -o json | jq -r '.bans[] | select(.target | startswith("range:")) | .name'`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := page.check(cmd); err != nil {
				return err
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			req := &commentdv1.ListBansRequest{PageSize: page.size(), PageToken: page.token}
			items, token, err := collectPages(cmd.Context(), c, "list bans", page.all, func(t string) { req.PageToken = t },
				func(ctx context.Context) ([]*commentdv1.Ban, string, error) {
					resp, err := client.ListBans(ctx, req)
					return resp.GetBans(), resp.GetNextPageToken(), err
				})
			if err != nil {
				return err
			}
			merged := &commentdv1.ListBansResponse{Bans: items, NextPageToken: token}
			if c.output == "json" {
				return writeJSON(c.stdout, merged)
			}
			if err := writeBans(c.stdout, merged.GetBans(), time.Now()); err != nil {
				return err
			}
			c.moreHint("bans", merged.GetNextPageToken())
			return nil
		},
	}
	page.add(cmd, "bans")
	return cmd
}

func (c *cli) unbanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unban NAME...",
		Short: "Lift bans",
		Long: `unban lifts bans at once. Each NAME is a ban's resource name as bans lists it (bans/ID) or just
its ID. One line is printed per name, in the order given (a name given twice is sent once):
"<name>: lifted" on stdout, or the error on stderr (NOT_FOUND when there is no such ban in force,
expired ones included). The exit status is 1 if any name failed.

With -o json the output is one JSON array with an object per name: {"name", "ok": true}, or
{"name", "ok": false, "error": {"code", "message", "reason", "detail"}}.`,
		Example: `  commentctl unban bans/range-203.0.113.0-24
  commentctl bans --all -o json | jq -r '.bans[].name' | xargs -r commentctl unban`,
		Args: argCount(1, -1, "at least one ban NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			return c.removeEach(cmd.Context(), args, banName, func(ctx context.Context, name string) error {
				_, err := client.DeleteBan(ctx, &commentdv1.DeleteBanRequest{Name: name})
				return err
			}, "lifted", "unban")
		},
	}
}

// banName turns "bans/ID" or a bare ID into the resource name the API takes.
func banName(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "bans/") {
		return id
	}
	return "bans/" + id
}

type unbanResult struct {
	name string
	err  error
}

// unbanJSON is one element of the -o json output of unban.
type unbanJSON struct {
	Name  string     `json:"name"`
	OK    bool       `json:"ok"`
	Error *errorJSON `json:"error,omitempty"`
}

// removeEach removes each of args (named by name) with remove, one call at a time, and prints a
// line per name in the order given, "<name>: <done>" on stdout or the error on stderr (-o json: one
// array, as writeUnbansJSON). It fails, as verb, when any call did. unban and filters rm share it.
// When ctx ends (Ctrl-C) it sends no more, and names not sent get ctx's error; the call already
// sent is left to finish (bounded by --timeout): cut short, it would be reported as cancelled
// though the server may have removed the entry.
//
// A name given twice (the bare ID and bans/ID, or a list with repeats) is removed once, as
// approve decides a comment once: sent again, it would come back NOT_FOUND, and a command that
// removed everything it was given would end with exit status 1.
func (c *cli) removeEach(ctx context.Context, args []string, name func(string) string, remove func(context.Context, string) error, done, verb string) error {
	results := make([]unbanResult, 0, len(args))
	failed := 0
	seen := make(map[string]bool, len(args))
	callBase := context.WithoutCancel(ctx)
	for _, a := range args {
		n := name(a)
		if seen[n] {
			continue
		}
		seen[n] = true
		var err error
		if ctx.Err() != nil {
			err = fmt.Errorf("not sent: %w", context.Cause(ctx))
		} else {
			callCtx, cancel := c.callCtx(callBase)
			err = remove(callCtx, n)
			cancel()
		}
		if err != nil {
			failed++
		}
		results = append(results, unbanResult{name: n, err: err})
	}
	if c.output == "json" {
		if err := c.writeUnbansJSON(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.err != nil {
				fmt.Fprintf(c.stderr, "%s: %s\n", r.name, c.describe(r.err))
				continue
			}
			fmt.Fprintf(c.stdout, "%s: %s\n", r.name, done)
		}
	}
	if failed > 0 {
		return &batchError{verb: verb, failed: failed, total: len(results)}
	}
	return nil
}

func (c *cli) writeUnbansJSON(results []unbanResult) error {
	out := make([]unbanJSON, 0, len(results))
	for _, r := range results {
		u := unbanJSON{Name: r.name, OK: r.err == nil}
		if r.err != nil {
			st := status.Convert(r.err)
			u.Error = &errorJSON{Code: code.Code(st.Code()).String(), Message: st.Message(), Detail: c.describe(r.err)}
			for _, det := range st.Details() {
				if info, ok := det.(*errdetails.ErrorInfo); ok {
					u.Error.Reason = info.GetReason()
				}
			}
		}
		out = append(out, u)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results as json: %w", err)
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// expires says when a ban ends: "never", or the time and how long from now.
func expires(b *commentdv1.Ban, now time.Time) string {
	if b.GetExpireTime() == nil {
		return "never"
	}
	at := b.GetExpireTime().AsTime()
	return at.UTC().Format(time.RFC3339) + " (in " + humanUntil(at.Sub(now)) + ")"
}

// writeBan prints one ban as fields, as ban shows the ban it made.
func writeBan(w io.Writer, b *commentdv1.Ban, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", cell(b.GetName(), 0))
	fmt.Fprintf(tw, "Target:\t%s\n", cell(b.GetTarget(), 0))
	fmt.Fprintf(tw, "Created:\t%s\n", when(b.GetCreateTime(), now))
	fmt.Fprintf(tw, "Expires:\t%s\n", expires(b, now))
	fmt.Fprintf(tw, "By:\t%s\n", cell(b.GetModerator(), 0))
	fmt.Fprintf(tw, "Reason:\t%s\n", cell(b.GetReason(), 0))
	return tw.Flush()
}

// writeBans prints the bans table, or "No entries." when no ban is in force.
func writeBans(w io.Writer, bans []*commentdv1.Ban, now time.Time) error {
	if len(bans) == 0 {
		return writeNoEntries(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTARGET\tCREATED\tEXPIRES\tBY\tREASON")
	for _, b := range bans {
		exp := "never"
		if b.GetExpireTime() != nil {
			exp = "in " + humanUntil(b.GetExpireTime().AsTime().Sub(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
			cell(b.GetName(), 0),
			cell(b.GetTarget(), 0),
			age(b.GetCreateTime(), now)+" ago",
			exp,
			cell(b.GetModerator(), 0),
			cell(b.GetReason(), banReasonWidth),
		)
	}
	return tw.Flush()
}
