package grpcserver_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// Every read of a thread gives the same etag until an update changes it: GetThread twice, and an
// update that changes nothing. An update that changes the thread answers with the new etag, the
// one GetThread then gives.
func TestThreadETagStableAcrossReads(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	const name = "threads/etag-reads"
	get := func() string {
		t.Helper()
		got, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: name})
		if err != nil {
			t.Fatalf("GetThread(%s) = %v", name, err)
		}
		return got.GetThread().GetEtag()
	}
	etag := get()
	if etag == "" {
		t.Fatalf("GetThread(%s) gave no etag", name)
	}
	if again := get(); again != etag {
		t.Errorf("GetThread(%s) twice = etag %s, then %s; want the same", name, etag, again)
	}
	// Nothing to change (the thread is open already): the etag stays.
	same, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: name, Etag: etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"closed"}},
	})
	if err != nil || same.GetThread().GetEtag() != etag {
		t.Errorf("UpdateThread(%s, closed false, etag %s) on an open thread = etag %s, %v; want the same etag", name, etag, same.GetThread().GetEtag(), err)
	}
	closed, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: name, Closed: true, Etag: etag}})
	if err != nil {
		t.Fatalf("UpdateThread(%s, closed, etag %s) = %v", name, etag, err)
	}
	if now := get(); closed.GetThread().GetEtag() == etag || closed.GetThread().GetEtag() != now {
		t.Errorf("UpdateThread(%s, closed) answered etag %s, GetThread then %s; want a new etag, the same in both (was %s)", name, closed.GetThread().GetEtag(), now, etag)
	}
}

// A moderator closes a thread while a colleague, from the same reading, writes the whole thread
// back with pre-moderation and closed false (the reading's): the colleague's update, sent with the
// etag both read, is refused with ABORTED, ETAG_MISMATCH and the thread as it is now; it changes
// nothing and records nothing in the audit log. With the etag of the thread now it goes through.
func TestUpdateThreadWithStaleETagRefused(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	first, second := e.as(t, modKeyName), e.as(t, adminKeyName)
	const name = "threads/etag-race"
	read, err := e.mod.GetThread(second, &commentdv1.GetThreadRequest{Name: name})
	if err != nil {
		t.Fatalf("GetThread(%s) = %v", name, err)
	}
	etag := read.GetThread().GetEtag()
	closed, err := e.mod.UpdateThread(first, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: name, Closed: true, Etag: etag}})
	if err != nil {
		t.Fatalf("UpdateThread(%s, closed, etag %s) by %s = %v", name, etag, modKeyName, err)
	}
	audited := func() int {
		t.Helper()
		resp, err := e.mod.ListAuditEvents(second, &commentdv1.ListAuditEventsRequest{Target: name})
		if err != nil {
			t.Fatalf("ListAuditEvents(target %s) = %v", name, err)
		}
		return len(resp.GetEvents())
	}
	before := audited()

	writeBack := read.GetThread()
	writeBack.ModerationMode = commentdv1.ModerationMode_MODERATION_MODE_PRE
	_, err = e.mod.UpdateThread(second, &commentdv1.UpdateThreadRequest{Thread: writeBack, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}}})

	checkStatus(t, "UpdateThread(mode pre, closed false, mask *) with the etag read before the close", err, codes.Aborted,
		&errdetails.ErrorInfo{Reason: grpcserver.ReasonETagMismatch, Domain: grpcserver.ErrorDomain, Metadata: map[string]string{
			"name": name, "etag": closed.GetThread().GetEtag(),
			"moderation_mode": "MODERATION_MODE_UNSPECIFIED", "closed": "true",
			"close_reason": "THREAD_CLOSE_REASON_MODERATOR",
		}}, nil)
	now, err := e.mod.GetThread(second, &commentdv1.GetThreadRequest{Name: name})
	if err != nil {
		t.Fatalf("GetThread(%s) = %v", name, err)
	}
	if diff := cmp.Diff(closed.GetThread(), now.GetThread(), protocmp.Transform()); diff != "" {
		t.Errorf("UpdateThread(%s) with a stale etag changed the thread (-after the close +now):\n%s", name, diff)
	}
	if n := audited(); n != before {
		t.Errorf("audit entries on %s after a refused update = %d; want %d", name, n, before)
	}
	// With the etag of the thread as it is now, the same write-back goes through.
	writeBack.Etag = now.GetThread().GetEtag()
	got, err := e.mod.UpdateThread(second, &commentdv1.UpdateThreadRequest{Thread: writeBack, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}}})
	if err != nil || got.GetThread().GetClosed() || got.GetThread().GetModerationMode() != commentdv1.ModerationMode_MODERATION_MODE_PRE {
		t.Errorf("UpdateThread(%s, mode pre, closed false, etag of now) = %v, %v; want pre-moderated and open", name, got.GetThread(), err)
	}
}

// A malformed etag is a bad request, named with the other bad fields; a mask naming "etag", as
// one built from the whole message does, is not.
func TestUpdateThreadMalformedETag(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	mod := e.as(t, modKeyName)
	for _, tt := range []struct {
		name, etag string
		want       []string
	}{
		{"threads/etag-bad", "0123456789abcdef", []string{"thread.etag"}},
		{"threads/etag-bad", `W/"0123456789ABCDEF"`, []string{"thread.etag"}},
		{"threads/", `W/"nothex"`, []string{"thread.etag", "thread.name"}},
	} {
		_, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: tt.name, Closed: true, Etag: tt.etag}})
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument {
			t.Errorf("UpdateThread(%q, etag %q) = %v; want INVALID_ARGUMENT", tt.name, tt.etag, err)
		}
		if diff := cmp.Diff(tt.want, badRequestFields(err)); diff != "" {
			t.Errorf("UpdateThread(%q, etag %q) bad fields (-want +got):\n%s", tt.name, tt.etag, diff)
		}
	}
	th, err := e.mod.GetThread(mod, &commentdv1.GetThreadRequest{Name: "threads/etag-bad"})
	if err != nil || th.GetThread().GetClosed() {
		t.Fatalf("GetThread(threads/etag-bad) after refused updates = %v, %v; want open", th.GetThread(), err)
	}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"closed", "etag"}}
	th2, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: "threads/etag-bad", Closed: true, Etag: th.GetThread().GetEtag()}, UpdateMask: mask})
	if err != nil || !th2.GetThread().GetClosed() {
		t.Errorf("UpdateThread(threads/etag-bad, closed, mask %v) = %v, %v; want closed", mask.GetPaths(), th2.GetThread(), err)
	}
}
