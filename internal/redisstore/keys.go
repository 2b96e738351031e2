package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/spam"
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
//	P S c:<commentID>          hash    the comment record (fields: see record.go). No TTL. Key
//	                                   rotation finds them all by SCAN (recordPattern).
//	P S p:<threadID>           zset    the thread's published comments; member id, score created-at µs. No TTL.
//	P S q:<state>:<threadID>   zset    the thread's comments in a queue state (2 pending, 3 rejected,
//	                                   4 spam); member id, score created-at µs. No TTL.
//	P S q:<state>              zset    the shard's comments in that queue state, all threads, for
//	                                   the moderation queue; member id, score created-at µs. No TTL.
//	P S t:<threadID>           hash    the thread's settings: "mode" (1 pre, 2 post; absent = site
//	                                   default), "closed" ("1"; absent = open) and "first" (unix µs:
//	                                   the start of its auto-close period, its first published or
//	                                   held comment, or a moderator's first decision taking one out
//	                                   of spam or rejection, or its last reopening since; see
//	                                   create.lua, decide.lua). Written by UpdateThread
//	                                   (thread_update.lua). No TTL; a thread back to defaults
//	                                   without comments has no fields, so Redis deletes it.
//	P S tl                     zset    the shard's threads with settings of their own (a mode, or
//	                                   a moderator's close), for ListThreads: member the thread
//	                                   id, score the time of its last settings change (unix µs;
//	                                   0: unknown, a thread configured before the index existed,
//	                                   added by the backfill, IndexThreads). thread_update.lua
//	                                   adds or moves a thread in the step that changes its
//	                                   settings and removes it in the step that puts both back
//	                                   at their defaults; "first" alone (create.lua, decide.lua)
//	                                   never adds one. No TTL; empty, the key goes.
//	P S tm:<token>             hash    the thread settings as they were before the UpdateThread
//	                                   call with that random token changed them ("mode", "closed",
//	                                   "first" as in t:, absent when absent), so a resend of the
//	                                   call by the Redis client, which finds the change made,
//	                                   still tells what the call changed (for the audit log).
//	                                   TTL auditMarkTTL.
//	P S r:<threadID>/<reqID>   string  idempotency record: the record key of the comment created by
//	                                   that request id, alone, as every version reads it (a server
//	                                   of an earlier version, during a rolling upgrade, stores a
//	                                   resend as a second comment when it cannot read the record).
//	                                   A record written by the one version that appended "/" and
//	                                   the fingerprint is still read. TTL requestTTL. reqID is
//	                                   the site's request id in clear (every version looks the
//	                                   record up by it), which comment.Limits.Validate refuses
//	                                   when it holds an IP or email address.
//	P S rf:<threadID>/<reqID>  string  the fingerprint of the request that made that record (32 hex
//	                                   digits of a hash of the keyed hash comment.Service makes of
//	                                   author, name, parent and body), which tells a resend from a
//	                                   reuse of the id; absent for records written before
//	                                   fingerprints were kept (such a request is answered as a
//	                                   resend). Written with the record, same TTL.
//
// The hash key's check, a key of the store as a whole:
//
//	P hk                       string  privacy.Keyring.HashKeyCheck of the hash key the data was
//	                                   written with (a keyed hash of a fixed text, which tells
//	                                   nothing of the key), recorded by the first server to start
//	                                   (CheckHashKey); a server with another hash key refuses to
//	                                   start. No TTL. Releases before it kept none; deleting it by
//	                                   hand lets a server with a new hash key start and record it.
//
// Growth: the keys without a TTL, trim or cap below are those of comments, which are kept until an
// erasure request anonymises them (spam: until the spam retention deletes it, see purge.go), and
// of what belongs to a comment (its index entries, reports, audit entry, label and outcome) or to
// a thread or an author it names. A comment the retention deletes takes with it everything of its
// own below: record, index entries, reports, claim, entry among the decisions not yet learnt, its
// label and outcome fields; its audit entries, the counts it taught the spam model and the
// author's record, the daily counters and its thread's settings stay. They grow by design, by
// about 2 kB per comment, 1.3 kB per decision and 0.4 kB per report (BenchmarkCommentMemory;
// docs/DESIGN.md, "Redis memory over time"). Every other key expires, is trimmed or is capped, as
// its line says.
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
	// tags holds tag(shard) of every shard, made once by newKeys: each comment key starts with
	// one, and a submission's write names a dozen of them. nil (a bare keys{prefix}) makes each
	// tag when asked.
	tags *[numShards]string
	// queues holds shardQueue(shard, state) of every shard and queue state, made once by newKeys:
	// a submission's write names the three of its shard. nil makes each when asked.
	queues *[numShards][comment.StateSpam + 1]string
	// bans is banRecords(), which every abuse check reads; "" makes it when asked.
	bans string
}

// newKeys returns the key layout under prefix.
func newKeys(prefix string) keys {
	k := keys{prefix: prefix}
	tags := new([numShards]string)
	for shard := range tags {
		tags[shard] = k.tag(shard)
	}
	k.tags = tags
	queues := new([numShards][comment.StateSpam + 1]string)
	for shard := range queues {
		for _, st := range queueStates {
			queues[shard][st] = k.shardQueue(shard, st)
		}
	}
	k.queues = queues
	k.bans = k.banRecords()
	return k
}

// shardOfThread returns the shard that holds a thread's data: crc32.ChecksumIEEE of the id, worked
// out a byte at a time from the string with crc32.IEEETable. Converting the id to []byte for
// ChecksumIEEE cost an allocation (the slice escapes through its implementation), twice per
// submission; a thread id has at most 128 bytes, where the table loop costs little.
func shardOfThread(threadID string) int {
	crc := ^uint32(0)
	for i := 0; i < len(threadID); i++ {
		crc = crc32.IEEETable[byte(crc)^threadID[i]] ^ crc>>8
	}
	return int(^crc % numShards)
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
	if k.tags != nil && shard >= 0 && shard < numShards {
		return k.tags[shard]
	}
	return fmt.Sprintf("%s{s%02d}", k.prefix, shard)
}

func (k keys) recordBase(shard int) string { return k.tag(shard) + "c:" }

// record is recordBase(shard) + id, built in one concatenation (one allocation, not two), as are
// the other keys a submission names.
func (k keys) record(shard int, id string) string { return k.tag(shard) + "c:" + id }

// recordPattern is a SCAN MATCH pattern for the comment records of every shard (key rotation
// walks them; see reseal.go). The prefix is escaped: it may hold glob characters.
func (k keys) recordPattern() string {
	return globEscape(k.prefix) + "{s[0-9][0-9]}c:*"
}

// recordID returns the comment id of a record key, and false for any other key (recordPattern
// matches "{s99}c:..." too, and ids are checked like Get checks them).
func (k keys) recordID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.prefix)
	if !ok || len(rest) < len("{s00}c:") {
		return "", false
	}
	id := rest[len("{s00}c:"):]
	shard, ok := shardOfID(id)
	if !ok || !comment.ValidID(id) || k.record(shard, id) != key {
		return "", false
	}
	return id, true
}

// globEscape escapes the characters Redis glob patterns give a meaning to.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (k keys) publishedBase(shard int) string { return k.tag(shard) + "p:" }

func (k keys) published(shard int, threadID string) string {
	return k.tag(shard) + "p:" + threadID
}

func (k keys) threadQueueBase(shard int, st comment.State) string {
	return k.shardQueue(shard, st) + ":"
}

func (k keys) threadQueue(shard int, st comment.State, threadID string) string {
	return k.tag(shard) + "q:" + strconv.Itoa(int(st)) + ":" + threadID
}

func (k keys) shardQueue(shard int, st comment.State) string {
	if k.queues != nil && shard >= 0 && shard < numShards && st >= 0 && int(st) < len(k.queues[shard]) {
		if q := k.queues[shard][st]; q != "" {
			return q
		}
	}
	return k.tag(shard) + "q:" + strconv.Itoa(int(st))
}

func (k keys) thread(shard int, threadID string) string { return k.tag(shard) + "t:" + threadID }

func (k keys) threadList(shard int) string { return k.tag(shard) + "tl" }

func (k keys) threadUpdateMark(shard int, token string) string {
	return k.tag(shard) + "tm:" + token
}

// threadPattern is a SCAN MATCH pattern for the thread settings hashes of every shard (the
// thread index's backfill walks them). The prefix is escaped: it may hold glob characters.
func (k keys) threadPattern() string {
	return globEscape(k.prefix) + "{s[0-9][0-9]}t:*"
}

// threadOfKey returns the shard and thread id of a thread settings key, and false for any other
// key (threadPattern matches "{s99}t:..." too, and a thread in the wrong shard).
func (k keys) threadOfKey(key string) (int, string, bool) {
	rest, ok := strings.CutPrefix(key, k.prefix)
	if !ok || len(rest) < len("{s00}t:") {
		return 0, "", false
	}
	id := rest[len("{s00}t:"):]
	if !comment.ValidThreadID(id) {
		return 0, "", false
	}
	shard := shardOfThread(id)
	if k.thread(shard, id) != key {
		return 0, "", false
	}
	return shard, id, true
}

func (k keys) hashKeyCheck() string { return k.prefix + "hk" }

func (k keys) request(shard int, threadID, requestID string) string {
	return k.tag(shard) + "r:" + threadID + "/" + requestID
}

func (k keys) requestFingerprint(shard int, threadID, requestID string) string {
	return k.tag(shard) + "rf:" + threadID + "/" + requestID
}

// Fields of the thread settings hash.
const (
	tfMode   = "mode"
	tfClosed = "closed"
	tfFirst  = "first"
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
//	P R :q:<reqHash>     string  request marker (kind thread only): "<fingerprint>:<checkID>" of the
//	                             check that first passed with that request id in the thread
//	                             (reqHash: 32 hex digits of the id's SHA-256; fingerprint: as in
//	                             the idempotency record, see requestFingerprint). A later check
//	                             with the same fingerprint is a resend, with another a reuse of the
//	                             id; neither counts. A resend seeing a marker younger than
//	                             ratelimit.Options.Settle (commentd: -redis-timeout plus 1.5 s;
//	                             its age: requestTTL less its PTTL) is answered only from the
//	                             idempotency record. Removed by the refund of
//	                             its check (when the submission is not stored). TTL requestTTL, as the idempotency record.
//	P R :x:<checkID>     string  "1": the counts of that check were given back, so a resent refund
//	                             is not applied twice. TTL refundMarkTTL.
//	P R :k:<checkID>     string  "1": that check counted on this value, so a take the client resends
//	                             after losing its reply is not counted twice, and an unsure refund
//	                             (ratelimit.Ticket.Unsure) knows it has something to give back. Only
//	                             on a value whose call has no duplicate or request marker (which does
//	                             those jobs), or, on one with a marker, when a shadow rule did not
//	                             count. "S" and a '0' or '1' per rule of the call instead of "1"
//	                             when shadow rules (ratelimit.Rule.Shadow) did not count: '1' marks
//	                             them, so the resent take and the unsure refund leave them out.
//	                             TTL takeMarkTTL.
//	P {bans}:r           hash    ban records: field the target id ("author:<hash>", "ip:<hash>",
//	                             "range:<cidr>"), value JSON (see bans.go). No TTL: an expired ban is
//	                             ignored on read and removed by the next ban script.
//	P {bans}:c           zset    every ban's target id, score created-at unix ms, for listing. No TTL.
//	P {bans}:e           zset    the target ids of bans that expire, score expires-at unix ms. No TTL.
//	P {bans}:u:<token>   string  "1": the unban call with that random token removed its ban, so a
//	                             resend of the call by the Redis client is answered as the first
//	                             was. TTL unbanMarkTTL.
//	P {bans}:q:<hash>    hash    the CreateBan request with that request id (hash: the first 32
//	                             hex digits of the SHA-256 of the id, so the name has one shape
//	                             and never shows what a client sent): "f" the request's
//	                             fingerprint (ratelimit.BanCall), "b" the ban it stored (its
//	                             record, as in {bans}:r), "r" the record of the ban it replaced
//	                             ("" for none). A resend with the same fingerprint is answered
//	                             from it; another is refused. TTL
//	                             ratelimit.BanRequestTTL (24 h).
//	P {bans}:a, :st:<day>, :am:<token>  the audit entries of bans and their lifting, their daily
//	                             counters and the marks of PutBan calls, written by the bans
//	                             scripts in the step that changes a ban: see "Moderation workflow
//	                             keys" (B).
//
// Thread ids and rule names never contain '{' or '}', so R is the only hash tag in a name. Emails
// and single addresses appear only as keyed hashes; a banned range is a network, kept in clear.

// refundMarkTTL outlives any resend of a refund by the Redis client (seconds).
const refundMarkTTL = 60

// takeMarkTTL outlives any resend of a take by the Redis client (seconds).
const takeMarkTTL = 60

// unbanMarkTTL outlives any resend of an unban by the Redis client (seconds).
const unbanMarkTTL = 60

func (k keys) rateTag(kind, value string) string { return k.prefix + "{rl:" + kind + ":" + value + "}" }

// The keys below are rateTag plus a suffix, each built in one concatenation (one allocation, not
// two): the abuse check names several per submission.

func (k keys) rate(kind, value, rule string) string {
	return k.prefix + "{rl:" + kind + ":" + value + "}:r:" + rule
}

// appendRates appends rate(kind, value, rule) for the rule of every take to dst, all cut from one
// string: the abuse check names a key per rule (five with the default rules), which cost an
// allocation each, and the tag they share one more.
func (k keys) appendRates(dst []string, kind, value string, takes []ratelimit.Take) []string {
	tagLen := len(k.prefix) + len("{rl:") + len(kind) + len(":") + len(value) + len("}:r:")
	n := 0
	for _, t := range takes {
		n += tagLen + len(t.Rule.Name)
	}
	var b strings.Builder
	b.Grow(n)
	for _, t := range takes {
		b.WriteString(k.prefix)
		b.WriteString("{rl:")
		b.WriteString(kind)
		b.WriteString(":")
		b.WriteString(value)
		b.WriteString("}:r:")
		b.WriteString(t.Rule.Name)
	}
	all, at := b.String(), 0
	for _, t := range takes {
		end := at + tagLen + len(t.Rule.Name)
		dst = append(dst, all[at:end])
		at = end
	}
	return dst
}

func (k keys) duplicate(authorKey, textKey string) string {
	return k.prefix + "{rl:author:" + authorKey + "}:d:" + textKey
}

// requestMark is the marker of a request id in its thread; the id is hashed, so the name has a fixed
// shape whatever the client sent.
func (k keys) requestMark(threadID, requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	return k.prefix + "{rl:thread:" + threadID + "}:q:" + string(h[:])
}

func (k keys) refundMark(kind, value, checkID string) string {
	return k.prefix + "{rl:" + kind + ":" + value + "}:x:" + checkID
}

func (k keys) takeMark(kind, value, checkID string) string {
	return k.prefix + "{rl:" + kind + ":" + value + "}:k:" + checkID
}

func (k keys) banRecords() string {
	if k.bans != "" {
		return k.bans
	}
	return k.prefix + "{bans}:r"
}

func (k keys) banCreated() string { return k.prefix + "{bans}:c" }

func (k keys) banExpiry() string { return k.prefix + "{bans}:e" }

func (k keys) unbanMark(token string) string { return k.prefix + "{bans}:u:" + token }

// banRequest is the record of a ban request id; the id is hashed, as requestMark's.
func (k keys) banRequest(requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	return k.prefix + "{bans}:q:" + string(h[:])
}

// Author history keys
//
//	P{rl:author:<hash>}:h   hash   an author's record: fields "approved", "rejected", "spam" (counts);
//	                               no TTL: one per author a moderator decided about, kept with
//	                               the decided comments it counts. It shares the author's rate-limit tag, so the abuse
//	                               check reads it in the script call it already makes for the author.

// authorHistory is the hash of an author's record, by keyed email hash.
func (k keys) authorHistory(authorKey string) string {
	return k.prefix + "{rl:author:" + authorKey + "}:h"
}

// Spam keys
//
// Spam models, campaign sightings, word lists and the per-comment outcomes behind the authors'
// records (spam*.go, filters*.go, history*.go and their scripts). A model's keys share the tag
// M = "{spam:<v>:site}" for the site's model or "{spam:<v>:x:<name>}" for a scratch model, v being
// spam.FeatureVersion (counts of one tokeniser mean nothing to another, so a new one starts a new
// model beside the old). One training step is one script on one slot. A token is a feature of
// spam.FeatureVersion: a kind and a bucket of the word's hash, or a finite token (a number, the
// length bucket) as it is. A bucket hides nothing (hashing a list of guesses finds it), so the
// tokeniser never makes a token from an address's local part or an IP address.
//
//	P M:c        hash    token counts: field "s:<token>" (spam) and "h:<token>" (ham), value the
//	                     number of trained messages holding the token; absent = 0. No TTL (scratch:
//	                     scratchModelTTL, renewed by every training).
//	P M:n        hash    totals: "spam", "ham" (messages), "spam_tokens", "ham_tokens", "vocab",
//	                     "seq", the number of the last change (site model), and "gen", set when
//	                     the model is made: Redis' clock in µs, naming this life of it. TTL as M:c.
//	P M:l        hash    site model only: what each decided comment taught, field comment id, value
//	                     "s" or "h"; once an erasure request reached the comment, "S" or "H" (it
//	                     teaches its anonymised features) or "E" (it taught nothing), so every
//	                     erased comment has a field, decided or not (spam_train.lua). No TTL: a
//	                     field lives as long as its comment, since a later decision on it must
//	                     untrain exactly what it taught; the spam retention removes it with its
//	                     comment (what it taught stays counted).
//	P M:x        stream  site model only: one entry per change, fields "seq", "tot" (the totals after
//	                     it, space-separated in the order above) and "tok" (JSON [token, spam, ham,
//	                     ...]: the counts after it of every token it touched). Trimmed to about
//	                     spamStreamLen entries; a server that falls further behind reloads the model.
//	P M:e        hash    the examples the model was trained with, for its forest: "n:<id>" how
//	                     many times the example is trained, "t:<id>" its class ("s" or "h"), a
//	                     space and its tokens without the character n-grams, sorted and
//	                     space-separated (<id>: 24 hex digits of the SHA-1 of that text). The tokens
//	                     are the counts' (hashed buckets, see M:c), nothing more. At most
//	                     spamMaxExamples of them; an undo or an erasure's move takes an example out
//	                     as it takes its counts back (spam_train.lua). Scratch models: TTL as M:c.
//	P M:o        zset    the examples' ids by the change number (M:n "seq") that first trained
//	                     them: beyond spamMaxExamples the oldest are dropped.
//	P M:b:<id>   string  the "gen" of M:n ("1" for a model made without one), a space and the
//	                     random token of the call that set it (older marks: the gen alone):
//	                     training step <id> was applied in that life of the model, so a resent
//	                     step is not applied twice (and its call, by the token, is told it applied
//	                     it), and a model deleted and made again is trained again.
//	                     TTL spamBatchMarkTTL, or trainRequestMarkTTL when the call had a request id
//	                     (<id> is then "r" and a hash of the request id and the step).
//	P M:d:<token> string "1": the deletion call with that random token deleted the (scratch)
//	                     model, so a resend of the call by the Redis client is answered as the
//	                     first was. TTL spamDeleteMarkTTL.
//	P {spam:campaigns}:x  stream  campaign sightings, one entry per batch a server wrote: fields "o"
//	                     (the writing server's random id) and "s" (sightings "<fp hex> <author key>
//	                     <µs>" joined by ","); or, written by an erasure request, field "e" ("1"):
//	                     every server then drops the sightings of the authors named in
//	                     {spam:campaigns}:e from memory. Trimmed by MINID to the campaign window.
//	P {spam:campaigns}:e  zset    the authors an erasure request named lately: member the author
//	                     key, score when it lapses (unix ms of Redis time, campaignErasureTTL after
//	                     the request). While a name stands, campaigns_write.lua leaves that author's
//	                     sightings out of every batch (looking up only the batch's authors). Lapsed
//	                     names are removed by the next erasure (one range deletion); the key expires
//	                     campaignErasureTTL after the last erasure.
//	P {spam:filters}:e   hash    word-list entries: field the entry id, value JSON (see filters.go);
//	                     email and single-address entries hold only a masked form and a keyed hash.
//	P {spam:filters}:v   string  the word lists' version, moved on by a random step
//	                     (randomVersionStep) by every change; servers poll it and reload the
//	                     lists when it moves, and ListFilters reads it
//	                     to know whether the entries it read before are still current. No TTL.
//	P {spam:filters}:u:<token> string "1": the deletion call with that random token removed its
//	                     entry, so a resend of the call by the Redis client is answered as the
//	                     first was. TTL filterDeleteMarkTTL.
//	P {spam:filters}:a, :st:<day>  the audit entries of word-list entries added and removed, and
//	                     their daily counters, written by filters_write.lua in the step that
//	                     changes the lists: see "Moderation workflow keys" (F).
//	P{rl:author:<hash>}:o hash   the outcome each decided comment of the author counts as in the
//	                     record (":h"), field comment id, value "approved", "rejected" or "spam";
//	                     so a retried decision does not count twice. Same tag as the record. No TTL:
//	                     a field lives as long as its comment, which a later decision may move; the
//	                     spam retention removes it with its comment (the record keeps counting it).
//	P{rl:author:<hash>}:e string "1": an erasure request deleted the author's record; while it
//	                     exists no outcome is recorded (history_record.lua), so a decision that read
//	                     the comment before the erasure does not bring the record back. TTL
//	                     erasureFenceTTL.

const (
	scratchModelTTL  = 7 * 24 * 60 * 60 // seconds: an evaluation that never deleted its model
	spamBatchMarkTTL = 60               // seconds: outlives any resend by the Redis client
	// trainRequestMarkTTL (seconds) is how long a training call with a request id can be resent
	// without training twice: long enough for an operator to notice a failed run and start it again.
	trainRequestMarkTTL = 24 * 60 * 60
	spamStreamLen       = 1000 // entries kept in a change stream; one step of a big training call is up to ~100 kB
	// spamMaxExamples bounds a model's examples (M:e), and so the Redis memory they take and the
	// work of fitting its forest on every server: beyond it the oldest go.
	spamMaxExamples   = 20000
	siteModelName     = "site"
	scratchModelInfix = "x:"
)

// spamDeleteMarkTTL outlives any resend of a model's deletion by the Redis client (seconds).
const spamDeleteMarkTTL = 60

// filterDeleteMarkTTL outlives any resend of a word-list deletion by the Redis client (seconds).
const filterDeleteMarkTTL = 60

// spamModelTag is the hash tag of a model's keys; model "" is the site's.
func (k keys) spamModelTag(model string) string {
	if model == "" {
		return fmt.Sprintf("%s{spam:%d:%s}", k.prefix, spam.FeatureVersion, siteModelName)
	}
	return fmt.Sprintf("%s{spam:%d:%s%s}", k.prefix, spam.FeatureVersion, scratchModelInfix, model)
}

// siteModelTotalsAt is the totals key of the site's model of feature version v.
func (k keys) siteModelTotalsAt(v int) string {
	return fmt.Sprintf("%s{spam:%d:%s}:n", k.prefix, v, siteModelName)
}

func (k keys) spamCounts(model string) string { return k.spamModelTag(model) + ":c" }

func (k keys) spamTotals(model string) string { return k.spamModelTag(model) + ":n" }

func (k keys) spamLabels(model string) string { return k.spamModelTag(model) + ":l" }

func (k keys) spamStream(model string) string { return k.spamModelTag(model) + ":x" }

func (k keys) spamExamples(model string) string { return k.spamModelTag(model) + ":e" }

func (k keys) spamExampleOrder(model string) string { return k.spamModelTag(model) + ":o" }

func (k keys) spamBatchMark(model, id string) string { return k.spamModelTag(model) + ":b:" + id }

func (k keys) spamDeleteMark(model, token string) string {
	return k.spamModelTag(model) + ":d:" + token
}

func (k keys) campaignStream() string { return k.prefix + "{spam:campaigns}:x" }

func (k keys) campaignErased() string { return k.prefix + "{spam:campaigns}:e" }

func (k keys) filterEntries() string { return k.prefix + "{spam:filters}:e" }

func (k keys) filterVersion() string { return k.prefix + "{spam:filters}:v" }

func (k keys) filterDeleteMark(token string) string { return k.prefix + "{spam:filters}:u:" + token }

// authorOutcomes is the hash of the outcomes the author's record counts, by keyed email hash.
func (k keys) authorOutcomes(authorKey string) string { return k.rateTag("author", authorKey) + ":o" }

// authorErased is the fence an erasure request puts up when it deletes the author's record.
func (k keys) authorErased(authorKey string) string { return k.rateTag("author", authorKey) + ":e" }

// Moderation workflow keys
//
// The audit log, review claims, readers' reports, daily counters and queue events (audit*.go,
// claims*.go, reports*.go, stats*.go, events*.go and their scripts). What belongs to a comment or
// a thread lives in its shard, with S = "{sNN}" as above, so create.lua, decide.lua and the
// report script reach it in their one slot. Bans and word-list entries are recorded beside them,
// under B = "{bans}:" and F = "{spam:filters}:", by the scripts that change them (bans_put.lua,
// bans_delete.lua, filters_write.lua), in the same atomic step. Other actions on nothing sharded
// (erasures, exports, the spam retention, spam models) use the tag X = "{audit}", which also
// holds the bans and word-list entries recorded before they moved to B and F (it is still read).
// Moderator names are API key names (apikey.ValidName: no '{', '}' or ':'), so they may end a
// key name.
//
//	P S a                stream  the shard's audit log: decisions on its comments, report takedowns
//	                             and its threads' setting changes. Fields "by" (moderator), "act"
//	                             (moderation.AuditAction), "target" (resource name), "from", "to"
//	                             (state numbers; absent unless a comment action), "reason". Entry
//	                             ids are Redis's (unix ms-seq): the entry's time. No TTL, no trim:
//	                             the log of decisions is kept like the comments they decided.
//	P X a                stream  the same for actions on nothing sharded.
//	P B a                stream  the same for bans (actions ban and unban, target bans/{id}).
//	P F a                stream  the same for word-list entries (create_filter, delete_filter,
//	                             target filters/{id}).
//	P S am:<token>       string  "1": the AppendAudit call with that random token appended its
//	                             entry, so a resend of the call by the Redis client appends and
//	                             counts nothing more. TTL auditMarkTTL. The same under X; under
//	                             B, for the ban of that PutBan call (bans_put.lua). An unban and
//	                             a word-list change need none: their marks above ({bans}:u:,
//	                             {spam:filters}:u:) or the entry itself tell a resend.
//	P S cl:<commentID>   string  a review claim: the holder's moderator name. TTL: the lease.
//	P S cm:<moderator>   zset    the moderator's claims in the shard: member comment id, score
//	                             the lease's end (unix ms). TTL: the longest lease it lists (every
//	                             claim, and a reopen that claims, extends it). Ended leases are
//	                             also dropped by the moderator's next claim or reopen, releases
//	                             and decisions remove their comment, and the key goes with its
//	                             last member.
//	P S ul               zset    decisions not yet learnt: member comment id, score the decision's
//	                             time (unix µs), or, once its learning failed, when to try again. decide.lua adds the comment in the decision's step;
//	                             the spam model and the author's record learn from it in later
//	                             calls, after which MarkLearnt removes it (only if no later decision
//	                             replaced its score). What a crash between the two leaves here is
//	                             learnt by moderation.Service.LearnPending (commentd runs it every
//	                             few seconds). No TTL; empty, the key goes.
//	P S pf               zset    comments deleted by the spam retention whose label in the site's
//	                             spam model and outcome in the author's record (other slots) are
//	                             still to be removed: member "<commentID> <author key>" (the key
//	                             empty when an erasure removed it, from the record before the
//	                             deletion or, after it, from here: erase_purged.lua), score the deletion's time
//	                             (unix µs). purge.lua adds the comment as it deletes it,
//	                             PurgeSpam removes the two fields and then the member, once the
//	                             entry is purgeSettle (10 min) old; what a crash between the two
//	                             leaves is finished by the next PurgeSpam of any server. No TTL;
//	                             empty, the key goes.
//	P S pm:<token>       string  "1": the purge.lua call with that random token deleted its
//	                             comment, so that a resend of the call by the Redis client, which
//	                             finds the comment gone, still counts it (and another server's
//	                             call, without the mark, does not). TTL purgeMarkTTL.
//	P S rp:<commentID>   hash    report counters: "n" distinct reports, "base" n when a moderator
//	                             last approved the comment. No TTL (like the record).
//	P S rr:<commentID>   set     the readers who reported the comment, each as a keyed hash: of
//	                             the site's id of them, else of their IP address (an IPv6 one by
//	                             its /64), else of the API key (moderation.Service.Report). No TTL.
//	P S rl:<commentID>   list    the newest reports, newest first, at most moderation.
//	                             MaxReportsShown: "<unix µs> <reason>". No TTL.
//	P S st:<day>         hash    the shard's counters of one UTC day (days since 1970-01-01):
//	                             "sub" comments submitted, "spam" of those judged or marked spam,
//	                             "d:<moderator>:<a|r|s|o>" actions (approve, reject, mark spam,
//	                             other). Expires statsKeep seconds after the day ends.
//	P X st:<day>         hash    the same counters for actions on nothing sharded; under B
//	                             and F, for bans and word-list entries (written there only since
//	                             they moved: earlier days' counts of them are under X).
//	P events             channel queue events: "<kind> <commentID> <threadID> <unix µs>", kind held,
//	                             reported, spam or decided. A channel has no slot: scripts in any
//	                             slot may publish, and Redis Cluster delivers to every node.

// auditMarkTTL outlives any resend of an audit entry by the Redis client (seconds).
const auditMarkTTL = 60

// purgeMarkTTL outlives any resend of a spam comment's purge by the Redis client (seconds).
const purgeMarkTTL = 60

// statsKeep is how long daily counters live after their day ends (seconds): the longest period
// GetStats reads, and two days' margin.
const statsKeep = (moderation.MaxStatsDays + 2) * 24 * 60 * 60

// The audit log's streams (and daily counters) are numbered after the shards, 0..auditStreams-1:
// the shards' own, then auditShard for actions on nothing sharded ("{audit}"), then those of bans
// and of word-list entries, in their slots. The numbers are in page tokens and entry ids: never
// renumber one.
const (
	auditShard   = numShards
	auditBans    = numShards + 1
	auditFilters = numShards + 2
	auditStreams = numShards + 3
)

func (k keys) auditTag() string { return k.prefix + "{audit}" }

// workflowTag returns the start of the audit and counter keys of a stream number: the shard's
// tag, the audit tag, or the bans' or word lists' tag and ':'.
func (k keys) workflowTag(shard int) string {
	switch shard {
	case auditShard:
		return k.auditTag()
	case auditBans:
		return k.prefix + "{bans}:"
	case auditFilters:
		return k.prefix + "{spam:filters}:"
	}
	return k.tag(shard)
}

func (k keys) audit(shard int) string { return k.workflowTag(shard) + "a" }

func (k keys) auditMark(shard int, token string) string {
	return k.workflowTag(shard) + "am:" + token
}

func (k keys) unlearnt(shard int) string { return k.tag(shard) + "ul" }

func (k keys) purgedToForget(shard int) string { return k.tag(shard) + "pf" }

func (k keys) purgeMark(shard int, token string) string { return k.tag(shard) + "pm:" + token }

func (k keys) claim(shard int, id string) string { return k.claimBase(shard) + id }

func (k keys) claimBase(shard int) string { return k.tag(shard) + "cl:" }

func (k keys) moderatorClaimsBase(shard int) string { return k.tag(shard) + "cm:" }

func (k keys) moderatorClaims(shard int, moderator string) string {
	return k.moderatorClaimsBase(shard) + moderator
}

func (k keys) reportCounts(shard int, id string) string { return k.tag(shard) + "rp:" + id }

func (k keys) reporters(shard int, id string) string { return k.tag(shard) + "rr:" + id }

func (k keys) reportList(shard int, id string) string { return k.tag(shard) + "rl:" + id }

func (k keys) statsBase(shard int) string { return k.workflowTag(shard) + "st:" }

func (k keys) stats(shard int, day int64) string {
	return k.statsBase(shard) + strconv.FormatInt(day, 10)
}

func (k keys) events() string { return k.prefix + "events" }
