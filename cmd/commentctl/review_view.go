package main

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// The smallest terminal review lays out for: the classic 80x24.
const (
	minReviewWidth  = 80
	minReviewHeight = 24
)

const (
	labelWidth    = 10 // "Reply to  " and the like
	scoreBarLen   = 10
	maxParentRows = 2
	maxHeldRows   = 2
)

// reviewStyles are the looks of the review screen. Without colours every style prints text as it
// is, so the screen must read well in plain text too: errors carry a ✗, the title is a plain line.
type reviewStyles struct {
	title, label, faint, bad, good, key lipgloss.Style
}

func newReviewStyles(color bool) reviewStyles {
	if !color {
		return reviewStyles{} // empty styles render text as it is
	}
	// Fixed colours of the terminal's own palette: they need no guess at its background. The
	// program lowers them to what the terminal can show.
	return reviewStyles{
		title: lipgloss.NewStyle().Reverse(true).Bold(true),
		label: lipgloss.NewStyle().Bold(true),
		faint: lipgloss.NewStyle().Faint(true),
		bad:   lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		good:  lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		key:   lipgloss.NewStyle().Bold(true),
	}
}

// View is the program's view of the screen: what screen draws, on the alternate screen.
func (m *reviewModel) View() tea.View {
	v := tea.NewView(m.screen())
	v.AltScreen = true
	return v
}

// screen draws the screen: exactly height lines, none wider than width.
func (m *reviewModel) screen() string {
	if m.width == 0 || m.height == 0 {
		return "Starting commentctl review…"
	}
	if m.tooSmall() {
		return m.tooSmallScreen()
	}

	lines := []string{m.titleLine()}
	footer := m.footerLines()
	room := m.height - 1 - len(footer)
	var mid []string
	switch {
	case m.mode == modeHelp:
		mid = m.helpLines()
	case m.current() == nil:
		mid = m.emptyLines()
	default:
		meta := m.metaLines(m.current())
		body, bodyRoom := m.bodyLayout()
		scroll := min(m.scroll, max(len(body)-bodyRoom, 0))
		mid = append(mid, meta...)
		mid = append(mid, m.separator(scroll, bodyRoom, len(body)))
		end := min(scroll+bodyRoom, len(body))
		for _, l := range body[scroll:end] {
			mid = append(mid, "  "+l)
		}
	}
	for len(mid) < room {
		mid = append(mid, "")
	}
	lines = append(lines, mid[:room]...)
	lines = append(lines, footer...)
	return strings.Join(lines, "\n")
}

// tooSmallScreen asks for a bigger window, in the longest of its messages that fits: the terminal
// shows no more lines than it has, and the last says how to quit.
func (m *reviewModel) tooSmallScreen() string {
	msgs := []string{
		fmt.Sprintf("This window is %dx%d; commentctl review needs at least %dx%d. Enlarge it, or press q to quit.",
			m.width, m.height, minReviewWidth, minReviewHeight),
		fmt.Sprintf("%dx%d is too small: review needs %dx%d. q quits.", m.width, m.height, minReviewWidth, minReviewHeight),
		fmt.Sprintf("Needs %dx%d. q quits.", minReviewWidth, minReviewHeight),
		"q quits",
	}
	var rows []string
	for _, msg := range msgs {
		rows = strings.Split(ansi.Wrap(msg, m.width, ""), "\n")
		if len(rows) <= m.height {
			break
		}
	}
	rows = rows[:min(len(rows), m.height)]
	for i, r := range rows {
		rows[i] = ansi.Truncate(r, m.width, "") // a wide character cannot be wrapped into one column
	}
	return strings.Join(rows, "\n")
}

// tooSmall reports whether the window is too small to show a comment.
func (m *reviewModel) tooSmall() bool {
	return m.width < minReviewWidth || m.height < minReviewHeight
}

// fit cuts a plain line to the screen width.
func (m *reviewModel) fit(s string) string {
	return ansi.Truncate(s, m.width, "…")
}

func (m *reviewModel) titleLine() string {
	left := " commentctl review · " + stateName(m.opts.state)
	if m.opts.thread != "" {
		left += " · thread " + oneLine(m.opts.thread)
	}
	decided := m.tally.approved + m.tally.rejected + m.tally.spam
	right := fmt.Sprintf("%d waiting · %d decided", len(m.queue), decided)
	if n := len(m.ops) + m.undoing; n > 0 {
		right += fmt.Sprintf(" · %d sending", n)
	}
	right += " "
	// A thread id may be an article's slug, longer than the screen: it gives way, not the counts.
	left = ansi.Truncate(left, m.width-ansi.StringWidth(right)-1, "…")
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	line := left + strings.Repeat(" ", max(gap, 1)) + right
	return m.styles.title.Render(m.fit(line))
}

// field renders "Label     value" cut to the width; the value is already one clean line.
func (m *reviewModel) field(label, value string) string {
	v := ansi.Truncate(value, m.width-labelWidth, "…")
	return m.styles.label.Render(fmt.Sprintf("%-*s", labelWidth, label)) + v
}

// metaLines are the facts about the comment above its text.
func (m *reviewModel) metaLines(it *reviewItem) []string {
	mc := it.mc
	cm := mc.GetComment()
	var out []string

	head := fmt.Sprintf("%s · thread %s · %s ago", it.name, cell(cm.GetThreadId(), 0), age(cm.GetCreateTime(), m.now()))
	if cm.GetState() != m.opts.state && cm.GetState() != commentdv1.State_STATE_UNSPECIFIED {
		head += " · " + stateName(cm.GetState())
	}
	out = append(out, m.field("Comment", head))

	out = append(out, m.field("Author", cell(cm.GetAuthorName(), 0)+" <"+cell(mc.GetMaskedEmail(), 0)+">"))
	h := mc.GetAuthorHistory()
	history := "no earlier comments on record"
	if h.GetApproved()+h.GetRejected()+h.GetSpam() > 0 {
		history = fmt.Sprintf("%d approved, %d rejected, %d spam", h.GetApproved(), h.GetRejected(), h.GetSpam())
	}
	out = append(out, m.field("History", history))

	out = append(out, m.field("Spam", fmt.Sprintf("%.2f %s", mc.GetSpamScore(), scoreBar(mc.GetSpamScore()))))

	var held []string
	for _, r := range mc.GetHoldReasons() {
		t := cell(r.GetCode(), 0)
		if msg := oneLine(r.GetMessage()); msg != "" {
			t += ": " + msg
		}
		held = append(held, t)
	}
	out = append(out, m.wrapField("Held", orDash(strings.Join(held, "; ")), maxHeldRows)...)

	if n := mc.GetReportCount(); n > 0 {
		var rs []string
		for _, r := range mc.GetReports() {
			// The reason is optional: an empty one read as "" on screen.
			reason := "no reason given"
			if s := oneLine(r.GetReason()); s != "" {
				reason = fmt.Sprintf("%q", s)
			}
			rs = append(rs, reason+" "+age(r.GetCreateTime(), m.now())+" ago")
		}
		out = append(out, m.field("Reports", fmt.Sprintf("%d: %s", n, strings.Join(rs, " · "))))
	}

	if p := cm.GetParentId(); p != "" {
		pname := commentName(p)
		var text string
		switch pv := m.parents[pname]; {
		case pv == nil || pv.loading:
			text = pname + " (loading…)"
		case pv.err != nil:
			text = fmt.Sprintf("%s (could not load: %s)", pname, m.describe(pv.err))
		default:
			pc := pv.mc.GetComment()
			text = cell(pc.GetAuthorName(), 40) + ": " + oneLine(pc.GetBody())
		}
		out = append(out, m.wrapField("Reply to", text, maxParentRows)...)
	}
	return out
}

// wrapField is field over at most rows lines, the label on the first.
func (m *reviewModel) wrapField(label, value string, rows int) []string {
	wrapped := strings.Split(ansi.Wrap(value, m.width-labelWidth, ""), "\n")
	if len(wrapped) > rows {
		wrapped = wrapped[:rows]
		wrapped[rows-1] = ansi.Truncate(wrapped[rows-1]+" …", m.width-labelWidth-1, "…")
	}
	out := make([]string, 0, len(wrapped))
	for i, w := range wrapped {
		if i > 0 {
			label = ""
		}
		out = append(out, m.field(label, w))
	}
	return out
}

// scoreBar draws a spam score from 0 to 1.
func scoreBar(f float64) string {
	f = min(max(f, 0), 1)
	n := int(f*scoreBarLen + 0.5)
	return strings.Repeat("█", n) + strings.Repeat("·", scoreBarLen-n)
}

// bodyLayout returns the wrapped text of the comment on screen and how many of its lines fit.
func (m *reviewModel) bodyLayout() ([]string, int) {
	it := m.current()
	if it == nil || m.width == 0 {
		return nil, 0
	}
	text := strings.TrimRight(clean(it.mc.GetComment().GetBody(), true), "\n")
	body := strings.Split(ansi.Wrap(text, m.width-2, ""), "\n")
	room := m.height - 1 - len(m.footerLines()) - len(m.metaLines(it)) - 1
	return body, max(room, 1)
}

// bodyPage is how far PgUp and PgDn move: a screenful less one line, for context.
func (m *reviewModel) bodyPage() int {
	_, room := m.bodyLayout()
	return max(room-1, 1)
}

// separator rules off the text, saying where the view is when the text does not fit.
func (m *reviewModel) separator(scroll, room, total int) string {
	label := "── Text "
	if total > room {
		label += fmt.Sprintf("(lines %d-%d of %d; ↑↓ PgUp PgDn scroll) ", scroll+1, min(scroll+room, total), total)
	}
	return m.styles.faint.Render(m.fit(label + strings.Repeat("─", max(m.width-ansi.StringWidth(label), 0))))
}

func (m *reviewModel) emptyLines() []string {
	var msg string
	switch {
	case m.quitting:
		msg = "Finishing…"
	case m.claiming:
		msg = "Fetching comments…"
	case m.statusErr != nil:
		msg = "No comments to show."
	default:
		where := "the " + stateName(m.opts.state) + " queue"
		if m.opts.thread != "" {
			where += " of thread " + oneLine(m.opts.thread)
		}
		msg = fmt.Sprintf("Nothing waits in %s. Checking again every %s; q quits.", where, m.opts.retry)
	}
	// Wrapped, not cut: a thread id may be an article's long slug, and what follows it says how
	// to leave.
	lines := []string{""}
	for l := range strings.SplitSeq(ansi.Wrap(msg, m.width-2, ""), "\n") {
		lines = append(lines, "  "+l)
	}
	return lines
}

func (m *reviewModel) helpLines() []string {
	k := m.styles.key.Render
	rows := []string{
		"",
		"  " + k("a") + "        approve: publish the comment",
		"  " + k("r") + "        reject: pick a reason with 1-4 or type one, Enter sends, Esc cancels",
		"  " + k("s") + "        spam: mark it spam; the model learns from it (not if already spam)",
		"  " + k("b") + "        ban the author: how long (Enter: 7d), then why",
		"  " + k("n") + ", " + k("space") + " skip: give it back to the queue for someone else",
		"  " + k("u") + "        undo the last decision (reopens the comment) or ban (lifts it, or",
		"           puts back the ban it replaced)",
		"  " + k("↑ ↓") + "      scroll the text; " + k("PgUp PgDn") + " a page at a time",
		"  " + k("?") + "        this list",
		"  " + k("q") + "        quit: finish sending, give back the comments not decided",
		"",
		"  Decisions are sent in the background; a failure shows below, and its comment",
		"  comes back.",
		"",
		"  Press any key to go back.",
	}
	for i, r := range rows {
		rows[i] = ansi.Truncate(r, m.width, "…")
	}
	return rows
}

// footerLines are the status lines and the key hints or the prompt being answered.
func (m *reviewModel) footerLines() []string {
	status := m.statusLines()
	if m.quitting {
		n := len(m.ops) + m.undoing
		msg := fmt.Sprintf("Quitting: finishing %d call%s, then giving back %d comment%s…", n, plural(int64(n)), len(m.held), plural(int64(len(m.held))))
		return append(status, m.fit(msg))
	}
	input := string(m.input)
	k := m.styles.key.Render
	switch m.mode {
	case modeReason:
		return append(status,
			m.fit("Reject: "+picks(rejectPicks())+"  Esc cancels"),
			m.promptLine("Reason (or type one, Enter sends): ", input),
		)
	case modeBanFor:
		// The comment is the one on screen: its name would push the choices and Esc off an
		// 80-column line.
		return append(status,
			m.fit("Ban this comment's author for: 7d, 24h, 30d, forever  Esc cancels"),
			m.promptLine("Ban for [7d]: ", input),
		)
	case modeBanReason:
		return append(status,
			m.fit("Ban "+banLength(m.banFor)+": "+picks(banPicks())+"  Esc cancels"),
			m.promptLine("Reason (or type one, Enter sends): ", input),
		)
	}
	keys := k("a") + " approve  " + k("r") + " reject  " + k("s") + " spam  " + k("b") + " ban  " +
		k("n") + " skip  " + k("u") + " undo  " + k("↑↓") + " scroll  " + k("?") + " keys  " + k("q") + " quit"
	return append(status, keys)
}

// promptLine shows the text typed so far with a cursor, keeping its end in view.
func (m *reviewModel) promptLine(label, input string) string {
	room := m.width - ansi.StringWidth(label) - 1
	if w := ansi.StringWidth(input); w > room {
		cut := w - room + 1 // the columns that go, making room for the "…"
		end := ansi.TruncateLeft(input, cut, "")
		if ansi.StringWidth(end) > room-1 {
			// TruncateLeft keeps whole a wide character that straddles the cut: drop it.
			end = ansi.TruncateLeft(input, cut+1, "")
		}
		input = "…" + end
	}
	return m.styles.label.Render(label) + input + "█"
}

func picks(list []string) string {
	parts := make([]string, len(list))
	for i, p := range list {
		parts[i] = fmt.Sprintf("%d %s", i+1, p)
	}
	return strings.Join(parts, "  ")
}

// maxStatusLines bounds the status: a comment's name takes 35 of the 80 columns, so a message
// with its name and what u would do ("u puts that one back") or why a call failed needs two
// lines; one line cut that end off. Longer ones are cut at the end of the second.
const maxStatusLines = 2

// statusLines are the status message wrapped to the screen width, at least one line.
func (m *reviewModel) statusLines() []string {
	if m.status == "" {
		return []string{""}
	}
	msg, style := m.status, m.styles.good
	if m.statusErr != nil {
		msg, style = "✗ "+m.status, m.styles.bad
	}
	rows := strings.Split(ansi.Wrap(msg, m.width, ""), "\n")
	if len(rows) > maxStatusLines {
		rows[maxStatusLines-1] = strings.Join(rows[maxStatusLines-1:], " ")
		rows = rows[:maxStatusLines]
	}
	for i, r := range rows {
		rows[i] = style.Render(m.fit(r))
	}
	return rows
}
