package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
)

// eraseFixture is a store with comments of two authors, submitted through comment.Service and
// moderated through a moderation.Service wired as commentd wires it (learner, histories, audit log,
// eraser, exporter).
type eraseFixture struct {
	ts       testStore
	keys     *privacy.Keyring
	mod      *moderation.Service
	erased   []comment.Comment // the erased author's comments as stored before the erasure
	kept     []comment.Comment // the other author's
	email    string            // the erased author's address
	ip       string            // the erased author's IP address
	key      string            // the erased author's keyed hash
	otherKey string
}

const (
	eraseName  = "Erin Erasable"
	eraseEmail = "Erin.Erasable-4417@Example.net"
	eraseIP    = "198.51.100.77"
	keepEmail  = "kept.reader@example.com"
)

func newEraseFixture(t *testing.T) eraseFixture {
	t.Helper()
	ctx := context.Background()
	ts := newTestStore(t)
	keys, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	})
	if err != nil {
		t.Fatalf("NewKeyring = %v", err)
	}
	comments := comment.NewService(ts.Store, keys, comment.Options{DefaultMode: comment.ModePre})
	mod := moderation.NewService(ts.Store, keys, moderation.Options{
		DefaultMode: comment.ModePre,
		Learner:     spam.NewLearner(ts.Store, keys),
		Histories:   ts.Store,
		Audit:       ts.Store,
		Eraser:      ts.Store,
		Exporter:    ts.Store,
		EraseBatch:  3, // several SCAN slices even for a few records
	})
	f := eraseFixture{ts: ts, keys: keys, mod: mod, email: eraseEmail, ip: eraseIP}
	submit := func(name, email, ip, thread, body string) comment.Comment {
		c, err := comments.Submit(ctx, comment.Submission{
			ThreadID: thread, AuthorName: name, AuthorEmail: email,
			Body: body, ClientIP: ip, UserAgent: name + "Browser/1.0",
		})
		if err != nil {
			t.Fatalf("Submit(%s in %s) = %v", email, thread, err)
		}
		return c
	}
	// Four comments each, in threads of different shards; the first of each is approved and the
	// second rejected, so both authors have a record; the others stay pending.
	for i := range 4 {
		f.erased = append(f.erased, submit(eraseName, eraseEmail, eraseIP, threadInShard("erase", i), fmt.Sprintf("Erased author's remark %d", i)))
		f.kept = append(f.kept, submit("Kept Reader", keepEmail, "203.0.113.9", threadInShard("erase", i+4), fmt.Sprintf("Kept author's remark %d", i)))
	}
	for _, cs := range [][]comment.Comment{f.erased, f.kept} {
		if _, err := mod.Decide(ctx, "anna", moderation.Approve, cs[0].ID, "fine", ""); err != nil {
			t.Fatalf("Decide(approve %s) = %v", cs[0].ID, err)
		}
		if _, err := mod.Decide(ctx, "anna", moderation.Reject, cs[1].ID, "off topic", ""); err != nil {
			t.Fatalf("Decide(reject %s) = %v", cs[1].ID, err)
		}
	}
	f.erased, f.kept = f.reload(t, f.erased), f.reload(t, f.kept)
	f.key, f.otherKey = f.erased[0].AuthorKey, f.kept[0].AuthorKey
	if f.key == "" || f.otherKey == "" || f.erased[0].IPKey == "" || f.erased[0].UserAgent == "" {
		t.Fatalf("the submitted comments lack the author's data the test erases: %+v", f.erased[0])
	}
	hs, err := ts.AuthorHistories(ctx, []string{f.key})
	if err != nil || hs[0] != (comment.AuthorHistory{Approved: 1, Rejected: 1}) {
		t.Fatalf("AuthorHistories(erased author) before the erasure = %v, %v; want 1 approved, 1 rejected", hs, err)
	}
	return f
}

// reload returns the stored versions of cs.
func (f eraseFixture) reload(t *testing.T, cs []comment.Comment) []comment.Comment {
	t.Helper()
	out := make([]comment.Comment, len(cs))
	for i, c := range cs {
		got, err := f.ts.Get(context.Background(), c.ID)
		if err != nil {
			t.Fatalf("Get(%s) = %v", c.ID, err)
		}
		out[i] = got
	}
	return out
}

func (f eraseFixture) authorKeysExist(t *testing.T, authorKey string) int64 {
	t.Helper()
	n, err := f.ts.rdb.Exists(context.Background(), f.ts.keys.authorHistory(authorKey), f.ts.keys.authorOutcomes(authorKey)).Result()
	if err != nil {
		t.Fatalf("EXISTS author record: %v", err)
	}
	return n
}

// TestEraseAuthorData: a dry run counts and changes nothing; the erasure anonymises every comment of
// the author and only those, keeps their text, state and decisions, deletes the author's record,
// is audited without the address or its hash, and a second call finds nothing.
func TestEraseAuthorData(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()

	dry, err := f.mod.EraseAuthorData(ctx, "root", f.email, "", true)
	if err != nil || dry != (moderation.Erasure{Comments: len(f.erased), DryRun: true}) {
		t.Fatalf("EraseAuthorData(dry run) = %+v, %v; want %d comments, dry run", dry, err, len(f.erased))
	}
	if diff := cmp.Diff(f.erased, f.reload(t, f.erased)); diff != "" {
		t.Errorf("comments after a dry run (-before +after):\n%s", diff)
	}
	if f.authorKeysExist(t, f.key) != 2 {
		t.Errorf("the author's record is gone after a dry run")
	}

	// The address as the reader gives it may differ in case and spaces: the same author.
	got, err := f.mod.EraseAuthorData(ctx, "root", "  "+strings.ToLower(f.email)+" ", "request of 2025-03-14", false)
	if err != nil || got != (moderation.Erasure{Comments: len(f.erased)}) {
		t.Fatalf("EraseAuthorData = %+v, %v; want %d comments", got, err, len(f.erased))
	}
	for i, after := range f.reload(t, f.erased) {
		if diff := cmp.Diff(comment.Anonymised(f.erased[i]), after); diff != "" {
			t.Errorf("erased author's comment %s (-want +got):\n%s", after.ID, diff)
		}
	}
	if diff := cmp.Diff(f.kept, f.reload(t, f.kept)); diff != "" {
		t.Errorf("other author's comments after the erasure (-before +after):\n%s", diff)
	}
	if n := f.authorKeysExist(t, f.key); n != 0 {
		t.Errorf("%d of the erased author's record keys remain, want none", n)
	}
	if hs, err := f.ts.AuthorHistories(ctx, []string{f.otherKey}); err != nil || hs[0] != (comment.AuthorHistory{Approved: 1, Rejected: 1}) {
		t.Errorf("AuthorHistories(other author) = %v, %v; want 1 approved, 1 rejected", hs, err)
	}

	evs, _, err := f.mod.ListAudit(ctx, moderation.AuditQuery{Target: moderation.ErasureTarget}, comment.Page{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListAudit(target %s) = %d events, %v; want 1", moderation.ErasureTarget, len(evs), err)
	}
	ev := evs[0]
	if ev.Moderator != "root" || ev.Action != moderation.AuditEraseAuthorData || ev.Reason != "4 comments anonymised: request of 2025-03-14" {
		t.Errorf("audit event = %+v; want root, %s, reason \"4 comments anonymised: request of 2025-03-14\"", ev, moderation.AuditEraseAuthorData)
	}

	again, err := f.mod.EraseAuthorData(ctx, "root", f.email, "", false)
	if err != nil || again.Comments != 0 {
		t.Errorf("second EraseAuthorData = %+v, %v; want 0 comments", again, err)
	}

	// The moderator's view of an anonymised comment has nothing to mask, rather than "•••".
	v, err := f.mod.Get(ctx, f.erased[2].ID)
	if err != nil || v.MaskedEmail != "" || v.MaskedIP != "" || v.History != (comment.AuthorHistory{}) {
		t.Errorf("moderation Get(anonymised %s) = %+v, %v; want no masked email or IP, no history", f.erased[2].ID, v, err)
	}
}

// TestDecideAfterErasure: an anonymised pending comment can still be approved and rejected, and the
// decisions write no author record (neither the erased author's nor one for an empty key); the
// personal data is then nowhere in Redis.
func TestDecideAfterErasure(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()
	sealed := []string{f.erased[0].EmailSealed, f.erased[0].IPSealed}
	if _, err := f.mod.EraseAuthorData(ctx, "root", f.email, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	for _, d := range []struct {
		a  moderation.Action
		id string
		to comment.State
	}{
		{moderation.Approve, f.erased[2].ID, comment.StatePublished},
		{moderation.Reject, f.erased[3].ID, comment.StateRejected},
		{moderation.MarkSpam, f.erased[2].ID, comment.StateSpam},
		{moderation.Reopen, f.erased[0].ID, comment.StatePending},
	} {
		v, err := f.mod.Decide(ctx, "anna", d.a, d.id, "", "")
		if err != nil || v.Comment.State != d.to || v.Comment.AuthorName != comment.ErasedAuthorName {
			t.Errorf("Decide(%s anonymised %s) = %s by %q, %v; want %s by %q", d.a, d.id, v.Comment.State, v.Comment.AuthorName, err, d.to, comment.ErasedAuthorName)
		}
	}
	for _, k := range []string{f.key, ""} {
		if n := f.authorKeysExist(t, k); n != 0 {
			t.Errorf("decisions on anonymised comments wrote %d author record keys for key %q, want none", n, k)
		}
	}

	// The fence that keeps late outcomes out of the deleted record names the hash for a while, as
	// rate-limit state does; it must expire. Gone, nothing else may name the author.
	fence := f.ts.keys.authorErased(f.key)
	if ttl, err := f.ts.rdb.TTL(ctx, fence).Result(); err != nil || ttl <= 0 || ttl > erasureFenceTTL {
		t.Errorf("TTL of the erasure fence = %v, %v; want it up, expiring within %v", ttl, err, erasureFenceTTL)
	}
	f.ts.rdb.Del(ctx, fence)
	// So does the campaign writers' list of erased authors.
	erasedAuthors := f.ts.keys.campaignErased()
	if ttl, err := f.ts.rdb.PTTL(ctx, erasedAuthors).Result(); err != nil || ttl <= 0 || ttl > campaignErasureTTL {
		t.Errorf("PTTL of the campaign writers' erased authors = %v, %v; want it set, within %v", ttl, err, campaignErasureTTL)
	}
	f.ts.rdb.Del(ctx, erasedAuthors)
	dump := dumpKeys(t, f.ts)
	if !strings.Contains(dump, "Erased author's remark 2") {
		t.Fatalf("the dump of every key lacks the erased author's text; the dump is broken:\n%s", dump)
	}
	lower := strings.ToLower(dump)
	for _, secret := range append([]string{f.email, strings.Split(f.email, "@")[0], f.ip, f.key, f.erased[0].IPKey, eraseName, f.erased[0].UserAgent}, sealed...) {
		if strings.Contains(lower, strings.ToLower(secret)) {
			t.Errorf("Redis holds %q after the erasure; every key and value:\n%s", secret, dump)
		}
	}
}

// trainingFixture is an eraseFixture with the features of the comments whose training an erasure
// moves: the erased author's approved comment before and after anonymisation, and the other
// author's approved comment (other).
type trainingFixture struct {
	eraseFixture
	trained           comment.Comment
	orig, anon, other []string
	all               []string
}

func newTrainingFixture(t *testing.T) trainingFixture {
	t.Helper()
	f := trainingFixture{eraseFixture: newEraseFixture(t)}
	email, _ := privacy.ParseEmail(eraseEmail)
	keptEmail, _ := privacy.ParseEmail(keepEmail)
	f.trained = f.erased[0] // approved by the fixture, as is f.kept[0]
	f.orig = spam.Features(spam.Input{Body: f.trained.Body, AuthorName: f.trained.AuthorName, Email: email})
	f.anon = spam.Features(spam.Input{Body: f.trained.Body, AuthorName: comment.ErasedAuthorName})
	f.other = spam.Features(spam.Input{Body: f.kept[0].Body, AuthorName: f.kept[0].AuthorName, Email: keptEmail})
	f.all = slices.Concat(f.orig, f.anon, f.other)
	if slices.Equal(f.orig, f.anon) {
		t.Fatal("the name and email are not features: the test shows nothing")
	}
	return f
}

// wantModel checks the site model's count of every token in class spam and in class ham: one per
// comment trained as that class whose features hold it, among those of spams and hams.
func (f trainingFixture) wantModel(t *testing.T, when string, spams, hams [][]string) {
	t.Helper()
	spamCounts, hamCounts := make([]int64, len(f.all)), make([]int64, len(f.all))
	tot, err := f.ts.ModelCounts("").TokenCounts(context.Background(), f.all, spamCounts, hamCounts)
	if err != nil {
		t.Fatalf("%s: TokenCounts = %v", when, err)
	}
	if tot.Spam != int64(len(spams)) || tot.Ham != int64(len(hams)) {
		t.Errorf("%s: the model counts %d spam and %d ham comments, want %d and %d", when, tot.Spam, tot.Ham, len(spams), len(hams))
	}
	for _, c := range []struct {
		class  string
		counts []int64
		sets   [][]string
	}{{"spam", spamCounts, spams}, {"ham", hamCounts, hams}} {
		for i, tok := range f.all {
			var want int64
			for _, set := range c.sets {
				if slices.Contains(set, tok) {
					want++
				}
			}
			if c.counts[i] != want {
				t.Errorf("%s: %s count of token %q = %d, want %d", when, c.class, tok, c.counts[i], want)
			}
		}
	}
}

// TestErasureMovesTraining: an approved comment taught the model its author's name and email
// domain; after the erasure the model holds the anonymised comment's features instead, so a later
// decision that takes the approval back leaves the model as if the comment had never been approved.
func TestErasureMovesTraining(t *testing.T) {
	t.Parallel()
	f := newTrainingFixture(t)
	ctx := context.Background()
	f.wantModel(t, "before the erasure", nil, [][]string{f.orig, f.other})

	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	f.wantModel(t, "after the erasure", nil, [][]string{f.anon, f.other})
	// Repeating the erasure, or resending its move, moves nothing twice.
	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("second EraseAuthorData = %v", err)
	}
	if err := f.ts.Refeature(ctx, f.trained.ID, f.orig, f.anon); err != nil {
		t.Fatalf("Refeature resent = %v", err)
	}
	f.wantModel(t, "after the erasure was repeated", nil, [][]string{f.anon, f.other})

	if _, err := f.mod.Decide(ctx, "anna", moderation.Reopen, f.trained.ID, "", ""); err != nil {
		t.Fatalf("Decide(reopen %s) = %v", f.trained.ID, err)
	}
	f.wantModel(t, "after the anonymised comment was reopened", nil, [][]string{f.other})
}

// TestErasureStoppedHalfWay: an erasure that moved a comment's training and stopped before it
// anonymised the record leaves the record with its author. A moderator who decides on the comment
// then must untrain what the model holds (the anonymised features) and teach the anonymised
// features again, as the erasure reached the comment: at no point after the move does a count hold
// the author's name or email domain.
func TestErasureStoppedHalfWay(t *testing.T) {
	t.Parallel()
	f := newTrainingFixture(t)
	ctx := context.Background()
	// What the erasure's first step does for the comment, before it failed.
	if err := f.ts.Refeature(ctx, f.trained.ID, f.orig, f.anon); err != nil {
		t.Fatalf("Refeature = %v", err)
	}
	f.wantModel(t, "after the move alone", nil, [][]string{f.anon, f.other})

	if _, err := f.mod.Decide(ctx, "anna", moderation.MarkSpam, f.trained.ID, "", ""); err != nil {
		t.Fatalf("Decide(spam %s) = %v", f.trained.ID, err)
	}
	f.wantModel(t, "after the comment, still with its author, was marked spam", [][]string{f.anon}, [][]string{f.other})

	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("repeated EraseAuthorData = %v", err)
	}
	f.wantModel(t, "after the repeated erasure", [][]string{f.anon}, [][]string{f.other})

	if _, err := f.mod.Decide(ctx, "anna", moderation.Reopen, f.trained.ID, "", ""); err != nil {
		t.Fatalf("Decide(reopen %s) = %v", f.trained.ID, err)
	}
	f.wantModel(t, "after the anonymised comment was reopened", nil, [][]string{f.other})
}

// TestEraseAuthorDataRefuses: a bad address or reason is a validation error naming the field, and
// nothing changes.
func TestEraseAuthorDataRefuses(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	for _, tc := range []struct {
		name, email, reason string
		fields              []string
	}{
		{"no address", " ", "", []string{"author_email"}},
		{"not an address", "erin at example.net", "", []string{"author_email"}},
		{"reason too long", f.email, strings.Repeat("x", comment.MaxReasonChars+1), []string{"reason"}},
		{"both", "@example.net", "a\x00b", []string{"author_email", "reason"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.mod.EraseAuthorData(context.Background(), "root", tc.email, tc.reason, false)
			var verr *comment.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("EraseAuthorData(%q, %q) = %v, want a *comment.ValidationError", tc.email, tc.reason, err)
			}
			var fields []string
			for _, v := range verr.Violations {
				fields = append(fields, v.Field)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("EraseAuthorData(%q, %q) violations (-want +got):\n%s", tc.email, tc.reason, diff)
			}
		})
	}
	if diff := cmp.Diff(f.erased, f.reload(t, f.erased)); diff != "" {
		t.Errorf("comments after refused erasures (-before +after):\n%s", diff)
	}
}

// The script changes a record only while it holds the author's key: it never creates a deleted
// record again, and leaves another author's record as it is.
func TestEraseScriptTouchesOnlyTheAuthorsRecord(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := mustCreate(t, ts.Store, draft(ts.Store, "erase-script", 1), comment.CreateOptions{})
	shard, _ := shardOfID(c.ID)
	gone := ts.keys.record(shard, ts.NewID("erase-script"))
	for _, tc := range []struct {
		name, key, author string
	}{
		{"deleted record", gone, c.AuthorKey},
		{"another author", ts.keys.record(shard, c.ID), "someone-else"},
	} {
		cmds, err := ts.runScripts(ctx, eraseScript, []scriptCall{{keys: []string{tc.key}, args: []any{tc.author, "Anonymous", "token"}}})
		if err != nil || cmds[0].Val() != int64(0) {
			t.Errorf("erase.lua on %s = %v, %v; want 0", tc.name, cmds[0].Val(), err)
		}
	}
	if n, err := ts.rdb.Exists(ctx, gone).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS %s after erase.lua = %d, %v; want the record still absent", gone, n, err)
	}
	if got, err := ts.Get(ctx, c.ID); err != nil || !cmp.Equal(got, c) {
		t.Errorf("Get(%s) after erase.lua for another author = %+v, %v; want it unchanged", c.ID, got, err)
	}
}

// TestEraseScriptResent: the Redis client may resend a call whose reply it lost; the resent call
// counts the record its first sending anonymised, and a call with another token does not. Each
// record of an erasure gets a token of its own, so the tokens link no two records.
func TestEraseScriptResent(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()
	shard, _ := shardOfID(f.erased[0].ID)
	key := f.ts.keys.record(shard, f.erased[0].ID)
	call := scriptCall{keys: []string{key}, args: []any{f.key, comment.ErasedAuthorName, "token-1"}}
	for i, want := range []int64{1, 1} {
		cmds, err := f.ts.runScripts(ctx, eraseScript, []scriptCall{call})
		if err != nil || cmds[0].Val() != want {
			t.Errorf("erase.lua, sending %d = %v, %v; want %d", i+1, cmds[0].Val(), err, want)
		}
	}
	other := scriptCall{keys: []string{key}, args: []any{f.key, comment.ErasedAuthorName, "token-2"}}
	if cmds, err := f.ts.runScripts(ctx, eraseScript, []scriptCall{other}); err != nil || cmds[0].Val() != int64(0) {
		t.Errorf("erase.lua with another token on an anonymised record = %v, %v; want 0", cmds[0].Val(), err)
	}

	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	seen := map[string]string{}
	for _, c := range f.erased[1:] {
		shard, _ := shardOfID(c.ID)
		tok, err := f.ts.rdb.HGet(ctx, f.ts.keys.record(shard, c.ID), "erased").Result()
		if err != nil || tok == "" {
			t.Fatalf("HGET %s erased = %q, %v; want the call's token", c.ID, tok, err)
		}
		if id, dup := seen[tok]; dup {
			t.Errorf("comments %s and %s hold the same erasure token %q: it links them", id, c.ID, tok)
		}
		seen[tok] = c.ID
	}
}

// TestErasureForgetsCampaignSightings: the campaign stream's entries that pair the author's keyed
// hash with a comment's fingerprint go; an entry of other authors only stays.
func TestErasureForgetsCampaignSightings(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()
	c := NewCampaigns(f.ts.Store, CampaignsOptions{})
	now := time.Now()
	for _, batch := range [][]string{{f.key, f.otherKey}, {f.otherKey}, {f.key}} {
		for i, author := range batch {
			if _, err := c.Observe(ctx, spam.Sighting{Fingerprint: spam.Fingerprint(i + 1), AuthorKey: author, At: now}, time.Hour, spam.MaxMatchDistance); err != nil {
				t.Fatalf("Observe = %v", err)
			}
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatalf("Flush = %v", err)
		}
	}
	stream := f.ts.keys.campaignStream()
	if n := f.ts.rdb.XLen(ctx, stream).Val(); n != 3 {
		t.Fatalf("XLEN campaign stream = %d before the erasure, want 3 entries", n)
	}

	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	msgs, err := f.ts.rdb.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE campaign stream = %v", err)
	}
	// The erasure's own marker entry (field "e") names no author: only the batches count.
	msgs = slices.DeleteFunc(msgs, func(m redis.XMessage) bool { _, batch := m.Values["s"]; return !batch })
	if len(msgs) != 1 {
		t.Fatalf("the campaign stream holds %d batches after the erasure, want 1 (the other author's): %v", len(msgs), msgs)
	}
	if packed, _ := msgs[0].Values["s"].(string); !strings.Contains(packed, f.otherKey) || strings.Contains(packed, f.key) {
		t.Errorf("the entry left holds %q, want the other author's sighting only", packed)
	}
}

// TestEraseRewritesPersonalReasons: a hold reason that described the author's own data (a word
// list's match on the name quotes a word of it) loses its message, keeping its code; reasons about
// the text stay as they were.
func TestEraseRewritesPersonalReasons(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	prefixes := spam.PersonalReasonPrefixes()
	c := draft(ts.Store, "erase-reasons", 1)
	c.State, c.PublishedAt = comment.StatePending, time.Time{}
	c.HoldReasons = []comment.Reason{
		{Code: spam.ReasonHoldList, Message: prefixes[0] + `name contains "quuxworth", on the hold list`},
		{Code: spam.ReasonTooManyLinks, Message: "3 links (holding from 2)"},
		{Code: spam.ReasonSpamList, Message: prefixes[1] + `contains "crawler", on the spam list`},
		{Code: spam.ReasonHoldList, Message: `the body contains "crypto", on the hold list`},
		{Code: spam.ReasonAuthorSpam, Message: prefixes[1] + "2 comments marked spam"},
	}
	c = mustCreate(t, ts.Store, c, comment.CreateOptions{})
	n, err := ts.EraseAuthor(ctx, []string{c.AuthorKey}, moderation.EraseOptions{Name: comment.ErasedAuthorName})
	if err != nil || n != 1 {
		t.Fatalf("EraseAuthor = %d, %v; want 1", n, err)
	}
	got, err := ts.Get(ctx, c.ID)
	if err != nil {
		t.Fatalf("Get(%s) = %v", c.ID, err)
	}
	want := slices.Clone(c.HoldReasons)
	want[0].Message, want[2].Message, want[4].Message = erasedReason, erasedReason, erasedReason
	if diff := cmp.Diff(want, got.HoldReasons); diff != "" {
		t.Errorf("hold reasons after the erasure (-want +got):\n%s", diff)
	}
	// The replacement stands for every kind of reason it replaces: AUTHOR_SPAM's came from the
	// author's record, not from a word list.
	if m := got.HoldReasons[4].Message; strings.Contains(m, "list") {
		t.Errorf("AUTHOR_SPAM's message after the erasure = %q; it claims a list matched", m)
	}
}

// On a Cluster the walk visits every master: each author's comments spread over all shards, one
// author erased.
func TestClusterEraseAuthor(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	rdb := clusterClient(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := New(ctx, rdb, Options{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("New on the cluster = %v", err)
	}
	authors := []string{strings.Repeat("a", 43), strings.Repeat("b", 43)}
	var stored [2][]comment.Comment
	for i := range 2 * numShards {
		c := draft(s, threadInShard("erase", i%numShards), i)
		c.AuthorKey = authors[i%2]
		stored[i%2] = append(stored[i%2], mustCreate(t, s, c, comment.CreateOptions{}))
	}
	opts := moderation.EraseOptions{Name: "Anonymous", Scan: comment.ScanOptions{Batch: 4, CallTimeout: 5 * time.Second}}
	n, err := s.EraseAuthor(ctx, []string{authors[0]}, opts)
	if err != nil || n != numShards {
		t.Fatalf("EraseAuthor on the cluster = %d, %v; want %d", n, err, numShards)
	}
	for i, cs := range stored {
		for _, c := range cs {
			want := c
			if i == 0 {
				want = comment.Anonymised(c)
			}
			got, err := s.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get(%s) = %v", c.ID, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("comment %s of author %d after the erasure (-want +got):\n%s", c.ID, i, diff)
			}
		}
	}
	if n, err := s.EraseAuthor(ctx, []string{authors[0]}, opts); err != nil || n != 0 {
		t.Errorf("second EraseAuthor on the cluster = %d, %v; want 0", n, err)
	}
}

// TestErasureLeavesNoNameInModel: the model's change stream listed the erased author's name and
// email domain as tokens (the approval's change, and the move's own change); after the erasure no
// key holds them, and another server's copy of the model, in step before, drops them too.
func TestErasureLeavesNoNameInModel(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()
	email, _ := privacy.ParseEmail(eraseEmail)
	trained := f.erased[0] // approved by the fixture
	orig := spam.Features(spam.Input{Body: trained.Body, AuthorName: trained.AuthorName, Email: email})
	anon := spam.Features(spam.Input{Body: trained.Body, AuthorName: comment.ErasedAuthorName})
	var personal []string // the tokens the name and the email domain make
	for _, tok := range orig {
		if !slices.Contains(anon, tok) {
			personal = append(personal, tok)
		}
	}
	if len(personal) == 0 {
		t.Fatal("the name and email are not features: the test shows nothing")
	}
	if dump := dumpKeys(t, f.ts); !strings.Contains(dump, personal[0]) {
		t.Fatalf("before the erasure no key holds the token %q; the dump is broken:\n%s", personal[0], dump)
	}
	// The forest's examples hold them too (the dump below reads that hash as every other key).
	if ex := strings.Join(examplesOf(t, f.ts, ""), "\n"); !strings.Contains(ex, personal[0]) {
		t.Fatalf("before the erasure the model's examples do not hold the token %q: the test shows nothing of them:\n%s", personal[0], ex)
	}
	m := NewSpamMirror(secondInstance(t, f.ts), SpamMirrorOptions{Block: 50 * time.Millisecond})
	runMirror(t, m)
	tokens := append(append([]string{}, orig...), anon...)
	waitMirror(t, "before the erasure", m, f.ts, tokens, 10*time.Second)

	if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	dump := dumpKeys(t, f.ts)
	for _, tok := range personal {
		if strings.Contains(dump, tok) {
			t.Errorf("after the erasure Redis still holds the token %q of the author's name or email; every key and value:\n%s", tok, dump)
		}
	}
	waitMirror(t, "after the erasure", m, f.ts, tokens, 10*time.Second)
	s, h := make([]int64, len(personal)), make([]int64, len(personal))
	if _, err := m.TokenCounts(ctx, personal, s, h); err != nil {
		t.Fatalf("mirror TokenCounts = %v", err)
	}
	for i, tok := range personal {
		if s[i] != 0 || h[i] != 0 {
			t.Errorf("after the erasure the mirror counts token %q as %d spam, %d ham; want 0, 0", tok, s[i], h[i])
		}
	}
	// The model goes on learning, and the copy follows it.
	if _, err := f.mod.Decide(ctx, "anna", moderation.Approve, f.kept[2].ID, "", ""); err != nil {
		t.Fatalf("Decide(approve %s) = %v", f.kept[2].ID, err)
	}
	keptEmail, _ := privacy.ParseEmail(keepEmail)
	more := spam.Features(spam.Input{Body: f.kept[2].Body, AuthorName: f.kept[2].AuthorName, Email: keptEmail})
	waitMirror(t, "after a decision that follows the erasure", m, f.ts, append(tokens, more...), 10*time.Second)
}

// TestErasureForgetsPurgedSpamAuthor: a comment of the author that the spam retention deleted a
// moment before the erasure is still listed among the purged comments whose label and outcome are
// to be forgotten, with its author key. The erasure must take the key out of that list too: the
// list has no TTL, and its entry pairs the key with the id the audit log names. Afterwards only
// keys that expire may name the author key, and the purge still forgets the comment's label.
func TestErasureForgetsPurgedSpamAuthor(t *testing.T) {
	t.Parallel()
	f := newEraseFixture(t)
	ctx := context.Background()
	purged := f.erased[2]
	if _, err := f.mod.Decide(ctx, "anna", moderation.MarkSpam, purged.ID, "", ""); err != nil {
		t.Fatalf("Decide(mark spam %s) = %v", purged.ID, err)
	}
	if n, err := f.ts.PurgeSpam(ctx, time.Now().Add(time.Minute), 10); err != nil || n != 1 {
		t.Fatalf("PurgeSpam = %d, %v; want the comment marked spam purged", n, err)
	}
	if tr := traces(t, f.ts.rdb, f.ts.prefix, f.key); !slices.Contains(tr, f.ts.keys.purgedToForget(shardOfThread(purged.ThreadID))) {
		t.Fatalf("before the erasure the keys naming the author key are %v; want the purged comments of shard %d among them, or the test shows nothing", tr, shardOfThread(purged.ThreadID))
	}

	if _, err := f.mod.EraseAuthorData(ctx, "root", f.email, "", false); err != nil {
		t.Fatalf("EraseAuthorData = %v", err)
	}
	for _, k := range traces(t, f.ts.rdb, f.ts.prefix, f.key) {
		if ttl, err := f.ts.rdb.TTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("after the erasure key %s names the author key and has TTL %v (%v); want it to expire", k, ttl, err)
		}
	}
	settlePurges(t, f.ts.Store)
	if tr := traces(t, f.ts.rdb, f.ts.prefix, purged.ID); len(tr) != 0 {
		t.Errorf("after the erasure and the purge's second step, keys still name the purged %s: %v", purged.ID, tr)
	}
}
