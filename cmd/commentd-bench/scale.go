package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/apikey"
	"github.com/commentd/commentd/internal/grpcserver/grpcservertest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// scaleOptions sizes the data the -scale mode loads before it times the moderator and read calls.
type scaleOptions struct {
	pending   int    // comments left pending, over threads
	threads   int    // threads the pending comments spread over
	big       int    // published comments in one thread
	spam      int    // comments marked spam by a moderator
	decided   int    // comments approved or rejected (half each), for the audit log
	bans      int    // bans
	filters   int    // word-list entries
	trainDir  string // directory of labelled CSV files to train the spam model with; "" for none
	reps      int    // timed calls per operation
	serve     bool   // keep commentd running after the timings, for commentctl by hand
	workers   int
	bigThread string
}

// scaleKeys are the API keys of the -scale run.
type scaleKeys struct{ site, moderator, admin string }

// runScale starts commentd on rs (pre-moderation, rate limits off: the loader sends more per
// second than any rule allows), loads the data o describes through the API, as a site and its
// moderators would have made it, then times the calls commentctl and a site make, each o.reps
// times, and prints the median and slowest call with the Redis commands per call.
func runScale(ctx context.Context, stdout, stderr io.Writer, bin, dir string, rdb *redis.Client, redisAddr string, env []string, o scaleOptions) error {
	// The timed decisions take 102 pending comments per repetition (approve 1, approve 100,
	// spam 1), and the queue must not run dry under the listings.
	if need := o.reps*102 + 500; o.pending < need {
		return fmt.Errorf("-scale-pending %d: want at least %d for -scale-reps %d", o.pending, need, o.reps)
	}
	if o.threads < 1 || o.big < 1 {
		return fmt.Errorf("-scale-threads and -scale-big-thread: want at least 1")
	}
	var keys scaleKeys
	var lines []string
	for _, k := range []struct {
		name string
		role apikey.Role
		tok  *string
	}{{"scale-site", apikey.RoleSite, &keys.site}, {"scale-moderator", apikey.RoleModerator, &keys.moderator}, {"scale-admin", apikey.RoleAdmin, &keys.admin}} {
		tok, line, err := apikey.Generate(k.name, k.role)
		if err != nil {
			return err
		}
		*k.tok = tok
		lines = append(lines, line)
	}
	keysFile := filepath.Join(dir, "scale-keys")
	if err := os.WriteFile(keysFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	flags := []string{"-redis-url", "redis://" + redisAddr, "-keys", keysFile, "-rate-limits", "off", "-moderation-mode", "pre"}
	srv, err := startCommentd(ctx, bin, dir, "commentd-scale.log", flags, env)
	if err != nil {
		return err
	}
	defer srv.stop()
	site := commentdv1.NewCommentServiceClient(srv.conn)
	mod := commentdv1.NewModerationServiceClient(srv.conn)
	sctx := withToken(ctx, keys.site)
	mctx := withToken(ctx, keys.moderator)
	actx := withToken(ctx, keys.admin)

	t0 := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%5.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}

	// The big thread publishes as comments come (post-moderation); it is loaded before the spam
	// model learns anything, which would hold some of the bench's made-up comments.
	if _, err := mod.UpdateThread(mctx, &commentdv1.UpdateThreadRequest{
		Thread:     &commentdv1.Thread{Name: "threads/" + o.bigThread, ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_POST},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"moderation_mode"}},
	}); err != nil {
		return fmt.Errorf("set %s to post-moderation: %w", o.bigThread, err)
	}
	if _, err := submitMany(sctx, site, o.workers, o.big, func(r *rand.Rand, n int64) string { return o.bigThread }); err != nil {
		return err
	}
	step("submitted %d comments to %s", o.big, o.bigThread)

	// The spam model, trained as `commentctl spam train FILE` does.
	trained := 0
	if o.trainDir != "" {
		files, _ := filepath.Glob(filepath.Join(o.trainDir, "*.csv"))
		if len(files) == 0 {
			return fmt.Errorf("-scale-train %s: no .csv file", o.trainDir)
		}
		for _, f := range files {
			r, err := os.Open(f)
			if err != nil {
				return err
			}
			xs, err := spam.ReadCSV(r)
			r.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			for start := 0; start < len(xs); start += 500 {
				batch := xs[start:min(start+500, len(xs))]
				req := &commentdv1.TrainSpamRequest{RequestId: fmt.Sprintf("scale-%s-%d", filepath.Base(f), start)}
				for _, x := range batch {
					req.Examples = append(req.Examples, &commentdv1.TrainingExample{Body: x.Body, Spam: x.Spam})
				}
				if _, err := mod.TrainSpam(actx, req); err != nil {
					return fmt.Errorf("train %s: %w", f, err)
				}
				trained += len(batch)
			}
		}
		step("trained the spam model with %d examples", trained)
	}

	held := o.pending + o.spam + o.decided
	ids, err := submitMany(sctx, site, o.workers, held, func(r *rand.Rand, n int64) string {
		return fmt.Sprintf("article-%d", r.IntN(o.threads))
	})
	if err != nil {
		return err
	}
	step("submitted %d comments over %d threads", held, o.threads)

	// Decisions: the first o.spam marked spam, the next o.decided approved or rejected.
	err = forEach(o.workers, o.spam+o.decided, func(i int) error {
		name := ids[i]
		var err error
		switch {
		case i < o.spam:
			_, err = mod.MarkSpam(mctx, &commentdv1.MarkSpamRequest{Name: name, Reason: "scale"})
		case i%2 == 0:
			_, err = mod.ApproveComment(mctx, &commentdv1.ApproveCommentRequest{Name: name})
		default:
			_, err = mod.RejectComment(mctx, &commentdv1.RejectCommentRequest{Name: name, Reason: "scale"})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("decide: %w", err)
	}
	step("marked %d spam, approved or rejected %d", o.spam, o.decided)
	pendingIDs := ids[o.spam+o.decided:]

	err = forEach(o.workers, o.bans, func(i int) error {
		_, err := mod.CreateBan(mctx, &commentdv1.CreateBanRequest{
			Target:   &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: fmt.Sprintf("banned-%d@example.com", i)},
			Duration: durationpb.New(30 * 24 * time.Hour), Reason: "scale",
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("ban: %w", err)
	}
	err = forEach(o.workers, o.filters, func(i int) error {
		_, err := mod.CreateFilter(mctx, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
			List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: fmt.Sprintf("scaleword%d", i),
		}})
		return err
	})
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	step("created %d bans and %d filter entries", o.bans, o.filters)

	// What was loaded, as the server counts it.
	st, err := mod.GetStats(mctx, &commentdv1.GetStatsRequest{Days: 1})
	if err != nil {
		return err
	}
	cnt, err := site.CountComments(sctx, &commentdv1.CountCommentsRequest{ThreadIds: []string{o.bigThread}})
	if err != nil {
		return err
	}
	loaded := time.Since(t0)
	dbsize, _ := rdb.DBSize(ctx).Result()
	mem, _ := rdb.Info(ctx, "memory").Result()
	usedMem := ""
	for _, l := range strings.Split(mem, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory_human:"); ok {
			usedMem = v
		}
	}

	// A comment to show and the author key of one pending comment, for the filters.
	show, err := mod.GetComment(mctx, &commentdv1.ModerationServiceGetCommentRequest{Name: pendingIDs[len(pendingIDs)/2]})
	if err != nil {
		return fmt.Errorf("get %s: %w", pendingIDs[len(pendingIDs)/2], err)
	}
	authorKey := show.GetComment().GetAuthorKey()
	cut := timestamppb.New(time.Now().Add(-time.Hour))

	threads := make([]string, o.threads)
	for i := range threads {
		threads[i] = fmt.Sprintf("article-%d", i)
	}
	// Approve targets come from the end of the pending ids, so every timed approve finds a
	// pending comment.
	next := len(pendingIDs)
	take := func(n int) []string {
		next -= n
		return pendingIDs[next : next+n]
	}

	type op struct {
		name string
		call func() error
	}
	bigToken := ""
	ops := []op{
		{name: "ListQueue pending, first page (50)", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING})
			return err
		}},
		{name: "ListQueue pending, first page (500)", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, PageSize: 500})
			return err
		}},
		{name: "ListQueue pending, one thread", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, ThreadId: "article-7"})
			return err
		}},
		{name: "ListQueue spam, first page (50)", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_SPAM})
			return err
		}},
		{name: "ListQueue pending, --author (one match)", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, AuthorKey: authorKey})
			return err
		}},
		{name: "ListQueue pending, --min-score 0.99", call: func() error {
			v := 0.99
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, MinSpamScore: &v})
			return err
		}},
		{name: "ListQueue pending, --reason TOO_MANY_LINKS", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, ReasonCode: "TOO_MANY_LINKS"})
			return err
		}},
		{name: "ListQueue pending, --before 1h ago (no match)", call: func() error {
			_, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, MaxCreateTime: cut})
			return err
		}},
		{name: "GetComment (moderator: show)", call: func() error {
			_, err := mod.GetComment(mctx, &commentdv1.ModerationServiceGetCommentRequest{Name: pendingIDs[0]})
			return err
		}},
		{name: "ApproveComment, 1 id", call: func() error {
			_, err := mod.ApproveComment(mctx, &commentdv1.ApproveCommentRequest{Name: take(1)[0]})
			return err
		}},
		{name: "ApproveComment, 100 ids (8 in flight, as commentctl)", call: func() error {
			batch := take(100)
			return forEach(8, len(batch), func(i int) error {
				_, err := mod.ApproveComment(mctx, &commentdv1.ApproveCommentRequest{Name: batch[i]})
				return err
			})
		}},
		{name: "MarkSpam, 1 id", call: func() error {
			_, err := mod.MarkSpam(mctx, &commentdv1.MarkSpamRequest{Name: take(1)[0]})
			return err
		}},
		{name: "ClaimComments 10 (review)", call: func() error {
			resp, err := mod.ClaimComments(mctx, &commentdv1.ClaimCommentsRequest{Count: 10, Lease: durationpb.New(time.Minute), State: commentdv1.State_STATE_PENDING})
			if err != nil {
				return err
			}
			var names []string
			for _, c := range resp.GetComments() {
				names = append(names, c.GetComment().GetName())
			}
			_, err = mod.ReleaseComments(mctx, &commentdv1.ReleaseCommentsRequest{Names: names})
			return err
		}},
		{name: "GetStats 7 days", call: func() error {
			_, err := mod.GetStats(mctx, &commentdv1.GetStatsRequest{Days: 7})
			return err
		}},
		{name: "GetStats 90 days", call: func() error {
			_, err := mod.GetStats(mctx, &commentdv1.GetStatsRequest{Days: 90})
			return err
		}},
		{name: "ListAuditEvents, first page", call: func() error {
			_, err := mod.ListAuditEvents(mctx, &commentdv1.ListAuditEventsRequest{})
			return err
		}},
		{name: "ListAuditEvents, --moderator (other)", call: func() error {
			_, err := mod.ListAuditEvents(mctx, &commentdv1.ListAuditEventsRequest{Moderator: "nobody"})
			return err
		}},
		{name: "ListAuditEvents, --target one comment", call: func() error {
			_, err := mod.ListAuditEvents(mctx, &commentdv1.ListAuditEventsRequest{Target: ids[0]})
			return err
		}},
		{name: "ListBans, first page", call: func() error {
			_, err := mod.ListBans(mctx, &commentdv1.ListBansRequest{})
			return err
		}},
		{name: "ListFilters, first page", call: func() error {
			_, err := mod.ListFilters(mctx, &commentdv1.ListFiltersRequest{})
			return err
		}},
		{name: "ListComments big thread, first page", call: func() error {
			resp, err := site.ListComments(sctx, &commentdv1.ListCommentsRequest{ThreadId: o.bigThread})
			if bigToken == "" {
				bigToken = resp.GetNextPageToken()
			}
			return err
		}},
		{name: "ListComments big thread, second page", call: func() error {
			_, err := site.ListComments(sctx, &commentdv1.ListCommentsRequest{ThreadId: o.bigThread, PageToken: bigToken})
			return err
		}},
		{name: "ListComments big thread, newest first", call: func() error {
			_, err := site.ListComments(sctx, &commentdv1.ListCommentsRequest{ThreadId: o.bigThread, OrderBy: "create_time desc"})
			return err
		}},
		{name: "CountComments of 100 threads", call: func() error {
			_, err := site.CountComments(sctx, &commentdv1.CountCommentsRequest{ThreadIds: threads[:min(100, len(threads))]})
			return err
		}},
		{name: "GetComment (site)", call: func() error {
			_, err := site.GetComment(sctx, &commentdv1.GetCommentRequest{Name: ids[o.spam+1]})
			return err
		}},
	}

	type timing struct {
		name     string
		calls    int
		med, max time.Duration
		cmds     float64
		err      error
	}
	var out []timing
	rssBefore := procRSS(srv.pid)
	for _, p := range ops {
		before, _, err := commandStats(ctx, rdb)
		if err != nil {
			return err
		}
		var lats []time.Duration
		var firstErr error
		n := o.reps
		for range n {
			t := time.Now()
			if err := p.call(); err != nil && firstErr == nil {
				firstErr = err
			}
			lats = append(lats, time.Since(t))
		}
		after, _, err := commandStats(ctx, rdb)
		if err != nil {
			return err
		}
		slices.Sort(lats)
		// INFO commandstats counts itself once per read.
		out = append(out, timing{name: p.name, calls: n, med: lats[len(lats)/2], max: lats[len(lats)-1],
			cmds: (sum(after) - sum(before) - 1) / float64(n), err: firstErr})
	}

	// Walks over every page, with the largest page, as `commentctl queue --all` and a site
	// rendering the whole thread do: the time of the whole walk and of its slowest page, and
	// whether every comment came exactly once.
	type walk struct {
		name           string
		pages, items   int
		dups           int
		total, slowest time.Duration
		err            error
		want           int // -1: not known
	}
	var walks []walk
	walkPages := func(name string, want int, page func(tok string) ([]string, string, error)) {
		w := walk{name: name, want: want}
		seen := map[string]bool{}
		tok := ""
		for {
			t := time.Now()
			names, next, err := page(tok)
			d := time.Since(t)
			w.total += d
			w.slowest = max(w.slowest, d)
			if err != nil {
				w.err = err
				break
			}
			w.pages++
			for _, n := range names {
				if seen[n] {
					w.dups++
				}
				seen[n] = true
			}
			w.items += len(names)
			if next == "" {
				break
			}
			tok = next
		}
		walks = append(walks, w)
	}
	var pendingNow int64
	if st, err := mod.GetStats(mctx, &commentdv1.GetStatsRequest{Days: 1}); err == nil {
		for _, c := range st.GetQueue() {
			if c.GetState() == commentdv1.State_STATE_PENDING {
				pendingNow = c.GetCount()
			}
		}
	}
	walkPages("ListQueue pending, every page of 500", int(pendingNow), func(tok string) ([]string, string, error) {
		resp, err := mod.ListQueue(mctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING, PageSize: 500, PageToken: tok})
		var names []string
		for _, c := range resp.GetComments() {
			names = append(names, c.GetComment().GetName())
		}
		return names, resp.GetNextPageToken(), err
	})
	bigCount := int(cnt.GetCounts()[0].GetPublished())
	walkPages("ListComments big thread, every page of 500", bigCount, func(tok string) ([]string, string, error) {
		resp, err := site.ListComments(sctx, &commentdv1.ListCommentsRequest{ThreadId: o.bigThread, PageSize: 500, PageToken: tok})
		var names []string
		for _, c := range resp.GetComments() {
			names = append(names, c.GetName())
		}
		return names, resp.GetNextPageToken(), err
	})
	walkPages("ListBans, every page of 500", o.bans, func(tok string) ([]string, string, error) {
		resp, err := mod.ListBans(mctx, &commentdv1.ListBansRequest{PageSize: 500, PageToken: tok})
		var names []string
		for _, b := range resp.GetBans() {
			names = append(names, b.GetName())
		}
		return names, resp.GetNextPageToken(), err
	})
	walkPages("ListFilters, every page of 500", o.filters, func(tok string) ([]string, string, error) {
		resp, err := mod.ListFilters(mctx, &commentdv1.ListFiltersRequest{PageSize: 500, PageToken: tok})
		var names []string
		for _, f := range resp.GetFilters() {
			names = append(names, f.GetName())
		}
		return names, resp.GetNextPageToken(), err
	})
	walkPages("ListAuditEvents, every page of 500", -1, func(tok string) ([]string, string, error) {
		resp, err := mod.ListAuditEvents(mctx, &commentdv1.ListAuditEventsRequest{PageSize: 500, PageToken: tok})
		var names []string
		for _, e := range resp.GetEvents() {
			names = append(names, e.GetName())
		}
		return names, resp.GetNextPageToken(), err
	})
	rssAfter := procRSS(srv.pid)

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%s\n", cpuModel())
	fmt.Fprintf(tw, "data\t%d spam-model examples; %d published in %s (CountComments says %d); %d submitted over %d threads, of which %d marked spam and %d approved or rejected; %d bans; %d word-list entries\n",
		trained, o.big, o.bigThread, bigCount, held, o.threads, o.spam, o.decided, o.bans, o.filters)
	fmt.Fprintf(tw, "queue\t")
	for _, c := range st.GetQueue() {
		fmt.Fprintf(tw, "%s %d  ", strings.ToLower(strings.TrimPrefix(c.GetState().String(), "STATE_")), c.GetCount())
	}
	fmt.Fprintf(tw, "(after loading)\n")
	fmt.Fprintf(tw, "redis\t%d keys, used_memory %s\n", dbsize, usedMem)
	fmt.Fprintf(tw, "loaded in\t%.0fs\n", loaded.Seconds())
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "call\tcalls\tmedian\tslowest\tredis commands/call\terror\n")
	for _, t := range out {
		e := "-"
		if t.err != nil {
			e = t.err.Error()
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%v\t%.0f\t%s\n", t.name, t.calls, t.med.Round(10*time.Microsecond), t.max.Round(10*time.Microsecond), t.cmds, e)
	}
	fmt.Fprintf(tw, "\t\n")
	fmt.Fprintf(tw, "walk\tpages\titems\twanted\trepeated\twhole walk\tslowest page\terror\n")
	for _, w := range walks {
		e, want := "-", "-"
		if w.err != nil {
			e = w.err.Error()
		}
		if w.want >= 0 {
			want = fmt.Sprint(w.want)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%v\t%v\t%s\n", w.name, w.pages, w.items, want, w.dups, w.total.Round(time.Millisecond), w.slowest.Round(10*time.Microsecond), e)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "commentd resident memory: %d MB before the timed calls, %d MB after\n", rssBefore>>20, rssAfter>>20)

	if o.serve {
		fmt.Fprintf(stdout, "\ncommentd serves on %s until interrupted:\n", srv.addr)
		fmt.Fprintf(stdout, "export COMMENTCTL_SERVER=%s COMMENTCTL_TOKEN=%s SITE_KEY=%s ADMIN_KEY=%s REDIS_ADDR=%s\n", srv.addr, keys.moderator, keys.site, keys.admin, redisAddr)
		<-ctx.Done()
	}
	return nil
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// submitMany submits n comments from workers goroutines, each to the thread thread picks, and
// returns their names in submission order.
func submitMany(ctx context.Context, site commentdv1.CommentServiceClient, workers, n int, thread func(*rand.Rand, int64) string) ([]string, error) {
	names := make([]string, n)
	var seq atomic.Int64
	err := forEachWorker(workers, n, func(w int) func(int) error {
		r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
		return func(i int) error {
			req := grpcservertest.Submission(r, seq.Add(1))
			req.ThreadId = thread(r, int64(i))
			resp, err := site.SubmitComment(ctx, req)
			if err != nil {
				return fmt.Errorf("submit: %w", err)
			}
			names[i] = resp.GetComment().GetName()
			return nil
		}
	})
	return names, err
}

// forEach calls fn(0..n-1) from workers goroutines and returns the first error.
func forEach(workers, n int, fn func(int) error) error {
	return forEachWorker(workers, n, func(int) func(int) error { return fn })
}

func forEachWorker(workers, n int, mk func(w int) func(int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for w := range workers {
		fn := mk(w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// procRSS is the resident memory of process pid in bytes, from /proc (Linux; 0 elsewhere).
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
