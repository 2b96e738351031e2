package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// decideConcurrency bounds the calls in flight for one approve or reject, so a long list of ids
// does not flood the server (or trip its rate limits all at once).
const decideConcurrency = 8

// action is a moderator decision commentctl can send.
type action int

const (
	actApprove action = iota + 1
	actReject
	actReopen
	actMarkSpam
	actMarkNotSpam
)

// verb is the command name.
func (a action) verb() string {
	switch a {
	case actApprove:
		return "approve"
	case actReopen:
		return "reopen"
	case actMarkSpam:
		return "spam"
	case actMarkNotSpam:
		return "not-spam"
	}
	return "reject"
}

// done is the past tense, for the result line.
func (a action) done() string {
	switch a {
	case actApprove:
		return "approved"
	case actReopen:
		return "reopened"
	case actMarkSpam:
		return "marked spam"
	case actMarkNotSpam:
		return "marked not spam"
	}
	return "rejected"
}

// alreadyDone is the result line of a reopening that found the comment pending already.
const alreadyDone = "pending already; nothing changed"

// call sends the decision for one comment; with an etag, the server takes it only if the comment
// still has that etag. unchanged is true when the server says the decision found the comment
// where it would have put it (only reopen's answer says so).
func (a action) call(ctx context.Context, client commentdv1.ModerationServiceClient, name, reason, etag string) (mc *commentdv1.ModeratedComment, unchanged bool, err error) {
	switch a {
	case actApprove:
		resp, err := client.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name, Reason: reason, Etag: etag})
		return resp.GetComment(), false, err
	case actReopen:
		resp, err := client.ReopenComment(ctx, &commentdv1.ReopenCommentRequest{Name: name, Reason: reason, Etag: etag})
		return resp.GetComment(), resp.GetAlreadyPending(), err
	case actMarkSpam:
		resp, err := client.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name, Reason: reason, Etag: etag})
		return resp.GetComment(), false, err
	case actMarkNotSpam:
		resp, err := client.MarkNotSpam(ctx, &commentdv1.MarkNotSpamRequest{Name: name, Reason: reason, Etag: etag})
		return resp.GetComment(), false, err
	}
	resp, err := client.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name, Reason: reason, Etag: etag})
	return resp.GetComment(), false, err
}

// guardFlags are the flags that keep a decision from overturning one taken since the moderator
// looked: --etag (one comment, the etag shown by show or queue -o json) or --if-state (each
// comment is read first, decided only if in that state, and then with the etag of that reading).
type guardFlags struct {
	etag    string
	ifState string
}

const guardHelp = `

A plain call decides whatever the comment is now, overturning any decision taken since you looked
at it. To decide only what you saw, give --etag ETAG (one ID only; the etag is in show's output and
in queue -o json; W/"..." with or without the W/ and the quotes) or --if-state STATE (pending,
published, rejected or spam; any number of IDs): each comment is read first and left alone if it
is in another state. Either way the server refuses the decision if the comment changed since (an
etag, not the state, is checked: a comment approved then reopened is pending again, but not the
comment you saw), and the line says what it is now; nothing is changed.`

func (g *guardFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&g.etag, "etag", "", "decide only if the comment still has this etag (from show or queue -o json); one ID only")
	f.StringVar(&g.ifState, "if-state", "", "decide only comments in this state (pending, published, rejected or spam) and unchanged since that check")
	_ = cmd.RegisterFlagCompletionFunc("if-state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pending", "published", "rejected", "spam"}, cobra.ShellCompDirectiveNoFileComp
	})
}

// decideGuard is the condition a decision is sent under: none, an etag, or a state.
type decideGuard struct {
	etag  string
	state commentdv1.State
}

// guard checks the flags against the names to decide.
func (g guardFlags) guard(cmd *cobra.Command, names []string) (decideGuard, error) {
	// Unset, either would send the decision unguarded, overturning whatever a colleague decided
	// meanwhile: the flag was given to prevent exactly that.
	for _, f := range []struct{ name, want string }{
		{"etag", "the etag show or queue -o json printed"},
		{"if-state", "pending, published, rejected or spam"},
	} {
		if err := blankFlag(cmd, f.name, "give "+f.want+", or leave --"+f.name+" out to decide whatever the comment is now"); err != nil {
			return decideGuard{}, err
		}
	}
	switch {
	case g.etag != "" && g.ifState != "":
		return decideGuard{}, usagef(cmd, "--etag and --if-state: give one of them")
	case g.etag != "" && len(names) != 1:
		return decideGuard{}, usagef(cmd, "--etag belongs to one comment, got %d; for several give --if-state", len(names))
	case g.etag != "":
		return decideGuard{etag: normalizeETag(g.etag)}, nil
	case g.ifState != "":
		st, ok := parseQueueState(g.ifState)
		if g.ifState == "published" {
			st, ok = commentdv1.State_STATE_PUBLISHED, true
		}
		if !ok {
			return decideGuard{}, usagef(cmd, "--if-state %q: want pending, published, rejected or spam", g.ifState)
		}
		return decideGuard{state: st}, nil
	}
	return decideGuard{}, nil
}

// normalizeETag puts back what a shell takes off an etag typed unquoted (W/"abc" arrives as W/abc)
// or what a copy left out, so W/abc, "abc" and abc all name the etag W/"abc". Anything else goes
// as typed, for the server to refuse.
func normalizeETag(s string) string {
	s = strings.TrimSpace(s)
	bare := strings.Trim(strings.TrimPrefix(s, "W/"), `"`)
	if len(bare) == 16 && strings.Trim(bare, "0123456789abcdef") == "" {
		return `W/"` + bare + `"`
	}
	return s
}

// decide sends a for name under g. With a state it reads the comment first: one in another state
// is left alone (a FAILED_PRECONDITION made here, saying what it is now); otherwise the decision
// carries the etag of that reading, so the server refuses it if the comment changed in between.
func (a action) decide(ctx context.Context, client commentdv1.ModerationServiceClient, name, reason string, g decideGuard) (*commentdv1.ModeratedComment, bool, error) {
	etag := g.etag
	if g.state != commentdv1.State_STATE_UNSPECIFIED {
		resp, err := client.GetComment(ctx, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
		if err != nil {
			return nil, false, err
		}
		mc := resp.GetComment()
		if now := mc.GetComment().GetState(); now != g.state {
			by := ""
			if d := mc.GetDecision(); d != nil {
				by = ", last decided by " + d.GetModerator()
			}
			return nil, false, status.Errorf(codes.FailedPrecondition, "left alone: it is %s now, not %s%s", stateName(now), stateName(g.state), by)
		}
		etag = mc.GetEtag()
	}
	return a.call(ctx, client, name, reason, etag)
}

// decideResult is the outcome for one id.
type decideResult struct {
	name    string
	comment *commentdv1.ModeratedComment
	// unchanged: the server says the call changed nothing, the comment being where the decision
	// would have put it (a reopening of a pending comment).
	unchanged bool
	err       error
}

func (c *cli) decideCmd(d action) *cobra.Command {
	var reason string
	var g guardFlags
	var long string
	exampleReason := "off topic"
	exampleState := "pending" // an --if-state the decision takes a comment out of
	switch d {
	case actApprove:
		exampleReason = "on topic after all"
		long = `approve publishes comments that are pending, rejected or spam. Approving a published comment
changes nothing and succeeds.`
	case actReject:
		long = `reject hides comments that are pending, published or spam for good. Rejecting a rejected comment
changes nothing and succeeds.`
	case actReopen:
		exampleReason = "decided by mistake"
		exampleState = "rejected" // a pending comment is where reopen puts it
		long = `reopen puts decided comments (published, rejected or spam) back in the queue as pending, undoing
the last decision and what the spam model learnt from it. Use it to take back a mistake: the comment is
claimed for you for 5 minutes, so nobody else's review gets it meanwhile (bulk reopen gives its comments
back to everyone). A comment that is pending already is left as it is: its line says "` + alreadyDone + `"
(with -o json, "unchanged": true), nothing is recorded or audited, and it is not claimed for you.`
	}
	long += `

Each ID is a comment id or its resource name, comments/ID; "-" reads more ids from stdin (separated by
spaces or newlines; none there is nothing to do, exit status 0). The ids are sent concurrently, at
most 8 at a time, each bounded by --timeout; Ctrl-C sends no more, and the calls already sent
finish, so each line tells what the server did.
One line is printed per comment, in the order given (an id given twice is sent once):
"<name>: ` + d.done() + `" on stdout, or the error on stderr. The exit status is 1 if any id failed.
The reason (at most 500 characters) is recorded with the decision, together with your key's name;
it may not hold an email address (it outlives an erasure of the reader's data), masked ones aside.

With -o json the output is one JSON array with an object per id: {"name", "ok", "comment"} on
success, {"name", "ok": false, "error": {"code", "message", "reason", "detail"}} on failure.` + guardHelp
	cmd := &cobra.Command{
		Use:   d.verb() + " ID... [--reason R] [--etag ETAG | --if-state STATE]",
		Short: strings.ToUpper(d.verb()[:1]) + d.verb()[1:] + " one or more comments",
		Long:  long,
		Example: fmt.Sprintf(`  commentctl %[1]s 01HZX3K9
  commentctl %[1]s comments/01HZX3K9 01HZX3KA --reason %[2]q
  commentctl %[1]s --if-state %[3]s 01HZX3K9 01HZX3KA
  commentctl queue --state spam -o json | jq -r '.comments[].comment.id' | commentctl %[1]s -`, d.verb(), exampleReason, exampleState),
		Args: argCount(1, -1, "at least one comment ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.decideIDs(cmd, args, reason, d, g)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the decision (at most 500 characters)")
	g.add(cmd)
	return cmd
}

// commentNames expands "-" into the ids on stdin and turns every id into a resource name, each
// once: an id given twice (a bare id and its name, or a list with repeats) is one comment, and
// deciding it twice would count it twice in the results and the exit status.
func (c *cli) commentNames(args []string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	add := func(id string) {
		if n := commentName(id); !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	readStdin := false
	for _, a := range args {
		if a != "-" {
			add(a)
			continue
		}
		if readStdin {
			continue // stdin is read once, however many times "-" is given
		}
		readStdin = true
		sc := bufio.NewScanner(c.stdin)
		sc.Split(bufio.ScanWords)
		for sc.Scan() {
			add(sc.Text())
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read ids from stdin: %w", err)
		}
	}
	return names, nil
}

// decideAll makes the decision for every name, at most decideConcurrency at a time, and returns
// the results in the order of names. When ctx ends (Ctrl-C) it sends no more; names not sent get
// ctx's error. Calls already sent are left to finish (bounded by --timeout): cut short, they would
// be reported as cancelled though the server may have made the decision.
func (c *cli) decideAll(ctx context.Context, client commentdv1.ModerationServiceClient, d action, names []string, reason string, g decideGuard) []decideResult {
	results := make([]decideResult, len(names))
	sem := make(chan struct{}, decideConcurrency)
	var wg sync.WaitGroup
	callBase := context.WithoutCancel(ctx)
	for i, name := range names {
		if !acquire(ctx, sem) {
			results[i] = decideResult{name: name, err: fmt.Errorf("not sent: %w", context.Cause(ctx))}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			callCtx, cancel := c.callCtx(callBase)
			defer cancel()
			mc, unchanged, err := d.decide(callCtx, client, name, reason, g)
			results[i] = decideResult{name: name, comment: mc, unchanged: unchanged, err: err}
		})
	}
	wg.Wait()
	return results
}

// decideIDs sends decision d for every comment id in args (or read from stdin for "-"), under the
// condition gf asks for.
func (c *cli) decideIDs(cmd *cobra.Command, args []string, reason string, d action, gf guardFlags) error {
	names, err := c.commentNames(args)
	if err != nil {
		return err
	}
	g, err := gf.guard(cmd, names)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		// Only "-" was given, and stdin held no id: the list piped in is empty (queue ... | jq
		// ... | approve - on an empty queue). That is nothing to do, as bulk finds when no
		// comment matches, not a mistake on the command line.
		if c.output == "json" {
			return writeDecisionsJSON(c, nil)
		}
		fmt.Fprintln(c.stderr, "commentctl: no comment ids on stdin; nothing to do")
		return nil
	}
	conn, client, err := c.dial(cmd)
	if err != nil {
		return err
	}
	defer conn.Close()
	return c.printDecisions(d, c.decideAll(cmd.Context(), client, d, names, reason, g))
}

func (c *cli) printDecisions(d action, results []decideResult) error {
	return c.printResults(d.verb(), results, func(int) {
		for _, r := range results {
			if r.err != nil {
				fmt.Fprintf(c.stderr, "%s: %s\n", r.name, c.describe(r.err))
				continue
			}
			if r.unchanged {
				// Nothing was recorded or audited, and the comment is not claimed for us:
				// "reopened" would claim a change that did not happen.
				fmt.Fprintf(c.stdout, "%s: %s\n", r.name, alreadyDone)
				continue
			}
			fmt.Fprintf(c.stdout, "%s: %s\n", r.name, d.done())
		}
	})
}

// printResults prints the results of one call per comment, as approve, reject and bulk make them:
// with -o json as one array (writeDecisionsJSON), otherwise as text writes them, given how many
// failed. It returns a batchError naming verb when any failed, so the exit status says so.
func (c *cli) printResults(verb string, results []decideResult, text func(failed int)) error {
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	if c.output == "json" {
		if err := writeDecisionsJSON(c, results); err != nil {
			return err
		}
	} else {
		text(failed)
	}
	if failed > 0 {
		return &batchError{verb: verb, failed: failed, total: len(results)}
	}
	return nil
}

// batchError says some ids of an approve or reject failed; each was already reported on its own line.
type batchError struct {
	verb          string
	failed, total int
}

func (e *batchError) Error() string {
	return fmt.Sprintf("%s: %d of %d failed", e.verb, e.failed, e.total)
}

// decisionJSON is one element of the -o json output of approve and reject.
type decisionJSON struct {
	Name      string          `json:"name"`
	OK        bool            `json:"ok"`
	Unchanged bool            `json:"unchanged,omitempty"`
	Comment   json.RawMessage `json:"comment,omitempty"`
	Error     *errorJSON      `json:"error,omitempty"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
	Detail  string `json:"detail"` // the same one line the table output prints
}

func writeDecisionsJSON(c *cli, results []decideResult) error {
	out := make([]decisionJSON, 0, len(results))
	for _, r := range results {
		dj := decisionJSON{Name: r.name, OK: r.err == nil, Unchanged: r.unchanged}
		if r.err != nil {
			st := status.Convert(r.err)
			ej := &errorJSON{Code: code.Code(st.Code()).String(), Message: st.Message(), Detail: c.describe(r.err)}
			for _, det := range st.Details() {
				if info, ok := det.(*errdetails.ErrorInfo); ok {
					ej.Reason = info.GetReason()
				}
			}
			dj.Error = ej
		} else {
			b, err := jsonOptions.Marshal(r.comment)
			if err != nil {
				return fmt.Errorf("encode %s as json: %w", r.name, err)
			}
			dj.Comment = b
		}
		out = append(out, dj)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results as json: %w", err)
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}
