package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

const (
	// bulkConcurrency bounds the calls in flight, as for approve and reject.
	bulkConcurrency = decideConcurrency
	// bulkPreview is how many matching comments --dry-run lists.
	bulkPreview = 10
	// progressEvery is how often the progress bar is redrawn on a terminal.
	progressEvery = 100 * time.Millisecond
	// progressBarLen is the width of the progress bar, in characters.
	progressBarLen = 30
	// maxRelease is the most names one ReleaseComments call takes.
	maxRelease = 50
)

// bulkVerb is one action bulk applies to every matching comment.
type bulkVerb struct {
	name         string     // the subcommand
	done         string     // past tense, for the summary
	defaultState string     // the --state it works on unless told otherwise
	states       []string   // the --state values it makes sense for
	call         bulkCallFn // sends the action for one comment
	long         string     // what it does, for --help
	example      string     // one extra example line, for --help
	// release: the server claims each comment the action succeeds on for the caller, and bulk
	// gives the claims back (bulkReleaser).
	release bool
}

// bulkCallFn sends the action for one comment, with the etag it was listed with: the server takes
// the decision only if the comment has not changed since.
type bulkCallFn func(ctx context.Context, client commentdv1.ModerationServiceClient, name, reason, etag string) (*commentdv1.ModeratedComment, error)

func bulkVerbs() []bulkVerb {
	return []bulkVerb{
		{
			name: "approve", done: "approved", defaultState: "pending", states: []string{"pending", "rejected", "spam"},
			long: "approve publishes every matching comment.",
			call: func(ctx context.Context, cl commentdv1.ModerationServiceClient, name, reason, etag string) (*commentdv1.ModeratedComment, error) {
				resp, err := cl.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name, Reason: reason, Etag: etag})
				return resp.GetComment(), err
			},
			example: "commentctl bulk approve --thread blog-post-42 --score-below 0.1 --dry-run",
		},
		{
			name: "reject", done: "rejected", defaultState: "pending", states: []string{"pending", "spam"},
			long: "reject hides every matching comment for good.",
			call: func(ctx context.Context, cl commentdv1.ModerationServiceClient, name, reason, etag string) (*commentdv1.ModeratedComment, error) {
				resp, err := cl.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name, Reason: reason, Etag: etag})
				return resp.GetComment(), err
			},
			example: `commentctl bulk reject --author 13bf0b8e8f6e6ddb06327d0d8cabd29b62753520 --reason "repeated abuse" --yes`,
		},
		{
			name: "spam", done: "marked spam", defaultState: "pending", states: []string{"pending", "rejected"},
			long: "spam marks every matching comment spam; the spam model learns from each.",
			call: func(ctx context.Context, cl commentdv1.ModerationServiceClient, name, reason, etag string) (*commentdv1.ModeratedComment, error) {
				resp, err := cl.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name, Reason: reason, Etag: etag})
				return resp.GetComment(), err
			},
			example: "commentctl bulk spam --score-above 0.9 --reason-code TOO_MANY_LINKS --yes",
		},
		{
			name: "reopen", done: "reopened", defaultState: "rejected", states: []string{"rejected", "spam"},
			long: "reopen puts every matching decided comment back in the queue as pending, undoing its decision, for any moderator to review.",
			call: func(ctx context.Context, cl commentdv1.ModerationServiceClient, name, reason, etag string) (*commentdv1.ModeratedComment, error) {
				resp, err := cl.ReopenComment(ctx, &commentdv1.ReopenCommentRequest{Name: name, Reason: reason, Etag: etag})
				return resp.GetComment(), err
			},
			// The server claims a reopened comment for whoever reopened it, so that a moderator
			// taking back one decision reviews it again; comments reopened in bulk go back to
			// everyone's queue.
			release: true,
			example: "commentctl bulk reopen --state spam --older-than 1h --score-below 0.5 --dry-run",
		},
	}
}

// bulkRequest turns the filter into the first ListQueueRequest of bulk v, with times measured from
// now; v limits the states.
func bulkRequest(cmd *cobra.Command, f queueFilter, v bulkVerb, now time.Time) (*commentdv1.ListQueueRequest, error) {
	if _, ok := parseQueueState(f.state); !ok || !slices.Contains(v.states, f.state) {
		return nil, usagef(cmd, "--state %q: bulk %s works on %s comments", f.state, v.name, strings.Join(v.states, ", "))
	}
	req, err := f.request(cmd, now)
	if err != nil {
		return nil, err
	}
	req.PageSize = maxPageSize
	return req, nil
}

func (c *cli) bulkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bulk approve|reject|spam|reopen [filters] [--dry-run] [--yes] [--reason R]",
		Short: "Apply one decision to every comment that matches filters",
		Long: `bulk lists every comment in the queue that matches the filters (all pages), then applies one
action to each: approve, reject, spam or reopen. See each subcommand's --help.

Start with --dry-run: it prints how many comments match and the first few, and sends nothing;
queue with the same filters lists them all.
Without it, bulk asks for confirmation on the terminal; give --yes to skip the question (required
when stdin is not a terminal, as in scripts).`,
		Example: `  commentctl bulk reject --thread blog-post-42 --older-than 48h --dry-run
  commentctl bulk spam --score-above 0.95 --yes`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return missingSubcommand(cmd, args)
		},
	}
	for _, v := range bulkVerbs() {
		cmd.AddCommand(c.bulkVerbCmd(v))
	}
	return cmd
}

func (c *cli) bulkVerbCmd(v bulkVerb) *cobra.Command {
	var (
		f      queueFilter
		dryRun bool
		yes    bool
		reason string
	)
	cmd := &cobra.Command{
		Use:   v.name + " [--thread ID] [--author KEY] [--older-than 48h] [--score-above X] [--score-below X] [--reason-code CODE] [--state S] [--dry-run] [--yes] [--reason R]",
		Short: "Bulk " + v.name + " the comments that match filters",
		Long: `bulk ` + v.long + `

Filters (all must match): --state (default ` + v.defaultState + `; one of ` + strings.Join(v.states, ", ") + `),
--thread, --author (the author key that show prints), --older-than (created more than this long
ago: 90m, 48h, 7d; or before an RFC 3339 time or a UTC date), --score-above and --score-below
(spam score from 0 to 1, bounds included) and --reason-code (held for this check, such as
TOO_MANY_LINKS; a code no check sets is refused before anything is sent).

--dry-run prints the number of matching comments and the first ` + fmt.Sprint(bulkPreview) + `, and sends nothing. Otherwise
bulk asks "Approve N comments? [y/N]" (Reject, Spam, Reopen) on the terminal, or needs --yes. It sends at most 8 calls at a
time, shows progress on stderr and ends with a summary; each failure is printed on its own line on
stderr and the exit status is 1 if any failed. Comments that arrive after the listing are left
alone, and so is a listed comment that changed between the listing and its turn (another
moderator decided it, or readers' reports took it down): each decision carries the etag the
listing showed, and the server refuses it, atomically, if the comment no longer has it (ABORTED,
ETAG_MISMATCH; the line says what the comment is now). One a colleague already decided the way
bulk would counts as done. Ctrl-C stops sending; calls already sent finish.

With -o json, --dry-run prints {"action", "count", "comments"}; a real run prints the same array
as approve -o json: one object per comment with "name", "ok" and "comment" or "error".`,
		Example: "  " + v.example + "\n  commentctl bulk " + v.name + " --thread blog-post-42 --reason-code PRE_MODERATION --yes -o json",
		Args:    argCount(0, 0, "no arguments: select comments with the filter flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := bulkRequest(cmd, f, v, time.Now())
			if err != nil {
				return err
			}
			if !dryRun && !yes && !isTerminal(c.stdin) {
				return usagef(cmd, "stdin is not a terminal, so bulk %s cannot ask for confirmation: add --yes (or try --dry-run first)", v.name)
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			ctx := cmd.Context()
			matched, err := c.listAll(ctx, client, req)
			if err != nil {
				return err
			}
			if dryRun {
				return c.printDryRun(v, matched)
			}
			if len(matched) == 0 {
				if c.output == "json" {
					return writeDecisionsJSON(c, nil)
				}
				fmt.Fprintln(c.stdout, "No comments match; nothing to do.")
				return nil
			}
			if !yes {
				ok, err := c.confirm(fmt.Sprintf("%s %d comment%s? [y/N] ",
					strings.ToUpper(v.name[:1])+v.name[1:], len(matched), plural(int64(len(matched)))))
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(c.stderr, "Nothing sent.")
					return nil
				}
			}
			items := make([]bulkItem, len(matched))
			for i, mc := range matched {
				items[i] = bulkItem{name: mc.GetComment().GetName(), etag: mc.GetEtag()}
				if items[i].name == "" {
					items[i].name = commentName(mc.GetComment().GetId())
				}
			}
			results := c.bulkApply(ctx, client, v, items, reason)
			return c.printBulk(v, results)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.state, "state", v.defaultState, "which comments: "+strings.Join(v.states, ", "))
	f.addFlags(cmd)
	fl.BoolVar(&dryRun, "dry-run", false, "print how many comments match, and the first few; send nothing")
	fl.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	fl.StringVar(&reason, "reason", "", "why, recorded with each decision (at most 500 characters)")
	_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return v.states, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// listAll follows every page of the queue for req. The whole list is taken before anything is
// changed: acting while paging would shift the pages under us.
func (c *cli) listAll(ctx context.Context, client commentdv1.ModerationServiceClient, req *commentdv1.ListQueueRequest) ([]*commentdv1.ModeratedComment, error) {
	var all []*commentdv1.ModeratedComment
	seen := map[string]bool{}
	for {
		callCtx, cancel := c.callCtx(ctx)
		resp, err := client.ListQueue(callCtx, req)
		cancel()
		if err != nil {
			return nil, c.callError("list queue", err)
		}
		for _, mc := range resp.GetComments() {
			// A comment that moves while we page could show up twice; act on it once.
			if n := mc.GetComment().GetName(); !seen[n] {
				seen[n] = true
				all = append(all, mc)
			}
		}
		if resp.GetNextPageToken() == "" {
			return all, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func (c *cli) printDryRun(v bulkVerb, matched []*commentdv1.ModeratedComment) error {
	if c.output == "json" {
		comments := make([]json.RawMessage, 0, len(matched))
		for _, mc := range matched {
			b, err := jsonOptions.Marshal(mc)
			if err != nil {
				return fmt.Errorf("encode %s as json: %w", mc.GetComment().GetName(), err)
			}
			comments = append(comments, b)
		}
		b, err := json.MarshalIndent(struct {
			Action   string            `json:"action"`
			Count    int               `json:"count"`
			Comments []json.RawMessage `json:"comments"`
		}{v.name, len(matched), comments}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode dry run as json: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	n := len(matched)
	fmt.Fprintf(c.stdout, "Dry run: bulk %s would change %d comment%s.\n", v.name, n, plural(int64(n)))
	if n == 0 {
		return nil
	}
	shown := matched[:min(n, bulkPreview)]
	if n > len(shown) {
		fmt.Fprintf(c.stdout, "The first %d:\n", len(shown))
	}
	return writeQueue(c.stdout, shown, time.Now())
}

// confirm asks question on stderr and reads the answer from stdin; only y or yes agrees.
func (c *cli) confirm(question string) (bool, error) {
	fmt.Fprint(c.stderr, question)
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// bulkItem is one listed comment: its name and the etag the listing showed it with.
type bulkItem struct {
	name string
	etag string
}

// bulkApply sends v for every item, at most bulkConcurrency at a time, reporting progress on
// stderr. When ctx ends it stops sending; items not sent get ctx's error. Calls already sent are
// left to finish (bounded by --timeout), so the summary tells what the server did.
func (c *cli) bulkApply(ctx context.Context, client commentdv1.ModerationServiceClient, v bulkVerb, items []bulkItem, reason string) []decideResult {
	results := make([]decideResult, len(items))
	prog := newProgress(c.stderr, "bulk "+v.name, len(items), isTerminal(c.stderr))
	sem := make(chan struct{}, bulkConcurrency)
	var wg sync.WaitGroup
	callBase := context.WithoutCancel(ctx)
	var rel *bulkReleaser
	if v.release {
		rel = &bulkReleaser{send: func(names []string) {
			// Sent after Ctrl-C too: the comments are reopened, and should not wait out the claim.
			callCtx, cancel := c.callCtx(callBase)
			defer cancel()
			// A failed release fails nothing: the claim ends with its lease.
			_, _ = client.ReleaseComments(callCtx, &commentdv1.ReleaseCommentsRequest{Names: names})
		}}
	}
	for i, it := range items {
		if !acquire(ctx, sem) {
			results[i] = decideResult{name: it.name, err: fmt.Errorf("not sent: %w", context.Cause(ctx))}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			callCtx, cancel := c.callCtx(callBase)
			defer cancel()
			mc, err := v.call(callCtx, client, it.name, reason, it.etag)
			results[i] = decideResult{name: it.name, comment: mc, err: err}
			prog.done(err != nil)
			if rel != nil && err == nil {
				rel.add(it.name) // in this call's slot: a release counts among the calls in flight
			}
		})
	}
	wg.Wait()
	if rel != nil {
		rel.flush()
	}
	prog.finish()
	return results
}

// bulkReleaser gives back the claims the server takes on the comments bulk acts on, maxRelease
// names per ReleaseComments call rather than one call per comment: 200 reopens make 204 calls,
// not 400. A group goes as soon as it is full, from the call that filled it; flush sends the
// rest at the end.
type bulkReleaser struct {
	send func(names []string)

	mu    sync.Mutex
	names []string
}

// add queues name, and sends the group once it holds maxRelease names.
func (r *bulkReleaser) add(name string) {
	r.mu.Lock()
	r.names = append(r.names, name)
	var full []string
	if len(r.names) >= maxRelease {
		full, r.names = r.names, nil
	}
	r.mu.Unlock()
	if full != nil {
		r.send(full)
	}
}

// flush sends the names not sent yet.
func (r *bulkReleaser) flush() {
	r.mu.Lock()
	rest := r.names
	r.names = nil
	r.mu.Unlock()
	if len(rest) > 0 {
		r.send(rest)
	}
}

// acquire takes a slot of sem, or reports false once ctx has ended. A select alone would not do:
// when a slot is free as well it picks one of the two at random, and after Ctrl-C every other
// comment would still be sent while slots come free.
func acquire(ctx context.Context, sem chan struct{}) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case sem <- struct{}{}:
	}
	if ctx.Err() != nil {
		<-sem
		return false
	}
	return true
}

func (c *cli) printBulk(v bulkVerb, results []decideResult) error {
	return c.printResults("bulk "+v.name, results, func(failed int) {
		for _, r := range results {
			if r.err != nil {
				fmt.Fprintf(c.stderr, "%s: %s\n", r.name, c.describe(r.err))
			}
		}
		fmt.Fprintf(c.stdout, "%s %d of %d comment%s", strings.ToUpper(v.done[:1])+v.done[1:],
			len(results)-failed, len(results), plural(int64(len(results))))
		if failed > 0 {
			fmt.Fprintf(c.stdout, "; %d failed (listed on stderr)", failed)
		}
		fmt.Fprintln(c.stdout, ".")
	})
}

// progress reports how far a bulk run is: a bar redrawn in place on a terminal, otherwise a line
// at every tenth of the work, so logs of scripted runs stay short.
type progress struct {
	w     io.Writer
	label string
	total int
	tty   bool

	mu         sync.Mutex
	finished   int
	failed     int
	lastDraw   time.Time
	lastTenths int
}

func newProgress(w io.Writer, label string, total int, tty bool) *progress {
	return &progress{w: w, label: label, total: total, tty: tty}
}

// done counts one finished call.
func (p *progress) done(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	if failed {
		p.failed++
	}
	if p.tty {
		if now := time.Now(); now.Sub(p.lastDraw) >= progressEvery || p.finished == p.total {
			p.lastDraw = now
			p.drawBar()
		}
		return
	}
	if tenths := p.finished * 10 / p.total; tenths > p.lastTenths {
		p.lastTenths = tenths
		fmt.Fprintf(p.w, "%s: %d/%d done, %d failed\n", p.label, p.finished, p.total, p.failed)
	}
}

// finish ends the bar's line, so what follows starts on a fresh one.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.finished > 0 {
		p.drawBar()
		fmt.Fprintln(p.w)
	}
}

func (p *progress) drawBar() {
	n := p.finished * progressBarLen / p.total
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label,
		strings.Repeat("█", n), strings.Repeat("·", progressBarLen-n), p.finished, p.total)
	if p.failed > 0 {
		fmt.Fprintf(p.w, ", %d failed", p.failed)
	}
}
