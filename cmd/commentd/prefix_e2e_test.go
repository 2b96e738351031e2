package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// prefixSite is one commentd of TestPrefixesShareOneRedis and the comments its workload stored.
type prefixSite struct {
	prefix string
	s      *server
	ids    map[string]string // the workload's name of a comment → its id
}

func (p *prefixSite) as(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// workload does on p what a site and its moderators do: a thread setting, submissions (with
// request ids, a campaign's copies), each kind of decision, a claim, a report, a ban, a word-list
// entry, spam training of the site's and a scratch model, an export, the audit log and the stats.
// It checks that every submission is published or held as p's own settings say: the ban and the
// word-list entry come last, so a submission refused or held here was refused or held by the other
// site's.
func (p *prefixSite) workload(t *testing.T) {
	t.Helper()
	site := commentdv1.NewCommentServiceClient(p.s.conn)
	mod := commentdv1.NewModerationServiceClient(p.s.conn)
	sctx, mctx, actx := p.as(t, p.s.siteToken), p.as(t, p.s.modToken), p.as(t, p.s.adminToken)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("prefix %q: %s: %v", p.prefix, what, err)
		}
	}
	_, err := mod.UpdateThread(mctx, &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: "threads/held", ModerationMode: commentdv1.ModerationMode_MODERATION_MODE_PRE}})
	must("UpdateThread(threads/held, pre)", err)
	p.ids = map[string]string{}
	for i, c := range []struct{ name, thread, email, body, requestID string }{
		{"jane", "article", "jane@example.com", "The figures in the third paragraph do not add up.", "form-1"},
		{"jane-held", "held", "jane@example.com", "A second thought on the held thread.", "form-2"},
		{"troll", "article", "troll@example.com", "A troll writes something.", "form-3"},
		{"zebra", "article", "kim@example.com", "The zebra crossing outside the school is gone.", ""},
		{"kim-held", "held", "kim@example.com", "Kim again, on the held thread.", ""},
		{"lee-held", "held", "lee@example.com", "Lee writes on the held thread.", ""},
		{"copy-1", "article", "c1@example.com", "The cheapest watches are here today, friends.", ""},
		{"copy-2", "article", "c2@example.com", "The cheapest watches are here today, friends.", ""},
		{"copy-3", "article", "c3@example.com", "The cheapest watches are here today, friends.", ""},
	} {
		r, err := site.SubmitComment(sctx, &commentdv1.SubmitCommentRequest{
			ThreadId: c.thread, AuthorName: "Reader " + c.name, AuthorEmail: c.email, Body: c.body, RequestId: c.requestID,
			ClientIp: fmt.Sprintf("192.0.2.%d", 10+i), UserAgent: "e2e-test",
		})
		must("SubmitComment "+c.name, err)
		want := commentdv1.State_STATE_PUBLISHED
		if c.thread == "held" {
			want = commentdv1.State_STATE_PENDING
		}
		if got := r.GetComment().GetState(); got != want {
			t.Errorf("prefix %q: SubmitComment %s: state %v, want %v", p.prefix, c.name, got, want)
		}
		p.ids[c.name] = r.GetComment().GetId()
	}
	name := func(c string) string { return "comments/" + p.ids[c] }
	_, err = mod.ApproveComment(mctx, &commentdv1.ApproveCommentRequest{Name: name("jane-held")})
	must("ApproveComment", err)
	_, err = mod.RejectComment(mctx, &commentdv1.RejectCommentRequest{Name: name("kim-held"), Reason: "off topic"})
	must("RejectComment", err)
	_, err = mod.MarkSpam(mctx, &commentdv1.MarkSpamRequest{Name: name("lee-held")})
	must("MarkSpam", err)
	_, err = mod.MarkNotSpam(mctx, &commentdv1.MarkNotSpamRequest{Name: name("lee-held")})
	must("MarkNotSpam", err)
	_, err = mod.ClaimComments(mctx, &commentdv1.ClaimCommentsRequest{})
	must("ClaimComments", err)
	_, err = site.ReportComment(sctx, &commentdv1.ReportCommentRequest{Name: name("jane"), Reason: "rude", ReporterId: "reader-1"})
	must("ReportComment", err)
	_, err = mod.CreateBan(mctx, &commentdv1.CreateBanRequest{Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: "troll@example.com"}, Reason: "trolling", RequestId: "ban-1"})
	must("CreateBan", err)
	_, err = mod.CreateFilter(mctx, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: "zebra"}})
	must("CreateFilter", err)
	var examples []*commentdv1.TrainingExample
	for i := range 12 {
		examples = append(examples,
			&commentdv1.TrainingExample{Body: fmt.Sprintf("cheap pills casino bonus win %d", i), Spam: true},
			&commentdv1.TrainingExample{Body: fmt.Sprintf("the council meeting on the roads ran long %d", i)})
	}
	_, err = mod.TrainSpam(actx, &commentdv1.TrainSpamRequest{Examples: examples, RequestId: "train-1"})
	must("TrainSpam", err)
	_, err = mod.TrainSpam(actx, &commentdv1.TrainSpamRequest{SpamModel: "scratch", Examples: examples})
	must("TrainSpam(scratch)", err)
	_, err = mod.ExportAuthorData(actx, &commentdv1.ExportAuthorDataRequest{AuthorEmail: "kim@example.com", Reason: "request 1"})
	must("ExportAuthorData", err)
	_, err = mod.ListAuditEvents(mctx, &commentdv1.ListAuditEventsRequest{})
	must("ListAuditEvents", err)
	_, err = mod.GetStats(mctx, &commentdv1.GetStatsRequest{Days: 1})
	must("GetStats", err)
}

// TestPrefixesShareOneRedis runs two commentd on one redis-server with prefixes of which one
// begins the other ("a:" and "a:b:", as "site" and "site2"), as -redis-prefix lets several sites
// share one Redis, and with the same secrets, so the same email has the same keyed hash on both:
// only the prefix keeps them apart. One site's ban, word-list entry, spam training and erasure
// change nothing on the other; the queue, audit log, stats, export and reseal's walk of each see
// only its own comments; and every key in Redis is one site's.
func TestPrefixesShareOneRedis(t *testing.T) {
	rs := redistest.Start(t)
	secrets := []string{"-hash-key", privacy.EncodeSecret(privacy.NewSecret()), "-encryption-keys", "k1:" + privacy.EncodeSecret(privacy.NewSecret())}
	a := &prefixSite{prefix: "a:"}
	b := &prefixSite{prefix: "a:b:"}
	for _, p := range []*prefixSite{a, b} {
		p.s = startCommentd(t, rs.Addr, append([]string{"-redis-prefix", p.prefix}, secrets...)...)
	}
	a.workload(t)
	b.workload(t) // after a's ban and word-list entry: b's troll is published, and its zebra comment

	for _, p := range []*prefixSite{a, b} {
		mod := commentdv1.NewModerationServiceClient(p.s.conn)
		ctx := p.as(t, p.s.adminToken)
		other := a
		if p == a {
			other = b
		}
		stats, err := mod.GetStats(ctx, &commentdv1.GetStatsRequest{Days: 1})
		if err != nil || len(stats.GetDays()) != 1 || stats.GetDays()[0].GetSubmitted() != int64(len(p.ids)) {
			t.Errorf("prefix %q: GetStats(1 day): %v, %v; want %d submitted", p.prefix, stats.GetDays(), err, len(p.ids))
		}
		queue, err := mod.ListQueue(ctx, &commentdv1.ListQueueRequest{PageSize: 500})
		if err != nil || len(queue.GetComments()) != 1 || queue.GetComments()[0].GetComment().GetId() != p.ids["lee-held"] {
			t.Errorf("prefix %q: ListQueue: %v, %v; want only its own held comment %s", p.prefix, queue.GetComments(), err, p.ids["lee-held"])
		}
		audit, err := mod.ListAuditEvents(ctx, &commentdv1.ListAuditEventsRequest{PageSize: 500})
		if err != nil {
			t.Fatalf("prefix %q: ListAuditEvents: %v", p.prefix, err)
		}
		for _, ev := range audit.GetEvents() {
			for _, id := range other.ids {
				if strings.Contains(ev.GetTarget(), id) {
					t.Errorf("prefix %q: ListAuditEvents lists %v, on a comment of prefix %q", p.prefix, ev, other.prefix)
				}
			}
		}
		if bans, err := mod.ListBans(ctx, &commentdv1.ListBansRequest{}); err != nil || len(bans.GetBans()) != 1 {
			t.Errorf("prefix %q: ListBans: %v, %v; want its one ban", p.prefix, bans.GetBans(), err)
		}
		if filters, err := mod.ListFilters(ctx, &commentdv1.ListFiltersRequest{}); err != nil || len(filters.GetFilters()) != 1 {
			t.Errorf("prefix %q: ListFilters: %v, %v; want its one entry", p.prefix, filters.GetFilters(), err)
		}
		if n, ok := p.s.scrapeMetric(t, `commentd_spam_model_trained_comments{class="spam"}`); n != 12 {
			t.Errorf("prefix %q: commentd_spam_model_trained_comments{class=\"spam\"} = %v (%v), want its own 12", p.prefix, n, ok)
		}
	}

	// The same email's erasure on a anonymises a's comments and none of b's.
	er, err := commentdv1.NewModerationServiceClient(a.s.conn).EraseAuthorData(a.as(t, a.s.adminToken), &commentdv1.EraseAuthorDataRequest{AuthorEmail: "jane@example.com", Reason: "request 2"})
	if err != nil || er.GetCommentCount() != 2 {
		t.Fatalf("prefix %q: EraseAuthorData: %v, %v; want its 2 comments", a.prefix, er, err)
	}
	exp, err := commentdv1.NewModerationServiceClient(b.s.conn).ExportAuthorData(b.as(t, b.s.adminToken), &commentdv1.ExportAuthorDataRequest{AuthorEmail: "jane@example.com", Reason: "request 3"})
	if err != nil || len(exp.GetComments()) != 2 {
		t.Fatalf("prefix %q: ExportAuthorData after prefix %q erased the same email: %v, %v; want its 2 comments", b.prefix, a.prefix, exp.GetComments(), err)
	}
	for _, c := range exp.GetComments() {
		if c.GetComment().GetAuthorName() != "Reader jane" && c.GetComment().GetAuthorName() != "Reader jane-held" {
			t.Errorf("prefix %q: exported %v after prefix %q's erasure; want it untouched", b.prefix, c.GetComment(), a.prefix)
		}
	}

	// reseal walks its own records only.
	bin, _ := binaries(t)
	for _, p := range []*prefixSite{a, b} {
		out, err := exec.Command(bin, append([]string{"reseal", "-dry-run", "-redis-url", "redis://" + rs.Addr, "-redis-prefix", p.prefix, "-accept-data-loss"}, secrets...)...).CombinedOutput()
		if want := fmt.Sprintf(" in %d comments;", len(p.ids)); err != nil || !strings.Contains(string(out), want) {
			t.Errorf("commentd reseal -dry-run -redis-prefix %q: %v; want %q in:\n%s", p.prefix, err, want, out)
		}
	}

	keys, err := redistest.Client(t, rs.Addr).Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatalf("KEYS *: %v", err)
	}
	counts := map[string]int{}
	for _, k := range keys {
		// Every key of a is a's prefix and then a hash tag or "hk", so none begins with b's.
		switch rest, ok := strings.CutPrefix(k, a.prefix); {
		case strings.HasPrefix(k, b.prefix):
			counts[b.prefix]++
		case ok && (strings.HasPrefix(rest, "{") || rest == "hk"):
			counts[a.prefix]++
		default:
			t.Errorf("key %q is neither prefix %q's nor %q's", k, a.prefix, b.prefix)
		}
	}
	if counts[a.prefix] == 0 || counts[b.prefix] == 0 {
		t.Errorf("keys by prefix: %v; want some of each", counts)
	}
}
