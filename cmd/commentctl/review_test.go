package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// reviewNow is the clock of the review tests, so ages on screen do not depend on when they run.
var reviewNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// reviewHarness drives a review model's Update directly: each key press is handled, then every
// command it returned is run and its message fed back, until nothing is left. Commands run one
// after the other, so the order of calls is fixed; pressWithoutRunning keeps a call "in flight".
type reviewHarness struct {
	t       *testing.T
	m       *reviewModel
	d       *moderationDouble
	quit    bool // tea.Quit came back
	retries int  // retry ticks that fired (they are not fed back, or an empty queue would spin)
}

func newReviewHarness(t *testing.T, d *moderationDouble, opts reviewOptions) *reviewHarness {
	t.Helper()
	client := dialDouble(t, serveDouble(t, d))
	if opts.state == commentdv1.State_STATE_UNSPECIFIED {
		opts.state = commentdv1.State_STATE_PENDING
	}
	if opts.batch == 0 {
		opts.batch = 10
	}
	opts.timeout = 5 * time.Second
	opts.lease = reviewLease
	opts.retry = time.Millisecond
	m := newReviewModel(t.Context(), client, opts, newReviewStyles(false))
	m.now = func() time.Time { return reviewNow }
	h := &reviewHarness{t: t, m: m, d: d}
	h.handle(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.run(m.Init())
	return h
}

func (h *reviewHarness) handle(msg tea.Msg) {
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

func (h *reviewHarness) run(cmd tea.Cmd) {
	pending := []tea.Cmd{cmd}
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			pending = append(pending, msg...)
		case tea.QuitMsg:
			h.quit = true
		case retryMsg:
			h.retries++
		default:
			_, next := h.m.Update(msg)
			pending = append(pending, next)
		}
	}
}

// collect runs cmds and everything they batch concurrently, as bubbletea does, and returns the
// messages they produce, in no particular order. Nothing is fed back.
func collect(cmds ...tea.Cmd) []tea.Msg {
	var (
		mu   sync.Mutex
		msgs []tea.Msg
		wg   sync.WaitGroup
		run  func(tea.Cmd)
	)
	run = func(c tea.Cmd) {
		if c == nil {
			return
		}
		wg.Go(func() {
			switch msg := c().(type) {
			case nil:
			case tea.BatchMsg:
				for _, sub := range msg {
					run(sub)
				}
			default:
				mu.Lock()
				msgs = append(msgs, msg)
				mu.Unlock()
			}
		})
	}
	for _, c := range cmds {
		run(c)
	}
	wg.Wait()
	return msgs
}

// press handles keys one after the other, running what each starts.
func (h *reviewHarness) press(keys ...string) {
	for _, k := range keys {
		h.handle(keyMsg(k))
	}
}

// pressWithoutRunning handles a key but returns its command instead of running it.
func (h *reviewHarness) pressWithoutRunning(k string) tea.Cmd {
	_, cmd := h.m.Update(keyMsg(k))
	return cmd
}

// keyMsg is the key press bubbletea reports for k, as its input decoder builds it.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "kpenter": // the keypad's Enter, from a terminal that tells the keypad apart
		return tea.KeyPressMsg{Code: tea.KeyKpEnter}
	case "kp3":
		return tea.KeyPressMsg{Code: tea.KeyKp3, Text: "3"}
	}
	r := []rune(k)[0]
	if unicode.IsUpper(r) {
		// An upper-case letter is the letter's key with Shift.
		return tea.KeyPressMsg{Code: unicode.ToLower(r), ShiftedCode: r, Mod: tea.ModShift, Text: k}
	}
	return tea.KeyPressMsg{Code: r, Text: k}
}

// onScreen is the name of the comment shown, or "" for none.
func (h *reviewHarness) onScreen() string {
	if it := h.m.current(); it != nil {
		return it.name
	}
	return ""
}

// queued lists the names in the queue, the one on screen first.
func (h *reviewHarness) queued() []string {
	var names []string
	for _, it := range h.m.queue {
		names = append(names, it.name)
	}
	return names
}

// claimBatches answers the claims with the batches in turn, then with nothing.
func claimBatches(batches ...[]*commentdv1.ModeratedComment) func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
	var mu sync.Mutex
	return func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(batches) == 0 {
			return &commentdv1.ClaimCommentsResponse{}, nil
		}
		b := batches[0]
		batches = batches[1:]
		return &commentdv1.ClaimCommentsResponse{Comments: b, LeaseExpireTime: timestamppb.New(reviewNow.Add(reviewLease))}, nil
	}
}

// held makes n pending comments c1..cn (ids from first).
func heldComments(first, n int) []*commentdv1.ModeratedComment {
	out := make([]*commentdv1.ModeratedComment, 0, n)
	for i := first; i < first+n; i++ {
		id := fmt.Sprintf("c%d", i)
		out = append(out, moderated(id, "post-1", "Author "+id, "a•••@example.com", "Body of "+id, reviewNow.Add(-time.Hour), "PRE_MODERATION"))
	}
	return out
}

// decidingDouble answers claims with batches and accepts every decision, reopen and release.
func decidingDouble(batches ...[]*commentdv1.ModeratedComment) *moderationDouble {
	d := &moderationDouble{claimFn: claimBatches(batches...)}
	d.approve = func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
	}
	d.reject = func(_ context.Context, req *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
		return &commentdv1.RejectCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
	}
	d.markSpamFn = func(_ context.Context, req *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
		return &commentdv1.MarkSpamResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
	}
	d.reopenFn = func(_ context.Context, req *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		return &commentdv1.ReopenCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
	}
	d.createBanFn = func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
		return &commentdv1.CreateBanResponse{Ban: &commentdv1.Ban{Name: "bans/b1"}}, nil
	}
	d.deleteBanFn = func(context.Context, *commentdv1.DeleteBanRequest) (*commentdv1.DeleteBanResponse, error) {
		return &commentdv1.DeleteBanResponse{}, nil
	}
	return d
}

// methods lists the methods called, in order, leaving out those in skip.
func (d *moderationDouble) methods(skip ...string) []string {
	var out []string
	for _, c := range d.recorded() {
		if !slices.Contains(skip, c.method) {
			out = append(out, c.method)
		}
	}
	return out
}

func TestReviewDecisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		keys       []string
		wantMethod string
		want       proto.Message
	}{
		{name: "approve", keys: []string{"a"}, wantMethod: "ApproveComment", want: &commentdv1.ApproveCommentRequest{Name: "comments/c1"}},
		{name: "spam", keys: []string{"s"}, wantMethod: "MarkSpam", want: &commentdv1.MarkSpamRequest{Name: "comments/c1"}},
		{name: "reject quick pick 1", keys: []string{"r", "1"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "off-topic"}},
		{name: "reject quick pick 2", keys: []string{"r", "2"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "abusive"}},
		{name: "reject quick pick 3", keys: []string{"r", "3"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "personal data"}},
		{name: "reject quick pick 4", keys: []string{"r", "4"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "duplicate"}},
		{name: "reject typed reason", keys: []string{"r", "N", "o", "space", "2", "x", "backspace", "enter"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "No 2"}},
		{name: "reject without reason", keys: []string{"r", "enter"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1"}},
		{name: "reject quick pick on the keypad", keys: []string{"r", "kp3"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "personal data"}},
		{name: "reject sent with the keypad's Enter", keys: []string{"r", "o", "k", "kpenter"}, wantMethod: "RejectComment", want: &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 2))
			h := newReviewHarness(t, d, reviewOptions{})
			h.press(tt.keys...)

			d.checkRequests(t, fmt.Sprintf("keys %q", tt.keys), tt.wantMethod, tt.want)
			if got := h.onScreen(); got != "comments/c2" {
				t.Errorf("keys %q: on screen %q; want the next comment, comments/c2", tt.keys, got)
			}
			if h.m.statusErr != nil {
				t.Errorf("keys %q: status line reports %v; want success", tt.keys, h.m.statusErr)
			}
		})
	}
}

// reviewProgram runs a review model in a real bubbletea program, fed the bytes a terminal would
// send through a pipe, so bubbletea's own input decoder turns them into messages.
type reviewProgram struct {
	m       *reviewModel
	in      *io.PipeWriter
	claimed chan struct{} // closed when the first claim's result reaches the model
	done    chan error    // Run's error, once the program ended
}

func startReviewProgram(t *testing.T, d *moderationDouble) *reviewProgram {
	t.Helper()
	client := dialDouble(t, serveDouble(t, d))
	opts := reviewOptions{state: commentdv1.State_STATE_PENDING, batch: 10, timeout: 5 * time.Second, lease: reviewLease, retry: time.Hour}
	rp := &reviewProgram{
		m:       newReviewModel(t.Context(), client, opts, newReviewStyles(false)),
		claimed: make(chan struct{}),
		done:    make(chan error, 1),
	}
	var once sync.Once
	// The filter sees each message just before Update does, on the program's one event loop: input
	// written after claimed is closed is handled after the claimed comments are on screen.
	filter := func(_ tea.Model, msg tea.Msg) tea.Msg {
		if _, ok := msg.(claimedMsg); ok {
			once.Do(func() { close(rp.claimed) })
		}
		return msg
	}
	r, w := io.Pipe()
	rp.in = w
	t.Cleanup(func() { _ = r.Close() })
	p := tea.NewProgram(rp.m,
		tea.WithContext(t.Context()),
		tea.WithInput(r),
		tea.WithOutput(io.Discard),
		tea.WithWindowSize(80, 24),
		tea.WithoutSignals(),
		tea.WithFilter(filter),
	)
	go func() {
		_, err := p.Run()
		rp.done <- err
	}()
	return rp
}

// typeAndQuit waits for the first comments, writes input as one read's worth of bytes, then q,
// and waits for the program to end.
func (rp *reviewProgram) typeAndQuit(t *testing.T, input string) {
	t.Helper()
	<-rp.claimed
	if _, err := io.WriteString(rp.in, input); err != nil {
		t.Fatalf("write %q to the program's input: %v", input, err)
	}
	if _, err := io.WriteString(rp.in, "q"); err != nil {
		t.Fatalf("write q to the program's input: %v", err)
	}
	if err := <-rp.done; err != nil {
		t.Fatalf("program fed %q then q: Run: %v", input, err)
	}
}

// TestReviewKeyBursts checks what the terminal's bytes become. Keys typed faster than the terminal
// is read (quick fingers, a slow SSH link) arrive in one read; each is handled exactly as if typed
// slowly. A paste is text, never a string of commands.
func TestReviewKeyBursts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		method string
		want   []proto.Message
	}{
		{
			name:   "two approvals",
			input:  "aa",
			method: "ApproveComment",
			want:   []proto.Message{&commentdv1.ApproveCommentRequest{Name: "comments/c1"}, &commentdv1.ApproveCommentRequest{Name: "comments/c2"}},
		},
		{
			name:   "reject with a quick pick",
			input:  "r3",
			method: "RejectComment",
			want:   []proto.Message{&commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "personal data"}},
		},
		{
			name:   "a paste is never a command",
			input:  "\x1b[200~aaa\x1b[201~", // bracketed paste, which the program turns on
			method: "ApproveComment",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 3))
			startReviewProgram(t, d).typeAndQuit(t, tt.input)
			// The calls run concurrently: compare them in name order.
			got := d.requests(tt.method)
			slices.SortFunc(got, func(a, b proto.Message) int { return strings.Compare(nameField(a), nameField(b)) })
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("input %q: %s requests mismatch (-want +got):\n%s", tt.input, tt.method, diff)
			}
		})
	}
}

func TestReviewPasteIntoPrompt(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("r")
	// A pasted reason starting with a digit is text, not a quick pick.
	h.handle(tea.PasteMsg{Content: "2 links\x1b[31m"})
	h.press("enter")
	d.checkRequests(t, "r, paste, Enter", "RejectComment", &commentdv1.RejectCommentRequest{Name: "comments/c1", Reason: "2 links [31m"})
}

func TestReviewCancelledPromptSendsNothing(t *testing.T) {
	t.Parallel()
	for _, keys := range [][]string{{"r", "x", "esc"}, {"b", "esc"}, {"b", "enter", "esc"}} {
		d := decidingDouble(heldComments(1, 2))
		h := newReviewHarness(t, d, reviewOptions{})
		h.press(keys...)
		if got := d.methods("ClaimComments"); len(got) != 0 {
			t.Errorf("keys %q: server got %v; want no call", keys, got)
		}
		if got := h.onScreen(); got != "comments/c1" || h.m.mode != modeBrowse {
			t.Errorf("keys %q: on screen %q in mode %d; want comments/c1 in browse mode", keys, got, h.m.mode)
		}
	}
}

func TestReviewDecisionDoesNotWait(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{})

	cmd := h.pressWithoutRunning("a") // the call has not been made yet
	if got := h.onScreen(); got != "comments/c2" {
		t.Errorf("after a, before the call returned: on screen %q; want comments/c2", got)
	}
	if view := h.m.View().Content; !strings.Contains(view, "Body of c2") || !strings.Contains(view, "1 sending") {
		t.Errorf("after a, before the call returned: view lacks the next comment or the calls in flight:\n%s", view)
	}
	h.run(cmd)
	if n := len(d.requests("ApproveComment")); n != 1 {
		t.Errorf("after running a's command: %d ApproveComment calls; want 1", n)
	}
}

func TestReviewFailedDecisionKeepsComment(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 3))
	d.approve = func(context.Context, *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return nil, statusErr(t, codes.FailedPrecondition, "comment is decided", "INVALID_TRANSITION")
	}
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("a")

	// The comment comes back right after the one on screen, so the screen does not change under
	// the moderator's fingers.
	if diff := cmp.Diff([]string{"comments/c2", "comments/c1", "comments/c3"}, h.queued()); diff != "" {
		t.Errorf("after a failed approve: queue mismatch (-want +got):\n%s", diff)
	}
	if got := status.Code(h.m.statusErr); got != codes.FailedPrecondition {
		t.Errorf("after a failed approve: status error code %s; want FailedPrecondition", got)
	}
	if reason := errorReason(h.m.statusErr); reason != "INVALID_TRANSITION" {
		t.Errorf("after a failed approve: status error reason %q; want INVALID_TRANSITION", reason)
	}
	if !strings.Contains(h.m.View().Content, "✗") {
		t.Errorf("after a failed approve: view has no ✗ status line:\n%s", h.m.View().Content)
	}
	if h.m.tally.approved != 0 {
		t.Errorf("after a failed approve: tally counts %d approved; want 0", h.m.tally.approved)
	}
	// An error stays on the status line until the next key.
	h.press("down")
	if h.m.statusErr == nil {
		t.Errorf("after a failed approve and a scroll key: the status error is gone; want it kept until a decision")
	}
}

func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func TestReviewUndo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		keys       []string
		wantCalls  []string
		wantReq    proto.Message
		wantScreen string
		wantTally  reviewTally
	}{
		{
			name:       "approve then undo",
			keys:       []string{"a", "u"},
			wantCalls:  []string{"ApproveComment", "ReopenComment"},
			wantReq:    &commentdv1.ReopenCommentRequest{Name: "comments/c1", Reason: "undo in commentctl review"},
			wantScreen: "comments/c1",
		},
		{
			name:       "reject then undo",
			keys:       []string{"r", "2", "u"},
			wantCalls:  []string{"RejectComment", "ReopenComment"},
			wantReq:    &commentdv1.ReopenCommentRequest{Name: "comments/c1", Reason: "undo in commentctl review"},
			wantScreen: "comments/c1",
		},
		{
			name:       "undo takes back the newest of two",
			keys:       []string{"a", "s", "u"},
			wantCalls:  []string{"ApproveComment", "MarkSpam", "ReopenComment"},
			wantReq:    &commentdv1.ReopenCommentRequest{Name: "comments/c2", Reason: "undo in commentctl review"},
			wantScreen: "comments/c2",
			wantTally:  reviewTally{approved: 1},
		},
		{
			name:       "ban then undo lifts it",
			keys:       []string{"b", "enter", "1", "u"},
			wantCalls:  []string{"CreateBan", "DeleteBan"},
			wantReq:    &commentdv1.DeleteBanRequest{Name: "bans/b1"},
			wantScreen: "comments/c1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 3))
			h := newReviewHarness(t, d, reviewOptions{})
			h.press(tt.keys...)

			if diff := cmp.Diff(tt.wantCalls, d.methods("ClaimComments", "ReleaseComments")); diff != "" {
				t.Errorf("keys %q: calls mismatch (-want +got):\n%s", tt.keys, diff)
			}
			reqs := d.requests(tt.wantCalls[len(tt.wantCalls)-1])
			if diff := cmp.Diff([]proto.Message{tt.wantReq}, reqs, protocmp.Transform()); diff != "" {
				t.Errorf("keys %q: undo request mismatch (-want +got):\n%s", tt.keys, diff)
			}
			if got := h.onScreen(); got != tt.wantScreen {
				t.Errorf("keys %q: on screen %q; want %q", tt.keys, got, tt.wantScreen)
			}
			if h.m.statusErr != nil {
				t.Errorf("keys %q: status error %v; want none", tt.keys, h.m.statusErr)
			}
			if diff := cmp.Diff(tt.wantTally, h.m.tally, cmp.AllowUnexported(reviewTally{})); diff != "" {
				t.Errorf("keys %q: tally mismatch, the undone action must not count (-want +got):\n%s", tt.keys, diff)
			}
		})
	}
}

func TestReviewUndoWhileInFlight(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{})

	approve := h.pressWithoutRunning("a")
	undo := h.pressWithoutRunning("u")
	if got := h.onScreen(); got != "comments/c1" {
		t.Errorf("after a and u with the approve in flight: on screen %q; want comments/c1 back at once", got)
	}
	// The undo waits for the approval to land, whichever command bubbletea runs first.
	msgs := collect(undo, approve)
	// Feed the approval's result first, then the rest, as bubbletea would see them.
	slices.SortStableFunc(msgs, func(a, b tea.Msg) int {
		_, aDone := a.(opDoneMsg)
		_, bDone := b.(opDoneMsg)
		switch {
		case aDone && !bDone:
			return -1
		case bDone && !aDone:
			return 1
		}
		return 0
	})
	for _, msg := range msgs {
		h.handle(msg)
	}
	if diff := cmp.Diff([]string{"ApproveComment", "ReopenComment"}, d.methods("ClaimComments", "ReleaseComments")); diff != "" {
		t.Errorf("a then u while in flight: calls mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"comments/c1", "comments/c2"}, h.queued()); diff != "" {
		t.Errorf("a then u while in flight: queue mismatch (-want +got):\n%s", diff)
	}
	if h.m.tally.approved != 0 {
		t.Errorf("a then u: tally counts %d approved; want 0", h.m.tally.approved)
	}
}

// TestReviewUndoneCommentGivenBack checks that a comment reopened by u is given back when it is
// skipped or left at the end: the server claims a reopened comment for whoever reopened it, so
// without a release nobody else's review would get it until that claim ran out.
func TestReviewUndoneCommentGivenBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []string
	}{
		{name: "skipped after undo", keys: []string{"a", "u", "n"}},
		{name: "left at quit after undo", keys: []string{"a", "u", "q"}},
		{name: "rejected, undone, skipped", keys: []string{"r", "1", "u", "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 2))
			h := newReviewHarness(t, d, reviewOptions{})
			h.press(tt.keys...)
			if err := h.m.cleanUp(); err != nil {
				t.Fatalf("keys %q: cleanUp: %v", tt.keys, err)
			}
			var released []string
			for _, r := range d.requests("ReleaseComments") {
				released = append(released, r.(*commentdv1.ReleaseCommentsRequest).GetNames()...)
			}
			if !slices.Contains(released, "comments/c1") {
				t.Errorf("keys %q: released %q; want comments/c1 among them (reopened by u, so claimed for us again)", tt.keys, released)
			}
		})
	}
}

// TestReviewBanWaitsForUndoneBan checks b pressed again while u is lifting the author's ban. An
// author has one ban, under one name: sent at once, the new ban could land before the lift, which
// then took it too, leaving the author unbanned though the moderator's last word was a ban.
func TestReviewBanWaitsForUndoneBan(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{})
	var first, again []tea.Cmd
	for _, k := range []string{"b", "enter", "1"} {
		first = append(first, h.pressWithoutRunning(k))
	}
	undo := h.pressWithoutRunning("u")
	for _, k := range []string{"b", "enter", "2"} {
		again = append(again, h.pressWithoutRunning(k))
	}
	// The worst order: the first ban, then whatever b sent, then the lift.
	for _, c := range first {
		h.run(c)
	}
	for _, c := range again {
		h.run(c)
	}
	h.run(undo)
	h.press("b", "enter", "2")

	if diff := cmp.Diff([]string{"CreateBan", "DeleteBan", "CreateBan"}, d.methods("ClaimComments", "ReleaseComments")); diff != "" {
		t.Errorf("b Enter 1, u, b Enter 2 before the lift, then b Enter 2: calls mismatch (-want +got):\n%s", diff)
	}
	if h.m.tally.banned != 1 || h.m.statusErr != nil {
		t.Errorf("b Enter 1, u, b Enter 2 before the lift, then b Enter 2: %d banned, status %q (error %v); want 1, no error",
			h.m.tally.banned, h.m.status, h.m.statusErr)
	}
}

func TestReviewNothingToUndo(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 1))
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("u")
	if got := d.methods("ClaimComments"); len(got) != 0 {
		t.Errorf("u with nothing done: calls %v; want none", got)
	}
}

func TestReviewBan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []string
		want *commentdv1.CreateBanRequest
	}{
		{
			name: "default length, quick reason",
			keys: []string{"b", "enter", "2"},
			want: &commentdv1.CreateBanRequest{
				Target:   &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/c1"},
				Duration: durationpb.New(7 * 24 * time.Hour),
				Reason:   "abusive",
			},
		},
		{
			name: "typed length and reason",
			keys: []string{"b", "2", "4", "h", "enter", "t", "r", "o", "l", "l", "enter"},
			want: &commentdv1.CreateBanRequest{
				Target:   &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/c1"},
				Duration: durationpb.New(24 * time.Hour),
				Reason:   "troll",
			},
		},
		{
			name: "for good",
			keys: []string{"b", "f", "o", "r", "e", "v", "e", "r", "enter", "4"},
			want: &commentdv1.CreateBanRequest{
				Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/c1"},
				Reason: "ban evasion",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 2))
			h := newReviewHarness(t, d, reviewOptions{})
			h.press(tt.keys...)
			reqs := d.requests("CreateBan")
			// The request id is random, one per ban (TestReviewBanRequestID).
			if diff := cmp.Diff([]proto.Message{tt.want}, reqs, protocmp.Transform(),
				protocmp.IgnoreFields(&commentdv1.CreateBanRequest{}, "request_id")); diff != "" {
				t.Errorf("keys %q: CreateBan requests mismatch (-want +got):\n%s", tt.keys, diff)
			}
			if len(reqs) == 1 {
				if id := reqs[0].(*commentdv1.CreateBanRequest).GetRequestId(); !banRequestIDPattern.MatchString(id) {
					t.Errorf("keys %q: CreateBan request_id %q; want ban-<32 hex digits>", tt.keys, id)
				}
			}
			// A ban does not decide the comment: it stays on screen for a decision.
			if got := h.onScreen(); got != "comments/c1" {
				t.Errorf("keys %q: on screen %q; want comments/c1 still", tt.keys, got)
			}
		})
	}
}

// banRequestIDPattern is what a fresh ban request id looks like.
var banRequestIDPattern = regexp.MustCompile(`^ban-[0-9a-f]{32}$`)

// TestReviewBanRequestID: a ban from the review screen goes with a request id, as commentctl ban
// sends one. After a ban that ended without an answer, the same ban (length and reason) pressed
// again goes with the same id, so the server does not ban twice; another ban, or one after a
// refusal, gets a fresh id. A ban still unsure when review ends is printed as the commentctl ban
// command that sends it again with its id.
func TestReviewBanRequestID(t *testing.T) {
	t.Parallel()
	// answers makes a CreateBan that fails with each error in turn, then succeeds.
	answers := func(errs ...error) func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
		var mu sync.Mutex
		return func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(errs) > 0 {
				err := errs[0]
				errs = errs[1:]
				return nil, err
			}
			return &commentdv1.CreateBanResponse{Ban: &commentdv1.Ban{Name: "bans/b1"}}, nil
		}
	}
	sentIDs := func(d *moderationDouble) []string {
		var ids []string
		for _, r := range d.requests("CreateBan") {
			ids = append(ids, r.(*commentdv1.CreateBanRequest).GetRequestId())
		}
		return ids
	}
	unavailable := func(t *testing.T) error {
		return statusErr(t, codes.Unavailable, "store unavailable", "STORE_UNAVAILABLE")
	}

	t.Run("resent after no answer", func(t *testing.T) {
		t.Parallel()
		d := decidingDouble(heldComments(1, 2))
		d.createBanFn = answers(unavailable(t))
		h := newReviewHarness(t, d, reviewOptions{})
		h.press("b", "enter", "2")
		if h.m.statusErr == nil || !strings.Contains(h.m.status, "may have been stored") {
			t.Errorf("ban answered UNAVAILABLE: status %q; want an error saying the ban may have been stored", h.m.status)
		}
		h.press("b", "enter", "2") // the same ban again: the first one's id
		h.press("b", "enter", "1") // another reason: a ban of its own
		ids := sentIDs(d)
		if len(ids) != 3 {
			t.Fatalf("three bans pressed: %d CreateBan calls (ids %q); want 3", len(ids), ids)
		}
		for _, id := range ids {
			if !banRequestIDPattern.MatchString(id) {
				t.Errorf("CreateBan request_id %q; want ban-<32 hex digits>", id)
			}
		}
		if ids[1] != ids[0] {
			t.Errorf("the same ban pressed again after UNAVAILABLE: request_id %q; want the first one's, %q", ids[1], ids[0])
		}
		if ids[2] == ids[0] {
			t.Errorf("a ban with another reason: request_id %q; want a fresh one, not the first ban's", ids[2])
		}
		var errOut bytes.Buffer
		c := &cli{stdout: io.Discard, stderr: &errOut, output: "table", timeout: 5 * time.Second}
		if err := c.endReview(h.m, h.m.cleanUp()); err != nil || errOut.Len() != 0 {
			t.Errorf("endReview after the ban went through: error %v, stderr %q; want neither", err, errOut.String())
		}
	})

	t.Run("fresh after a refusal", func(t *testing.T) {
		t.Parallel()
		d := decidingDouble(heldComments(1, 2))
		d.createBanFn = answers(statusErr(t, codes.InvalidArgument, "bad reason", "INVALID_ARGUMENT"))
		h := newReviewHarness(t, d, reviewOptions{})
		h.press("b", "enter", "2", "b", "enter", "2")
		if ids := sentIDs(d); len(ids) != 2 || ids[0] == ids[1] {
			t.Errorf("the same ban pressed again after a refusal: request ids %q; want two different ones", ids)
		}
	})

	t.Run("still unsure at the end", func(t *testing.T) {
		t.Parallel()
		d := decidingDouble(heldComments(1, 2))
		d.createBanFn = answers(unavailable(t))
		h := newReviewHarness(t, d, reviewOptions{})
		h.press("b", "3", "0", "d", "enter", "s", "p", "a", "m", "space", "r", "u", "n", "enter", "q")
		first := d.requests("CreateBan")
		if len(first) != 1 {
			t.Fatalf("one ban pressed: %d CreateBan calls; want 1", len(first))
		}
		var errOut bytes.Buffer
		c := &cli{stdout: io.Discard, stderr: &errOut, output: "table", timeout: 5 * time.Second}
		if err := c.endReview(h.m, h.m.cleanUp()); err != nil {
			t.Fatalf("endReview: %v", err)
		}
		id := first[0].(*commentdv1.CreateBanRequest).GetRequestId()
		_, rerun, ok := strings.Cut(errOut.String(), "run commentctl ")
		rerun, _, _ = strings.Cut(rerun, " (within 24 hours)\n")
		if !ok || !strings.HasSuffix(rerun, " --request-id "+id) {
			t.Fatalf("endReview after a ban answered UNAVAILABLE: stderr %q; want a commentctl ban command line ending with --request-id %s", errOut.String(), id)
		}
		// The command printed sends the very request that got no answer.
		f := &banFake{create: echoBan}
		args := withServer(serveBanFake(t, f), shellSplit(t, rerun)...)
		if got := (invocation{args: args}).run(t); got.code != exitOK {
			t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
		}
		if diff := cmp.Diff(first, f.requests(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: request mismatch with the review's ban (-want +got):\n%s", cmdline(args), diff)
		}
	})
}

// shellSplit splits a command line of plain and single-quoted words, as a POSIX shell does.
func shellSplit(t *testing.T, line string) []string {
	t.Helper()
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case ch == ' ':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				t.Fatalf("shellSplit %q: unterminated quote", line)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			inWord = true
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

func TestReviewBanPromptMistakes(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 1))
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("b", "x", "enter")
	if h.m.mode != modeBanFor || h.m.statusErr == nil {
		t.Errorf("ban length \"x\": mode %d, status error %v; want still asking the length with an error", h.m.mode, h.m.statusErr)
	}
	h.press("ctrl+u") // clears the line
	h.press("enter", "enter")
	if h.m.mode != modeBanReason || h.m.statusErr == nil {
		t.Errorf("ban without a reason: mode %d, status error %v; want still asking the reason with an error", h.m.mode, h.m.statusErr)
	}
	if got := d.requests("CreateBan"); len(got) != 0 {
		t.Errorf("ban prompt mistakes: %d CreateBan calls; want none", len(got))
	}
}

func TestReviewSkip(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"n", "space"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 2))
			h := newReviewHarness(t, d, reviewOptions{})
			h.press(key)
			if got := h.onScreen(); got != "comments/c2" {
				t.Errorf("%s: on screen %q; want comments/c2", key, got)
			}
			d.checkRequests(t, key, "ReleaseComments", &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c1"}})
			if got := d.methods("ClaimComments", "ReleaseComments"); len(got) != 0 {
				t.Errorf("%s: calls %v; want no decision", key, got)
			}
		})
	}
}

func TestReviewSkippedCommentNotShownAgain(t *testing.T) {
	t.Parallel()
	// The server hands the skipped c1 back in the next claim, as it is free again.
	d := decidingDouble(heldComments(1, 1), append(heldComments(1, 1), heldComments(2, 1)...))
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("n")
	if got := h.onScreen(); got != "comments/c2" {
		t.Errorf("after skipping c1 and a claim returning c1 and c2: on screen %q; want comments/c2", got)
	}
	reqs := d.requests("ClaimComments")
	if len(reqs) != 2 {
		t.Fatalf("ClaimComments calls: %d; want 2", len(reqs))
	}
	// The double, like a server older than skip_names, brought c1 back though the claim named it:
	// the next claim asks for one more, as c1 may come back again.
	if got := reqs[1].(*commentdv1.ClaimCommentsRequest).GetSkipNames(); !slices.Equal(got, []string{"comments/c1"}) {
		t.Errorf("second claim skip_names %v; want [comments/c1]", got)
	}
	var released []string
	for _, r := range d.requests("ReleaseComments") {
		released = append(released, r.(*commentdv1.ReleaseCommentsRequest).GetNames()...)
	}
	if diff := cmp.Diff([]string{"comments/c1", "comments/c1"}, released); diff != "" {
		t.Errorf("released names mismatch (-want +got):\n%s", diff)
	}
	h.press("n")
	reqs = d.requests("ClaimComments")
	if got := reqs[len(reqs)-1].(*commentdv1.ClaimCommentsRequest).GetCount(); got != 12 {
		t.Errorf("claim after a server ignored skip_names: count %d; want 12 (the batch plus the two skipped comments that may come back)", got)
	}
}

// queueDouble answers claims as the server does, from a queue of n pending comments: the
// moderator's own claims first, then the oldest comments not claimed and not named in skip_names,
// up to the count; released comments are free again.
func queueDouble(n int) *moderationDouble {
	d := decidingDouble()
	queue := heldComments(1, n)
	var mu sync.Mutex
	mine := map[string]bool{}
	gone := map[string]bool{}
	d.claimFn = func(_ context.Context, req *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		var out []*commentdv1.ModeratedComment
		for _, own := range []bool{true, false} {
			for _, mc := range queue {
				name := mc.GetComment().GetName()
				if len(out) < int(req.GetCount()) && !gone[name] && mine[name] == own && !slices.Contains(req.GetSkipNames(), name) {
					out = append(out, mc)
				}
			}
		}
		for _, mc := range out {
			mine[mc.GetComment().GetName()] = true
		}
		return &commentdv1.ClaimCommentsResponse{Comments: out, LeaseExpireTime: timestamppb.New(reviewNow.Add(reviewLease))}, nil
	}
	d.releaseFn = func(_ context.Context, req *commentdv1.ReleaseCommentsRequest) (*commentdv1.ReleaseCommentsResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, name := range req.GetNames() {
			delete(mine, name)
		}
		return &commentdv1.ReleaseCommentsResponse{}, nil
	}
	approve := d.approve
	d.approve = func(ctx context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		mu.Lock()
		gone[req.GetName()] = true
		mu.Unlock()
		return approve(ctx, req)
	}
	return d
}

// TestReviewManySkipsKeepTheQueueGoing: a moderator who skips more comments than one claim takes
// still gets the comments behind them, not an empty queue: skipped comments are free again and
// the oldest, and the claims name them so as not to get them back.
func TestReviewManySkipsKeepTheQueueGoing(t *testing.T) {
	t.Parallel()
	const queued = 200
	d := queueDouble(queued)
	h := newReviewHarness(t, d, reviewOptions{})
	for i := 1; i <= 120; i++ {
		if got, want := h.onScreen(), fmt.Sprintf("comments/c%d", i); got != want {
			t.Fatalf("after %d skips: on screen %q; want %s", i-1, got, want)
		}
		h.press("n")
	}
	h.press("a")
	if got := h.onScreen(); got != "comments/c122" {
		t.Errorf("after 120 skips and an approval: on screen %q; want comments/c122", got)
	}
	for _, r := range d.requests("ClaimComments") {
		if c := r.(*commentdv1.ClaimCommentsRequest).GetCount(); c != 10 {
			t.Errorf("ClaimComments count %d; want 10 each time, the batch: skipped comments are named, not made up for", c)
		}
	}
}

func TestReviewQuitReleasesClaims(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"q", "ctrl+c"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 4))
			h := newReviewHarness(t, d, reviewOptions{})
			h.press("a", "n", key)

			if !h.quit {
				t.Fatalf("%s: the program did not quit", key)
			}
			d.checkRequests(t, "a, n, "+key, "ReleaseComments",
				&commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c2"}},                // the skip
				&commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c3", "comments/c4"}}, // the quit
			)
			if err := h.m.cleanUp(); err != nil || len(d.requests("ReleaseComments")) != 2 {
				t.Errorf("cleanUp after a clean quit: err %v, %d release calls; want nil and nothing more sent", err, len(d.requests("ReleaseComments")))
			}
		})
	}
}

func TestReviewQuitWaitsForDecisions(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{})
	approve := h.pressWithoutRunning("a")
	h.press("q")
	if h.quit {
		t.Fatalf("q with an approve in flight: quit at once; want to wait for it")
	}
	if n := len(d.requests("ReleaseComments")); n != 0 {
		t.Errorf("q with an approve in flight: %d releases before it landed; want 0", n)
	}
	if !strings.Contains(h.m.View().Content, "finishing 1 call") {
		t.Errorf("q with an approve in flight: the view does not say it is finishing:\n%s", h.m.View().Content)
	}
	h.run(approve)
	if !h.quit {
		t.Errorf("after the approve landed: the program did not quit")
	}
	d.checkRequests(t, "q, then the approve landed", "ReleaseComments", &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c2"}})
}

func TestReviewCleanUpAfterKill(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 3))
	h := newReviewHarness(t, d, reviewOptions{})
	approve := h.pressWithoutRunning("a")
	// The program is gone (a signal) with the approve still running in the background.
	go collect(approve)
	if err := h.m.cleanUp(); err != nil {
		t.Fatalf("cleanUp: %v", err)
	}
	d.checkRequests(t, "cleanUp", "ReleaseComments", &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c2", "comments/c3"}})
}

// TestReviewExpiredClaim checks that a comment kept on screen past the claim's lease is not decided
// by the next key: once the claim has run out, another moderator may have claimed and decided the
// comment, and an approve would then overturn their decision. review claims afresh first.
func TestReviewExpiredClaim(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a", "s", "r", "b"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			// The second claim brings c1 back, as the server would when nobody else took it.
			d := decidingDouble(heldComments(1, 3), heldComments(1, 3))
			h := newReviewHarness(t, d, reviewOptions{})
			h.m.now = func() time.Time { return reviewNow.Add(reviewLease + time.Minute) }
			h.press(key)

			if got := d.methods("ClaimComments", "ReleaseComments"); len(got) != 0 {
				t.Errorf("%s on a comment whose claim ran out: calls %v; want none until it is claimed again", key, got)
			}
			if n := len(d.requests("ClaimComments")); n != 2 {
				t.Errorf("%s on a comment whose claim ran out: %d claims; want 2 (the queue fetched again)", key, n)
			}
			if h.m.mode != modeBrowse {
				t.Errorf("%s on a comment whose claim ran out: mode %v; want no prompt", key, h.m.mode)
			}
			if got := h.onScreen(); got != "comments/c1" {
				t.Errorf("%s on a comment whose claim ran out: on screen %q; want comments/c1, claimed again", key, got)
			}
			// Claimed again: the next key acts.
			h.press("a")
			if diff := cmp.Diff([]string{"ApproveComment"}, d.methods("ClaimComments", "ReleaseComments")); diff != "" {
				t.Errorf("%s, claim again, a: calls mismatch (-want +got):\n%s", key, diff)
			}
		})
	}
}

func TestReviewPrefetch(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 5), heldComments(6, 5))
	h := newReviewHarness(t, d, reviewOptions{batch: 5, thread: "post-1", state: commentdv1.State_STATE_SPAM})

	h.press("a", "a")
	if n := len(d.requests("ClaimComments")); n != 1 {
		t.Errorf("3 comments left: %d claims; want 1 (no prefetch yet)", n)
	}
	h.press("a") // 2 left: fewer than 3
	want := &commentdv1.ClaimCommentsRequest{
		Count:    5,
		Lease:    durationpb.New(reviewLease),
		State:    commentdv1.State_STATE_SPAM,
		ThreadId: "post-1",
	}
	if diff := cmp.Diff([]proto.Message{want, want}, d.requests("ClaimComments"), protocmp.Transform()); diff != "" {
		t.Errorf("2 comments left: claims mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"comments/c4", "comments/c5", "comments/c6", "comments/c7", "comments/c8", "comments/c9", "comments/c10"}, h.queued()); diff != "" {
		t.Errorf("after the prefetch: queue mismatch (-want +got):\n%s", diff)
	}
}

func TestReviewEmptyQueue(t *testing.T) {
	t.Parallel()
	d := decidingDouble() // nothing to claim
	h := newReviewHarness(t, d, reviewOptions{})
	if h.retries != 1 {
		t.Errorf("empty queue: %d retries scheduled; want 1", h.retries)
	}
	if view := h.m.View().Content; !strings.Contains(view, "Nothing waits in the pending queue") {
		t.Errorf("empty queue: view does not say so:\n%s", view)
	}
	// When the retry fires, it claims again.
	h.handle(retryMsg{})
	if n := len(d.requests("ClaimComments")); n != 2 {
		t.Errorf("after the retry: %d claims; want 2", n)
	}
	// Keys that need a comment do nothing.
	h.press("a", "r", "s", "b", "n")
	if got := d.methods("ClaimComments"); len(got) != 0 {
		t.Errorf("decision keys on an empty queue: calls %v; want none", got)
	}
}

// A claim that failed is asked again only when waiting can mend it, and no sooner than the server's
// RetryInfo says; any other failure ends review at once.
func TestReviewClaimFailure(t *testing.T) {
	t.Parallel()
	retryIn := func(d time.Duration) *errdetails.RetryInfo {
		return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
	}
	tests := []struct {
		name string
		code codes.Code
		// retry is the RetryInfo the error carries, if any.
		retry *errdetails.RetryInfo
		// wantWait is the wait before the claim is asked again; 0: it is not, review ends.
		wantWait time.Duration
	}{
		{name: "unavailable", code: codes.Unavailable, wantWait: reviewRetry},
		{name: "unavailable, retry info shorter than ours", code: codes.Unavailable, retry: retryIn(time.Second), wantWait: reviewRetry},
		{name: "deadline exceeded", code: codes.DeadlineExceeded, wantWait: reviewRetry},
		{name: "aborted", code: codes.Aborted, wantWait: reviewRetry},
		{name: "rate limited", code: codes.ResourceExhausted, retry: retryIn(40 * time.Second), wantWait: 40 * time.Second},
		{name: "quota without retry info", code: codes.ResourceExhausted},
		{name: "permission denied", code: codes.PermissionDenied},
		{name: "unauthenticated", code: codes.Unauthenticated},
		{name: "invalid argument", code: codes.InvalidArgument},
		{name: "failed precondition", code: codes.FailedPrecondition},
		{name: "not found", code: codes.NotFound},
		{name: "unimplemented", code: codes.Unimplemented},
		{name: "internal", code: codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var details []protoadapt.MessageV1
			if tt.retry != nil {
				details = append(details, tt.retry)
			}
			err := statusErr(t, tt.code, "claim failed", tt.code.String(), details...)
			opts := reviewOptions{state: commentdv1.State_STATE_PENDING, batch: 10, timeout: 5 * time.Second, lease: reviewLease, retry: reviewRetry}
			m := newReviewModel(t.Context(), nil, opts, newReviewStyles(false))
			m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			m.claiming = true
			// The command is not run: a retry would wait for its tick.
			_, cmd := m.Update(claimedMsg{err: err})

			if status.Code(m.statusErr) != tt.code {
				t.Errorf("claim failed with %s: status error code %s; want %s", tt.code, status.Code(m.statusErr), tt.code)
			}
			if tt.wantWait == 0 {
				if status.Code(m.failed) != tt.code || !m.quitting {
					t.Errorf("claim failed with %s: failed %v, quitting %t; want review to end with the error", tt.code, m.failed, m.quitting)
				}
				if cmd == nil {
					t.Fatalf("claim failed with %s: no command; want tea.Quit", tt.code)
				}
				if _, ok := cmd().(tea.QuitMsg); !ok {
					t.Errorf("claim failed with %s: the command does not quit; want tea.Quit", tt.code)
				}
				return
			}
			if m.failed != nil || m.quitting {
				t.Errorf("claim failed with %s: failed %v, quitting %t; want a retry, review going on", tt.code, m.failed, m.quitting)
			}
			if m.retryIn != tt.wantWait {
				t.Errorf("claim failed with %s (retry info %v): retry in %s; want %s", tt.code, tt.retry.GetRetryDelay().AsDuration(), m.retryIn, tt.wantWait)
			}
			if want := "trying again in " + roundDelay(tt.wantWait).String(); !strings.Contains(m.status, want) {
				t.Errorf("claim failed with %s: status %q; want it to say %q", tt.code, m.status, want)
			}
		})
	}
}

// A claim cut short because review is ending (SIGTERM cancels its context) is no failure of the
// claim: review ends without an error.
func TestReviewClaimCutShortBySignal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	opts := reviewOptions{state: commentdv1.State_STATE_PENDING, batch: 10, timeout: 5 * time.Second, lease: reviewLease, retry: reviewRetry}
	m := newReviewModel(ctx, nil, opts, newReviewStyles(false))
	m.claiming = true
	m.Update(claimedMsg{err: status.Error(codes.Canceled, "context canceled")})
	if m.failed != nil || !m.quitting {
		t.Errorf("claim cancelled as review ends: failed %v, quitting %t; want no failure, review ending", m.failed, m.quitting)
	}
}

// A refused claim ends review with one line on stderr and exit status 1, not a retry every 15s.
func TestReviewRefusedClaimEndsReview(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T) error {
		return statusErr(t, codes.PermissionDenied, "this method needs a key with role moderator", "ROLE_NOT_ALLOWED")
	}
	t.Run("first claim", func(t *testing.T) {
		t.Parallel()
		d := &moderationDouble{claimFn: func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
			return nil, refused(t)
		}}
		h := newReviewHarness(t, d, reviewOptions{})
		if !h.quit || h.retries != 0 {
			t.Fatalf("claim refused: quit %t, %d retries scheduled; want quit, no retry", h.quit, h.retries)
		}
		var out, errOut bytes.Buffer
		c := &cli{stdout: &out, stderr: &errOut, output: "table", timeout: 5 * time.Second}
		err := c.endReview(h.m, h.m.cleanUp())
		var ce *callError
		if !errors.As(err, &ce) || status.Code(err) != codes.PermissionDenied {
			t.Fatalf("endReview after a refused claim: %v; want the PermissionDenied call error", err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "claim comments: ") || strings.Contains(msg, "\n") {
			t.Errorf("endReview after a refused claim: error %q; want one line about claim comments", msg)
		}
		if out.Len() != 0 || errOut.Len() != 0 {
			t.Errorf("endReview after a refused claim: stdout %q, stderr %q; want nothing but the error", out.String(), errOut.String())
		}
	})
	t.Run("after a decision", func(t *testing.T) {
		t.Parallel()
		d := decidingDouble()
		claims := 0
		d.claimFn = func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
			if claims++; claims > 1 {
				return nil, refused(t)
			}
			return &commentdv1.ClaimCommentsResponse{Comments: heldComments(1, 2)}, nil
		}
		h := newReviewHarness(t, d, reviewOptions{batch: 2})
		h.press("a") // the prefetch that follows is refused
		if !h.quit || h.retries != 0 {
			t.Fatalf("a, then the prefetch refused: quit %t, %d retries scheduled; want quit, no retry", h.quit, h.retries)
		}
		d.checkRequests(t, "a, then the prefetch refused", "ReleaseComments", &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c2"}})
		var out bytes.Buffer
		c := &cli{stdout: &out, stderr: io.Discard, output: "table", timeout: 5 * time.Second}
		if err := c.endReview(h.m, h.m.cleanUp()); status.Code(err) != codes.PermissionDenied {
			t.Errorf("endReview after a refused prefetch: %v; want the PermissionDenied call error", err)
		}
		if !strings.Contains(out.String(), "1 approved") {
			t.Errorf("endReview after a refused prefetch: stdout %q; want the summary with 1 approved", out.String())
		}
	})
}

func TestReviewParent(t *testing.T) {
	t.Parallel()
	reply := heldComments(1, 1)
	reply[0].Comment.ParentId = "p1"
	d := decidingDouble(reply)
	d.getComment = func(_ context.Context, req *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
		return &commentdv1.ModerationServiceGetCommentResponse{Comment: moderated("p1", "post-1", "Parent Person", "p•••@example.com", "The original point.", reviewNow.Add(-2*time.Hour))}, nil
	}
	h := newReviewHarness(t, d, reviewOptions{})
	d.checkRequests(t, "reply claimed", "GetComment", &commentdv1.ModerationServiceGetCommentRequest{Name: "comments/p1"})
	if view := h.m.View().Content; !strings.Contains(view, "Reply to  Parent Person: The original point.") {
		t.Errorf("reply on screen: view lacks the parent comment:\n%s", view)
	}
}

func TestReviewView(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A long comment that goes on. ", 120) + "\x1b[2J" + "The end."
	mc := moderated("c1", "post-9", "Jane \x1b[31mDoe", "j•••@example.com", long, reviewNow.Add(-3*time.Hour), "TOO_MANY_LINKS", "PRE_MODERATION")
	mc.SpamScore = 0.82
	mc.AuthorHistory = &commentdv1.AuthorHistory{Approved: 3, Rejected: 1, Spam: 2}
	mc.ReportCount = 2
	mc.Reports = []*commentdv1.Report{{Reason: "rude", CreateTime: timestamppb.New(reviewNow.Add(-time.Hour))}}

	for _, size := range []tea.WindowSizeMsg{{Width: 80, Height: 24}, {Width: 132, Height: 50}} {
		t.Run(fmt.Sprintf("%dx%d", size.Width, size.Height), func(t *testing.T) {
			d := decidingDouble([]*commentdv1.ModeratedComment{mc})
			h := newReviewHarness(t, d, reviewOptions{})
			h.handle(size)
			check := func(when string) {
				view := h.m.View().Content
				rows := strings.Split(view, "\n")
				if len(rows) != size.Height {
					t.Errorf("%s: view has %d lines; want %d", when, len(rows), size.Height)
				}
				for i, r := range rows {
					if w := ansi.StringWidth(r); w > size.Width {
						t.Errorf("%s: line %d is %d wide; want at most %d: %q", when, i+1, w, size.Width, r)
					}
				}
				if strings.ContainsRune(view, '\x1b') {
					t.Errorf("%s: plain view holds an escape sequence:\n%q", when, view)
				}
			}
			check("first screen")
			view := h.m.View().Content
			for _, want := range []string{
				"comments/c1 · thread post-9 · 3h ago",
				"Author    Jane [31mDoe <j•••@example.com>",
				"History   3 approved, 1 rejected, 2 spam",
				"0.82 ████████··",
				"TOO_MANY_LINKS: Held for too_many_links.",
				`Reports   2: "rude" 1h ago`,
				"A long comment that goes on.",
				"a approve",
			} {
				if !strings.Contains(view, want) {
					t.Errorf("view lacks %q:\n%s", want, view)
				}
			}
			if size.Height == 24 && strings.Contains(view, "The end.") {
				t.Errorf("first screen shows the end of a long text; want it below the fold:\n%s", view)
			}
			for range 200 {
				h.press("pgdown")
			}
			check("scrolled to the end")
			if view := h.m.View().Content; !strings.Contains(view, "The end.") {
				t.Errorf("after PgDn to the end: view lacks the last line:\n%s", view)
			}
			h.press("up")
			h.press("?")
			check("help")
			if view := h.m.View().Content; !strings.Contains(view, "undo the last decision") {
				t.Errorf("after ?: view lacks the key list:\n%s", view)
			}
			if view := h.m.View().Content; strings.Contains(view, "…") || !strings.Contains(view, "comes back.") {
				t.Errorf("after ?: the key list is cut short; want every line whole:\n%s", view)
			}
			h.press("x") // any key closes the help
			h.press("r")
			check("reject prompt")
			if view := h.m.View().Content; !strings.Contains(view, "1 off-topic  2 abusive  3 personal data  4 duplicate  Esc cancels") {
				t.Errorf("after r: view lacks the whole line of quick reasons:\n%s", view)
			}
			h.press("esc", "b")
			check("ban length prompt")
			if view := h.m.View().Content; !strings.Contains(view, "forever  Esc cancels") {
				t.Errorf("after b: view lacks the whole ban length line:\n%s", view)
			}
			h.press("enter")
			check("ban reason prompt")
			if view := h.m.View().Content; !strings.Contains(view, "Ban for 7d: 1 spam  2 abusive  3 harassment  4 ban evasion  Esc cancels") {
				t.Errorf("after b, Enter: view lacks the whole line of ban reasons:\n%s", view)
			}
		})
	}
}

// TestReviewRealNamesFit runs review at its smallest size with comments named as the server names
// them (35 characters): the ban prompt and a status that names a comment must still show their
// ends, which say how to cancel or what u does.
func TestReviewRealNamesFit(t *testing.T) {
	t.Parallel()
	const id = "0206618bb59df24e0a5cfc9467"
	d := decidingDouble([]*commentdv1.ModeratedComment{
		moderated(id, "post-1", "Jane", "j•••@example.com", "Body", reviewNow.Add(-time.Hour), "PRE_MODERATION"),
	})
	refused := status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:7070: connect: connection refused"`)
	claims := d.claimFn
	var down atomic.Bool // the server goes away once the ban is made
	d.claimFn = func(ctx context.Context, req *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
		if down.Load() {
			return nil, refused
		}
		return claims(ctx, req)
	}
	d.approve = func(context.Context, *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return nil, refused
	}
	d.createBanFn = func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
		return &commentdv1.CreateBanResponse{
			Ban:         &commentdv1.Ban{Name: "bans/author-k1", Target: "author:k1"},
			ReplacedBan: &commentdv1.Ban{Name: "bans/author-k1", Target: "author:k1", ExpireTime: timestamppb.New(reviewNow.Add(30 * 24 * time.Hour))},
		}, nil
	}
	h := newReviewHarness(t, d, reviewOptions{})
	check := func(when, want string) {
		t.Helper()
		view := h.m.View().Content
		rows := strings.Split(view, "\n")
		if len(rows) != 24 {
			t.Errorf("%s: view has %d lines; want 24", when, len(rows))
		}
		for i, r := range rows {
			if w := ansi.StringWidth(r); w > 80 {
				t.Errorf("%s: line %d is %d wide; want at most 80: %q", when, i+1, w, r)
			}
		}
		if !strings.Contains(strings.Join(rows, " "), want) {
			t.Errorf("%s: view lacks %q, cut off at 80 columns:\n%s", when, want, view)
		}
	}
	h.press("b")
	check("after b", "forever  Esc cancels")
	h.press("enter", "1")
	check("after b, Enter, 1 over a ban in force", "u puts that one back.")

	// A connection error fills two lines by itself: what became of the comment must come first.
	down.Store(true)
	h.press("a")
	check("after a failed approve", "(it is on screen again)")
	h.press("r", "esc") // a claim's failure does not replace the approve's on the status line
	h.run(h.m.claim())
	check("after a failed claim", "(trying again in")
}

// TestReviewLongThreadKeepsCounts reviews one thread whose id is an article's slug, as news sites
// use: the title line must still show how many comments wait and how many were decided.
func TestReviewLongThreadKeepsCounts(t *testing.T) {
	t.Parallel()
	thread := "2026-11-30-city-council-approves-the-budget-for-the-bridge-repairs"
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{thread: thread})
	title, _, _ := strings.Cut(h.m.View().Content, "\n")
	if w := ansi.StringWidth(title); w > 80 || !strings.Contains(title, "2 waiting · 0 decided") {
		t.Errorf("review --thread %s at 80 columns: title %q (%d wide); want the counts in 80 columns", thread, title, w)
	}

	h.press("a", "a") // the queue is empty now
	view := h.m.View().Content
	for i, r := range strings.Split(view, "\n") {
		if w := ansi.StringWidth(r); w > 80 {
			t.Errorf("review --thread %s, queue empty: line %d is %d wide; want at most 80: %q", thread, i+1, w, r)
		}
	}
	if !strings.Contains(view, "q quits.") {
		t.Errorf("review --thread %s, queue empty: view lacks \"q quits.\":\n%s", thread, view)
	}
}

func TestReviewTooSmall(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 1))
	h := newReviewHarness(t, d, reviewOptions{})
	h.handle(tea.WindowSizeMsg{Width: 60, Height: 20})
	if view := h.m.View().Content; !strings.Contains(view, "60x20") || !strings.Contains(view, "80x24") {
		t.Errorf("60x20 window: view does not ask for a bigger one:\n%s", view)
	}
	h.handle(tea.WindowSizeMsg{Width: 80, Height: 24})
	if view := h.m.View().Content; !strings.Contains(view, "Body of c1") {
		t.Errorf("resized to 80x24: view lacks the comment:\n%s", view)
	}
}

// TestReviewTooSmallFits checks that the request for a bigger window fits the window it asks about:
// the terminal shows no more lines than it has, so a request wrapped past the bottom lost its end,
// which says how to quit.
func TestReviewTooSmallFits(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 1))
	h := newReviewHarness(t, d, reviewOptions{})
	for _, size := range []tea.WindowSizeMsg{{Width: 20, Height: 4}, {Width: 19, Height: 5}, {Width: 40, Height: 2}, {Width: 80, Height: 1}, {Width: 12, Height: 3}, {Width: 8, Height: 2}} {
		h.handle(size)
		view := h.m.View().Content
		rows := strings.Split(view, "\n")
		wide := 0
		for _, r := range rows {
			wide = max(wide, ansi.StringWidth(r))
		}
		if len(rows) > size.Height || wide > size.Width || !strings.Contains(strings.Join(rows, " "), "q quit") {
			t.Errorf("%dx%d window: view of %d lines, %d wide; want at most %d lines of %d, saying q quits:\n%s",
				size.Width, size.Height, len(rows), wide, size.Height, size.Width, view)
		}
	}
}

// TestReviewPromptWideText types a reason in wide characters (Chinese, an emoji of several code
// points) past the end of the prompt line: the line keeps the end of the text and its cursor, and
// is no wider than the window, whichever column the cut falls on.
func TestReviewPromptWideText(t *testing.T) {
	t.Parallel()
	for _, width := range []int{80, 81} {
		for _, text := range []string{"中", "a中", "👩‍👩‍👧‍👦"} {
			d := decidingDouble(heldComments(1, 1))
			h := newReviewHarness(t, d, reviewOptions{})
			h.handle(tea.WindowSizeMsg{Width: width, Height: 24})
			h.press("r")
			for i := range 60 {
				h.handle(tea.PasteMsg{Content: text})
				rows := strings.Split(h.m.View().Content, "\n")
				prompt := rows[len(rows)-1]
				if w := ansi.StringWidth(prompt); w > width || !strings.HasSuffix(prompt, text+"█") {
					t.Fatalf("%d columns, %q typed %d times: prompt line %q, %d wide; want at most %d, ending with the text and the cursor",
						width, text, i+1, prompt, w, width)
				}
			}
		}
	}
}

// TestReviewTooSmallTakesNoDecision checks that while the window is too small to show the comment,
// the decision keys do nothing: a moderator must not approve, reject, mark spam, ban or skip a
// comment they cannot see. q still quits, as the screen says.
func TestReviewTooSmallTakesNoDecision(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	h := newReviewHarness(t, d, reviewOptions{})
	h.handle(tea.WindowSizeMsg{Width: 60, Height: 20})
	keys := []string{"a", "s", "r", "1", "b", "enter", "1", "n", "space", "u"}
	h.press(keys...)

	if got := d.methods("ClaimComments"); len(got) != 0 {
		t.Errorf("60x20 window, keys %q: calls %q; want none", keys, got)
	}
	if got := h.onScreen(); got != "comments/c1" {
		t.Errorf("60x20 window, keys %q: current comment %q; want comments/c1, still undecided", keys, got)
	}
	if h.m.mode != modeBrowse {
		t.Errorf("60x20 window, keys %q: mode %v; want no prompt open (%v)", keys, h.m.mode, modeBrowse)
	}

	h.handle(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.press("a")
	d.checkRequests(t, "resized to 80x24, a", "ApproveComment", &commentdv1.ApproveCommentRequest{Name: "comments/c1"})

	h.handle(tea.WindowSizeMsg{Width: 60, Height: 20})
	h.press("q")
	if !h.quit {
		t.Errorf("60x20 window, q: the program did not quit; want q to quit, as the screen says")
	}
}

// TestReviewProgram runs the model in a real bubbletea program, where commands run concurrently
// and the screen goes through bubbletea's renderer.
func TestReviewProgram(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 3))
	client := dialDouble(t, serveDouble(t, d))
	opts := reviewOptions{state: commentdv1.State_STATE_PENDING, batch: 10, timeout: 5 * time.Second, lease: reviewLease, retry: time.Hour}
	m := newReviewModel(t.Context(), client, opts, newReviewStyles(false))
	// The filter sees each message just before Update does, on the program's one event loop, so a
	// key typed once it has seen a message is handled after that message. (The renderer redraws only
	// the cells that change, so the output is no place to wait for a new comment's text.)
	claimed, approved := make(chan struct{}), make(chan struct{})
	var (
		claimOnce, approveOnce sync.Once
		screenAtA              string // the screen when a reached the model; written before approved closes
	)
	filter := func(model tea.Model, msg tea.Msg) tea.Msg {
		switch msg := msg.(type) {
		case claimedMsg:
			claimOnce.Do(func() { close(claimed) })
		case tea.KeyPressMsg:
			if msg.String() == "a" {
				screenAtA = model.View().Content
			}
		case opDoneMsg:
			if msg.op.kind == opApprove {
				approveOnce.Do(func() { close(approved) })
			}
		}
		return msg
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24), teatest.WithProgramOptions(tea.WithFilter(filter)))

	<-claimed
	tm.Type("a")
	<-approved
	// The renderer sends only the cells that change, so the new comment's text shows whole in the
	// output only in a redraw from scratch: ask for one.
	tm.Send(tea.ClearScreen())
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

	d.checkRequests(t, "a, q", "ApproveComment", &commentdv1.ApproveCommentRequest{Name: "comments/c1"})
	d.checkRequests(t, "a, q", "ReleaseComments", &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/c2", "comments/c3"}})
	if !strings.Contains(screenAtA, "Body of c1") {
		t.Errorf("a: the screen when a was pressed lacks c1's text:\n%s", screenAtA)
	}
	out, err := io.ReadAll(tm.Output())
	if err != nil {
		t.Fatalf("read the program's output: %v", err)
	}
	// It runs on the alternate screen, and leaves it at the end.
	for _, want := range []string{ansi.SetModeAltScreenSaveCursor, ansi.ResetModeAltScreenSaveCursor} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("a, q: the terminal output lacks %q; output:\n%q", want, out)
		}
	}
	i := bytes.LastIndex(out, []byte(ansi.EraseEntireScreen))
	if i < 0 {
		t.Fatalf("a, clear, q: the terminal output has no redraw from scratch; output:\n%q", out)
	}
	for _, want := range []string{"2 waiting · 1 decided", "Body of c2"} {
		if !bytes.Contains(out[i:], []byte(want)) {
			t.Errorf("a, clear, q: the screen drawn after the clear lacks %q; output from the clear:\n%q", want, out[i:])
		}
	}
}

func TestReviewCommandLine(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 1))
	addr := serveDouble(t, d)
	tests := []usageCase{
		{name: "bad state", args: []string{"review", "--state", "rejected"}},
		{name: "batch zero", args: []string{"review", "--batch", "0"}},
		{name: "batch too big", args: []string{"review", "--batch", "51"}},
		{name: "arguments", args: []string{"review", "c1"}},
		// The test's stdin and stdout are buffers, not a terminal.
		{name: "not a terminal", args: []string{"review"}},
	}
	checkUsageErrors(t, d, addr, "review", tests)
}

func TestParseBanFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "", want: 7 * 24 * time.Hour},
		{in: "forever", want: 0},
		{in: "Permanent", want: 0},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "24h", want: 24 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "0", wantErr: true},
		{in: "-1h", wantErr: true},
		{in: "soon", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseBanFor(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseBanFor(%q) = %s, %v; want %s, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReviewSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		output string
		want   string
	}{
		{output: "table", want: "Review ended: 2 approved, 1 rejected, 0 spam, 1 author banned, 3 skipped.\n"},
		{output: "json", want: "{\n  \"approved\": 2,\n  \"rejected\": 1,\n  \"spam\": 0,\n  \"banned\": 1,\n  \"skipped\": 3\n}\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c := &cli{stdout: &out, output: tt.output}
		if err := c.printReviewSummary(reviewTally{approved: 2, rejected: 1, banned: 1, skipped: 3}); err != nil {
			t.Fatalf("printReviewSummary -o %s: %v", tt.output, err)
		}
		if diff := cmp.Diff(tt.want, out.String()); diff != "" {
			t.Errorf("printReviewSummary -o %s mismatch (-want +got):\n%s", tt.output, diff)
		}
	}
}

// The summary printed when review ends counts every kind of action that stands.
func TestReviewTallyCountsEachAction(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 5))
	h := newReviewHarness(t, d, reviewOptions{})
	// approve c1, mark c2 spam, reject c3, ban c4's author, then skip c4.
	h.press("a", "s", "r", "1", "b", "enter", "1", "n")
	want := reviewTally{approved: 1, spam: 1, rejected: 1, banned: 1, skipped: 1}
	if diff := cmp.Diff(want, h.m.tally, cmp.AllowUnexported(reviewTally{})); diff != "" {
		t.Errorf("a, s, r 1, b Enter 1, n: tally mismatch (-want +got):\n%s", diff)
	}
}

// An undo whose reopen fails leaves the decision standing, and the tally says so.
func TestReviewFailedUndoKeepsTally(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	d.reopenFn = func(context.Context, *commentdv1.ReopenCommentRequest) (*commentdv1.ReopenCommentResponse, error) {
		return nil, statusErr(t, codes.Unavailable, "server gone", "UNAVAILABLE")
	}
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("s", "u")
	if diff := cmp.Diff(reviewTally{spam: 1}, h.m.tally, cmp.AllowUnexported(reviewTally{})); diff != "" {
		t.Errorf("s, u with the reopen failing: tally mismatch (-want +got):\n%s", diff)
	}
	if status.Code(h.m.statusErr) != codes.Unavailable {
		t.Errorf("s, u with the reopen failing: status error %v; want Unavailable", h.m.statusErr)
	}
}

// TestReviewUndoBanPutsBackTheBanItReplaced: a ban made in review over a ban in force replaced it
// (a target has one ban); u makes that ban again instead of leaving the author unbanned.
func TestReviewUndoBanPutsBackTheBanItReplaced(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	earlier := &commentdv1.Ban{Name: "bans/author-k1", Target: "author:k1", Reason: "earlier", Moderator: "mod-b"}
	d.createBanFn = func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
		return &commentdv1.CreateBanResponse{Ban: &commentdv1.Ban{Name: "bans/author-k1", Target: "author:k1"}, ReplacedBan: earlier}, nil
	}
	h := newReviewHarness(t, d, reviewOptions{})
	h.press("b", "enter", "1")
	if !strings.Contains(h.m.status, "replacing a ban for good") {
		t.Errorf("ban over a ban for good: status %q; want it to say it replaced that ban", h.m.status)
	}
	h.press("u")
	if diff := cmp.Diff([]string{"CreateBan", "CreateBan"}, d.methods("ClaimComments", "ReleaseComments")); diff != "" {
		t.Errorf("b, u over a ban in force: calls mismatch (-want +got):\n%s", diff)
	}
	want := &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: "k1"}, Reason: "earlier"}
	if reqs := d.requests("CreateBan"); len(reqs) != 2 || !proto.Equal(reqs[1], want) {
		t.Errorf("b, u over a ban in force: CreateBan requests %v; want the second to be %v", reqs, want)
	}
	if h.m.statusErr != nil || !strings.Contains(h.m.status, "Put back the earlier ban") {
		t.Errorf("b, u over a ban in force: status %q, error %v; want the earlier ban put back", h.m.status, h.m.statusErr)
	}
}

// TestReviewUndoSpamOnSpam: in --state spam, s on a comment that is spam already changes nothing
// on the server; u must not reopen it (that would move the checks' catch into the pending queue),
// and the comment, still claimed by us, is given back at quit.
func TestReviewUndoSpamOnSpam(t *testing.T) {
	t.Parallel()
	batch := heldComments(1, 2)
	for _, mc := range batch {
		mc.GetComment().State = commentdv1.State_STATE_SPAM
	}
	d := decidingDouble(batch)
	h := newReviewHarness(t, d, reviewOptions{state: commentdv1.State_STATE_SPAM})
	h.press("s", "u")
	if got := d.methods("ClaimComments", "ReleaseComments"); !cmp.Equal(got, []string{"MarkSpam"}) {
		t.Errorf("s, u on a spam comment: calls %v; want only MarkSpam (nothing to reopen)", got)
	}
	if got := h.onScreen(); got != "comments/c1" {
		t.Errorf("s, u on a spam comment: on screen %q; want comments/c1 back", got)
	}
	h.press("q")
	var released []string
	for _, r := range d.requests("ReleaseComments") {
		released = append(released, r.(*commentdv1.ReleaseCommentsRequest).GetNames()...)
	}
	if !slices.Contains(released, "comments/c1") {
		t.Errorf("s, u, q on a spam comment: released %v; want comments/c1 given back", released)
	}
}

// TestReviewReportWithoutReason checks that a report whose reader gave no reason (the field is
// optional) says so, rather than showing an empty pair of quotes.
func TestReviewReportWithoutReason(t *testing.T) {
	t.Parallel()
	mc := heldComments(1, 1)[0]
	mc.ReportCount = 2
	mc.Reports = []*commentdv1.Report{
		{Reason: "rude", CreateTime: timestamppb.New(reviewNow.Add(-time.Hour))},
		{CreateTime: timestamppb.New(reviewNow.Add(-2 * time.Hour))},
	}
	h := newReviewHarness(t, decidingDouble([]*commentdv1.ModeratedComment{mc}), reviewOptions{})
	if want, view := `Reports   2: "rude" 1h ago · no reason given 2h ago`, h.m.View().Content; !strings.Contains(view, want) {
		t.Errorf("comment with a report without reason: view lacks %q:\n%s", want, view)
	}
}

// TestReviewUndoBanWithoutAnswer: u pressed while a ban is on its way, and the ban then gets no
// answer. The ban may have been stored, and the undo, which waited for it, lifted nothing: the
// status line and the end of the review say the ban may be in force and how to find and lift it,
// not that the ban failed. A ban the server refused is another matter: it is not in force.
func TestReviewUndoBanWithoutAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      codes.Code
		reason    string
		mayBeHeld bool // the ban may be in force
	}{
		{name: "deadline exceeded", code: codes.DeadlineExceeded, reason: "DEADLINE_EXCEEDED", mayBeHeld: true},
		{name: "store unavailable", code: codes.Unavailable, reason: "STORE_UNAVAILABLE", mayBeHeld: true},
		{name: "refused", code: codes.InvalidArgument, reason: "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble(heldComments(1, 2))
			d.createBanFn = func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
				return nil, statusErr(t, tt.code, "no luck", tt.reason)
			}
			h := newReviewHarness(t, d, reviewOptions{})
			h.press("b", "enter")
			ban := h.pressWithoutRunning("2")
			undo := h.pressWithoutRunning("u")
			for _, msg := range collect(ban, undo) {
				h.handle(msg)
			}
			if got := d.methods("ClaimComments", "ReleaseComments"); !cmp.Equal(got, []string{"CreateBan"}) {
				t.Errorf("b, u, ban answered %v: calls %v; want only CreateBan (no ban name to lift)", tt.code, got)
			}
			h.press("q")
			var errOut bytes.Buffer
			c := &cli{stdout: io.Discard, stderr: &errOut, output: "table", timeout: 5 * time.Second}
			if err := c.endReview(h.m, h.m.cleanUp()); err != nil {
				t.Fatalf("endReview: %v", err)
			}
			status, end := h.m.status, errOut.String()
			if !tt.mayBeHeld {
				if !strings.Contains(status, "Could not ban the author of comments/c1") || end != "" {
					t.Errorf("b, u, ban refused: status %q, stderr at the end %q; want the status to say the ban failed, and nothing at the end", status, end)
				}
				return
			}
			if h.m.statusErr == nil || !strings.Contains(status, "may be in force") || !strings.Contains(status, "commentctl bans") {
				t.Errorf("b, u, ban answered %v: status %q; want an error saying the ban may be in force and to check commentctl bans", tt.code, status)
			}
			for _, want := range []string{"comments/c1", "may be in force", "commentctl bans", "author:ak-c1", "commentctl unban"} {
				if !strings.Contains(end, want) {
					t.Errorf("b, u, ban answered %v: stderr at the end %q; want it to hold %q", tt.code, end, want)
				}
			}
			if strings.Contains(end, "--request-id") {
				t.Errorf("b, u, ban answered %v: stderr at the end %q; want no command that sends the undone ban again", tt.code, end)
			}
		})
	}
}

// TestReviewUndoBanCutShort: the review ends (a signal) while a ban taken back with u is still on
// its way. The undo waits for the ban, so it lifted nothing: the end says the ban may be in force.
func TestReviewUndoBanCutShort(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 2))
	unblock := make(chan struct{})
	t.Cleanup(func() { close(unblock) })
	d.createBanFn = func(ctx context.Context, _ *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
		select { // no answer while the review ends
		case <-unblock:
		case <-ctx.Done():
		}
		return nil, status.Error(codes.DeadlineExceeded, "too late")
	}
	h := newReviewHarness(t, d, reviewOptions{})
	h.m.opts.timeout = 100 * time.Millisecond // how long cleanUp waits for the ban, not a bound checked
	h.press("b", "enter")
	ban := h.pressWithoutRunning("2")
	undo := h.pressWithoutRunning("u")
	go collect(ban, undo)
	var errOut bytes.Buffer
	c := &cli{stdout: io.Discard, stderr: &errOut, output: "table", timeout: h.m.opts.timeout}
	if err := c.endReview(h.m, h.m.cleanUp()); err != nil {
		t.Fatalf("endReview: %v", err)
	}
	if end := errOut.String(); !strings.Contains(end, "the ban of the author of comments/c1 may be in force") || strings.Contains(end, "--request-id") {
		t.Errorf("review ended with b, u in flight: stderr %q; want it to say the ban of comments/c1's author may be in force, and not to send it again", end)
	}
}

// TestReviewLostDecisionReported checks that a decision whose call failed, and that was not taken
// again, is named when review ends. Its failure is on the status line only while the screen is up:
// one that failed while q was finishing the calls, after the program was killed, or whose line the
// refused claim that ended review replaced (a token revoked meanwhile) was never seen, and the
// moderator would leave believing the comment decided.
func TestReviewLostDecisionReported(t *testing.T) {
	t.Parallel()
	down := status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:7070: connect: connection refused"`)
	tests := []struct {
		name     string
		approve  error // what the first approve gets; later ones succeed
		claimErr error // what claims after the first get
		drive    func(h *reviewHarness)
		want     string // on stderr; "" for nothing about comments/c1
		wantEnd  string // how that line ends
	}{
		{
			name:    "q with the approve on its way",
			approve: down,
			drive: func(h *reviewHarness) {
				approve := h.pressWithoutRunning("a")
				h.press("q")
				h.run(approve)
				if !h.quit {
					h.t.Fatalf("a, q, then the approve failed: the program did not quit")
				}
			},
			want:    "commentctl: could not approve comments/c1: ",
			wantEnd: "; the comment stays as it was (pending, or spam in a review of --state spam)",
		},
		{
			name:    "killed with the approve on its way",
			approve: down,
			drive: func(h *reviewHarness) {
				go collect(h.pressWithoutRunning("a"))
			},
			want:    "commentctl: could not approve comments/c1: ",
			wantEnd: "; the comment stays as it was (pending, or spam in a review of --state spam)",
		},
		{
			name:     "token revoked meanwhile",
			approve:  statusErr(t, codes.Unauthenticated, "unknown API key", "API_KEY_INVALID"),
			claimErr: statusErr(t, codes.Unauthenticated, "unknown API key", "API_KEY_INVALID"),
			drive:    func(h *reviewHarness) { h.press("a") },
			want:     "commentctl: could not approve comments/c1: ",
			wantEnd:  "; the comment stays as it was (pending, or spam in a review of --state spam)",
		},
		{
			name:    "no answer",
			approve: status.Error(codes.DeadlineExceeded, "context deadline exceeded"),
			drive:   func(h *reviewHarness) { h.press("a", "q") },
			want:    "commentctl: approve comments/c1 got no answer: ",
			wantEnd: "; it may be undecided (commentctl show comments/c1 tells)",
		},
		{
			name:    "approved again",
			approve: down,
			drive:   func(h *reviewHarness) { h.press("a", "n", "a", "q") },
		},
		{
			name:    "skipped after the failure",
			approve: down,
			drive:   func(h *reviewHarness) { h.press("a", "n", "n", "q") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decidingDouble()
			claims := 0
			d.claimFn = func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
				if claims++; claims > 1 {
					if tt.claimErr != nil {
						return nil, tt.claimErr
					}
					return &commentdv1.ClaimCommentsResponse{}, nil
				}
				return &commentdv1.ClaimCommentsResponse{Comments: heldComments(1, 2)}, nil
			}
			var approves atomic.Int32
			approved := d.approve
			d.approve = func(ctx context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
				if approves.Add(1) == 1 {
					return nil, tt.approve
				}
				return approved(ctx, req)
			}
			h := newReviewHarness(t, d, reviewOptions{})
			tt.drive(h)

			var errOut bytes.Buffer
			c := &cli{stdout: io.Discard, stderr: &errOut, output: "table", timeout: 5 * time.Second}
			_ = c.endReview(h.m, h.m.cleanUp())
			var got []string
			for _, l := range lines(errOut.String()) {
				if strings.Contains(l, "comments/c1") {
					got = append(got, l)
				}
			}
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("endReview: stderr says %q; want nothing about comments/c1", got)
			case tt.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.want) || !strings.HasSuffix(got[0], tt.wantEnd)):
				t.Errorf("endReview: stderr lines about comments/c1 %q; want one starting %q and ending %q (stderr %q)", got, tt.want, tt.wantEnd, errOut.String())
			}
		})
	}
}

// TestReviewClaimFailureKeepsDecisionFailure checks that a failed claim, asked again anyway, does
// not replace a failed decision on the status line. With the server gone both fail at once, and
// the decision's line is the one that says which comment came back.
func TestReviewClaimFailureKeepsDecisionFailure(t *testing.T) {
	t.Parallel()
	down := status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:7070: connect: connection refused"`)
	d := decidingDouble()
	claims := 0
	d.claimFn = func(context.Context, *commentdv1.ClaimCommentsRequest) (*commentdv1.ClaimCommentsResponse, error) {
		if claims++; claims > 1 {
			return nil, down
		}
		return &commentdv1.ClaimCommentsResponse{Comments: heldComments(1, 3)}, nil
	}
	d.approve = func(context.Context, *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return nil, down
	}
	h := newReviewHarness(t, d, reviewOptions{})
	// The approve leaves two comments, fewer than the prefetch keeps: a claim goes with it, and
	// its failure settles last.
	h.press("a")
	if n := len(d.requests("ClaimComments")); n != 2 {
		t.Fatalf("a with 3 comments claimed: %d claims; want 2, the prefetch after the approve", n)
	}
	if !strings.HasPrefix(h.m.status, "Could not approve comments/c1 (it is back in the queue)") {
		t.Errorf("a, then the approve and the prefetch failed: status %q; want the approve's failure", h.m.status)
	}

	// A claim failure replaces a claim failure: the line says when the next try is.
	h.press("r", "esc")
	h.run(h.m.claim())
	h.run(h.m.claim())
	if !strings.HasPrefix(h.m.status, "Could not fetch comments (trying again in") {
		t.Errorf("the status cleared, then two claims failed: status %q; want the claim's failure", h.m.status)
	}
}

// TestReviewCleanUpCountsOnlyWhatStands checks the summary of a review killed with actions on
// their way: one that failed once the program was gone is not counted, as it would not have been
// had the screen seen it fail.
func TestReviewCleanUpCountsOnlyWhatStands(t *testing.T) {
	t.Parallel()
	d := decidingDouble(heldComments(1, 3))
	d.approve = func(context.Context, *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		return nil, status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	}
	d.createBanFn = func(context.Context, *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
		return nil, statusErr(t, codes.InvalidArgument, "bad reason", "INVALID_ARGUMENT")
	}
	h := newReviewHarness(t, d, reviewOptions{})
	var cmds []tea.Cmd
	for _, k := range []string{"a", "r", "1", "b", "enter", "1"} {
		cmds = append(cmds, h.pressWithoutRunning(k))
	}
	// The program is gone (a signal), the calls still running in the background.
	go collect(cmds...)
	if err := h.m.cleanUp(); err != nil {
		t.Fatalf("cleanUp: %v", err)
	}
	if want := (reviewTally{rejected: 1}); h.m.tally != want {
		t.Errorf("a (no answer), r 1 (done), b Enter 1 (refused), then killed: tally %+v; want %+v", h.m.tally, want)
	}
}
