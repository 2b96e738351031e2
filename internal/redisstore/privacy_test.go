package redisstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
)

// TestNoPersonalDataInRedis submits comments through comment.Service (which seals the author's
// email and IP) and moderates them through moderation.Service, then dumps every key and value the
// store wrote and looks for the addresses in clear.
func TestNoPersonalDataInRedis(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keyring, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	})
	if err != nil {
		t.Fatalf("NewKeyring = %v", err)
	}
	comments := comment.NewService(ts.Store, keyring, comment.Options{DefaultMode: comment.ModePre})
	mod := moderation.NewService(ts.Store, keyring, moderation.Options{DefaultMode: comment.ModePre})

	const (
		email = "Quentin.Privacy-7731@Example.org"
		ipv4  = "198.51.100.234"
		ipv6  = "2001:db8::7731:abcd"
		body  = "A perfectly ordinary remark"
	)
	var ids []string
	for i, ip := range []string{ipv4, ipv6} {
		c, err := comments.Submit(ctx, comment.Submission{
			ThreadID:    "privacy-thread",
			AuthorName:  "Quentin",
			AuthorEmail: email,
			Body:        body,
			ClientIP:    ip,
			UserAgent:   "TestAgent/1.0",
			RequestID:   "req-" + string(rune('a'+i)),
		})
		if err != nil {
			t.Fatalf("Submit(from %s) = %v", ip, err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := mod.Decide(ctx, "anna", moderation.Approve, ids[0], "fine", ""); err != nil {
		t.Fatalf("Decide(approve %s) = %v", ids[0], err)
	}
	if _, err := mod.Decide(ctx, "anna", moderation.Reject, ids[1], "off topic", ""); err != nil {
		t.Fatalf("Decide(reject %s) = %v", ids[1], err)
	}
	view, err := mod.Get(ctx, ids[0])
	if err != nil || view.MaskedEmail == "•••" {
		t.Fatalf("moderation Get(%s) = %+v, %v; want the sealed email to open", ids[0], view, err)
	}

	dump := dumpKeys(t, ts)
	if !strings.Contains(dump, body) {
		t.Fatalf("the dump of every key does not hold the comment body; the dump is broken:\n%s", dump)
	}
	lower := strings.ToLower(dump)
	for _, secret := range []string{email, strings.Split(email, "@")[0], ipv4, ipv6, "7731:abcd"} {
		if strings.Contains(lower, strings.ToLower(secret)) {
			t.Errorf("Redis holds %q in clear; every key and value:\n%s", secret, dump)
		}
	}
}

// dumpKeys renders every key under the store's prefix with its value, whatever its type.
func dumpKeys(t *testing.T, ts testStore) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, k := range scanKeys(t, ts.rdb, ts.prefix) {
		typ, err := ts.rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var v any
		switch typ {
		case "string":
			v, err = ts.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = ts.rdb.HGetAll(ctx, k).Result()
		case "zset":
			v, err = ts.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "set":
			v, err = ts.rdb.SMembers(ctx, k).Result()
		case "list":
			v, err = ts.rdb.LRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = ts.rdb.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s has type %s, which the dump does not read", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s %s: %v", typ, k, err)
		}
		b.WriteString(k + " (" + typ + "): ")
		b.WriteString(strings.ReplaceAll(strings.TrimSpace(fmtValue(v)), "\n", " "))
		b.WriteString("\n")
	}
	return b.String()
}

func fmtValue(v any) string {
	var b strings.Builder
	switch v := v.(type) {
	case string:
		b.WriteString(v)
	case map[string]string:
		// Sorted, so that two dumps of the same data compare equal.
		for _, f := range slices.Sorted(maps.Keys(v)) {
			b.WriteString(f + "=" + v[f] + " ")
		}
	case []string:
		b.WriteString(strings.Join(v, " "))
	default:
		fmt.Fprint(&b, v)
	}
	return b.String()
}
