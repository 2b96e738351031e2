package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
)

// TestDataRequestsFindEarlierSpellings: a comment stored before addresses were hashed in one
// spelling carries the keyed hash of the address as the reader sent it (lower-cased), such as its
// domain's "xn--" form, which browsers send for an internationalised domain. An access request and
// an erasure given the address in any spelling find it, with the comments stored since, and the
// erasure deletes the author's record kept under that hash too.
func TestDataRequestsFindEarlierSpellings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestStore(t)
	hashKey := privacy.NewSecret()
	keys, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        hashKey,
	})
	if err != nil {
		t.Fatalf("NewKeyring = %v", err)
	}
	// earlierKey is the keyed hash as earlier releases took it: of the spelling as sent.
	earlierKey := func(spelling string) string {
		m := hmac.New(sha256.New, hashKey)
		m.Write([]byte("email\x00" + strings.ToLower(spelling)))
		return hex.EncodeToString(m.Sum(nil))[:40]
	}
	comments := comment.NewService(ts.Store, keys, comment.Options{DefaultMode: comment.ModePre})
	mod := moderation.NewService(ts.Store, keys, moderation.Options{
		DefaultMode: comment.ModePre, Histories: ts.Store, Audit: ts.Store, Eraser: ts.Store, Exporter: ts.Store,
	})
	const sentBefore, sentSince = "Jane@XN--BCHER-KVA.example", "jane@bücher.example"
	var ids []string
	for i, email := range []string{sentBefore, sentSince} {
		c, err := comments.Submit(ctx, comment.Submission{
			ThreadID: threadInShard("spellings", i), AuthorName: "Jane", AuthorEmail: email,
			Body: "A remark", ClientIP: "198.51.100.7", UserAgent: "Browser/1.0",
		})
		if err != nil {
			t.Fatalf("Submit(%s) = %v", email, err)
		}
		ids = append(ids, c.ID)
	}
	// The first comment as an earlier release stored it, with the author's record under that key.
	old := earlierKey(sentBefore)
	shard, _ := shardOfID(ids[0])
	if err := ts.rdb.HSet(ctx, ts.keys.record(shard, ids[0]), fAuthorKey, old).Err(); err != nil {
		t.Fatalf("HSET the earlier author key: %v", err)
	}
	if err := ts.rdb.HSet(ctx, ts.keys.authorHistory(old), "approved", 1).Err(); err != nil {
		t.Fatalf("HSET the earlier author record: %v", err)
	}

	for _, asked := range []string{sentSince, sentBefore} {
		got, err := mod.ExportAuthorData(ctx, "root", moderation.ExportQuery{Email: asked})
		if err != nil {
			t.Fatalf("ExportAuthorData(%s) = %v", asked, err)
		}
		var gotIDs []string
		for _, x := range got {
			gotIDs = append(gotIDs, x.Comment.ID)
		}
		slices.Sort(gotIDs)
		if want := slices.Sorted(slices.Values(ids)); !slices.Equal(gotIDs, want) {
			t.Errorf("ExportAuthorData(%s) = comments %v, want %v", asked, gotIDs, want)
		}
	}

	e, err := mod.EraseAuthorData(ctx, "root", sentSince, "", false)
	if err != nil || e.Comments != len(ids) {
		t.Fatalf("EraseAuthorData(%s) = %+v, %v; want %d comments", sentSince, e, err, len(ids))
	}
	for _, id := range ids {
		c, err := ts.Get(ctx, id)
		if err != nil || c.AuthorKey != "" || c.EmailSealed != "" || c.AuthorName != comment.ErasedAuthorName {
			t.Errorf("Get(%s) after the erasure = key %q, sealed email %q, name %q, %v; want it anonymised", id, c.AuthorKey, c.EmailSealed, c.AuthorName, err)
		}
	}
	if n, err := ts.rdb.Exists(ctx, ts.keys.authorHistory(old)).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS the author's record under the earlier key after the erasure = %d, %v; want 0", n, err)
	}
}
