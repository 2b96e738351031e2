package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// The word-list values of --list and --kind.
var (
	filterLists = map[string]commentdv1.FilterList{
		"hold": commentdv1.FilterList_FILTER_LIST_HOLD,
		"spam": commentdv1.FilterList_FILTER_LIST_SPAM,
	}
	filterKinds = map[string]commentdv1.FilterKind{
		"word":   commentdv1.FilterKind_FILTER_KIND_WORD,
		"phrase": commentdv1.FilterKind_FILTER_KIND_PHRASE,
		"domain": commentdv1.FilterKind_FILTER_KIND_DOMAIN,
		"email":  commentdv1.FilterKind_FILTER_KIND_EMAIL,
		"ip":     commentdv1.FilterKind_FILTER_KIND_IP,
		"regex":  commentdv1.FilterKind_FILTER_KIND_REGEX,
	}
)

func filterListName(l commentdv1.FilterList) string {
	return strings.ToLower(strings.TrimPrefix(l.String(), "FILTER_LIST_"))
}

func filterKindName(k commentdv1.FilterKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "FILTER_KIND_"))
}

// filterName turns "filters/ID" or a bare ID into the resource name the API takes.
func filterName(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "filters/") {
		return id
	}
	return "filters/" + id
}

func (c *cli) filtersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "filters list|add|rm",
		Short: "Edit the hold and spam word lists",
		Long: `filters edits the word lists: an entry of the hold list holds a matching comment for a moderator, an
entry of the spam list marks it spam. A change applies on every server within about a second,
without a restart.

An entry is one of these kinds:
  word     a whole word, ignoring case ("cash" does not match "cashew"), in the body
           or the author's name (not the user agent, whose words such as iPhone or
           Windows every reader of that browser sends)
  phrase   several words in a row, ignoring case, in the body or the author's name
           (both compare fullwidth and other compatibility forms as the plain letters:
           Ｃａｓｉｎｏ is the entry casino; in Chinese, Japanese or Thai, written
           without spaces, an entry such as 赌场赢钱 may be a word or a phrase and
           matches wherever its letters stand in a row)
  domain   a domain and its subdomains, in the body or the author's name (a link, or
           the name written out, such as shop.example) or the author's email address
  email    one author's email address: the server keeps only a keyed hash and shows it masked
  ip       an IP address (kept only as a keyed hash, shown masked) or a range such as 198.51.100.0/24
           (kept in clear, so an IPv4 range must be /29 or wider and an IPv6 range wider
           than a /64, one device's block)
  regex    an RE2 regular expression of at most 200 bytes, ignoring case, that
           does not match empty text and compiles to at most 100 instructions
           (a large counted repetition such as {1,999} is refused); it is matched
           against the body, the author's name, email address and user agent
A word, phrase, domain or regex that holds an email or IP address is refused: add the
address with kind email or ip, which the server keeps only as a keyed hash.`,
		Example: `  commentctl filters add --list spam --kind word casino
  commentctl filters list
  commentctl filters rm filters/0123456789abcdef01234567`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return missingSubcommand(cmd, args) },
	}
	cmd.AddCommand(c.filtersListCmd(), c.filtersAddCmd(), c.filtersRmCmd())
	return cmd
}

func (c *cli) filtersListCmd() *cobra.Command {
	var list string
	cmd := &cobra.Command{
		Use:   "list [--list hold|spam]",
		Short: "List the word-list entries",
		Long: `filters list prints every entry of both lists (or of one, with --list), oldest first: NAME, LIST, KIND,
VALUE (masked for email and single IP entries), BY (the moderator who added it) and AGE, or "No entries."
when there is none. With -o json the output is one ListFiltersResponse holding every entry.`,
		Example: `  commentctl filters list --list spam`,
		Args:    argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &commentdv1.ListFiltersRequest{PageSize: maxPageSize}
			// Changed, not non-empty: --list "$L" with L unset would list both lists.
			if cmd.Flags().Changed("list") {
				l, ok := filterLists[list]
				if !ok {
					return usagef(cmd, "--list %q: want hold or spam", list)
				}
				req.List = l
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			items, _, err := collectPages(cmd.Context(), c, "list filters", true, func(t string) { req.PageToken = t },
				func(ctx context.Context) ([]*commentdv1.Filter, string, error) {
					resp, err := client.ListFilters(ctx, req)
					return resp.GetFilters(), resp.GetNextPageToken(), err
				})
			if err != nil {
				return err
			}
			all := &commentdv1.ListFiltersResponse{Filters: items}
			if c.output == "json" {
				return writeJSON(c.stdout, all)
			}
			if len(all.GetFilters()) == 0 {
				return writeNoEntries(c.stdout)
			}
			// table, not text/tabwriter: a value in Chinese or with an emoji, as word and phrase
			// entries may be, is wider on screen than its count of characters.
			var tb table
			tb.row("NAME", "LIST", "KIND", "VALUE", "BY", "AGE")
			now := time.Now()
			for _, f := range all.GetFilters() {
				tb.row(f.GetName(), filterListName(f.GetList()), filterKindName(f.GetKind()),
					truncate(oneLine(f.GetValue()), 60), orDash(oneLine(f.GetModerator())), age(f.GetCreateTime(), now))
			}
			return tb.write(c.stdout)
		},
	}
	cmd.Flags().StringVar(&list, "list", "", "only this list: hold or spam")
	completeValues(cmd, "list", "hold", "spam")
	return cmd
}

func (c *cli) filtersAddCmd() *cobra.Command {
	var list, kind string
	cmd := &cobra.Command{
		Use:   "add --list hold|spam --kind word|phrase|domain|email|ip|regex VALUE",
		Short: "Add a word-list entry",
		Long: `filters add adds one entry and prints its name. Adding an entry that exists already changes nothing and
prints the existing one. With -o json the output is the CreateFilterResponse.`,
		Example: `  commentctl filters add --list spam --kind phrase "cheap watches"
  commentctl filters add --list hold --kind domain example.net
  commentctl filters add --list spam --kind regex 'v[i1]agra'`,
		Args: argCount(1, 1, "one VALUE (quote a phrase)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, ok := filterLists[list]
			if !ok {
				return usagef(cmd, "--list %q: want hold or spam", list)
			}
			k, ok := filterKinds[kind]
			if !ok {
				return usagef(cmd, "--kind %q: want word, phrase, domain, email, ip or regex", kind)
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := c.callCtx(cmd.Context())
			defer cancel()
			resp, err := client.CreateFilter(ctx, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{List: l, Kind: k, Value: args[0]}})
			if err != nil {
				return c.callError("add filter", err)
			}
			if c.output == "json" {
				return writeJSON(c.stdout, resp)
			}
			f := resp.GetFilter()
			_, err = fmt.Fprintf(c.stdout, "%s: %s list, %s %s\n", f.GetName(), filterListName(f.GetList()), filterKindName(f.GetKind()), oneLine(f.GetValue()))
			return err
		},
	}
	cmd.Flags().StringVar(&list, "list", "", "the list: hold or spam (required)")
	cmd.Flags().StringVar(&kind, "kind", "", "how the entry matches: word, phrase, domain, email, ip or regex (required)")
	completeValues(cmd, "list", "hold", "spam")
	completeValues(cmd, "kind", "word", "phrase", "domain", "email", "ip", "regex")
	return cmd
}

func (c *cli) filtersRmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove word-list entries",
		Long: `filters rm removes entries by name (filters/ID, or the bare ID) and prints one line per entry, in
the order given (a name given twice is sent once): "<name>: removed" on stdout, or the error on
stderr. The exit status is 1 if any name failed.

With -o json the output is one JSON array with an object per name: {"name", "ok": true}, or
{"name", "ok": false, "error": {"code", "message", "reason", "detail"}}.`,
		Example: `  commentctl filters rm filters/0123456789abcdef01234567`,
		Args:    argCount(1, -1, "at least one filter NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			return c.removeEach(cmd.Context(), args, filterName, func(ctx context.Context, name string) error {
				_, err := client.DeleteFilter(ctx, &commentdv1.DeleteFilterRequest{Name: name})
				return err
			}, "removed", "filters rm")
		},
	}
	return cmd
}
