package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Widths of the free-text columns of a watch line, in terminal columns.
const (
	watchAuthorWidth = 18
	watchBodyWidth   = 40
)

// maxReconnectDelay caps the doubling wait between reconnects, so a server that comes back after a
// long outage is found again within half a minute.
const maxReconnectDelay = 30 * time.Second

// parseKind reads one --kinds word.
func parseKind(w string) (commentdv1.QueueEventKind, bool) {
	switch w {
	case "held":
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, true
	case "reported":
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_REPORTED, true
	case "spam":
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_SPAM, true
	case "decided":
		return commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED, true
	}
	return 0, false
}

// parseKinds reads a --kinds value: a comma-separated list of event kinds, each once.
func parseKinds(s string) ([]commentdv1.QueueEventKind, error) {
	var kinds []commentdv1.QueueEventKind
	seen := map[commentdv1.QueueEventKind]bool{}
	for w := range strings.SplitSeq(s, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		k, ok := parseKind(w)
		if !ok {
			return nil, fmt.Errorf("unknown kind %q: want held, reported, spam or decided", w)
		}
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	return kinds, nil
}

func kindName(k commentdv1.QueueEventKind) string {
	if k == commentdv1.QueueEventKind_QUEUE_EVENT_KIND_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "QUEUE_EVENT_KIND_"))
}

func (c *cli) watchCmd() *cobra.Command {
	var (
		kinds  string
		thread string
		delay  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "watch [--kinds held,reported,spam,decided] [--thread ID]",
		Short: "Print queue events as they happen",
		Long: `watch streams the moderation queue's events and prints one line per event as it arrives:
TIME (local), KIND, ID, THREAD, AUTHOR, EMAIL (masked by the server), WHY (for a decided event
the decision and who took it, such as "pending→rejected by alice"; the codes of the checks that
held the comment, and the number of reports) and the start of the BODY.

Kinds: held (a new comment waits for a moderator), reported (readers' reports took a published
comment down), spam (a new comment was judged spam), decided (a moderator decided a queued
comment). Without --kinds the server sends held and reported.

watch runs until Ctrl-C. When the stream breaks (the server restarts, the network drops) it says so
on stderr and reconnects, waiting about --reconnect-delay at first (a random part of it, between
half and all, so many clients do not reconnect at once) and twice as long after each failed
attempt, up to 30s, or longer when the server asks for it (30s when the server already serves
as many watchers as it may, or when this API key already has 16 watch streams open on it: use
one key per moderator). The lines say "disconnected" (and why: the server's reason, without
its advice to retry, as the line says when watch tries again) when a stream that was up ends,
"could not reconnect" for each failed attempt after that, and "could not connect" when the
first one fails. Events while it is disconnected are not shown, and the server does not replay
them: once the server watches for it again it says "reconnected" (or "connected"), and that
some events may be missing: run 'commentctl queue' to see what waits. It stops for good, with
exit status 1, when the server refuses the call itself (bad token, no permission, bad request).

With -o json each event is printed as one WatchQueueResponse JSON object per line.`,
		Example: `  commentctl watch
  commentctl watch --kinds held,reported,spam --thread blog-post-42
  commentctl watch -o json | jq -r 'select(.kind == "QUEUE_EVENT_KIND_REPORTED") | .comment.comment.name'`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := parseKinds(kinds)
			if err != nil {
				return usagef(cmd, "--kinds: %v", err)
			}
			// --kinds "$K" with K unset (or only commas) names no kind; sent so, the server
			// would pick held and reported, which may not be what the script asked for.
			if len(ks) == 0 && cmd.Flags().Changed("kinds") {
				return usagef(cmd, "--kinds %q names no kind; want held, reported, spam or decided, or leave --kinds out for held and reported", kinds)
			}
			if delay <= 0 {
				return usagef(cmd, "--reconnect-delay must be positive, got %s", delay)
			}
			only, err := threadFlag(cmd, thread)
			if err != nil {
				return err
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			req := &commentdv1.WatchQueueRequest{Kinds: ks, ThreadId: only}
			return c.watch(cmd.Context(), client, req, delay)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kinds, "kinds", "", "comma-separated event kinds: held, reported, spam, decided (default held,reported)")
	f.StringVar(&thread, "thread", "", "only events of this thread `ID` (or threads/ID)")
	f.DurationVar(&delay, "reconnect-delay", time.Second, "wait before the first reconnect; doubles on each failure, up to 30s")
	_ = cmd.RegisterFlagCompletionFunc("kinds", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		// --kinds is a list: complete its last entry, keeping the ones before it, or the shell
		// finds no word that starts with "held," and completes nothing after the first comma.
		given := toComplete[:strings.LastIndexByte(toComplete, ',')+1]
		var out []string
		for _, k := range []string{"held", "reported", "spam", "decided"} {
			if !slices.Contains(strings.Split(given, ","), k) {
				out = append(out, given+k)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// watch streams events until ctx ends (a normal end: nil) or the server refuses the call (an error).
func (c *cli) watch(ctx context.Context, client commentdv1.ModerationServiceClient, req *commentdv1.WatchQueueRequest, firstDelay time.Duration) error {
	wait := firstDelay
	attempt := 0
	broken := false // set after a break, so the next stream that opens can say we are back
	everUp := false // a stream was up once: "reconnected", not "connected"
	for {
		up, err := c.watchOnce(ctx, client, req, broken, everUp)
		if ctx.Err() != nil {
			return nil // Ctrl-C: the moderator is done watching
		}
		if up {
			// The server took the stream: this break starts the backoff anew, also on a quiet
			// queue where no event came.
			wait, attempt = firstDelay, 0
			everUp = true
		}
		attempt++
		if permanent(err) {
			return c.callError("watch queue", err)
		}
		broken = true
		// Jitter keeps many moderators' terminals from reconnecting in step after a server restart.
		sleep := wait/2 + rand.N(wait/2+1)
		// A server that says how long to wait (TOO_MANY_WATCHERS: 30s) is not called sooner.
		if ri := retryDelay(err, 0); ri > sleep {
			sleep = ri + rand.N(ri/4+1)
		}
		fmt.Fprintln(c.stderr, "commentctl: watch: "+watchBreakNote(up, everUp, c.describeStreamEnd(err), roundDelay(sleep), attempt))
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, maxReconnectDelay)
	}
}

// watchOnce opens one stream and prints its events until it ends. It reports whether the stream
// was up (the server took it, or an event arrived), and the error that ended the stream.
//
// The stream has no deadline, unlike every other call: it is meant to stay open until Ctrl-C.
func (c *cli) watchOnce(ctx context.Context, client commentdv1.ModerationServiceClient, req *commentdv1.WatchQueueRequest, afterBreak, wasUp bool) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.WatchQueue(ctx, req)
	if err != nil {
		return false, err
	}
	// The server sends its headers once it is subscribed, before any event: the stream is up then,
	// though on a quiet queue no event may come for hours. Say so after a break, or "reconnecting"
	// would stay the last word for as long as nothing happens. Only the header the server sends
	// once subscribed counts: a refused stream has headers too (its request id), and taking them
	// for a subscription said "reconnected" to a refusal and started the backoff anew on each one.
	// A server too old to send that header is known to be back by its first event.
	// The server does not replay what happened while the stream was down, and a stream that ends
	// with an error may have lost events before it ended (its client fell behind, the server's
	// Redis subscription broke): "reconnected" alone read as if nothing had been missed.
	up := false
	isUp := func() {
		switch {
		case up || !afterBreak:
		case wasUp:
			fmt.Fprintln(c.stderr, "commentctl: watch: reconnected; "+reconnectedNote)
		default:
			// Up at last after failures at start: events meanwhile were not shown either.
			fmt.Fprintln(c.stderr, "commentctl: watch: connected; "+connectedNote)
		}
		up = true
	}
	if md, _ := stream.Header(); len(md.Get(watchSubscribedHeader)) > 0 {
		isUp()
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return up, err
		}
		isUp()
		if err := c.printEvent(ev, time.Local); err != nil {
			return up, err
		}
	}
}

// reconnectedNote follows "reconnected" on stderr: what to do about the events the break lost.
const reconnectedNote = "events while the stream was down are not replayed, so some may be missing: run 'commentctl queue' to see what waits"

// connectedNote follows "connected" on stderr, when watch connects after failing to at start.
const connectedNote = "events while it could not connect are not shown: run 'commentctl queue' to see what waits"

// watchBreakNote says, after "watch: ", what ended a stream attempt, that watch tries again after
// wait, and what the moderator misses meanwhile. up: the stream had been up (the server took it),
// so this is a break, and events from now on go unseen until it is back; otherwise the attempt
// failed: a reconnect (everUp: a stream was up once), or the first connect.
func watchBreakNote(up, everUp bool, cause string, wait time.Duration, attempt int) string {
	switch {
	case up:
		return fmt.Sprintf("disconnected (%s); events from now until it reconnects are not shown; reconnecting in %s (attempt %d)", cause, wait, attempt)
	case everUp:
		return fmt.Sprintf("could not reconnect (%s); events are still not shown; trying again in %s (attempt %d)", cause, wait, attempt)
	}
	return fmt.Sprintf("could not connect (%s); trying again in %s (attempt %d)", cause, wait, attempt)
}

// watchSubscribedHeader is the response header WatchQueue sends once it is subscribed
// (grpcserver.WatchSubscribedHeader).
const watchSubscribedHeader = "commentd-watch"

// permanent reports whether a stream error will not go away by calling again.
func permanent(err error) bool {
	if err == nil || errors.Is(err, io.EOF) {
		return false
	}
	var we *writeError
	if errors.As(err, &we) {
		return true
	}
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unimplemented,
		codes.FailedPrecondition, codes.NotFound:
		return true
	}
	return false
}

// describeStreamEnd says why a stream ended; a clean end from the server is no gRPC error. It
// gives the server's reason without its advice to try again (withoutRetryAdvice): the line it goes
// in says when watch tries again.
func (c *cli) describeStreamEnd(err error) string {
	if err == nil || errors.Is(err, io.EOF) {
		return "the server closed the stream"
	}
	return c.describe(withoutRetryAdvice(err))
}

// retryAdvice is how commentd's message ends, by the ErrorInfo reason, for the errors that end a
// watch stream or refuse one when all it asks is to be called again, which watch does anyway.
// A message that ends otherwise (another server's wording) is left whole; advice watch does not
// follow itself, such as TOO_MANY_WATCHERS' "close one" for a key's streams, stays.
var retryAdvice = map[string]string{
	"SHUTTING_DOWN":     "; reconnect",
	"WATCH_FELL_BEHIND": "; reconnect and list the queue", // the "reconnected" line says to run queue
	"STORE_UNAVAILABLE": "; retry later",
	"TOO_MANY_WATCHERS": "; retry later",
}

// withoutRetryAdvice returns err's status without its RetryInfo, whose delay watch waits and
// states itself, and with the end of its message that only says to try again (retryAdvice)
// removed, so the line says each thing once. Other errors are returned as they are.
func withoutRetryAdvice(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	p := st.Proto()
	kept := p.Details[:0]
	for _, d := range p.GetDetails() {
		if d.MessageIs((*errdetails.RetryInfo)(nil)) {
			continue
		}
		var info errdetails.ErrorInfo
		if d.MessageIs(&info) && d.UnmarshalTo(&info) == nil {
			if advice := retryAdvice[info.GetReason()]; advice != "" {
				p.Message = strings.TrimSuffix(p.GetMessage(), advice)
			}
		}
		kept = append(kept, d)
	}
	p.Details = kept
	return status.ErrorProto(p)
}

// writeError is a failure to print, such as a closed pipe: reconnecting cannot help.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write output: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (c *cli) printEvent(ev *commentdv1.WatchQueueResponse, loc *time.Location) error {
	var err error
	if c.output == "json" {
		var b []byte
		b, err = jsonOptions.Marshal(ev) // compact: one event per line
		if err != nil {
			return &writeError{err: fmt.Errorf("encode event as json: %w", err)}
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	} else {
		_, err = io.WriteString(c.stdout, eventLine(ev, loc))
	}
	if err != nil {
		return &writeError{err: err}
	}
	return nil
}

// eventLine renders one event as a line. The columns are padded to fixed widths rather than
// aligned over many lines, as each line is printed the moment its event arrives.
func eventLine(ev *commentdv1.WatchQueueResponse, loc *time.Location) string {
	mc := ev.GetComment()
	cm := mc.GetComment()
	t := "--:--:--"
	if ev.GetEventTime() != nil {
		t = ev.GetEventTime().AsTime().In(loc).Format(time.TimeOnly)
	}
	why := make([]string, 0, len(mc.GetHoldReasons())+2)
	if d := mc.GetDecision(); ev.GetKind() == commentdv1.QueueEventKind_QUEUE_EVENT_KIND_DECIDED && d != nil {
		// What was decided and by whom: the hold reasons alone do not say whether a colleague
		// approved the comment or rejected it.
		why = append(why, transition(d.GetFromState(), d.GetToState())+" by "+d.GetModerator())
	}
	for _, r := range mc.GetHoldReasons() {
		why = append(why, r.GetCode())
	}
	if n := mc.GetReportCount(); n > 0 {
		why = append(why, fmt.Sprintf("%d report%s", n, plural(int64(n))))
	}
	return fmt.Sprintf("%s  %-8s  %s  %s  %s  %s  %s  %s\n",
		t,
		kindName(ev.GetKind()),
		cell(cm.GetId(), 0),
		cell(cm.GetThreadId(), 0),
		padRight(cell(cm.GetAuthorName(), watchAuthorWidth), watchAuthorWidth),
		cell(mc.GetMaskedEmail(), 0),
		cell(strings.Join(why, ","), 0),
		cell(cm.GetBody(), watchBodyWidth),
	)
}

// plural is "s" unless n is one.
func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
