package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// durableKeys are the classes of key that internal/redisstore/keys.go documents as kept without a
// TTL (names after the prefix). Every other key must expire.
var durableKeys = []*regexp.Regexp{
	regexp.MustCompile(`^\{s\d\d\}(c|p|t|rp|rr|rl):[^:]+$`), // records, published index, thread settings, reports
	regexp.MustCompile(`^\{s\d\d\}q:[234](:[^:]+)?$`),       // queues, per shard and per thread
	regexp.MustCompile(`^\{s\d\d\}(a|ul|pf|tl)$`),           // audit log, unlearnt decisions, purged to forget, thread list
	regexp.MustCompile(`^\{audit\}a$`),                      // audit log of actions on nothing sharded
	regexp.MustCompile(`^\{bans\}:[rcea]$`),                 // ban records, their indexes and audit log
	regexp.MustCompile(`^\{rl:author:[0-9a-f]{40}\}:[ho]$`), // author's record and outcomes
	regexp.MustCompile(`^\{spam:\d+:site\}:[cnlxeo]$`),      // the site's spam model (examples bounded by spamMaxExamples)
	regexp.MustCompile(`^\{spam:campaigns\}:x$`),            // campaign stream (trimmed)
	regexp.MustCompile(`^\{spam:filters\}:[eva]$`),          // word lists, their version and audit log
}

// TestKeyGrowth runs a mixed workload through the server wired as commentd wires it (default
// rate limits, bans, spam checks, word lists, reports, review claims, thread settings, training,
// erasure, export), then reads every key: each key without a TTL must be of a documented durable
// class, and no key name may hold an author's email address, IP address or name.
func TestKeyGrowth(t *testing.T) {
	const (
		email1 = "Growth.Probe-1@keys.example"
		email2 = "other-probe-2@keys.example"
		ipv4   = "198.51.100.61"
		ipv6   = "2001:db8:61::77"
		name1  = "Zacharias Growthprobe"
	)
	ctx := context.Background()
	e := newStoreEnv(t, redistest.Start(t).Addr)
	keys := testKeys(t, e)
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	engine, _ := startSpamChecks(t, e, log, spam.EngineOptions{})
	guard := ratelimit.NewGuard(e.store, ratelimit.Options{Rules: ratelimit.DefaultRules()})
	e.start(t, grpcserver.Options{
		Logger: log,
		Keys:   keys,
		Comments: comment.NewService(e.store, e.ring, comment.Options{DefaultMode: comment.ModePost, Screeners: []comment.Screener{
			ratelimit.NewScreener(guard, e.ring, ratelimit.ScreenerOptions{}),
			spam.NewScreener(engine, spam.ScreenerOptions{Logger: log}),
		}}),
		Moderation: moderation.NewService(e.store, e.ring, moderation.Options{
			DefaultMode: comment.ModePost, Learner: spam.NewLearner(e.store, e.ring), Histories: e.store,
			Audit: e.store, Claims: e.store, Reports: e.store, Feed: e.store, Stats: e.store,
			Eraser: e.store, Exporter: e.store, LearnQueue: e.store, Purger: e.store,
		}),
		Registerer: prometheus.NewRegistry(),
		Bans:       ratelimit.NewBans(e.store, ratelimit.BansOptions{Keys: e.ring}),
		Spam: grpcserver.SpamOptions{
			Service: spam.NewService(engine, e.store, spam.ServiceOptions{Bans: grpcserver.GuardBans(guard, e.ring, false), Threads: e.store, Histories: e.store}),
			Filters: spam.NewFilters(e.store, e.ring, spam.FiltersOptions{}),
		},
	})
	site, mod, admin := e.as(t, siteKeyName), e.as(t, modKeyName), e.as(t, adminKeyName)

	// Training, a scratch model.
	var xs []*commentdv1.TrainingExample
	for _, b := range corpusSpam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b, Spam: true})
	}
	for _, b := range corpusHam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b})
	}
	if _, err := e.mod.TrainSpam(admin, &commentdv1.TrainSpamRequest{Examples: xs, RequestId: "train-1"}); err != nil {
		t.Fatalf("called TrainSpam(site), got %v", err)
	}
	if _, err := e.mod.TrainSpam(admin, &commentdv1.TrainSpamRequest{Examples: xs, SpamModel: "growth"}); err != nil {
		t.Fatalf("called TrainSpam(scratch), got %v", err)
	}

	// Submissions: two authors, both address families, request ids, a duplicate, a rate-limited one.
	var ids []string
	sub := func(email, ip, thread, body, req string) error {
		r := validSubmission(thread, body)
		r.AuthorEmail, r.ClientIp, r.AuthorName, r.RequestId = email, ip, name1, req
		resp, err := e.site.SubmitComment(site, r)
		if err == nil {
			ids = append(ids, strings.TrimPrefix(resp.GetComment().GetName(), "comments/"))
		}
		return err
	}
	for i, s := range []struct{ email, ip, body string }{
		{email1, ipv4, "the council budget figures were revised"},
		{email1, ipv6, "the mayor's answer on buses was evasive"},
		{email2, ipv4, "free iphone giveaway, click the link in my profile"},
		{email2, ipv6, "a thoughtful piece on the library, thank you"},
	} {
		if err := sub(s.email, s.ip, fmt.Sprintf("growth-%d", i%2), s.body, fmt.Sprintf("req-%d", i)); err != nil {
			t.Fatalf("called SubmitComment(#%d), got %v", i, err)
		}
	}
	_ = sub(email1, ipv4, "growth-0", "the council budget figures were revised", "req-dup") // a duplicate
	_ = sub(email1, ipv4, "growth-2", "a third comment in a row", "")                       // over flood-author
	_ = sub(email1, ipv4, "growth-0", "the council budget figures were revised", "req-0")   // a resend

	// Decisions.
	if _, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: "comments/" + ids[0]}); err != nil {
		t.Fatalf("called ApproveComment, got %v", err)
	}
	if _, err := e.mod.MarkSpam(mod, &commentdv1.MarkSpamRequest{Name: "comments/" + ids[2], Reason: "spam"}); err != nil {
		t.Fatalf("called MarkSpam, got %v", err)
	}
	if _, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: "comments/" + ids[3], Reason: "off topic"}); err != nil {
		t.Fatalf("called RejectComment, got %v", err)
	}
	// Review: a claim, its release, and a reopening, which claims the comment for its moderator.
	if cl, err := e.mod.ClaimComments(mod, &commentdv1.ClaimCommentsRequest{State: commentdv1.State_STATE_SPAM}); err != nil || len(cl.GetComments()) == 0 {
		t.Fatalf("called ClaimComments(spam), got %d comments, %v; want some", len(cl.GetComments()), err)
	}
	if _, err := e.mod.ReleaseComments(mod, &commentdv1.ReleaseCommentsRequest{Names: []string{"comments/" + ids[2]}}); err != nil {
		t.Fatalf("called ReleaseComments, got %v", err)
	}
	if _, err := e.mod.ReopenComment(mod, &commentdv1.ReopenCommentRequest{Name: "comments/" + ids[0], Reason: "second look"}); err != nil {
		t.Fatalf("called ReopenComment, got %v", err)
	}
	// Thread settings: a mode of its own that stays; a close, then a reopening.
	for _, u := range []struct {
		th    *commentdv1.Thread
		paths []string
	}{
		{&commentdv1.Thread{Name: "threads/growth-1", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE}, []string{"moderation_mode"}},
		{&commentdv1.Thread{Name: "threads/growth-0", Closed: true}, []string{"closed"}},
		{&commentdv1.Thread{Name: "threads/growth-0"}, []string{"closed"}},
	} {
		if _, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{Thread: u.th, UpdateMask: &fieldmaskpb.FieldMask{Paths: u.paths}}); err != nil {
			t.Fatalf("called UpdateThread(%v, %v), got %v", u.th, u.paths, err)
		}
	}
	// Reports from both address families, and more readers than a comment's list of reports keeps.
	reporters := []string{ipv4, ipv6}
	for i := range moderation.MaxReportsShown + 3 {
		reporters = append(reporters, fmt.Sprintf("192.0.2.%d", i+1))
	}
	for _, ip := range reporters {
		if _, err := e.site.ReportComment(site, &commentdv1.ReportCommentRequest{Name: "comments/" + ids[1], Reason: "rude", ClientIp: ip}); err != nil {
			t.Fatalf("called ReportComment(from %s), got %v", ip, err)
		}
	}
	// Bans of every kind, one lifted.
	for _, r := range []*commentdv1.CreateBanRequest{
		{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: email2}, Reason: "spam run"},
		{Target: &commentdv1.CreateBanRequest_Ip{Ip: ipv6}, Reason: "spam run", Duration: durationpb.New(time.Hour)},
		{Target: &commentdv1.CreateBanRequest_CommentIp{CommentIp: ids[2]}, Reason: "spam run"},
		{Target: &commentdv1.CreateBanRequest_IpRange{IpRange: "203.0.113.0/24"}, Reason: "bot net", Duration: durationpb.New(time.Hour)},
	} {
		if _, err := e.mod.CreateBan(mod, r); err != nil {
			t.Fatalf("called CreateBan(%v), got %v", r, err)
		}
	}
	if _, err := e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: "bans/range-203.0.113.0-24"}); err != nil {
		t.Fatalf("called DeleteBan, got %v", err)
	}
	// Word lists.
	for _, f := range []*commentdv1.Filter{
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_EMAIL, Value: email1},
		{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_IP, Value: ipv4},
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: "giveaway"},
	} {
		resp, err := e.mod.CreateFilter(mod, &commentdv1.CreateFilterRequest{Filter: f})
		if err != nil {
			t.Fatalf("called CreateFilter(%v), got %v", f, err)
		}
		if f.GetKind() == commentdv1.FilterKind_FILTER_KIND_WORD {
			if _, err := e.mod.DeleteFilter(mod, &commentdv1.DeleteFilterRequest{Name: resp.GetFilter().GetName()}); err != nil {
				t.Fatalf("called DeleteFilter, got %v", err)
			}
		}
	}
	if _, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{Comment: validSubmission("growth-0", "is this spam")}); err != nil {
		t.Fatalf("called CheckComment, got %v", err)
	}
	// Access and erasure requests.
	if _, err := e.mod.ExportAuthorData(admin, &commentdv1.ExportAuthorDataRequest{AuthorEmail: email2, Reason: "ref 1"}); err != nil {
		t.Fatalf("called ExportAuthorData, got %v", err)
	}
	if _, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email1, ValidateOnly: true}); err != nil {
		t.Fatalf("called EraseAuthorData(validate only), got %v", err)
	}
	if _, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email1, Reason: "ref 2"}); err != nil {
		t.Fatalf("called EraseAuthorData, got %v", err)
	}

	// The list of a comment's reports is the one list this workload can grow: it keeps the newest few.
	for _, k := range e.storedKeys(t) {
		if !regexp.MustCompile(`\{s\d\d\}rl:`).MatchString(k) {
			continue
		}
		if n, err := e.redis.LLen(ctx, k).Result(); err != nil || n > moderation.MaxReportsShown {
			t.Errorf("LLEN %s = %d, %v; want at most moderation.MaxReportsShown (%d)", k, n, err, moderation.MaxReportsShown)
		}
	}

	secrets := []string{strings.ToLower(email1), strings.ToLower(email2), "growth.probe-1", "other-probe-2", ipv4, ipv6, "2001:db8:61:", "zacharias", "growthprobe"}
	names := e.storedKeys(t)
	if len(names) < 20 {
		t.Fatalf("SCAN found %d keys after the workload; the workload or the scan is broken: %v", len(names), names)
	}
	for _, k := range names {
		rest := strings.TrimPrefix(k, e.prefix)
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(rest), s) {
				t.Errorf("key %q names %q in clear", k, s)
			}
		}
		ttl, err := e.redis.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", k, err)
		}
		if ttl >= 0 || ttl == -2*time.Nanosecond {
			continue // expires, or expired meanwhile
		}
		durable := false
		for _, re := range durableKeys {
			durable = durable || re.MatchString(rest)
		}
		if !durable {
			typ, _ := e.redis.Type(ctx, k).Result()
			t.Errorf("key %q (%s) has no TTL and is of no durable class documented in keys.go", k, typ)
		}
	}
}
