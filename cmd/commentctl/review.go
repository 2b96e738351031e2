package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

const (
	// maxClaim is the most comments one ClaimComments call may ask for.
	maxClaim = 50
	// maxClaimSkip is the most skipped comments one ClaimComments call may name.
	maxClaimSkip = 500
	// reviewLease is how long our claims last. The server's default (5 minutes) can run out while a
	// moderator reads a long comment with a prefetched batch behind it; twice that still lets a
	// forgotten terminal give its comments back soon.
	reviewLease = 10 * time.Minute
	// reviewPrefetchBelow starts fetching the next batch when fewer comments than this are left,
	// so the next comment is there before the moderator gets to it.
	reviewPrefetchBelow = 3
	// reviewRetry is the wait before asking again when the queue was empty or a claim failed.
	reviewRetry = 15 * time.Second
	// maxUndo is how many decisions u can take back, newest first.
	maxUndo = 50
	// maxReasonLen is the longest reason the server takes.
	maxReasonLen = 500
	// defaultBan is the ban length when the moderator just presses Enter.
	defaultBan = 7 * 24 * time.Hour
	// reopenClaim is how long the server claims a reopened comment for whoever reopened it.
	reopenClaim = 5 * time.Minute
)

// rejectPicks are the quick reasons for r, chosen with 1 to 4.
func rejectPicks() []string { return []string{"off-topic", "abusive", "personal data", "duplicate"} }

// banPicks are the quick reasons for b, chosen with 1 to 4.
func banPicks() []string { return []string{"spam", "abusive", "harassment", "ban evasion"} }

// parseReviewState reads review's --state: the queues a moderator can claim from.
func parseReviewState(s string) (commentdv1.State, bool) {
	switch s {
	case "pending":
		return commentdv1.State_STATE_PENDING, true
	case "spam":
		return commentdv1.State_STATE_SPAM, true
	}
	return 0, false
}

func (c *cli) reviewCmd() *cobra.Command {
	var (
		state  string
		thread string
		batch  int
	)
	cmd := &cobra.Command{
		Use:   "review [--state pending|spam] [--thread ID] [--batch N]",
		Short: "Review the queue one comment at a time, full screen",
		Long: `review shows the queue one comment at a time in the terminal and takes a decision per key press:

  a  approve           publish the comment
  r  reject            asks a reason: 1 off-topic, 2 abusive, 3 personal data, 4 duplicate,
                       or type your own and press Enter (Esc cancels); a digit 1-4 on an
                       empty line picks at once, so start a reason like "3 links" with a space
  s  spam              mark it spam (the spam model learns from it unless it was spam already)
  b  ban the author    asks how long (Enter: 7d; or 24h, 30d, forever) and why
  n  skip (or space)   leave it for someone else: it goes back to the queue
  u  undo              take back the last decision (the comment is reopened) or ban (lifted,
                       or the ban it replaced put back)
  ↑ ↓ PgUp PgDn        scroll a long comment
  ?  keys              show the keys
  q  quit              finish the calls in flight and give back the comments not decided

Each comment shows its thread, the comment it replies to, the author's name and masked email, what
moderators decided on the author's earlier comments, the spam score, why the checks held it,
readers' reports and the text.

Comments are claimed from the server (--batch at a time, at most 50) for 10 minutes, so two
moderators reviewing at once never get the same comment; the next batch is fetched before this one
runs out. A decision key on a comment whose claim has run out decides nothing: review claims again
first (a comment another moderator took meanwhile is gone from the screen) and you press it again.
Decisions are sent in the background: the next comment shows at once, and a failed call
is reported in the status line and its comment comes back. Each decision carries the comment's
etag: one another moderator decided since it was claimed is left as they decided it (the server
refuses to overturn it) and does not come back; u reopens only a comment nobody decided since, and
a, r or s on a comment u is still reopening decides nothing: press it again once it is pending (b
likewise, while u lifts the author's ban). When the queue is empty review checks again every 15
seconds. A claim that fails for a while (the server unreachable or slow, a rate limit) is tried
again after 15 seconds, or as long as the server asks;
one the server refuses (a key without the moderator role, a bad --thread) ends review at once: the
calls in flight finish, the comments not decided go back, and the error is printed with exit status 1.

A ban goes with a request id, as commentctl ban sends one. A ban that ended without an answer (the
server or Redis did not answer in time, the connection broke) may have been stored: b on the same
comment with the same length and reason sends it again with the same id, which gets the ban the
first call stored instead of banning twice. One still in doubt when review ends is printed on
stderr as the commentctl ban command, with --request-id, that sends it again (within 24 hours).
A ban taken back with u while it was on its way, that then got no answer, may be in force all the
same (the undo had no ban to lift): the status line says so, and so does stderr when review ends,
with the author's target to look for in commentctl bans and lift with commentctl unban.

review needs an interactive terminal of at least 80x24 (an SSH session will do; no mouse needed).
It uses colours unless NO_COLOR is set or TERM=dumb. When it ends it prints a summary of the
session (with -o json, as a JSON object), and on stderr each decision whose call failed and that
was not taken again (one failing while q finishes the calls is seen nowhere else).`,
		Example: `  commentctl review
  commentctl review --state spam --batch 20
  commentctl review --thread blog-post-42`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, ok := parseReviewState(state)
			if !ok {
				return usagef(cmd, "--state %q: want pending or spam", state)
			}
			if batch < 1 || batch > maxClaim {
				return usagef(cmd, "--batch %d: want 1 to %d", batch, maxClaim)
			}
			only, err := threadFlag(cmd, thread)
			if err != nil {
				return err
			}
			if !isTerminal(c.stdin) || !isTerminal(c.stdout) {
				return usagef(cmd, "review needs an interactive terminal; in scripts use queue, approve, reject and bulk")
			}
			conn, client, err := c.dial(cmd)
			if err != nil {
				return err
			}
			defer conn.Close()

			ctx := cmd.Context()
			opts := reviewOptions{
				state:     st,
				thread:    only,
				batch:     batch,
				timeout:   c.timeout,
				plaintext: !c.secure(),
				tokenFrom: c.tokenFrom,
				lease:     reviewLease,
				retry:     reviewRetry,
			}
			m := newReviewModel(ctx, client, opts, newReviewStyles(useColor(c.stdout, c.env)))
			// The screen takes the alternate buffer: View asks for it.
			p := tea.NewProgram(m,
				tea.WithContext(ctx),
				tea.WithInput(c.stdin),
				tea.WithOutput(c.stdout),
			)
			_, runErr := p.Run()
			// Whatever ended the program, calls already sent finish and unfinished claims go back.
			releaseErr := m.cleanUp()
			if runErr != nil && ctx.Err() == nil {
				return fmt.Errorf("review: %w", runErr)
			}
			return c.endReview(m, releaseErr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "pending", "which queue to review: pending or spam")
	f.StringVar(&thread, "thread", "", "only comments of this thread `ID` (or threads/ID)")
	f.IntVar(&batch, "batch", 10, "comments to claim at a time, 1 to 50")
	_ = cmd.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pending", "spam"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// endReview reports how a review that ran ended: the summary (left out when a refused claim
// ended it before anything was done), a failed give-back of claims, and the refused claim's error.
func (c *cli) endReview(m *reviewModel, releaseErr error) error {
	if m.failed == nil || m.tally != (reviewTally{}) {
		if err := c.printReviewSummary(m.tally); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.lost)) {
		l := m.lost[name]
		if outcomeUnknown(l.err) {
			fmt.Fprintf(c.stderr, "commentctl: %s %s got no answer: %s; it may be undecided (commentctl show %s tells)\n",
				l.kind.verb(), name, c.describe(l.err), name)
			continue
		}
		fmt.Fprintf(c.stderr, "commentctl: could not %s %s: %s; the comment stays as it was (pending, or spam in a review of --state spam)\n", l.kind.verb(), name, c.describe(l.err))
	}
	for _, name := range slices.Sorted(maps.Keys(m.unsureBans)) {
		u := m.unsureBans[name]
		rerun := fmt.Sprintf("run commentctl ban --comment %s --for %s --reason %s",
			shellWord(name), banForFlag(u.banFor), shellWord(u.reason))
		fmt.Fprintf(c.stderr, "commentctl: the ban of the author of %s may have been stored; %s\n",
			name, banRetryHint(rerun, u.requestID))
	}
	for _, name := range slices.Sorted(maps.Keys(m.undoneUnsure)) {
		find := "commentctl bans lists it"
		if key := m.undoneUnsure[name].authorKey; key != "" {
			find += " with the target author:" + key
		}
		fmt.Fprintf(c.stderr, "commentctl: the ban of the author of %s may be in force though you undid it: "+
			"it got no answer, so nothing was lifted; %s, and commentctl unban NAME lifts it\n", name, find)
	}
	if releaseErr != nil {
		// Not a failure of the review: the claims lapse with their lease anyway.
		fmt.Fprintf(c.stderr, "commentctl: give back claimed comments: %s; they return to the queue within %s\n",
			c.describe(releaseErr), reviewLease)
	}
	if m.failed != nil {
		return c.callError("claim comments", m.failed)
	}
	return nil
}

func (c *cli) printReviewSummary(t reviewTally) error {
	if c.output == "json" {
		b, err := json.MarshalIndent(struct {
			Approved int `json:"approved"`
			Rejected int `json:"rejected"`
			Spam     int `json:"spam"`
			Banned   int `json:"banned"`
			Skipped  int `json:"skipped"`
		}{t.approved, t.rejected, t.spam, t.banned, t.skipped}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode summary as json: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "Review ended: %d approved, %d rejected, %d spam, %d author%s banned, %d skipped.\n",
		t.approved, t.rejected, t.spam, t.banned, plural(int64(t.banned)), t.skipped)
	return err
}

// reviewOptions are the settings of one review session.
type reviewOptions struct {
	state     commentdv1.State
	thread    string
	batch     int
	timeout   time.Duration // bounds every call, as --timeout does elsewhere
	plaintext bool          // calls go without TLS, which may be why they fail
	tokenFrom string        // where the token came from, to point at it when it is refused
	lease     time.Duration
	retry     time.Duration
}

// reviewTally counts the session's decisions that stand.
type reviewTally struct {
	approved, rejected, spam, banned, skipped int
}

func (t *reviewTally) add(k opKind, n int) {
	switch k {
	case opApprove:
		t.approved += n
	case opReject:
		t.rejected += n
	case opSpam:
		t.spam += n
	case opBan:
		t.banned += n
	}
}

// opKind is a moderator action taken from the review screen.
type opKind int

const (
	opApprove opKind = iota + 1
	opReject
	opSpam
	opBan
)

func (k opKind) verb() string {
	switch k {
	case opApprove:
		return "approve"
	case opReject:
		return "reject"
	case opSpam:
		return "mark spam"
	}
	return "ban the author of"
}

func (k opKind) done() string {
	switch k {
	case opApprove:
		return "Approved"
	case opReject:
		return "Rejected"
	case opSpam:
		return "Marked spam:"
	}
	return "Banned the author of"
}

// reviewItem is one claimed comment.
type reviewItem struct {
	name string
	mc   *commentdv1.ModeratedComment
	// claimEnd is when our claim on it runs out, by our clock: the time the claim was asked for
	// plus its lease, which errs early, as the server starts the lease a little later.
	claimEnd time.Time
}

// reviewOp is one action sent in the background.
type reviewOp struct {
	kind    opKind
	item    *reviewItem
	reason  string
	banFor  time.Duration // 0: for good
	request time.Time
	// requestID is a ban's request id: fresh for each ban, or the one of the same ban that
	// ended without an answer (unsureBan), so the server does not ban twice.
	requestID string

	// etag is the comment's etag when the decision was taken: the server refuses the decision if
	// the comment has changed since (another moderator decided it), rather than overturn that.
	etag string

	// done is closed when the call has returned; err, banName and decided are set before it
	// closes, so a goroutine that waited on done may read them.
	done    chan struct{}
	err     error
	banName string
	// decided is the comment as the decision left it; its etag is the one an undo sends.
	decided *commentdv1.ModeratedComment
	// replaced is the ban in force on the author that the ban replaced (nil if none): an undo
	// makes it again rather than leaving the author unbanned.
	replaced *commentdv1.Ban
	// unchanged: the action cannot change the comment (spam on a comment that is spam already,
	// as in --state spam): the server stores nothing, keeps our claim, and an undo must not
	// reopen the comment into the pending queue.
	unchanged bool

	// Owned by Update.
	settled bool // its result reached Update
	undone  bool // u was pressed for it
}

// Messages the background calls send back to Update.
type (
	claimedMsg struct {
		comments []*commentdv1.ModeratedComment
		claimEnd time.Time // when the claims run out
		skipSent []string  // the skipped comments the claim asked not to get
		err      error
	}
	parentMsg struct {
		name string
		mc   *commentdv1.ModeratedComment
		err  error
	}
	opDoneMsg struct{ op *reviewOp }
	undoneMsg struct {
		op       *reviewOp
		err      error
		skipped  bool                         // the action had failed, so there was nothing to undo
		reopened *commentdv1.ModeratedComment // the comment as the reopen left it
	}
	releasedMsg struct{ err error }
	retryMsg    struct{}
)

// unsureBan is a ban of a comment's author that ended without an answer (outcomeUnknown), so may
// have been stored. The server answers the same ban sent again with its request id (within 24
// hours) with the ban the first call stored, if it did, instead of banning, and recording the ban,
// a second time.
type unsureBan struct {
	requestID string
	banFor    time.Duration // 0: for good
	reason    string
	authorKey string // the banned author's key, as commentctl bans shows the target: author:<key>
}

// reviewMode is what the keys mean right now.
type reviewMode int

const (
	modeBrowse    reviewMode = iota // single-key decisions
	modeReason                      // typing a reject reason
	modeBanFor                      // typing a ban length
	modeBanReason                   // typing a ban reason
	modeHelp                        // the key list is shown; any key closes it
)

// parentView is the comment a reply answers, once fetched.
type parentView struct {
	mc      *commentdv1.ModeratedComment
	err     error
	loading bool
}

// reviewModel is the review screen. Update runs on bubbletea's event loop; the background calls it
// starts only read values copied for them and report back with messages, so no field is shared
// between goroutines (except each reviewOp's result, which its done channel guards).
type reviewModel struct {
	// ctx is the session's lifetime. It is kept here, against the usual rule, because bubbletea
	// runs the calls as commands after Update has returned, and they need a context to derive
	// their timeouts from.
	ctx    context.Context
	client commentdv1.ModerationServiceClient
	opts   reviewOptions
	styles reviewStyles
	now    func() time.Time

	width, height int

	queue   []*reviewItem   // claimed comments still to decide; queue[0] is on screen
	held    map[string]bool // comments we hold a claim on: given back at the end
	skipped map[string]bool // comments skipped this session, never shown again
	// skipOrder lists the skipped comments, oldest skip first; claims name the newest.
	skipOrder []string
	// skipIgnored: a claim brought back a comment it named as skipped, so the server is older
	// than skip_names, and claims ask for more comments instead, to make up for skipped ones.
	skipIgnored bool
	busy        map[string]int         // comments with an action in flight
	parents     map[string]*parentView // parent comments of replies, by resource name
	// undoingOn counts the undos on their way by what they change (undoKey): a decision on a
	// comment being reopened must wait for the etag the reopen gives it, or the server refuses it
	// as stale; a ban of an author whose ban is being lifted must wait, or the lift may take it.
	undoingOn map[string]int
	// unsureBans are the bans, by comment name, whose call ended without an answer: they may
	// have been stored. Sent again, the same ban goes with the same request id.
	unsureBans map[string]unsureBan
	// undoneUnsure are the bans, by comment name, that u took back while they were on their way
	// and whose call then ended without an answer: they may be in force, and the undo, having no
	// ban to lift, lifted nothing. The end of the review says how to find and lift them.
	undoneUnsure map[string]unsureBan
	// lost are the decisions, by comment name, whose call failed and put the comment back, and
	// that no later key on it replaced. One that failed while review was ending, or whose failure
	// another message pushed off the status line, was never seen: the end of the review names them.
	lost map[string]lostDecision

	claiming bool          // a ClaimComments call is in flight
	dry      bool          // the last claim brought nothing new: wait for retryMsg before asking again
	retryIn  time.Duration // the wait before that retryMsg
	// failed is the error of a claim that no retry can mend; it ended the review.
	failed error

	ops      []*reviewOp // actions sent and not yet settled
	undo     []*reviewOp // actions that can be taken back, newest last
	undoing  int         // undo calls in flight
	releases int         // release calls in flight for skipped comments
	tally    reviewTally

	mode   reviewMode
	input  []rune
	banFor time.Duration // the length typed at modeBanFor, 0 for good
	scroll int

	status    string
	statusErr error // set when the status line reports a failure
	// claimStatus: the failure the status line reports is a claim's, which is asked again anyway.
	claimStatus bool

	quitting  bool // q was pressed: finishing calls, then giving claims back
	releasing bool
	released  bool
}

func newReviewModel(ctx context.Context, client commentdv1.ModerationServiceClient, opts reviewOptions, st reviewStyles) *reviewModel {
	return &reviewModel{
		ctx:     ctx,
		client:  client,
		opts:    opts,
		styles:  st,
		now:     time.Now,
		held:    map[string]bool{},
		skipped: map[string]bool{},
		busy:    map[string]int{},
		parents: map[string]*parentView{},

		undoingOn:    map[string]int{},
		unsureBans:   map[string]unsureBan{},
		undoneUnsure: map[string]unsureBan{},
		lost:         map[string]lostDecision{},
	}
}

// lostDecision is a decision that failed and was not taken again: the comment stays as it was.
type lostDecision struct {
	kind opKind
	err  error
}

// Init claims the first batch.
func (m *reviewModel) Init() tea.Cmd { return m.claim() }

// current is the comment on screen, or nil when the queue is empty.
func (m *reviewModel) current() *reviewItem {
	if len(m.queue) == 0 {
		return nil
	}
	return m.queue[0]
}

// Update handles one message.
func (m *reviewModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		return m, m.paste(msg.Content)
	case claimedMsg:
		return m, m.claimed(msg)
	case parentMsg:
		m.parents[msg.name] = &parentView{mc: msg.mc, err: msg.err}
		return m, nil
	case opDoneMsg:
		return m, m.opDone(msg.op)
	case undoneMsg:
		return m, m.undone(msg)
	case releasedMsg:
		return m, m.releasedAll(msg)
	case skipReleasedMsg:
		m.releases--
		return m, m.finishIfIdle()
	case retryMsg:
		m.dry = false
		return m, m.prefetch()
	}
	return m, nil
}

// paste handles text pasted into the terminal. A paste is text, never a string of commands: it
// only goes into a prompt. (Keys typed faster than they are read, by quick fingers or over a slow
// SSH link, are not a paste: they arrive as one key press each.)
func (m *reviewModel) paste(text string) tea.Cmd {
	if m.quitting || m.tooSmall() {
		return nil
	}
	switch m.mode {
	case modeHelp:
		m.mode = modeBrowse // any input closes the key list
	case modeReason, modeBanFor, modeBanReason:
		m.typeRunes([]rune(text))
	}
	return nil
}

// key handles one key press.
func (m *reviewModel) key(k tea.KeyPressMsg) tea.Cmd {
	if k.String() == "ctrl+c" {
		if m.quitting {
			return tea.Quit // a second Ctrl-C does not wait for the calls
		}
		return m.quit()
	}
	if m.quitting {
		return nil
	}
	if m.tooSmall() {
		// The screen shows only a request to enlarge the window: no key may act on a comment
		// the moderator cannot see.
		if k.String() == "q" {
			return m.quit()
		}
		return nil
	}
	switch m.mode {
	case modeHelp:
		m.mode = modeBrowse
		return nil
	case modeReason, modeBanFor, modeBanReason:
		return m.promptKey(k)
	}

	switch k.String() {
	case "q":
		return m.quit()
	case "?":
		m.mode = modeHelp
		return nil
	case "u":
		return m.undoLast()
	case "up", "k":
		m.scrollBy(-1)
		return nil
	case "down", "j":
		m.scrollBy(1)
		return nil
	case "pgup":
		m.scrollBy(-m.bodyPage())
		return nil
	case "pgdown":
		m.scrollBy(m.bodyPage())
		return nil
	}

	cur := m.current()
	if cur == nil {
		return nil
	}
	switch k.String() {
	case "a", "s", "r", "b":
		if !m.now().Before(cur.claimEnd) {
			// Another moderator may have claimed and decided it since: a decision now could
			// overturn theirs. Claim again, and let the moderator look before deciding.
			return m.reclaim()
		}
	}
	switch k.String() {
	case "a", "s", "r":
		if m.undoingOn[undoKey(opApprove, cur)] > 0 {
			// Sent now, the decision would carry the etag from before the reopen: once the
			// reopen lands the server refuses it, and the comment would leave the screen
			// undecided. A ban does not depend on the comment's etag, so b goes on.
			m.setStatusErr(fmt.Sprintf("Still reopening %s; press the key again once it is pending.", cur.name), nil)
			return nil
		}
	case "b":
		if m.undoingOn[undoKey(opBan, cur)] > 0 {
			// An author has one ban: sent now, the new one could land before the lift (or the
			// ban it puts back) and be taken with it.
			m.setStatusErr(fmt.Sprintf("Still lifting the ban on the author of %s; press b again once it is lifted.", cur.name), nil)
			return nil
		}
	}
	switch k.String() {
	case "a":
		return m.act(opApprove, "")
	case "s":
		return m.act(opSpam, "")
	case "r":
		m.mode, m.input = modeReason, nil
		m.setStatus("")
	case "b":
		m.mode, m.input = modeBanFor, nil
		m.setStatus("")
	case "n", "space":
		return m.skip()
	}
	return nil
}

// scrollBy moves the text by n lines, keeping the last line at the bottom at most.
func (m *reviewModel) scrollBy(n int) {
	body, room := m.bodyLayout()
	m.scroll = min(max(m.scroll+n, 0), max(len(body)-room, 0))
}

// promptKey edits the line typed at a prompt.
func (m *reviewModel) promptKey(k tea.KeyPressMsg) tea.Cmd {
	// By name rather than code: a terminal that reports the keypad's own keys sends its Enter as
	// another code with the same name.
	switch k.String() {
	case "esc":
		m.mode, m.input = modeBrowse, nil
		m.setStatus("Cancelled.")
		return nil
	case "enter":
		return m.submitPrompt(strings.TrimSpace(string(m.input)))
	case "backspace":
		if len(m.input) > 0 {
			m.input = m.input[:len(m.input)-1]
		}
		return nil
	case "ctrl+u":
		m.input = nil
		return nil
	}
	// Text is set only for printable characters (space included), never for a key with Ctrl or Alt.
	if k.Text == "" {
		return nil
	}
	// A digit on an empty line is a quick pick, sent at once.
	if len(m.input) == 0 && len(k.Text) == 1 && k.Text[0] >= '1' && k.Text[0] <= '4' {
		i := int(k.Text[0] - '1')
		switch m.mode {
		case modeReason:
			return m.submitPrompt(rejectPicks()[i])
		case modeBanReason:
			return m.submitPrompt(banPicks()[i])
		}
	}
	m.typeRunes([]rune(k.Text))
	return nil
}

// typeRunes adds typed or pasted text to the prompt, without control characters, up to the
// longest reason the server takes.
func (m *reviewModel) typeRunes(rs []rune) {
	for _, r := range clean(string(rs), false) {
		if len(m.input) >= maxReasonLen {
			return
		}
		m.input = append(m.input, r)
	}
}

// submitPrompt acts on the line entered at the current prompt.
func (m *reviewModel) submitPrompt(line string) tea.Cmd {
	switch m.mode {
	case modeReason:
		m.mode, m.input = modeBrowse, nil
		return m.act(opReject, line)
	case modeBanFor:
		d, err := parseBanFor(line)
		if err != nil {
			m.setStatusErr(fmt.Sprintf("Ban length %q: %v.", line, err), nil)
			return nil
		}
		m.banFor = d
		m.mode, m.input = modeBanReason, nil
		m.setStatus("")
	case modeBanReason:
		if line == "" {
			m.setStatusErr("A ban needs a reason: pick 1-4 or type one.", nil)
			return nil
		}
		m.mode, m.input = modeBrowse, nil
		return m.act(opBan, line)
	}
	return nil
}

// parseBanFor reads a ban length: empty for the default, "forever" for good, else a span (7d, 24h).
func parseBanFor(s string) (time.Duration, error) {
	switch strings.ToLower(s) {
	case "":
		return defaultBan, nil
	case "forever", "permanent", "for good":
		return 0, nil
	}
	d, err := parseSpan(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want 7d, 24h, 30m or forever")
	}
	return d, nil
}

// act sends an action on the comment on screen in the background. A decision moves to the next
// comment at once; a ban keeps the comment on screen, as it still needs a decision.
func (m *reviewModel) act(kind opKind, reason string) tea.Cmd {
	it := m.current()
	if it == nil {
		return nil
	}
	op := &reviewOp{kind: kind, item: it, reason: reason, banFor: m.banFor, request: m.now(), etag: it.mc.GetEtag(), done: make(chan struct{})}
	op.unchanged = kind == opSpam && it.mc.GetComment().GetState() == commentdv1.State_STATE_SPAM
	if kind == opBan {
		op.requestID = newBanRequestID()
		if u, ok := m.unsureBans[it.name]; ok && u.banFor == op.banFor && u.reason == reason {
			op.requestID = u.requestID
		}
	}
	if kind != opBan {
		m.queue = m.queue[1:]
		m.scroll = 0
		delete(m.lost, it.name)
	}
	m.busy[it.name]++
	m.ops = append(m.ops, op)
	m.pushUndo(op)
	m.tally.add(kind, 1)
	m.setStatus(fmt.Sprintf("Sending: %s %s…", kind.verb(), it.name))
	return tea.Batch(m.send(op), m.prefetch())
}

// send is the command that makes op's call.
func (m *reviewModel) send(op *reviewOp) tea.Cmd {
	ctx, client, timeout := m.ctx, m.client, m.opts.timeout
	name := op.item.name
	return func() tea.Msg {
		// A decision the moderator made must not be dropped because the session is ending.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		var err error
		switch op.kind {
		case opApprove:
			var resp *commentdv1.ApproveCommentResponse
			resp, err = client.ApproveComment(callCtx, &commentdv1.ApproveCommentRequest{Name: name, Reason: op.reason, Etag: op.etag})
			op.decided = resp.GetComment()
		case opReject:
			var resp *commentdv1.RejectCommentResponse
			resp, err = client.RejectComment(callCtx, &commentdv1.RejectCommentRequest{Name: name, Reason: op.reason, Etag: op.etag})
			op.decided = resp.GetComment()
		case opSpam:
			var resp *commentdv1.MarkSpamResponse
			resp, err = client.MarkSpam(callCtx, &commentdv1.MarkSpamRequest{Name: name, Reason: op.reason, Etag: op.etag})
			op.decided = resp.GetComment()
		case opBan:
			req := &commentdv1.CreateBanRequest{
				Target:    &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: name},
				Reason:    op.reason,
				RequestId: op.requestID,
			}
			if op.banFor > 0 {
				req.Duration = durationpb.New(op.banFor)
			}
			var resp *commentdv1.CreateBanResponse
			resp, err = client.CreateBan(callCtx, req)
			op.banName, op.replaced = resp.GetBan().GetName(), resp.GetReplacedBan()
		}
		op.err = err
		close(op.done)
		return opDoneMsg{op: op}
	}
}

// opDone settles an action whose call returned.
func (m *reviewModel) opDone(op *reviewOp) tea.Cmd {
	op.settled = true
	m.ops = slices.DeleteFunc(m.ops, func(o *reviewOp) bool { return o == op })
	name := op.item.name
	if m.busy[name]--; m.busy[name] <= 0 {
		delete(m.busy, name)
	}
	switch {
	case op.err != nil && op.undone && op.kind == opBan && outcomeUnknown(op.err):
		// u was pressed while the ban was on its way, and it got no answer: it may have been
		// stored all the same, and the undo, with no ban to lift, lifted nothing.
		m.settleUndoneBan(op)
		m.setStatusErr(fmt.Sprintf("The ban of the author of %s may be in force: no answer came, so u lifted "+
			"nothing. Check commentctl bans: %s.", name, m.describe(op.err)), op.err)
	case op.err != nil && op.undone:
		// u was pressed before the call failed: the comment is already back on screen.
		m.setStatusErr(fmt.Sprintf("Could not %s %s: %s.", op.kind.verb(), name, m.describe(op.err)), op.err)
	case op.err != nil && isETagMismatch(op.err):
		// Another moderator decided it since it was claimed: theirs stands, and it does not come
		// back, as deciding it again here would overturn their decision unseen.
		m.undo = slices.DeleteFunc(m.undo, func(o *reviewOp) bool { return o == op })
		m.tally.add(op.kind, -1)
		delete(m.held, name)
		m.setStatusErr(fmt.Sprintf("Left %s alone: %s.", name, m.describe(op.err)), op.err)
	case op.err != nil:
		m.undo = slices.DeleteFunc(m.undo, func(o *reviewOp) bool { return o == op })
		m.tally.add(op.kind, -1)
		where := "it is still on screen"
		if op.kind == opBan && outcomeUnknown(op.err) {
			// Pressing b again is how a moderator tries again: the same ban then goes with
			// the same request id.
			m.settleBan(op, true)
			where = "it may have been stored; b, same length and reason, resends it without banning twice"
		}
		if op.kind != opBan {
			m.lost[name] = lostDecision{kind: op.kind, err: op.err}
		}
		if op.kind != opBan && !m.inQueue(name) {
			m.requeue(op.item)
			where = "it is back in the queue"
			if m.current() == op.item {
				where = "it is on screen again"
			}
		}
		// What became of the comment comes before the cause, whose length varies: the status has
		// two lines, and a connection error alone can fill them.
		m.setStatusErr(fmt.Sprintf("Could not %s %s (%s): %s.", op.kind.verb(), name, where, m.describe(op.err)), op.err)
	case op.undone:
		// The undo call, waiting on this one, reports the outcome.
	default:
		if op.kind != opBan && !op.unchanged {
			delete(m.held, name) // deciding ended our claim
		}
		if op.kind == opBan {
			// This ban is in force, whatever an earlier one that ended without an answer did.
			m.settleBan(op, true)
		}
		if op.decided != nil {
			op.item.mc = op.decided // its etag is the one a later decision on it must send
		}
		msg := fmt.Sprintf("%s %s. u undoes it.", op.kind.done(), name)
		if op.kind == opBan {
			msg = fmt.Sprintf("Banned the author of %s %s. u lifts the ban.", name, banLength(op.banFor))
			if op.replaced != nil {
				msg = fmt.Sprintf("Banned the author of %s %s, replacing a ban %s. u puts that one back.",
					name, banLength(op.banFor), banEnd(op.replaced.GetExpireTime(), m.now()))
			}
		}
		// An error on the status line stays until the next key press, so a success does not hide it.
		if m.statusErr == nil {
			m.setStatus(msg)
		}
	}
	return m.finishIfIdle()
}

// requeue puts a comment whose decision failed back right after the one on screen, so the screen
// does not change under the moderator's fingers.
func (m *reviewModel) requeue(it *reviewItem) {
	at := min(1, len(m.queue))
	m.queue = slices.Insert(m.queue, at, it)
}

func (m *reviewModel) inQueue(name string) bool {
	return slices.ContainsFunc(m.queue, func(it *reviewItem) bool { return it.name == name })
}

func (m *reviewModel) pushUndo(op *reviewOp) {
	m.undo = append(m.undo, op)
	if len(m.undo) > maxUndo {
		m.undo = slices.Delete(m.undo, 0, len(m.undo)-maxUndo)
	}
}

// undoLast takes back the newest action: a decision is reopened and its comment shown again at
// once; a ban is lifted.
func (m *reviewModel) undoLast() tea.Cmd {
	if len(m.undo) == 0 {
		m.setStatus("Nothing to undo.")
		return nil
	}
	op := m.undo[len(m.undo)-1]
	m.undo = m.undo[:len(m.undo)-1]
	op.undone = true
	m.tally.add(op.kind, -1)
	if op.kind != opBan && !m.inQueue(op.item.name) {
		// The reopen claims it for us anew; its old claim ended with the decision.
		op.item.claimEnd = m.now().Add(reopenClaim)
		m.queue = slices.Insert(m.queue, 0, op.item)
		m.scroll = 0
	}
	m.undoing++
	m.undoingOn[undoKey(op.kind, op.item)]++
	if op.kind == opBan {
		m.setStatus(fmt.Sprintf("Lifting the ban on the author of %s…", op.item.name))
	} else {
		m.setStatus(fmt.Sprintf("Reopening %s…", op.item.name))
	}

	ctx, client, timeout := m.ctx, m.client, m.opts.timeout
	return func() tea.Msg {
		<-op.done // the action must have landed before it can be taken back
		if op.err != nil {
			return undoneMsg{op: op, skipped: true}
		}
		if op.unchanged {
			return undoneMsg{op: op} // nothing was changed, so nothing to take back
		}
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		var err error
		var reopened *commentdv1.ModeratedComment
		if op.kind == opBan {
			err = undoBan(callCtx, client, op, time.Now())
		} else {
			// With the etag our decision gave the comment: one decided again since is left alone.
			var resp *commentdv1.ReopenCommentResponse
			resp, err = client.ReopenComment(callCtx, &commentdv1.ReopenCommentRequest{Name: op.item.name, Reason: "undo in commentctl review", Etag: op.decided.GetEtag()})
			reopened = resp.GetComment()
		}
		return undoneMsg{op: op, err: err, reopened: reopened}
	}
}

// undoKey is what an undo of an action of kind on it changes: the comment a decision's undo
// reopens, or the author whose ban a ban's undo lifts (all their comments share that ban).
func undoKey(kind opKind, it *reviewItem) string {
	if kind != opBan {
		return it.name
	}
	if key := it.mc.GetAuthorKey(); key != "" {
		return "author:" + key
	}
	return "author of " + it.name
}

// undoBan takes back op's ban: it makes the ban it replaced again, for what was left of it at
// now, or, when there was none (or it has run out meanwhile), lifts the ban.
func undoBan(ctx context.Context, client commentdv1.ModerationServiceClient, op *reviewOp, now time.Time) error {
	if old := op.replaced; old != nil {
		key, isAuthor := strings.CutPrefix(old.GetTarget(), "author:")
		left := time.Duration(0)
		if e := old.GetExpireTime(); e != nil {
			left = e.AsTime().Sub(now)
		}
		if isAuthor && (old.GetExpireTime() == nil || left > 0) {
			req := &commentdv1.CreateBanRequest{
				Target: &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: key},
				Reason: old.GetReason(),
			}
			if left > 0 {
				req.Duration = durationpb.New(left)
			}
			_, err := client.CreateBan(ctx, req)
			return err
		}
	}
	_, err := client.DeleteBan(ctx, &commentdv1.DeleteBanRequest{Name: op.banName})
	return err
}

func (m *reviewModel) undone(msg undoneMsg) tea.Cmd {
	m.undoing--
	op := msg.op
	if key := undoKey(op.kind, op.item); m.undoingOn[key] <= 1 {
		delete(m.undoingOn, key)
	} else {
		m.undoingOn[key]--
	}
	switch {
	case msg.skipped:
		// The action had failed; opDone said so already.
	case msg.err != nil:
		m.tally.add(op.kind, 1) // the action stands
		what := "reopen " + op.item.name
		if op.kind == opBan {
			what = "lift the ban on the author of " + op.item.name
		}
		m.setStatusErr(fmt.Sprintf("Could not %s: %s.", what, m.describe(msg.err)), msg.err)
	case op.unchanged:
		// Still ours: the claim was never ended.
		m.setStatus(fmt.Sprintf("%s was spam already and stays so; it is on screen again.", op.item.name))
		m.held[op.item.name] = true
	case op.kind == opBan && op.replaced != nil:
		m.setStatus(fmt.Sprintf("Put back the earlier ban on the author of %s.", op.item.name))
	case op.kind == opBan:
		m.setStatus(fmt.Sprintf("Lifted the ban on the author of %s.", op.item.name))
	default:
		// The server claims a reopened comment for whoever reopened it: hold it again, so a skip
		// or the end of the session gives it back instead of leaving it claimed for minutes.
		m.setStatus(fmt.Sprintf("Reopened %s: it is pending again.", op.item.name))
		if msg.reopened != nil {
			op.item.mc = msg.reopened // the next decision on it sends the reopened comment's etag
		}
		if m.skipped[op.item.name] && !m.inQueue(op.item.name) {
			// Skipped while the reopen was on its way: give it back now.
			return m.releaseSkipped([]string{op.item.name})
		}
		m.held[op.item.name] = true
	}
	return m.finishIfIdle()
}

// skip gives the comment on screen back to the queue for someone else.
func (m *reviewModel) skip() tea.Cmd {
	it := m.current()
	m.queue = m.queue[1:]
	m.scroll = 0
	m.skipped[it.name] = true
	delete(m.lost, it.name) // left for others on purpose
	m.skipOrder = append(m.skipOrder, it.name)
	m.tally.skipped++
	m.setStatus(fmt.Sprintf("Skipped %s; it is back in the queue for others.", it.name))
	var cmds []tea.Cmd
	if m.held[it.name] {
		delete(m.held, it.name)
		cmds = append(cmds, m.releaseSkipped([]string{it.name}))
	}
	cmds = append(cmds, m.prefetch())
	return tea.Batch(cmds...)
}

// skipReleasedMsg reports a release of skipped comments; a failure only means they come back to
// the queue when the lease ends, so it is not shown.
type skipReleasedMsg struct{}

func (m *reviewModel) releaseSkipped(names []string) tea.Cmd {
	m.releases++
	ctx, client, timeout := m.ctx, m.client, m.opts.timeout
	return func() tea.Msg {
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		_, _ = client.ReleaseComments(callCtx, &commentdv1.ReleaseCommentsRequest{Names: names})
		return skipReleasedMsg{}
	}
}

// prefetch claims the next batch when the queue runs short, unless a claim is in flight or the
// last one found nothing new.
func (m *reviewModel) prefetch() tea.Cmd {
	if m.claiming || m.dry || m.quitting || len(m.queue) >= min(reviewPrefetchBelow, m.opts.batch) {
		return nil
	}
	return m.claim()
}

// claim is the command that claims a batch.
func (m *reviewModel) claim() tea.Cmd {
	m.claiming = true
	// Skipped comments are given back, so they are free again and the oldest in the queue: the
	// claim names them, or it would bring them back and, once a whole claim's worth were skipped,
	// nothing else. Those it cannot name (more than a claim takes, or a server that does not
	// know skip_names) may come back: ask for that many more, so the batch still brings new ones.
	skip := m.skipOrder[max(0, len(m.skipOrder)-maxClaimSkip):]
	extra := len(m.skipOrder) - len(skip)
	if m.skipIgnored {
		extra = len(m.skipOrder)
	}
	req := &commentdv1.ClaimCommentsRequest{
		Count:     int32(min(maxClaim, m.opts.batch+extra)),
		Lease:     durationpb.New(m.opts.lease),
		State:     m.opts.state,
		ThreadId:  m.opts.thread,
		SkipNames: skip,
	}
	ctx, client, timeout := m.ctx, m.client, m.opts.timeout
	claimEnd := m.now().Add(m.opts.lease)
	return func() tea.Msg {
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := client.ClaimComments(callCtx, req)
		return claimedMsg{comments: resp.GetComments(), claimEnd: claimEnd, skipSent: skip, err: err}
	}
}

// reclaim drops the comments whose claim has run out, which another moderator may have taken
// since, and claims again; those still free come back, claimed anew.
func (m *reviewModel) reclaim() tea.Cmd {
	now := m.now()
	m.queue = slices.DeleteFunc(m.queue, func(it *reviewItem) bool {
		if now.Before(it.claimEnd) {
			return false
		}
		delete(m.held, it.name)
		delete(m.lost, it.name) // another moderator may have decided it since
		return true
	})
	m.scroll = 0
	m.setStatus(fmt.Sprintf("Claim ran out after %s; fetched the queue again. Check it, then decide.", humanAge(m.opts.lease)))
	m.dry = false
	if m.claiming {
		return nil // the claim in flight refills the queue
	}
	return m.claim()
}

// claimed adds a claimed batch to the queue, leaving out comments already here, being decided, or
// skipped (those are given back at once), and fetches the parents of replies.
func (m *reviewModel) claimed(msg claimedMsg) tea.Cmd {
	m.claiming = false
	var cmds []tea.Cmd
	if msg.err != nil && m.ctx.Err() != nil {
		// Cut short because the review is ending (a signal): no failure to report.
		return m.quit()
	}
	if msg.err != nil {
		wait, again := retryWait(msg.err, m.opts.retry)
		if !again {
			// A key without the role, a bad --thread: asking again gets the same answer. Review
			// ends as q ends it, and exits with the error.
			m.failed = msg.err
			m.setStatusErr(fmt.Sprintf("Could not fetch comments: %s.", m.describe(msg.err)), msg.err)
			return m.quit()
		}
		m.dry = true
		m.retryIn = wait
		if m.statusErr == nil || m.statusErr == errTyping || m.claimStatus {
			m.setStatusErr(fmt.Sprintf("Could not fetch comments (trying again in %s): %s.",
				roundDelay(wait), m.describe(msg.err)), msg.err)
			m.claimStatus = true
		}
		// Else the status line tells of a failed decision or undo, which comments came back or
		// which action stands: a claim failing for the same reason, asked again anyway, must not
		// replace it before the moderator has read it.
		if m.quitting {
			return m.finishIfIdle()
		}
		return m.retryAfter(wait)
	}
	added := 0
	var giveBack []string
	ignoredNow := false
	for _, mc := range msg.comments {
		name := mc.GetComment().GetName()
		if name == "" {
			name = commentName(mc.GetComment().GetId())
		}
		switch {
		case m.skipped[name]:
			giveBack = append(giveBack, name)
			if !m.skipIgnored && slices.Contains(msg.skipSent, name) {
				m.skipIgnored = true
				ignoredNow = true
			}
			continue
		case m.inQueue(name) || m.busy[name] > 0:
			continue
		}
		m.queue = append(m.queue, &reviewItem{name: name, mc: mc, claimEnd: msg.claimEnd})
		m.held[name] = true
		added++
		if p := mc.GetComment().GetParentId(); p != "" {
			if cmd := m.fetchParent(commentName(p)); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	if len(giveBack) > 0 {
		cmds = append(cmds, m.releaseSkipped(giveBack))
	}
	if added == 0 && ignoredNow && !m.quitting {
		// Only skipped comments, from a server that ignored the list: ask again at once, for
		// enough more to get past them.
		cmds = append(cmds, m.claim())
	} else if added == 0 {
		m.dry = true
		m.retryIn = m.opts.retry
		cmds = append(cmds, m.retryAfter(m.opts.retry))
	}
	if m.quitting {
		// Claimed while we were finishing: these go back with the rest.
		cmds = append(cmds, m.finishIfIdle())
	}
	return tea.Batch(cmds...)
}

// retryAfter is the command that asks for a claim again after wait.
func (m *reviewModel) retryAfter(wait time.Duration) tea.Cmd {
	return tea.Tick(wait, func(time.Time) tea.Msg { return retryMsg{} })
}

// fetchParent is the command that gets the comment a reply answers, once per parent.
func (m *reviewModel) fetchParent(name string) tea.Cmd {
	if _, ok := m.parents[name]; ok {
		return nil
	}
	m.parents[name] = &parentView{loading: true}
	ctx, client, timeout := m.ctx, m.client, m.opts.timeout
	return func() tea.Msg {
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := client.GetComment(callCtx, &commentdv1.ModerationServiceGetCommentRequest{Name: name})
		return parentMsg{name: name, mc: resp.GetComment(), err: err}
	}
}

// quit starts the end of the session: the calls in flight finish, then the claims go back.
func (m *reviewModel) quit() tea.Cmd {
	m.quitting = true
	m.mode, m.input = modeBrowse, nil
	return m.finishIfIdle()
}

// finishIfIdle gives the claims back and ends the program once quitting and nothing is in flight.
func (m *reviewModel) finishIfIdle() tea.Cmd {
	if !m.quitting || m.releasing || m.released || len(m.ops) > 0 || m.undoing > 0 || m.releases > 0 || m.claiming {
		return nil
	}
	names := m.heldNames()
	if len(names) == 0 {
		m.released = true
		return tea.Quit
	}
	m.releasing = true
	ctx, client, timeout := m.ctx, m.client, m.opts.timeout
	return func() tea.Msg {
		return releasedMsg{err: releaseAll(ctx, client, timeout, names)}
	}
}

func (m *reviewModel) releasedAll(msg releasedMsg) tea.Cmd {
	m.releasing = false
	m.released = msg.err == nil
	if msg.err != nil {
		m.statusErr = msg.err
	}
	return tea.Quit
}

// heldNames lists the comments we still hold a claim on, in a stable order.
func (m *reviewModel) heldNames() []string {
	names := make([]string, 0, len(m.held))
	for n := range m.held {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// releaseAll gives back claims, at most maxClaim names per call.
func releaseAll(ctx context.Context, client commentdv1.ModerationServiceClient, timeout time.Duration, names []string) error {
	for chunk := range slices.Chunk(names, maxClaim) {
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		_, err := client.ReleaseComments(callCtx, &commentdv1.ReleaseCommentsRequest{Names: chunk})
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// settleBan records what became of a ban of the author of op's comment: one in force clears the
// unsure one, one that ended without an answer (or has not ended: landed is false) is unsure.
func (m *reviewModel) settleBan(op *reviewOp, landed bool) {
	switch {
	case landed && op.err == nil:
		delete(m.unsureBans, op.item.name)
	case !landed || outcomeUnknown(op.err):
		m.unsureBans[op.item.name] = unsureBan{requestID: op.requestID, banFor: op.banFor, reason: op.reason}
	}
}

// settleUndoneBan records that op's ban, taken back with u while it was on its way, ended
// without an answer (or had not ended when the review did), so may be in force with nothing lifted.
// A resend of it that b would make (the same request id) is off: the moderator took it back.
func (m *reviewModel) settleUndoneBan(op *reviewOp) {
	name := op.item.name
	if u, ok := m.unsureBans[name]; ok && u.requestID == op.requestID {
		delete(m.unsureBans, name)
	}
	m.undoneUnsure[name] = unsureBan{requestID: op.requestID, banFor: op.banFor, reason: op.reason, authorKey: op.item.mc.GetAuthorKey()}
}

// cleanUp runs after the program ended, however it ended (q, a signal, a crash of the terminal):
// it waits for the actions still in flight, then gives back the claims not given back yet.
func (m *reviewModel) cleanUp() error {
	// Each call is bounded by the timeout, but a program killed early may never have started some:
	// wait no longer than one call could take.
	wait := time.NewTimer(m.opts.timeout + time.Second)
	defer wait.Stop()
	expired := false
	for _, op := range m.ops {
		landed := false
		if !expired {
			select {
			case <-op.done:
				landed = true
			case <-wait.C:
				expired = true
			}
		} else {
			select {
			case <-op.done:
				landed = true
			default:
			}
		}
		if landed && op.err == nil && op.kind != opBan && !op.undone {
			delete(m.held, op.item.name)
		}
		if landed && op.err != nil && !op.undone {
			// The action does not stand, as opDone would have counted it; an undone one was
			// taken off the count when u was pressed.
			m.tally.add(op.kind, -1)
			if op.kind != opBan && !isETagMismatch(op.err) {
				// Its failure never reached the screen.
				m.lost[op.item.name] = lostDecision{kind: op.kind, err: op.err}
			}
		}
		switch {
		case op.kind == opBan && !op.undone:
			// Its result never reached the screen: endReview says how to send it again when
			// it may have been stored.
			m.settleBan(op, landed)
		case op.kind == opBan && (!landed || outcomeUnknown(op.err)):
			// Taken back with u, but the undo, which waits for the ban, cannot have lifted it.
			m.settleUndoneBan(op)
		}
	}
	m.ops = nil
	if m.released || len(m.held) == 0 {
		return nil
	}
	if err := releaseAll(m.ctx, m.client, m.opts.timeout, m.heldNames()); err != nil {
		return err
	}
	m.released = true
	return nil
}

func (m *reviewModel) setStatus(s string) {
	m.status, m.statusErr, m.claimStatus = s, nil, false
}

// setStatusErr shows a failure; err is the cause when a call failed, nil for a typing mistake.
func (m *reviewModel) setStatusErr(s string, err error) {
	m.status = s
	m.statusErr = err
	m.claimStatus = false
	if err == nil {
		m.statusErr = errTyping
	}
}

// describe renders a failed call for the status line, as commentctl does on stderr.
func (m *reviewModel) describe(err error) string {
	return describe(err, m.opts.timeout) + connHint(err, m.opts.plaintext) + tokenHint(err, m.opts.tokenFrom)
}

// errTyping marks a status line that reports a mistake at a prompt rather than a failed call.
var errTyping = errors.New("typing mistake")

// banEnd says when a ban in force ends, for the status line: "for good" or "ending in 2d".
func banEnd(expire *timestamppb.Timestamp, now time.Time) string {
	if expire == nil {
		return "for good"
	}
	return "ending in " + humanUntil(expire.AsTime().Sub(now))
}

// banLength says how long a ban lasts, for the status line.
func banLength(d time.Duration) string {
	if d == 0 {
		return "for good"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("for %dd", d/(24*time.Hour))
	}
	return "for " + d.String()
}
