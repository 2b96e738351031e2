package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

func TestHumanAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Minute, "0s"},
		{0, "0s"},
		{59 * time.Second, "59s"},
		{time.Minute, "1m"},
		{3*time.Minute + 59*time.Second, "3m"},
		{59 * time.Minute, "59m"},
		{time.Hour, "1h"},
		{2*time.Hour + 59*time.Minute, "2h"},
		{23 * time.Hour, "23h"},
		{24 * time.Hour, "1d"},
		{4*24*time.Hour + 23*time.Hour, "4d"},
		{400 * 24 * time.Hour, "400d"},
	}
	for _, tt := range tests {
		if got := humanAge(tt.in); got != tt.want {
			t.Errorf("humanAge(%s) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestHumanUntil(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Minute, "0s"},
		{0, "0s"},
		{400 * time.Millisecond, "0s"},
		{59*time.Second + 600*time.Millisecond, "1m"},
		{4*time.Minute + 29*time.Second, "4m"},
		{4*time.Minute + 30*time.Second, "5m"},
		{59*time.Minute + 45*time.Second, "1h"},
		{4*time.Hour + time.Minute, "4h"},
		{24*time.Hour - time.Second, "1d"}, // a 24h ban just made: not 23h, nor 24h
		{36*time.Hour - time.Second, "1d"},
		{36 * time.Hour, "2d"},
		{72*time.Hour - 50*time.Millisecond, "3d"},
		{30*day - time.Minute, "30d"},
	}
	for _, tt := range tests {
		if got := humanUntil(tt.in); got != tt.want {
			t.Errorf("humanUntil(%s) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		width int
		want  string
	}{
		{name: "empty", in: "", want: "-"},
		{name: "plain", in: "hello", want: "hello"},
		{name: "newlines and tabs fold", in: " a\n\tb  c\r\n", want: "a b c"},
		{name: "escape sequence defused", in: "x\x1b[2Jy", want: "x [2Jy"},
		{name: "bidi override removed", in: "abc\u202Egnp.exe", want: "abc gnp.exe"},
		{name: "invalid utf-8", in: "a\xffb", want: "a\uFFFDb"},
		{name: "fits exactly", in: "abcde", width: 5, want: "abcde"},
		{name: "cut with ellipsis", in: "abcdef", width: 5, want: "abcd…"},
		{name: "cut counts characters, not bytes", in: "ééééééé", width: 4, want: "ééé…"},
		{name: "no trailing space before ellipsis", in: "abc defgh", width: 5, want: "abc…"},
		{name: "wide characters take two columns", in: "中文中文中文", width: 5, want: "中文…"},
		{name: "combining accents take none", in: "e\u0301e\u0301e\u0301e\u0301", width: 4, want: "e\u0301e\u0301e\u0301e\u0301"},
		{name: "an emoji sequence is not cut apart", in: "ab\U0001F468\u200D\U0001F469\u200D\U0001F467cd", width: 4, want: "ab…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cell(tt.in, tt.width); got != tt.want {
				t.Errorf("cell(%q, %d) = %q; want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}

func TestResourceNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fn   func(string) string
		name string
		in   string
		want string
	}{
		{commentName, "commentName", "abc", "comments/abc"},
		{commentName, "commentName", "comments/abc", "comments/abc"},
		{commentName, "commentName", " abc ", "comments/abc"},
		{threadName, "threadName", "post-1", "threads/post-1"},
		{threadName, "threadName", "threads/post-1", "threads/post-1"},
		{threadID, "threadID", "post-1", "post-1"},
		{threadID, "threadID", " threads/post-1 ", "post-1"},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %q; want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:7070", true},
		{"localhost:7070", true},
		{"[::1]:7070", true},
		{"10.0.0.5:7070", false},
		{"commentd.internal:7070", false},
		{"dns:///commentd:7070", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.addr); got != tt.want {
			t.Errorf("isLoopback(%q) = %v; want %v", tt.addr, got, tt.want)
		}
	}
}

// TestTablesAlignWideText checks that the tables and watch lines keep their columns in line on a
// terminal when reader text holds characters wider or narrower than one column.
func TestTablesAlignWideText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	authors := []string{"Jane Doe", "王小明 🙂", "Zoe\u0301 Fe\u0301licie"}

	var comments []*commentdv1.ModeratedComment
	for i, a := range authors {
		comments = append(comments, moderated(string(rune('a'+i)), "post-1", a, "j•••@example.com", "日本語のコメントです。"+a, now))
	}
	var b strings.Builder
	if err := writeQueue(&b, comments, now); err != nil {
		t.Fatalf("writeQueue: %v", err)
	}
	checkColumn(t, "writeQueue", b.String(), "EMAIL", "j•••@example.com")

	b.Reset()
	for _, mc := range comments {
		b.WriteString(eventLine(&commentdv1.WatchQueueResponse{
			Kind: commentdv1.QueueEventKind_QUEUE_EVENT_KIND_HELD, EventTime: timestamppb.New(now), Comment: mc,
		}, time.UTC))
	}
	// watch prints no header: the first event's line sets the column.
	checkColumn(t, "eventLine", b.String(), "j•••@example.com", "j•••@example.com")
}

// TestFiltersListAlignsWideText: filters list keeps its BY column in line when an entry's value
// is wider on a terminal than its count of characters, as a word in Chinese or a phrase with an
// emoji is.
func TestFiltersListAlignsWideText(t *testing.T) {
	t.Parallel()
	created := timestamppb.New(time.Now().Add(-time.Hour))
	var filters []*commentdv1.Filter
	for i, v := range []string{"cheap watches", "赌场", "🎰 free spins", "Ｃａｓｉｎｏ"} {
		filters = append(filters, &commentdv1.Filter{
			Name: fmt.Sprintf("filters/%024d", i+1), List: commentdv1.FilterList_FILTER_LIST_HOLD,
			Kind: commentdv1.FilterKind_FILTER_KIND_PHRASE, Value: v, Moderator: "mod-a", CreateTime: created,
		})
	}
	args := withServer(serveFiltersDouble(t, &spamState{filters: filters}), "filters", "list")
	got := invocation{args: args}.runOK(t)
	if n := strings.Count(got.stdout, "mod-a"); n != len(filters) {
		t.Fatalf("%s: stdout %q names mod-a %d times; want %d, one per entry", cmdline(args), got.stdout, n, len(filters))
	}
	checkColumn(t, cmdline(args), got.stdout, "BY", "mod-a")
}

// checkColumn fails unless marker starts on every line after the first at the terminal column where
// head starts on the first.
func checkColumn(t *testing.T, what, out, head, marker string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	column := func(line, s string) int {
		i := strings.Index(line, s)
		if i < 0 {
			t.Fatalf("%s: line %q has no %q", what, line, s)
		}
		return ansi.StringWidth(line[:i])
	}
	want := column(lines[0], head)
	for _, l := range lines[1:] {
		if got := column(l, marker); got != want {
			t.Errorf("%s: %q starts at column %d in %q; want %d, as in the line above:\n%s", what, marker, got, l, want, out)
		}
	}
}

// TestWriteThreadClosed checks that thread get and set say what closed a thread and when its
// auto-close period ends or ended.
func TestWriteThreadClosed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		th         *commentdv1.Thread
		wantClosed string
		wantAge    string
	}{
		{"open, no auto-close", &commentdv1.Thread{}, "no", "-"},
		{"open, closes in 3 days",
			&commentdv1.Thread{AutoCloseTime: timestamppb.New(now.Add(72 * time.Hour))},
			"no", "2026-03-13T12:00:00Z (in 3d)"},
		{"closed by age 2 hours ago",
			&commentdv1.Thread{Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE, AutoCloseTime: timestamppb.New(now.Add(-2 * time.Hour))},
			"yes, by age", "2026-03-10T10:00:00Z (2h ago)"},
		{"closed by a moderator",
			&commentdv1.Thread{Closed: true, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR, AutoCloseTime: timestamppb.New(now.Add(time.Hour))},
			"yes, by a moderator", "2026-03-10T13:00:00Z (in 1h)"},
		// A server that does not say why (an earlier version during an upgrade).
		{"closed, no reason", &commentdv1.Thread{Closed: true}, "yes", "-"},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := writeThread(&b, tt.th, now); err != nil {
			t.Fatalf("%s: writeThread = %v", tt.name, err)
		}
		wantClosed := "Closed:         " + tt.wantClosed + "\n"
		wantAge := "Closes by age:  " + tt.wantAge + "\n"
		if got := b.String(); !strings.Contains(got, wantClosed) || !strings.Contains(got, wantAge) {
			t.Errorf("%s: writeThread(%v) printed\n%s\nwant lines %q and %q", tt.name, tt.th, got, wantClosed, wantAge)
		}
	}
}

// TestEmptyLists: every list command says "No entries." as its table when the list is empty, as
// filters list does, so a moderator can tell an empty list from a broken one; -o json stays an
// empty response.
func TestEmptyLists(t *testing.T) {
	t.Parallel()
	queueAddr := serve(t, &fakeModeration{listQueue: func(context.Context, *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
		return &commentdv1.ListQueueResponse{}, nil
	}})
	bansAddr := serveBanFake(t, &banFake{list: func(*commentdv1.ListBansRequest) (*commentdv1.ListBansResponse, error) {
		return &commentdv1.ListBansResponse{}, nil
	}})
	auditAddr := serveDouble(t, &moderationDouble{auditFn: func(context.Context, *commentdv1.ListAuditEventsRequest) (*commentdv1.ListAuditEventsResponse, error) {
		return &commentdv1.ListAuditEventsResponse{}, nil
	}})
	filtersAddr := serveFiltersDouble(t, &spamState{})
	tests := []struct {
		name string
		addr string
		args []string
		resp proto.Message // the -o json output, empty
	}{
		{name: "queue", addr: queueAddr, args: []string{"queue"}, resp: &commentdv1.ListQueueResponse{}},
		{name: "queue spam, all pages", addr: queueAddr, args: []string{"queue", "--state", "spam", "--all"}, resp: &commentdv1.ListQueueResponse{}},
		{name: "bans", addr: bansAddr, args: []string{"bans"}, resp: &commentdv1.ListBansResponse{}},
		{name: "audit", addr: auditAddr, args: []string{"audit", "--since", "24h"}, resp: &commentdv1.ListAuditEventsResponse{}},
		{name: "filters list", addr: filtersAddr, args: []string{"filters", "list"}, resp: &commentdv1.ListFiltersResponse{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(tt.addr, tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK || got.stdout != "No entries.\n" {
				t.Errorf("%s: exit %d, stdout %q (stderr %q); want exit %d, stdout %q", cmdline(args), got.code, got.stdout, got.stderr, exitOK, "No entries.\n")
			}

			args = withServer(tt.addr, append(tt.args, "-o", "json")...)
			got = invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want %d", cmdline(args), got.code, got.stderr, exitOK)
			}
			resp := tt.resp.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal([]byte(got.stdout), resp); err != nil {
				t.Fatalf("%s: stdout %q is not a %s: %v", cmdline(args), got.stdout, proto.MessageName(tt.resp), err)
			}
			if diff := cmp.Diff(tt.resp, resp, protocmp.Transform()); diff != "" {
				t.Errorf("%s: JSON output differs from the empty response (-want +got):\n%s", cmdline(args), diff)
			}
		})
	}
}
