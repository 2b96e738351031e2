package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/apikey"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

const errorDomain = "commentd.example"

// statusErr builds a gRPC error with an ErrorInfo reason and the given extra details.
func statusErr(t *testing.T, c codes.Code, msg, reason string, details ...protoadapt.MessageV1) error {
	t.Helper()
	all := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain}}, details...)
	st, err := status.New(c, msg).WithDetails(all...)
	if err != nil {
		t.Fatalf("status.WithDetails: %v", err)
	}
	return st.Err()
}

func moderated(id, thread, author, email, body string, created time.Time, reasons ...string) *commentdv1.ModeratedComment {
	mc := &commentdv1.ModeratedComment{
		Comment: &commentdv1.Comment{
			Name:       "comments/" + id,
			Id:         id,
			ThreadId:   thread,
			AuthorName: author,
			Body:       body,
			State:      commentdv1.State_STATE_PENDING,
			CreateTime: timestamppb.New(created),
		},
		MaskedEmail: email,
		AuthorKey:   "ak-" + id,
		MaskedIp:    "203.0.113.x",
		UserAgent:   "Mozilla/5.0",
	}
	for _, r := range reasons {
		mc.HoldReasons = append(mc.HoldReasons, &commentdv1.Reason{Code: r, Message: "Held for " + strings.ToLower(r) + "."})
	}
	return mc
}

func TestKeygen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		role string
		want apikey.Role
		json bool
	}{
		{name: "site", role: "site", want: apikey.RoleSite},
		{name: "moderator", role: "moderator", want: apikey.RoleModerator},
		{name: "admin json", role: "admin", want: apikey.RoleAdmin, json: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"keygen", "--name", "alice@example", "--role", tt.role}
			if tt.json {
				args = append(args, "-o", "json")
			}
			// No --server, no token: keygen must not need either.
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want exit 0", cmdline(args), got.code, got.stderr)
			}

			var token, line string
			if tt.json {
				var out struct {
					Name, Role, Token, KeysFileLine string
				}
				if err := json.Unmarshal([]byte(got.stdout), &out); err != nil {
					t.Fatalf("%s: stdout %q is not JSON: %v", cmdline(args), got.stdout, err)
				}
				if out.Name != "alice@example" || out.Role != tt.role {
					t.Errorf("%s: name, role = %q, %q; want %q, %q", cmdline(args), out.Name, out.Role, "alice@example", tt.role)
				}
				token, line = out.Token, out.KeysFileLine
			} else {
				// Comment lines hint where each value goes; the other two lines are the values.
				var values []string
				for l := range strings.Lines(got.stdout) {
					if !strings.HasPrefix(l, "#") {
						values = append(values, strings.TrimSpace(l))
					}
				}
				if len(values) != 2 {
					t.Fatalf("%s: stdout %q: got %d value lines, want 2 (token, keys-file line)", cmdline(args), got.stdout, len(values))
				}
				token, line = values[0], values[1]
			}

			set, err := apikey.Parse(strings.NewReader(line))
			if err != nil {
				t.Fatalf("apikey.Parse(%q) from %s: %v", line, cmdline(args), err)
			}
			key, err := set.Lookup(token)
			if err != nil {
				t.Fatalf("Lookup(printed token) in the printed keys-file line: %v; want the key", err)
			}
			if key.Name != "alice@example" || key.Role != tt.want {
				t.Errorf("Lookup(printed token) = %s/%s; want alice@example/%s", key.Name, key.Role, tt.want)
			}
			if !strings.HasPrefix(token, apikey.TokenPrefix) {
				t.Errorf("%s: token %q lacks the prefix %q", cmdline(args), token, apikey.TokenPrefix)
			}
		})
	}
}

// TestKeygenKeysFile: the whole text output appended to a keys file would put the token there and
// make commentd refuse the file; --keys-file appends the line itself and prints the token alone.
func TestKeygenKeysFile(t *testing.T) {
	t.Parallel()
	const other = "carol site 0f343b0931126a20f133d67c2b018a3b5e6b1b4d6f3d4f3b2a1c9e8d7f6a5b4c"
	tests := []struct {
		name    string
		before  *string // the file's content before, nil: no file
		wantErr bool    // the file would not load: exit 1, nothing written, nothing printed
	}{
		{name: "new file"},
		{name: "empty file", before: ptr("")},
		{name: "another key, last line unended", before: ptr(other)},
		{name: "another key and a comment", before: ptr("# keys\n" + other + "\n")},
		{name: "name already there", before: ptr("bob moderator 1f343b0931126a20f133d67c2b018a3b5e6b1b4d6f3d4f3b2a1c9e8d7f6a5b4c\n"), wantErr: true},
		{name: "file already broken", before: ptr("cmd_a-token-pasted-by-mistake\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys")
			if tt.before != nil {
				if err := os.WriteFile(path, []byte(*tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"keygen", "--name", "bob", "--role", "moderator", "--keys-file", path}
			got := invocation{args: args}.run(t)
			after, _ := os.ReadFile(path)
			if tt.wantErr {
				if got.code != exitError || got.stdout != "" || string(after) != *tt.before {
					t.Errorf("%s on %q: exit %d, stdout %q, file now %q; want exit 1, no token, the file unchanged",
						cmdline(args), *tt.before, got.code, got.stdout, after)
				}
				return
			}
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			token, rest, _ := strings.Cut(got.stdout, "\n")
			if rest != "" || !strings.HasPrefix(token, apikey.TokenPrefix) {
				t.Fatalf("%s: stdout %q; want the token alone on one line", cmdline(args), got.stdout)
			}
			set, err := apikey.Parse(bytes.NewReader(after))
			if err != nil {
				t.Fatalf("%s: the keys file %q does not load: %v", cmdline(args), after, err)
			}
			if key, err := set.Lookup(token); err != nil || key.Name != "bob" || key.Role != apikey.RoleModerator {
				t.Errorf("%s: Lookup(printed token) in the keys file = %v, %v; want bob/moderator", cmdline(args), key, err)
			}
			if tt.before != nil && !strings.HasPrefix(string(after), *tt.before) {
				t.Errorf("%s: keys file %q; want it to start with what it held, %q", cmdline(args), after, *tt.before)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "keys")
		args := []string{"keygen", "--name", "bob", "--role", "moderator", "--keys-file", path, "-o", "json"}
		if got := (invocation{args: args}).run(t); got.code != exitUsage {
			t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitUsage)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the keys file exists (%v); want nothing written", cmdline(args), err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestQueueTable(t *testing.T) {
	t.Parallel()
	now := time.Now()
	resp := &commentdv1.ListQueueResponse{
		Comments: []*commentdv1.ModeratedComment{
			moderated("c1", "post-1", "Jane Doe", "j•••@example.com",
				"Hello\nworld\tthis body is much longer than forty characters, so it is cut",
				now.Add(-3*time.Hour-30*time.Second), "PRE_MODERATION", "TOO_MANY_LINKS"),
			// Reader text must not reach the terminal with its control characters.
			moderated("c2", "post-2", "Eve\x1b[2J", "e•••@example.org", "hi\x1b]0;owned\x07", now.Add(-5*time.Minute-10*time.Second)),
			moderated("c3", "post-1", "Bob", "b•••@example.net", "old one", now.Add(-4*24*time.Hour-time.Hour), "SPAM_SCORE"),
		},
		NextPageToken: "page-2",
	}
	resp.Comments[0].SpamScore = 0.314
	resp.Comments[2].SpamScore = 0.976
	f := &fakeModeration{listQueue: func(context.Context, *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
		return resp, nil
	}}
	addr := serve(t, f)

	args := withServer(addr, "queue", "--state", "spam", "--thread", "post-1", "--limit", "3", "--page-token", "page-1")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	want := "" +
		"ID  THREAD  AGE  AUTHOR    EMAIL             SCORE  WHY                            BODY\n" +
		"c1  post-1  3h   Jane Doe  j•••@example.com  0.31   PRE_MODERATION,TOO_MANY_LINKS  Hello world this body is much longer th…\n" +
		"c2  post-2  5m   Eve [2J   e•••@example.org  0.00   -                              hi ]0;owned\n" +
		"c3  post-1  4d   Bob       b•••@example.net  0.98   SPAM_SCORE                     old one\n"
	if diff := cmp.Diff(want, got.stdout); diff != "" {
		t.Errorf("%s: stdout mismatch (-want +got):\n%s", cmdline(args), diff)
	}
	if !strings.Contains(got.stderr, "--page-token page-2") {
		t.Errorf("%s: stderr %q; want a hint with --page-token page-2", cmdline(args), got.stderr)
	}

	wantReq := []proto.Message{&commentdv1.ListQueueRequest{
		State: commentdv1.State_STATE_SPAM, ThreadId: "post-1", PageSize: 3, PageToken: "page-1",
	}}
	if diff := cmp.Diff(wantReq, f.requests("ListQueue"), protocmp.Transform()); diff != "" {
		t.Errorf("%s: ListQueue requests mismatch (-want +got):\n%s", cmdline(args), diff)
	}
}

func TestQueueJSON(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pages := map[string]*commentdv1.ListQueueResponse{
		"": {
			Comments:      []*commentdv1.ModeratedComment{moderated("c1", "t", "A", "a•••@x.org", "one", created, "PRE_MODERATION")},
			NextPageToken: "p2",
		},
		"p2": {
			Comments: []*commentdv1.ModeratedComment{moderated("c2", "t", "B", "b•••@x.org", "two", created)},
		},
	}
	tests := []struct {
		name        string
		args        []string
		want        *commentdv1.ListQueueResponse
		wantTokens  []string
		wantSize    int32 // the page_size sent
		wantDefault bool
	}{
		{
			name:       "one page",
			args:       []string{"queue", "-o", "json"},
			want:       pages[""],
			wantTokens: []string{""},
		},
		{
			// Every page is read anyway: the largest pages take the fewest calls.
			name: "all pages, largest pages",
			args: []string{"queue", "--all", "-o", "json"},
			want: &commentdv1.ListQueueResponse{
				Comments: []*commentdv1.ModeratedComment{pages[""].Comments[0], pages["p2"].Comments[0]},
			},
			wantTokens: []string{"", "p2"},
			wantSize:   maxPageSize,
		},
		{
			name: "all pages",
			args: []string{"queue", "--all", "--limit", "1", "-o", "json"},
			want: &commentdv1.ListQueueResponse{
				Comments: []*commentdv1.ModeratedComment{pages[""].Comments[0], pages["p2"].Comments[0]},
			},
			wantTokens: []string{"", "p2"},
			wantSize:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeModeration{listQueue: func(_ context.Context, req *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
				return pages[req.GetPageToken()], nil
			}}
			args := withServer(serve(t, f), tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			var resp commentdv1.ListQueueResponse
			if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
				t.Fatalf("%s: stdout %q is not a ListQueueResponse: %v", cmdline(args), got.stdout, err)
			}
			if diff := cmp.Diff(tt.want, &resp, protocmp.Transform()); diff != "" {
				t.Errorf("%s: output mismatch (-want +got):\n%s", cmdline(args), diff)
			}
			var tokens []string
			for _, r := range f.requests("ListQueue") {
				req := r.(*commentdv1.ListQueueRequest)
				tokens = append(tokens, req.GetPageToken())
				if req.GetPageSize() != tt.wantSize {
					t.Errorf("%s: ListQueue page_size = %d; want %d", cmdline(args), req.GetPageSize(), tt.wantSize)
				}
				if req.GetState() != commentdv1.State_STATE_PENDING {
					t.Errorf("%s: ListQueue state = %s; want STATE_PENDING by default", cmdline(args), req.GetState())
				}
			}
			if diff := cmp.Diff(tt.wantTokens, tokens); diff != "" {
				t.Errorf("%s: page tokens sent mismatch (-want +got):\n%s", cmdline(args), diff)
			}
		})
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	now := time.Now()
	created := now.Add(-5*time.Hour - 10*time.Second)
	decided := now.Add(-2*time.Hour - 10*time.Second)
	mc := moderated("c9", "post-7", "Jane", "j•••@example.com", "First line\nsecond \x1b[31mline", created, "PRE_MODERATION", "TOO_MANY_LINKS")
	mc.Comment.ParentId, mc.Comment.Depth = "c8", 2
	mc.Comment.State = commentdv1.State_STATE_REJECTED
	mc.Decision = &commentdv1.Decision{
		Moderator:  "alice",
		DecideTime: timestamppb.New(decided),
		FromState:  commentdv1.State_STATE_PENDING,
		ToState:    commentdv1.State_STATE_REJECTED,
		Reason:     "off topic",
	}
	mc.Etag = `W/"3f2a9c0d41b7e865"`
	f := &fakeModeration{getComment: func(context.Context, *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
		return &commentdv1.ModerationServiceGetCommentResponse{Comment: mc}, nil
	}}
	addr := serve(t, f)

	stamp := func(tm time.Time) string { return tm.UTC().Truncate(time.Second).Format(time.RFC3339) }
	t.Run("table", func(t *testing.T) {
		args := withServer(addr, "show", "c9")
		got := invocation{args: args}.run(t)
		if got.code != exitOK {
			t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
		}
		want := "" +
			"Name:          comments/c9\n" +
			"Thread:        post-7\n" +
			"Reply to:      c8 (depth 2)\n" +
			"State:         rejected\n" +
			"Created:       " + stamp(created) + " (5h ago)\n" +
			"Published:     -\n" +
			"Author:        Jane\n" +
			"Email:         j•••@example.com\n" +
			"Author key:    ak-c9\n" +
			"IP:            203.0.113.x\n" +
			"User agent:    Mozilla/5.0\n" +
			"History:       0 approved, 0 rejected, 0 spam\n" +
			"Spam score:    0.00\n" +
			"Held because:  PRE_MODERATION: Held for pre_moderation.\n" +
			"               TOO_MANY_LINKS: Held for too_many_links.\n" +
			"Decision:      pending → rejected by alice at " + stamp(decided) + " (2h ago), reason: \"off topic\"\n" +
			"Etag:          W/\"3f2a9c0d41b7e865\"\n" +
			"Body:\n" +
			"  First line\n" +
			"  second  [31mline\n"
		if diff := cmp.Diff(want, got.stdout); diff != "" {
			t.Errorf("%s: stdout mismatch (-want +got):\n%s", cmdline(args), diff)
		}
	})
	t.Run("json", func(t *testing.T) {
		args := withServer(addr, "show", "comments/c9", "-o", "json")
		got := invocation{args: args}.run(t)
		if got.code != exitOK {
			t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
		}
		var resp commentdv1.ModerationServiceGetCommentResponse
		if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
			t.Fatalf("%s: stdout %q is not a GetCommentResponse: %v", cmdline(args), got.stdout, err)
		}
		if diff := cmp.Diff(mc, resp.GetComment(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: output mismatch (-want +got):\n%s", cmdline(args), diff)
		}
	})
	// Both spellings of the id reach the server as the resource name.
	for _, r := range f.requests("GetComment") {
		if name := r.(*commentdv1.ModerationServiceGetCommentRequest).GetName(); name != "comments/c9" {
			t.Errorf("GetComment name = %q; want comments/c9", name)
		}
	}
}

// TestShowReports checks that show prints the readers' reports of a reported comment: the count,
// and each report's time and reason, newest first, as the server sends them.
func TestShowReports(t *testing.T) {
	t.Parallel()
	now := time.Now()
	created := now.Add(-5 * time.Hour)
	first, second := now.Add(-2*time.Hour-10*time.Second), now.Add(-time.Hour-10*time.Second)
	mc := moderated("c9", "post-7", "Jane", "j•••@example.com", "Body", created, "REPORTED")
	mc.ReportCount = 3
	mc.Reports = []*commentdv1.Report{
		{Reason: "wrong \x1b[31mnumbers", CreateTime: timestamppb.New(second)},
		{Reason: "", CreateTime: timestamppb.New(first)},
	}
	f := &fakeModeration{getComment: func(context.Context, *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
		return &commentdv1.ModerationServiceGetCommentResponse{Comment: mc}, nil
	}}
	addr := serve(t, f)

	args := withServer(addr, "show", "c9")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	stamp := func(tm time.Time) string { return tm.UTC().Truncate(time.Second).Format(time.RFC3339) }
	want := "" +
		"Held because:  REPORTED: Held for reported.\n" +
		"Reports:       3 (the newest 2 below)\n" +
		"               " + stamp(second) + " (1h ago): \"wrong [31mnumbers\"\n" +
		"               " + stamp(first) + " (2h ago): -\n" +
		"Decision:      -\n"
	if !strings.Contains(got.stdout, want) {
		t.Errorf("%s: stdout lacks the reports; want it to contain\n%s\ngot\n%s", cmdline(args), want, got.stdout)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		stdin      string
		failing    string // the comment name the server refuses
		wantCode   int
		wantMethod string
		wantReqs   []proto.Message // sorted by name
		wantStdout string
		wantStderr string
	}{
		{
			name:       "approve three, one fails",
			args:       []string{"approve", "a", "comments/b", "c"},
			failing:    "comments/b",
			wantCode:   exitError,
			wantMethod: "ApproveComment",
			wantReqs: []proto.Message{
				&commentdv1.ApproveCommentRequest{Name: "comments/a"},
				&commentdv1.ApproveCommentRequest{Name: "comments/b"},
				&commentdv1.ApproveCommentRequest{Name: "comments/c"},
			},
			wantStdout: "comments/a: approved\ncomments/c: approved\n",
			wantStderr: "comments/b: comment not found (NOT_FOUND, COMMENT_NOT_FOUND)\n" +
				"commentctl: approve: 1 of 3 failed\n",
		},
		{
			name:       "reject with reason",
			args:       []string{"reject", "x", "comments/y", "--reason", "spam link"},
			wantCode:   exitOK,
			wantMethod: "RejectComment",
			wantReqs: []proto.Message{
				&commentdv1.RejectCommentRequest{Name: "comments/x", Reason: "spam link"},
				&commentdv1.RejectCommentRequest{Name: "comments/y", Reason: "spam link"},
			},
			wantStdout: "comments/x: rejected\ncomments/y: rejected\n",
		},
		{
			name:       "ids from stdin",
			args:       []string{"reject", "p", "-"},
			stdin:      "q\ncomments/r s\n",
			wantCode:   exitOK,
			wantMethod: "RejectComment",
			wantReqs: []proto.Message{
				&commentdv1.RejectCommentRequest{Name: "comments/p"},
				&commentdv1.RejectCommentRequest{Name: "comments/q"},
				&commentdv1.RejectCommentRequest{Name: "comments/r"},
				&commentdv1.RejectCommentRequest{Name: "comments/s"},
			},
			wantStdout: "comments/p: rejected\ncomments/q: rejected\ncomments/r: rejected\ncomments/s: rejected\n",
		},
		{
			name:       "an id given twice is sent once",
			args:       []string{"approve", "a", "comments/a", "-", "b"},
			stdin:      "b a\n",
			wantCode:   exitOK,
			wantMethod: "ApproveComment",
			wantReqs: []proto.Message{
				&commentdv1.ApproveCommentRequest{Name: "comments/a"},
				&commentdv1.ApproveCommentRequest{Name: "comments/b"},
			},
			wantStdout: "comments/a: approved\ncomments/b: approved\n",
		},
		// An empty list piped in (queue ... | jq ... | approve - on an empty queue) is nothing to
		// do, as bulk says when no comment matches, not a mistake on the command line.
		{
			name:       "nothing on stdin",
			args:       []string{"reject", "-"},
			stdin:      "\n",
			wantCode:   exitOK,
			wantMethod: "RejectComment",
			wantStderr: "commentctl: no comment ids on stdin; nothing to do\n",
		},
		{
			name:       "nothing on stdin, json",
			args:       []string{"approve", "-", "-o", "json"},
			wantCode:   exitOK,
			wantMethod: "ApproveComment",
			wantStdout: "[]\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			refuse := func(name string) error {
				if name == tt.failing {
					return statusErr(t, codes.NotFound, "comment not found", "COMMENT_NOT_FOUND")
				}
				return nil
			}
			f := &fakeModeration{
				approve: func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
					if err := refuse(req.GetName()); err != nil {
						return nil, err
					}
					return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
				},
				reject: func(_ context.Context, req *commentdv1.RejectCommentRequest) (*commentdv1.RejectCommentResponse, error) {
					if err := refuse(req.GetName()); err != nil {
						return nil, err
					}
					return &commentdv1.RejectCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
				},
			}
			args := withServer(serve(t, f), tt.args...)
			got := invocation{args: args, stdin: tt.stdin}.run(t)
			if got.code != tt.wantCode {
				t.Errorf("%s: exit %d; want %d (stderr %q)", cmdline(args), got.code, tt.wantCode, got.stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, got.stdout); diff != "" {
				t.Errorf("%s: stdout mismatch (-want +got):\n%s", cmdline(args), diff)
			}
			if diff := cmp.Diff(tt.wantStderr, got.stderr); diff != "" {
				t.Errorf("%s: stderr mismatch (-want +got):\n%s", cmdline(args), diff)
			}
			// The calls run concurrently, so they arrive in any order.
			reqs := f.requests(tt.wantMethod)
			slices.SortFunc(reqs, func(a, b proto.Message) int { return strings.Compare(nameOf(a), nameOf(b)) })
			if diff := cmp.Diff(tt.wantReqs, reqs, protocmp.Transform()); diff != "" {
				t.Errorf("%s: %s requests mismatch (-want +got):\n%s", cmdline(args), tt.wantMethod, diff)
			}
			if n := len(f.recorded()); n != len(tt.wantReqs) {
				t.Errorf("%s: server got %d calls; want %d", cmdline(args), n, len(tt.wantReqs))
			}
		})
	}
}

// TestDecideCtrlC: Ctrl-C while decisions are in flight lets the calls already sent finish, so each
// line says what the server did, and sends no more. A call cut short was reported as cancelled,
// though the server had made the decision.
func TestDecideCtrlC(t *testing.T) {
	t.Parallel()
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	f := &fakeModeration{approve: func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		// The moderator presses Ctrl-C while the server decides; the decision is made.
		interrupt()
		time.Sleep(50 * time.Millisecond)
		return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: req.GetName()}}}, nil
	}}
	const ids = 3 * decideConcurrency
	args := []string{"approve"}
	for i := range ids {
		args = append(args, fmt.Sprintf("id%02d", i))
	}
	args = withServer(serve(t, f), args...)
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	if code != exitError {
		t.Errorf("%s, interrupted: exit %d; want %d", cmdline(args), code, exitError)
	}
	var reported []string
	for _, line := range lines(stdout.String()) {
		name, ok := strings.CutSuffix(line, ": approved")
		if !ok {
			t.Errorf("%s, interrupted: stdout line %q; want \"<name>: approved\"", cmdline(args), line)
		}
		reported = append(reported, name)
	}
	slices.Sort(reported)
	var decided []string
	for _, r := range f.requests("ApproveComment") {
		decided = append(decided, nameOf(r))
	}
	slices.Sort(decided)
	if diff := cmp.Diff(decided, reported); diff != "" || len(decided) == 0 || len(decided) > decideConcurrency {
		t.Errorf("%s, interrupted: reported approved (+) vs approved by the server (-), %d calls; want the same, 1 to %d:\n%s", cmdline(args), len(decided), decideConcurrency, diff)
	}
	if n := strings.Count(stderr.String(), ": not sent: context canceled"); n != ids-len(decided) {
		t.Errorf("%s, interrupted: %d ids reported not sent; want the other %d\nstderr:\n%s", cmdline(args), n, ids-len(decided), stderr.String())
	}
}

func nameOf(m proto.Message) string {
	switch r := m.(type) {
	case *commentdv1.ApproveCommentRequest:
		return r.GetName()
	case *commentdv1.RejectCommentRequest:
		return r.GetName()
	}
	return ""
}

func TestDecideJSON(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{approve: func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		if req.GetName() == "comments/bad" {
			return nil, statusErr(t, codes.FailedPrecondition, "comment cannot be approved", "INVALID_TRANSITION")
		}
		return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{
			Comment: &commentdv1.Comment{Name: req.GetName(), State: commentdv1.State_STATE_PUBLISHED},
		}}, nil
	}}
	args := withServer(serve(t, f), "approve", "good", "bad", "-o", "json")
	got := invocation{args: args}.run(t)
	if got.code != exitError {
		t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitError)
	}
	var out []struct {
		Name    string
		OK      bool
		Comment json.RawMessage
		Error   *struct{ Code, Message, Reason string }
	}
	if err := json.Unmarshal([]byte(got.stdout), &out); err != nil {
		t.Fatalf("%s: stdout %q is not a JSON array: %v", cmdline(args), got.stdout, err)
	}
	if len(out) != 2 {
		t.Fatalf("%s: got %d results; want 2: %s", cmdline(args), len(out), got.stdout)
	}
	if out[0].Name != "comments/good" || !out[0].OK || out[0].Error != nil {
		t.Errorf("%s: result[0] = %+v; want comments/good ok", cmdline(args), out[0])
	}
	var mc commentdv1.ModeratedComment
	if err := protojson.Unmarshal(out[0].Comment, &mc); err != nil || mc.GetComment().GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Errorf("%s: result[0].comment = %s (err %v); want the published comment", cmdline(args), out[0].Comment, err)
	}
	wantErr := &struct{ Code, Message, Reason string }{"FAILED_PRECONDITION", "comment cannot be approved", "INVALID_TRANSITION"}
	if out[1].Name != "comments/bad" || out[1].OK || !cmp.Equal(out[1].Error, wantErr) {
		t.Errorf("%s: result[1] = {%s %v %+v}; want {comments/bad false %+v}", cmdline(args), out[1].Name, out[1].OK, out[1].Error, wantErr)
	}
}

func TestDecideConcurrencyBound(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	inFlight, most := 0, 0
	f := &fakeModeration{approve: func(_ context.Context, req *commentdv1.ApproveCommentRequest) (*commentdv1.ApproveCommentResponse, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return &commentdv1.ApproveCommentResponse{Comment: &commentdv1.ModeratedComment{}}, nil
	}}
	args := withServer(serve(t, f), "approve")
	for i := range 30 {
		args = append(args, fmt.Sprintf("id%02d", i))
	}
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("approve of 30 ids: exit %d, stderr %q; want 0", got.code, got.stderr)
	}
	if n := strings.Count(got.stdout, ": approved\n"); n != 30 {
		t.Errorf("approve of 30 ids: %d result lines; want 30", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if most > decideConcurrency || most < 2 {
		t.Errorf("approve of 30 ids: at most %d calls in flight; want 2 to %d", most, decideConcurrency)
	}
}

func TestErrorPrinting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want string
	}{
		{
			name: "bad request",
			err: func(t *testing.T) error {
				return statusErr(t, codes.InvalidArgument, "invalid request", "INVALID_ARGUMENT", &errdetails.BadRequest{
					FieldViolations: []*errdetails.BadRequest_FieldViolation{
						{Field: "name", Description: "not a comment name"},
						{Field: "reason", Description: "at most 500 characters"},
					},
				})
			},
			want: "commentctl: get comments/x: invalid request (INVALID_ARGUMENT); " +
				"field name: not a comment name; field reason: at most 500 characters\n",
		},
		{
			name: "bad request whose message lists the violations",
			err: func(t *testing.T) error {
				return statusErr(t, codes.InvalidArgument, "invalid request: name: not a comment name", "INVALID_ARGUMENT", &errdetails.BadRequest{
					FieldViolations: []*errdetails.BadRequest_FieldViolation{
						{Field: "name", Description: "not a comment name"},
						{Field: "reason", Description: "at most 500 characters"},
					},
				})
			},
			want: "commentctl: get comments/x: invalid request: name: not a comment name (INVALID_ARGUMENT); " +
				"field reason: at most 500 characters\n",
		},
		{
			name: "retry info",
			err: func(t *testing.T) error {
				return statusErr(t, codes.ResourceExhausted, "too many requests", "RATE_LIMITED",
					&errdetails.RetryInfo{RetryDelay: durationpb.New(2400 * time.Millisecond)})
			},
			want: "commentctl: get comments/x: too many requests (RESOURCE_EXHAUSTED, RATE_LIMITED); retry in 2s\n",
		},
		{
			name: "precondition failure",
			err: func(t *testing.T) error {
				return statusErr(t, codes.FailedPrecondition, "invalid state transition", "INVALID_TRANSITION",
					&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
						{Type: "STATE", Subject: "comments/x", Description: "comment is rejected and cannot become rejected"},
					}})
			},
			want: "commentctl: get comments/x: invalid state transition (FAILED_PRECONDITION, INVALID_TRANSITION); " +
				"precondition STATE comments/x: comment is rejected and cannot become rejected\n",
		},
		{
			name: "no details",
			err:  func(*testing.T) error { return status.Error(codes.Internal, "internal error") },
			want: "commentctl: get comments/x: internal error (INTERNAL)\n",
		},
		{
			name: "unauthenticated hints at the token",
			err: func(t *testing.T) error {
				return statusErr(t, codes.Unauthenticated, "unknown API key", "UNAUTHENTICATED")
			},
			want: "commentctl: get comments/x: unknown API key (UNAUTHENTICATED); check the token from --token\n",
		},
		{
			name: "plaintext call to a TLS server hints at --tls",
			err: func(*testing.T) error {
				return status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: EOF"`)
			},
			want: `commentctl: get comments/x: connection error: desc = "error reading server preface: EOF" (UNAVAILABLE); ` +
				"is the server using TLS? try --tls (or --tls-ca FILE)\n",
		},
		{
			name: "host name that does not resolve",
			err: func(*testing.T) error {
				return status.Error(codes.Unavailable, "name resolver error: produced zero addresses")
			},
			want: "commentctl: get comments/x: name resolver error: produced zero addresses (UNAVAILABLE); " +
				"the host name in --server did not resolve: check its spelling (and the DNS)\n",
		},
		{
			name: "server down: no TLS hint, but where to look",
			err: func(*testing.T) error {
				return status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`)
			},
			want: `commentctl: get comments/x: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused" (UNAVAILABLE); ` +
				"nothing listens at that address: is commentd running, and is --server its gRPC address?\n",
		},
		{
			name: "HTTP/1.1 port: the gRPC port hint, no TLS hint",
			err: func(*testing.T) error {
				return status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: http2: frame too large, note that the frame header looked like an HTTP/1.1 header"`)
			},
			want: `commentctl: get comments/x: connection error: desc = "error reading server preface: http2: frame too large, ` +
				`note that the frame header looked like an HTTP/1.1 header" (UNAVAILABLE); ` +
				`is that commentd's HTTP port? --server wants its gRPC address (port 7070 unless set otherwise)` + "\n",
		},
		{
			name: "message on one line",
			err:  func(*testing.T) error { return status.Error(codes.NotFound, "not\nfound") },
			want: "commentctl: get comments/x: not found (NOT_FOUND)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeModeration{getComment: func(context.Context, *commentdv1.ModerationServiceGetCommentRequest) (*commentdv1.ModerationServiceGetCommentResponse, error) {
				return nil, tt.err(t)
			}}
			args := withServer(serve(t, f), "show", "x")
			got := invocation{args: args}.run(t)
			if got.code != exitError {
				t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitError)
			}
			if diff := cmp.Diff(tt.want, got.stderr); diff != "" {
				t.Errorf("%s: stderr mismatch (-want +got):\n%s", cmdline(args), diff)
			}
			if got.stdout != "" {
				t.Errorf("%s: stdout %q; want nothing", cmdline(args), got.stdout)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{getThread: func(ctx context.Context, _ *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
		// Never answers in time; should commentctl send no deadline, answer after 10s so the
		// test fails instead of hanging.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return &commentdv1.GetThreadResponse{}, nil
		}
	}}
	args := withServer(serve(t, f), "--timeout", "100ms", "thread", "get", "t1")
	start := time.Now()
	got := invocation{args: args}.run(t)
	if got.code != exitError {
		t.Errorf("%s: exit %d; want %d", cmdline(args), got.code, exitError)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("%s: took %s; want about 100ms", cmdline(args), elapsed)
	}
	if !strings.Contains(got.stderr, "(DEADLINE_EXCEEDED)") || !strings.Contains(got.stderr, "--timeout 100ms") {
		t.Errorf("%s: stderr %q; want DEADLINE_EXCEEDED and a hint about --timeout 100ms", cmdline(args), got.stderr)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		flags    []string
		env      map[string]string
		wantAuth string
	}{
		{name: "flag", flags: []string{"--token", "flag-token"}, wantAuth: "Bearer flag-token"},
		{name: "environment", env: map[string]string{envToken: "env-token"}, wantAuth: "Bearer env-token"},
		{name: "flag beats environment", flags: []string{"--token", "flag-token"}, env: map[string]string{envToken: "env-token"}, wantAuth: "Bearer flag-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeModeration{getThread: func(_ context.Context, req *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
				return &commentdv1.GetThreadResponse{Thread: &commentdv1.Thread{Name: req.GetName()}}, nil
			}}
			env := map[string]string{envServer: serve(t, f)} // the server address from the environment too
			for k, v := range tt.env {
				env[k] = v
			}
			args := append(slices.Clone(tt.flags), "thread", "get", "t1")
			got := invocation{args: args, env: env}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			calls := f.recorded()
			if len(calls) != 1 {
				t.Fatalf("%s: server got %d calls; want 1", cmdline(args), len(calls))
			}
			if diff := cmp.Diff([]string{tt.wantAuth}, calls[0].auth); diff != "" {
				t.Errorf("%s: authorization metadata mismatch (-want +got):\n%s", cmdline(args), diff)
			}
		})
	}
}

func TestMissingToken(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{}
	addr := serve(t, f)
	for _, args := range [][]string{
		{"queue"},
		{"show", "c1"},
		{"approve", "c1", "c2"},
		{"reject", "c1"},
		{"thread", "get", "t1"},
		{"thread", "set", "t1", "--closed"},
	} {
		args := append([]string{"--server", addr}, args...)
		got := invocation{args: args}.run(t)
		if got.code != exitUsage {
			t.Errorf("%s without a token: exit %d; want %d", cmdline(args), got.code, exitUsage)
		}
		if !strings.Contains(got.stderr, "--token") || !strings.Contains(got.stderr, envToken) {
			t.Errorf("%s without a token: stderr %q; want it to name --token and %s", cmdline(args), got.stderr, envToken)
		}
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Errorf("commands without a token made %d calls; want none", len(calls))
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	f := &fakeModeration{}
	addr := serve(t, f)
	tests := []struct {
		name string
		args []string
	}{
		{name: "no command", args: []string{}},
		{name: "unknown command", args: []string{"aprove", "c1"}},
		{name: "unknown flag", args: []string{"queue", "--bogus"}},
		{name: "unknown global flag", args: []string{"--bogus", "queue"}},
		{name: "bad flag value", args: []string{"queue", "--limit", "many"}},
		{name: "show without id", args: []string{"show"}},
		{name: "show with two ids", args: []string{"show", "a", "b"}},
		{name: "approve without ids", args: []string{"approve"}},
		{name: "bad output", args: []string{"queue", "-o", "yaml"}},
		{name: "bad state", args: []string{"queue", "--state", "published"}},
		{name: "negative limit", args: []string{"queue", "--limit", "-1"}},
		{name: "limit too big", args: []string{"queue", "--limit", "501"}},
		{name: "all with page token", args: []string{"queue", "--all", "--page-token", "x"}},
		{name: "queue older than nonsense", args: []string{"queue", "--older-than", "soon"}},
		{name: "queue author as an email address", args: []string{"queue", "--author", "jane@example.com"}},
		{name: "bulk author as an email address", args: []string{"bulk", "reject", "--author", "jane@example.com", "--dry-run"}},
		{name: "queue score above one", args: []string{"queue", "--score-above", "1.5"}},
		{name: "queue score bounds crossed", args: []string{"queue", "--score-above", "0.8", "--score-below", "0.2"}},
		// NaN parses as a float and is neither below 0 nor above 1.
		{name: "queue score above NaN", args: []string{"queue", "--score-above", "NaN"}},
		{name: "bulk score below NaN", args: []string{"bulk", "reject", "--score-below", "nan", "--dry-run"}},
		{name: "zero timeout", args: []string{"--timeout", "0s", "queue"}},
		{name: "server without a port", args: []string{"--server", "127.0.0.1", "queue"}},
		{name: "server as a URL", args: []string{"--server", "http://127.0.0.1:7070", "queue"}},
		{name: "server as http URL", args: []string{"--server", "http://" + addr, "queue"}},
		{name: "server as https URL", args: []string{"--server", "HTTPS://" + addr + "/", "queue"}},
		{name: "server as grpc URL", args: []string{"--server", "grpc://" + addr, "queue"}},
		{name: "thread without subcommand", args: []string{"thread"}},
		{name: "thread unknown subcommand", args: []string{"thread", "delete", "t1"}},
		{name: "thread set without changes", args: []string{"thread", "set", "t1"}},
		{name: "thread set bad mode", args: []string{"thread", "set", "t1", "--mode", "never"}},
		// --etag "$ETAG" with ETAG unset: sent as no etag, the change would overwrite whatever
		// the thread became, the very thing --etag is given to prevent.
		{name: "thread set empty etag", args: []string{"thread", "set", "t1", "--closed=false", "--etag", ""}},
		{name: "thread set blank etag", args: []string{"thread", "set", "t1", "--mode", "pre", "--etag", " "}},
		{name: "thread get without id", args: []string{"thread", "get"}},
		{name: "show empty id", args: []string{"show", ""}},
		{name: "show blank id", args: []string{"show", " \t"}},
		{name: "show prefix only", args: []string{"show", "comments/"}},
		{name: "approve with an empty etag", args: []string{"approve", "c1", "--etag", ""}},
		{name: "bulk with an empty author", args: []string{"bulk", "reject", "--author", "", "--yes"}},
		{name: "bulk with a blank reason code", args: []string{"bulk", "reject", "--reason-code", " ", "--yes"}},
		{name: "bulk with an empty older-than", args: []string{"bulk", "reject", "--older-than", "", "--yes"}},
		{name: "queue with an empty author", args: []string{"queue", "--author", ""}},
		// Filters given empty ("--moderator $M" with M unset): read as not given, they would list
		// every event, every entry of both lists, or the server's choice of kinds.
		{name: "audit with an empty moderator", args: []string{"audit", "--moderator", ""}},
		{name: "audit with a blank target", args: []string{"audit", "--target", " "}},
		{name: "audit with an empty since", args: []string{"audit", "--since", ""}},
		{name: "audit with an empty until", args: []string{"audit", "--since", "24h", "--until", ""}},
		{name: "export with an empty since", args: []string{"export", "--email", "jane@example.com", "--since", ""}},
		{name: "filters list with an empty list", args: []string{"filters", "list", "--list", ""}},
		{name: "watch with empty kinds", args: []string{"watch", "--kinds", ""}},
		{name: "watch with only commas as kinds", args: []string{"watch", "--kinds", ", ,"}},
		{name: "reject with a blank etag", args: []string{"reject", "c1", "--etag", " "}},
		{name: "spam with an empty if-state", args: []string{"spam", "c1", "c2", "--if-state", ""}},
		{name: "approve prefix only among others", args: []string{"approve", "c1", " comments/ "}},
		{name: "thread get prefix only", args: []string{"thread", "get", "threads/"}},
		{name: "unban prefix only", args: []string{"unban", "bans/"}},
		{name: "filters rm prefix only", args: []string{"filters", "rm", "filters/"}},
		// "--thread threads/$T" with T unset: read as no --thread, it would list, watch or decide
		// every thread's comments.
		{name: "queue --thread prefix only", args: []string{"queue", "--thread", "threads/"}},
		{name: "queue --thread empty", args: []string{"queue", "--thread", " "}},
		{name: "bulk --thread prefix only", args: []string{"bulk", "reject", "--thread", "threads/", "--dry-run"}},
		{name: "watch --thread prefix only", args: []string{"watch", "--thread", "threads/"}},
		{name: "approve empty id", args: []string{"approve", ""}},
		{name: "reject an empty id among others", args: []string{"reject", "c1", "", "c2"}},
		{name: "spam empty id", args: []string{"spam", ""}},
		{name: "not-spam blank id", args: []string{"not-spam", " "}},
		{name: "thread get empty id", args: []string{"thread", "get", ""}},
		{name: "thread set blank id", args: []string{"thread", "set", " ", "--mode", "pre"}},
		{name: "unban empty name", args: []string{"unban", ""}},
		{name: "filters rm empty name", args: []string{"filters", "rm", ""}},
		{name: "filters add empty value", args: []string{"filters", "add", "--list", "spam", "--kind", "word", ""}},
		{name: "keygen without name", args: []string{"keygen", "--role", "site"}},
		{name: "keygen without role", args: []string{"keygen", "--name", "alice"}},
		{name: "keygen bad role", args: []string{"keygen", "--name", "alice", "--role", "root"}},
		{name: "keygen bad name", args: []string{"keygen", "--name", "al ice", "--role", "site"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(addr, tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitUsage {
				t.Errorf("%s: exit %d; want %d (stderr %q)", cmdline(args), got.code, exitUsage, got.stderr)
			}
			if !strings.Contains(got.stderr, "--help") {
				t.Errorf("%s: stderr %q; want a pointer to --help", cmdline(args), got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("%s: stdout %q; want nothing", cmdline(args), got.stdout)
			}
		})
	}
	t.Cleanup(func() {
		if calls := f.recorded(); len(calls) != 0 {
			t.Errorf("usage errors made %d calls to the server; want none", len(calls))
		}
	})
}

func TestThreadSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want *commentdv1.UpdateThreadRequest
	}{
		{
			name: "mode only",
			args: []string{"thread", "set", "post-1", "--mode", "pre"},
			want: &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/post-1", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode"}},
			},
		},
		{
			name: "reopen only",
			args: []string{"thread", "set", "threads/post-1", "--closed=false"},
			want: &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/post-1"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
			},
		},
		{
			name: "close",
			args: []string{"thread", "set", "post-1", "--closed"},
			want: &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/post-1", Closed: true},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
			},
		},
		{
			name: "back to default and closed",
			args: []string{"thread", "set", "post-1", "--mode", "default", "--closed=true"},
			want: &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/post-1", Closed: true},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode", "closed"}},
			},
		},
		{
			// The etag goes in the thread, not in the mask.
			name: "close with an etag",
			args: []string{"thread", "set", "post-1", "--closed", "--etag", `W/"3f2a9c0d41b7e865"`},
			want: &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/post-1", Closed: true, Etag: `W/"3f2a9c0d41b7e865"`},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
			},
		},
		{
			// As a shell passes W/"..." typed without single quotes.
			name: "mode with an etag whose quotes the shell took",
			args: []string{"thread", "set", "post-1", "--mode", "pre", "--etag", "W/3f2a9c0d41b7e865"},
			want: &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/post-1", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE, Etag: `W/"3f2a9c0d41b7e865"`},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeModeration{updateThread: func(_ context.Context, req *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error) {
				th := proto.Clone(req.GetThread()).(*commentdv1.Thread)
				th.ThreadId = strings.TrimPrefix(th.GetName(), "threads/")
				th.EffectiveModerationMode = commentdv1.ModerationMode_MODERATION_MODE_POST
				return &commentdv1.UpdateThreadResponse{Thread: th}, nil
			}}
			args := withServer(serve(t, f), tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			reqs := f.requests("UpdateThread")
			if diff := cmp.Diff([]proto.Message{tt.want}, reqs, protocmp.Transform()); diff != "" {
				t.Errorf("%s: UpdateThread requests mismatch (-want +got):\n%s", cmdline(args), diff)
			}
		})
	}
}

func TestThreadGet(t *testing.T) {
	t.Parallel()
	th := &commentdv1.Thread{
		Name:                    "threads/post-1",
		ThreadId:                "post-1",
		EffectiveModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE,
		Closed:                  true,
		Etag:                    `W/"3f2a9c0d41b7e865"`,
	}
	f := &fakeModeration{getThread: func(context.Context, *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
		return &commentdv1.GetThreadResponse{Thread: th}, nil
	}}
	addr := serve(t, f)

	args := withServer(addr, "thread", "get", "post-1")
	got := invocation{args: args}.run(t)
	want := "" +
		"Name:           threads/post-1\n" +
		"Thread:         post-1\n" +
		"Mode:           default\n" +
		"Mode in force:  pre\n" +
		"Closed:         yes\n" +
		"Closes by age:  -\n" +
		"Etag:           W/\"3f2a9c0d41b7e865\"\n"
	if got.code != exitOK || got.stdout != want {
		t.Errorf("%s: exit %d, stdout %q; want exit 0, stdout %q", cmdline(args), got.code, got.stdout, want)
	}

	args = withServer(addr, "thread", "get", "threads/post-1", "-o", "json")
	got = invocation{args: args}.run(t)
	var resp commentdv1.GetThreadResponse
	if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
		t.Fatalf("%s: stdout %q is not a GetThreadResponse: %v", cmdline(args), got.stdout, err)
	}
	if diff := cmp.Diff(th, resp.GetThread(), protocmp.Transform()); diff != "" {
		t.Errorf("%s: output mismatch (-want +got):\n%s", cmdline(args), diff)
	}

	wantReqs := []proto.Message{&commentdv1.GetThreadRequest{Name: "threads/post-1"}, &commentdv1.GetThreadRequest{Name: "threads/post-1"}}
	if diff := cmp.Diff(wantReqs, f.requests("GetThread"), protocmp.Transform()); diff != "" {
		t.Errorf("thread get: requests mismatch (-want +got):\n%s", diff)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	// Walk the real command tree so a command added later is checked too.
	var paths [][]string
	root := (&cli{env: func(string) string { return "" }}).rootCmd()
	var visit func(path []string, children []*cobra.Command)
	visit = func(path []string, children []*cobra.Command) {
		for _, c := range children {
			if c.Hidden || c.Name() == "help" {
				continue
			}
			p := append(slices.Clone(path), c.Name())
			paths = append(paths, p)
			visit(p, c.Commands())
		}
	}
	paths = append(paths, nil)
	visit(nil, root.Commands())

	for _, p := range paths {
		args := append(slices.Clone(p), "--help")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Errorf("%s: exit %d; want 0", cmdline(args), got.code)
			}
			_, examples, ok := strings.Cut(got.stdout, "Examples:\n")
			if !strings.Contains(got.stdout, "Usage:") || !ok || !strings.Contains(examples, "  commentctl ") {
				t.Errorf("%s: stdout lacks a usage line or an example command line:\n%s", cmdline(args), got.stdout)
			}
			examples, _, _ = strings.Cut(examples, "\n\n")
			for _, ex := range exampleCommands(examples) {
				// A fresh tree each time: parsing sets the flags' values.
				root := (&cli{env: func(string) string { return "" }}).rootCmd()
				cmd, rest, err := root.Find(ex)
				if err == nil {
					err = cmd.ParseFlags(rest)
				}
				if err == nil && cmd.Runnable() {
					err = cmd.ValidateArgs(cmd.Flags().Args())
				}
				if err == nil && !cmd.Runnable() {
					err = fmt.Errorf("%q only groups commands", cmd.CommandPath())
				}
				if err != nil {
					t.Errorf("%s: example %s does not parse: %v", cmdline(args), cmdline(ex), err)
				}
			}
		})
	}
}

// exampleCommands returns the arguments of every commentctl command in a help's examples: each
// "commentctl ..." up to the end of the line or a shell operator, split as a shell would split
// simple quoted words. A command run by xargs (with options or without) gets one more argument,
// ARG, as xargs adds them.
func exampleCommands(examples string) [][]string {
	var out [][]string
	for line := range strings.Lines(examples) {
		for {
			i := strings.Index(line, "commentctl ")
			if i < 0 {
				break
			}
			// The shell command the commentctl starts, as in "| xargs -r commentctl unban".
			before := line[:i]
			if k := strings.LastIndexAny(before, "|;&"); k >= 0 {
				before = before[k+1:]
			}
			byXargs := strings.HasPrefix(strings.TrimSpace(before), "xargs ")
			line = line[i+len("commentctl "):]
			var args []string
			var word strings.Builder
			inWord, quote := false, rune(0)
			end := len(line)
		scan:
			for j, r := range line {
				switch {
				case quote != 0 && r == quote:
					quote = 0
				case quote != 0:
					word.WriteRune(r)
				case r == '\'' || r == '"':
					quote, inWord = r, true
				case r == ' ' || r == '\n':
					if inWord {
						args = append(args, word.String())
						word.Reset()
						inWord = false
					}
				case strings.ContainsRune("|;)>#&", r):
					end = j
					break scan
				default:
					word.WriteRune(r)
					inWord = true
				}
			}
			if inWord {
				args = append(args, word.String())
			}
			if byXargs {
				args = append(args, "ARG")
			}
			out = append(out, args)
			line = line[end:]
		}
	}
	return out
}

// TestQueueFilters checks that queue takes the filters bulk takes, so that a moderator can see
// every comment a bulk command would act on, and that its next-page hint is a valid next call.
func TestQueueFilters(t *testing.T) {
	t.Parallel()
	score := func(v float64) *float64 { return &v }
	tests := []struct {
		name      string
		args      []string
		want      *commentdv1.ListQueueRequest
		olderThan time.Duration // expected max_create_time distance before now; 0: as in want
	}{
		{
			name: "every filter",
			args: []string{"queue", "--state", "spam", "--thread", "post-1", "--author", "ak-1", "--reason-code", "TOO_MANY_LINKS",
				"--score-above", "0.5", "--score-below", "0.9", "--older-than", "2026-03-01"},
			want: &commentdv1.ListQueueRequest{
				State: commentdv1.State_STATE_SPAM, ThreadId: "post-1", AuthorKey: "ak-1", ReasonCode: "TOO_MANY_LINKS",
				MinSpamScore: score(0.5), MaxSpamScore: score(0.9),
				MaxCreateTime: timestamppb.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)),
			},
		},
		{
			// As thread get takes and prints it.
			name: "thread as a resource name",
			args: []string{"queue", "--thread", " threads/post-1"},
			want: &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, ThreadId: "post-1"},
		},
		{
			name: "score bounds of zero are sent",
			args: []string{"queue", "--score-above", "0", "--score-below", "0"},
			want: &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, MinSpamScore: score(0), MaxSpamScore: score(0)},
		},
		{
			name:      "older than a span",
			args:      []string{"queue", "--older-than", "48h"},
			want:      &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING},
			olderThan: 48 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeModeration{listQueue: func(context.Context, *commentdv1.ListQueueRequest) (*commentdv1.ListQueueResponse, error) {
				return &commentdv1.ListQueueResponse{NextPageToken: "p2"}, nil
			}}
			args := withServer(serve(t, f), tt.args...)
			got, first := f.checkOneRequest(t, args, "ListQueue", tt.want, "max_create_time", tt.olderThan)

			// The server takes the token only with the same filters.
			hint := nextPageHint(t, args, got.stderr)
			next := append(args, strings.Fields(hint)...)
			if got := (invocation{args: next}).run(t); got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(next), got.code, got.stderr)
			}
			reqs := f.requests("ListQueue")
			want := proto.Clone(first).(*commentdv1.ListQueueRequest)
			want.PageToken = "p2"
			if diff := cmp.Diff(want, reqs[len(reqs)-1], protocmp.Transform()); diff != "" {
				t.Errorf("%s after %s: request mismatch with the first page's (-want +got):\n%s", cmdline(next), cmdline(args), diff)
			}
		})
	}
}

// nextPageHint returns the flags of the next-page hint a paged command printed on stderr ("add
// ... (or use --all)").
func nextPageHint(t *testing.T, args []string, stderr string) string {
	t.Helper()
	_, hint, ok := strings.Cut(strings.TrimSpace(stderr), "add ")
	hint, _, ok2 := strings.Cut(hint, " (or use --all)")
	if !ok || !ok2 {
		t.Fatalf("%s: stderr %q; want a hint \"add ... (or use --all)\"", cmdline(args), stderr)
	}
	return hint
}

// TestThreadSetClosedByAge: thread set --closed on a thread the server reports closed by age
// (which the server leaves so) says on stderr that the thread is not closed for good; a close
// the server made a moderator's says nothing more.
func TestThreadSetClosedByAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		reason   commentdv1.ThreadCloseReason
		wantNote bool
	}{
		{"close a thread closed by age", []string{"thread", "set", "post-1", "--closed"}, commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE, true},
		{"close an open thread", []string{"thread", "set", "post-1", "--closed"}, commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_MODERATOR, false},
		{"set the mode of a thread closed by age", []string{"thread", "set", "post-1", "--mode", "pre"}, commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeModeration{updateThread: func(_ context.Context, req *commentdv1.UpdateThreadRequest) (*commentdv1.UpdateThreadResponse, error) {
				th := proto.Clone(req.GetThread()).(*commentdv1.Thread)
				th.Closed, th.CloseReason = true, tt.reason
				return &commentdv1.UpdateThreadResponse{Thread: th}, nil
			}}
			args := withServer(serve(t, f), tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			if note := strings.Contains(got.stderr, "closed by age"); note != tt.wantNote {
				t.Errorf("%s on a thread the server reports closed (%v): stderr %q; want a note saying it stays closed by age: %v", cmdline(args), tt.reason, got.stderr, tt.wantNote)
			}
		})
	}
}
