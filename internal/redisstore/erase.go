package redisstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/spam"
)

// Erasure requests (moderation.Eraser). There is no index from an author to their comments (it
// would be one more copy of the keyed hash to erase), so an erasure walks every record as key
// rotation does (scanRecords): per SCAN slice, one pipeline of HGETs of the author key and, for
// the author's records, one pipeline reading them whole for the Before hook (the learner moves
// their training to the anonymised features) and one pipeline of erase.lua calls. Memory stays one slice whatever the
// store's size.

//go:embed erase.lua
var eraseSrc string

// Immutable like the claim scripts, and run pipelined: runScripts loads it again after a NOSCRIPT.
var eraseScript = redis.NewScript(eraseSrc)

//go:embed erase_purged.lua
var erasePurgedSrc string

// Run pipelined, one call per shard, like eraseScript.
var erasePurgedScript = redis.NewScript(erasePurgedSrc)

var _ moderation.Eraser = (*Store)(nil)

// EraseAuthor implements moderation.Eraser, in one walk whatever the number of author keys. The
// author's records and outcomes are deleted after the walk: deleted first, a decision on a comment
// not yet anonymised could write them again. A decision racing with the walk that writes them
// after this deletion is refused by the fence the deletion puts up (history_record.lua).
func (s *Store) EraseAuthor(ctx context.Context, authorKeys []string, opts moderation.EraseOptions) (int, error) {
	if err := checkAuthorKeys(authorKeys); err != nil {
		return 0, fmt.Errorf("redisstore: erase author: %w", err)
	}
	// ARGV[1] is the key the record holds, one of authorKeys. The token (ARGV[3]) is drawn for
	// each record, not for the request: a token shared by the author's records would link them to
	// each other, which the erasure exists to undo.
	eraseArgs := []any{"", opts.Name, "", erasedReason}
	for _, p := range spam.PersonalReasonPrefixes() {
		eraseArgs = append(eraseArgs, p)
	}
	n := 0
	err := s.scanRecords(ctx, opts.Scan, func(ctx context.Context, keys []string) error {
		mine, held, err := s.authorRecords(ctx, opts.Scan.CallTimeout, keys, authorKeys)
		if err != nil || len(mine) == 0 {
			return err
		}
		if opts.DryRun {
			n += len(mine)
			return nil
		}
		if opts.Before != nil {
			cs, err := s.records(ctx, opts.Scan.CallTimeout, mine)
			if err != nil {
				return err
			}
			if err := opts.Before(ctx, cs); err != nil {
				return err
			}
		}
		calls := make([]scriptCall, len(mine))
		for i, k := range mine {
			args := slices.Clone(eraseArgs)
			args[0], args[2] = held[i], rand.Text()
			calls[i] = scriptCall{keys: []string{k}, args: args}
		}
		cctx, cancel := callContext(ctx, opts.Scan.CallTimeout)
		defer cancel()
		cmds, err := s.runScripts(cctx, eraseScript, calls)
		if err != nil {
			return storeError("anonymise comments", err)
		}
		for _, c := range cmds {
			done, err := c.Int()
			if err != nil {
				return fmt.Errorf("redisstore: anonymise comments: %w: reply of type %T", errCorrupt, c.Val())
			}
			n += done
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if opts.DryRun {
		return n, nil
	}
	for _, authorKey := range authorKeys {
		if err := s.forgetAuthor(ctx, opts.Scan.CallTimeout, authorKey); err != nil {
			return n, err
		}
	}
	return n, nil
}

// checkAuthorKeys refuses an erasure's or an export's author keys when there are none or one is
// empty: anonymised records have no author key, so "" would match nothing, but it is a caller's bug.
func checkAuthorKeys(authorKeys []string) error {
	if len(authorKeys) == 0 || slices.Contains(authorKeys, "") {
		return errors.New("no author key, or an empty one")
	}
	return nil
}

// forgetAuthor deletes what the store keeps under authorKey besides the comments, once the walk
// has anonymised them: the author's record and outcomes, the key in the purged comments still to
// forget, the campaign sightings.
func (s *Store) forgetAuthor(ctx context.Context, timeout time.Duration, authorKey string) error {
	cctx, cancel := callContext(ctx, timeout)
	defer cancel()
	// One transaction on the author's slot (the keys carry the author's hash tag): the record goes
	// and the fence goes up at once. A decision that read a comment before the walk anonymised it
	// records its outcome either before this (and the DEL removes it) or after (and the fence
	// refuses it), whatever fails in between: no later step of the decision has to clean up.
	cmds, err := s.rdb.TxPipelined(cctx, func(p redis.Pipeliner) error {
		p.Del(cctx, s.keys.authorHistory(authorKey), s.keys.authorOutcomes(authorKey))
		p.Set(cctx, s.keys.authorErased(authorKey), "1", erasureFenceTTL)
		return nil
	})
	if err := txError(cmds, err); err != nil {
		return storeError("delete the author's record", err)
	}
	if err := s.forgetPurgedAuthor(ctx, timeout, authorKey); err != nil {
		return err
	}
	return s.forgetSightings(ctx, timeout, authorKey)
}

// forgetPurgedAuthor takes authorKey out of every shard's list of purged comments still to forget
// (see purge.go): a comment of the author the spam retention deleted less than purgeSettle ago is
// listed there with its author key, which no walk over the records finds, and the list has no TTL.
// It runs after the walk: a purge racing with it deletes a record the walk then misses, and lists
// it with the key. The entries stay, without the key, so the purge still forgets their labels.
func (s *Store) forgetPurgedAuthor(ctx context.Context, timeout time.Duration, authorKey string) error {
	calls := make([]scriptCall, numShards)
	for shard := range numShards {
		calls[shard] = scriptCall{keys: []string{s.keys.purgedToForget(shard)}, args: []any{authorKey}}
	}
	cctx, cancel := callContext(ctx, timeout)
	defer cancel()
	cmds, err := s.runScripts(cctx, erasePurgedScript, calls)
	if err != nil {
		return storeError("take the author out of the purged comments", err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return storeError("take the author out of the purged comments", err)
		}
	}
	return nil
}

// forgetSightings deletes the campaign detector's copies of authorKey's sightings: a sighting
// pairs the author's keyed hash with the fingerprint and time of their comment, which would link
// the hash to the anonymised text. It first names the author in the erased authors and appends the
// marker that makes every server drop their sightings from memory (campaigns_erase.lua; see
// campaignErasureTTL): from then on no server's batch carries a sighting of theirs, even one it
// held while this ran. It then deletes the stream's entries that hold one, written before; on a
// quiet site nothing trims the stream. An entry is one server's batch of 50 ms, so other authors'
// sightings in it go too: the servers running now keep them in memory, and only a server started
// within the campaign window misses them (a campaign shows up as many copies).
func (s *Store) forgetSightings(ctx context.Context, timeout time.Duration, authorKey string) error {
	const page = 500
	stream, needle := s.keys.campaignStream(), " "+authorKey+" "
	cctx, cancel := callContext(ctx, timeout)
	err := campaignsEraseScript.Run(cctx, s.rdb, []string{s.keys.campaignErased(), stream}, authorKey, campaignErasureTTL.Milliseconds()).Err()
	cancel()
	if err != nil {
		return storeError("name the author for the campaign writers", err)
	}
	from := "-"
	for {
		cctx, cancel := callContext(ctx, timeout)
		msgs, err := s.rdb.XRangeN(cctx, stream, from, "+", page).Result()
		cancel()
		if err != nil {
			return storeError("read campaign sightings", err)
		}
		var ids []string
		for _, m := range msgs {
			if packed, _ := m.Values["s"].(string); strings.Contains(packed, needle) {
				ids = append(ids, m.ID)
			}
		}
		if len(ids) > 0 {
			cctx, cancel := callContext(ctx, timeout)
			err := s.rdb.XDel(cctx, stream, ids...).Err()
			cancel()
			if err != nil {
				return storeError("delete campaign sightings", err)
			}
		}
		if len(msgs) < page {
			return nil
		}
		from = "(" + msgs[len(msgs)-1].ID
	}
}

// erasureFenceTTL is how long the fence stays up after an erasure deleted the author's record: far
// longer than a decision takes between reading a comment and recording its outcome (a decision is
// one call, bounded by -redis-timeout). Meanwhile a decision on a new comment of the same author
// does not count in their (new) record. Like the duplicate markers, it names the keyed hash until
// it expires.
const erasureFenceTTL = 10 * time.Minute

// erasedReason replaces the message of a hold reason that described the author's own data (a word
// list's match on the name or the email domain quotes it, AUTHOR_SPAM copies the author's record);
// the reason's code stays and tells which check held the comment, so the message claims no more
// than that the reason was about the author.
const erasedReason = "the author's data (the details went with an erasure request)"

// records reads and decodes the comment records under keys, in one pipeline; a record that is gone
// is left out.
func (s *Store) records(ctx context.Context, timeout time.Duration, keys []string) ([]comment.Comment, error) {
	ctx, cancel := callContext(ctx, timeout)
	defer cancel()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	})
	out := make([]comment.Comment, 0, len(keys))
	for i, c := range cmds {
		m, err := c.Result()
		if err != nil {
			return nil, storeError("read comment records", err)
		}
		if len(m) == 0 {
			continue
		}
		rec, err := decodeRecord(m)
		if err != nil {
			return nil, fmt.Errorf("redisstore: read comment record %s: %w", keys[i], err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// authorRecords returns those of keys (found by SCAN) that are records of comments whose author key
// is one of authorKeys, and the author key each holds, read in one pipeline.
func (s *Store) authorRecords(ctx context.Context, timeout time.Duration, keys []string, authorKeys []string) (mine, held []string, err error) {
	records := make([]string, 0, len(keys))
	cmds := make([]*redis.StringCmd, 0, len(keys))
	ctx, cancel := callContext(ctx, timeout)
	defer cancel()
	// The pipeline's own error is the first command's, which may be a mere redis.Nil; each
	// command's is checked below.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			if _, ok := s.keys.recordID(k); ok {
				records = append(records, k)
				cmds = append(cmds, p.HGet(ctx, k, fAuthorKey))
			}
		}
		return nil
	})
	mine = records[:0]
	for i, c := range cmds {
		switch v, err := c.Result(); {
		case errors.Is(err, redis.Nil):
			// No author key (anonymised already), or the record is gone.
		case err != nil:
			return nil, nil, storeError("read author keys", err)
		case slices.Contains(authorKeys, v):
			mine = append(mine, records[i])
			held = append(held, v)
		}
	}
	return mine, held, nil
}
