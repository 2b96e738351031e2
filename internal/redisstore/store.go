// Package redisstore keeps comments in Redis: it implements comment.Store and moderation.Store on
// a standalone, Sentinel-managed or Cluster Redis (and, for development only, on miniredis).
//
// Each submission, each moderator decision and each thread update is one Lua script, so it is
// atomic and costs one network round trip; the key layout (keys.go) keeps every key a script
// touches in one Cluster hash slot. Personal data reaches Redis only sealed or as keyed hashes, as
// comment.Comment carries it; no key name holds any.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "commentd:v1:"

// Options configures a Store.
type Options struct {
	// Prefix starts every key name. Default DefaultPrefix; versioned so a future layout can live
	// beside this one. It must not contain '{' or '}': the keys' hash tags must be the store's own.
	Prefix string
	// CloseThreadsAfter closes a thread to new comments this long after its first comment
	// that is not spam (or its last reopening); 0 never does. GetThread reports such a thread closed.
	CloseThreadsAfter time.Duration
	// MaxReplyDepth is the deepest a reply may be nested, a top-level comment being at depth 0:
	// a reply to a comment at this depth is refused with comment.ErrReplyTooDeep. 0: no bound.
	MaxReplyDepth int
}

var (
	//go:embed create.lua
	createSrc string
	//go:embed decide.lua
	decideSrc string
	//go:embed page.lua
	pageSrc string
	//go:embed thread_update.lua
	threadUpdateSrc string
)

// Store is the Redis-backed comment store. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	keys   keys
	create *shaScript
	decide *redis.Script
	page   *redis.Script
	// threadUpdate is thread_update.lua, every UpdateThread.
	threadUpdate *redis.Script
	// batch sends the request path's commands (the abuse check, the comment's write) together
	// with those of concurrent submissions.
	batch *batcher
	// closeAfter is Options.CloseThreadsAfter.
	closeAfter time.Duration
	// maxExamples is how many distinct examples a spam model keeps (spamMaxExamples; tests set
	// fewer).
	maxExamples int
	// scratchForests holds the forests of scratch models, fitted when first asked for after a
	// change (spam_forest.go).
	scratchForests forestCache
	// maxDepth is Options.MaxReplyDepth.
	maxDepth int
	// workflowArgs holds createWorkflowArgs of every shard, made by New; read only.
	workflowArgs [numShards][]any
	// events is the subscription WatchQueue's streams share.
	events *eventHub
	// watchStall is how long WatchQueue waits on a watcher that fell behind (watchStall; tests
	// shorten it).
	watchStall time.Duration
	// purgeFrom is where PurgeSpam's next call reads each shard's spam queue from: a ZRANGEBYSCORE
	// minimum ("" for the head). purgeMu guards it and serialises the calls.
	purgeMu   sync.Mutex
	purgeFrom [numShards]string
	// purgeSettle is how long PurgeSpam waits before it forgets a deleted comment's label and
	// outcome (purgeSettle; tests shorten it).
	purgeSettle time.Duration
	// purgeClock is the time purge.lua records a deletion at (time.Now; tests fix it).
	purgeClock func() time.Time
	// filters is the word lists as this Store last read them, for ListFilters (filterCache).
	filters filterCache
	// versionStep is how far a word-list change moves the lists' version on (randomVersionStep;
	// tests that count the changes make it 1).
	versionStep func() int64
}

var (
	_ comment.Store    = (*Store)(nil)
	_ moderation.Store = (*Store)(nil)
)

// New builds a Store on client and loads its Lua scripts into Redis (on a Cluster, into every
// master), so that pipelined script calls, which cannot fall back to EVAL, find them.
func New(ctx context.Context, client redis.UniversalClient, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.MaxReplyDepth < 0 {
		return nil, fmt.Errorf("redisstore: negative MaxReplyDepth %d", opts.MaxReplyDepth)
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q contains '{' or '}', which would change the keys' cluster hash slots", opts.Prefix)
	}
	s := &Store{
		rdb:    client,
		keys:   newKeys(opts.Prefix),
		create: newShaScript(createSrc),
		decide: redis.NewScript(decideSrc),
		page:   redis.NewScript(pageSrc),

		threadUpdate: redis.NewScript(threadUpdateSrc),

		closeAfter:  opts.CloseThreadsAfter,
		maxExamples: spamMaxExamples,
		maxDepth:    opts.MaxReplyDepth,
		watchStall:  watchStall,
		purgeSettle: purgeSettle,
		purgeClock:  time.Now,
		versionStep: randomVersionStep,
		batch:       newBatcher(client, batchInflight, batchMax, readTimeout),
	}
	s.events = newEventHub(client, s.keys.events())
	for shard := range s.workflowArgs {
		s.workflowArgs[shard] = s.createWorkflowArgs(shard)
	}
	if err := s.loadScripts(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) loadScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.create.Script, s.decide, s.page, s.threadUpdate} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return storeError("load scripts", err)
		}
	}
	return nil
}

// Ping checks that Redis answers, for the health check. On a Cluster every master must answer,
// and say the cluster is up (clusterUp): a node answers PING, and every command without a key,
// even while the cluster is down, and then refuses every command on keys (CLUSTERDOWN). Elsewhere
// the server must also be a master (ErrReplicaNode otherwise): a master demoted to a replica
// behind a fixed address (a failover done by hand, or by a tool that moves no address) answers
// PING and refuses every write. A server that refuses INFO (some managed services) is taken as a
// master.
func (s *Store) Ping(ctx context.Context) error {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return storeError("ping", cc.ForEachMaster(ctx, clusterUp))
	}
	var (
		ping *redis.StatusCmd
		info *redis.StringCmd
	)
	// One round trip; each command's own error is read below.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ping = p.Ping(ctx)
		info = p.Info(ctx, "replication")
		return nil
	})
	if err := ping.Err(); err != nil {
		return storeError("ping", err)
	}
	var reply redis.Error
	switch err := info.Err(); {
	case errors.As(err, &reply) && !unavailable(err):
		// INFO refused: PING is all there is to know.
	case err != nil:
		return storeError("ping", err)
	case strings.Contains(info.Val(), "\nrole:slave"):
		return fmt.Errorf("redisstore: ping: %w", ErrReplicaNode)
	}
	return nil
}

// errClusterDown is a Cluster node's CLUSTER INFO saying cluster_state:fail, while it refuses
// every command on keys: a master was lost and its slots are served by no one, or it came back
// and the other nodes have not yet cleared its failure (twice cluster-node-timeout after they
// marked it), or this node is cut off from most masters. It is no reply of Redis, so storeError
// counts it unavailable.
var errClusterDown = errors.New("the node reports cluster_state:fail")

// clusterUp checks that the Cluster node n answers and serves commands on keys. A node that
// refuses CLUSTER INFO (a user without the permission) is taken at its PING.
func clusterUp(ctx context.Context, n *redis.Client) error {
	info, err := n.ClusterInfo(ctx).Result()
	var reply redis.Error
	switch {
	case errors.As(err, &reply) && !unavailable(err):
		return n.Ping(ctx).Err()
	case err != nil:
		return err
	case strings.Contains(info, "cluster_state:ok"):
		return nil
	default:
		return fmt.Errorf("node %s: %w", n.Options().Addr, errClusterDown)
	}
}

// storeError translates a go-redis error at the edge of the store:
//   - redis.Nil becomes comment.ErrNotFound;
//   - the network, timeouts, the context, a closed client and the server's "not now" replies
//     (loading, failover, cluster down, ...) wrap comment.ErrUnavailable, so callers may retry;
//   - any other server reply is a bug or a misconfiguration and stays a plain error.
//
// The cause stays in the chain (and in Error()) for the server-side log; the gRPC layer shows
// clients only the meaning of the sentinel.
func storeError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("redisstore: %s: %w", op, comment.ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("redisstore: %s: %w: %w", op, comment.ErrUnavailable, err)
	default:
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
}

// unavailable reports whether err means Redis could not be used right now, as opposed to Redis
// answering with an error about the command.
//
// On a Cluster whose slots are moving (a reshard, a rebalance) or whose master is failing over,
// that includes a redirect go-redis still holds after its redirect budget (MOVED, ASK: the slot
// went on moving, or two nodes disagreed on its owner while it moved), and a script stopped part
// way because a key it names at run time has already moved to the importing node ("non local
// key"), or because the cluster went down while it ran. All of them end once the slot or the
// failover settles. A write script stopped part way is completed by its resend (every write script
// is safe to run twice), which is what an unavailable store asks of the client.
//
// It also includes NOREPLICAS: a master set with min-replicas-to-write refuses writes while fewer
// replicas are in sync, which is what happens from the moment Sentinel promotes its replica until
// commentd follows it (the setting is what keeps the old master from acknowledging writes the new
// one never sees). Redis refuses a script at its first write, so nothing was written.
func unavailable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		// Not a server reply: the network, a timeout, the context, a closed client or pool.
		return true
	}
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	if _, ok := redis.IsAskError(err); ok {
		return true
	}
	return redis.IsLoadingError(err) || redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
		redis.IsMasterDownError(err) || redis.IsReadOnlyError(err) || redis.IsMaxClientsError(err) ||
		redis.HasErrorPrefix(err, "BUSY") || redis.HasErrorPrefix(err, "NOREPLICAS") ||
		// Memory full under noeviction: Redis refuses a script at its first write only, so a
		// refused call wrote nothing, and its resend works once the operator has made room.
		redis.HasErrorPrefix(err, "OOM") ||
		redis.HasErrorPrefix(err, "Script attempted to access a non local key in a cluster node") ||
		redis.HasErrorPrefix(err, "Script attempted to execute a command while the cluster is down") ||
		redis.HasErrorPrefix(err, "Script attempted to execute a write command while the cluster is down")
}

// txError is the error of a MULTI/EXEC pipeline whose commands are cmds. When Redis refused a
// queued command, EXEC fails with EXECABORT, which says nothing of why; the refused command holds
// the reason (NOREPLICAS, READONLY, ...), which is what decides whether the store is unavailable.
func txError(cmds []redis.Cmder, err error) error {
	if err == nil || !redis.HasErrorPrefix(err, "EXECABORT") {
		return err
	}
	for _, c := range cmds {
		if cerr := c.Err(); cerr != nil && !redis.HasErrorPrefix(cerr, "EXECABORT") {
			return cerr
		}
	}
	return err
}

// isNoScript reports whether a pipelined EVALSHA failed because Redis lost its script cache
// (it restarted, or failed over to a replica that never saw SCRIPT LOAD). A nil error answers at
// once: Create asks after every write, and redis.HasErrorPrefix allocates its target even for nil.
func isNoScript(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}
