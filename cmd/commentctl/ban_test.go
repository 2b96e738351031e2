package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// banFake is a ModerationService test double for the ban commands: each ban method answers with
// its function field and every request is recorded.
type banFake struct {
	commentdv1.UnimplementedModerationServiceServer

	create func(*commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error)
	list   func(*commentdv1.ListBansRequest) (*commentdv1.ListBansResponse, error)
	del    func(*commentdv1.DeleteBanRequest) error

	mu   sync.Mutex
	reqs []proto.Message
}

func (f *banFake) recordReq(m proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, proto.Clone(m))
}

func (f *banFake) requests() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.reqs...)
}

func (f *banFake) CreateBan(_ context.Context, r *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
	f.recordReq(r)
	return f.create(r)
}

func (f *banFake) ListBans(_ context.Context, r *commentdv1.ListBansRequest) (*commentdv1.ListBansResponse, error) {
	f.recordReq(r)
	return f.list(r)
}

func (f *banFake) DeleteBan(_ context.Context, r *commentdv1.DeleteBanRequest) (*commentdv1.DeleteBanResponse, error) {
	f.recordReq(r)
	if err := f.del(r); err != nil {
		return nil, err
	}
	return &commentdv1.DeleteBanResponse{}, nil
}

// serveBanFake runs f on a loopback gRPC server until the test ends and returns its address.
func serveBanFake(t *testing.T, f *banFake) string {
	t.Helper()
	srv := grpc.NewServer()
	commentdv1.RegisterModerationServiceServer(srv, f)
	return serveLoopback(t, srv)
}

var (
	banCreated = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sampleHash = strings.Repeat("3f", 20)
)

// echoBan answers CreateBan with the ban the server would make of r (targets as the server writes
// them are not the fake's business: it echoes a fixed one).
func echoBan(r *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
	b := &commentdv1.Ban{Name: "bans/author-" + sampleHash, Target: "author:" + sampleHash, Reason: r.GetReason(),
		Moderator: "mod-alice", CreateTime: timestamppb.New(banCreated)}
	if r.GetDuration() != nil {
		b.ExpireTime = timestamppb.New(banCreated.Add(r.GetDuration().AsDuration()))
	}
	return &commentdv1.CreateBanResponse{Ban: b}, nil
}

func TestBanCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want *commentdv1.CreateBanRequest
	}{
		{name: "author of a comment, for good", args: []string{"ban", "--comment", "01HZX3K9", "--reason", "insults"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentAuthor{CommentAuthor: "comments/01HZX3K9"}, Reason: "insults"}},
		{name: "address of a comment", args: []string{"ban", "--comment", "comments/01HZX3K9", "--ip", "--for", "24h", "--reason", "puppets"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: "comments/01HZX3K9"}, Duration: durationpb.New(24 * time.Hour), Reason: "puppets"}},
		{name: "address of a comment, --ip first", args: []string{"ban", "--ip", "--comment", "01HZX3K9", "--reason", "puppets"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: "comments/01HZX3K9"}, Reason: "puppets"}},
		{name: "email", args: []string{"ban", "--email", "troll@example.com", "--for", "30d", "--reason", "evasion"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"}, Duration: durationpb.New(30 * 24 * time.Hour), Reason: "evasion"}},
		{name: "email, --for forever", args: []string{"ban", "--email", "troll@example.com", "--for", "Forever", "--reason", "evasion"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"}, Reason: "evasion"}},
		{name: "author key", args: []string{"ban", "--author", sampleHash, "--reason", "spam"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorKey{AuthorKey: sampleHash}, Reason: "spam"}},
		{name: "address, --ip ADDR", args: []string{"ban", "--ip", "2001:db8::42", "--for", "90m", "--reason", "spam run"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "2001:db8::42"}, Duration: durationpb.New(90 * time.Minute), Reason: "spam run"}},
		{name: "address, --ip=ADDR", args: []string{"ban", "--ip=192.0.2.1", "--reason", "spam run"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "192.0.2.1"}, Reason: "spam run"}},
		{name: "range", args: []string{"ban", "--range", "203.0.113.0/24", "--for", "6h", "--reason", "bot net"},
			want: &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.0/24"}, Duration: durationpb.New(6 * time.Hour), Reason: "bot net"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &banFake{create: echoBan}
			args := withServer(serveBanFake(t, f), tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			// The request id is random, one per run (TestBanRequestID).
			if diff := cmp.Diff([]proto.Message{tt.want}, f.requests(), protocmp.Transform(),
				protocmp.IgnoreFields(&commentdv1.CreateBanRequest{}, "request_id")); diff != "" {
				t.Errorf("%s: requests (-want +got):\n%s", cmdline(args), diff)
			}
			for _, want := range []string{"bans/author-" + sampleHash, "author:" + sampleHash, tt.want.GetReason(), "mod-alice"} {
				if !strings.Contains(got.stdout, want) {
					t.Errorf("%s: stdout lacks %q:\n%s", cmdline(args), want, got.stdout)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		f := &banFake{create: echoBan}
		args := withServer(serveBanFake(t, f), "ban", "--range", "203.0.113.0/24", "--for", "72h", "--reason", "bot net", "-o", "json")
		got := invocation{args: args}.run(t)
		var resp commentdv1.CreateBanResponse
		if err := protojson.Unmarshal([]byte(got.stdout), &resp); got.code != exitOK || err != nil {
			t.Fatalf("%s: exit %d, stdout %q (%v); want a CreateBanResponse", cmdline(args), got.code, got.stdout, err)
		}
		want, _ := echoBan(&commentdv1.CreateBanRequest{Duration: durationpb.New(72 * time.Hour), Reason: "bot net"})
		if diff := cmp.Diff(want, &resp, protocmp.Transform()); diff != "" {
			t.Errorf("%s: output (-want +got):\n%s", cmdline(args), diff)
		}
	})

	t.Run("refused by the server", func(t *testing.T) {
		t.Parallel()
		f := &banFake{create: func(*commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
			// As commentd words it: the message lists the violation the details carry.
			return nil, statusErr(t, codes.InvalidArgument, "invalid request: ip_range: IPv4 range wider than /8", "INVALID_ARGUMENT",
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "ip_range", Description: "IPv4 range wider than /8"}}})
		}}
		args := withServer(serveBanFake(t, f), "ban", "--range", "10.0.0.0/7", "--reason", "x")
		got := invocation{args: args}.run(t)
		want := "commentctl: ban: invalid request: ip_range: IPv4 range wider than /8 (INVALID_ARGUMENT)\n"
		if got.code != exitError || got.stderr != want {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", cmdline(args), got.code, got.stderr, want)
		}
	})
}

// TestBanRequestID: every run of ban sends a fresh request id, or the one given with --request-id;
// a call cut short prints the id to send again, a refusal does not.
func TestBanRequestID(t *testing.T) {
	t.Parallel()
	sentID := func(t *testing.T, f *banFake) string {
		t.Helper()
		reqs := f.requests()
		if len(reqs) != 1 {
			t.Fatalf("sent %d requests; want 1", len(reqs))
		}
		return reqs[0].(*commentdv1.CreateBanRequest).GetRequestId()
	}
	ban := []string{"ban", "--range", "203.0.113.0/24", "--reason", "bot net"}

	t.Run("fresh per run", func(t *testing.T) {
		t.Parallel()
		seen := map[string]bool{}
		for range 2 {
			f := &banFake{create: echoBan}
			args := withServer(serveBanFake(t, f), ban...)
			if got := (invocation{args: args}).run(t); got.code != exitOK {
				t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			id := sentID(t, f)
			if !regexp.MustCompile(`^ban-[0-9a-f]{32}$`).MatchString(id) || seen[id] {
				t.Errorf("%s sent request_id %q; want a fresh ban-<32 hex digits> (ids of earlier runs: %v)", cmdline(args), id, seen)
			}
			seen[id] = true
		}
	})

	t.Run("given", func(t *testing.T) {
		t.Parallel()
		f := &banFake{create: echoBan}
		args := withServer(serveBanFake(t, f), append(ban, "--request-id", "ban-0123")...)
		if got := (invocation{args: args}).run(t); got.code != exitOK {
			t.Fatalf("%s: exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
		}
		if id := sentID(t, f); id != "ban-0123" {
			t.Errorf("%s sent request_id %q; want ban-0123", cmdline(args), id)
		}
	})

	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		f := &banFake{create: echoBan}
		args := withServer(serveBanFake(t, f), append(ban, "--request-id", "")...)
		if got := (invocation{args: args}).run(t); got.code != exitUsage || len(f.requests()) != 0 {
			t.Errorf("%s: exit %d, %d requests sent; want exit %d and none", cmdline(args), got.code, len(f.requests()), exitUsage)
		}
	})

	for _, tt := range []struct {
		name string
		code codes.Code
		hint bool
	}{
		{"unavailable", codes.Unavailable, true},
		{"not connected", codes.Unavailable, false}, // the fake answers as grpc reports a refused connection
		{"deadline", codes.DeadlineExceeded, true},
		{"refused", codes.InvalidArgument, false},
		{"reused", codes.AlreadyExists, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &banFake{create: func(*commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
				if tt.name == "not connected" {
					return nil, status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`)
				}
				return nil, statusErr(t, tt.code, "no", "X")
			}}
			args := withServer(serveBanFake(t, f), ban...)
			got := invocation{args: args}.run(t)
			hint := "run the same command with --request-id " + sentID(t, f) + " "
			if got.code != exitError || strings.Contains(got.stderr, hint) != tt.hint {
				t.Errorf("%s answered %v: exit %d, stderr %q; want exit 1, hint %q given: %t", cmdline(args), tt.code, got.code, got.stderr, hint, tt.hint)
			}
		})
	}
}

// TestBanExpiresIn checks that a ban just made shows the length it was given, not one unit less.
func TestBanExpiresIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dur  string
		want string
	}{
		{dur: "45m", want: "(in 45m)"},
		{dur: "24h", want: "(in 1d)"},
		{dur: "72h", want: "(in 3d)"},
		{dur: "30d", want: "(in 30d)"},
	}
	for _, tt := range tests {
		t.Run(tt.dur, func(t *testing.T) {
			t.Parallel()
			// As the server does: the ban starts when it is made, a little before commentctl prints it.
			f := &banFake{create: func(r *commentdv1.CreateBanRequest) (*commentdv1.CreateBanResponse, error) {
				now := time.Now()
				return &commentdv1.CreateBanResponse{Ban: &commentdv1.Ban{Name: "bans/ip-x", Target: "ip:x", Reason: r.GetReason(),
					CreateTime: timestamppb.New(now), ExpireTime: timestamppb.New(now.Add(r.GetDuration().AsDuration()))}}, nil
			}}
			args := withServer(serveBanFake(t, f), "ban", "--ip", "192.0.2.1", "--for", tt.dur, "--reason", "spam")
			got := invocation{args: args}.run(t)
			if got.code != exitOK || !strings.Contains(got.stdout, tt.want) {
				t.Errorf("%s: exit %d, stdout:\n%s\nwant exit 0 and an expiry %q", cmdline(args), got.code, got.stdout, tt.want)
			}
		})
	}
}

func TestBanUsage(t *testing.T) {
	t.Parallel()
	f := &banFake{create: echoBan}
	addr := serveBanFake(t, f)
	tests := []struct {
		name string
		args []string
	}{
		{name: "nothing to ban", args: []string{"ban", "--reason", "x"}},
		{name: "two things", args: []string{"ban", "--email", "a@example.com", "--range", "10.0.0.0/8", "--reason", "x"}},
		{name: "an address and an email", args: []string{"ban", "--ip", "192.0.2.1", "--email", "a@example.com", "--reason", "x"}},
		{name: "a comment and another address", args: []string{"ban", "--comment", "01HZX3K9", "--ip=192.0.2.1", "--reason", "x"}},
		{name: "--ip without an address", args: []string{"ban", "--ip", "--reason", "x"}},
		{name: "no reason", args: []string{"ban", "--range", "10.0.0.0/8"}},
		{name: "blank reason", args: []string{"ban", "--range", "10.0.0.0/8", "--reason", "  "}},
		{name: "bad length", args: []string{"ban", "--range", "10.0.0.0/8", "--for", "a while", "--reason", "x"}},
		{name: "zero length", args: []string{"ban", "--range", "10.0.0.0/8", "--for", "0d", "--reason", "x"}},
		{name: "stray argument", args: []string{"ban", "troll@example.com", "--reason", "x"}},
		// A target given empty ("--email $E" with E unset) would be sent and refused by the
		// server as a bad value: it is a usage error, as an empty flag is elsewhere.
		{name: "empty author", args: []string{"ban", "--author", "", "--reason", "x"}},
		{name: "empty email", args: []string{"ban", "--email", "", "--reason", "x"}},
		{name: "blank email", args: []string{"ban", "--email", " ", "--reason", "x"}},
		{name: "empty comment", args: []string{"ban", "--comment", "", "--reason", "x"}},
		{name: "empty comment with --ip", args: []string{"ban", "--comment", "", "--ip", "--reason", "x"}},
		{name: "comment prefix only", args: []string{"ban", "--comment", "comments/", "--reason", "x"}},
		{name: "empty range", args: []string{"ban", "--range", "", "--reason", "x"}},
		{name: "empty --ip=", args: []string{"ban", "--ip=", "--reason", "x"}},
		{name: "empty --ip address", args: []string{"ban", "--ip", "", "--reason", "x"}},
		{name: "unban nothing", args: []string{"unban"}},
		{name: "bans with an argument", args: []string{"bans", "extra"}},
		{name: "bans --all with a page token", args: []string{"bans", "--all", "--page-token", "abc"}},
		{name: "bans limit too big", args: []string{"bans", "--limit", "501"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := withServer(addr, tt.args...)
			if got := (invocation{args: args}).run(t); got.code != exitUsage {
				t.Errorf("%s: exit %d (stderr %q); want %d", cmdline(args), got.code, got.stderr, exitUsage)
			}
		})
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors sent %d requests to the server, want none: %v", len(reqs), reqs)
	}
}

func TestBansCommand(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	page1 := []*commentdv1.Ban{
		{Name: "bans/range-203.0.113.0-24", Target: "range:203.0.113.0/24", Reason: "bot net", Moderator: "mod-alice",
			CreateTime: timestamppb.New(now.Add(-2 * time.Hour)), ExpireTime: timestamppb.New(now.Add(4*time.Hour + time.Minute))},
		{Name: "bans/author-" + sampleHash, Target: "author:" + sampleHash, Reason: "insults\nand threats", Moderator: "mod-bob",
			CreateTime: timestamppb.New(now.Add(-3 * 24 * time.Hour))},
	}
	page2 := []*commentdv1.Ban{
		{Name: "bans/ip-" + strings.Repeat("a1", 20), Target: "ip:" + strings.Repeat("a1", 20), Reason: "spam", Moderator: "mod-alice",
			CreateTime: timestamppb.New(now.Add(-5 * 24 * time.Hour))},
	}
	newFake := func() *banFake {
		return &banFake{list: func(r *commentdv1.ListBansRequest) (*commentdv1.ListBansResponse, error) {
			if r.GetPageToken() == "p2" {
				return &commentdv1.ListBansResponse{Bans: page2}, nil
			}
			return &commentdv1.ListBansResponse{Bans: page1, NextPageToken: "p2"}, nil
		}}
	}

	t.Run("one page, table", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		args := withServer(serveBanFake(t, f), "bans", "--limit", "2")
		got := invocation{args: args}.run(t)
		if got.code != exitOK {
			t.Fatalf("%s: exit %d, stderr %q", cmdline(args), got.code, got.stderr)
		}
		lines := strings.Split(strings.TrimRight(got.stdout, "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
			t.Fatalf("%s: stdout has %d lines, want a header and 2 bans:\n%s", cmdline(args), len(lines), got.stdout)
		}
		for i, want := range [][]string{
			{"bans/range-203.0.113.0-24", "range:203.0.113.0/24", "2h ago", "in 4h", "mod-alice", "bot net"},
			{"bans/author-" + sampleHash, "author:" + sampleHash, "3d ago", "never", "mod-bob", "insults and threats"},
		} {
			for _, w := range want {
				if !strings.Contains(lines[i+1], w) {
					t.Errorf("%s: row %d %q lacks %q", cmdline(args), i+1, lines[i+1], w)
				}
			}
		}
		if !strings.Contains(got.stderr, "--page-token p2") {
			t.Errorf("%s: stderr %q, want the next page token", cmdline(args), got.stderr)
		}
		want := []proto.Message{&commentdv1.ListBansRequest{PageSize: 2}}
		if diff := cmp.Diff(want, f.requests(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", cmdline(args), diff)
		}
	})

	t.Run("every page, json", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		args := withServer(serveBanFake(t, f), "bans", "--all", "-o", "json")
		got := invocation{args: args}.run(t)
		var resp commentdv1.ListBansResponse
		if err := protojson.Unmarshal([]byte(got.stdout), &resp); got.code != exitOK || err != nil {
			t.Fatalf("%s: exit %d, stdout %q (%v); want a ListBansResponse", cmdline(args), got.code, got.stdout, err)
		}
		want := &commentdv1.ListBansResponse{Bans: append(append([]*commentdv1.Ban(nil), page1...), page2...)}
		if diff := cmp.Diff(want, &resp, protocmp.Transform()); diff != "" {
			t.Errorf("%s: output (-want +got):\n%s", cmdline(args), diff)
		}
		wantReqs := []proto.Message{&commentdv1.ListBansRequest{PageSize: maxPageSize}, &commentdv1.ListBansRequest{PageSize: maxPageSize, PageToken: "p2"}}
		if diff := cmp.Diff(wantReqs, f.requests(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", cmdline(args), diff)
		}
	})
}

func TestUnbanCommand(t *testing.T) {
	t.Parallel()
	const gone = "bans/range-10.0.0.0-8"
	newFake := func() *banFake {
		return &banFake{del: func(r *commentdv1.DeleteBanRequest) error {
			if r.GetName() == gone {
				return statusErr(t, codes.NotFound, "no such ban in force", "BAN_NOT_FOUND")
			}
			return nil
		}}
	}
	wantReqs := []proto.Message{
		&commentdv1.DeleteBanRequest{Name: "bans/author-" + sampleHash},
		&commentdv1.DeleteBanRequest{Name: gone},
		&commentdv1.DeleteBanRequest{Name: "bans/ip-" + sampleHash},
	}
	args := []string{"unban", "author-" + sampleHash, "range-10.0.0.0-8", "bans/ip-" + sampleHash}

	t.Run("table", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		full := withServer(serveBanFake(t, f), args...)
		got := invocation{args: full}.run(t)
		if got.code != exitError {
			t.Errorf("%s: exit %d; want %d (one ban was not found)", cmdline(full), got.code, exitError)
		}
		wantOut := "bans/author-" + sampleHash + ": lifted\nbans/ip-" + sampleHash + ": lifted\n"
		if diff := cmp.Diff(wantOut, got.stdout); diff != "" {
			t.Errorf("%s: stdout (-want +got):\n%s", cmdline(full), diff)
		}
		wantErr := gone + ": no such ban in force (NOT_FOUND, BAN_NOT_FOUND)\ncommentctl: unban: 1 of 3 failed\n"
		if diff := cmp.Diff(wantErr, got.stderr); diff != "" {
			t.Errorf("%s: stderr (-want +got):\n%s", cmdline(full), diff)
		}
		if diff := cmp.Diff(wantReqs, f.requests(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", cmdline(full), diff)
		}
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		full := withServer(serveBanFake(t, f), append(args, "-o", "json")...)
		got := invocation{args: full}.run(t)
		var out []struct {
			Name  string
			OK    bool
			Error *struct{ Code, Reason string }
		}
		if err := json.Unmarshal([]byte(got.stdout), &out); err != nil || got.code != exitError {
			t.Fatalf("%s: exit %d, stdout %q (%v); want exit 1 and a JSON array", cmdline(full), got.code, got.stdout, err)
		}
		var summary []string
		for _, o := range out {
			s := o.Name + " ok"
			if !o.OK {
				s = o.Name + " " + o.Error.Code + " " + o.Error.Reason
			}
			summary = append(summary, s)
		}
		want := []string{"bans/author-" + sampleHash + " ok", gone + " NOT_FOUND BAN_NOT_FOUND", "bans/ip-" + sampleHash + " ok"}
		if diff := cmp.Diff(want, summary); diff != "" {
			t.Errorf("%s: results (-want +got):\n%s", cmdline(full), diff)
		}
	})
}

// TestRemoveNamedTwice: unban and filters rm given one name twice, bare and as a resource name,
// remove it once and succeed. Sent twice, the second call came back NOT_FOUND (a server has
// nothing left to remove) and the command exited 1 though it had removed everything it was given.
func TestRemoveNamedTwice(t *testing.T) {
	t.Parallel()
	t.Run("unban", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		lifted := map[string]bool{}
		f := &banFake{del: func(r *commentdv1.DeleteBanRequest) error {
			mu.Lock()
			defer mu.Unlock()
			if lifted[r.GetName()] { // as the server: a lifted ban is gone
				return statusErr(t, codes.NotFound, "no such ban in force", "BAN_NOT_FOUND")
			}
			lifted[r.GetName()] = true
			return nil
		}}
		name := "bans/author-" + sampleHash
		args := withServer(serveBanFake(t, f), "unban", name, "author-"+sampleHash, "ip-"+sampleHash, name)
		got := invocation{args: args}.run(t)
		want := result{code: exitOK, stdout: name + ": lifted\nbans/ip-" + sampleHash + ": lifted\n"}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
			t.Errorf("%s: result (-want +got):\n%s", cmdline(args), diff)
		}
		wantReqs := []proto.Message{&commentdv1.DeleteBanRequest{Name: name}, &commentdv1.DeleteBanRequest{Name: "bans/ip-" + sampleHash}}
		if diff := cmp.Diff(wantReqs, f.requests(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", cmdline(args), diff)
		}
	})
	t.Run("filters rm", func(t *testing.T) {
		t.Parallel()
		st := &spamState{filters: []*commentdv1.Filter{{Name: "filters/0123456789abcdef01234567"}}}
		args := withServer(serveFiltersDouble(t, st), "filters", "rm", "0123456789abcdef01234567", "filters/0123456789abcdef01234567", "-o", "json")
		got := invocation{args: args}.run(t)
		want := result{code: exitOK, stdout: "[\n  {\n    \"name\": \"filters/0123456789abcdef01234567\",\n    \"ok\": true\n  }\n]\n"}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(result{})); diff != "" {
			t.Errorf("%s: result (-want +got):\n%s", cmdline(args), diff)
		}
		if n := len(requestsOf[*commentdv1.DeleteFilterRequest](st)); n != 1 {
			t.Errorf("%s: %d DeleteFilter calls; want 1", cmdline(args), n)
		}
	})
}

// TestUnbanCtrlC: Ctrl-C while a ban is being lifted lets that call finish, so its line says what
// the server did, and sends no more. The call cut short was reported as cancelled, though the
// server had lifted the ban.
func TestUnbanCtrlC(t *testing.T) {
	t.Parallel()
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	f := &banFake{del: func(*commentdv1.DeleteBanRequest) error {
		interrupt() // pressed while the server lifts the ban, which it does
		time.Sleep(50 * time.Millisecond)
		return nil
	}}
	args := withServer(serveBanFake(t, f), "unban", "author-"+sampleHash, "ip-"+sampleHash)
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	if code != exitError {
		t.Errorf("%s, interrupted: exit %d; want %d", cmdline(args), code, exitError)
	}
	if want := "bans/author-" + sampleHash + ": lifted\n"; stdout.String() != want {
		t.Errorf("%s, interrupted: stdout %q; want %q", cmdline(args), stdout.String(), want)
	}
	if want := "bans/ip-" + sampleHash + ": not sent: context canceled"; !strings.Contains(stderr.String(), want) {
		t.Errorf("%s, interrupted: stderr %q; want it to hold %q", cmdline(args), stderr.String(), want)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%s, interrupted: %d DeleteBan calls; want 1", cmdline(args), n)
	}
}

// TestBanForFlag: the --for value printed for a ban length reads back as that length.
func TestBanForFlag(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 7 * 24 * time.Hour, 24 * time.Hour, 90 * time.Minute, 36 * time.Hour} {
		s := banForFlag(d)
		got, err := parseBanSpan(s)
		if err != nil || got != d {
			t.Errorf("parseBanSpan(banForFlag(%s) = %q) = %s, %v; want %s", d, s, got, err, d)
		}
	}
}

func TestShellWord(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"abusive", "abusive"},
		{"comments/0706617ab", "comments/0706617ab"},
		{"spam run", "'spam run'"},
		{"it's spam", `'it'\''s spam'`},
		{"", "''"},
		{"$HOME", "'$HOME'"},
	} {
		if got := shellWord(tt.in); got != tt.want {
			t.Errorf("shellWord(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}
