package grpcserver_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestSubmitValidation sends bad submissions: each must fail with INVALID_ARGUMENT naming exactly
// the bad fields, and store nothing.
func TestSubmitValidation(t *testing.T) {
	addr := redistest.Start(t).Addr
	tests := []struct {
		name       string
		edit       func(r *commentdv1.SubmitCommentRequest)
		wantFields []string // sorted
	}{
		{"thread_id missing", func(r *commentdv1.SubmitCommentRequest) { r.ThreadId = "" }, []string{"thread_id"}},
		{"thread_id starts with punctuation", func(r *commentdv1.SubmitCommentRequest) { r.ThreadId = "-thread" }, []string{"thread_id"}},
		{"thread_id with a slash", func(r *commentdv1.SubmitCommentRequest) { r.ThreadId = "a/b" }, []string{"thread_id"}},
		{"thread_id too long", func(r *commentdv1.SubmitCommentRequest) { r.ThreadId = strings.Repeat("t", 129) }, []string{"thread_id"}},
		{"parent_id malformed", func(r *commentdv1.SubmitCommentRequest) { r.ParentId = "comments/x y" }, []string{"parent_id"}},
		{"parent_id names no comment", func(r *commentdv1.SubmitCommentRequest) { r.ParentId = "00doesnotexist" }, []string{"parent_id"}},
		{"author_name missing", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "" }, []string{"author_name"}},
		{"author_name only spaces", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "   " }, []string{"author_name"}},
		{"author_name too long", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = strings.Repeat("n", 101) }, []string{"author_name"}},
		{"author_name with a control character", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "Jane\x07" }, []string{"author_name"}},
		{"author_name with a line break", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "Jane\nDoe" }, []string{"author_name"}},
		{"author_name with a right-to-left override", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "Jane\u202e" }, []string{"author_name"}},
		{"author_name is the email address", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = r.AuthorEmail }, []string{"author_name"}},
		{"author_name with a line separator", func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "Jane\u2028Doe" }, []string{"author_name"}},
		{"body missing", func(r *commentdv1.SubmitCommentRequest) { r.Body = "" }, []string{"body"}},
		{"body only zero-width characters", func(r *commentdv1.SubmitCommentRequest) { r.Body = "\u200b\u200b" }, []string{"body"}},
		{"body too long", func(r *commentdv1.SubmitCommentRequest) { r.Body = strings.Repeat("b", 5001) }, []string{"body"}},
		{"body with a control character", func(r *commentdv1.SubmitCommentRequest) { r.Body = "hi\x00there" }, []string{"body"}},
		{"author_email missing", func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "" }, []string{"author_email"}},
		{"author_email not an address", func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "jane.example.com" }, []string{"author_email"}},
		{"author_email with a display name", func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "Jane <jane@example.com>" }, []string{"author_email"}},
		{"author_email without a dotted domain", func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "jane@localhost" }, []string{"author_email"}},
		{"author_email with an IP address for a domain", func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "jane@[192.0.2.1]" }, []string{"author_email"}},
		{"author_email with a bare IP address for a domain", func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "jane@198.51.100.7" }, []string{"author_email"}},
		{"client_ip malformed", func(r *commentdv1.SubmitCommentRequest) { r.ClientIp = "203.0.113.300" }, []string{"client_ip"}},
		{"client_ip with a zone", func(r *commentdv1.SubmitCommentRequest) { r.ClientIp = "fe80::1%eth0" }, []string{"client_ip"}},
		{"client_ip unspecified", func(r *commentdv1.SubmitCommentRequest) { r.ClientIp = "0.0.0.0" }, []string{"client_ip"}},
		{"request_id with a space", func(r *commentdv1.SubmitCommentRequest) { r.RequestId = "req 1" }, []string{"request_id"}},
		{"request_id too long", func(r *commentdv1.SubmitCommentRequest) { r.RequestId = strings.Repeat("r", 65) }, []string{"request_id"}},
		{"form_duration negative", func(r *commentdv1.SubmitCommentRequest) { r.FormDuration = &durationpb.Duration{Seconds: -3} }, []string{"form_duration"}},
		{"form_duration with seconds and nanos of opposite signs", func(r *commentdv1.SubmitCommentRequest) {
			r.FormDuration = &durationpb.Duration{Seconds: 30, Nanos: -5}
		}, []string{"form_duration"}},
		{"form_duration with nanos of a second or more", func(r *commentdv1.SubmitCommentRequest) {
			r.FormDuration = &durationpb.Duration{Seconds: 30, Nanos: 1_000_000_000}
		}, []string{"form_duration"}},
		{"everything empty", func(r *commentdv1.SubmitCommentRequest) { *r = commentdv1.SubmitCommentRequest{} },
			[]string{"author_email", "author_name", "body", "thread_id"}},
		{"several bad at once", func(r *commentdv1.SubmitCommentRequest) {
			r.ThreadId, r.ParentId, r.AuthorName, r.AuthorEmail = "/", "#", "", "@"
			r.Body, r.ClientIp, r.RequestId = strings.Repeat("b", 5001), "not-an-ip", " "
		}, []string{"author_email", "author_name", "body", "client_ip", "parent_id", "request_id", "thread_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{redisAddr: addr})
			keysBefore := e.storedKeys(t)
			r := validSubmission("thread-1", "a fine comment")
			tc.edit(r)

			_, err := e.site.SubmitComment(e.as(t, siteKeyName), r)

			if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument {
				t.Fatalf("called SubmitComment with %s, got %v %q (%v), want InvalidArgument %q", tc.name, code, reason, err, grpcserver.ReasonInvalidArgument)
			}
			if diff := cmp.Diff(tc.wantFields, badRequestFields(err)); diff != "" {
				t.Errorf("called SubmitComment with %s, got BadRequest fields differing from want (-want +got):\n%s", tc.name, diff)
			}
			if diff := cmp.Diff(keysBefore, e.storedKeys(t)); diff != "" {
				t.Errorf("called SubmitComment with %s, got Redis keys changed (-before +after):\n%s", tc.name, diff)
			}
			list, err := e.site.ListComments(e.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: "thread-1"})
			if err != nil || len(list.GetComments()) != 0 {
				t.Errorf("called ListComments(thread-1) after a refused submission, got %d comments, %v; want 0, nil", len(list.GetComments()), err)
			}
			queue, err := e.mod.ListQueue(e.as(t, modKeyName), &commentdv1.ListQueueRequest{})
			if err != nil || len(queue.GetComments()) != 0 {
				t.Errorf("called ListQueue after a refused submission, got %d comments, %v; want 0, nil", len(queue.GetComments()), err)
			}
		})
	}
}

// TestModerationValidationNamesEveryField sends moderators' requests with more than one bad field:
// the BadRequest must name each of them, not only the first one checked.
func TestModerationValidationNamesEveryField(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	longReason := strings.Repeat("r", 501)
	badTime := &timestamppb.Timestamp{Nanos: -1}
	yearOne := timestamppb.New(time.Time{})
	tests := []struct {
		name       string
		call       func() error
		wantFields []string // sorted
	}{
		{"ApproveComment with a bad name and a too long reason", func() error {
			_, err := e.mod.ApproveComment(e.as(t, modKeyName), &commentdv1.ApproveCommentRequest{Name: "comments/x y", Reason: longReason})
			return err
		}, []string{"name", "reason"}},
		{"RejectComment with a bad name and a too long reason", func() error {
			_, err := e.mod.RejectComment(e.as(t, modKeyName), &commentdv1.RejectCommentRequest{Name: "", Reason: longReason})
			return err
		}, []string{"name", "reason"}},
		{"UpdateThread with a bad name, an unknown path and an unknown mode", func() error {
			_, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/-bad", ModerationMode: commentdv1.ModerationMode(7)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode", "title"}},
			})
			return err
		}, []string{"thread.moderation_mode", "thread.name", "update_mask"}},
		// A time or duration that does not convert must not hide the request's other bad fields.
		{"ListAuditEvents with a bad start_time, an end_time before 1970 and a negative page_size", func() error {
			_, err := e.mod.ListAuditEvents(e.as(t, modKeyName), &commentdv1.ListAuditEventsRequest{
				StartTime: badTime, EndTime: yearOne, PageSize: -1, Moderator: strings.Repeat("m", 65),
			})
			return err
		}, []string{"end_time", "moderator", "page_size", "start_time"}},
		{"ExportAuthorData with two bad times and a bad address", func() error {
			_, err := e.mod.ExportAuthorData(e.as(t, adminKeyName), &commentdv1.ExportAuthorDataRequest{
				AuthorEmail: "xena@", StartTime: badTime, EndTime: yearOne,
			})
			return err
		}, []string{"author_email", "end_time", "start_time"}},
		{"ListQueue with a bad max_create_time, state and page_size", func() error {
			_, err := e.mod.ListQueue(e.as(t, modKeyName), &commentdv1.ListQueueRequest{
				MaxCreateTime: badTime, State: commentdv1.State_STATE_PUBLISHED, PageSize: -1,
			})
			return err
		}, []string{"max_create_time", "page_size", "state"}},
		{"ReleaseComments with more than 50 names, one of them malformed", func() error {
			names := make([]string, 51)
			for i := range names {
				names[i] = fmt.Sprintf("comments/%026x", i)
			}
			names[3] = "comments/x y"
			_, err := e.mod.ReleaseComments(e.as(t, modKeyName), &commentdv1.ReleaseCommentsRequest{Names: names})
			return err
		}, []string{"names", "names[3]"}},
		{"ClaimComments with a bad lease, count and state", func() error {
			_, err := e.mod.ClaimComments(e.as(t, modKeyName), &commentdv1.ClaimCommentsRequest{
				Lease: &durationpb.Duration{Seconds: 1, Nanos: -1}, Count: -1, State: commentdv1.State_STATE_REJECTED,
			})
			return err
		}, []string{"count", "lease", "state"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument {
				t.Fatalf("called %s, got %v %q (%v), want InvalidArgument %q", tc.name, code, reason, err, grpcserver.ReasonInvalidArgument)
			}
			if diff := cmp.Diff(tc.wantFields, badRequestFields(err)); diff != "" {
				t.Errorf("called %s, got BadRequest fields differing from want (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// TestBadThreadIDSaysWhatIsWanted sends a malformed thread id to every call that takes one: each
// violation must say what a thread id is, as SubmitComment's does, not only that this is not one.
func TestBadThreadIDSaysWhatIsWanted(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	const bad = "article 1" // a space
	tests := []struct {
		name string
		call func() error
	}{
		{"SubmitComment", func() error {
			_, err := e.site.SubmitComment(e.as(t, siteKeyName), &commentdv1.SubmitCommentRequest{
				ThreadId: bad, AuthorName: "Jane", AuthorEmail: "jane@example.com", Body: "Hello",
			})
			return err
		}},
		{"ListComments", func() error {
			_, err := e.site.ListComments(e.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: bad})
			return err
		}},
		{"CountComments", func() error {
			_, err := e.site.CountComments(e.as(t, siteKeyName), &commentdv1.CountCommentsRequest{ThreadIds: []string{"article-2", bad}})
			return err
		}},
		{"ListQueue", func() error {
			_, err := e.mod.ListQueue(e.as(t, modKeyName), &commentdv1.ListQueueRequest{ThreadId: bad})
			return err
		}},
		{"ClaimComments", func() error {
			_, err := e.mod.ClaimComments(e.as(t, modKeyName), &commentdv1.ClaimCommentsRequest{ThreadId: bad})
			return err
		}},
		{"WatchQueue", func() error {
			stream, err := e.mod.WatchQueue(e.as(t, modKeyName), &commentdv1.WatchQueueRequest{ThreadId: bad})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
		{"GetThread", func() error {
			_, err := e.mod.GetThread(e.as(t, modKeyName), &commentdv1.GetThreadRequest{Name: "threads/" + bad})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			br, ok := detail[*errdetails.BadRequest](err)
			if status.Code(err) != codes.InvalidArgument || !ok || len(br.GetFieldViolations()) != 1 {
				t.Fatalf("called %s with thread id %q, got %v; want INVALID_ARGUMENT with one field violation", tc.name, bad, err)
			}
			if v := br.GetFieldViolations()[0]; !strings.Contains(v.GetDescription(), comment.ThreadIDRule) {
				t.Errorf("called %s with thread id %q, got violation %s: %q; want it to say what is wanted, %q",
					tc.name, bad, v.GetField(), v.GetDescription(), comment.ThreadIDRule)
			}
		})
	}
}

// TestCountCommentsEmptyEntry: an empty entry in CountComments' thread_ids is reported as missing
// (a gap in the site's list), not as a malformed id, and still says what an id is.
func TestCountCommentsEmptyEntry(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	_, err := e.site.CountComments(e.as(t, siteKeyName), &commentdv1.CountCommentsRequest{ThreadIds: []string{"article-2", ""}})
	br, ok := detail[*errdetails.BadRequest](err)
	if status.Code(err) != codes.InvalidArgument || !ok || len(br.GetFieldViolations()) != 1 {
		t.Fatalf("CountComments([article-2, \"\"]) = %v; want INVALID_ARGUMENT with one field violation", err)
	}
	v := br.GetFieldViolations()[0]
	if v.GetField() != "thread_ids[1]" || !strings.HasPrefix(v.GetDescription(), "required") || !strings.Contains(v.GetDescription(), comment.ThreadIDRule) {
		t.Errorf("CountComments([article-2, \"\"]) violation %s: %q; want thread_ids[1]: required ..., saying what an id is", v.GetField(), v.GetDescription())
	}
}

// TestEmptyNameIsRequired: a resource name left empty (a comment's, a thread's, a ban's, a
// filter's) is reported as missing, not as malformed, by every call that takes one, and still
// says what a name is.
func TestEmptyNameIsRequired(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	// The ban and word-list calls need their parts wired.
	bans := newBansEnv(t, ratelimit.BanRefuse)
	filters := newSpamEnv(t, spamEnvOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	tests := []struct {
		name, field string
		want        string // what the description says a name is; comments/{id} when empty
		call        func() error
	}{
		{"site GetComment", "name", "", func() error {
			_, err := e.site.GetComment(e.as(t, siteKeyName), &commentdv1.GetCommentRequest{})
			return err
		}},
		{"moderator GetComment", "name", "", func() error {
			_, err := e.mod.GetComment(e.as(t, modKeyName), &commentdv1.ModerationServiceGetCommentRequest{})
			return err
		}},
		{"ApproveComment", "name", "", func() error {
			_, err := e.mod.ApproveComment(e.as(t, modKeyName), &commentdv1.ApproveCommentRequest{})
			return err
		}},
		{"ReportComment", "name", "", func() error {
			_, err := e.site.ReportComment(e.as(t, siteKeyName), &commentdv1.ReportCommentRequest{Reason: "spam"})
			return err
		}},
		{"ReleaseComments", "names[1]", "", func() error {
			_, err := e.mod.ReleaseComments(e.as(t, modKeyName), &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/abc", ""}})
			return err
		}},
		{"GetThread", "name", "threads/{id}", func() error {
			_, err := e.mod.GetThread(e.as(t, modKeyName), &commentdv1.GetThreadRequest{})
			return err
		}},
		{"UpdateThread", "thread.name", "threads/{id}", func() error {
			_, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Closed: true}})
			return err
		}},
		{"DeleteBan", "name", "bans/{id}", func() error {
			_, err := bans.mod.DeleteBan(bans.as(t, modKeyName), &commentdv1.DeleteBanRequest{})
			return err
		}},
		{"DeleteFilter", "name", "filters/{id}", func() error {
			_, err := filters.mod.DeleteFilter(filters.as(t, modKeyName), &commentdv1.DeleteFilterRequest{})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			br, ok := detail[*errdetails.BadRequest](err)
			if status.Code(err) != codes.InvalidArgument || !ok || len(br.GetFieldViolations()) == 0 {
				t.Fatalf("called %s with an empty name, got %v; want INVALID_ARGUMENT with a field violation", tc.name, err)
			}
			want := tc.want
			if want == "" {
				want = "comments/{id}"
			}
			v := br.GetFieldViolations()[0]
			if v.GetField() != tc.field || !strings.HasPrefix(v.GetDescription(), "required") || !strings.Contains(v.GetDescription(), want) {
				t.Errorf("called %s with an empty name, got violation %s: %q; want %s: required (want %s...)", tc.name, v.GetField(), v.GetDescription(), tc.field, want)
			}
		})
	}
}

// TestLongListOfBadEntries sends requests whose repeated fields hold a thousand bad entries. The
// error must still be INVALID_ARGUMENT naming the first bad entries, and say how many more there
// are, without listing them all: a request of a few megabytes holds a million entries, and an
// error naming each would be larger than any client accepts (grpc-go's 16 MiB of trailers; other
// implementations allow 8 KiB), so the client got UNAVAILABLE or INTERNAL instead, after the
// server had spent about a gigabyte of memory on it.
func TestLongListOfBadEntries(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	const n = 1000
	many := func(s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	kinds := make([]commentdv1.QueueEventKind, n)
	for i := range kinds {
		kinds[i] = commentdv1.QueueEventKind(99)
	}
	tests := []struct {
		name      string
		call      func() error
		wantFirst string // the first field named
		wantMore  int    // more_violations
	}{
		{"CountComments with 1000 empty thread_ids", func() error {
			_, err := e.site.CountComments(e.as(t, siteKeyName), &commentdv1.CountCommentsRequest{ThreadIds: many("")})
			return err
		}, "thread_ids", n + 1 - 20},
		{"ReleaseComments with 1000 bad names", func() error {
			_, err := e.mod.ReleaseComments(e.as(t, modKeyName), &commentdv1.ReleaseCommentsRequest{Names: many("comments/x y")})
			return err
		}, "names", n + 1 - 20},
		{"UpdateThread with 1000 unknown paths", func() error {
			_, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
				Thread: &commentdv1.Thread{Name: "threads/t-1"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: many("title")},
			})
			return err
		}, "update_mask", n - 20},
		{"WatchQueue with 1000 unknown kinds", func() error {
			stream, err := e.mod.WatchQueue(e.as(t, modKeyName), &commentdv1.WatchQueueRequest{Kinds: kinds})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, "kinds[0]", n - 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st, info := errorInfo(err)
			if st.Code() != codes.InvalidArgument || info.GetReason() != grpcserver.ReasonInvalidArgument {
				t.Fatalf("called %s, got %v %q, want InvalidArgument %q", tc.name, st.Code(), info.GetReason(), grpcserver.ReasonInvalidArgument)
			}
			br, _ := detail[*errdetails.BadRequest](err)
			got := br.GetFieldViolations()
			if first := ""; len(got) != 20 || got[0].GetField() != tc.wantFirst {
				if len(got) > 0 {
					first = got[0].GetField()
				}
				t.Errorf("called %s, got %d field violations (the first on %q), want 20, the first on %q", tc.name, len(got), first, tc.wantFirst)
			}
			if got, want := info.GetMetadata()["more_violations"], strconv.Itoa(tc.wantMore); got != want {
				t.Errorf("called %s, got metadata more_violations %q, want %q", tc.name, got, want)
			}
			if size := proto.Size(st.Proto()) + len(st.Message()); size > 8<<10 {
				t.Errorf("called %s, got an error of %d bytes, want at most 8 KiB", tc.name, size)
			}
		})
	}
}

// TestUnknownMaskPathQuotedShort sends UpdateThread a field mask path of megabytes: the error
// quotes the start of it only, so the client gets the INVALID_ARGUMENT, not an error too large
// for it (INTERNAL "peer header list size exceeded limit").
func TestUnknownMaskPathQuotedShort(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	path := strings.Repeat("é", 1_900_000)
	_, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{
		Thread: &commentdv1.Thread{Name: "threads/t-1"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}},
	})
	st, info := errorInfo(err)
	if st.Code() != codes.InvalidArgument || info.GetReason() != grpcserver.ReasonInvalidArgument {
		t.Fatalf("called UpdateThread with a path of %d bytes, got %v %q, want InvalidArgument %q", len(path), st.Code(), info.GetReason(), grpcserver.ReasonInvalidArgument)
	}
	if got := badRequestFields(err); !cmp.Equal(got, []string{"update_mask"}) {
		t.Errorf("called UpdateThread with a path of %d bytes, got bad fields %v, want [update_mask]", len(path), got)
	}
	if size := proto.Size(st.Proto()) + len(st.Message()); size > 8<<10 {
		t.Errorf("called UpdateThread with a path of %d bytes, got an error of %d bytes, want at most 8 KiB", len(path), size)
	}
}

// TestUpdateThreadIDMustMatchName: UpdateThread changes the thread its thread.name names. A
// thread_id naming another thread (a message built for one thread and renamed for another) is
// refused, and neither thread changes; an empty one, or the same id, is fine.
func TestUpdateThreadIDMustMatchName(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	tests := []struct {
		name       string
		threadID   string
		wantFields []string // nil: the update is made
	}{
		{"no thread_id", "", nil},
		{"the same thread_id", "t-a", nil},
		{"another thread_id", "t-b", []string{"thread.thread_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := false
			for _, id := range []string{"t-a", "t-b"} {
				if _, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
					Thread: &commentdv1.Thread{Name: "threads/" + id, Closed: open}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
				}); err != nil {
					t.Fatalf("called UpdateThread(%s, open): %v", id, err)
				}
			}
			_, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
				Thread:     &commentdv1.Thread{Name: "threads/t-a", ThreadId: tt.threadID, Closed: true},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
			})
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("called UpdateThread(threads/t-a, thread_id %q), got %v, want nil", tt.threadID, err)
				}
			} else {
				if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument {
					t.Fatalf("called UpdateThread(threads/t-a, thread_id %q), got %v %q, want InvalidArgument", tt.threadID, code, reason)
				}
				if got := badRequestFields(err); !cmp.Equal(got, tt.wantFields) {
					t.Errorf("called UpdateThread(threads/t-a, thread_id %q), got bad fields %v, want %v", tt.threadID, got, tt.wantFields)
				}
			}
			for _, id := range []string{"t-a", "t-b"} {
				th, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: id})
				if err != nil {
					t.Fatalf("called GetThread(%s): %v", id, err)
				}
				wantClosed := id == "t-a" && tt.wantFields == nil
				if th.GetThread().GetClosed() != wantClosed {
					t.Errorf("after UpdateThread(threads/t-a, thread_id %q), thread %s closed %v, want %v", tt.threadID, id, th.GetThread().GetClosed(), wantClosed)
				}
			}
		})
	}
}

// TestNegativePageSizeRefused: every list call refuses a negative page_size with INVALID_ARGUMENT
// naming it (0 asks for the default), as Google's API guides ask.
func TestNegativePageSizeRefused(t *testing.T) {
	s := newSpamEnv(t, spamEnvOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	b := newBansEnv(t, ratelimit.BanRefuse)
	mod := func(e *env) context.Context { return e.as(t, modKeyName) }
	tests := []struct {
		name string
		call func(size int32) error
	}{
		{"ListComments", func(size int32) error {
			_, err := s.site.ListComments(s.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: "pages", PageSize: size})
			return err
		}},
		{"ListQueue", func(size int32) error {
			_, err := s.mod.ListQueue(mod(s.env), &commentdv1.ListQueueRequest{PageSize: size})
			return err
		}},
		{"ListAuditEvents", func(size int32) error {
			_, err := s.mod.ListAuditEvents(mod(s.env), &commentdv1.ListAuditEventsRequest{PageSize: size})
			return err
		}},
		{"ListFilters", func(size int32) error {
			_, err := s.mod.ListFilters(mod(s.env), &commentdv1.ListFiltersRequest{PageSize: size})
			return err
		}},
		{"ListBans", func(size int32) error {
			_, err := b.mod.ListBans(mod(b), &commentdv1.ListBansRequest{PageSize: size})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(0); err != nil {
				t.Fatalf("called %s with page_size 0, got error %v, want the default page", tc.name, err)
			}
			err := tc.call(-1)
			if code := status.Code(err); code != codes.InvalidArgument {
				t.Fatalf("called %s with page_size -1, got %v (%v), want InvalidArgument", tc.name, code, err)
			}
			if diff := cmp.Diff([]string{"page_size"}, badRequestFields(err)); diff != "" {
				t.Errorf("called %s with page_size -1, got BadRequest fields (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// TestListCommentsOrderBy sends each form of order_by the API documents, and some it refuses.
func TestListCommentsOrderBy(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	for _, body := range []string{"first", "second"} {
		e.submit(t, validSubmission("order", body))
	}
	tests := []struct {
		orderBy   string
		wantFirst string // the first comment's body; "" when the call must be refused
	}{
		{"", "first"},
		{"create_time", "first"},
		{"create_time asc", "first"},
		{"create_time desc", "second"},
		{"  create_time   desc ", "second"},
		{"CREATE_TIME DESC", ""},
		{"create_time descending", ""},
		{"publish_time", ""},
		{"create_time desc, id", ""},
	}
	for _, tc := range tests {
		resp, err := e.site.ListComments(e.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: "order", OrderBy: tc.orderBy})
		if tc.wantFirst == "" {
			if fields := badRequestFields(err); status.Code(err) != codes.InvalidArgument || !slices.Equal(fields, []string{"order_by"}) {
				t.Errorf("called ListComments(order_by %q), got %v fields %v, want InvalidArgument on order_by", tc.orderBy, err, fields)
			}
			continue
		}
		if err != nil || len(resp.GetComments()) != 2 || resp.GetComments()[0].GetBody() != tc.wantFirst {
			t.Errorf("called ListComments(order_by %q), got %d comments, %v; want 2, %q first", tc.orderBy, len(resp.GetComments()), err, tc.wantFirst)
		}
	}
}

// TestLongCommentsPageFitsAMessage fills a thread and the queue with comments of the longest body
// in four-byte characters: a page of all of them would be past the 4 MiB a gRPC client accepts by
// default. Each page must arrive (fewer comments than asked, with a next page token), and paging
// must give every comment once.
func TestLongCommentsPageFitsAMessage(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	e.setMode(t, "long-pre", commentdv1.ModerationMode_MODERATION_MODE_PRE)
	const n = 220 // 220 × 5,000 × 4 bytes = 4.4 MB
	long := strings.Repeat("😀", 4990)
	for i := range n {
		for _, thread := range []string{"long-post", "long-pre"} {
			r := validSubmission(thread, fmt.Sprintf("%04d %s", i, long))
			r.AuthorEmail = fmt.Sprintf("reader%d@example.com", i)
			e.submit(t, r)
		}
	}
	seen := map[string]bool{}
	pages := 0
	for token := ""; ; pages++ {
		resp, err := e.site.ListComments(e.as(t, siteKeyName), &commentdv1.ListCommentsRequest{ThreadId: "long-post", PageSize: 500, PageToken: token})
		if err != nil {
			t.Fatalf("called ListComments(page %d of long comments), got error %v", pages+1, err)
		}
		for _, c := range resp.GetComments() {
			if seen[c.GetName()] {
				t.Errorf("called ListComments, got %s twice", c.GetName())
			}
			seen[c.GetName()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != n || pages < 1 {
		t.Errorf("called ListComments until the last page, got %d comments in %d pages, want %d in more than one", len(seen), pages+1, n)
	}
	queued := 0
	for token := ""; ; {
		resp, err := e.mod.ListQueue(e.as(t, modKeyName), &commentdv1.ListQueueRequest{ThreadId: "long-pre", PageSize: 500, PageToken: token})
		if err != nil {
			t.Fatalf("called ListQueue(long comments), got error %v", err)
		}
		queued += len(resp.GetComments())
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if queued != n {
		t.Errorf("called ListQueue until the last page, got %d comments, want %d", queued, n)
	}
}

// TestDecisionReasonWithoutEmail: a decision's reason is kept with the comment and in the audit
// log, which an erasure request leaves in place, so a reason holding an email or IP address is
// refused, and the comment is left as it was.
func TestDecisionReasonWithoutEmail(t *testing.T) {
	e := newWorkflowEnv(t, workflowOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	held := submitHeld(t, e, "reasons", 1)[0]
	mod := e.as(t, modKeyName)
	for _, reason := range []string{"sock puppet of troll@example.com", "same as (mailto:Troll@Example.com).",
		"spam run from 198.51.100.7", "same device as [2001:db8::7]:443"} {
		_, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: held, Reason: reason})
		if code, _ := codeReason(err); code != codes.InvalidArgument || !slices.Equal(badRequestFields(err), []string{"reason"}) {
			t.Errorf("called RejectComment(reason %q), got %v; want InvalidArgument on reason", reason, err)
		}
		_, err = e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: "comments/x y", Reason: reason})
		if fields := badRequestFields(err); !slices.Equal(fields, []string{"name", "reason"}) {
			t.Errorf("called ApproveComment(bad name, reason %q), got fields %v; want name and reason", reason, fields)
		}
	}
	got, err := e.mod.GetComment(mod, &commentdv1.ModerationServiceGetCommentRequest{Name: held})
	if err != nil || got.GetComment().GetComment().GetState() != commentdv1.State_STATE_PENDING {
		t.Errorf("after refused decisions, got %v, %v; want the comment still pending", got.GetComment().GetComment().GetState(), err)
	}
	if _, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: held, Reason: "ask @troll to stop; see j•••@example.com's other comments from 198.51.100.x"}); err != nil {
		t.Errorf("called RejectComment with a handle and masked addresses in the reason, got %v; want it decided", err)
	}
}

// TestUpdateThreadMaskPaths: "*" changes every field UpdateThread can change (AIP-134), and the
// paths of fields it cannot change (the name, thread_id and the output-only fields) are ignored
// rather than refused (AIP-203), as a mask built from the whole message names them. Any other
// path is refused, and nothing changes.
func TestUpdateThreadMaskPaths(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	pre := commentdv1.ModerationMode_MODERATION_MODE_PRE
	tests := []struct {
		name       string
		paths      []string
		wantMode   commentdv1.ModerationMode
		wantClosed bool
		wantFields []string // nil: the update is made
	}{
		{"wildcard", []string{"*"}, pre, true, nil},
		{"wildcard and a field", []string{"closed", "*"}, pre, true, nil},
		{"mode and output-only fields", []string{"moderation_mode", "name", "thread_id", "effective_moderation_mode", "close_reason", "auto_close_time"}, pre, false, nil},
		{"output-only fields only", []string{"effective_moderation_mode", "close_reason"}, commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, false, nil},
		// A thread read from ListThreads carries an update_time, and any thread an etag: a mask
		// built from the whole message names them.
		{"closed, the etag and the update time", []string{"closed", "etag", "update_time"}, commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, true, nil},
		{"an unknown path", []string{"closed", "title"}, commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, false, []string{"update_mask"}},
		{"a path into a field", []string{"closed", "auto_close_time.seconds"}, commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, false, []string{"update_mask"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("threads/mask-%d", i)
			_, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
				Thread: &commentdv1.Thread{Name: name, ModerationMode: pre, Closed: true,
					EffectiveModerationMode: pre, CloseReason: commentdv1.ThreadCloseReason_THREAD_CLOSE_REASON_AGE},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: tt.paths},
			})
			if got := badRequestFields(err); (tt.wantFields == nil && err != nil) || !cmp.Equal(got, tt.wantFields) {
				t.Errorf("called UpdateThread(%s, mask %q), got %v (bad fields %v), want bad fields %v", name, tt.paths, err, got, tt.wantFields)
			}
			th, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: name})
			if err != nil {
				t.Fatalf("called GetThread(%s): %v", name, err)
			}
			if th.GetThread().GetModerationMode() != tt.wantMode || th.GetThread().GetClosed() != tt.wantClosed {
				t.Errorf("called UpdateThread(%s, mask %q), then GetThread: got mode %v closed %v, want mode %v closed %v",
					name, tt.paths, th.GetThread().GetModerationMode(), th.GetThread().GetClosed(), tt.wantMode, tt.wantClosed)
			}
		})
	}
}

// TestUpdateThreadWithoutMask: without an update_mask, UpdateThread changes the fields the thread
// sets (AIP-134), so a site that sends only a mode leaves a closed thread closed, and one that
// sends only closed leaves the mode alone.
func TestUpdateThreadWithoutMask(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	pre, post := commentdv1.ModerationMode_MODERATION_MODE_PRE, commentdv1.ModerationMode_MODERATION_MODE_POST
	tests := []struct {
		name       string
		before     *commentdv1.Thread // set first, with mask "*"
		send       *commentdv1.Thread // sent without a mask
		wantMode   commentdv1.ModerationMode
		wantClosed bool
	}{
		{"mode only, on a closed thread", &commentdv1.Thread{Closed: true}, &commentdv1.Thread{ModerationMode: post}, post, true},
		{"closed only, on a pre-moderated thread", &commentdv1.Thread{ModerationMode: pre}, &commentdv1.Thread{Closed: true}, pre, true},
		{"both", &commentdv1.Thread{}, &commentdv1.Thread{ModerationMode: pre, Closed: true}, pre, true},
		{"neither, on a closed pre-moderated thread", &commentdv1.Thread{ModerationMode: pre, Closed: true}, &commentdv1.Thread{}, pre, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("threads/no-mask-%d", i)
			tt.before.Name, tt.send.Name = name, name
			if _, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: tt.before, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}}}); err != nil {
				t.Fatalf("called UpdateThread(%v, mask *): %v", tt.before, err)
			}
			up, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: tt.send})
			if err != nil {
				t.Fatalf("called UpdateThread(%v) without a mask: %v", tt.send, err)
			}
			if up.GetThread().GetModerationMode() != tt.wantMode || up.GetThread().GetClosed() != tt.wantClosed {
				t.Errorf("called UpdateThread(%v) without a mask on %v, got mode %v closed %v, want mode %v closed %v",
					tt.send, tt.before, up.GetThread().GetModerationMode(), up.GetThread().GetClosed(), tt.wantMode, tt.wantClosed)
			}
		})
	}
}
