package grpcserver_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// ListThreads lists the threads moderators configured, most recently changed first, each as
// GetThread gives it plus the time of its last change, in pages whose tokens carry on across the
// store's shards; a thread put back at the site default and reopened leaves the list, and one that
// only has comments is never in it.
func TestListThreads(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	e.submit(t, validSubmission("only-comments", "A comment, no settings."))
	update := func(name string, th *commentdv1.Thread, paths ...string) {
		t.Helper()
		th.Name = name
		if _, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: th, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}); err != nil {
			t.Fatalf("UpdateThread(%s) = %v", name, err)
		}
	}
	// In order of change; "threads/t-gone" leaves the list again.
	update("threads/t-pre", &commentdv1.Thread{ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE})
	update("threads/t-gone", &commentdv1.Thread{Closed: true})
	update("threads/t-closed", &commentdv1.Thread{Closed: true})
	update("threads/t-both", &commentdv1.Thread{ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST, Closed: true})
	update("threads/t-gone", &commentdv1.Thread{}, "*")
	want := []string{"threads/t-both", "threads/t-closed", "threads/t-pre"}

	var got []*commentdv1.Thread
	token := ""
	for range len(want) + 1 {
		resp, err := e.mod.ListThreads(mod, &commentdv1.ListThreadsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListThreads(page_size 1, page_token %q) = %v", token, err)
		}
		got = append(got, resp.GetThreads()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var names []string
	for _, th := range got {
		names = append(names, th.GetName())
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("ListThreads in pages of 1 (-want +got):\n%s", diff)
	}
	for _, th := range got {
		one, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: th.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(one.GetThread(), th, protocmp.Transform(), protocmp.IgnoreFields(&commentdv1.Thread{}, "update_time")); diff != "" {
			t.Errorf("ListThreads' %s differs from GetThread's (-get +list):\n%s", th.GetName(), diff)
		}
		if ut := th.GetUpdateTime().AsTime(); time.Since(ut) > time.Minute || time.Until(ut) > time.Second {
			t.Errorf("ListThreads' %s has update_time %v, want the time of its last update (just now)", th.GetName(), th.GetUpdateTime())
		}
	}

	closed := true
	resp, err := e.mod.ListThreads(mod, &commentdv1.ListThreadsRequest{ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST, Closed: &closed})
	if err != nil || len(resp.GetThreads()) != 1 || resp.GetThreads()[0].GetName() != "threads/t-both" {
		t.Errorf("ListThreads(post, closed) = %v, %v; want threads/t-both alone", resp, err)
	}
}

// ListThreads refuses what the other List calls refuse, the same way: a token it did not make,
// or made for other filters, on page_token; a negative page_size; and an unknown mode.
func TestListThreadsRefusesBadRequests(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	mod := e.as(t, modKeyName)
	for _, name := range []string{"threads/bad-1", "threads/bad-2"} {
		e.setMode(t, name[len("threads/"):], commentdv1.ModerationMode_MODERATION_MODE_PRE)
	}
	first, err := e.mod.ListThreads(mod, &commentdv1.ListThreadsRequest{PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("ListThreads(page_size 1) = %v, %v; want a next page token", first, err)
	}
	tests := []struct {
		name       string
		req        *commentdv1.ListThreadsRequest
		wantReason string
		wantFields []string
	}{
		{"a token not made by the server", &commentdv1.ListThreadsRequest{PageToken: "bm90LWEtdG9rZW4"}, grpcserver.ReasonInvalidPageToken, []string{"page_token"}},
		{"a token of other filters", &commentdv1.ListThreadsRequest{PageToken: first.GetNextPageToken(), ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE}, grpcserver.ReasonInvalidPageToken, []string{"page_token"}},
		{"a negative page size and an unknown mode", &commentdv1.ListThreadsRequest{PageSize: -1, ModerationMode: 7}, grpcserver.ReasonInvalidArgument, []string{"moderation_mode", "page_size"}},
	}
	for _, tt := range tests {
		_, err := e.mod.ListThreads(mod, tt.req)
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != tt.wantReason {
			t.Errorf("ListThreads with %s = %v %q, want InvalidArgument %q", tt.name, code, reason, tt.wantReason)
		}
		if diff := cmp.Diff(tt.wantFields, badRequestFields(err)); diff != "" {
			t.Errorf("ListThreads with %s: BadRequest fields (-want +got):\n%s", tt.name, diff)
		}
	}
}

// ListThreads is a moderator's call: a site key is refused, as for GetThread and UpdateThread.
func TestListThreadsNeedsAModerator(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	for _, tt := range []struct {
		key  string
		want codes.Code
	}{{siteKeyName, codes.PermissionDenied}, {modKeyName, codes.OK}, {adminKeyName, codes.OK}} {
		_, err := e.mod.ListThreads(e.as(t, tt.key), &commentdv1.ListThreadsRequest{})
		if code, _ := codeReason(err); code != tt.want {
			t.Errorf("ListThreads with key %s = %v, want %v", tt.key, code, tt.want)
		}
	}
}
