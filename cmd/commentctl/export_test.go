package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

const (
	exportTestEmail = "Xena.Exportable@example.net"
	exportTestIP    = "198.51.100.23"
)

// exportResponse is an export of two comments, the second decided and with an IP that did not
// open; bodies pads each body to make the response larger.
func exportResponse(bodies int) *commentdv1.ExportAuthorDataResponse {
	at := timestamppb.New(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC))
	pad := strings.Repeat("x", bodies)
	return &commentdv1.ExportAuthorDataResponse{Comments: []*commentdv1.ExportedComment{
		{
			Comment:     &commentdv1.Comment{Name: "comments/c1", Id: "c1", ThreadId: "t1", AuthorName: "Xena", Body: "first remark" + pad, State: commentdv1.State_STATE_PUBLISHED, CreateTime: at, PublishTime: at},
			AuthorEmail: exportTestEmail, IpAddress: exportTestIP, UserAgent: "XenaBrowser/2.0",
		},
		{
			Comment:     &commentdv1.Comment{Name: "comments/c2", Id: "c2", ThreadId: "t2", ParentId: "c0", AuthorName: "Xena", Body: "second remark" + pad, State: commentdv1.State_STATE_REJECTED, CreateTime: at},
			AuthorEmail: exportTestEmail, UserAgent: "XenaBrowser/2.0", UnreadableFields: []string{"ip_address"},
			Decision: &commentdv1.Decision{Moderator: "mod-alice", DecideTime: at, FromState: commentdv1.State_STATE_PUBLISHED, ToState: commentdv1.State_STATE_REJECTED, Reason: "off topic"},
		},
	}}
}

// exportDouble answers ExportAuthorData with resp and records the time each call was given.
func exportDouble(resp *commentdv1.ExportAuthorDataResponse, deadlines chan<- time.Duration) *moderationDouble {
	d := &moderationDouble{}
	d.exportFn = func(ctx context.Context, _ *commentdv1.ExportAuthorDataRequest) (*commentdv1.ExportAuthorDataResponse, error) {
		if dl, ok := ctx.Deadline(); ok && deadlines != nil {
			deadlines <- time.Until(dl)
		}
		return resp, nil
	}
	return d
}

func TestExport(t *testing.T) {
	t.Parallel()
	const table = "CREATED               COMMENT      THREAD  STATE      DECISION               TEXT\n" +
		"2025-03-14T09:26:53Z  comments/c1  t1      published  -                      first remark\n" +
		"2025-03-14T09:26:53Z  comments/c2  t2      rejected   rejected by mod-alice  second remark\n" +
		"2 comments. The email and IP addresses are in the JSON export only (--out FILE or -o json).\n" +
		"1 comment holds a sealed value the server's keys do not open (see unreadableFields in the JSON).\n"
	tests := []struct {
		name     string
		args     []string
		wantReq  *commentdv1.ExportAuthorDataRequest
		resp     *commentdv1.ExportAuthorDataResponse // nil: exportResponse(0)
		wantOut  string                               // jsonOutput: the response as JSON
		wantFile bool                                 // the response as JSON in the --out file
	}{
		{
			// As queue, bans, audit and filters list print it: no header over nothing.
			name:    "no comment",
			args:    []string{"export", "--email", exportTestEmail},
			resp:    &commentdv1.ExportAuthorDataResponse{},
			wantReq: &commentdv1.ExportAuthorDataRequest{AuthorEmail: exportTestEmail},
			wantOut: "No entries.\n",
		},
		{
			name:    "table",
			args:    []string{"export", "--email", exportTestEmail, "--reason", "request 18"},
			wantReq: &commentdv1.ExportAuthorDataRequest{AuthorEmail: exportTestEmail, Reason: "request 18"},
			wantOut: table,
		},
		{
			name:    "json",
			args:    []string{"export", "--email", exportTestEmail, "-o", "json"},
			wantReq: &commentdv1.ExportAuthorDataRequest{AuthorEmail: exportTestEmail},
			wantOut: jsonOutput,
		},
		{
			name: "period",
			args: []string{"export", "--email", exportTestEmail, "--since", "2020-01-01", "--until", "2023-01-01T12:00:00Z"},
			wantReq: &commentdv1.ExportAuthorDataRequest{AuthorEmail: exportTestEmail,
				StartTime: timestamppb.New(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), EndTime: timestamppb.New(time.Date(2023, 1, 1, 12, 0, 0, 0, time.UTC))},
			wantOut: table,
		},
		{
			name:     "out file",
			args:     []string{"export", "--email", exportTestEmail, "--out", "OUT"},
			wantReq:  &commentdv1.ExportAuthorDataRequest{AuthorEmail: exportTestEmail},
			wantOut:  "Wrote 2 comments of this author to OUT. It holds personal data in clear: hand it to the author only.\n",
			wantFile: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := tt.resp
			if resp == nil {
				resp = exportResponse(0)
			}
			deadlines := make(chan time.Duration, 1)
			d := exportDouble(resp, deadlines)
			path := filepath.Join(t.TempDir(), "export.json")
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "OUT", path)
			}
			// A short --timeout: the walk needs longer, and export gives it.
			args = withServer(serveDouble(t, d), append(args, "--timeout", "2s")...)
			got := invocation{args: args}.run(t)
			out := got.stdout
			var printed commentdv1.ExportAuthorDataResponse
			if tt.wantOut == jsonOutput && protojson.Unmarshal([]byte(out), &printed) == nil && proto.Equal(&printed, resp) {
				out = jsonOutput
			}
			if want := strings.ReplaceAll(tt.wantOut, "OUT", path); got.code != exitOK || out != want {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0, %q", cmdline(args), got.code, got.stdout, got.stderr, want)
			}
			if diff := cmp.Diff([]proto.Message{tt.wantReq}, d.requests("ExportAuthorData"), protocmp.Transform()); diff != "" {
				t.Errorf("%s: ExportAuthorData requests (-want +got):\n%s", cmdline(args), diff)
			}
			if dl := <-deadlines; dl < eraseMinTimeout-time.Minute {
				t.Errorf("%s: the call had %v to run; want about %v", cmdline(args), dl, eraseMinTimeout)
			}
			if tt.wantOut != jsonOutput {
				for _, secret := range []string{"xena.exportable", exportTestIP} {
					if strings.Contains(strings.ToLower(got.stdout+got.stderr), secret) {
						t.Errorf("%s printed %q: stdout %q, stderr %q", cmdline(args), secret, got.stdout, got.stderr)
					}
				}
			}
			if !tt.wantFile {
				return
			}
			info, err := os.Stat(path)
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("%s: --out file %v, %v; want mode 0600", cmdline(args), info, err)
			}
			b, _ := os.ReadFile(path)
			var saved commentdv1.ExportAuthorDataResponse
			if err := protojson.Unmarshal(b, &saved); err != nil || !proto.Equal(&saved, resp) {
				t.Errorf("%s: --out file holds %q (%v); want the whole response as JSON", cmdline(args), b, err)
			}
		})
	}
}

// An export larger than gRPC's default 4 MiB receive limit arrives.
func TestExportLarge(t *testing.T) {
	t.Parallel()
	resp := exportResponse(3 << 20) // two bodies of 3 MiB
	args := withServer(serveDouble(t, exportDouble(resp, nil)), "export", "--email", exportTestEmail, "-o", "json")
	got := invocation{args: args}.run(t)
	var printed commentdv1.ExportAuthorDataResponse
	if err := protojson.Unmarshal([]byte(got.stdout), &printed); got.code != exitOK || err != nil || !proto.Equal(&printed, resp) {
		t.Errorf("%s: exit %d, stderr %q, %d bytes of stdout (%v); want 0 and the whole response", cmdline(args), got.code, got.stderr, len(got.stdout), err)
	}
}

func TestExportUsage(t *testing.T) {
	t.Parallel()
	d := exportDouble(exportResponse(0), nil)
	addr := serveDouble(t, d)
	exists := filepath.Join(t.TempDir(), "exists.json")
	if err := os.WriteFile(exists, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Found only once the export was made and audited, it was saved nowhere.
	inMissingDir := filepath.Join(t.TempDir(), "no-such-dir", "export.json")
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"no email", []string{"export"}, exitUsage},
		{"blank email", []string{"export", "--email", " "}, exitUsage},
		{"arguments", []string{"export", exportTestEmail}, exitUsage},
		{"bad since", []string{"export", "--email", exportTestEmail, "--since", "yesterday"}, exitUsage},
		{"empty period", []string{"export", "--email", exportTestEmail, "--since", "2024-01-01", "--until", "2024-01-01"}, exitUsage},
		{"existing out file", []string{"export", "--email", exportTestEmail, "--out", exists}, exitError},
		{"out file in a missing directory", []string{"export", "--email", exportTestEmail, "--out", inMissingDir}, exitError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(addr, tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != tt.code || strings.Count(got.stderr, "\n") < 1 {
				t.Errorf("%s: exit %d (stderr %q); want %d and a message", cmdline(args), got.code, got.stderr, tt.code)
			}
		})
	}
	t.Cleanup(func() {
		if calls := d.recorded(); len(calls) != 0 {
			t.Errorf("export usage errors made %d calls; want none", len(calls))
		}
		if b, err := os.ReadFile(exists); err != nil || string(b) != "keep me" {
			t.Errorf("the existing --out file now holds %q, %v; want it untouched", b, err)
		}
	})
}

// A refused export is one line on stderr with the reason, and exit 1.
func TestExportRefused(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{}
	d.exportFn = func(context.Context, *commentdv1.ExportAuthorDataRequest) (*commentdv1.ExportAuthorDataResponse, error) {
		return nil, statusErr(t, codes.FailedPrecondition, "the author has more comments than one export holds", "EXPORT_TOO_LARGE", &errdetails.PreconditionFailure{
			Violations: []*errdetails.PreconditionFailure_Violation{{Type: "EXPORT", Subject: "author_email", Description: "more than 10000 comments"}},
		})
	}
	out := filepath.Join(t.TempDir(), "export.json")
	args := withServer(serveDouble(t, d), "export", "--email", exportTestEmail, "--out", out)
	got := invocation{args: args}.run(t)
	if got.code != exitError || got.stdout != "" || strings.Count(got.stderr, "\n") != 1 || !strings.Contains(got.stderr, "EXPORT_TOO_LARGE") {
		t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, no output, one line with EXPORT_TOO_LARGE", cmdline(args), got.code, got.stdout, got.stderr, exitError)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s: a refused export left the --out file (%v); want none", cmdline(args), err)
	}
}
