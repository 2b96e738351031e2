package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// crashRig is a commentd process that a test can kill -9 and start again with the same keys,
// secrets, key prefix and address, on a redis-server the test can kill -9 and restart from its AOF
// (newCrashRig) or on a Redis set-up the test fails over (newFailoverRig).
type crashRig struct {
	t                   *testing.T
	redis               *redistest.Server
	dataAddr            func() string // the Redis server that holds the data now, for check
	prefix              string
	args, env           []string
	grpcAddr            string
	siteToken, modToken string
	adminToken          string
	// lossy: acknowledged writes may be lost (a failover to a replica that had not received them);
	// resend and repair count them in lost instead of failing the test.
	lossy bool
	lost  []string // request ids of acknowledged submissions whose comment was lost
	// newMaster is the Redis server a failover test's event made master (or emptied).
	newMaster string
	log       *syncBuffer
	conn      *grpc.ClientConn

	mu   sync.Mutex
	cmd  *exec.Cmd
	gone chan struct{}
}

func newCrashRig(t *testing.T) *crashRig {
	t.Helper()
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	r := newRig(t, "redis://"+srv.Addr, func() string { return srv.Addr })
	r.redis = srv
	return r
}

// newRig starts commentd on the Redis at redisURL (whose data dataAddr's server holds) with extra
// more flags.
func newRig(t *testing.T, redisURL string, dataAddr func() string, extra ...string) *crashRig {
	t.Helper()
	bin, _ := binaries(t)
	addrs := freeAddrs(t, 2)
	r := &crashRig{t: t, log: &syncBuffer{}, prefix: redistest.Prefix(t), grpcAddr: addrs[0], dataAddr: dataAddr}
	keys := writeRoleKeys(t, "crash", &r.siteToken, &r.modToken, &r.adminToken)
	// No -accept-data-loss: AOF with appendfsync always must pass the start-up check. Every
	// comment waits for a moderator (pre-moderation, nobody trusted) so every one can be decided,
	// and no rate limit refuses the load.
	r.args = append([]string{bin, "-grpc-addr", r.grpcAddr, "-http-addr", addrs[1], "-redis-url", redisURL,
		"-redis-prefix", r.prefix, "-keys", keys, "-moderation-mode", "pre", "-spam-trust-after", "0",
		"-rate-limits", "off", "-redis-timeout", "1s", "-shutdown-timeout", "2s"}, extra...)
	r.env = append(os.Environ(),
		"COMMENTD_ENCRYPTION_KEYS=crash:"+privacy.EncodeSecret(privacy.NewSecret()),
		"COMMENTD_HASH_KEY="+privacy.EncodeSecret(privacy.NewSecret()))
	conn, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.conn = conn
	t.Cleanup(r.kill)
	r.start()
	return r
}

// start runs commentd and returns once its health check says SERVING.
func (r *crashRig) start() {
	r.t.Helper()
	cmd := exec.Command(r.args[0], r.args[1:]...)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start commentd: %v", err)
	}
	gone := make(chan struct{})
	go func() { cmd.Wait(); close(gone) }()
	r.mu.Lock()
	r.cmd, r.gone = cmd, gone
	r.mu.Unlock()
	if !r.waitHealth(healthpb.HealthCheckResponse_SERVING, 30*time.Second) {
		r.t.Fatalf("commentd not SERVING 30s after start; log:\n%s", r.log)
	}
}

// kill ends commentd with SIGKILL, as a crash would, and waits for it to exit.
func (r *crashRig) kill() {
	r.mu.Lock()
	cmd, gone := r.cmd, r.gone
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-gone
}

func (r *crashRig) waitHealth(want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) bool {
	hc := healthpb.NewHealthClient(r.conn)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == want {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (r *crashRig) ctx(token, requestID string, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token, "x-request-id", requestID), cancel
}

// submission is one SubmitComment the load sent, and what it got.
type submission struct {
	req   *commentdv1.SubmitCommentRequest
	id    string // comment id when acknowledged
	state commentdv1.State
	err   error
}

// decision is one moderator call the load sent, and what it got.
type decision struct {
	id     string
	action string // approve, reject, spam
	err    error
}

// callLog collects what clients saw: every error's code, reason and retry delay, and calls that
// outlived their deadline.
type callLog struct {
	mu       sync.Mutex
	subs     []*submission
	decs     []*decision
	codes    map[string]int // "CODE/REASON retry=..." → count
	overdue  []string
	statuses map[healthpb.HealthCheckResponse_ServingStatus]int
	// unavailable spans the calls answered UNAVAILABLE, from the start of the first to the end of
	// the last; notServing the health answers NOT_SERVING, from the first to the last. Measured to
	// be reported, never asserted.
	unavailable, notServing span
}

// span is the time from the first to the last of some events.
type span struct{ first, last time.Time }

// add widens s to take in an event from start to end.
func (s *span) add(start, end time.Time) {
	if s.first.IsZero() || start.Before(s.first) {
		s.first = start
	}
	if end.After(s.last) {
		s.last = end
	}
}

// String gives the span's length, or "none" when nothing was added.
func (s span) String() string {
	if s.first.IsZero() {
		return "none"
	}
	return s.last.Sub(s.first).Round(100 * time.Millisecond).String()
}

const callTimeout = 2 * time.Second

func (l *callLog) record(method string, err error, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if took > callTimeout+500*time.Millisecond {
		l.overdue = append(l.overdue, fmt.Sprintf("%s took %v (deadline %v): %v", method, took.Round(time.Millisecond), callTimeout, err))
	}
	if err == nil {
		return
	}
	if status.Code(err) == codes.Unavailable {
		end := time.Now()
		l.unavailable.add(end.Add(-took), end)
	}
	st := status.Convert(err)
	key := st.Code().String()
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			key += "/" + d.GetReason()
		case *errdetails.RetryInfo:
			key += " retry=" + d.GetRetryDelay().AsDuration().String()
		}
	}
	l.codes[key]++
}

// load submits comments and decides the acknowledged ones until stop is closed.
func (r *crashRig) load(stop <-chan struct{}, l *callLog, tag string) {
	site := commentdv1.NewCommentServiceClient(r.conn)
	mod := commentdv1.NewModerationServiceClient(r.conn)
	acked := make(chan string, 10000)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := &submission{req: &commentdv1.SubmitCommentRequest{
					ThreadId:    fmt.Sprintf("crash-%d", i%3),
					AuthorName:  fmt.Sprintf("Reader %d", (w*7+i)%11),
					AuthorEmail: fmt.Sprintf("reader%d@example.org", (w*7+i)%11),
					Body:        fmt.Sprintf("comment %s-%d-%d about the article, point number %d", tag, w, i, i*31%97),
					RequestId:   fmt.Sprintf("%s-%d-%d", tag, w, i),
					ClientIp:    fmt.Sprintf("192.0.2.%d", 1+(w*7+i)%200),
					UserAgent:   "crash-test",
				}}
				ctx, cancel := r.ctx(r.siteToken, s.req.RequestId, callTimeout)
				start := time.Now()
				resp, err := site.SubmitComment(ctx, s.req)
				cancel()
				l.record("SubmitComment", err, time.Since(start))
				s.err = err
				if err == nil {
					s.id = strings.TrimPrefix(resp.GetComment().GetName(), "comments/")
					s.state = resp.GetComment().GetState()
					acked <- s.id
				} else {
					time.Sleep(20 * time.Millisecond)
				}
				l.mu.Lock()
				l.subs = append(l.subs, s)
				l.mu.Unlock()
			}
		}()
	}
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				var id string
				select {
				case <-stop:
					return
				case id = <-acked:
				}
				d := &decision{id: id, action: [...]string{"approve", "reject", "spam"}[(n+w)%3]}
				d.err = r.decide(mod, l, d)
				l.mu.Lock()
				l.decs = append(l.decs, d)
				l.mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := healthpb.NewHealthClient(r.conn)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			cancel()
			if err == nil {
				l.mu.Lock()
				l.statuses[resp.GetStatus()]++
				if resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
					l.notServing.add(time.Now(), time.Now())
				}
				l.mu.Unlock()
			}
		}
	}()
	wg.Wait()
}

func (r *crashRig) decide(mod commentdv1.ModerationServiceClient, l *callLog, d *decision) error {
	ctx, cancel := r.ctx(r.modToken, "dec-"+d.action+"-"+d.id, callTimeout)
	defer cancel()
	name := "comments/" + d.id
	start := time.Now()
	var err error
	switch d.action {
	case "approve":
		_, err = mod.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name})
	case "reject":
		_, err = mod.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name})
	case "spam":
		_, err = mod.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name})
	}
	l.record(d.action, err, time.Since(start))
	return err
}

// TestCrashConsistency runs a load of submissions and decisions on commentd with a Redis of AOF
// and appendfsync always, kills Redis (or commentd) with SIGKILL mid-load and starts it again, or
// fills Redis's memory for a while. It checks that every acknowledged submission is whole,
// nothing half-written exists, the audit log, the authors' records and the spam model agree with
// the decisions, and resending every request id creates nothing.
func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		crash func(r *crashRig)
		// storeRefused: some calls must have been told STORE_UNAVAILABLE (Redis, not commentd,
		// was out of service).
		storeRefused bool
	}{
		{"redis killed", func(r *crashRig) {
			r.redis.Stop()
			time.Sleep(1500 * time.Millisecond)
			r.redis.Restart(t)
			if !r.waitHealth(healthpb.HealthCheckResponse_SERVING, 10*time.Second) {
				t.Errorf("commentd not SERVING within 10s of Redis's restart; log:\n%s", r.log)
			}
		}, true},
		{"commentd killed", func(r *crashRig) {
			r.kill()
			r.start()
		}, false},
		// Redis fills up: with noeviction (what commentd requires) it refuses every write that may
		// add memory while it is full, and takes them again once the operator gives it room.
		{"redis out of memory", func(r *crashRig) {
			rdb := redis.NewClient(&redis.Options{Addr: r.redis.Addr})
			defer rdb.Close()
			ctx := context.Background()
			info, err := rdb.Info(ctx, "memory").Result()
			if err != nil {
				r.t.Fatalf("INFO memory: %v", err)
			}
			if err := rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
				r.t.Fatal(err)
			}
			if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(usedMemory(r.t, info), 10)).Err(); err != nil {
				r.t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
				r.t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newCrashRig(t)
			l := &callLog{codes: map[string]int{}, statuses: map[healthpb.HealthCheckResponse_ServingStatus]int{}}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { r.load(stop, l, "a"); close(done) }()
			time.Sleep(1500 * time.Millisecond)
			tt.crash(r)
			time.Sleep(1500 * time.Millisecond)
			close(stop)
			<-done

			r.repair(l)
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("%d submissions, %d decisions; errors seen: %v; health seen: %v", len(l.subs), len(l.decs), l.codes, l.statuses)
			for _, o := range l.overdue {
				t.Errorf("call past its deadline: %s", o)
			}
			// What a client saw while Redis was away or full is something docs/ERRORS.md tells
			// it how to handle, never INTERNAL or UNKNOWN.
			refused := 0
			for key, n := range l.codes {
				if strings.HasPrefix(key, codes.Unavailable.String()+"/STORE_UNAVAILABLE") {
					refused += n
				}
				if code := strings.SplitN(key, "/", 2)[0]; code == codes.Internal.String() || code == codes.Unknown.String() {
					t.Errorf("%d calls failed with %s", n, key)
				}
			}
			if tt.storeRefused && refused == 0 {
				t.Errorf("no call was told STORE_UNAVAILABLE (errors seen: %v): the event did not reach the load", l.codes)
			}
			r.check(l)
		})
	}
}

// repair does what docs/ERRORS.md tells a client to do after UNAVAILABLE: resend every
// submission with its request id and repeat every decision. Resent acknowledged submissions
// must give the first comment.
func (r *crashRig) repair(l *callLog) {
	t := r.t
	site := commentdv1.NewCommentServiceClient(r.conn)
	mod := commentdv1.NewModerationServiceClient(r.conn)
	l.mu.Lock()
	subs, decs := append([]*submission(nil), l.subs...), append([]*decision(nil), l.decs...)
	l.mu.Unlock()
	// Resent a few at a time, as several clients would.
	var wg sync.WaitGroup
	next := make(chan *submission)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				r.resend(site, s)
			}
		}()
	}
	for _, s := range subs {
		next <- s
	}
	close(next)
	wg.Wait()
	for _, d := range decs {
		if d.err == nil || status.Code(d.err) == codes.FailedPrecondition {
			continue
		}
		err := r.decide(mod, &callLog{codes: map[string]int{}}, d)
		if r.lossy && status.Code(err) == codes.NotFound {
			continue // a decision on a comment the failover lost
		}
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s %s repeated after the crash: %v", d.action, d.id, err)
		}
	}
}

// resend sends s again with its request id: an acknowledged submission must get its comment back.
// A submission the crash cut short left its request marker behind, so a resend within the
// server's settle bound (a few seconds) is told REQUEST_IN_PROGRESS; it sends again, as a site
// should, until the bound has passed. It also sends again after UNAVAILABLE, as docs/ERRORS.md
// tells a client to: on a loaded machine a resend can outlast -redis-timeout.
func (r *crashRig) resend(site commentdv1.CommentServiceClient, s *submission) {
	t := r.t
	var resp *commentdv1.SubmitCommentResponse
	var err error
	for deadline := time.Now().Add(15 * time.Second); ; {
		ctx, cancel := r.ctx(r.siteToken, s.req.RequestId, 5*time.Second)
		resp, err = site.SubmitComment(ctx, s.req)
		cancel()
		if c := status.Code(err); (c != codes.Aborted && c != codes.Unavailable) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Errorf("SubmitComment(request_id %s) resent after the crash: %v, want a comment", s.req.RequestId, err)
		return
	}
	id := strings.TrimPrefix(resp.GetComment().GetName(), "comments/")
	if s.err == nil && id != s.id && r.lossy {
		r.mu.Lock()
		r.lost = append(r.lost, s.req.RequestId)
		r.mu.Unlock()
		s.id, s.state = id, resp.GetComment().GetState()
		return
	}
	if s.err == nil && id != s.id {
		t.Errorf("SubmitComment(request_id %s) resent after the crash = comment %s, want the acknowledged %s", s.req.RequestId, id, s.id)
	}
	if s.err != nil {
		s.id, s.state, s.err = id, resp.GetComment().GetState(), nil
	}
}

// check reads every key of the rig's prefix and checks that they agree with each other and with
// what clients were told.
func (r *crashRig) check(l *callLog) {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: r.dataAddr()})
	defer rdb.Close()
	p := r.prefix

	// Records, by id.
	records := map[string]map[string]string{}
	iter := rdb.Scan(ctx, 0, p+"{s[0-9][0-9]}c:*", 1000).Iterator()
	for iter.Next(ctx) {
		m, err := rdb.HGetAll(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		records[m["id"]] = m
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range l.subs {
		ids[s.id] = true
	}
	if len(records) != len(ids) {
		t.Errorf("after resending every request id: %d comment records, want %d (one per request id)", len(records), len(ids))
	}
	for _, s := range l.subs {
		if s.id == "" {
			continue // never stored: its resend failed too, and resend said so
		}
		if records[s.id] == nil {
			t.Errorf("request %s acknowledged as comment %s: no record", s.req.RequestId, s.id)
		}
	}

	// Every index entry names a record in that state; every record is in exactly its indexes.
	member := map[string]int{} // id → index entries
	for shard := range 16 {
		tag := fmt.Sprintf("%s{s%02d}", p, shard)
		keys, err := rdb.Keys(ctx, globEscapeTest(tag)+"[pq]:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			rest := strings.TrimPrefix(k, tag)
			var st string
			switch {
			case strings.HasPrefix(rest, "p:"):
				st = "1"
			case strings.HasPrefix(rest, "q:"):
				st = rest[2:3]
			}
			thread := ""
			if i := strings.Index(rest, ":"); i >= 0 && strings.HasPrefix(rest, "p:") {
				thread = rest[2:]
			} else if len(rest) > 4 {
				thread = rest[4:]
			}
			ms, err := rdb.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ms {
				member[id]++
				rec := records[id]
				switch {
				case rec == nil:
					t.Errorf("index %s holds %s, which has no record", k, id)
				case rec["state"] != st:
					t.Errorf("index %s holds %s, whose record is in state %s", k, id, rec["state"])
				case thread != "" && rec["thread"] != thread:
					t.Errorf("index %s holds %s of thread %s", k, id, rec["thread"])
				}
			}
		}
	}
	for id, rec := range records {
		want := 2 // thread queue + shard queue
		if rec["state"] == "1" {
			want = 1
		}
		if member[id] != want {
			t.Errorf("comment %s in state %s is in %d indexes, want %d", id, rec["state"], member[id], want)
		}
	}

	// The audit log has one entry per applied decision (each comment was decided at most once).
	audits := map[string]int{}
	for shard := range 16 {
		es, err := rdb.XRange(ctx, fmt.Sprintf("%s{s%02d}a", p, shard), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if target, _ := e.Values["target"].(string); strings.HasPrefix(target, "comments/") {
				audits[strings.TrimPrefix(target, "comments/")]++
			}
		}
	}
	for id, rec := range records {
		want := 0
		if rec["dec_to"] != "" {
			want = 1
		}
		if audits[id] != want {
			t.Errorf("comment %s (state %s, decided to %q): %d audit entries, want %d", id, rec["state"], rec["dec_to"], audits[id], want)
		}
	}

	if r.lossy {
		// A decision is stored by one script and learnt by the next ones; a failover may keep the
		// first and lose the others. The decision's entry among those not yet learnt (stored with
		// it) makes the servers learn it again, but only after learnPendingGrace, longer than a test.
		return
	}

	// Spam model: a label per decided comment as its state teaches, totals in step with labels.
	mtag := fmt.Sprintf("%s{spam:%d:site}", p, spam.FeatureVersion)
	labels, err := rdb.HGetAll(ctx, mtag+":l").Result()
	if err != nil {
		t.Fatal(err)
	}
	wantTotals := map[string]int{}
	for id, rec := range records {
		want := ""
		if rec["dec_to"] != "" {
			switch rec["state"] {
			case "1":
				want = "h"
			case "4":
				want = "s"
			}
		}
		if want != "" {
			wantTotals[map[string]string{"h": "ham", "s": "spam"}[want]]++
		}
		if labels[id] != want {
			t.Errorf("comment %s (state %s, decided to %q): spam model label %q, want %q", id, rec["state"], rec["dec_to"], labels[id], want)
		}
	}
	totals, err := rdb.HGetAll(ctx, mtag+":n").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{"ham", "spam"} {
		if got, _ := strconv.Atoi(totals[class]); got != wantTotals[class] {
			t.Errorf("spam model total %s = %d, want %d (the labelled comments)", class, got, wantTotals[class])
		}
	}

	// Authors' records: the outcome of each decided comment, counted once.
	authors := map[string]map[string]int{} // author key → outcome → count
	for id, rec := range records {
		ak := rec["author_key"]
		if authors[ak] == nil {
			authors[ak] = map[string]int{}
		}
		want := ""
		if rec["dec_to"] != "" {
			want = map[string]string{"1": "approved", "3": "rejected", "4": "spam"}[rec["state"]]
		}
		atag := p + "{rl:author:" + ak + "}"
		got, err := rdb.HGet(ctx, atag+":o", id).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("comment %s (state %s, decided to %q): author's outcome %q, want %q", id, rec["state"], rec["dec_to"], got, want)
		}
		if want != "" {
			authors[ak][want]++
		}
	}
	for ak, want := range authors {
		got, err := rdb.HGetAll(ctx, p+"{rl:author:"+ak+"}:h").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []string{"approved", "rejected", "spam"} {
			if n, _ := strconv.Atoi(got[o]); n != want[o] {
				t.Errorf("author %.8s…: record counts %s = %d, want %d", ak, o, n, want[o])
			}
		}
	}
}

// usedMemory reads used_memory from the text of INFO memory.
func usedMemory(t *testing.T, info string) int64 {
	t.Helper()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO memory used_memory %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("INFO memory has no used_memory:\n%s", info)
	return 0
}

func globEscapeTest(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
