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

// call sends the decision for one comment.
func (a action) call(ctx context.Context, client commentdv1.ModerationServiceClient, name, reason string) (*commentdv1.ModeratedComment, error) {
	switch a {
	case actApprove:
		resp, err := client.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name, Reason: reason})
		return resp.GetComment(), err
	case actReopen:
		resp, err := client.ReopenComment(ctx, &commentdv1.ReopenCommentRequest{Name: name, Reason: reason})
		return resp.GetComment(), err
	case actMarkSpam:
		resp, err := client.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name, Reason: reason})
		return resp.GetComment(), err
	case actMarkNotSpam:
		resp, err := client.MarkNotSpam(ctx, &commentdv1.MarkNotSpamRequest{Name: name, Reason: reason})
		return resp.GetComment(), err
	}
	resp, err := client.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name, Reason: reason})
	return resp.GetComment(), err
}

// decideResult is the outcome for one id.
type decideResult struct {
	name    string
	comment *commentdv1.ModeratedComment
	err     error
}

func (c *cli) decideCmd(d action) *cobra.Command {
	var reason string
	var long string
	switch d {
	case actApprove:
		long = `approve publishes comments that are pending, rejected or spam. Approving a published comment
changes nothing and succeeds.`
	case actReject:
		long = `reject hides comments that are pending, published or spam for good. Rejecting a rejected comment
changes nothing and succeeds.`
	case actReopen:
		long = `reopen puts decided comments (published, rejected or spam) back in the queue as pending, undoing
the last decision and what the spam model learnt from it. Use it to take back a mistake: the comment is
claimed for you for 5 minutes, so nobody else's review gets it meanwhile (bulk reopen gives its comments
back to everyone).`
	}
	long += `

Each ID is a comment id or its resource name, comments/ID; "-" reads more ids from stdin (separated by
spaces or newlines). The ids are sent concurrently, at most 8 at a time, each bounded by --timeout;
Ctrl-C sends no more, and the calls already sent finish, so each line tells what the server did.
One line is printed per comment, in the order given (an id given twice is sent once):
"<name>: ` + d.done() + `" on stdout, or the error on stderr. The exit status is 1 if any id failed.
The reason (at most 500 characters) is recorded with the decision, together with your key's name;
it may not hold an email address (it outlives an erasure of the reader's data), masked ones aside.

With -o json the output is one JSON array with an object per id: {"name", "ok", "comment"} on
success, {"name", "ok": false, "error": {"code", "message", "reason", "detail"}} on failure.`
	cmd := &cobra.Command{
		Use:   d.verb() + " ID... [--reason R]",
		Short: strings.ToUpper(d.verb()[:1]) + d.verb()[1:] + " one or more comments",
		Long:  long,
		Example: fmt.Sprintf(`  commentctl %[1]s 01HZX3K9
  commentctl %[1]s comments/01HZX3K9 01HZX3KA --reason "off topic"
  commentctl queue --state spam -o json | jq -r '.comments[].comment.id' | commentctl %[1]s -`, d.verb()),
		Args: argCount(1, -1, "at least one comment ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.decideIDs(cmd, args, reason, d)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the decision (at most 500 characters)")
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
func (c *cli) decideAll(ctx context.Context, client commentdv1.ModerationServiceClient, d action, names []string, reason string) []decideResult {
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
			mc, err := d.call(callCtx, client, name, reason)
			results[i] = decideResult{name: name, comment: mc, err: err}
		})
	}
	wg.Wait()
	return results
}

// decideIDs sends decision d for every comment id in args (or read from stdin for "-").
func (c *cli) decideIDs(cmd *cobra.Command, args []string, reason string, d action) error {
	names, err := c.commentNames(args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usagef(cmd, "no comment ids given")
	}
	conn, client, err := c.dial(cmd)
	if err != nil {
		return err
	}
	defer conn.Close()
	return c.printDecisions(d, c.decideAll(cmd.Context(), client, d, names, reason))
}

func (c *cli) printDecisions(d action, results []decideResult) error {
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
		for _, r := range results {
			if r.err != nil {
				fmt.Fprintf(c.stderr, "%s: %s\n", r.name, c.describe(r.err))
				continue
			}
			fmt.Fprintf(c.stdout, "%s: %s\n", r.name, d.done())
		}
	}
	if failed > 0 {
		return &batchError{verb: d.verb(), failed: failed, total: len(results)}
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
	Name    string          `json:"name"`
	OK      bool            `json:"ok"`
	Comment json.RawMessage `json:"comment,omitempty"`
	Error   *errorJSON      `json:"error,omitempty"`
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
		dj := decisionJSON{Name: r.name, OK: r.err == nil}
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
