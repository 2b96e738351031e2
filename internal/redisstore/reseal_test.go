package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// rotation is a key rotation from k1 to k2: the keyrings an operator has before (k1), during
// (k2 first, k1 kept) and after it (k2 alone). The hash key stays.
type rotation struct {
	before, during, after *privacy.Keyring
}

func newRotation(t *testing.T) rotation {
	t.Helper()
	k1 := privacy.Key{ID: "k1", Secret: privacy.NewSecret()}
	k2 := privacy.Key{ID: "k2", Secret: privacy.NewSecret()}
	hash := privacy.NewSecret()
	ring := func(keys ...privacy.Key) *privacy.Keyring {
		k, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: keys, HashKey: hash})
		if err != nil {
			t.Fatalf("NewKeyring: %v", err)
		}
		return k
	}
	return rotation{before: ring(k1), during: ring(k2, k1), after: ring(k2)}
}

// sealedComment is what a test stored: the record and the addresses sealed in it.
type sealedComment struct {
	comment.Comment
	email string
	ip    string // "" when the comment has none
}

// storeSealed stores a comment of thread whose email and (unless ip is "") IP are sealed with
// keys, as comment.Service seals them.
func storeSealed(t *testing.T, s *Store, keys *privacy.Keyring, thread string, n int, ip string) sealedComment {
	t.Helper()
	c := draft(s, thread, n)
	email := fmt.Sprintf("reader.%d@example.org", n)
	e, _ := privacy.ParseEmail(email)
	var err error
	if c.EmailSealed, err = keys.SealEmail(e, c.ID); err != nil {
		t.Fatalf("SealEmail: %v", err)
	}
	c.IPSealed = ""
	if ip != "" {
		a, ok := privacy.ParseIP(ip)
		if !ok {
			t.Fatalf("ParseIP(%q) failed", ip)
		}
		if c.IPSealed, err = keys.SealIP(a, c.ID); err != nil {
			t.Fatalf("SealIP: %v", err)
		}
	}
	return sealedComment{Comment: mustCreate(t, s, c, comment.CreateOptions{}), email: email, ip: ip}
}

// storeAcrossShards stores n comments, spread over every shard, every other one without an IP.
func storeAcrossShards(t *testing.T, s *Store, keys *privacy.Keyring, n int) []sealedComment {
	t.Helper()
	var out []sealedComment
	for i := range n {
		ip := ""
		if i%2 == 0 {
			ip = fmt.Sprintf("203.0.113.%d", i%250)
			if i%4 == 0 {
				ip = fmt.Sprintf("2001:db8::%x", 0x100+i)
			}
		}
		out = append(out, storeSealed(t, s, keys, threadInShard("rot", i%numShards), i, ip))
	}
	return out
}

// sealedValues is how many sealed values cs hold.
func sealedValues(cs []sealedComment) int {
	n := 0
	for _, c := range cs {
		n++
		if c.ip != "" {
			n++
		}
	}
	return n
}

// checkOpensWith checks that every comment of cs is stored as it was, but for its sealed values,
// which open with keys to the addresses stored and were sealed by the key keyID.
func checkOpensWith(t *testing.T, s *Store, keys *privacy.Keyring, keyID string, cs []sealedComment) {
	t.Helper()
	ctx := context.Background()
	for _, want := range cs {
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Fatalf("Get(%s) = %v", want.ID, err)
		}
		ignoreSealed := cmp.FilterPath(func(p cmp.Path) bool {
			f := p.Last().String()
			return f == ".EmailSealed" || f == ".IPSealed"
		}, cmp.Ignore())
		if diff := cmp.Diff(want.Comment, got, ignoreSealed); diff != "" {
			t.Errorf("Get(%s) after the rotation, apart from the sealed fields (-before +after):\n%s", want.ID, diff)
		}
		if id, _ := privacy.KeyID(got.EmailSealed); id != keyID {
			t.Errorf("comment %s: email sealed with key %q, want %q", want.ID, id, keyID)
		}
		if e, err := keys.OpenEmail(got.EmailSealed, got.ID); err != nil || e.Reveal() != want.email {
			t.Errorf("OpenEmail(comment %s) = %q, %v; want %q", want.ID, e.Reveal(), err, want.email)
		}
		if want.ip == "" {
			if got.IPSealed != "" {
				t.Errorf("comment %s has a sealed IP after the rotation, had none before", want.ID)
			}
			continue
		}
		if id, _ := privacy.KeyID(got.IPSealed); id != keyID {
			t.Errorf("comment %s: IP sealed with key %q, want %q", want.ID, id, keyID)
		}
		if ip, err := keys.OpenIP(got.IPSealed, got.ID); err != nil || ip.Reveal() != want.ip {
			t.Errorf("OpenIP(comment %s) = %q, %v; want %q", want.ID, ip.Reveal(), err, want.ip)
		}
	}
}

// checkReport compares the counts of a report (not the list of values that did not open).
func checkReport(t *testing.T, what string, got, want comment.ResealReport) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Unopened" }, cmp.Ignore())); diff != "" {
		t.Errorf("%s report (-want +got):\n%s", what, diff)
	}
}

// TestResealRotatesEveryValue: comments sealed with k1, a rotation to k2,k1 and a reseal leave
// every value sealed with k2, opening with k2 alone to the same address, and every other field
// as it was; a second run finds nothing to do; the counts say so at each step.
func TestResealRotatesEveryValue(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	other := newTestStore(t) // another store's records on the same server, never walked
	keys := newRotation(t)
	ctx := context.Background()
	cs := storeAcrossShards(t, ts.Store, keys.before, 40)
	elsewhere := storeAcrossShards(t, other.Store, keys.before, 3)
	values := sealedValues(cs)

	progress := 0
	r := comment.NewResealer(ts.Store, keys.during, comment.ResealOptions{Batch: 7, Progress: func(comment.ResealReport) { progress++ }})

	before, err := r.Count(ctx)
	if err != nil {
		t.Fatalf("Count before the reseal = %v", err)
	}
	checkReport(t, "Count before the reseal", before, comment.ResealReport{Records: len(cs), Values: values, ByKey: map[string]int{"k1": values, "k2": 0}})
	if progress < 2 {
		t.Errorf("Count over %d records in batches of 7 reported progress %d times, want one per batch", len(cs), progress)
	}

	got, err := r.Reseal(ctx)
	if err != nil {
		t.Fatalf("Reseal = %v", err)
	}
	checkReport(t, "Reseal", got, comment.ResealReport{Records: len(cs), Values: values, ByKey: map[string]int{"k1": values, "k2": 0}, Resealed: values})
	checkOpensWith(t, ts.Store, keys.after, "k2", cs)
	checkOpensWith(t, other.Store, keys.before, "k1", elsewhere)

	again, err := r.Reseal(ctx)
	if err != nil {
		t.Fatalf("second Reseal = %v", err)
	}
	checkReport(t, "second Reseal", again, comment.ResealReport{Records: len(cs), Values: values, ByKey: map[string]int{"k1": 0, "k2": values}})
	after, err := comment.NewResealer(ts.Store, keys.after, comment.ResealOptions{}).Count(ctx)
	if err != nil {
		t.Fatalf("Count with k2 alone after the reseal = %v", err)
	}
	checkReport(t, "Count with k2 alone", after, comment.ResealReport{Records: len(cs), Values: values, ByKey: map[string]int{"k2": values}})
}

// racingStore is the real store with a writer that changes a record between the walk's read and
// its write, as another process could: race runs before the write of the batch that updates
// comment victim. (Only that batch: the test Redis is shared, so SCAN may return this test's
// records over several batches, and a change before the victim's batch was read would not race.)
type racingStore struct {
	*Store
	victim string
	race   func()
}

func (r racingStore) ReplaceSealed(ctx context.Context, us []comment.SealedUpdate) ([]bool, error) {
	if slices.ContainsFunc(us, func(u comment.SealedUpdate) bool { return u.ID == r.victim }) {
		r.race()
	}
	return r.Store.ReplaceSealed(ctx, us)
}

// TestResealKeepsConcurrentChange: a value changed after the walk read it is not overwritten,
// and is counted as changed, not re-sealed; the values around it are re-sealed.
func TestResealKeepsConcurrentChange(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	keys := newRotation(t)
	ctx := context.Background()
	cs := storeAcrossShards(t, ts.Store, keys.before, 6)
	victim := cs[2]
	e, _ := privacy.ParseEmail("someone.else@example.org")
	changed, err := keys.during.SealEmail(e, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	key := ts.keys.record(shardOfThread(victim.ThreadID), victim.ID)
	store := racingStore{Store: ts.Store, victim: victim.ID, race: func() {
		if err := ts.rdb.HSet(ctx, key, fEmailSealed, changed).Err(); err != nil {
			t.Errorf("HSET %s: %v", key, err)
		}
	}}

	got, err := comment.NewResealer(store, keys.during, comment.ResealOptions{}).Reseal(ctx)
	if err != nil {
		t.Fatalf("Reseal = %v", err)
	}
	values := sealedValues(cs)
	checkReport(t, "Reseal with a concurrent change", got, comment.ResealReport{Records: len(cs), Values: values, ByKey: map[string]int{"k1": values, "k2": 0}, Resealed: values - 1, Changed: 1})
	if v := ts.rdb.HGet(ctx, key, fEmailSealed).Val(); v != changed {
		t.Errorf("comment %s: email after the reseal is not the value written concurrently (the reseal overwrote it)", victim.ID)
	}
	checkOpensWith(t, ts.Store, keys.after, "k2", slices.Delete(slices.Clone(cs), 2, 3))
}

// TestReplaceSealed is the compare-and-set itself: it writes only over the value read, counts a
// resent write as written, and never creates a record.
func TestReplaceSealed(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	c := mustCreate(t, ts.Store, draft(ts.Store, "cas", 1), comment.CreateOptions{})
	key := ts.keys.record(shardOfThread(c.ThreadID), c.ID)
	missing := ts.NewID("cas")

	tests := []struct {
		name       string
		update     comment.SealedUpdate
		want       bool
		wantStored string // the email field afterwards
	}{
		{"stale value read", comment.SealedUpdate{ID: c.ID, Field: comment.SealedEmail, Old: "k1:not-what-is-stored", New: "k2:new"}, false, c.EmailSealed},
		{"value read", comment.SealedUpdate{ID: c.ID, Field: comment.SealedEmail, Old: c.EmailSealed, New: "k2:new"}, true, "k2:new"},
		{"the same write resent", comment.SealedUpdate{ID: c.ID, Field: comment.SealedEmail, Old: c.EmailSealed, New: "k2:new"}, true, "k2:new"},
		{"another field", comment.SealedUpdate{ID: c.ID, Field: comment.SealedIP, Old: c.IPSealed, New: "k2:ip"}, true, "k2:new"},
	}
	for _, tt := range tests { // in order: each case starts where the one before left the record
		got, err := ts.ReplaceSealed(ctx, []comment.SealedUpdate{tt.update})
		if err != nil || len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: ReplaceSealed = %v, %v; want [%v]", tt.name, got, err, tt.want)
		}
		if v := ts.rdb.HGet(ctx, key, fEmailSealed).Val(); v != tt.wantStored {
			t.Errorf("%s: email field after ReplaceSealed = %q, want %q", tt.name, v, tt.wantStored)
		}
	}
	if v := ts.rdb.HGet(ctx, key, fIPSealed).Val(); v != "k2:ip" {
		t.Errorf("ip field after ReplaceSealed = %q, want k2:ip", v)
	}

	got, err := ts.ReplaceSealed(ctx, []comment.SealedUpdate{{ID: missing, Field: comment.SealedEmail, Old: "", New: "k2:new"}})
	if err != nil || len(got) != 1 || got[0] {
		t.Errorf("ReplaceSealed(comment that does not exist) = %v, %v; want [false]", got, err)
	}
	if n := ts.rdb.Exists(ctx, ts.keys.record(shardOfThread("cas"), missing)).Val(); n != 0 {
		t.Errorf("ReplaceSealed created the record of a comment that did not exist")
	}
	if _, err := ts.ReplaceSealed(ctx, []comment.SealedUpdate{{ID: "no-such-id", Field: comment.SealedEmail}}); err == nil {
		t.Errorf("ReplaceSealed(id the store never issued) = nil error, want one")
	}
}

// TestResealReportsUnopenedValues: values sealed with a key the keyring lacks, altered, or not
// sealed at all are reported by comment and field, without their content; they make the walk's
// error wrap ErrUnopened but do not stop it: every other value is re-sealed.
func TestResealReportsUnopenedValues(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	keys := newRotation(t)
	ctx := context.Background()
	cs := storeAcrossShards(t, ts.Store, keys.before, 8)
	lost, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k0", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	const clear = "2001:db8::dead:beef" // an address written in clear by some foreign writer
	unknown := storeSealed(t, ts.Store, lost, threadInShard("bad", 3), 100, "")
	altered := storeSealed(t, ts.Store, keys.before, threadInShard("bad", 9), 101, "")
	inClear := storeSealed(t, ts.Store, keys.before, threadInShard("bad", 12), 102, "")
	set := func(c sealedComment, field, v string) {
		if err := ts.rdb.HSet(ctx, ts.keys.record(shardOfThread(c.ThreadID), c.ID), field, v).Err(); err != nil {
			t.Fatalf("HSET: %v", err)
		}
	}
	tag := "AAAA"
	if strings.HasSuffix(altered.EmailSealed, tag) {
		tag = "BBBB"
	}
	set(altered, fEmailSealed, altered.EmailSealed[:len(altered.EmailSealed)-4]+tag)
	set(inClear, fIPSealed, clear)

	wantUnopened := []comment.Unopened{
		{ID: unknown.ID, Field: comment.SealedEmail, UnknownKey: true},
		{ID: altered.ID, Field: comment.SealedEmail},
		{ID: inClear.ID, Field: comment.SealedIP},
	}
	byID := func(a, b comment.Unopened) int { return strings.Compare(a.ID+a.Field.String(), b.ID+b.Field.String()) }
	values := sealedValues(cs) + 4 // three emails and the IP in clear
	r := comment.NewResealer(ts.Store, keys.during, comment.ResealOptions{Batch: 4})
	for _, run := range []struct {
		name string
		walk func(context.Context) (comment.ResealReport, error)
		want comment.ResealReport
	}{
		{"Count", r.Count, comment.ResealReport{ByKey: map[string]int{"k0": 1, "k1": values - 2, "k2": 0}}},
		{"Reseal", r.Reseal, comment.ResealReport{ByKey: map[string]int{"k0": 1, "k1": values - 2, "k2": 0}, Resealed: sealedValues(cs) + 1}},
		{"Reseal again", r.Reseal, comment.ResealReport{ByKey: map[string]int{"k0": 1, "k1": 1, "k2": values - 3}}},
	} {
		got, err := run.walk(ctx)
		if !errors.Is(err, comment.ErrUnopened) {
			t.Errorf("%s = %v, want an error wrapping comment.ErrUnopened", run.name, err)
		}
		run.want.Records, run.want.Values, run.want.UnopenedCount = len(cs)+3, values, 3
		checkReport(t, run.name, got, run.want)
		slices.SortFunc(got.Unopened, byID)
		slices.SortFunc(wantUnopened, byID)
		if diff := cmp.Diff(wantUnopened, got.Unopened); diff != "" {
			t.Errorf("%s: values that did not open (-want +got):\n%s", run.name, diff)
		}
		// Pieces with their colons: comment ids are hex, and one may hold "db8" or "dead".
		if s := fmt.Sprintf("%+v %v", got, err); strings.Contains(s, "db8::") || strings.Contains(s, ":dead:") {
			t.Errorf("%s: the report or error shows the value written in clear: %s", run.name, s)
		}
	}
	checkOpensWith(t, ts.Store, keys.after, "k2", cs)
}

// TestResealFindsOnlyItsPrefix: a prefix with glob characters is matched literally, so a store
// whose prefix the unescaped pattern would match is left alone.
func TestResealFindsOnlyItsPrefix(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t, redistest.Shared(t))
	ctx := context.Background()
	base := strings.TrimSuffix(redistest.Prefix(t), ":")
	open := func(prefix string) *Store {
		s, err := New(ctx, rdb, Options{Prefix: prefix})
		if err != nil {
			t.Fatalf("New(prefix %q) = %v", prefix, err)
		}
		return s
	}
	glob := open(base + "*[ab]?\\:")
	lookalike := open(base + "xxa!:") // what the prefix would match as a pattern
	keys := newRotation(t)
	mine := storeAcrossShards(t, glob, keys.before, 5)
	theirs := storeAcrossShards(t, lookalike, keys.before, 5)

	got, err := comment.NewResealer(glob, keys.during, comment.ResealOptions{}).Reseal(ctx)
	if err != nil || got.Records != len(mine) || got.Resealed != sealedValues(mine) {
		t.Fatalf("Reseal(prefix %q) = %d records, %d re-sealed, %v; want %d, %d, nil", base+"*[ab]?\\:", got.Records, got.Resealed, err, len(mine), sealedValues(mine))
	}
	checkOpensWith(t, glob, keys.after, "k2", mine)
	checkOpensWith(t, lookalike, keys.before, "k1", theirs)
}

// TestClusterReseal walks every master of a Cluster; one Cluster node given as a standalone
// server is refused rather than walked alone (its report would show the other nodes' keys unused).
func TestClusterReseal(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	s := clusterStore(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys := newRotation(t)
	cs := storeAcrossShards(t, s, keys.before, 3*numShards)
	values := sealedValues(cs)

	r := comment.NewResealer(s, keys.during, comment.ResealOptions{Batch: 5})
	got, err := r.Reseal(ctx)
	if err != nil {
		t.Fatalf("Reseal on the cluster = %v", err)
	}
	checkReport(t, "Reseal on the cluster", got, comment.ResealReport{Records: len(cs), Values: values, ByKey: map[string]int{"k1": values, "k2": 0}, Resealed: values})
	checkOpensWith(t, s, keys.after, "k2", cs)
	again, err := r.Reseal(ctx)
	if err != nil || again.Resealed != 0 || again.ByKey["k2"] != values {
		t.Errorf("second Reseal on the cluster = %+v, %v; want nothing re-sealed, %d values of k2", again, err, values)
	}

	one, err := NewClient("redis://" + cluster.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	node, err := New(ctx, one, Options{Prefix: s.keys.prefix})
	if err != nil {
		t.Fatalf("New on one node = %v", err)
	}
	walked := 0
	err = node.ScanSealed(ctx, comment.ScanOptions{}, func(_ context.Context, b []comment.SealedRecord) error { walked += len(b); return nil })
	if !errors.Is(err, ErrClusterNode) || errors.Is(err, comment.ErrUnavailable) || walked != 0 {
		t.Errorf("ScanSealed on one Cluster node as a standalone server = %d records, %v; want none, ErrClusterNode, not a store unavailable", walked, err)
	}
}

// The walk's ScanOptions reach Redis: a SCAN per slice of about Batch keys.
func TestScanSealedBatches(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	keys := newRotation(t)
	cs := storeAcrossShards(t, ts.Store, keys.before, 30)
	var scans int
	ts.rdb.AddHook(scanCounter{n: &scans})
	var batches, records int
	err := ts.ScanSealed(context.Background(), comment.ScanOptions{Batch: 5, CallTimeout: time.Second}, func(_ context.Context, b []comment.SealedRecord) error {
		batches++
		records += len(b)
		return nil
	})
	if err != nil || records != len(cs) {
		t.Fatalf("ScanSealed = %d records, %v; want %d, nil", records, err, len(cs))
	}
	// SCAN's COUNT is a hint: allow slack, but 30 records must not come in one slice.
	if scans < 4 || batches < 4 {
		t.Errorf("ScanSealed(batch 5) over %d records sent %d SCANs in %d batches, want about %d", len(cs), scans, batches, len(cs)/5)
	}
}

type scanCounter struct{ n *int }

func (scanCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h scanCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "scan" {
			*h.n++
		}
		return next(ctx, cmd)
	}
}
func (scanCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
