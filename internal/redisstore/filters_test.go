package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

func TestFiltersStore(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys := spamKeyring(t)
	fs := spam.NewFilters(ts.Store, keys, spam.FiltersOptions{})

	var hold, spamList []spam.Filter
	for i := range 5 {
		f, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterWord, fmt.Sprintf("word%d", i))
		if err != nil {
			t.Fatalf("called Create(word%d), got error %v", i, err)
		}
		hold = append(hold, f)
	}
	for _, v := range []string{"spam.example", "Leaky.Person@Example.org", "192.0.2.55"} {
		kind := map[string]spam.FilterKind{"spam.example": spam.FilterDomain, "Leaky.Person@Example.org": spam.FilterEmail, "192.0.2.55": spam.FilterIP}[v]
		f, _, err := fs.Create(ctx, "mod", spam.FilterListSpam, kind, v)
		if err != nil {
			t.Fatalf("called Create(%v %s), got error %v", kind, v, err)
		}
		spamList = append(spamList, f)
	}
	again, created, err := fs.Create(ctx, "other-mod", spam.FilterListHold, spam.FilterWord, "WORD0")
	if err != nil || again != hold[0] || created {
		t.Errorf("called Create(WORD0) after Create(word0), got %+v, created %v, %v; want the first entry %+v, not created", again, created, err, hold[0])
	}

	// Page through the hold list two at a time.
	var got []spam.Filter
	token := ""
	for page := 0; ; page++ {
		fsPage, next, err := fs.List(ctx, spam.FilterListHold, comment.Page{Size: 2, Token: token})
		if err != nil {
			t.Fatalf("called List(hold, page %d), got error %v", page, err)
		}
		got = append(got, fsPage...)
		if next == "" {
			break
		}
		token = next
		if page > 5 {
			t.Fatalf("List(hold) pages never end")
		}
	}
	if diff := cmp.Diff(hold, got); diff != "" {
		t.Errorf("called List(hold) page by page, got diff (-want +got):\n%s", diff)
	}
	all, _, err := fs.List(ctx, spam.FilterListAny, comment.Page{})
	if err != nil || len(all) != len(hold)+len(spamList) {
		t.Errorf("called List(any), got %d entries, %v; want %d", len(all), err, len(hold)+len(spamList))
	}
	if _, _, err := fs.List(ctx, spam.FilterListSpam, comment.Page{Token: token}); !errors.Is(err, comment.ErrInvalidPageToken) {
		t.Errorf("called List(spam) with a token of List(hold), got %v, want ErrInvalidPageToken", err)
	}

	if err := fs.Delete(ctx, "anna", hold[1].ID); err != nil {
		t.Errorf("called Delete(%s), got error %v", hold[1].ID, err)
	}
	if err := fs.Delete(ctx, "anna", hold[1].ID); !errors.Is(err, spam.ErrFilterNotFound) {
		t.Errorf("called Delete(%s) twice, got %v, want ErrFilterNotFound", hold[1].ID, err)
	}

	// The address entries are stored only as masked forms and keyed hashes.
	text := dumpPrefix(t, ts)
	for _, secret := range []string{"leaky", "person", "192.0.2.55"} {
		if strings.Contains(strings.ToLower(text), secret) {
			t.Errorf("Redis holds %q in clear after adding it to a word list", secret)
		}
	}
}

// dumpPrefix returns every key and string or hash value under the test's prefix.
func dumpPrefix(t *testing.T, ts testStore) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, k := range scanKeys(t, ts.rdb, ts.prefix) {
		b.WriteString(k + "\n")
		switch typ, _ := ts.rdb.Type(ctx, k).Result(); typ {
		case "string":
			v, _ := ts.rdb.Get(ctx, k).Result()
			b.WriteString(v + "\n")
		case "hash":
			m, _ := ts.rdb.HGetAll(ctx, k).Result()
			fmt.Fprintln(&b, m)
		case "stream":
			m, _ := ts.rdb.XRange(ctx, k, "-", "+").Result()
			fmt.Fprintln(&b, m)
		}
	}
	return b.String()
}

func TestFiltersFull(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	fs := spam.NewFilters(ts.Store, spamKeyring(t), spam.FiltersOptions{})
	// Fill the lists behind the service's back, cheaply, to the limit.
	fields := make([]any, 0, 2*spam.MaxFilters)
	for i := range spam.MaxFilters {
		fields = append(fields, fmt.Sprintf("%024x", i), "{}")
	}
	if err := ts.rdb.HSet(ctx, ts.keys.filterEntries(), fields...).Err(); err != nil {
		t.Fatalf("HSET %d entries: %v", spam.MaxFilters, err)
	}
	_, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterWord, "onemore")
	var verr *comment.ValidationError
	if !errors.As(err, &verr) {
		t.Errorf("called Create with the lists full, got %v, want a *comment.ValidationError", err)
	}
}

// TestFiltersRegexFull: every pattern is matched against every submission, so the regex entries
// have a bound of their own, far below MaxFilters, which holds even when moderators add them at
// the same moment. Other kinds are looked up and still fit.
func TestFiltersRegexFull(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	fs := spam.NewFilters(ts.Store, spamKeyring(t), spam.FiltersOptions{})
	const tries = spam.MaxRegexFilters + 30
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			_, _, errs[i] = fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterRegex, fmt.Sprintf(`(\w+\s?){1,8}z%d`, i))
		})
	}
	wg.Wait()
	added, refused := 0, 0
	for i, err := range errs {
		var verr *comment.ValidationError
		switch {
		case err == nil:
			added++
		case errors.As(err, &verr):
			refused++
		default:
			t.Errorf("called Create(regex %d) with others at once, got %v, want no error or a *comment.ValidationError", i, err)
		}
	}
	if added != spam.MaxRegexFilters || refused != tries-spam.MaxRegexFilters {
		t.Errorf("called Create(regex) %d times at once, got %d added and %d refused, want %d added and the rest refused", tries, added, refused, spam.MaxRegexFilters)
	}
	if _, _, err := fs.Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "casino"); err != nil {
		t.Errorf("called Create(word) with the regex entries at their bound, got %v, want no error", err)
	}
}

// TestFiltersReachAnotherInstance adds an entry through one server and waits for another server's
// engine to apply it, with no restart.
func TestFiltersReachAnotherInstance(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys := spamKeyring(t)
	other := secondInstance(t, ts)
	engine, err := spam.NewEngine(spamtest.NewCounts(), keys, spam.EngineOptions{})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	w := NewFilterWatcher(other, engine.SetFilters, FilterWatcherOptions{Every: 50 * time.Millisecond})
	if err := w.Load(ctx); err != nil {
		t.Fatalf("called Load, got error %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(runCtx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	in := spam.Input{Body: "visit the new casino tonight", UserAgent: "ua"}
	decision := func() spam.Decision {
		r, err := engine.Check(ctx, in, nil)
		if err != nil {
			t.Fatalf("called Check, got error %v", err)
		}
		return r.Decision
	}
	if d := decision(); d != spam.DecisionPublish {
		t.Fatalf("before any entry, got decision %v, want publish", d)
	}
	f, _, err := spam.NewFilters(ts.Store, keys, spam.FiltersOptions{}).Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "casino")
	if err != nil {
		t.Fatalf("called Create(casino) on the first server, got error %v", err)
	}
	waitFor(t, time.Second, "the entry to apply on the other server", func() bool { return decision() == spam.DecisionSpam })
	if err := ts.DeleteFilter(ctx, f.ID, "anna"); err != nil {
		t.Fatalf("called DeleteFilter, got error %v", err)
	}
	waitFor(t, time.Second, "the removal to apply on the other server", func() bool { return decision() == spam.DecisionPublish })
}

// waitFor polls cond until it holds or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// commandLog records the name and first key of every command a client sends.
type commandLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *commandLog) add(cmd redis.Cmder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := cmd.Name()
	if args := cmd.Args(); len(args) > 1 {
		s += fmt.Sprint(" ", args[1])
	}
	l.cmds = append(l.cmds, s)
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.cmds
	l.cmds = nil
	return out
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(cmd)
		return next(ctx, cmd)
	}
}
func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			l.add(c)
		}
		return next(ctx, cmds)
	}
}

// The word lists hold up to spam.MaxFilters entries. A page of them must not read them all from
// Redis each time: at 10,000 entries that HGETALL held Redis up for 4 to 10 ms per page, and
// `commentctl filters list` reads 20 pages. They are read again only when their version moved,
// on this server or another, so a page still shows every change made before it.
func TestListFiltersReadsTheListsOnlyWhenTheyChange(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys := spamKeyring(t)
	var log commandLog
	ts.rdb.AddHook(&log)
	fs := spam.NewFilters(ts.Store, keys, spam.FiltersOptions{})
	var want []spam.Filter
	for i := range 12 {
		f, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterWord, fmt.Sprintf("word%d", i))
		if err != nil {
			t.Fatalf("called Create(word%d), got error %v", i, err)
		}
		want = append(want, f)
	}
	entries := ts.keys.filterEntries()
	readsOfAll := func(cmds []string) int {
		n := 0
		for _, c := range cmds {
			if c == "hgetall "+entries || c == "hvals "+entries || c == "hscan "+entries {
				n++
			}
		}
		return n
	}
	listAll := func(label string) []spam.Filter {
		t.Helper()
		var got []spam.Filter
		token := ""
		for page := 0; ; page++ {
			p, next, err := fs.List(ctx, spam.FilterListAny, comment.Page{Size: 5, Token: token})
			if err != nil {
				t.Fatalf("%s: called List(page %d), got error %v", label, page, err)
			}
			got = append(got, p...)
			if next == "" {
				return got
			}
			token = next
		}
	}

	log.take()
	if diff := cmp.Diff(want, listAll("first walk")); diff != "" {
		t.Errorf("called List page by page, got diff (-want +got):\n%s", diff)
	}
	if n := readsOfAll(log.take()); n > 1 {
		t.Errorf("called List for 3 pages of unchanged lists, read every entry from Redis %d times, want at most once", n)
	}
	if diff := cmp.Diff(want, listAll("second walk")); diff != "" {
		t.Errorf("called List page by page again, got diff (-want +got):\n%s", diff)
	}
	if n := readsOfAll(log.take()); n > 0 {
		t.Errorf("called List again on unchanged lists, read every entry from Redis %d times, want none", n)
	}

	// A change made through another server shows on the next page read here.
	other := secondInstance(t, ts)
	f, _, err := spam.NewFilters(other, keys, spam.FiltersOptions{}).Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "casino")
	if err != nil {
		t.Fatalf("called Create(casino) on another server, got error %v", err)
	}
	want = append(want, f)
	if diff := cmp.Diff(want, listAll("walk after an add elsewhere")); diff != "" {
		t.Errorf("called List after another server added an entry, got diff (-want +got):\n%s", diff)
	}
	if err := other.DeleteFilter(ctx, want[0].ID, "anna"); err != nil {
		t.Fatalf("called DeleteFilter on another server, got error %v", err)
	}
	want = want[1:]
	if diff := cmp.Diff(want, listAll("walk after a removal elsewhere")); diff != "" {
		t.Errorf("called List after another server removed an entry, got diff (-want +got):\n%s", diff)
	}
}

// TestFilterVersionAfterALostChange replays what a Redis failover that loses a word-list change
// does: the change is gone from Redis, but a server read the lists while it was there. The next
// change must move the version to a value that server has not seen, or it keeps the lost entry
// and never learns the new one (its watcher and its ListFilters pages compare versions only). A
// counter moved by one would land on the lost change's version again; the version moves by a
// random step, so the two agree with a chance of one in about a million.
func TestFilterVersionAfterALostChange(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys := spamKeyring(t)
	fs := spam.NewFilters(ts.Store, keys, spam.FiltersOptions{})
	other := secondInstance(t, ts)

	before, err := ts.filterVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost, _, err := fs.Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "casino")
	if err != nil {
		t.Fatalf("called Create(casino), got error %v", err)
	}
	if got, _, err := other.ListFilters(ctx, spam.FilterListAny, comment.Page{}); err != nil || len(got) != 1 {
		t.Fatalf("called ListFilters on the other server, got %v, %v; want the one entry", got, err)
	}
	// The failover: the replica promoted never got the change.
	if err := ts.rdb.HDel(ctx, ts.keys.filterEntries(), lost.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ts.rdb.Set(ctx, ts.keys.filterVersion(), before, 0).Err(); err != nil {
		t.Fatal(err)
	}
	kept, _, err := fs.Create(ctx, "mod", spam.FilterListSpam, spam.FilterWord, "lottery")
	if err != nil {
		t.Fatalf("called Create(lottery), got error %v", err)
	}
	got, _, err := other.ListFilters(ctx, spam.FilterListAny, comment.Page{})
	if err != nil || len(got) != 1 || got[0].ID != kept.ID {
		t.Errorf("called ListFilters on the other server after the lost change and a new one, got %v, %v; want only %s (lottery)", got, err, kept.ID)
	}
}

// TestFilterOfOneIPv6AddressStoredBefore: the previous release stored an entry of one IPv6
// address with its masked /48 alone, the value of the entry of that whole /48 too. Read back, it
// is listed as this release lists a new one, "(one address)", and adding the address again finds
// it; the range entry keeps its value.
func TestFilterOfOneIPv6AddressStoredBefore(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	keys := spamKeyring(t)
	fs := spam.NewFilters(ts.Store, keys, spam.FiltersOptions{})

	single, err := spam.NewFilter(keys, "filter", spam.FilterListHold, spam.FilterIP, "2001:db8:7::5")
	if err != nil {
		t.Fatalf("NewFilter(ip 2001:db8:7::5): %v", err)
	}
	// The entry as the previous release wrote it: the same id and hash, the /48 alone.
	old := fmt.Sprintf(`{"id":%q,"list":1,"kind":5,"value":"2001:db8:7::/48","hash":%q,"by":"mod","at":1764600000000000}`, single.ID, single.Hash)
	if err := ts.rdb.HSet(ctx, ts.keys.filterEntries(), single.ID, old).Err(); err != nil {
		t.Fatalf("HSET an entry of the previous release: %v", err)
	}
	if err := ts.rdb.IncrBy(ctx, ts.keys.filterVersion(), 1).Err(); err != nil {
		t.Fatalf("INCRBY the word lists' version: %v", err)
	}
	rangeEntry, _, err := fs.Create(ctx, "mod", spam.FilterListHold, spam.FilterIP, "2001:db8:7::/48")
	if err != nil {
		t.Fatalf("Create(ip 2001:db8:7::/48): %v", err)
	}

	listed, _, err := fs.List(ctx, spam.FilterListHold, comment.Page{})
	if err != nil {
		t.Fatalf("List(hold): %v", err)
	}
	values := map[string]string{}
	for _, f := range listed {
		values[f.ID] = f.Value
	}
	want := map[string]string{single.ID: "2001:db8:7::/48 (one address)", rangeEntry.ID: "2001:db8:7::/48"}
	if diff := cmp.Diff(want, values); diff != "" {
		t.Errorf("List(hold) with an entry of one IPv6 address stored by the previous release and the entry of its /48: values by id (-want +got):\n%s", diff)
	}

	again, created, err := fs.Create(ctx, "other-mod", spam.FilterListHold, spam.FilterIP, "2001:db8:7::5")
	if err != nil || created || again.Value != "2001:db8:7::/48 (one address)" || again.Moderator != "mod" {
		t.Errorf("Create(ip 2001:db8:7::5) again = %+v, created %v, %v; want the stored entry by mod, listed %q, not created", again, created, err, "2001:db8:7::/48 (one address)")
	}

	loaded, _, err := ts.LoadFilters(ctx)
	if err != nil {
		t.Fatalf("LoadFilters: %v", err)
	}
	for _, f := range loaded {
		if f.ID == single.ID && f.Hash != single.Hash {
			t.Errorf("LoadFilters: the entry of one address has hash %q, want %q (what matches it)", f.Hash, single.Hash)
		}
	}
}
