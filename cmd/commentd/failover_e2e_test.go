package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// recoverWithin is how long a call may keep failing after a failover, a restart or a flush of
// Redis's script cache before the test calls it stuck: a generous liveness bound, not a timing.
const recoverWithin = 20 * time.Second

// TestFailoverUnderLoad runs submissions and decisions on commentd while the Redis master fails
// over (gracefully, or killed and replaced by its replica), restarts or loses its script cache,
// then checks what the site and the moderators saw: only UNAVAILABLE while it lasted, every kind
// of call working again afterwards without a restart (a new master has none of the Lua scripts
// commentd loaded at start), health NOT_SERVING while no master answered, every acknowledged
// comment there, and resending every request id creating nothing new. Where Redis itself may lose
// acknowledged writes (a Sentinel failover: replication is asynchronous and the old master takes
// writes until Sentinel announces the new one; a kill; a restart without persistence), the lost
// ones are counted and logged rather than failing the test.
func TestFailoverUnderLoad(t *testing.T) {
	for _, tt := range failoverEvents() {
		t.Run(tt.name, func(t *testing.T) {
			url, dataAddr, event := tt.setup(t)
			r := newRig(t, url, dataAddr, "-accept-data-loss")
			r.lossy = tt.lossy
			l := &callLog{codes: map[string]int{}, statuses: map[healthpb.HealthCheckResponse_ServingStatus]int{}}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { r.load(stop, l, "f"); close(done) }()
			time.Sleep(time.Second)
			event(r)
			// Calls resume: a submission is acknowledged again within the bound.
			if !r.submitsAgain(l) {
				t.Errorf("no submission acknowledged within %v of the event; errors seen: %v; log:\n%s", recoverWithin, l.snapshotCodes(), r.log)
			}
			time.Sleep(time.Second)
			close(stop)
			<-done
			if !r.waitHealth(healthpb.HealthCheckResponse_SERVING, recoverWithin) {
				t.Errorf("health not SERVING within %v of the event", recoverWithin)
			}
			acked := 0 // before repair, which resends the others
			l.mu.Lock()
			for _, s := range l.subs {
				if s.err == nil {
					acked++
				}
			}
			l.mu.Unlock()
			r.repair(l)
			l.mu.Lock()
			defer l.mu.Unlock()
			unavailable := 0
			for key, n := range l.codes {
				if strings.HasPrefix(key, "Unavailable/") {
					unavailable += n
				}
			}
			t.Logf("%d submissions (%d acknowledged), %d decisions; errors seen: %v; %d calls UNAVAILABLE, over %v; health seen: %v, NOT_SERVING over %v; acknowledged comments lost: %d",
				len(l.subs), acked, len(l.decs), l.codes, unavailable, l.unavailable, l.statuses, l.notServing, len(r.lost))
			for key := range l.codes {
				if tt.lossy && strings.HasPrefix(key, "NotFound/COMMENT_NOT_FOUND") {
					continue // a decision on a comment the event lost
				}
				if !strings.HasPrefix(key, "Unavailable/") {
					t.Errorf("clients got %s during the event, want only UNAVAILABLE (retryable)", key)
				}
			}
			if !tt.lossy && len(r.lost) > 0 {
				t.Errorf("acknowledged submissions %v lost, want none", r.lost)
			}
			if tt.masterDown && l.statuses[healthpb.HealthCheckResponse_NOT_SERVING] == 0 {
				t.Errorf("health never NOT_SERVING while the master was down (seen: %v)", l.statuses)
			}
			if dataAddr != nil {
				r.check(l)
			} else {
				r.checkCluster(l, strings.Split(strings.TrimPrefix(url, "redis://"), ","))
			}
			// After check, which counts what the load made: this adds a comment and trains the model.
			r.everyScript()
		})
	}
}

// failoverEvent is something that happens to Redis under commentd: setup starts the Redis set-up
// and returns commentd's -redis-url, the address of the server holding the data (nil on a Cluster)
// and the event.
type failoverEvent struct {
	name  string
	lossy bool // acknowledged writes may be lost
	// masterDown: a master is gone for longer than commentd's health check period (2 s), so
	// health must say NOT_SERVING at some point.
	masterDown bool
	setup      func(t *testing.T) (url string, dataAddr func() string, event func(r *crashRig))
}

// sentinelFailover is the set-up of a Sentinel failover (SENTINEL FAILOVER) on servers started
// with extra flags.
func sentinelFailover(extra ...string) func(t *testing.T) (string, func() string, func(*crashRig)) {
	return func(t *testing.T) (string, func() string, func(*crashRig)) {
		sent := redistest.StartSentinel(t, extra...)
		return "redis+sentinel://" + sent.Addr + "/" + sent.MasterName, func() string { return sent.Master().Addr },
			func(r *crashRig) {
				ctx, cancel := context.WithTimeout(context.Background(), recoverWithin)
				defer cancel()
				if err := sent.Failover(ctx); err != nil {
					t.Fatalf("SENTINEL FAILOVER: %v", err)
				}
				r.newMaster = sent.Master().Addr
			}
	}
}

func failoverEvents() []failoverEvent {
	return []failoverEvent{
		{name: "sentinel failover", lossy: true, setup: sentinelFailover()},
		{name: "sentinel failover, min-replicas-to-write 1", lossy: true, setup: sentinelFailover("--min-replicas-to-write", "1")},
		{name: "sentinel master killed", lossy: true, masterDown: true, setup: func(t *testing.T) (string, func() string, func(*crashRig)) {
			sent := redistest.StartSentinel(t)
			return "redis+sentinel://" + sent.Addr + "/" + sent.MasterName, func() string { return sent.Master().Addr },
				func(r *crashRig) {
					sent.Master().Stop()
					ctx, cancel := context.WithTimeout(context.Background(), recoverWithin)
					defer cancel()
					if err := sent.WaitPromoted(ctx); err != nil {
						t.Fatalf("after the master was killed: %v", err)
					}
					r.newMaster = sent.Master().Addr
				}
		}},
		{name: "cluster failover", setup: func(t *testing.T) (string, func() string, func(*crashRig)) {
			c := redistest.StartClusterWithReplicas(t)
			return "redis://" + strings.Join(c.Addrs, ","), nil, func(r *crashRig) {
				ctx, cancel := context.WithTimeout(context.Background(), recoverWithin)
				defer cancel()
				// The replica of the master that serves the most comment shards (slots 0-5460).
				if err := c.Failover(ctx, c.Replicas[0].Addr); err != nil {
					t.Fatalf("CLUSTER FAILOVER: %v", err)
				}
				r.newMaster = c.Replicas[0].Addr
			}
		}},
		// The master is down from the kill until the other masters agree it is (from
		// clusterNodeTimeout after its last answer) and its replica has won their votes (half a
		// second or more later): longer than commentd's health check period of 2 s, so health says
		// NOT_SERVING, and short enough to keep the test quick.
		{name: "cluster master killed", lossy: true, masterDown: true, setup: func(t *testing.T) (string, func() string, func(*crashRig)) {
			c := redistest.StartClusterWithReplicas(t, "--cluster-node-timeout", clusterNodeTimeout)
			return "redis://" + strings.Join(c.Addrs, ","), nil, func(r *crashRig) {
				// The master that serves the most comment shards (slots 0-5460).
				c.Nodes[0].Stop()
				ctx, cancel := context.WithTimeout(context.Background(), recoverWithin)
				defer cancel()
				if err := c.WaitPromoted(ctx, c.Replicas[0].Addr); err != nil {
					t.Fatalf("after the master was killed: %v", err)
				}
				r.newMaster = c.Replicas[0].Addr
			}
		}},
		{name: "redis restarted", lossy: true, setup: func(t *testing.T) (string, func() string, func(*crashRig)) {
			srv := redistest.Start(t)
			return "redis://" + srv.Addr, func() string { return srv.Addr }, func(r *crashRig) {
				srv.Stop()
				srv.Restart(t)
				r.newMaster = srv.Addr
			}
		}},
		{name: "script flush", setup: func(t *testing.T) (string, func() string, func(*crashRig)) {
			srv := redistest.Start(t)
			return "redis://" + srv.Addr, func() string { return srv.Addr }, func(r *crashRig) {
				if err := redistest.Client(t, srv.Addr).ScriptFlush(context.Background()).Err(); err != nil {
					t.Fatalf("SCRIPT FLUSH: %v", err)
				}
				r.newMaster = srv.Addr
			}
		}},
	}
}

// clusterNodeTimeout is the cluster-node-timeout (milliseconds) of the "cluster master killed"
// event's Cluster; docs/DESIGN.md quotes what the event measured with it.
const clusterNodeTimeout = "2000"

// TestFirstCallsAfterFailover makes each kind of call that runs a Lua script, then fails Redis
// over (or empties its script cache), then makes each again as the first of its kind since: each
// must work without a restart of commentd, though the new master has none of the scripts cached.
func TestFirstCallsAfterFailover(t *testing.T) {
	for _, tt := range failoverEvents() {
		if tt.name != "sentinel failover" && tt.name != "cluster failover" && tt.name != "script flush" {
			continue // the others leave a master as empty of scripts as one of these
		}
		t.Run(tt.name, func(t *testing.T) {
			url, dataAddr, event := tt.setup(t)
			r := newRig(t, url, dataAddr, "-accept-data-loss")
			r.everyScript()
			event(r)
			// What the test is about: the master now has none of the scripts commentd loaded. A
			// failover leaves the promoted replica without them, but commentd's background loops
			// (learning, retention, the model's copy) may have met NOSCRIPT there and loaded some
			// again by now; emptying the cache once more keeps the test about first calls.
			newMaster := redistest.Client(t, r.newMaster)
			// Flushed and checked in one MULTI, so no script can come back in between.
			var infoCmd *redis.StringCmd
			if _, err := newMaster.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
				p.ScriptFlush(context.Background())
				infoCmd = p.Info(context.Background(), "memory")
				return nil
			}); err != nil {
				t.Fatalf("SCRIPT FLUSH and INFO memory on the new master: %v", err)
			}
			info, err := infoCmd.Result()
			if err != nil || !strings.Contains(info, "number_of_cached_scripts:0\r\n") {
				t.Fatalf("INFO memory on the master after the event: %v; want number_of_cached_scripts:0 in\n%s", err, info)
			}
			r.everyScript()
		})
	}
}

// snapshotCodes returns a copy of the error counts.
func (l *callLog) snapshotCodes() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.codes {
		out[k] = v
	}
	return out
}

// submitsAgain waits until the load has a submission acknowledged after now.
func (r *crashRig) submitsAgain(l *callLog) bool {
	l.mu.Lock()
	from := len(l.subs)
	l.mu.Unlock()
	for deadline := time.Now().Add(recoverWithin); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		for _, s := range l.subs[from:] {
			if s.err == nil {
				l.mu.Unlock()
				return true
			}
		}
		l.mu.Unlock()
	}
	return false
}

// everyScript makes, once, each kind of call that runs one of commentd's Lua scripts (alone or in
// a pipeline), retrying only UNAVAILABLE for up to recoverWithin: each must succeed.
func (r *crashRig) everyScript() {
	t := r.t
	site := commentdv1.NewCommentServiceClient(r.conn)
	mod := commentdv1.NewModerationServiceClient(r.conn)
	tag := fmt.Sprintf("%d", time.Now().UnixNano())
	var id string
	calls := []struct {
		name  string
		token string
		call  func(ctx context.Context) error
	}{
		{"SubmitComment", r.siteToken, func(ctx context.Context) error {
			resp, err := site.SubmitComment(ctx, &commentdv1.SubmitCommentRequest{
				ThreadId: "after-" + tag, AuthorName: "Late Reader", AuthorEmail: "late@example.org",
				Body: "a comment sent after the event " + tag, RequestId: "after-" + tag, ClientIp: "192.0.2.250", UserAgent: "failover-test",
			})
			id = strings.TrimPrefix(resp.GetComment().GetName(), "comments/")
			return err
		}},
		{"CheckComment", r.siteToken, func(ctx context.Context) error {
			_, err := site.CheckComment(ctx, &commentdv1.CheckCommentRequest{Comment: &commentdv1.SubmitCommentRequest{
				ThreadId: "after-" + tag, AuthorName: "Late Reader", AuthorEmail: "late@example.org", Body: "another text", ClientIp: "192.0.2.250",
			}})
			return err
		}},
		{"ReportComment", r.siteToken, func(ctx context.Context) error {
			_, err := site.ReportComment(ctx, &commentdv1.ReportCommentRequest{Name: "comments/" + id, Reason: "off topic", ClientIp: "192.0.2.251"})
			return err
		}},
		{"ListQueue", r.modToken, func(ctx context.Context) error {
			_, err := mod.ListQueue(ctx, &commentdv1.ListQueueRequest{State: commentdv1.State_STATE_PENDING})
			return err
		}},
		{"ClaimComments", r.modToken, func(ctx context.Context) error {
			_, err := mod.ClaimComments(ctx, &commentdv1.ClaimCommentsRequest{Count: 2, Lease: durationpb.New(time.Minute), ThreadId: "after-" + tag})
			return err
		}},
		{"ReleaseComments", r.modToken, func(ctx context.Context) error {
			_, err := mod.ReleaseComments(ctx, &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/" + id}})
			return err
		}},
		{"ApproveComment", r.modToken, func(ctx context.Context) error {
			_, err := mod.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: "comments/" + id})
			if status.Code(err) == codes.FailedPrecondition {
				return nil // a resend after an UNAVAILABLE that had approved it
			}
			return err
		}},
		{"CreateBan", r.modToken, func(ctx context.Context) error {
			_, err := mod.CreateBan(ctx, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_Ip{Ip: "198.51.100.7"}, Reason: "test"})
			return err
		}},
		{"ListBans", r.modToken, func(ctx context.Context) error {
			_, err := mod.ListBans(ctx, &commentdv1.ListBansRequest{})
			return err
		}},
		{"CreateFilter", r.modToken, func(ctx context.Context) error {
			_, err := mod.CreateFilter(ctx, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
				List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: "zzfailover" + tag,
			}})
			return err
		}},
		{"ListAuditEvents", r.modToken, func(ctx context.Context) error {
			_, err := mod.ListAuditEvents(ctx, &commentdv1.ListAuditEventsRequest{})
			return err
		}},
		{"GetStats", r.modToken, func(ctx context.Context) error {
			_, err := mod.GetStats(ctx, &commentdv1.GetStatsRequest{})
			return err
		}},
		{"TrainSpam", r.adminToken, func(ctx context.Context) error {
			_, err := mod.TrainSpam(ctx, &commentdv1.TrainSpamRequest{RequestId: "train-" + tag, Examples: []*commentdv1.TrainingExample{
				{Body: "cheap watches buy now", Spam: true}, {Body: "the council meets on tuesday", Spam: false},
			}})
			return err
		}},
	}
	for _, c := range calls {
		var err error
		for deadline := time.Now().Add(recoverWithin); ; time.Sleep(200 * time.Millisecond) {
			ctx, cancel := r.ctx(c.token, "every-"+c.name+"-"+tag, 5*time.Second)
			err = c.call(ctx)
			cancel()
			if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("%s after the event: %v (code %v), want success within %v", c.name, err, status.Code(err), recoverWithin)
		}
	}
}

// checkCluster is check's first part on a Cluster: one comment record per request id, and the
// acknowledged comment's record for each acknowledged request.
func (r *crashRig) checkCluster(l *callLog, addrs []string) {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer rdb.Close()
	var mu sync.Mutex
	records := map[string]bool{}
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		iter := n.Scan(ctx, 0, globEscapeTest(r.prefix)+"{s[0-9][0-9]}c:*", 1000).Iterator()
		for iter.Next(ctx) {
			id, err := n.HGet(ctx, iter.Val(), "id").Result()
			if err != nil {
				return err
			}
			mu.Lock()
			records[id] = true
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatalf("reading the comment records on every master: %v", err)
	}
	ids := map[string]bool{}
	for _, s := range l.subs {
		ids[s.id] = true
		if !records[s.id] {
			t.Errorf("request %s acknowledged as comment %s: no record", s.req.RequestId, s.id)
		}
	}
	if len(records) != len(ids) {
		t.Errorf("after resending every request id: %d comment records, want %d (one per request id)", len(records), len(ids))
	}
}

// twin starts a second commentd with r's keys, secrets, key prefix and Redis, on addresses of its
// own, and returns a connection to it.
func (r *crashRig) twin() *grpc.ClientConn {
	t := r.t
	args := append([]string(nil), r.args...)
	addrs := freeAddrs(t, 2)
	for i := range args[:len(args)-1] {
		switch args[i] {
		case "-grpc-addr":
			args[i+1] = addrs[0]
		case "-http-addr":
			args[i+1] = addrs[1]
		}
	}
	twin := &crashRig{t: t, args: args, env: r.env, log: &syncBuffer{}, grpcAddr: args[slices.Index(args, "-grpc-addr")+1]}
	conn, err := grpc.NewClient(twin.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	twin.conn = conn
	t.Cleanup(twin.kill)
	twin.start()
	return conn
}

// TestBackgroundLoopsAfterFailover: what one server changes after a failover (graceful, or the
// master killed) reaches another server's background readers (the spam model's copy, the word
// lists) on the new master.
func TestBackgroundLoopsAfterFailover(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "sentinel failover", true: "sentinel master killed"}[kill], func(t *testing.T) {
			backgroundLoopsAfterFailover(t, kill)
		})
	}
}

func backgroundLoopsAfterFailover(t *testing.T, kill bool) {
	sent := redistest.StartSentinel(t)
	r := newRig(t, "redis+sentinel://"+sent.Addr+"/"+sent.MasterName, func() string { return sent.Master().Addr }, "-accept-data-loss")
	other := commentdv1.NewCommentServiceClient(r.twin())
	mod := commentdv1.NewModerationServiceClient(r.conn)
	// check asks the second server; after the failover it may answer UNAVAILABLE until its Redis
	// client has found the new master (the retryable answer a failover gives), which the caller
	// retries like any other.
	check := func(body string) (*commentdv1.CheckCommentResponse, error) {
		ctx, cancel := r.ctx(r.siteToken, "check", 5*time.Second)
		defer cancel()
		resp, err := other.CheckComment(ctx, &commentdv1.CheckCommentRequest{Comment: &commentdv1.SubmitCommentRequest{
			ThreadId: "loops", AuthorName: "A Reader", AuthorEmail: "reader@example.org", Body: body, ClientIp: "192.0.2.9", UserAgent: "failover-test",
		}})
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Fatalf("CheckComment on the second server: %v", err)
		}
		return resp, err
	}
	spamText := "cheap replica watches at wholesale prices visit our shop today"
	first, err := check(spamText)
	if err != nil {
		t.Fatalf("CheckComment on the second server before the failover: %v", err)
	}
	before := first.GetSpamScore()

	ctx, cancel := context.WithTimeout(context.Background(), recoverWithin)
	defer cancel()
	if kill {
		sent.Master().Stop()
		if err := sent.WaitPromoted(ctx); err != nil {
			t.Fatalf("after the master was killed: %v", err)
		}
	} else if err := sent.Failover(ctx); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	var examples []*commentdv1.TrainingExample
	for i := range 50 {
		examples = append(examples,
			&commentdv1.TrainingExample{Body: fmt.Sprintf("%s offer %d", spamText, i), Spam: true},
			&commentdv1.TrainingExample{Body: fmt.Sprintf("the council debated the new bridge repairs for the %dth time", i), Spam: false})
	}
	for deadline := time.Now().Add(recoverWithin); ; time.Sleep(200 * time.Millisecond) {
		actx, acancel := r.ctx(r.adminToken, "train-loops", 5*time.Second)
		_, err := mod.TrainSpam(actx, &commentdv1.TrainSpamRequest{RequestId: "train-loops", Examples: examples})
		acancel()
		if err == nil {
			break
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("TrainSpam after the failover: %v", err)
		}
	}
	word := "zzfailoverword"
	for deadline := time.Now().Add(recoverWithin); ; time.Sleep(200 * time.Millisecond) {
		mctx, mcancel := r.ctx(r.modToken, "filter-loops", 5*time.Second)
		_, err := mod.CreateFilter(mctx, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
			List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: word,
		}})
		mcancel()
		if err == nil {
			break
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("CreateFilter after the failover: %v", err)
		}
	}
	var score float64
	var decision commentdv1.SpamDecision
	var lastErr error
	unavailable := 0
	ok := false
	for deadline := time.Now().Add(recoverWithin); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		spam, err := check(spamText)
		if err != nil {
			lastErr, unavailable = err, unavailable+1
			continue
		}
		worded, err := check("a plain comment with " + word + " in it")
		if err != nil {
			lastErr, unavailable = err, unavailable+1
			continue
		}
		score, decision = spam.GetSpamScore(), worded.GetDecision()
		if score > before && decision == commentdv1.SpamDecision_SPAM_DECISION_SPAM {
			ok = true
			break
		}
	}
	t.Logf("second server: %d CheckComment calls UNAVAILABLE after the failover", unavailable)
	if !ok {
		t.Errorf("second server %v after the failover and the first server's training and new spam word: spam score %v (before: %v), decision on a comment with the word %v (last UNAVAILABLE: %v); want a higher score and SPAM",
			recoverWithin, score, before, decision, lastErr)
	}
}
