package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

const eraseTestEmail = "Erin.Erasable@example.net"

// jsonOutput stands for -o json output: an EraseAuthorDataResponse of 3 comments (protojson varies
// its spacing, so the text is not compared).
const jsonOutput = "(json)"

// eraseDouble answers EraseAuthorData with n comments (the same for a dry run) and records the
// time each call was given.
func eraseDouble(n int64, deadlines chan<- time.Duration) *moderationDouble {
	d := &moderationDouble{}
	d.eraseFn = func(ctx context.Context, _ *commentdv1.EraseAuthorDataRequest) (*commentdv1.EraseAuthorDataResponse, error) {
		if dl, ok := ctx.Deadline(); ok && deadlines != nil {
			deadlines <- time.Until(dl)
		}
		return &commentdv1.EraseAuthorDataResponse{CommentCount: n}, nil
	}
	return d
}

func TestErase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantReqs []*commentdv1.EraseAuthorDataRequest
		wantOut  string
		wantErr  string // a part of stderr
		count    int64  // the comments the server says it anonymised; 3 when 0
	}{
		{
			name:     "dry run",
			args:     []string{"erase", "--email", eraseTestEmail, "--dry-run"},
			wantReqs: []*commentdv1.EraseAuthorDataRequest{{AuthorEmail: eraseTestEmail, ValidateOnly: true}},
			wantOut:  "Dry run: erase would anonymise 3 comments of this author.\n",
		},
		{
			name:     "dry run json",
			args:     []string{"erase", "--email", eraseTestEmail, "--dry-run", "-o", "json"},
			wantReqs: []*commentdv1.EraseAuthorDataRequest{{AuthorEmail: eraseTestEmail, ValidateOnly: true}},
			wantOut:  jsonOutput,
		},
		{
			name:     "erase",
			args:     []string{"erase", "--email", eraseTestEmail, "--reason", "ticket 17", "--yes"},
			wantReqs: []*commentdv1.EraseAuthorDataRequest{{AuthorEmail: eraseTestEmail, Reason: "ticket 17"}},
			wantOut:  "Anonymised 3 comments; the author's record is deleted.\n",
			// The operator's part: the AOF still holds the old writes.
			wantErr: "BGREWRITEAOF",
		},
		{
			// Nothing to anonymise: the output must not claim a record was found and deleted.
			name:     "erase nothing",
			args:     []string{"erase", "--email", eraseTestEmail, "--yes"},
			count:    -1,
			wantReqs: []*commentdv1.EraseAuthorDataRequest{{AuthorEmail: eraseTestEmail}},
			wantOut:  "No comments of this author were found; their record, if there was one, is deleted.\n",
		},
		{
			name:     "erase json",
			args:     []string{"erase", "--email", eraseTestEmail, "--yes", "-o", "json"},
			wantReqs: []*commentdv1.EraseAuthorDataRequest{{AuthorEmail: eraseTestEmail}},
			wantOut:  jsonOutput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			deadlines := make(chan time.Duration, 2)
			n := tt.count
			switch n {
			case 0:
				n = 3
			case -1:
				n = 0
			}
			d := eraseDouble(n, deadlines)
			// A short --timeout: the walk needs longer, and erase gives it.
			args := withServer(serveDouble(t, d), append(tt.args, "--timeout", "2s")...)
			got := invocation{args: args}.run(t)
			out := got.stdout
			var resp commentdv1.EraseAuthorDataResponse
			if tt.wantOut == jsonOutput && protojson.Unmarshal([]byte(out), &resp) == nil && resp.GetCommentCount() == 3 {
				out = jsonOutput
			}
			if got.code != exitOK || out != tt.wantOut || !strings.Contains(got.stderr, tt.wantErr) {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0, %q, stderr with %q", cmdline(args), got.code, got.stdout, got.stderr, tt.wantOut, tt.wantErr)
			}
			var reqs []proto.Message
			for _, r := range tt.wantReqs {
				reqs = append(reqs, r)
			}
			if diff := cmp.Diff(reqs, d.requests("EraseAuthorData"), protocmp.Transform()); diff != "" {
				t.Errorf("%s: EraseAuthorData requests (-want +got):\n%s", cmdline(args), diff)
			}
			if dl := <-deadlines; dl < eraseMinTimeout-time.Minute {
				t.Errorf("%s: the call had %v to run; want about %v", cmdline(args), dl, eraseMinTimeout)
			}
			if out := strings.ToLower(got.stdout + got.stderr); strings.Contains(out, "erin.erasable") {
				t.Errorf("%s printed the address: stdout %q, stderr %q", cmdline(args), got.stdout, got.stderr)
			}
		})
	}
}

func TestEraseUsage(t *testing.T) {
	t.Parallel()
	d := eraseDouble(3, nil)
	addr := serveDouble(t, d)
	checkUsageErrors(t, d, addr, "erase", []usageCase{
		{"no email", []string{"erase", "--yes"}},
		{"blank email", []string{"erase", "--email", " ", "--yes"}},
		{"arguments", []string{"erase", eraseTestEmail, "--yes"}},
		// The test's stdin is not a terminal: without --yes there is nobody to ask.
		{"no confirmation", []string{"erase", "--email", eraseTestEmail}},
	})
}

// A refused call is one line on stderr with the bad field, and exit 1.
func TestEraseRefused(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{}
	d.eraseFn = func(context.Context, *commentdv1.EraseAuthorDataRequest) (*commentdv1.EraseAuthorDataResponse, error) {
		return nil, statusErr(t, codes.InvalidArgument, "invalid request", "INVALID_ARGUMENT", &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "author_email", Description: "not a valid email address"}},
		})
	}
	args := withServer(serveDouble(t, d), "erase", "--email", "erin@", "--yes")
	got := invocation{args: args}.run(t)
	want := "commentctl: erase: invalid request (INVALID_ARGUMENT); field author_email: not a valid email address\n"
	if got.code != exitError || got.stderr != want || got.stdout != "" {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, no output, stderr %q", cmdline(args), got.code, got.stdout, got.stderr, exitError, want)
	}
}

// TestJSONKeepsZeroCounts checks that -o json names every count, zero included: protojson leaves a
// zero out unless told otherwise, and a script reading .commentCount or a queue's .count must not
// find null where the answer is 0.
func TestJSONKeepsZeroCounts(t *testing.T) {
	t.Parallel()
	d := eraseDouble(0, nil)
	d.statsFn = func(context.Context, *commentdv1.GetStatsRequest) (*commentdv1.GetStatsResponse, error) {
		return &commentdv1.GetStatsResponse{Queue: []*commentdv1.StateCount{
			{State: commentdv1.State_STATE_PENDING, Count: 2},
			{State: commentdv1.State_STATE_SPAM},
		}}, nil
	}
	addr := serveDouble(t, d)
	tests := []struct {
		args []string
		path []string // keys of objects, followed into each element of an array
	}{
		{args: []string{"erase", "--email", eraseTestEmail, "--dry-run", "-o", "json"}, path: []string{"commentCount"}},
		{args: []string{"erase", "--email", eraseTestEmail, "--yes", "-o", "json"}, path: []string{"commentCount"}},
		{args: []string{"stats", "-o", "json"}, path: []string{"queue", "count"}},
	}
	for _, tt := range tests {
		args := withServer(addr, tt.args...)
		got := invocation{args: args}.run(t)
		var doc any
		if err := json.Unmarshal([]byte(got.stdout), &doc); err != nil || got.code != exitOK {
			t.Errorf("%s: exit %d, stdout %q (%v); want exit 0 and JSON", cmdline(args), got.code, got.stdout, err)
			continue
		}
		if missing := missingKeys(doc, tt.path); len(missing) > 0 {
			t.Errorf("%s: stdout %s: %q missing; want every %q present, zero included", cmdline(args), got.stdout, missing, strings.Join(tt.path, "."))
		}
	}
}

// missingKeys follows path through doc, into every element of arrays, and returns where a key is missing.
func missingKeys(doc any, path []string) []string {
	if len(path) == 0 {
		return nil
	}
	switch v := doc.(type) {
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, missingKeys(e, path)...)
		}
		return out
	case map[string]any:
		next, ok := v[path[0]]
		if !ok {
			return []string{path[0]}
		}
		return missingKeys(next, path[1:])
	}
	return []string{path[0]}
}
