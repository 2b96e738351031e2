package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/spam"
)

// The word lists (spam.FilterStore): every entry in one hash, plus a version number that every
// change moves on in the same script. Servers poll the version (FilterWatcher) and reload the
// lists when it moves, so an entry applies everywhere within a poll interval, with no restart.

var (
	//go:embed filters_write.lua
	filtersWriteSrc    string
	filtersWriteScript = redis.NewScript(auditRecordSrc + filtersWriteSrc)
)

var _ spam.FilterStore = (*Store)(nil)

// filterRecord is the stored JSON of an entry. Email and single-address entries hold only their
// masked form and keyed hash.
type filterRecord struct {
	ID    string `json:"id"`
	List  int    `json:"list"`
	Kind  int    `json:"kind"`
	Value string `json:"value"`
	Hash  string `json:"hash,omitempty"`
	By    string `json:"by"`
	At    int64  `json:"at"` // unix µs
}

func encodeFilter(f spam.Filter) string {
	b, err := json.Marshal(filterRecord{ID: f.ID, List: int(f.List), Kind: int(f.Kind), Value: f.Value, Hash: f.Hash, By: f.Moderator, At: micros(f.CreatedAt)})
	if err != nil {
		panic(fmt.Sprintf("redisstore: encode filter: %v", err)) // strings and numbers always encode
	}
	return string(b)
}

func decodeFilter(raw string) (spam.Filter, error) {
	var r filterRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil || r.ID == "" {
		return spam.Filter{}, fmt.Errorf("%w: filter entry", errCorrupt)
	}
	// Current: an entry an earlier release stored reads as this one would store it.
	return spam.Filter{
		ID: r.ID, List: spam.FilterList(r.List), Kind: spam.FilterKind(r.Kind), Value: r.Value, Hash: r.Hash,
		Moderator: r.By, CreatedAt: time.UnixMicro(r.At).UTC(),
	}.Current(), nil
}

// CreateFilter stores f unless an entry with its id exists (then it returns that one, and created
// false), in one script that also moves the version on and records a new entry in the audit log
// (action create_filter, by f.Moderator, reason f.AuditReason).
func (s *Store) CreateFilter(ctx context.Context, f spam.Filter) (stored spam.Filter, created bool, err error) {
	auditKeys, auditArgs := s.auditStep(auditFilters, moderation.AuditEvent{
		Moderator: f.Moderator, Action: moderation.AuditCreateFilter, Target: filterCollection + f.ID, Reason: f.AuditReason(), At: f.CreatedAt,
	})
	keys := append([]string{s.keys.filterEntries(), s.keys.filterVersion()}, auditKeys...)
	maxRegex := 0
	if f.Kind == spam.FilterRegex {
		maxRegex = spam.MaxRegexFilters
	}
	entry := encodeFilter(f)
	args := append([]any{"add", f.ID, s.versionStep()}, auditArgs...)
	args = append(args, entry, spam.MaxFilters, maxRegex)
	reply, err := filtersWriteScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return spam.Filter{}, false, storeError("create filter", err)
	}
	status, rest, err := splitReply(reply)
	if err != nil {
		return spam.Filter{}, false, fmt.Errorf("redisstore: create filter: %w", err)
	}
	switch status {
	case "full":
		return spam.Filter{}, false, &comment.ValidationError{Violations: []comment.FieldViolation{{
			Field: "filter", Description: fmt.Sprintf("the word lists hold the most entries allowed (%d); remove some first", spam.MaxFilters),
		}}}
	case "full-regex":
		return spam.Filter{}, false, &comment.ValidationError{Violations: []comment.FieldViolation{{
			Field: "filter.kind", Description: fmt.Sprintf("the word lists hold the most regex entries allowed (%d), as every pattern is matched against every submission; remove some first, or use words, phrases or domains, which cost nothing per entry", spam.MaxRegexFilters),
		}}}
	case "new", "old":
		raw, ok := firstString(rest)
		if !ok {
			return spam.Filter{}, false, fmt.Errorf("redisstore: create filter: %w: reply", errCorrupt)
		}
		stored, err := decodeFilter(raw)
		// "old" with this call's own entry is this call's add, resent by the Redis client after
		// its reply was lost: the entry holds its moderator and time to the microsecond.
		return stored, err == nil && (status == "new" || raw == entry), err
	}
	return spam.Filter{}, false, fmt.Errorf("redisstore: create filter: %w: status %q", errCorrupt, status)
}

// randomVersionStep is how far a change moves the word lists' version on (Store.versionStep): a
// random step of 1 to 2^20.
// Servers compare versions for equality only (FilterWatcher, ListFilters' copy). A change lost in
// a Redis failover after a server read it leaves the version where it was before; a counter moved
// by one would then give the next change the lost one's version, and that server would keep the
// lost entry and miss the new one until yet another change. A random step makes that a one in a
// million chance.
func randomVersionStep() int64 { return rand.Int64N(1<<20) + 1 }

func firstString(vs []any) (string, bool) {
	if len(vs) != 1 {
		return "", false
	}
	s, ok := vs[0].(string)
	return s, ok
}

// DeleteFilter removes an entry, or returns spam.ErrFilterNotFound. The removal is recorded in the
// audit log (action delete_filter, by moderator) in the same script.
func (s *Store) DeleteFilter(ctx context.Context, id, moderator string) error {
	auditKeys, auditArgs := s.auditStep(auditFilters, moderation.AuditEvent{
		Moderator: moderator, Action: moderation.AuditDeleteFilter, Target: filterCollection + id,
	})
	keys := append([]string{s.keys.filterEntries(), s.keys.filterVersion()}, auditKeys...)
	keys = append(keys, s.keys.filterDeleteMark(newMarkID()))
	args := append([]any{"del", id, s.versionStep()}, auditArgs...)
	reply, err := filtersWriteScript.Run(ctx, s.rdb, keys, append(args, filterDeleteMarkTTL)...).Slice()
	if err != nil {
		return storeError("delete filter", err)
	}
	status, _, err := splitReply(reply)
	switch {
	case err != nil:
		return fmt.Errorf("redisstore: delete filter: %w", err)
	case status == "missing":
		return fmt.Errorf("redisstore: delete filter %s: %w", id, spam.ErrFilterNotFound)
	case status != "deleted":
		return fmt.Errorf("redisstore: delete filter: %w: status %q", errCorrupt, status)
	}
	return nil
}

// ListFilters returns one page of the entries of list (spam.FilterListAny: both), oldest first;
// the token binds the page to the list asked for.
//
// The lists hold up to spam.MaxFilters entries, and reading them all (an HGETALL that held Redis
// up for 4 to 10 ms at 10,000 entries) for every page made a walk through them quadratic. So a
// page costs one GET of the lists' version, which every change moves in the same script as the
// change, and the entries are read again only when it moved: a page shows every change made before
// it, on any server.
func (s *Store) ListFilters(ctx context.Context, list spam.FilterList, p comment.Page) ([]spam.Filter, string, error) {
	query := "filters/" + strconv.Itoa(int(list))
	after, err := decodeToken(p.Token, query)
	if err != nil {
		return nil, "", err
	}
	all, err := s.currentFilters(ctx)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if after != nil {
		start = sort.Search(len(all), func(i int) bool {
			return after.less(cursor{score: micros(all[i].CreatedAt), id: all[i].ID})
		})
	}
	size := pageSize(p)
	var out []spam.Filter
	for _, f := range all[start:] {
		if list != spam.FilterListAny && f.List != list {
			continue
		}
		if len(out) == size {
			last := out[size-1]
			return out, encodeToken(query, cursor{score: micros(last.CreatedAt), id: last.ID}), nil
		}
		out = append(out, f)
	}
	return out, "", nil
}

// filterCache is the word lists as a Store last read them (LoadFilters), with their version.
// The slice is never changed once stored: readers page through it without a copy.
type filterCache struct {
	mu      sync.Mutex
	loaded  bool
	version int64
	all     []spam.Filter
}

// currentFilters returns every entry, oldest first, as of now: the cached entries when the lists'
// version is still theirs, else the entries read again.
func (s *Store) currentFilters(ctx context.Context) ([]spam.Filter, error) {
	v, err := s.filterVersion(ctx)
	if err != nil {
		return nil, err
	}
	s.filters.mu.Lock()
	if s.filters.loaded && s.filters.version == v {
		all := s.filters.all
		s.filters.mu.Unlock()
		return all, nil
	}
	s.filters.mu.Unlock()
	all, _, err := s.LoadFilters(ctx)
	return all, err
}

// LoadFilters returns every entry, oldest first, and the lists' version, read together in one
// transaction.
func (s *Store) LoadFilters(ctx context.Context) ([]spam.Filter, int64, error) {
	var entries *redis.MapStringStringCmd
	var version *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		entries = p.HGetAll(ctx, s.keys.filterEntries())
		version = p.Get(ctx, s.keys.filterVersion())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, storeError("load filters", err)
	}
	v, err := version.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redisstore: load filters: %w: version", errCorrupt)
	}
	out := make([]spam.Filter, 0, len(entries.Val()))
	for _, raw := range entries.Val() {
		f, err := decodeFilter(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: load filters: %w", err)
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b spam.Filter) int {
		ca, cb := cursor{score: micros(a.CreatedAt), id: a.ID}, cursor{score: micros(b.CreatedAt), id: b.ID}
		switch {
		case ca.less(cb):
			return -1
		case cb.less(ca):
			return 1
		}
		return 0
	})
	// Whichever load ends last is kept, even an older one: the cache is used only while Redis
	// still holds its version, so the worst an older one costs is one more read.
	s.filters.mu.Lock()
	s.filters.loaded, s.filters.version, s.filters.all = true, v, slices.Clone(out)
	s.filters.mu.Unlock()
	return out, v, nil
}

// filterVersion reads the lists' version (0 before the first change).
func (s *Store) filterVersion(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, s.keys.filterVersion()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, storeError("read filters version", err)
	}
	return v, nil
}

// FilterWatcher keeps a server's word lists in step with Redis: it polls the lists' version and
// hands the whole lists to apply when it moves.
type FilterWatcher struct {
	s     *Store
	apply func([]spam.Filter) error
	every time.Duration
	log   *slog.Logger

	version int64 // last version applied; -1 before the first load (owned by Load and Run)
}

// FilterWatcherOptions configures a FilterWatcher.
type FilterWatcherOptions struct {
	Every  time.Duration // how often to poll the version (default 1s)
	Logger *slog.Logger  // may be nil: no logs
}

// NewFilterWatcher returns a watcher that calls apply with every entry whenever the lists change
// (apply is spam.Engine.SetFilters in commentd).
func NewFilterWatcher(s *Store, apply func([]spam.Filter) error, opts FilterWatcherOptions) *FilterWatcher {
	w := &FilterWatcher{s: s, apply: apply, every: opts.Every, log: opts.Logger, version: -1}
	if w.every <= 0 {
		w.every = time.Second
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w
}

// Load reads the lists and applies them now. Call it before Run, not during.
func (w *FilterWatcher) Load(ctx context.Context) error {
	fs, v, err := w.s.LoadFilters(ctx)
	if err != nil {
		return err
	}
	if err := w.apply(fs); err != nil {
		return fmt.Errorf("apply word lists: %w", err)
	}
	w.version = v
	return nil
}

// Run polls the version every interval until ctx ends, then returns. It loads the lists first
// unless Load already did. Errors are logged once per outage; the lists in force stay until a new
// version loads.
func (w *FilterWatcher) Run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	failing := false
	for {
		if err := w.poll(ctx); err != nil {
			if !failing && ctx.Err() == nil {
				w.log.WarnContext(ctx, "word lists not refreshed; keeping the lists in force", "error", err.Error())
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reloads the lists when their version moved (or they were never loaded).
func (w *FilterWatcher) poll(ctx context.Context) error {
	if w.version >= 0 {
		v, err := w.s.filterVersion(ctx)
		if err != nil || v == w.version {
			return err
		}
	}
	if err := w.Load(ctx); err != nil {
		return err
	}
	w.log.InfoContext(ctx, "word lists loaded", "version", w.version)
	return nil
}
