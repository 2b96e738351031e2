package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
)

// actionTo returns the moderator action whose target state is to (reopen for pending).
func actionTo(to comment.State) moderation.Action {
	switch to {
	case comment.StatePublished:
		return moderation.Approve
	case comment.StateRejected:
		return moderation.Reject
	case comment.StateSpam:
		return moderation.MarkSpam
	}
	return moderation.Reopen
}

// pendingDraft returns a pending comment of thread created at created.
func pendingDraft(s *Store, thread string, n int, created time.Time) comment.Comment {
	c := draft(s, thread, n)
	c.State, c.PublishedAt, c.CreatedAt = comment.StatePending, time.Time{}, created
	return c
}

// listAudit reads every page of the audit log matching q, pages of size, and fails the test if
// the pages do not end.
func listAudit(t *testing.T, s *Store, q moderation.AuditQuery, size int) []moderation.AuditEvent {
	t.Helper()
	var out []moderation.AuditEvent
	token := ""
	for range 1000 {
		page, next, err := s.ListAudit(context.Background(), q, comment.Page{Size: size, Token: token})
		if err != nil {
			t.Fatalf("ListAudit(%+v, size %d, token %q) = %v", q, size, token, err)
		}
		if len(page) > size {
			t.Fatalf("ListAudit(%+v, size %d) returned %d events", q, size, len(page))
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		token = next
	}
	t.Fatalf("ListAudit(%+v, size %d) did not end after 1000 pages", q, size)
	return nil
}

// ignoreIDAndTime compares audit events by content.
var ignoreIDAndTime = cmpopts.IgnoreFields(moderation.AuditEvent{}, "ID", "At")

func TestDecideAppendsToTheAuditLog(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	began := time.Now().Add(-time.Second)
	c := mustCreate(t, ts.Store, pendingDraft(ts.Store, "audited", 1, t0), comment.CreateOptions{})
	target := "comments/" + c.ID

	steps := []struct {
		moderator string
		action    moderation.Action
		to        comment.State
		from      []comment.State
		reason    string
	}{
		{"anna", moderation.Approve, comment.StatePublished, approveFrom, "fine"},
		{"anna", moderation.Approve, comment.StatePublished, approveFrom, "again: changes nothing, logs nothing"},
		{"bert", moderation.Reject, comment.StateRejected, rejectFrom, "off topic"},
		{"carl", moderation.Reopen, comment.StatePending, []comment.State{comment.StatePublished, comment.StateRejected, comment.StateSpam}, "look again"},
		{"anna", moderation.MarkSpam, comment.StateSpam, []comment.State{comment.StatePending}, "link farm"},
		{"bert", moderation.MarkNotSpam, comment.StatePending, []comment.State{comment.StateSpam}, ""},
		{"bert", moderation.Approve, comment.StatePublished, []comment.State{comment.StateSpam}, "refused: logs nothing"},
	}
	for i, st := range steps {
		d := comment.Decision{Moderator: st.moderator, At: t0.Add(time.Duration(i+1) * time.Minute), To: st.to, Reason: st.reason}
		if _, err := ts.Decide(ctx, c.ID, st.action, d, st.from, ""); err != nil && !errors.Is(err, moderation.ErrInvalidTransition) {
			t.Fatalf("Decide(%s, %v by %s) = %v", c.ID, st.action, st.moderator, err)
		}
	}

	want := []moderation.AuditEvent{ // newest first
		{Moderator: "bert", Action: moderation.AuditMarkNotSpam, Target: target, From: comment.StateSpam, To: comment.StatePending},
		{Moderator: "anna", Action: moderation.AuditMarkSpam, Target: target, From: comment.StatePending, To: comment.StateSpam, Reason: "link farm"},
		{Moderator: "carl", Action: moderation.AuditReopen, Target: target, From: comment.StateRejected, To: comment.StatePending, Reason: "look again"},
		{Moderator: "bert", Action: moderation.AuditReject, Target: target, From: comment.StatePublished, To: comment.StateRejected, Reason: "off topic"},
		{Moderator: "anna", Action: moderation.AuditApprove, Target: target, From: comment.StatePending, To: comment.StatePublished, Reason: "fine"},
	}
	got := listAudit(t, ts.Store, moderation.AuditQuery{}, 2)
	if diff := cmp.Diff(want, got, ignoreIDAndTime); diff != "" {
		t.Errorf("ListAudit after a series of decisions, pages of 2 (-want +got):\n%s", diff)
	}
	ids := map[string]bool{}
	for _, e := range got {
		if e.At.Before(began.Truncate(time.Millisecond)) || e.At.After(time.Now()) || ids[e.ID] || e.ID == "" {
			t.Errorf("ListAudit event %+v: want a fresh, unique id and a time between %v and now", e, began)
		}
		ids[e.ID] = true
	}
	if byBert := listAudit(t, ts.Store, moderation.AuditQuery{Moderator: "bert"}, 10); len(byBert) != 2 || byBert[0].Action != moderation.AuditMarkNotSpam {
		t.Errorf("ListAudit(moderator bert) = %+v, want the not-spam and the reject", byBert)
	}
}

func TestAuditMergesStreamsAndFilters(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	threads := []string{threadInShard("audit", 2), threadInShard("audit", 9)}
	var cs []comment.Comment
	for i, th := range threads {
		cs = append(cs, mustCreate(t, ts.Store, pendingDraft(ts.Store, th, i, t0), comment.CreateOptions{}))
	}

	// One event after another, alternating between the shards' streams and the stream of bans.
	// Entries of different streams in the same millisecond are ordered by stream, not by when they
	// were added, so each step waits for the next millisecond.
	var want []moderation.AuditEvent
	record := func(e moderation.AuditEvent) {
		want = append([]moderation.AuditEvent{e}, want...)
		time.Sleep(2 * time.Millisecond)
	}
	for i := range 3 {
		for j, c := range cs {
			mod := fmt.Sprintf("mod-%d", j)
			to, action := comment.StatePublished, moderation.Approve
			from := comment.StatePending
			if i%2 == 1 {
				to, action, from = comment.StatePending, moderation.Reopen, comment.StatePublished
			}
			if _, err := ts.Decide(ctx, c.ID, action, comment.Decision{Moderator: mod, At: time.Now(), To: to}, []comment.State{from}, ""); err != nil {
				t.Fatalf("Decide(%s, %v) = %v", c.ID, action, err)
			}
			record(moderation.AuditEvent{Moderator: mod, Action: action.Audit(), Target: "comments/" + c.ID, From: from, To: to})
		}
		ban := moderation.AuditEvent{Moderator: "mod-0", Action: moderation.AuditBan, Target: fmt.Sprintf("bans/b%d", i), Reason: "spammer"}
		if err := ts.AppendAudit(ctx, ban); err != nil {
			t.Fatalf("AppendAudit(%+v) = %v", ban, err)
		}
		record(ban)
		th := moderation.AuditEvent{Moderator: "mod-1", Action: moderation.AuditUpdateThread, Target: "threads/" + threads[i%2], Reason: "closed false -> true"}
		if err := ts.AppendAudit(ctx, th); err != nil {
			t.Fatalf("AppendAudit(%+v) = %v", th, err)
		}
		record(th)
	}

	all := listAudit(t, ts.Store, moderation.AuditQuery{}, 100)
	if diff := cmp.Diff(want, all, ignoreIDAndTime); diff != "" {
		t.Fatalf("ListAudit(everything) (-want +got):\n%s", diff)
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.After(all[i-1].At) {
			t.Errorf("ListAudit event %d at %v is newer than event %d at %v, want newest first", i, all[i].At, i-1, all[i-1].At)
		}
	}
	filter := func(keep func(moderation.AuditEvent) bool) []moderation.AuditEvent {
		var out []moderation.AuditEvent
		for _, e := range want {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	mid := all[len(all)/2].At
	tests := []struct {
		name string
		q    moderation.AuditQuery
		want []moderation.AuditEvent
	}{
		{"moderator", moderation.AuditQuery{Moderator: "mod-1"}, filter(func(e moderation.AuditEvent) bool { return e.Moderator == "mod-1" })},
		{"comment target", moderation.AuditQuery{Target: "comments/" + cs[0].ID}, filter(func(e moderation.AuditEvent) bool { return e.Target == "comments/"+cs[0].ID })},
		{"ban target", moderation.AuditQuery{Target: "bans/b1"}, filter(func(e moderation.AuditEvent) bool { return e.Target == "bans/b1" })},
		{"thread target and moderator", moderation.AuditQuery{Target: "threads/" + threads[0], Moderator: "mod-1"}, filter(func(e moderation.AuditEvent) bool { return e.Target == "threads/"+threads[0] })},
		{"nobody", moderation.AuditQuery{Moderator: "nobody"}, nil},
		{"unknown comment", moderation.AuditQuery{Target: "comments/zz-not-ours"}, nil},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 2, 5} {
			if diff := cmp.Diff(tt.want, listAudit(t, ts.Store, tt.q, size), ignoreIDAndTime); diff != "" {
				t.Errorf("%s: ListAudit(%+v), pages of %d (-want +got):\n%s", tt.name, tt.q, size, diff)
			}
		}
	}

	// Time ranges: Since is inclusive, Until exclusive, both at millisecond precision.
	var newer, older []moderation.AuditEvent
	for _, e := range all {
		if e.At.Before(mid) {
			older = append(older, e)
		} else {
			newer = append(newer, e)
		}
	}
	if diff := cmp.Diff(newer, listAudit(t, ts.Store, moderation.AuditQuery{Since: mid}, 3)); diff != "" {
		t.Errorf("ListAudit(since %v) (-want +got):\n%s", mid, diff)
	}
	if diff := cmp.Diff(older, listAudit(t, ts.Store, moderation.AuditQuery{Until: mid}, 3)); diff != "" {
		t.Errorf("ListAudit(until %v) (-want +got):\n%s", mid, diff)
	}

	_, next, err := ts.ListAudit(ctx, moderation.AuditQuery{}, comment.Page{Size: 1})
	if err != nil || next == "" {
		t.Fatalf("ListAudit(size 1) = next %q, %v; want a token", next, err)
	}
	if _, _, err := ts.ListAudit(ctx, moderation.AuditQuery{Moderator: "mod-0"}, comment.Page{Size: 1, Token: next}); !errors.Is(err, comment.ErrInvalidPageToken) {
		t.Errorf("ListAudit(another query's token) = %v, want ErrInvalidPageToken", err)
	}
	if _, _, err := ts.ListAudit(ctx, moderation.AuditQuery{}, comment.Page{Size: 1, Token: "garbage"}); !errors.Is(err, comment.ErrInvalidPageToken) {
		t.Errorf("ListAudit(garbage token) = %v, want ErrInvalidPageToken", err)
	}
}

// TestAuditFilterScansBoundedPages checks that a filter matching little still finds every match,
// through pages that may come back short.
func TestAuditFilterScansBoundedPages(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	var want []moderation.AuditEvent
	const n = 2*auditScan + 50
	_, err := ts.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i := range n {
			by := "bulk"
			if i%(auditScan-7) == 3 {
				by = "rare"
				want = append([]moderation.AuditEvent{{Moderator: by, Action: moderation.AuditBan, Target: fmt.Sprintf("bans/%d", i)}}, want...)
			}
			pl.XAdd(ctx, &redis.XAddArgs{Stream: ts.keys.audit(auditShard), Values: []any{"by", by, "act", "ban", "target", fmt.Sprintf("bans/%d", i), "reason", ""}})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("XADD %d entries: %v", n, err)
	}
	if len(want) < 3 {
		t.Fatalf("seeded %d rare entries, want at least 3", len(want))
	}
	first, next, err := ts.ListAudit(ctx, moderation.AuditQuery{Moderator: "rare"}, comment.Page{Size: 50})
	if err != nil || next == "" || len(first) >= len(want) {
		t.Errorf("ListAudit(moderator rare, first page) = %d events, next %q, %v; want a short page and a token (the scan is bounded)", len(first), next, err)
	}
	if diff := cmp.Diff(want, listAudit(t, ts.Store, moderation.AuditQuery{Moderator: "rare"}, 50), ignoreIDAndTime); diff != "" {
		t.Errorf("ListAudit(moderator rare), every page (-want +got):\n%s", diff)
	}
}

// TestAuditMergesEarlierBansAndFilters: bans and word-list entries are recorded in streams of
// their own slots now, and were recorded in the stream of other actions ("{audit}") before; the
// log lists the entries of both, in time order, whole, by target and by moderator, through pages
// of any size, and the daily statistics count both.
func TestAuditMergesEarlierBansAndFilters(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	since := time.Now() // before the first action, each counted on the day it happens
	bans := ratelimit.NewBans(ts.Store, ratelimit.BansOptions{})
	fs := spam.NewFilters(ts.Store, spamKeyring(t), spam.FiltersOptions{})
	ban := rangeTarget("198.51.100.0/24")
	oldFilter := "filters/0123456789abcdef01234567"

	// earlier appends an entry as the previous release did: to the {audit} stream, counted in
	// its counters.
	earlier := func(e moderation.AuditEvent) {
		t.Helper()
		if err := ts.rdb.XAdd(ctx, &redis.XAddArgs{Stream: ts.keys.audit(auditShard), Values: []any{
			"by", e.Moderator, "act", string(e.Action), "target", e.Target, "reason", e.Reason,
		}}).Err(); err != nil {
			t.Fatalf("XADD %s: %v", ts.keys.audit(auditShard), err)
		}
		if err := ts.rdb.HIncrBy(ctx, ts.keys.stats(auditShard, dayOf(time.Now())), moderatorField(e.Moderator, "o"), 1).Err(); err != nil {
			t.Fatalf("HINCRBY: %v", err)
		}
	}
	var want []moderation.AuditEvent
	steps := []struct {
		e  moderation.AuditEvent
		do func() // nil: an entry of the previous release
	}{
		{moderation.AuditEvent{Moderator: "old-mod", Action: moderation.AuditBan, Target: ban.Name(), Reason: "earlier flood"}, nil},
		{moderation.AuditEvent{Moderator: "old-mod", Action: moderation.AuditCreateFilter, Target: oldFilter, Reason: "spam list, word"}, nil},
		{moderation.AuditEvent{Moderator: "anna", Action: moderation.AuditBan, Target: ban.Name(), Reason: "flood"}, func() {
			mustBan(t, bans, ratelimit.BanRequest{Target: ban, Reason: "flood", Moderator: "anna"})
		}},
		{moderation.AuditEvent{Moderator: "old-mod", Action: moderation.AuditUnban, Target: ban.Name()}, nil},
		{moderation.AuditEvent{Moderator: "anna", Action: moderation.AuditDeleteFilter, Target: oldFilter}, func() {
			// The entry the previous release added, as it stored it.
			f, err := spam.NewFilter(spamKeyring(t), "filter", spam.FilterListSpam, spam.FilterWord, "earlier")
			if err != nil {
				t.Fatal(err)
			}
			f.ID = strings.TrimPrefix(oldFilter, "filters/")
			if err := ts.rdb.HSet(ctx, ts.keys.filterEntries(), f.ID, encodeFilter(f)).Err(); err != nil {
				t.Fatal(err)
			}
			if err := fs.Delete(ctx, "anna", f.ID); err != nil {
				t.Fatalf("Delete(%s) = %v", f.ID, err)
			}
		}},
		{moderation.AuditEvent{Moderator: "anna", Action: moderation.AuditUnban, Target: ban.Name()}, func() {
			if err := bans.Unban(ctx, ban, "anna"); err != nil {
				t.Fatalf("Unban(%v) = %v", ban, err)
			}
		}},
		{moderation.AuditEvent{Moderator: "old-mod", Action: moderation.AuditBan, Target: ban.Name(), Reason: "again"}, nil},
	}
	for _, st := range steps {
		if st.do == nil {
			earlier(st.e)
		} else {
			st.do()
		}
		want = append([]moderation.AuditEvent{st.e}, want...)
		// Entries of different streams in one millisecond are ordered by stream.
		time.Sleep(2 * time.Millisecond)
	}
	f, created, err := fs.Create(ctx, "anna", spam.FilterListHold, spam.FilterPhrase, "cheap pills")
	if err != nil || !created {
		t.Fatalf("Create(hold, phrase) = %v, %v", created, err)
	}
	want = append([]moderation.AuditEvent{{Moderator: "anna", Action: moderation.AuditCreateFilter, Target: "filters/" + f.ID, Reason: "hold list, phrase"}}, want...)

	only := func(keep func(moderation.AuditEvent) bool) []moderation.AuditEvent {
		var out []moderation.AuditEvent
		for _, e := range want {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	for _, tt := range []struct {
		name string
		q    moderation.AuditQuery
		want []moderation.AuditEvent
	}{
		{"everything", moderation.AuditQuery{}, want},
		{"the ban", moderation.AuditQuery{Target: ban.Name()}, only(func(e moderation.AuditEvent) bool { return e.Target == ban.Name() })},
		{"the earlier filter", moderation.AuditQuery{Target: oldFilter}, only(func(e moderation.AuditEvent) bool { return e.Target == oldFilter })},
		{"old-mod", moderation.AuditQuery{Moderator: "old-mod"}, only(func(e moderation.AuditEvent) bool { return e.Moderator == "old-mod" })},
		{"anna on the ban", moderation.AuditQuery{Moderator: "anna", Target: ban.Name()}, only(func(e moderation.AuditEvent) bool {
			return e.Moderator == "anna" && e.Target == ban.Name()
		})},
	} {
		for _, size := range []int{1, 2, 5, 100} {
			got := listAudit(t, ts.Store, tt.q, size)
			if diff := cmp.Diff(tt.want, got, ignoreIDAndTime); diff != "" {
				t.Errorf("%s: ListAudit(%+v), pages of %d (-want +got):\n%s", tt.name, tt.q, size, diff)
			}
			for i := 1; i < len(got); i++ {
				if got[i].At.After(got[i-1].At) {
					t.Errorf("%s: ListAudit entry %d at %v is newer than entry %d at %v, want newest first", tt.name, i, got[i].At, i-1, got[i-1].At)
				}
			}
		}
	}

	st := statsSince(t, ts.Store, since)
	wantStats := []moderation.ModeratorStats{{Moderator: "anna", Other: 4}, {Moderator: "old-mod", Other: 4}}
	if diff := cmp.Diff(wantStats, st.Moderators); diff != "" {
		t.Errorf("Stats of the days the test ran, actions counted in the {audit} counters and in those of bans and word lists (-want +got):\n%s", diff)
	}
}

// TestListAuditRejectsBadPageTokens: a page token cut short on its way (a truncated URL, a
// copy-paste), or spelt otherwise than a server spells it, is refused rather than read as another
// position. The log's streams are numbered up to 18, so a token that ended at stream 17, cut by one
// character, named stream 1 and the next page skipped streams 16 to 2. The previous release's
// tokens, "v1.<crc32 of the query>.<ms>-<seq>.<stream>", are still read.
func TestListAuditRejectsBadPageTokens(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	// One entry of the same id in every stream: the log lists them from the last stream down to 0.
	const ms, id = "1764495148000", "1764495148000-0"
	_, err := ts.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for st := range auditStreams {
			pl.XAdd(ctx, &redis.XAddArgs{Stream: ts.keys.audit(st), ID: id, Values: []any{"by", "mod", "act", "ban", "target", fmt.Sprintf("bans/b%d", st), "reason", ""}})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("XADD %s to %d streams: %v", id, auditStreams, err)
	}
	eventIDs := func(es []moderation.AuditEvent) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	// after returns the ids of the events listed after the entry of stream st.
	after := func(st int) []string {
		var out []string
		for i := st - 1; i >= 0; i-- {
			out = append(out, fmt.Sprintf("%d-%s", i, id))
		}
		return out
	}
	all := moderation.AuditQuery{}

	for size := 1; size < auditStreams; size++ {
		_, tok, err := ts.ListAudit(ctx, all, comment.Page{Size: size})
		if err != nil || tok == "" {
			t.Fatalf("ListAudit(size %d) = next %q, %v; want a token", size, tok, err)
		}
		for n := len(tok) - 1; n > 0; n-- {
			if got, _, err := ts.ListAudit(ctx, all, comment.Page{Size: 50, Token: tok[:n]}); !errors.Is(err, comment.ErrInvalidPageToken) {
				t.Errorf("ListAudit(token of the page of %d cut to %d characters, %q) = %v, %v; want ErrInvalidPageToken", size, n, tok[:n], eventIDs(got), err)
				break
			}
		}
	}

	// Tokens spelt by hand, as the previous release spelt them, at the entry of stream 5.
	b64 := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	crc := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(fmt.Sprintf("audit?m=&t=&s=%d&u=%d", time.Time{}.UnixNano(), time.Time{}.UnixNano()))))
	v1 := b64("v1." + crc + "." + id + ".5")
	if got, _, err := ts.ListAudit(ctx, all, comment.Page{Size: 50, Token: v1}); err != nil || !cmp.Equal(eventIDs(got), after(5)) {
		t.Errorf("ListAudit(the previous release's token at stream 5, %q) = %v, %v; want %v", v1, eventIDs(got), err, after(5))
	}
	for _, tt := range []struct{ name, tok string }{
		{"stream with a plus sign", b64("v1." + crc + "." + id + ".+5")},
		{"stream with a leading zero", b64("v1." + crc + "." + id + ".05")},
		{"stream -0", b64("v1." + crc + "." + id + ".-0")},
		{"ms with a leading zero", b64("v1." + crc + ".0" + id + ".5")},
		{"seq with a leading zero", b64("v1." + crc + "." + ms + "-00.5")},
		{"check in capitals", b64("v1." + strings.ToUpper(crc) + "." + id + ".5")},
		{"line break inside", v1[:8] + "\n" + v1[8:]},
		{"stream past the last", b64("v1." + crc + "." + id + "." + strconv.Itoa(auditStreams))},
		{"unknown version", b64("v9." + crc + "." + id + ".5")},
	} {
		if got, _, err := ts.ListAudit(ctx, all, comment.Page{Size: 50, Token: tt.tok}); !errors.Is(err, comment.ErrInvalidPageToken) {
			t.Errorf("ListAudit(token %s, %q) = %v, %v; want ErrInvalidPageToken", tt.name, tt.tok, eventIDs(got), err)
		}
	}
}
