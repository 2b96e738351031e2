package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
)

// memoryComments is how many comments BenchmarkCommentMemory writes (and then as many decisions):
// enough for Redis's own overheads to average out, few enough to run in seconds.
const memoryComments = 10000

// memoryBodyChars is the length of the comments' bodies: about a paragraph, the usual news comment.
// Bodies are stored as they are, so a site with longer comments adds the difference per comment.
const memoryBodyChars = 400

// storeOfItsOwnRedis returns a store on a new redis-server of its own, for the memory
// benchmarks: Redis's whole used_memory then counts nothing else.
func storeOfItsOwnRedis(b *testing.B) (*Store, *redis.Client) {
	b.Helper()
	srv := redistest.Start(b)
	rdb := redistest.Client(b, srv.Addr)
	s, err := New(context.Background(), rdb, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s, rdb
}

// BenchmarkCommentMemory measures what Redis keeps per comment and per moderator decision, the
// growth that is by design: comments are kept until an erasure request anonymises them, and with
// them what belongs to them. It writes memoryComments comments into a new redis-server of its own
// through the real store, as a busy site's submissions arrive (every author distinct, the worst
// case for the authors' records; 30 comments per thread; 10% judged spam; every one with a request
// id), then has a moderator decide memoryComments held comments through the moderation service
// (90% approved, 10% marked spam: the audit entry, the daily counters, the author's record and
// outcome, and the comment's label in the spam model). It reports Redis's whole used_memory per
// comment and per decision:
//
//   - kept-B/comment: the record, its thread's index or queue, the thread's settings, counters;
//   - request-B/comment: the idempotency record and the request's fingerprint beside it, which
//     expire a day after the submission, so at steady state a day's submissions hold them;
//   - decision-B/decision: what a decision adds, without the spam model's counts and change
//     stream, which are bounded on their own (BenchmarkModelMemory, docs/SPAM.md);
//   - abuse-B/submission: what the abuse check keeps for a new author and address (rule states,
//     duplicate marker, the request id's marker), all of it expiring within a day;
//   - report-B/report: what a reader's report adds (the comment's counters, its set of reporters
//     and its list of the newest reports), kept as long as the comment, with two readers on each
//     reported comment.
//
// The timing is of no interest.
//
//	go test -run XXX -bench BenchmarkCommentMemory -benchtime 1x ./internal/redisstore/
func BenchmarkCommentMemory(b *testing.B) {
	for range b.N {
		s, rdb := storeOfItsOwnRedis(b)
		ctx := context.Background()
		keys, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		start := time.Now().Add(-time.Hour)
		// submit stores comment n as comment.Service would, in state st, and returns its id.
		submit := func(n int, st comment.State) string {
			thread := fmt.Sprintf("news-2026-11-story-%d", n/30)
			email, _ := privacy.ParseEmail(fmt.Sprintf("reader.%d@mail%d.example", n, n%50))
			ip, _ := privacy.ParseIP(fmt.Sprintf("198.%d.%d.%d", n>>16&255, n>>8&255, n&255))
			id := s.NewID(thread)
			c := comment.Comment{
				ID: id, ThreadID: thread, AuthorName: fmt.Sprintf("Reader %d", n),
				AuthorKey: keys.EmailKey(email), IPKey: keys.IPKey(ip),
				UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
				Body:      memoryBody(rng), SpamScore: rng.Float64() * 0.2, State: st,
				CreatedAt: start.Add(time.Duration(n) * time.Millisecond).Truncate(time.Microsecond),
			}
			switch st {
			case comment.StatePublished:
				c.PublishedAt = c.CreatedAt
			case comment.StateSpam:
				c.SpamScore = 0.99
				c.HoldReasons = []comment.Reason{{Code: "SPAM_SCORE", Message: "the spam score is 0.99"}}
			case comment.StatePending:
				c.HoldReasons = []comment.Reason{{Code: "TOO_MANY_LINKS", Message: "2 links"}}
			}
			if c.EmailSealed, err = keys.SealEmail(email, id); err != nil {
				b.Fatal(err)
			}
			if c.IPSealed, err = keys.SealIP(ip, id); err != nil {
				b.Fatal(err)
			}
			if _, _, err := s.Create(ctx, c, comment.CreateOptions{RequestID: fmt.Sprintf("form-%016x", rng.Uint64()), DefaultMode: comment.ModePost}); err != nil {
				b.Fatal(err)
			}
			return id
		}
		spamEvery := func(n int) bool { return n%10 == 9 }

		before := usedMemory(b, rdb)
		var published []string
		for n := range memoryComments {
			st := comment.StatePublished
			if spamEvery(n) {
				st = comment.StateSpam
			}
			if id := submit(n, st); st == comment.StatePublished {
				published = append(published, id)
			}
		}
		withRequests := usedMemory(b, rdb)
		requests, err := requestKeys(ctx, rdb)
		if err != nil || len(requests) != 2*memoryComments {
			b.Fatalf("idempotency records and fingerprints = %d keys, %v; want %d", len(requests), err, 2*memoryComments)
		}
		if err := rdb.Del(ctx, requests...).Err(); err != nil {
			b.Fatal(err)
		}
		kept := usedMemory(b, rdb)

		svc := moderation.NewService(s, keys, moderation.Options{Learner: spam.NewLearner(s, keys), Histories: s, LearnQueue: s, Reports: s})
		held := make([]string, memoryComments)
		for n := range held {
			held[n] = submit(memoryComments+n, comment.StatePending)
		}
		if requests, err = requestKeys(ctx, rdb); err == nil && len(requests) > 0 {
			err = rdb.Del(ctx, requests...).Err()
		}
		if err != nil {
			b.Fatal(err)
		}
		undecided := usedMemory(b, rdb)
		for n, id := range held {
			a := moderation.Approve
			if spamEvery(n) {
				a = moderation.MarkSpam
			}
			if _, err := svc.Decide(ctx, fmt.Sprintf("moderator-%d", n%20), a, id, "", ""); err != nil {
				b.Fatalf("Decide(%v, %s) = %v", a, id, err)
			}
		}
		var model int64
		for _, k := range []string{s.keys.spamCounts(""), s.keys.spamTotals(""), s.keys.spamStream("")} {
			n, err := rdb.MemoryUsage(ctx, k, 0).Result()
			if err != nil {
				b.Fatalf("MEMORY USAGE %s: %v", k, err)
			}
			model += n
		}
		decided := usedMemory(b, rdb) - model

		// Readers' reports, kept with their comment: two signed-in readers each on memoryReported
		// published comments (below the takedown threshold), memoryComments reports in all.
		const memoryReported = memoryComments / 2
		beforeReports := usedMemory(b, rdb)
		for n, id := range published[:memoryReported] {
			for r := range 2 {
				from := moderation.Reporter{APIKey: "site", ID: fmt.Sprintf("account-%d", 2*n+r)}
				if _, _, err := svc.Report(ctx, id, "offensive", from); err != nil {
					b.Fatalf("Report(%s) = %v", id, err)
				}
			}
		}
		reports := usedMemory(b, rdb) - beforeReports

		// What the abuse check keeps per submission, all of it expiring within a day: the rules'
		// states (the longest rule's span), the duplicate marker (the duplicate window) and the
		// request id's marker (a day). 20 submissions per thread, within the thread rule's burst.
		sc := ratelimit.NewScreener(ratelimit.NewGuard(s, ratelimit.Options{Rules: ratelimit.DefaultRules()}), keys, ratelimit.ScreenerOptions{})
		beforeAbuse := usedMemory(b, rdb)
		for n := range memoryComments {
			d, err := comment.Limits{}.Validate(comment.Submission{ThreadID: fmt.Sprintf("abuse-%d", n/20), AuthorName: "A Reader",
				AuthorEmail: fmt.Sprintf("abuse.%d@example.com", n), ClientIP: fmt.Sprintf("10.%d.%d.%d", n>>16, (n>>8)&255, n&255),
				Body: memoryBody(rng), RequestID: fmt.Sprintf("form-%d", n)})
			if err != nil {
				b.Fatal(err)
			}
			var v comment.Verdict
			if err := sc.Screen(ctx, &d, &v); err != nil {
				b.Fatalf("Screen(submission %d) = %v", n, err)
			}
		}
		abuse := usedMemory(b, rdb) - beforeAbuse

		b.ReportMetric(float64(kept-before)/memoryComments, "kept-B/comment")
		b.ReportMetric(float64(withRequests-kept)/memoryComments, "request-B/comment")
		b.ReportMetric(float64(decided-undecided)/memoryComments, "decision-B/decision")
		b.ReportMetric(float64(abuse)/memoryComments, "abuse-B/submission")
		b.ReportMetric(float64(reports)/memoryComments, "report-B/report")
	}
}

// memoryBody returns a body of memoryBodyChars characters of words drawn from a few thousand, so
// the comments differ as readers' comments do.
func memoryBody(rng *rand.Rand) string {
	var sb strings.Builder
	for sb.Len() < memoryBodyChars {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "w%x", rng.IntN(4000))
	}
	return sb.String()[:memoryBodyChars]
}

// requestKeys lists the idempotency records and the fingerprints kept beside them (keys.go).
func requestKeys(ctx context.Context, rdb *redis.Client) ([]string, error) {
	records, err := rdb.Keys(ctx, "*}r:*").Result()
	if err != nil {
		return nil, err
	}
	fingerprints, err := rdb.Keys(ctx, "*}rf:*").Result()
	return append(records, fingerprints...), err
}
