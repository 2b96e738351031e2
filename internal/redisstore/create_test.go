package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

func TestCreateRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	const thread = "rt-thread"

	parent := draft(ts.Store, thread, 1)
	held := draft(ts.Store, thread, 2)
	held.ParentID = parent.ID
	held.State = comment.StateSpam
	held.PublishedAt = time.Time{}
	held.HoldReasons = []comment.Reason{{Code: "SPAM_LINKS", Message: "too many links"}, {Code: "BANNED_WORD", Message: `contains "x", [y]`}}
	bare := draft(ts.Store, thread, 3)
	bare.ParentID = parent.ID
	bare.IPSealed, bare.IPKey, bare.UserAgent = "", "", ""
	held.Depth, bare.Depth = 1, 1 // the store's: one below the parent

	for _, c := range []comment.Comment{parent, held, bare} {
		got, created, err := ts.Create(ctx, c, comment.CreateOptions{DefaultMode: comment.ModePost})
		if err != nil || !created {
			t.Fatalf("Create(%s) = created %v, %v; want created, no error", c.ID, created, err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("Create(%s) returned (-want +got):\n%s", c.ID, diff)
		}
		stored, err := ts.Get(ctx, c.ID)
		if err != nil {
			t.Fatalf("Get(%s) = %v", c.ID, err)
		}
		if diff := cmp.Diff(c, stored); diff != "" {
			t.Errorf("Get(%s) (-want +got):\n%s", c.ID, diff)
		}
		if loc := stored.CreatedAt.Location(); loc != time.UTC {
			t.Errorf("Get(%s).CreatedAt location = %v, want UTC", c.ID, loc)
		}
	}

	list, next, err := pageOf(ts.ListPublished(ctx, thread, comment.Page{Size: 10}))
	if err != nil {
		t.Fatalf("ListPublished(%s) = %v", thread, err)
	}
	if diff := cmp.Diff([]comment.Comment{parent, bare}, list); diff != "" || next != "" {
		t.Errorf("ListPublished(%s) = next %q, (-want +got):\n%s; want next \"\"", thread, next, diff)
	}
	counts, err := publishedCounts(ts.CountPublished(ctx, []string{thread, "rt-nothing", thread}))
	if diff := cmp.Diff([]int64{2, 0, 2}, counts); err != nil || diff != "" {
		t.Errorf("CountPublished(%s, rt-nothing, %s) = %v, %v; want [2 0 2]", thread, thread, counts, err)
	}
	if counts, err := publishedCounts(ts.CountPublished(ctx, nil)); err != nil || len(counts) != 0 {
		t.Errorf("CountPublished(nil) = %v, %v; want [], no error", counts, err)
	}
}

func TestCreateAppliesModerationMode(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	pre, post := comment.ModePre, comment.ModePost
	tests := []struct {
		name        string
		threadMode  *comment.Mode // nil: thread never configured
		siteDefault comment.Mode
		submitted   comment.State
		wantState   comment.State
		wantPreHold bool
	}{
		{name: "unconfigured thread, site post", siteDefault: comment.ModePost, submitted: comment.StatePublished, wantState: comment.StatePublished},
		{name: "unconfigured thread, site default means post", siteDefault: comment.ModeDefault, submitted: comment.StatePublished, wantState: comment.StatePublished},
		{name: "unconfigured thread, site pre", siteDefault: comment.ModePre, submitted: comment.StatePublished, wantState: comment.StatePending, wantPreHold: true},
		{name: "thread pre overrides site post", threadMode: &pre, siteDefault: comment.ModePost, submitted: comment.StatePublished, wantState: comment.StatePending, wantPreHold: true},
		{name: "thread post overrides site pre", threadMode: &post, siteDefault: comment.ModePre, submitted: comment.StatePublished, wantState: comment.StatePublished},
		{name: "pre leaves a spam verdict alone", threadMode: &pre, siteDefault: comment.ModePost, submitted: comment.StateSpam, wantState: comment.StateSpam},
		{name: "pre leaves an already held comment alone", siteDefault: comment.ModePre, submitted: comment.StatePending, wantState: comment.StatePending},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			thread := "mode-" + string(rune('a'+i))
			if tt.threadMode != nil {
				if _, _, err := ts.UpdateThread(ctx, "", thread, tt.threadMode, nil, ""); err != nil {
					t.Fatalf("UpdateThread(%s, mode %v) = %v", thread, *tt.threadMode, err)
				}
			}
			c := draft(ts.Store, thread, i)
			c.State = tt.submitted
			var screenerReasons []comment.Reason
			if tt.submitted != comment.StatePublished {
				c.PublishedAt = time.Time{}
				screenerReasons = []comment.Reason{{Code: "SCREENED", Message: "held by a screener"}}
				c.HoldReasons = screenerReasons
			}
			got, created, err := ts.Create(ctx, c, comment.CreateOptions{DefaultMode: tt.siteDefault})
			if err != nil || !created {
				t.Fatalf("Create(state %v, site %v) = created %v, err %v; want created, no error", tt.submitted, tt.siteDefault, created, err)
			}
			wantReasons := screenerReasons
			if tt.wantPreHold {
				wantReasons = append(wantReasons, comment.Reason{Code: comment.ReasonPreModeration, Message: preModerationMessage})
			}
			if got.State != tt.wantState {
				t.Errorf("Create(state %v, thread mode %v, site %v) stored state %v, want %v", tt.submitted, tt.threadMode, tt.siteDefault, got.State, tt.wantState)
			}
			if diff := cmp.Diff(wantReasons, got.HoldReasons, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Create(...) hold reasons (-want +got):\n%s", diff)
			}
			if (got.State == comment.StatePublished) == got.PublishedAt.IsZero() {
				t.Errorf("Create(...) stored state %v with PublishedAt %v; want a publication time exactly when published", got.State, got.PublishedAt)
			}
			stored, err := ts.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get(%s) = %v", c.ID, err)
			}
			if diff := cmp.Diff(got, stored); diff != "" {
				t.Errorf("Get(%s) differs from what Create returned (-create +get):\n%s", c.ID, diff)
			}
			if diff := cmp.Diff(wantMembership(tt.wantState), indexMembership(t, ts, thread, c.ID)); diff != "" {
				t.Errorf("indexes holding %s (-want +got):\n%s", c.ID, diff)
			}
		})
	}
}

func TestCreateRefusesClosedThread(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	closed, open := true, false
	if _, _, err := ts.UpdateThread(ctx, "", "closed-thread", nil, &closed, ""); err != nil {
		t.Fatalf("UpdateThread(closed) = %v", err)
	}
	before := scanKeys(t, ts.rdb, ts.prefix)
	c := draft(ts.Store, "closed-thread", 1)
	if _, _, err := ts.Create(ctx, c, comment.CreateOptions{RequestID: "r1"}); !errors.Is(err, comment.ErrThreadClosed) {
		t.Fatalf("Create in a closed thread = %v, want ErrThreadClosed", err)
	}
	if diff := cmp.Diff(before, scanKeys(t, ts.rdb, ts.prefix)); diff != "" {
		t.Errorf("keys after a refused Create (-before +after):\n%s", diff)
	}
	if _, _, err := ts.UpdateThread(ctx, "", "closed-thread", nil, &open, ""); err != nil {
		t.Fatalf("UpdateThread(open) = %v", err)
	}
	if _, created, err := ts.Create(ctx, c, comment.CreateOptions{RequestID: "r1"}); err != nil || !created {
		t.Fatalf("Create after reopening = created %v, %v; want created, no error", created, err)
	}
}

func TestCreateChecksParent(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	thread := threadInShard("parent", 5)
	sameShardThread := threadInShard("parent-other", 5)
	otherShardThread := threadInShard("parent-far", 9)

	published := mustCreate(t, ts.Store, draft(ts.Store, thread, 1), comment.CreateOptions{})
	pendingDraft := draft(ts.Store, thread, 2)
	pendingDraft.State = comment.StatePending
	pending := mustCreate(t, ts.Store, pendingDraft, comment.CreateOptions{})
	inSameShard := mustCreate(t, ts.Store, draft(ts.Store, sameShardThread, 3), comment.CreateOptions{})
	inOtherShard := mustCreate(t, ts.Store, draft(ts.Store, otherShardThread, 4), comment.CreateOptions{})

	tests := []struct {
		name    string
		parent  string
		wantErr error
	}{
		{name: "published parent in the thread", parent: published.ID},
		{name: "no such comment", parent: ts.NewID(thread), wantErr: comment.ErrParentNotFound},
		{name: "parent in another thread of the same shard", parent: inSameShard.ID, wantErr: comment.ErrParentNotFound},
		{name: "parent in another thread of another shard", parent: inOtherShard.ID, wantErr: comment.ErrParentNotFound},
		{name: "id this store never issued", parent: "zz-not-ours", wantErr: comment.ErrParentNotFound},
		{name: "pending parent", parent: pending.ID, wantErr: comment.ErrParentNotPublished},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(ts.Store, thread, 10+i)
			c.ParentID = tt.parent
			got, _, err := ts.Create(ctx, c, comment.CreateOptions{})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Create(reply to %s) = %v, want %v", tt.parent, err, tt.wantErr)
			}
			if tt.wantErr == nil && got.ParentID != tt.parent {
				t.Errorf("Create(reply to %s) stored parent %q", tt.parent, got.ParentID)
			}
			if _, err := ts.Get(ctx, c.ID); (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Get(%s) after Create returning %v = %v; want it stored only on success", c.ID, tt.wantErr, err)
			}
		})
	}
}

func TestCreateWithSeenRequestIDReturnsEarlierComment(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	opts := comment.CreateOptions{RequestID: "req-{42}:x/y"}

	first, created, err := ts.Create(ctx, draft(ts.Store, "idem", 1), opts)
	if err != nil || !created {
		t.Fatalf("first Create = created %v, %v; want created", created, err)
	}
	before := scanKeys(t, ts.rdb, ts.prefix)

	second := draft(ts.Store, "idem", 2)
	got, created, err := ts.Create(ctx, second, opts)
	if err != nil || created {
		t.Fatalf("second Create with request id %q = created %v, %v; want not created, no error", opts.RequestID, created, err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("second Create returned (-first +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, scanKeys(t, ts.rdb, ts.prefix)); diff != "" {
		t.Errorf("keys after the repeated request (-before +after):\n%s", diff)
	}
	if _, err := ts.Get(ctx, second.ID); !errors.Is(err, comment.ErrNotFound) {
		t.Errorf("Get(%s) of the repeated request's own id = %v, want ErrNotFound", second.ID, err)
	}
	if n, err := publishedCounts(ts.CountPublished(ctx, []string{"idem"})); err != nil || n[0] != 1 {
		t.Errorf("CountPublished(idem) = %v, %v; want [1]", n, err)
	}

	// The request id is scoped to the thread, also in another thread of the same shard, whose
	// keys share the hash tag: a site that numbers its forms per article sends the same request
	// ids under every article.
	elsewhere := "idem-elsewhere"
	for n := 0; shardOfThread(elsewhere) != shardOfThread("idem"); n++ {
		elsewhere = fmt.Sprintf("idem-elsewhere-%d", n)
	}
	if got, created, err := ts.Create(ctx, draft(ts.Store, elsewhere, 3), opts); err != nil || !created || got.ThreadID != elsewhere {
		t.Errorf("Create in thread %s, of the shard of idem, with the same request id = %s in thread %s, created %v, %v; want a new comment in %s",
			elsewhere, got.ID, got.ThreadID, created, err, elsewhere)
	}
	ttl, err := ts.rdb.TTL(ctx, ts.keys.request(shardOfThread("idem"), "idem", opts.RequestID)).Result()
	if err != nil || ttl <= 0 || ttl.Seconds() > requestTTL {
		t.Errorf("TTL of the idempotency record = %v, %v; want within (0, %ds]", ttl, err, requestTTL)
	}
}

// TestCreateWithReusedRequestIDIsRefused: a request id seen in the thread with another fingerprint
// is another request under the same id, refused with comment.ErrRequestReused and writing nothing;
// with the same fingerprint it is a resend, answered with the earlier comment. An idempotency
// record written before fingerprints were kept (the record key alone) is answered as a resend.
func TestCreateWithReusedRequestIDIsRefused(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	opts := comment.CreateOptions{RequestID: "reuse-1", Fingerprint: "jane: hello"}
	first, created, err := ts.Create(ctx, draft(ts.Store, "reuse", 1), opts)
	if err != nil || !created {
		t.Fatalf("first Create = created %v, %v; want created", created, err)
	}
	before := scanKeys(t, ts.rdb, ts.prefix)
	for _, fp := range []string{"jane: bye", "bob: hello", ""} {
		again := opts
		again.Fingerprint = fp
		if got, created, err := ts.Create(ctx, draft(ts.Store, "reuse", 2), again); !errors.Is(err, comment.ErrRequestReused) {
			t.Errorf("Create with request id %q and fingerprint %q after %q = %s, created %v, %v; want comment.ErrRequestReused",
				opts.RequestID, fp, opts.Fingerprint, got.ID, created, err)
		}
	}
	if diff := cmp.Diff(before, scanKeys(t, ts.rdb, ts.prefix)); diff != "" {
		t.Errorf("keys after the refused reuses (-before +after):\n%s", diff)
	}
	got, created, err := ts.Create(ctx, draft(ts.Store, "reuse", 3), opts)
	if err != nil || created || got.ID != first.ID {
		t.Errorf("Create with request id %q and the first fingerprint = %s, created %v, %v; want the first comment %s, not created", opts.RequestID, got.ID, created, err, first.ID)
	}

	// A record of the earlier form: the record key alone.
	old := draft(ts.Store, "reuse-old", 4)
	if _, _, err := ts.Create(ctx, old, comment.CreateOptions{}); err != nil {
		t.Fatalf("Create(%s) = %v", old.ID, err)
	}
	shard := shardOfThread("reuse-old")
	if err := ts.rdb.Set(ctx, ts.keys.request(shard, "reuse-old", "old-1"), ts.keys.record(shard, old.ID), time.Hour).Err(); err != nil {
		t.Fatalf("SET an idempotency record of the earlier form: %v", err)
	}
	got, created, err = ts.Create(ctx, draft(ts.Store, "reuse-old", 5), comment.CreateOptions{RequestID: "old-1", Fingerprint: "anything"})
	if err != nil || created || got.ID != old.ID {
		t.Errorf("Create with request id old-1, recorded without a fingerprint = %s, created %v, %v; want the earlier comment %s, not created", got.ID, created, err, old.ID)
	}
}

// TestCreateRequestRecordReadsAsEarlierVersionsRead: during a rolling upgrade, servers of the
// version before fingerprints were kept share Redis with this one. They read the idempotency
// record as the comment's record key and nothing else; a record they cannot read makes them store
// a resend as a second comment (and overwrite the record with it). So the record stays the record
// key alone, and the fingerprint lives beside it. A record of the form "<record key>/<fingerprint>"
// (written by a version that kept the fingerprint in the record) is still read.
func TestCreateRequestRecordReadsAsEarlierVersionsRead(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	opts := comment.CreateOptions{RequestID: "compat-1", Fingerprint: "jane: hello"}
	first, created, err := ts.Create(ctx, draft(ts.Store, "compat", 1), opts)
	if err != nil || !created {
		t.Fatalf("first Create = created %v, %v; want created", created, err)
	}
	shard := shardOfThread("compat")
	// What an earlier version's create.lua does with a resend: GET the record, HGETALL its value.
	earlier, err := ts.rdb.Get(ctx, ts.keys.request(shard, "compat", opts.RequestID)).Result()
	if err != nil || earlier != ts.keys.record(shard, first.ID) {
		t.Fatalf("GET of the idempotency record = %q, %v; want the record key %q", earlier, err, ts.keys.record(shard, first.ID))
	}
	if n, err := ts.rdb.Exists(ctx, earlier).Result(); err != nil || n != 1 {
		t.Errorf("EXISTS %s (the idempotency record's value) = %d, %v; want 1", earlier, n, err)
	}

	// A record in the form a version that kept the fingerprint in it wrote.
	inline := draft(ts.Store, "compat", 2)
	if _, _, err := ts.Create(ctx, inline, comment.CreateOptions{}); err != nil {
		t.Fatalf("Create(%s) = %v", inline.ID, err)
	}
	value := ts.keys.record(shard, inline.ID) + "/" + requestFingerprint("bob: hi")
	if err := ts.rdb.Set(ctx, ts.keys.request(shard, "compat", "inline-1"), value, time.Hour).Err(); err != nil {
		t.Fatalf("SET an idempotency record with the fingerprint inline: %v", err)
	}
	for _, tc := range []struct {
		name        string
		fingerprint string
		wantErr     error
	}{
		{name: "resend", fingerprint: "bob: hi"},
		{name: "reuse", fingerprint: "bob: bye", wantErr: comment.ErrRequestReused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, created, err := ts.Create(ctx, draft(ts.Store, "compat", 3), comment.CreateOptions{RequestID: "inline-1", Fingerprint: tc.fingerprint})
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Create with request id inline-1 and fingerprint %q = %s, created %v, %v; want %v", tc.fingerprint, got.ID, created, err, tc.wantErr)
				}
			case err != nil || created || got.ID != inline.ID:
				t.Errorf("Create with request id inline-1 and fingerprint %q = %s, created %v, %v; want the earlier comment %s, not created", tc.fingerprint, got.ID, created, err, inline.ID)
			}
		})
	}
}

func TestCreateTwiceWithSameCommentIsHarmless(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	closed := true
	for _, opts := range []comment.CreateOptions{{}, {RequestID: "retry-1"}} {
		t.Run("request id "+opts.RequestID, func(t *testing.T) {
			thread := "twice-" + opts.RequestID
			c := draft(ts.Store, thread, 1)
			first, _, err := ts.Create(ctx, c, opts)
			if err != nil {
				t.Fatalf("first Create = %v", err)
			}
			before := withoutUpdateMarks(t, ts.rdb, scanKeys(t, ts.rdb, ts.prefix))
			// A resend may arrive after the thread was closed: it must still return the comment.
			if _, _, err := ts.UpdateThread(ctx, "", thread, nil, &closed, ""); err != nil {
				t.Fatalf("UpdateThread(closed) = %v", err)
			}
			afterClose := withoutUpdateMarks(t, ts.rdb, scanKeys(t, ts.rdb, ts.prefix))

			got, created, err := ts.Create(ctx, c, opts)
			if err != nil || !created {
				t.Fatalf("Create run again with comment %s = created %v, %v; want created (it is this call's comment), no error", c.ID, created, err)
			}
			if diff := cmp.Diff(first, got); diff != "" {
				t.Errorf("Create run again returned (-first +got):\n%s", diff)
			}
			if diff := cmp.Diff(afterClose, withoutUpdateMarks(t, ts.rdb, scanKeys(t, ts.rdb, ts.prefix))); diff != "" {
				t.Errorf("keys after running Create again (-before +after):\n%s", diff)
			}
			// The first comment made the settings hash (it starts the auto-close period), so
			// closing the thread adds a field, not a key; the only key it may add is its shard's
			// thread index, which lists the closed thread.
			index := ts.keys.threadList(shardOfThread(thread))
			want := before
			if !slices.Contains(want, index) {
				want = slices.Sorted(slices.Values(append(slices.Clone(before), index)))
			}
			if diff := cmp.Diff(want, afterClose); diff != "" || !slices.Contains(afterClose, ts.keys.thread(shardOfThread(thread), thread)) {
				t.Errorf("closing the thread changed the keys (-want +got):\n%s\nwant the same keys and its shard's thread index, its settings among them", diff)
			}
			if n, err := publishedCounts(ts.CountPublished(ctx, []string{thread})); err != nil || n[0] != 1 {
				t.Errorf("CountPublished(%s) = %v, %v; want [1]", thread, n, err)
			}
		})
	}
}

func TestGetUnknownComment(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	for _, id := range []string{ts.NewID("nothing-here"), "99abcdef", "x", "", "00a{b}"} {
		if _, err := ts.Get(context.Background(), id); !errors.Is(err, comment.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// TestCheckThreadAnswersAsCreate: CheckThread refuses what Create refuses about the thread and the
// parent, auto-close by age included, with the same error, and passes what Create takes.
func TestCheckThreadAnswersAsCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const period = time.Hour
	s := closingStore(t, redistest.Client(t, redistest.Shared(t)), redistest.Prefix(t), period)
	now := time.Now()
	n := 0
	at := func(thread, parent string, state comment.State, when time.Time) comment.Comment {
		n++
		c := draft(s, thread, n)
		c.ParentID, c.State, c.CreatedAt, c.PublishedAt = parent, state, when, when
		if state != comment.StatePublished {
			c.PublishedAt = time.Time{}
		}
		return c
	}
	mustCreate(t, s, at("aged", "", comment.StatePublished, now.Add(-2*period)), comment.CreateOptions{})
	published := mustCreate(t, s, at("young", "", comment.StatePublished, now.Add(-period/2)), comment.CreateOptions{})
	pending := mustCreate(t, s, at("young", "", comment.StatePending, now.Add(-period/2)), comment.CreateOptions{})
	mustCreate(t, s, at("shut", "", comment.StatePublished, now), comment.CreateOptions{})
	closed := true
	if _, _, err := s.UpdateThread(ctx, "", "shut", nil, &closed, ""); err != nil {
		t.Fatalf("UpdateThread(shut, closed true) = %v", err)
	}
	// A thread of the same shard as "young", whose comments' records sit beside young's, and one
	// of another shard.
	sibling, stranger := "", ""
	for i := 0; sibling == "" || stranger == ""; i++ {
		name := fmt.Sprintf("other-%d", i)
		switch {
		case shardOfThread(name) != shardOfThread("young"):
			stranger = name
		case sibling == "":
			sibling = name
		}
	}
	tests := []struct {
		name    string
		thread  string
		parent  string
		wantErr error
		byAge   bool // with ErrThreadClosed: the *comment.ClosedError says the age closed it
	}{
		{"thread past its auto-close period", "aged", "", comment.ErrThreadClosed, true},
		{"thread within its period", "young", "", nil, false},
		{"thread closed by a moderator", "shut", "", comment.ErrThreadClosed, false},
		{"thread never seen", "brand-new", "", nil, false},
		{"reply to a published comment", "young", published.ID, nil, false},
		{"reply to a pending comment", "young", pending.ID, comment.ErrParentNotPublished, false},
		{"reply to no comment", "young", s.NewID("young"), comment.ErrParentNotFound, false},
		{"reply to a comment of another thread of the shard", sibling, published.ID, comment.ErrParentNotFound, false},
		{"reply to a comment of another shard", stranger, published.ID, comment.ErrParentNotFound, false},
	}
	// checkClosed checks that a refusal of a closed thread says what closed it.
	checkClosed := func(t *testing.T, call string, err error, byAge bool) {
		t.Helper()
		var cerr *comment.ClosedError
		if !errors.As(err, &cerr) || cerr.ByAge != byAge {
			t.Errorf("%s = %v, want a *comment.ClosedError with ByAge %v", call, err, byAge)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckThread(ctx, tt.thread, tt.parent)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("CheckThread(%s, parent %q) = %v, want %v", tt.thread, tt.parent, err, tt.wantErr)
			} else if tt.wantErr == comment.ErrThreadClosed {
				checkClosed(t, "CheckThread("+tt.thread+")", err, tt.byAge)
			}
			_, _, err = s.Create(ctx, at(tt.thread, tt.parent, comment.StatePublished, time.Now()), comment.CreateOptions{})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Create(in %s, parent %q) = %v, want %v (CheckThread's answer)", tt.thread, tt.parent, err, tt.wantErr)
			} else if tt.wantErr == comment.ErrThreadClosed {
				checkClosed(t, "Create(in "+tt.thread+")", err, tt.byAge)
			}
		})
	}
}

// TestReplyDepth: a reply is stored one level below its parent, read back so by Get and
// ListPublished, and a reply to a comment at the deepest level allowed is refused by Create and
// by CheckThread alike, storing nothing. Without a bound any depth is taken.
func TestReplyDepth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Client(t, redistest.Shared(t))
	prefix := redistest.Prefix(t)
	bounded, err := New(ctx, rdb, Options{Prefix: prefix, MaxReplyDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	unbounded, err := New(ctx, rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}

	const thread = "deep"
	var chain []comment.Comment // chain[i] is at depth i
	parent := ""
	for i := range 3 {
		c := draft(bounded, thread, i+1)
		c.ParentID = parent
		got := mustCreate(t, bounded, c, comment.CreateOptions{})
		if got.Depth != i {
			t.Errorf("Create(reply %d levels down) returned depth %d", i, got.Depth)
		}
		if read, err := bounded.Get(ctx, c.ID); err != nil || read.Depth != i {
			t.Errorf("Get(comment at depth %d) = depth %d, %v", i, read.Depth, err)
		}
		chain = append(chain, got)
		parent = c.ID
	}
	page, err := bounded.ListPublished(ctx, thread, comment.Page{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	var depths []int
	for _, c := range page.Comments {
		depths = append(depths, c.Depth)
	}
	if !slices.Equal(depths, []int{0, 1, 2}) {
		t.Errorf("ListPublished depths = %v, want [0 1 2]", depths)
	}

	tooDeep := draft(bounded, thread, 10)
	tooDeep.ParentID = chain[2].ID
	_, _, err = bounded.Create(ctx, tooDeep, comment.CreateOptions{RequestID: "too-deep", Fingerprint: "f"})
	var de *comment.DepthError
	if !errors.Is(err, comment.ErrReplyTooDeep) || !errors.As(err, &de) || de.Max != 2 {
		t.Fatalf("Create(reply to a comment at depth 2, bound 2) = %v, want a DepthError{Max: 2}", err)
	}
	if _, err := bounded.Get(ctx, tooDeep.ID); !errors.Is(err, comment.ErrNotFound) {
		t.Errorf("Get(the refused reply) = %v, want ErrNotFound: nothing stored", err)
	}
	if err := bounded.CheckThread(ctx, thread, chain[2].ID); !errors.Is(err, comment.ErrReplyTooDeep) {
		t.Errorf("CheckThread(reply to depth 2, bound 2) = %v, want ErrReplyTooDeep", err)
	}
	if err := bounded.CheckThread(ctx, thread, chain[1].ID); err != nil {
		t.Errorf("CheckThread(reply to depth 1, bound 2) = %v, want nil", err)
	}
	// The refused request id stays free: nothing was recorded under it.
	top := draft(bounded, thread, 11)
	if _, _, err := bounded.Create(ctx, top, comment.CreateOptions{RequestID: "too-deep", Fingerprint: "g"}); err != nil {
		t.Errorf("Create(another comment under the refused request id) = %v, want it stored", err)
	}

	// A server without a bound takes the same reply, one level further down.
	tooDeep.ID = unbounded.NewID(thread)
	if got := mustCreate(t, unbounded, tooDeep, comment.CreateOptions{}); got.Depth != 3 {
		t.Errorf("Create(reply to depth 2, no bound) returned depth %d, want 3", got.Depth)
	}
	if err := unbounded.CheckThread(ctx, thread, tooDeep.ID); err != nil {
		t.Errorf("CheckThread(reply to depth 3, no bound) = %v, want nil", err)
	}
}

// TestReplyDepthOfOlderReplies: a reply stored before records kept their depth (it has a parent
// and no depth field) reads as depth 1, and a reply to it is stored at depth 2 and refused under
// a bound of 1, by Create and CheckThread alike.
func TestReplyDepthOfOlderReplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Client(t, redistest.Shared(t))
	prefix := redistest.Prefix(t)
	s, err := New(ctx, rdb, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	bounded, err := New(ctx, rdb, Options{Prefix: prefix, MaxReplyDepth: 1})
	if err != nil {
		t.Fatal(err)
	}
	const thread = "older"
	top := mustCreate(t, s, draft(s, thread, 1), comment.CreateOptions{})
	reply := draft(s, thread, 2)
	reply.ParentID = top.ID
	mustCreate(t, s, reply, comment.CreateOptions{})
	shard, _ := shardOfID(reply.ID)
	if err := rdb.HDel(ctx, s.keys.record(shard, reply.ID), fDepth).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, reply.ID); err != nil || got.Depth != 1 {
		t.Errorf("Get(an older reply without a depth) = depth %d, %v; want 1", got.Depth, err)
	}
	if err := bounded.CheckThread(ctx, thread, reply.ID); !errors.Is(err, comment.ErrReplyTooDeep) {
		t.Errorf("CheckThread(reply to an older reply, bound 1) = %v, want ErrReplyTooDeep", err)
	}
	next := draft(s, thread, 3)
	next.ParentID = reply.ID
	if _, _, err := bounded.Create(ctx, next, comment.CreateOptions{}); !errors.Is(err, comment.ErrReplyTooDeep) {
		t.Errorf("Create(reply to an older reply, bound 1) = %v, want ErrReplyTooDeep", err)
	}
	if got := mustCreate(t, s, next, comment.CreateOptions{}); got.Depth != 2 {
		t.Errorf("Create(reply to an older reply, no bound) returned depth %d, want 2", got.Depth)
	}
}
