package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// trainBatch is how many examples one TrainSpam call carries (the server takes up to 1,000).
const trainBatch = 500

// trainBatchBytes bounds the bodies of one TrainSpam call, in bytes: a gRPC server takes messages
// of at most 4 MiB by default, and 500 examples of 5,000 characters outside ASCII are 10 MB or more.
// A call is cut short of trainBatch examples when its bodies would pass this.
const trainBatchBytes = 3 << 20

// nextBatch returns the end of the batch of examples that starts at start: at most trainBatch
// examples whose bodies add up to at most trainBatchBytes, and always at least one.
func nextBatch(examples []spam.Example, start int) int {
	end, size := start, 0
	for end < len(examples) && end-start < trainBatch {
		size += len(examples[end].Body)
		if end > start && size > trainBatchBytes {
			break
		}
		end++
	}
	return end
}

// trainAttempts is how often one batch is sent before the run stops. A call that timed out or
// found the store unavailable may have trained part of its batch; the resend carries the same
// request id, so the server trains only the rest.
const trainAttempts = 4

const markHelp = `

Each ID is a comment id or its resource name, comments/ID; "-" reads more ids from stdin (separated by
spaces or newlines). The ids are sent concurrently, at most 8 at a time, each bounded by --timeout;
Ctrl-C sends no more, and the calls already sent finish, so each line tells what the server did.
One line is printed per comment, in the order given (an id given twice is sent once), on stdout,
or the error on stderr; the exit status is 1 if any id failed. With -o json the output is one JSON
array, as for approve.` + guardHelp

func (c *cli) spamCmd() *cobra.Command {
	var reason string
	var g guardFlags
	cmd := &cobra.Command{
		Use:   "spam ID... [--reason R] [--etag ETAG | --if-state STATE] | spam train FILE | spam eval --train FILE --test FILE",
		Short: "Mark comments spam; train or evaluate the spam model",
		Long: `spam marks comments spam: they are taken down (if published), kept in the spam list, count in their
author's record, and the spam model learns them at once on every server. Marking a comment spam
again changes nothing. The server deletes a comment once it has been spam for its -spam-retention
(15 days by default): take a mistake back with not-spam before then.` + markHelp + `

spam train and spam eval feed the spam model labelled comments; see their --help.`,
		Example: `  commentctl spam 01HZX3K9 01HZX3KA --reason "link farm"
  commentctl queue -o json | jq -r '.comments[] | select(.spamScore > 0.9) | .comment.id' | commentctl spam -
  commentctl spam train youtube-spam.csv
  commentctl spam eval --train old.csv --test new.csv`,
		Args: argCount(1, -1, "at least one comment ID (or train or eval)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.decideIDs(cmd, args, reason, actMarkSpam, g)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the decision (at most 500 characters)")
	g.add(cmd)
	cmd.AddCommand(c.spamTrainCmd(), c.spamEvalCmd())
	return cmd
}

func (c *cli) notSpamCmd() *cobra.Command {
	var reason string
	var g guardFlags
	cmd := &cobra.Command{
		Use:   "not-spam ID... [--reason R] [--etag ETAG | --if-state STATE]",
		Short: "Take back spam verdicts: comments return to the queue",
		Long: `not-spam takes back the spam verdict of comments (of the checks or a moderator): they return to
the queue as pending, and whatever a moderator's "spam" taught the spam model and the author's record
is undone exactly, on every server. Only spam comments can be marked not spam: a published or rejected
comment is refused, and a pending one is left as it is (so a repeated not-spam succeeds). A comment
returned to the queue is claimed for you for 5 minutes: nobody else's review gets it meanwhile.` + markHelp,
		Example: `  commentctl not-spam 01HZX3K9 --reason "a real reader"`,
		Args:    argCount(1, -1, "at least one comment ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.decideIDs(cmd, args, reason, actMarkNotSpam, g)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the decision (at most 500 characters)")
	g.add(cmd)
	return cmd
}

const fileFormats = `FILE is CSV with a header naming a CONTENT column (the comment) and a CLASS column (1 spam, 0 not),
as in the YouTube Spam Collection; other columns are ignored and U+FEFF characters removed. A file
named *.jsonl or *.json, or starting with "{", is read as JSON lines instead:
{"body": "...", "spam": true}. "-" reads stdin. The whole file is read before anything is sent: a row
with a bad label, an empty comment or text that is not UTF-8 stops the command, naming its line (for
JSON lines, the line its record starts on; blank lines count).`

func (c *cli) spamTrainCmd() *cobra.Command {
	var model string
	cmd := &cobra.Command{
		Use:   "train FILE [--model M]",
		Short: "Train the spam model with labelled comments",
		Long: `spam train teaches the spam model the labelled comments in FILE, in calls of 500. The site's model is
used by every server at once; --model names a scratch model instead, for an evaluation (spam eval
makes and deletes its own). Needs an admin key.

` + fileFormats + `

Progress goes to stderr: a bar on a terminal, a line per tenth of the file otherwise. A call that
times out or finds the server's store unavailable is sent again (up to 4 sends in all); any other failure
stops the run, and the calls before it stay trained, as may part of the call that failed when it was
cut short (Ctrl-C, a timeout, the store lost) rather than refused: the error says so.

Each call carries a request id made from the model and its examples, so the server counts every
example once: running the same command again within 24 hours trains only what an earlier run did
not (a run that stopped part way is finished by starting it again, and a second full run changes
nothing). To teach the same examples twice, wait 24 hours or change the file.`,
		Example: `  commentctl spam train Youtube01-Psy.csv
  commentctl spam train labelled.jsonl --model trial-1`,
		Args: argCount(1, 1, "one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			examples, err := c.readExamples(cmd, args[0])
			if err != nil {
				return err
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			_, repeated, err := c.train(cmd.Context(), client, model, examples, "spam train")
			if err != nil {
				return err
			}
			return c.printTrained(model, examples, repeated)
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "scratch model to train (1 to 40 letters, digits, _ or -); default the site's model")
	return cmd
}

// readExamples reads a labelled file (see fileFormats).
func (c *cli) readExamples(cmd *cobra.Command, path string) ([]spam.Example, error) {
	var r io.Reader
	if path == "-" {
		r = c.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef(cmd, "%v", err)
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReader(r)
	jsonLines := false
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json":
		jsonLines = true
	case ".csv":
	default:
		head, _ := br.Peek(64)
		jsonLines = strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(string(head), "\uFEFF"), " \t\r\n"), "{")
	}
	var examples []spam.Example
	var err error
	if jsonLines {
		examples, err = spam.ReadJSONLines(br)
	} else {
		examples, err = spam.ReadCSV(br)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("read %s: no examples in it", path)
	}
	return examples, nil
}

// train sends examples in batches, reporting progress on stderr. It returns how many examples
// calls that succeeded carried (on an error, those before the failing call), and how many of them
// the server had trained already under the same request ids (an earlier run of the same file, or
// an earlier send of a call that timed out part way).
func (c *cli) train(ctx context.Context, client commentdv1.ModerationServiceClient, model string, examples []spam.Example, label string) (sent, repeated int, err error) {
	prog := newProgress(c.stderr, label, len(examples), isTerminal(c.stderr))
	defer prog.finish()
	for start, end := 0, 0; start < len(examples); start = end {
		end = nextBatch(examples, start)
		batch := examples[start:end]
		req := &commentdv1.TrainSpamRequest{SpamModel: model, RequestId: trainRequestID(model, start, batch), Examples: make([]*commentdv1.TrainingExample, len(batch))}
		for i, x := range batch {
			req.Examples[i] = &commentdv1.TrainingExample{Body: x.Body, Spam: x.Spam}
		}
		resp, err := c.sendTraining(ctx, client, req)
		if err != nil {
			op := fmt.Sprintf("train examples %d to %d", start+1, start+len(batch))
			switch {
			case partlyTrained(err) && start > 0:
				op += fmt.Sprintf(" (1 to %d are trained, and some of these may be)", start)
			case partlyTrained(err):
				op += " (some of them may be trained)"
			case start > 0:
				op += fmt.Sprintf(" (1 to %d are trained)", start)
			}
			if i, ok := refusedExample(err); ok && i < len(batch) {
				op += fmt.Sprintf("; the server refused example %d of the file", start+i+1)
			}
			return start, repeated, c.callError(op, err)
		}
		repeated += int(resp.GetAlreadyTrained())
		for range batch {
			prog.done(false)
		}
	}
	return len(examples), repeated, nil
}

// partlyTrained reports whether a TrainSpam call that failed with err may have trained part of its
// examples: the server trains a call in steps, and a call cut short (Ctrl-C, a timeout, the store
// lost) keeps the steps it finished. A refusal (a bad example, a key that may not train) trains none.
func partlyTrained(err error) bool {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable, codes.Unknown, codes.Internal, codes.Aborted, codes.DataLoss:
		return true
	}
	return false
}

// refusedExample returns the index within its call of the first example a BadRequest names
// ("examples[3].body" is 3), as the server counts them.
func refusedExample(err error) (int, bool) {
	for _, d := range status.Convert(err).Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			rest, ok := strings.CutPrefix(v.GetField(), "examples[")
			if !ok {
				continue
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			if i, err := strconv.Atoi(rest[:end]); err == nil && i >= 0 {
				return i, true
			}
		}
	}
	return 0, false
}

// sendTraining sends one TrainSpam call, and again (up to trainAttempts in all) while it times out
// or the store is unavailable, waiting as the server's RetryInfo asks (1s when it does not say).
func (c *cli) sendTraining(ctx context.Context, client commentdv1.ModerationServiceClient, req *commentdv1.TrainSpamRequest) (*commentdv1.TrainSpamResponse, error) {
	for attempt := 1; ; attempt++ {
		callCtx, cancel := c.callCtx(ctx)
		resp, err := client.TrainSpam(callCtx, req)
		cancel()
		code := status.Code(err)
		if err == nil || attempt == trainAttempts || (code != codes.Unavailable && code != codes.DeadlineExceeded) {
			return resp, err
		}
		wait := min(retryDelay(err, time.Second), 10*time.Second)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// trainRequestID names one TrainSpam call by its model, its place in the file and its examples,
// so that the same call made again (a retry, or the same command run again) has the same id.
func trainRequestID(model string, start int, batch []spam.Example) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %d %d\n", model, start, len(batch))
	for _, x := range batch {
		fmt.Fprintf(h, "%t %d %s\n", x.Spam, len(x.Body), x.Body)
	}
	return "train-" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (c *cli) printTrained(model string, examples []spam.Example, repeated int) error {
	nSpam := 0
	for _, x := range examples {
		if x.Spam {
			nSpam++
		}
	}
	if c.output == "json" {
		return writePlainJSON(c.stdout, map[string]any{"model": model, "trained": len(examples), "spam": nSpam, "ham": len(examples) - nSpam, "alreadyTrained": repeated})
	}
	_, err := fmt.Fprintf(c.stdout, "Trained %s with %d examples (%d spam, %d not spam).\n", modelName(model), len(examples), nSpam, len(examples)-nSpam)
	if err == nil && repeated > 0 {
		_, err = fmt.Fprintf(c.stdout, "%d of them had been trained already (by an earlier run of the same file within 24 hours, or by a call of this run that failed part way and was sent again) and were counted once.\n", repeated)
	}
	return err
}

func modelName(model string) string {
	if model == "" {
		return "the site's model"
	}
	return "model " + model
}

func writePlainJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func (c *cli) spamEvalCmd() *cobra.Command {
	var trainFile, testFile string
	cmd := &cobra.Command{
		Use:   "eval --train FILE --test FILE",
		Short: "Measure the spam checks on labelled comments, with a scratch model",
		Long: `spam eval measures the spam checks as this server runs them (thresholds, rules, word lists) on labelled
comments, without touching the site's model: it makes a scratch model, trains it with the --train
file, checks every comment of the --test file against it with CheckComment (which stores nothing),
prints the results and deletes the scratch model. Needs an admin key (training is admin-only, and
CheckComment is a site call).

` + fileFormats + `

It prints, for the test file: spam caught (marked spam), ham marked spam, ham held for a moderator,
and F1 and MCC of "marked spam" against everything else. The classifier votes only once it has
seen 10 spam and 10 not spam: with fewer in the --train file the figures are the rules' alone,
and a warning says so. A figure the test file cannot measure is
printed n/a (null with -o json): the spam figures and F1 when it holds no spam, the ham figures when
it holds no ham, MCC unless it holds both.`,
		Example: `  commentctl spam eval --train Youtube01-Psy.csv --test Youtube02-KatyPerry.csv`,
		Args:    argCount(0, 0, "no arguments (the files are --train and --test)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if trainFile == "" || testFile == "" {
				return usagef(cmd, "spam eval needs --train FILE and --test FILE")
			}
			train, err := c.readExamples(cmd, trainFile)
			if err != nil {
				return err
			}
			test, err := c.readExamples(cmd, testFile)
			if err != nil {
				return err
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()
			model := scratchModelName()
			sent, _, err := c.train(cmd.Context(), client, model, train, "spam eval: train")
			switch status.Code(err) {
			case codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument:
				// The call was refused before it stored anything; the calls before it made the
				// model, if there were any.
				if sent > 0 {
					defer c.deleteModel(cmd.Context(), client, model)
				}
			default:
				defer c.deleteModel(cmd.Context(), client, model)
			}
			if err != nil {
				return err
			}
			c.warnUntrained(train)
			t, err := c.score(cmd.Context(), commentdv1.NewCommentServiceClient(conn), model, test)
			if err != nil {
				return err
			}
			return c.printEval(model, len(train), t)
		},
	}
	cmd.Flags().StringVar(&trainFile, "train", "", "labelled comments to train the scratch model with")
	cmd.Flags().StringVar(&testFile, "test", "", "labelled comments to check")
	return cmd
}

// warnUntrained says on stderr when the training examples are too few for the classifier to vote:
// it abstains (score 0.5) until it has seen spam.DefaultMinTrained of each class, so every figure
// would be the rules' alone, and read as the model's.
func (c *cli) warnUntrained(train []spam.Example) {
	nSpam := 0
	for _, x := range train {
		if x.Spam {
			nSpam++
		}
	}
	if nHam := len(train) - nSpam; nSpam < spam.DefaultMinTrained || nHam < spam.DefaultMinTrained {
		fmt.Fprintf(c.stderr, "commentctl: warning: the --train file has %d spam and %d not spam; the classifier votes only once it has seen %d of each, so these figures are the rules' alone\n",
			nSpam, nHam, spam.DefaultMinTrained)
	}
}

// scratchModelName returns a fresh name for an evaluation's model.
func scratchModelName() string {
	var b [6]byte
	rand.Read(b[:])
	return "eval-" + hex.EncodeToString(b[:])
}

// deleteModel removes the scratch model, even when the run was interrupted. Failing here only
// leaves the model to expire on the server.
func (c *cli) deleteModel(ctx context.Context, client commentdv1.ModerationServiceClient, model string) {
	callCtx, cancel := c.callCtx(context.WithoutCancel(ctx))
	defer cancel()
	if _, err := client.DeleteSpamModel(callCtx, &commentdv1.DeleteSpamModelRequest{SpamModel: model}); err != nil {
		fmt.Fprintf(c.stderr, "commentctl: warning: delete scratch model %s: %s (it expires on its own)\n", model, c.describe(err))
	}
}

// evalComment is the submission every test comment is checked as: one made-up reader on one
// made-up thread, with a user agent, so only the text decides.
func evalComment(body string) *commentdv1.SubmitCommentRequest {
	return &commentdv1.SubmitCommentRequest{
		ThreadId: "commentctl-eval", AuthorName: "Evaluation", AuthorEmail: "evaluation@commentd.invalid",
		Body: body, UserAgent: "commentctl spam eval",
	}
}

// score checks every test comment against model, at most decideConcurrency at a time, and tallies
// the decisions. The first failure stops the run.
func (c *cli) score(ctx context.Context, client commentdv1.CommentServiceClient, model string, test []spam.Example) (spam.Tally, error) {
	prog := newProgress(c.stderr, "spam eval: check", len(test), isTerminal(c.stderr))
	defer prog.finish()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]spam.Result, len(test))
	sem := make(chan struct{}, decideConcurrency)
	var wg sync.WaitGroup
	for i, x := range test {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
			wg.Go(func() {
				defer func() { <-sem }()
				callCtx, done := c.callCtx(ctx)
				defer done()
				resp, err := client.CheckComment(callCtx, &commentdv1.CheckCommentRequest{Comment: evalComment(x.Body), SpamModel: model})
				if err != nil {
					cancel(c.callError(fmt.Sprintf("check test comment %d", i+1), err))
					return
				}
				results[i] = spam.Result{Score: resp.GetSpamScore(), Decision: decisionFromProto(resp.GetDecision())}
				prog.done(false)
			})
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return spam.Tally{}, err
	}
	var t spam.Tally
	for i, x := range test {
		r := results[i]
		if x.Spam {
			t.Spam[r.Decision-1]++
		} else {
			t.Ham[r.Decision-1]++
		}
		// The binary view: "marked spam" against published or held.
		switch marked := r.Decision == spam.DecisionSpam; {
		case x.Spam && marked:
			t.TP++
		case x.Spam:
			t.FN++
		case marked:
			t.FP++
		default:
			t.TN++
		}
	}
	return t, nil
}

func decisionFromProto(d commentdv1.SpamDecision) spam.Decision {
	switch d {
	case commentdv1.SpamDecision_SPAM_DECISION_SPAM:
		return spam.DecisionSpam
	case commentdv1.SpamDecision_SPAM_DECISION_HOLD:
		return spam.DecisionHold
	}
	return spam.DecisionPublish
}

// evalJSON is spam eval's -o json output. Shares are 0 to 1; a figure the test file cannot
// measure is null: the spam shares and F1 when it holds no spam, the ham shares when it holds no
// ham, and MCC unless it holds both.
type evalJSON struct {
	Model         string   `json:"model"`
	Trained       int      `json:"trained"`
	TestSpam      int      `json:"testSpam"`
	TestHam       int      `json:"testHam"`
	SpamCaught    *float64 `json:"spamCaught"`
	SpamHeld      *float64 `json:"spamHeld"`
	SpamPublished *float64 `json:"spamPublished"`
	HamMarkedSpam *float64 `json:"hamMarkedSpam"`
	HamHeld       *float64 `json:"hamHeld"`
	F1            *float64 `json:"f1"`
	MCC           *float64 `json:"mcc"`
	TP            int      `json:"tp"`
	FN            int      `json:"fn"`
	FP            int      `json:"fp"`
	TN            int      `json:"tn"`
	ModeratorLoad float64  `json:"moderatorLoad"`
	DecisionsSpam [3]int   `json:"decisionsSpam"` // publish, hold, spam
	DecisionsHam  [3]int   `json:"decisionsHam"`
}

func (c *cli) printEval(model string, trained int, t spam.Tally) error {
	share := func(n int, of [3]int) float64 {
		total := of[0] + of[1] + of[2]
		if total == 0 {
			return 0
		}
		return float64(n) / float64(total)
	}
	// A share of no comments, or a correlation with one class missing, is no figure at all: the
	// zero the formulas fall back on would read as "no spam caught" or "no better than chance".
	measured := func(ok bool, f float64) *float64 {
		if !ok {
			return nil
		}
		return &f
	}
	nSpam, nHam := t.Spam[0]+t.Spam[1]+t.Spam[2], t.Ham[0]+t.Ham[1]+t.Ham[2]
	out := evalJSON{
		Model: model, Trained: trained, TestSpam: nSpam, TestHam: nHam,
		SpamCaught: measured(nSpam > 0, t.SpamCaught()), SpamHeld: measured(nSpam > 0, share(t.Spam[1], t.Spam)),
		SpamPublished: measured(nSpam > 0, t.SpamPublished()),
		HamMarkedSpam: measured(nHam > 0, t.HamLost()), HamHeld: measured(nHam > 0, share(t.Ham[1], t.Ham)),
		F1: measured(nSpam > 0, t.F1()), MCC: measured(nSpam > 0 && nHam > 0, t.MCC()),
		ModeratorLoad: t.ModeratorLoad(), TP: t.TP, FN: t.FN, FP: t.FP, TN: t.TN,
		DecisionsSpam: t.Spam, DecisionsHam: t.Ham,
	}
	if c.output == "json" {
		return writePlainJSON(c.stdout, out)
	}
	const noSpam, noHam = "(no spam in the test file)", "(no ham in the test file)"
	pct := func(f float64) string { return fmt.Sprintf("%5.1f%%", 100*f) }
	var b strings.Builder
	fmt.Fprintf(&b, "Scratch model %s, trained with %d examples; checked %d spam and %d not spam.\n", model, trained, out.TestSpam, out.TestHam)
	if nSpam > 0 {
		fmt.Fprintf(&b, "spam caught      %s  (marked spam; %s more held, %s published)\n", pct(*out.SpamCaught), strings.TrimSpace(pct(*out.SpamHeld)), strings.TrimSpace(pct(*out.SpamPublished)))
	} else {
		fmt.Fprintf(&b, "spam caught         n/a  %s\n", noSpam)
	}
	if nHam > 0 {
		fmt.Fprintf(&b, "ham marked spam  %s\n", pct(*out.HamMarkedSpam))
		fmt.Fprintf(&b, "ham held         %s\n", pct(*out.HamHeld))
	} else {
		fmt.Fprintf(&b, "ham marked spam     n/a  %s\n", noHam)
		fmt.Fprintf(&b, "ham held            n/a  %s\n", noHam)
	}
	if out.F1 != nil {
		fmt.Fprintf(&b, "F1               %6.3f  (marked spam against the rest)\n", *out.F1)
	} else {
		fmt.Fprintf(&b, "F1                  n/a  %s\n", noSpam)
	}
	switch {
	case out.MCC != nil:
		fmt.Fprintf(&b, "MCC              %6.3f\n", *out.MCC)
	case nSpam == 0:
		fmt.Fprintf(&b, "MCC                 n/a  %s\n", noSpam)
	default:
		fmt.Fprintf(&b, "MCC                 n/a  %s\n", noHam)
	}
	_, err := io.WriteString(c.stdout, b.String())
	return err
}
