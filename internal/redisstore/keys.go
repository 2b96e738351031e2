package redisstore

import (
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/commentd/commentd/internal/comment"
)

// The key layout. Every key name is built in this file, from the store's prefix (default
// "commentd:v1:", versioned so that a future layout can live beside this one).
//
// Data is split into numShards shards. A thread belongs to shard crc32(threadID) % numShards, and
// every key of a shard carries the hash tag "{sNN}" (NN = two decimal digits), so in a Redis
// Cluster all keys one submission or one decision touches are in a single hash slot and one Lua
// script can update them atomically. A comment id starts with its shard's two digits (see newID),
// so a comment is found from its id alone.
//
// With P = prefix and S = "{sNN}":
//
//	P S c:<commentID>          hash    the comment record (fields: see record.go). No TTL.
//	P S p:<threadID>           zset    the thread's published comments; member id, score created-at µs. No TTL.
//	P S q:<state>:<threadID>   zset    the thread's comments in a queue state (2 pending, 3 rejected,
//	                                   4 spam); member id, score created-at µs. No TTL.
//	P S q:<state>              zset    the shard's comments in that queue state, all threads, for
//	                                   the moderation queue; member id, score created-at µs. No TTL.
//	P S t:<threadID>           hash    the thread's settings: "mode" (1 pre, 2 post; absent = site
//	                                   default) and "closed" ("1"; absent = open). No TTL; a thread
//	                                   back to defaults has no fields, so Redis deletes the key.
//	P S r:<threadID>/<reqID>   string  idempotency record: the record key of the comment created by
//	                                   that request id. TTL requestTTL.
//
// Thread ids never contain '/', '{' or '}' (comment.ValidThreadID), so the names above cannot
// collide with each other and the only hash tag in a name is S. No personal data appears in any
// key: records hold the author's email and IP only sealed, and the keyed hashes only as values.
//
// The Lua scripts touch keys they only learn at run time (the record of an id read from an index,
// the indexes of the thread read from a record). They build those names by appending the id or
// thread id to a base passed in ARGV, made by the *Base methods below, so the layout stays here.
// Every such key carries the same hash tag as the script's KEYS[1], so it lives in the same
// slot on the same node, which is what Redis Cluster checks when a script runs.
const numShards = 16

// requestTTL is how long an idempotency record lives: a client retrying a submission later than
// this gets a second comment.
const requestTTL = 24 * 60 * 60 // seconds

type keys struct {
	prefix string
}

// shardOfThread returns the shard that holds a thread's data.
func shardOfThread(threadID string) int {
	return int(crc32.ChecksumIEEE([]byte(threadID)) % numShards)
}

// shardOfID returns the shard encoded in a comment id by newID, and false for an id this store
// never issued.
func shardOfID(id string) (int, bool) {
	if len(id) < 3 || id[0] < '0' || id[0] > '9' || id[1] < '0' || id[1] > '9' {
		return 0, false
	}
	n := int(id[0]-'0')*10 + int(id[1]-'0')
	return n, n < numShards
}

// tag returns the prefix plus the shard's hash tag: the start of every key of the shard.
func (k keys) tag(shard int) string {
	return fmt.Sprintf("%s{s%02d}", k.prefix, shard)
}

func (k keys) recordBase(shard int) string { return k.tag(shard) + "c:" }

func (k keys) record(shard int, id string) string { return k.recordBase(shard) + id }

func (k keys) publishedBase(shard int) string { return k.tag(shard) + "p:" }

func (k keys) published(shard int, threadID string) string {
	return k.publishedBase(shard) + threadID
}

func (k keys) threadQueueBase(shard int, st comment.State) string {
	return k.shardQueue(shard, st) + ":"
}

func (k keys) threadQueue(shard int, st comment.State, threadID string) string {
	return k.threadQueueBase(shard, st) + threadID
}

func (k keys) shardQueue(shard int, st comment.State) string {
	return k.tag(shard) + "q:" + strconv.Itoa(int(st))
}

func (k keys) thread(shard int, threadID string) string { return k.tag(shard) + "t:" + threadID }

func (k keys) request(shard int, threadID, requestID string) string {
	return k.tag(shard) + "r:" + threadID + "/" + requestID
}

// Fields of the thread settings hash.
const (
	tfMode   = "mode"
	tfClosed = "closed"
)

// queueStates are the states that have queues, in the order scripts receive their keys.
var queueStates = [...]comment.State{comment.StatePending, comment.StateRejected, comment.StateSpam}

// Abuse control keys
//
// Rate limits, duplicate markers and bans (ratelimit.go, duplicate.go, bans.go and their scripts).
// Every counted value has a hash tag of its own, "{rl:<kind>:<value>}", so the rules on one value,
// and for an author the duplicate markers, are one slot and one script call; the four kinds of
// value of a submission (ip, author, thread, site) are four slots, sent in one pipeline. All bans
// share the tag "{bans}", so one HMGET finds every ban that can match a submission. With P = prefix
// and R = "{rl:<kind>:<value>}", kind being ip or author (value: the keyed hash), thread (value:
// the thread id) or site (value empty):
//
//	P R :r:<rule>        string  GCRA state of a rule: the theoretical arrival time, in µs of Redis
//	                             time. TTL: until that time has passed (the state is then "idle").
//	P R :d:<textKey>     string  duplicate marker (kind author only): the marker of the submission
//	                             that set it, "n:<checkID>", or "r:<reqHash>:<checkID>" when the
//	                             submission had a request id (reqHash: 32 hex digits of its SHA-256).
//	                             TTL: the duplicate window. textKey: keyed hash of thread + normalised body.
//	P R :x:<checkID>     string  "1": the counts of that check were given back, so a resent refund
//	                             is not applied twice. TTL refundMarkTTL.
//	P {bans}:r           hash    ban records: field the target id ("author:<hash>", "ip:<hash>",
//	                             "range:<cidr>"), value JSON (see bans.go). No TTL: an expired ban is
//	                             ignored on read and removed by the next ban script.
//	P {bans}:c           zset    every ban's target id, score created-at unix ms, for listing. No TTL.
//	P {bans}:e           zset    the target ids of bans that expire, score expires-at unix ms. No TTL.
//
// Thread ids and rule names never contain '{' or '}', so R is the only hash tag in a name. Emails
// and single addresses appear only as keyed hashes; a banned range is a network, kept in clear.

// refundMarkTTL outlives any resend of a refund by the Redis client (seconds).
const refundMarkTTL = 60

func (k keys) rateTag(kind, value string) string { return k.prefix + "{rl:" + kind + ":" + value + "}" }

func (k keys) rate(kind, value, rule string) string { return k.rateTag(kind, value) + ":r:" + rule }

func (k keys) duplicate(authorKey, textKey string) string {
	return k.rateTag("author", authorKey) + ":d:" + textKey
}

func (k keys) refundMark(kind, value, checkID string) string {
	return k.rateTag(kind, value) + ":x:" + checkID
}

func (k keys) banRecords() string { return k.prefix + "{bans}:r" }

func (k keys) banCreated() string { return k.prefix + "{bans}:c" }

func (k keys) banExpiry() string { return k.prefix + "{bans}:e" }

// Author history keys
//
//	P{rl:author:<hash>}:h   hash   an author's record: fields "approved", "rejected", "spam" (counts);
//	                               no TTL. It shares the author's rate-limit tag, so the abuse
//	                               check reads it in the script call it already makes for the author.

// authorHistory is the hash of an author's record, by keyed email hash.
func (k keys) authorHistory(authorKey string) string { return k.rateTag("author", authorKey) + ":h" }
