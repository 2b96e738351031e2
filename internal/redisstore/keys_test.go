package redisstore

import (
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
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
