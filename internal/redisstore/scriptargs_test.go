package redisstore

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// hex32 is the first 16 bytes of s's SHA-256 in hex, as the markers and fingerprints were first
// spelled (hex.EncodeToString of the sum).
func hex32(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// TestMarkersSpelledAsBefore checks the markers and replay prefixes the abuse check's scripts
// receive, now cut from one string, against their spelling as built piece by piece: markers
// already in Redis are compared with them, so a resend must still find its own.
func TestMarkersSpelledAsBefore(t *testing.T) {
	s := &Store{keys: newKeys(DefaultPrefix)}
	rule := ratelimit.Rule{Name: "author", Key: ratelimit.KeyAuthor, Count: 5, Period: time.Minute, Burst: 5}
	const check = "c0ffee"
	for _, reqID := range []string{"", "req-1", "ü/ß:x"} {
		dup := &ratelimit.DuplicateCheck{AuthorKey: "a1", TextKey: "x1", Window: time.Minute, RequestID: reqID}
		wantMarker, wantReplay := "n:"+check, ""
		if reqID != "" {
			wantReplay = "r:" + hex32(reqID) + ":"
			wantMarker = wantReplay + check
		}
		key, args := s.duplicateTakeArgs(dup, check)
		if diff := cmp.Diff([]any{int64(60000), wantMarker, wantReplay}, args); key != s.keys.duplicate("a1", "x1") || diff != "" {
			t.Errorf("duplicateTakeArgs(request id %q, %q) = %q and args (-want +got):\n%s", reqID, check, key, diff)
		}
		if got := duplicateMarker(dup, check); got != wantMarker {
			t.Errorf("duplicateMarker(request id %q, %q) = %q, want %q", reqID, check, got, wantMarker)
		}
	}
	for _, key := range []string{"", "k", "a fingerprint of some length"} {
		req := &ratelimit.RequestCheck{ThreadID: "t1", RequestID: "r1", Key: key}
		if got, want := requestFingerprint(key), hex32(key); got != want {
			t.Errorf("requestFingerprint(%q) = %q, want %q", key, got, want)
		}
		wantMarker := hex32(key) + ":" + check
		if got := requestMarker(req, check); got != wantMarker {
			t.Errorf("requestMarker(key %q, %q) = %q, want %q", key, check, got, wantMarker)
		}
		g := &rateGroup{kind: "thread", value: "t1", takes: []ratelimit.Take{{Rule: rule, Subject: "t1"}}, request: req}
		_, args := s.rateTakeCall(g, check)
		want := []any{1, "1", "0", rule.Interval().Microseconds(), rule.Burst, "0", requestTTL * 1000, wantMarker, hex32(key) + ":"}
		if diff := cmp.Diff(want, args); diff != "" {
			t.Errorf("rateTakeCall(request key %q, %q) args (-want +got):\n%s", key, check, diff)
		}
	}
}

// TestEvalShaCmdNamesTheScript checks the EVALSHA that evalShaCmd builds: the script's SHA1 (of its
// source, as Redis names a loaded script), the number of keys, the keys and the arguments, as
// go-redis writes them.
func TestEvalShaCmdNamesTheScript(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		sc   *shaScript
	}{
		{"create.lua", createSrc, newShaScript(createSrc)},
		{"ratelimit_take.lua", rateTakeSrc, rateTakeScript},
		{"ratelimit_refund.lua", rateRefundSrc, rateRefundScript},
	} {
		keys := []string{"k1", "k2"}
		cmd := evalShaCmd(context.Background(), c.sc, keys, "a1", 2)
		var got []any
		for _, a := range cmd.Args() {
			if p, ok := a.(*string); ok {
				a = *p
			}
			got = append(got, a)
		}
		want := []any{"evalsha", fmt.Sprintf("%x", sha1.Sum([]byte(c.src))), 2, "k1", "k2", "a1", 2}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("evalShaCmd(%s, %v, a1, 2) args (-want +got):\n%s", c.name, keys, diff)
		}
		if c.sc.sha != c.sc.Hash() {
			t.Errorf("%s: shaScript holds %q, its Script %q", c.name, c.sc.sha, c.sc.Hash())
		}
	}
}

// TestNewIDSpelledAsSprintf checks newID, written into one buffer, against the fmt.Sprintf format
// that made every id stored so far (ids of a shard sort by their time digits).
func TestNewIDSpelledAsSprintf(t *testing.T) {
	now := time.Now().UnixMicro()
	for _, c := range []struct {
		shard  int
		micros int64
		r      [5]byte
	}{
		{0, 0, [5]byte{}},
		{15, now, [5]byte{0xde, 0xad, 0xbe, 0xef, 0x01}},
		{7, 1, [5]byte{0xff, 0xff, 0xff, 0xff, 0xff}},
		{9, 0xfffffffffffff, [5]byte{1, 2, 3, 4, 5}},
		{10, 0xffffffffffffff, [5]byte{1, 2, 3, 4, 5}},
		{11, 0x100000000000000, [5]byte{}}, // 15 digits: longer than the width
		{12, 1<<63 - 1, [5]byte{}},         // the largest
		{3, -1, [5]byte{}},                 // before 1970: Sprintf's spelling
		{100, now, [5]byte{}},              // not a shard: Sprintf's spelling
		{-1, now, [5]byte{}},               // not a shard either
	} {
		want := fmt.Sprintf("%02d%014x%s", c.shard, c.micros, hex.EncodeToString(c.r[:]))
		if got := newID(c.shard, c.micros, c.r); got != want {
			t.Errorf("newID(%d, %d, %x) = %q, want %q", c.shard, c.micros, c.r, got, want)
		}
	}
	s := &Store{keys: newKeys(DefaultPrefix)}
	for _, thread := range []string{"t1", "article-42"} {
		id := s.NewID(thread)
		if shard, ok := shardOfID(id); !ok || shard != shardOfThread(thread) || len(id) != 26 || !comment.ValidID(id) {
			t.Errorf("NewID(%q) = %q: shard %d (%v), length %d, valid %v; want shard %d, 26 characters, valid",
				thread, id, shard, ok, len(id), comment.ValidID(id), shardOfThread(thread))
		}
	}
}

// TestPreModerationHold checks the pre-moderation hold, encoded once for a comment without hold
// reasons of its own, against its encoding at every call.
func TestPreModerationHold(t *testing.T) {
	pre := comment.Reason{Code: comment.ReasonPreModeration, Message: preModerationMessage}
	own := comment.Reason{Code: "SPAM_RULE", Message: "a rule matched"}
	for _, reasons := range [][]comment.Reason{nil, {}, {own}, {own, own}} {
		want := encodeHold(append(append([]comment.Reason(nil), reasons...), pre))
		if got := preModerationHold(reasons); got != want {
			t.Errorf("preModerationHold(%v) = %q, want %q", reasons, got, want)
		}
	}
}
