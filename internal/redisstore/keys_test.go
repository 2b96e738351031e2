package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// TestKeysMadeOnce checks that the keys built from newKeys' table of shard tags, in one
// concatenation, are the keys built piece by piece: the names already in Redis must not change.
func TestKeysMadeOnce(t *testing.T) {
	for _, prefix := range []string{"", DefaultPrefix, "test:x%d:"} {
		made, bare := newKeys(prefix), keys{prefix: prefix}
		for shard := range numShards {
			if got, want := made.tag(shard), fmt.Sprintf("%s{s%02d}", prefix, shard); got != want {
				t.Errorf("newKeys(%q).tag(%d) = %q, want %q", prefix, shard, got, want)
			}
			if got, want := bare.tag(shard), made.tag(shard); got != want {
				t.Errorf("keys{%q}.tag(%d) = %q, want %q", prefix, shard, got, want)
			}
			for _, k := range []keys{made, bare} {
				if got, want := k.record(shard, "id1"), k.recordBase(shard)+"id1"; got != want {
					t.Errorf("record(%d, id1) = %q, want %q", shard, got, want)
				}
				if got, want := k.published(shard, "t1"), k.publishedBase(shard)+"t1"; got != want {
					t.Errorf("published(%d, t1) = %q, want %q", shard, got, want)
				}
				for _, st := range queueStates {
					if got, want := k.threadQueue(shard, st, "t1"), k.threadQueueBase(shard, st)+"t1"; got != want {
						t.Errorf("threadQueue(%d, %v, t1) = %q, want %q", shard, st, got, want)
					}
				}
				// Every state, queued or not: the shard queues are made once for the queued ones.
				for st := comment.StateUnspecified; st <= comment.StateSpam+1; st++ {
					if got, want := k.shardQueue(shard, st), fmt.Sprintf("%s{s%02d}q:%d", prefix, shard, st); got != want {
						t.Errorf("shardQueue(%d, %v) with prefix %q = %q, want %q", shard, st, prefix, got, want)
					}
				}
			}
		}
		for _, k := range []keys{made, bare} {
			if got, want := k.banRecords(), prefix+"{bans}:r"; got != want {
				t.Errorf("banRecords() with prefix %q = %q, want %q", prefix, got, want)
			}
		}
	}
}

// TestRateKeysMadeOnce checks the abuse check's keys, built in one concatenation, against their
// tag plus suffix: the names already in Redis must not change.
func TestRateKeysMadeOnce(t *testing.T) {
	for _, prefix := range []string{"", DefaultPrefix} {
		k := newKeys(prefix)
		for _, kind := range []string{"ip", "author", "thread", "site"} {
			tag := k.rateTag(kind, "v1")
			for _, c := range []struct{ name, got, want string }{
				{"rate", k.rate(kind, "v1", "flood"), tag + ":r:flood"},
				{"refundMark", k.refundMark(kind, "v1", "c1"), tag + ":x:c1"},
				{"takeMark", k.takeMark(kind, "v1", "c1"), tag + ":k:c1"},
			} {
				if c.got != c.want {
					t.Errorf("%s(%q, v1) with prefix %q = %q, want %q", c.name, kind, prefix, c.got, c.want)
				}
			}
		}
		// The keys of a script call's rules, cut from one string.
		for _, names := range [][]string{nil, {"flood"}, {"flood", "", "hour-of-day", "ü"}} {
			var takes []ratelimit.Take
			var want []string
			for _, name := range names {
				takes = append(takes, ratelimit.Take{Rule: ratelimit.Rule{Name: name}})
				want = append(want, k.rate("ip", "v1", name))
			}
			got := k.appendRates([]string{"before"}, "ip", "v1", takes)
			if diff := cmp.Diff(append([]string{"before"}, want...), got); diff != "" {
				t.Errorf("appendRates(before, ip, v1, rules %q) with prefix %q (-want +got):\n%s", names, prefix, diff)
			}
		}
		author, thread := k.rateTag("author", "a1"), k.rateTag("thread", "t1")
		sum := sha256.Sum256([]byte("req-1"))
		for _, c := range []struct{ name, got, want string }{
			{"duplicate", k.duplicate("a1", "x1"), author + ":d:x1"},
			{"authorHistory", k.authorHistory("a1"), author + ":h"},
			{"requestMark", k.requestMark("t1", "req-1"), thread + ":q:" + hex.EncodeToString(sum[:16])},
		} {
			if c.got != c.want {
				t.Errorf("%s with prefix %q = %q, want %q", c.name, prefix, c.got, c.want)
			}
		}
	}
}

// TestShardOfThreadIsCRC32 checks shardOfThread against crc32.ChecksumIEEE, which placed every
// thread stored so far.
func TestShardOfThreadIsCRC32(t *testing.T) {
	ids := []string{"", "a", "article-42", "0" + strings.Repeat("-", 127), "é", "a\xff\x00b"}
	for i := range 2000 {
		ids = append(ids, fmt.Sprintf("article-%d", i), fmt.Sprintf("t:%x~%d", i*7919, i))
	}
	for _, id := range ids {
		if got, want := shardOfThread(id), int(crc32.ChecksumIEEE([]byte(id))%numShards); got != want {
			t.Errorf("shardOfThread(%q) = %d, want %d", id, got, want)
		}
	}
}
