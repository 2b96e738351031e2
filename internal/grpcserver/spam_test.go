package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// spamEnvOptions configures one server of a spam test. Servers given the same redisAddr, prefix
// and ring are instances of one deployment.
type spamEnvOptions struct {
	redisAddr string
	prefix    string
	ring      *privacy.Keyring
	mode      comment.Mode
	engine    spam.EngineOptions // Campaigns is filled in
	maxDepth  int                // redisstore.Options.MaxReplyDepth
}

// spamEnv is a server wired as commentd wires it: the abuse check (bans and the author's record,
// no rate limits) then the spam checks on every submission; the learner and the authors' records
// on every decision; the spam and word-list RPCs; and the background readers and writer, stopped
// when the test ends.
type spamEnv struct {
	*env
	mirror *redisstore.SpamMirror
}

func newSpamEnv(t *testing.T, o spamEnvOptions) *spamEnv {
	t.Helper()
	ctx := context.Background()
	e := &env{prefix: o.prefix, ring: o.ring, logs: &syncBuffer{}, reg: prometheus.NewRegistry(), tokens: map[string]string{}}
	client, err := redisstore.NewClient(o.redisAddr)
	if err != nil {
		t.Fatalf("redisstore.NewClient(%q): %v", o.redisAddr, err)
	}
	t.Cleanup(func() { client.Close() })
	e.redis = client
	if e.store, err = redisstore.New(ctx, client, redisstore.Options{Prefix: e.prefix, MaxReplyDepth: o.maxDepth}); err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	keys := testKeys(t, e)
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	engine, mirror := startSpamChecks(t, e, log, o.engine)

	guard := ratelimit.NewGuard(e.store, ratelimit.Options{})
	limits := comment.Limits{}
	e.start(t, grpcserver.Options{
		Logger: log,
		Keys:   keys,
		Comments: comment.NewService(e.store, e.ring, comment.Options{DefaultMode: o.mode, Limits: limits, Screeners: []comment.Screener{
			ratelimit.NewScreener(guard, e.ring, ratelimit.ScreenerOptions{}),
			spam.NewScreener(engine, spam.ScreenerOptions{Logger: log}),
		}}),
		Moderation: moderation.NewService(e.store, e.ring, moderation.Options{DefaultMode: o.mode, Learner: spam.NewLearner(e.store, e.ring), Histories: e.store, Audit: e.store}),
		Registerer: e.reg,
		Spam: grpcserver.SpamOptions{
			Service: spam.NewService(engine, e.store, spam.ServiceOptions{Limits: limits, Bans: grpcserver.GuardBans(guard, e.ring, false), Threads: e.store, Histories: e.store}),
			Filters: spam.NewFilters(e.store, e.ring, spam.FiltersOptions{}),
		},
	})
	return &spamEnv{env: e, mirror: mirror}
}

// startSpamChecks builds the spam engine on e's store as commentd does: the model's copy, the
// campaign window and the word lists are loaded, then kept up to date in the background until t
// ends. opts.Scorer.Campaigns is filled in. It returns the engine and the model's copy.
func startSpamChecks(t testing.TB, e *env, log *slog.Logger, opts spam.EngineOptions) (*spam.Engine, *redisstore.SpamMirror) {
	t.Helper()
	ctx := context.Background()
	mirror := redisstore.NewSpamMirror(e.store, redisstore.SpamMirrorOptions{Block: 100 * time.Millisecond, Logger: log})
	camp := redisstore.NewCampaigns(e.store, redisstore.CampaignsOptions{FlushEvery: 20 * time.Millisecond, Block: 100 * time.Millisecond, Logger: log})
	opts.Scorer.Campaigns = camp
	engine, err := spam.NewEngine(mirror, e.ring, opts)
	if err != nil {
		t.Fatalf("spam.NewEngine: %v", err)
	}
	watcher := redisstore.NewFilterWatcher(e.store, engine.SetFilters, redisstore.FilterWatcherOptions{Every: 50 * time.Millisecond, Logger: log})
	for _, load := range []func(context.Context) error{mirror.Load, camp.Load, watcher.Load} {
		if err := load(ctx); err != nil {
			t.Fatalf("load spam state: %v", err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { mirror.Run(runCtx) })
	wg.Go(func() { camp.Run(runCtx) })
	wg.Go(func() { watcher.Run(runCtx) })
	t.Cleanup(func() { stop(); wg.Wait() })
	return engine, mirror
}

// newSpamDeployment starts n servers of one deployment on a Redis of their own.
func newSpamDeployment(t *testing.T, n int, o spamEnvOptions) []*spamEnv {
	t.Helper()
	o.redisAddr = redistest.Start(t).Addr
	o.prefix = redistest.Prefix(t)
	ring, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatalf("privacy.NewKeyring: %v", err)
	}
	o.ring = ring
	out := make([]*spamEnv, n)
	for i := range out {
		out[i] = newSpamEnv(t, o)
	}
	return out
}

// The site model's starting corpus, trained through TrainSpam.
var (
	corpusSpam = []string{
		"win a free iphone now, click my profile link",
		"free iphone giveaway, click the link in my profile",
		"click my profile for a free gift card",
		"earn money from home, click my profile",
		"free gift cards for everyone, click now",
		"click the link for free money today",
		"cheap followers, click my profile link now",
		"free iphone for the first hundred, click",
		"win money now, click the link in my profile",
		"click now for your free gift",
		"get rich quick, click my profile",
		"free prizes, click the link now",
	}
	corpusHam = []string{
		"the minister's figures in the third paragraph do not add up",
		"a thoughtful piece on the council budget, thank you",
		"the interview with the mayor was fair and balanced",
		"i disagree with the conclusion about rail fares",
		"the photographs of the flood are striking",
		"good reporting on the school closures",
		"the chart of housing prices needs a source",
		"this article explains the election rules well",
		"the mayor's answer on buses was evasive",
		"thank you for covering the local library",
		"the budget figures were revised last week",
		"an interesting interview about the new bridge",
	}
)

// trainCorpus trains the site model (or a scratch model) with the corpus as admin.
func (e *spamEnv) trainCorpus(t *testing.T, model string) {
	t.Helper()
	var xs []*commentdv1.TrainingExample
	for _, b := range corpusSpam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b, Spam: true})
	}
	for _, b := range corpusHam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b})
	}
	resp, err := e.mod.TrainSpam(e.as(t, adminKeyName), &commentdv1.TrainSpamRequest{SpamModel: model, Examples: xs})
	if err != nil || int(resp.GetTrained()) != len(xs) {
		t.Fatalf("called TrainSpam(model %q, %d examples), got %v, %v; want all trained", model, len(xs), resp, err)
	}
}

// check calls CheckComment as the site.
func (e *spamEnv) check(t *testing.T, r *commentdv1.SubmitCommentRequest, model string) *commentdv1.CheckCommentResponse {
	t.Helper()
	resp, err := e.site.CheckComment(e.as(t, siteKeyName), &commentdv1.CheckCommentRequest{Comment: r, SpamModel: model})
	if err != nil {
		t.Fatalf("called CheckComment(%q, model %q), got error %v", r.GetBody(), model, err)
	}
	return resp
}

// moderated returns the moderator's view of a comment.
func (e *spamEnv) moderated(t *testing.T, id string) *commentdv1.ModeratedComment {
	t.Helper()
	resp, err := e.mod.GetComment(e.as(t, modKeyName), &commentdv1.ModerationServiceGetCommentRequest{Name: "comments/" + id})
	if err != nil {
		t.Fatalf("called GetComment(%s) as moderator, got error %v", id, err)
	}
	return resp.GetComment()
}

// replyTo makes r a reply to the comment parent.
func replyTo(r *commentdv1.SubmitCommentRequest, parent string) *commentdv1.SubmitCommentRequest {
	r.ParentId = parent
	return r
}

func spamCodes(rs []*commentdv1.Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetCode())
	}
	return out
}

// submission is a valid request from a distinct author and address.
func spamSubmission(i int, thread, body string) *commentdv1.SubmitCommentRequest {
	r := validSubmission(thread, body)
	r.AuthorEmail = fmt.Sprintf("reader%d@example.org", i)
	r.ClientIp = fmt.Sprintf("198.51.100.%d", i%250+1)
	return r
}

// TestSpamChecksThroughServer runs each check through the server: CheckComment's verdict, then
// SubmitComment and the state and reasons the moderator sees.
func TestSpamChecksThroughServer(t *testing.T) {
	// Thresholds of our own, so the classifier case does not hang on the tuned defaults.
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost, engine: spam.EngineOptions{Scorer: spam.Options{HoldAt: 0.5, SpamAt: 0.9}}})[0]
	e.trainCorpus(t, "")
	spamWaitFor(t, "the corpus to reach the mirror", func() bool { return e.mirror.Seq() > 0 })
	mod := e.as(t, modKeyName)
	for _, f := range []*commentdv1.Filter{
		{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_WORD, Value: "casino"},
		{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_EMAIL, Value: "watched@example.net"},
		{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_DOMAIN, Value: "pills.example"},
	} {
		if _, err := e.mod.CreateFilter(mod, &commentdv1.CreateFilterRequest{Filter: f}); err != nil {
			t.Fatalf("called CreateFilter(%v), got error %v", f, err)
		}
	}
	// The watcher may load the lists between two of those calls: wait for each entry, not only
	// the first, to be in force.
	held := spamSubmission(901, "lists", "the new bridge opened")
	held.AuthorEmail = "watched@example.net"
	for _, p := range []struct {
		entry string
		r     *commentdv1.SubmitCommentRequest
		code  string
	}{
		{"casino", spamSubmission(900, "lists", "the new casino opened"), spam.ReasonSpamList},
		{"watched@example.net", held, spam.ReasonHoldList},
		{"pills.example", spamSubmission(902, "lists", "order at pills.example"), spam.ReasonSpamList},
	} {
		spamWaitFor(t, "the word list entry "+p.entry+" to load", func() bool {
			return slices.Contains(spamCodes(e.check(t, p.r, "").GetReasons()), p.code)
		})
	}

	const clean = "the budget figures were revised last week"
	tests := []struct {
		name      string
		req       func(r *commentdv1.SubmitCommentRequest)
		body      string
		wantCheck commentdv1.SpamDecision
		wantCodes []string // every one must be among the reasons
		wantState commentdv1.State
	}{
		{name: "clean", body: clean, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_PUBLISH, wantState: commentdv1.State_STATE_PUBLISHED},
		{name: "too many links", body: "see https://a.example/x and https://b.example/y for the figures", wantCheck: commentdv1.SpamDecision_SPAM_DECISION_HOLD, wantCodes: []string{spam.ReasonTooManyLinks}, wantState: commentdv1.State_STATE_PENDING},
		{name: "honeypot", body: clean, req: func(r *commentdv1.SubmitCommentRequest) { r.Honeypot = "http://bot.example" }, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_SPAM, wantCodes: []string{spam.ReasonHoneypot}, wantState: commentdv1.State_STATE_SPAM},
		{name: "too fast", body: clean, req: func(r *commentdv1.SubmitCommentRequest) { r.FormDuration = durationpb.New(time.Second) }, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_HOLD, wantCodes: []string{spam.ReasonTooFast}, wantState: commentdv1.State_STATE_PENDING},
		{name: "form sent at once", body: clean, req: func(r *commentdv1.SubmitCommentRequest) { r.FormDuration = durationpb.New(0) }, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_HOLD, wantCodes: []string{spam.ReasonTooFast}, wantState: commentdv1.State_STATE_PENDING},
		{name: "no user agent", body: clean, req: func(r *commentdv1.SubmitCommentRequest) { r.UserAgent = "" }, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_HOLD, wantCodes: []string{spam.ReasonNoUserAgent}, wantState: commentdv1.State_STATE_PENDING},
		{name: "spam list word", body: "my uncle runs a casino", wantCheck: commentdv1.SpamDecision_SPAM_DECISION_SPAM, wantCodes: []string{spam.ReasonSpamList}, wantState: commentdv1.State_STATE_SPAM},
		// A listed domain counts written out, not only as a link, and in the author's name too.
		{name: "spam list domain written out", body: "order at shop.pills.example today", wantCheck: commentdv1.SpamDecision_SPAM_DECISION_SPAM, wantCodes: []string{spam.ReasonSpamList}, wantState: commentdv1.State_STATE_SPAM},
		{name: "spam list domain in the name", body: clean, req: func(r *commentdv1.SubmitCommentRequest) { r.AuthorName = "https://pills.example" }, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_SPAM, wantCodes: []string{spam.ReasonSpamList}, wantState: commentdv1.State_STATE_SPAM},
		{name: "hold list email", body: clean, req: func(r *commentdv1.SubmitCommentRequest) { r.AuthorEmail = "Watched@Example.net" }, wantCheck: commentdv1.SpamDecision_SPAM_DECISION_HOLD, wantCodes: []string{spam.ReasonHoldList}, wantState: commentdv1.State_STATE_PENDING},
		{name: "classifier", body: "free iphone, click the link in my profile now", wantCheck: commentdv1.SpamDecision_SPAM_DECISION_SPAM, wantCodes: []string{spam.ReasonClassifierSpam}, wantState: commentdv1.State_STATE_SPAM},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := spamSubmission(i, "checks", tt.body)
			if tt.req != nil {
				tt.req(r)
			}
			got := e.check(t, r, "")
			if got.GetDecision() != tt.wantCheck {
				t.Errorf("called CheckComment(%s), got decision %v (reasons %v, score %.4f), want %v", tt.name, got.GetDecision(), spamCodes(got.GetReasons()), got.GetSpamScore(), tt.wantCheck)
			}
			for _, c := range tt.wantCodes {
				if !slices.Contains(spamCodes(got.GetReasons()), c) {
					t.Errorf("called CheckComment(%s), got reasons %v, want %s among them", tt.name, spamCodes(got.GetReasons()), c)
				}
			}
			c := e.submit(t, r)
			if tt.wantState == commentdv1.State_STATE_SPAM && c.GetState() != commentdv1.State_STATE_PENDING {
				t.Errorf("called SubmitComment(%s), got state %v for the site, want STATE_PENDING (spam is never shown to the site)", tt.name, c.GetState())
			}
			mc := e.moderated(t, c.GetId())
			if mc.GetComment().GetState() != tt.wantState {
				t.Errorf("called SubmitComment(%s), got stored state %v (reasons %v), want %v", tt.name, mc.GetComment().GetState(), spamCodes(mc.GetHoldReasons()), tt.wantState)
			}
			for _, code := range tt.wantCodes {
				if !slices.Contains(spamCodes(mc.GetHoldReasons()), code) {
					t.Errorf("called SubmitComment(%s), got hold reasons %v, want %s among them", tt.name, spamCodes(mc.GetHoldReasons()), code)
				}
			}
			if d := mc.GetSpamScore() - got.GetSpamScore(); d > 1e-5 || d < -1e-5 { // stored to 6 digits
				t.Errorf("called SubmitComment(%s), got stored spam score %v, want CheckComment's %v", tt.name, mc.GetSpamScore(), got.GetSpamScore())
			}
		})
	}
}

// TestAuthorRecordThroughServer marks one author's comment spam and approves another author's,
// and checks what their next comments get: a hold, and trust past pre-moderation.
func TestAuthorRecordThroughServer(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePre, engine: spam.EngineOptions{Scorer: spam.Options{Rules: spam.RuleOptions{TrustAfter: 1}}}})[0]
	mod := e.as(t, modKeyName)
	const body = "the budget figures were revised last week"
	spammer, regular := spamSubmission(1, "record", body), spamSubmission(2, "record", "good reporting on the school closures")
	first := e.submit(t, spammer)
	if _, err := e.mod.MarkSpam(mod, &commentdv1.MarkSpamRequest{Name: first.GetName(), Reason: "advertising"}); err != nil {
		t.Fatalf("called MarkSpam(%s), got error %v", first.GetName(), err)
	}
	ok := e.submit(t, regular)
	if _, err := e.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: ok.GetName()}); err != nil {
		t.Fatalf("called ApproveComment(%s), got error %v", ok.GetName(), err)
	}

	spammer.Body, regular.Body = "another comment on the budget", "another comment on the schools"
	if got := e.check(t, spammer, ""); !slices.Contains(spamCodes(got.GetReasons()), spam.ReasonAuthorSpam) {
		t.Errorf("called CheckComment for an author with a comment marked spam, got reasons %v, want %s", spamCodes(got.GetReasons()), spam.ReasonAuthorSpam)
	}
	c := e.submit(t, spammer)
	if mc := e.moderated(t, c.GetId()); !slices.Contains(spamCodes(mc.GetHoldReasons()), spam.ReasonAuthorSpam) || mc.GetAuthorHistory().GetSpam() != 1 {
		t.Errorf("called SubmitComment for an author with a comment marked spam, got reasons %v and record %v, want %s and spam 1", spamCodes(mc.GetHoldReasons()), mc.GetAuthorHistory(), spam.ReasonAuthorSpam)
	}
	if c := e.submit(t, regular); c.GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Errorf("called SubmitComment on a pre-moderated thread for an author with one approved comment (trusted after 1), got %v, want STATE_PUBLISHED", c.GetState())
	}
}

// TestTrainingReachesAnotherInstance trains through one server's moderators and scores on
// another's: each decision must change the next score there within a second, and taking a
// decision back must restore the score exactly.
func TestTrainingReachesAnotherInstance(t *testing.T) {
	envs := newSpamDeployment(t, 2, spamEnvOptions{mode: comment.ModePre})
	a, b := envs[0], envs[1]
	a.trainCorpus(t, "")
	spamWaitFor(t, "the corpus to reach the other server", func() bool { return b.mirror.Seq() > 0 })
	mod := a.as(t, modKeyName)

	const text = "the mayor will click the link to the council budget"
	probe := spamSubmission(50, "other", text)
	score := func() float64 { return b.check(t, probe, "").GetSpamScore() }
	base := score()
	c := a.submit(t, spamSubmission(51, "train", text))

	steps := []struct {
		name   string
		decide func() error
		want   func(s float64) bool
		desc   string
	}{
		{"mark spam", func() error {
			_, err := a.mod.MarkSpam(mod, &commentdv1.MarkSpamRequest{Name: c.GetName()})
			return err
		}, func(s float64) bool { return s > base }, "above the score before"},
		{"mark not spam", func() error {
			_, err := a.mod.MarkNotSpam(mod, &commentdv1.MarkNotSpamRequest{Name: c.GetName()})
			return err
		}, func(s float64) bool { return s == base }, "exactly the score before"},
		{"approve", func() error {
			_, err := a.mod.ApproveComment(mod, &commentdv1.ApproveCommentRequest{Name: c.GetName()})
			return err
		}, func(s float64) bool { return s < base }, "below the score before"},
	}
	for _, st := range steps {
		if err := st.decide(); err != nil {
			t.Fatalf("step %s on server A: %v", st.name, err)
		}
		start := time.Now()
		var last float64
		if !eventually(spamSettle, func() bool { last = score(); return st.want(last) }) {
			t.Errorf("after %s on server A, server B scored %.6f for %v, want %s (%.6f)", st.name, last, spamSettle, st.desc, base)
			continue
		}
		t.Logf("%s reached server B in %s (score %.6f, before %.6f)", st.name, time.Since(start).Round(time.Millisecond), last, base)
	}
}

// TestFiltersApplyOnAnotherInstance adds and removes a word-list entry through one server and
// checks on another, which must follow without a restart.
func TestFiltersApplyOnAnotherInstance(t *testing.T) {
	envs := newSpamDeployment(t, 2, spamEnvOptions{mode: comment.ModePost})
	a, b := envs[0], envs[1]
	r := spamSubmission(1, "filters", "call me at the office, Leaky Person here")
	r.AuthorEmail = "leaky.person@example.net"
	decision := func() commentdv1.SpamDecision { return b.check(t, r, "").GetDecision() }
	if d := decision(); d != commentdv1.SpamDecision_SPAM_DECISION_PUBLISH {
		t.Fatalf("before any entry, got decision %v, want publish", d)
	}
	created, err := a.mod.CreateFilter(a.as(t, modKeyName), &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
		List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_EMAIL, Value: "Leaky.Person@example.net",
	}})
	if err != nil {
		t.Fatalf("called CreateFilter on server A, got error %v", err)
	}
	f := created.GetFilter()
	if f.GetModerator() != modKeyName || strings.Contains(strings.ToLower(f.GetValue()), "leaky") || !strings.HasPrefix(f.GetName(), "filters/") {
		t.Errorf("called CreateFilter(email), got %v, want moderator %s, a masked value and a filters/ name", f, modKeyName)
	}
	if !eventually(spamSettle, func() bool { return decision() == commentdv1.SpamDecision_SPAM_DECISION_SPAM }) {
		t.Fatalf("after CreateFilter on server A, server B's decision stayed %v for %v, want spam", decision(), spamSettle)
	}
	// The same entry again, by another moderator on the other server: it exists, so nothing
	// changes, and the audit log gains no entry that names them as having added it.
	again, err := b.mod.CreateFilter(b.as(t, adminKeyName), &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{
		List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_EMAIL, Value: "leaky.person@EXAMPLE.net",
	}})
	if err != nil || again.GetFilter().GetName() != f.GetName() || again.GetFilter().GetModerator() != modKeyName {
		t.Errorf("called CreateFilter(the same email) on server B as %s, got %v, %v; want the existing entry %s of %s", adminKeyName, again, err, f.GetName(), modKeyName)
	}
	list, err := b.mod.ListFilters(b.as(t, modKeyName), &commentdv1.ListFiltersRequest{List: commentdv1.FilterList_FILTER_LIST_SPAM})
	if err != nil || len(list.GetFilters()) != 1 || list.GetFilters()[0].GetName() != f.GetName() {
		t.Errorf("called ListFilters(spam) on server B, got %v, %v; want the one entry %s", list, err, f.GetName())
	}
	if _, err := a.mod.DeleteFilter(a.as(t, modKeyName), &commentdv1.DeleteFilterRequest{Name: f.GetName()}); err != nil {
		t.Fatalf("called DeleteFilter on server A, got error %v", err)
	}
	if !eventually(spamSettle, func() bool { return decision() == commentdv1.SpamDecision_SPAM_DECISION_PUBLISH }) {
		t.Errorf("after DeleteFilter on server A, server B's decision stayed %v for %v, want publish", decision(), spamSettle)
	}
	_, err = a.mod.DeleteFilter(a.as(t, modKeyName), &commentdv1.DeleteFilterRequest{Name: f.GetName()})
	if code, reason := codeReason(err); code != codes.NotFound || reason != grpcserver.ReasonFilterNotFound {
		t.Errorf("called DeleteFilter twice, got %v %q, want NotFound %q", code, reason, grpcserver.ReasonFilterNotFound)
	}
	if text := a.storedText(t); strings.Contains(strings.ToLower(text), "leaky") {
		t.Errorf("Redis holds the filtered address in clear")
	}
	// Both changes are audited (the refused second delete is not), naming the list and kind but
	// never the value.
	audit, err := b.mod.ListAuditEvents(b.as(t, modKeyName), &commentdv1.ListAuditEventsRequest{Target: f.GetName()})
	if err != nil {
		t.Fatalf("called ListAuditEvents(target %s), got error %v", f.GetName(), err)
	}
	var got []string
	for _, ev := range audit.GetEvents() {
		got = append(got, fmt.Sprintf("%v %s %q", ev.GetAction(), ev.GetModerator(), ev.GetReason()))
	}
	want := []string{
		fmt.Sprintf("AUDIT_ACTION_DELETE_FILTER %s %q", modKeyName, ""),
		fmt.Sprintf("AUDIT_ACTION_CREATE_FILTER %s %q", modKeyName, "spam list, email"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("called ListAuditEvents(target %s) (-want +got):\n%s", f.GetName(), diff)
	}
}

// TestCampaignAcrossInstances posts one text from authors on two servers: the third copy is held.
func TestCampaignAcrossInstances(t *testing.T) {
	envs := newSpamDeployment(t, 2, spamEnvOptions{mode: comment.ModePost})
	a, b := envs[0], envs[1]
	const text = "Everyone must read the report on the harbour redevelopment before the vote tonight"
	if c := a.submit(t, spamSubmission(1, "campaign", text)); c.GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Fatalf("first copy on server A: got %v, want published", c.GetState())
	}
	if c := b.submit(t, spamSubmission(2, "campaign", text)); c.GetState() != commentdv1.State_STATE_PUBLISHED {
		t.Fatalf("second copy on server B: got %v, want published (one other author is not a campaign)", c.GetState())
	}
	probe := spamSubmission(3, "campaign", text)
	if !eventually(spamSettle, func() bool {
		return slices.Contains(spamCodes(a.check(t, probe, "").GetReasons()), spam.ReasonCampaign)
	}) {
		t.Fatalf("server A never saw server B's copy within %v", spamSettle)
	}
	c := a.submit(t, probe)
	if mc := a.moderated(t, c.GetId()); mc.GetComment().GetState() != commentdv1.State_STATE_PENDING || !slices.Contains(spamCodes(mc.GetHoldReasons()), spam.ReasonCampaign) {
		t.Errorf("third copy on server A, after one copy on each server: got %v with reasons %v, want pending with %s", mc.GetComment().GetState(), spamCodes(mc.GetHoldReasons()), spam.ReasonCampaign)
	}
}

// TestCheckCommentStoresNothing compares every key and value under the deployment's prefix before
// and after a series of checks.
func TestCheckCommentStoresNothing(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost})[0]
	e.trainCorpus(t, "")
	e.trainCorpus(t, "eval-1")
	const text = "Everyone must read the report on the harbour redevelopment before the vote tonight"
	var parent string
	for i := range 2 {
		parent = e.submit(t, spamSubmission(i, "nothing", text)).GetId()
	}
	time.Sleep(100 * time.Millisecond) // let the campaign writer hand over the submissions' sightings
	before := e.dump(t, nil)
	for _, r := range []*commentdv1.SubmitCommentRequest{
		spamSubmission(10, "nothing", text),
		spamSubmission(11, "nothing", "free iphone, click the link in my profile now"),
		spamSubmission(12, "brand-new-thread", "the budget figures were revised last week"),
		replyTo(spamSubmission(13, "nothing", "the photographs of the flood are striking"), parent),
	} {
		for _, model := range []string{"", "eval-1"} {
			e.check(t, r, model)
			e.check(t, r, model) // a repeat would trip a duplicate or rate-limit count, if one were taken
		}
	}
	time.Sleep(100 * time.Millisecond) // anything queued would be written by now
	if diff := cmp.Diff(before, e.dump(t, nil)); diff != "" {
		t.Errorf("called CheckComment 16 times, got Redis changed (-before +after):\n%s", diff)
	}
}

// TestCheckCommentRefusesAsSubmit: what the store refuses about a submission's thread and parent
// (a closed thread, a parent missing, of another thread, not published or nested as deep as
// replies may be) CheckComment refuses
// with the same code, reason and field (under "comment."), so a site that checks first is never
// told a comment is fine that SubmitComment then refuses; and a reply to a published comment is
// fine for both. Each case's CheckComment comes first, so it sees what SubmitComment saw.
func TestCheckCommentRefusesAsSubmit(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost, maxDepth: 1})[0]
	published := e.submit(t, spamSubmission(1, "open", "the budget figures were revised last week"))
	deepest := e.submit(t, replyTo(spamSubmission(4, "open", "the revision came after the audit"), published.GetId()))
	if published.GetDepth() != 0 || deepest.GetDepth() != 1 {
		t.Fatalf("called SubmitComment(a comment, a reply to it), got depths %d and %d, want 0 and 1", published.GetDepth(), deepest.GetDepth())
	}
	e.setMode(t, "held", commentdv1.ModerationMode_MODERATION_MODE_PRE)
	pending := e.submit(t, spamSubmission(2, "held", "the chart of housing prices needs a source"))
	if _, err := e.mod.UpdateThread(e.as(t, modKeyName), &commentdv1.UpdateThreadRequest{Thread: &commentdv1.Thread{Name: "threads/closed", Closed: true}}); err != nil {
		t.Fatalf("called UpdateThread(closed, closed true), got error %v", err)
	}
	reply := func(thread, parent string) *commentdv1.SubmitCommentRequest {
		return replyTo(spamSubmission(3, thread, "good reporting on the school closures"), parent)
	}
	tests := []struct {
		name       string
		req        *commentdv1.SubmitCommentRequest
		wantCode   codes.Code
		wantReason string
		wantField  string // the submission's field; CheckComment names it under "comment."
	}{
		{"closed thread", spamSubmission(3, "closed", "good reporting on the school closures"), codes.FailedPrecondition, grpcserver.ReasonThreadClosed, ""},
		{"reply in a closed thread", reply("closed", published.GetId()), codes.FailedPrecondition, grpcserver.ReasonThreadClosed, ""},
		{"parent that does not exist", reply("open", e.store.NewID("open")), codes.InvalidArgument, grpcserver.ReasonInvalidArgument, "parent_id"},
		{"parent in another thread", reply("elsewhere", published.GetId()), codes.InvalidArgument, grpcserver.ReasonInvalidArgument, "parent_id"},
		{"parent not published", reply("held", pending.GetId()), codes.InvalidArgument, grpcserver.ReasonInvalidArgument, "parent_id"},
		{"parent as deep as replies may be", reply("open", deepest.GetId()), codes.InvalidArgument, grpcserver.ReasonInvalidArgument, "parent_id"},
		{"reply to a published comment", reply("open", published.GetId()), codes.OK, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, checkErr := e.site.CheckComment(e.as(t, siteKeyName), &commentdv1.CheckCommentRequest{Comment: tt.req})
			_, submitErr := e.site.SubmitComment(e.as(t, siteKeyName), tt.req)
			var wantCheckFields, wantSubmitFields []string
			if tt.wantField != "" {
				wantCheckFields, wantSubmitFields = []string{"comment." + tt.wantField}, []string{tt.wantField}
			}
			for _, got := range []struct {
				call       string
				err        error
				wantFields []string
			}{{"CheckComment", checkErr, wantCheckFields}, {"SubmitComment", submitErr, wantSubmitFields}} {
				code, reason := codeReason(got.err)
				if code != tt.wantCode || reason != tt.wantReason || !slices.Equal(badRequestFields(got.err), got.wantFields) {
					t.Errorf("called %s(%s), got %v %q fields %v (%v), want %v %q fields %v",
						got.call, tt.name, code, reason, badRequestFields(got.err), got.err, tt.wantCode, tt.wantReason, got.wantFields)
				}
			}
		})
	}
}

// TestTrainSpamRequestID: a TrainSpam resent with its request_id trains nothing twice and says so;
// without one, every call trains.
func TestTrainSpamRequestID(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost})[0]
	admin := e.as(t, adminKeyName)
	var xs []*commentdv1.TrainingExample
	for _, b := range corpusSpam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b, Spam: true})
	}
	for _, b := range corpusHam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b})
	}
	probe := spamSubmission(1, "t", "free gift, click the link in my profile")
	train := func(id string) *commentdv1.TrainSpamResponse {
		t.Helper()
		resp, err := e.mod.TrainSpam(admin, &commentdv1.TrainSpamRequest{SpamModel: "eval-rid", Examples: xs, RequestId: id})
		if err != nil {
			t.Fatalf("called TrainSpam(request id %q), got error %v", id, err)
		}
		return resp
	}
	first := train("batch-1")
	score := e.check(t, probe, "eval-rid").GetSpamScore()
	again := train("batch-1")
	if first.GetTrained() != int32(len(xs)) || first.GetAlreadyTrained() != 0 || again.GetTrained() != int32(len(xs)) || again.GetAlreadyTrained() != int32(len(xs)) {
		t.Errorf("called TrainSpam twice with one request id, got %v then %v; want %d trained, then all of them already trained", first, again, len(xs))
	}
	if got := e.check(t, probe, "eval-rid").GetSpamScore(); got != score {
		t.Errorf("after resending a training call, got score %v, want %v (unchanged)", got, score)
	}
	if resp := train(""); resp.GetAlreadyTrained() != 0 {
		t.Errorf("called TrainSpam without a request id, got %v, want nothing already trained", resp)
	}
	if got := e.check(t, probe, "eval-rid").GetSpamScore(); got == score {
		t.Errorf("after training again without a request id, got the same score %v, want it moved", got)
	}
}

// TestSpamRPCErrors checks the refusals of the spam RPCs.
func TestSpamRPCErrors(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost})[0]
	site, mod, admin := e.as(t, siteKeyName), e.as(t, modKeyName), e.as(t, adminKeyName)
	ban, err := ratelimit.NewBans(e.store, ratelimit.BansOptions{Keys: e.ring}).Ban(t.Context(), ratelimit.BanRequest{
		Target: ratelimit.AuthorTarget(e.ring.EmailKey(spamEmail(t, "troll@example.org"))), Duration: time.Hour, Reason: "trolling", Moderator: modKeyName,
	})
	if err != nil {
		t.Fatalf("ban troll@example.org: %v", err)
	}
	_ = ban
	banned := spamSubmission(1, "errors", "hello")
	banned.AuthorEmail = "troll@example.org"
	many := make([]*commentdv1.TrainingExample, spam.MaxTrainExamples+1)
	for i := range many {
		many[i] = &commentdv1.TrainingExample{Body: "x"}
	}
	tests := []struct {
		name       string
		call       func() error
		wantCode   codes.Code
		wantReason string
		wantFields []string
	}{
		{"check: invalid submission", func() error {
			_, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{Comment: &commentdv1.SubmitCommentRequest{ThreadId: "t", AuthorName: "A", AuthorEmail: "a@example.org"}})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"comment.body"}},
		{"check: no comment at all", func() error {
			_, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"comment.author_email", "comment.author_name", "comment.body", "comment.thread_id"}},
		{"check: bad model name", func() error {
			_, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{Comment: spamSubmission(2, "e", "hi"), SpamModel: "no spaces"})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"spam_model"}},
		{"check: bad model name and invalid submission", func() error {
			_, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{Comment: &commentdv1.SubmitCommentRequest{ThreadId: "t", AuthorName: "A", AuthorEmail: "a@example.org"}, SpamModel: "no spaces"})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"comment.body", "spam_model"}},
		{"check: unknown model", func() error {
			_, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{Comment: spamSubmission(2, "e", "hi"), SpamModel: "never-trained"})
			return err
		}, codes.NotFound, grpcserver.ReasonSpamModelNotFound, nil},
		{"check: banned", func() error {
			_, err := e.site.CheckComment(site, &commentdv1.CheckCommentRequest{Comment: banned})
			return err
		}, codes.PermissionDenied, grpcserver.ReasonBanned, nil},
		{"train: too many", func() error {
			_, err := e.mod.TrainSpam(admin, &commentdv1.TrainSpamRequest{Examples: many})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"examples"}},
		{"train: bad request id", func() error {
			_, err := e.mod.TrainSpam(admin, &commentdv1.TrainSpamRequest{Examples: many[:1], RequestId: "not valid"})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"request_id"}},
		{"train: moderator", func() error {
			_, err := e.mod.TrainSpam(mod, &commentdv1.TrainSpamRequest{Examples: many[:1]})
			return err
		}, codes.PermissionDenied, grpcserver.ReasonRoleNotAllowed, nil},
		{"delete: the site model", func() error {
			_, err := e.mod.DeleteSpamModel(admin, &commentdv1.DeleteSpamModelRequest{})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"spam_model"}},
		{"delete: unknown model", func() error {
			_, err := e.mod.DeleteSpamModel(admin, &commentdv1.DeleteSpamModelRequest{SpamModel: "never-trained"})
			return err
		}, codes.NotFound, grpcserver.ReasonSpamModelNotFound, nil},
		{"mark not spam: not spam", func() error {
			c := e.submit(t, spamSubmission(3, "errors", "the budget figures were revised last week"))
			_, err := e.mod.MarkNotSpam(mod, &commentdv1.MarkNotSpamRequest{Name: c.GetName()})
			return err
		}, codes.FailedPrecondition, grpcserver.ReasonInvalidStateTransition, nil},
		{"filter: bad entry", func() error {
			_, err := e.mod.CreateFilter(mod, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{Kind: commentdv1.FilterKind_FILTER_KIND_REGEX, Value: "(unclosed"}})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"filter.list", "filter.value"}},
		{"filter: bad name", func() error {
			_, err := e.mod.DeleteFilter(mod, &commentdv1.DeleteFilterRequest{Name: "filters/../x"})
			return err
		}, codes.InvalidArgument, grpcserver.ReasonInvalidArgument, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if code, reason := codeReason(err); code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("called %s, got %v %q, want %v %q", tt.name, code, reason, tt.wantCode, tt.wantReason)
			}
			if tt.wantFields != nil {
				if got := badRequestFields(err); !slices.Equal(got, tt.wantFields) {
					t.Errorf("called %s, got bad fields %v, want %v", tt.name, got, tt.wantFields)
				}
			}
		})
	}
}

// TestSpamDisabled calls the spam RPCs on a server built without the spam services.
func TestSpamDisabled(t *testing.T) {
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr})
	calls := map[string]func() error{
		"CheckComment": func() error {
			_, err := e.site.CheckComment(e.as(t, siteKeyName), &commentdv1.CheckCommentRequest{Comment: validSubmission("t", "hi")})
			return err
		},
		"TrainSpam": func() error {
			_, err := e.mod.TrainSpam(e.as(t, adminKeyName), &commentdv1.TrainSpamRequest{})
			return err
		},
		"ListFilters": func() error {
			_, err := e.mod.ListFilters(e.as(t, modKeyName), &commentdv1.ListFiltersRequest{})
			return err
		},
	}
	for name, call := range calls {
		if code, reason := codeReason(call()); code != codes.FailedPrecondition || reason != grpcserver.ReasonSpamDisabled {
			t.Errorf("called %s without spam services, got %v %q, want FailedPrecondition %q", name, code, reason, grpcserver.ReasonSpamDisabled)
		}
	}
}

// dump returns every key under e's prefix with its type and value, in an order that does not
// depend on Redis: two dumps are equal exactly when nothing was stored in between. Keys for which
// skip (when set) is true are left out.
func (e *env) dump(t *testing.T, skip func(key string) bool) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	for _, k := range e.storedKeys(t) {
		if skip != nil && skip(k) {
			continue
		}
		typ, err := e.redis.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var v any
		switch typ {
		case "string":
			v, err = e.redis.Get(ctx, k).Result()
		case "hash":
			v, err = e.redis.HGetAll(ctx, k).Result()
		case "zset":
			v, err = e.redis.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "set":
			var m []string
			m, err = e.redis.SMembers(ctx, k).Result()
			slices.Sort(m)
			v = m
		case "list":
			v, err = e.redis.LRange(ctx, k, 0, -1).Result()
		case "stream":
			v, err = e.redis.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s has type %s, which this test cannot read", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s %s: %v", typ, k, err)
		}
		// fmt prints maps sorted by key.
		out[k] = typ + " " + fmt.Sprint(v)
	}
	return out
}

func spamEmail(t *testing.T, s string) privacy.Email {
	t.Helper()
	e, ok := privacy.ParseEmail(s)
	if !ok {
		t.Fatalf("ParseEmail(%q) failed", s)
	}
	return e
}

// spamSettle bounds the waits for a change made on one server (or written to Redis) to reach
// where a test looks for it. The mirror, the campaign writer and the filter watcher pass changes
// on within 100 ms; on a loaded machine it can take many times that, and polling returns as soon
// as the change is there, so a long bound costs time only when the change never comes.
const spamSettle = 15 * time.Second

// spamWaitFor polls cond for up to spamSettle and fails the test if it never holds.
func spamWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(spamSettle, cond) {
		t.Fatalf("waited %v for %s", spamSettle, what)
	}
}

// TestSpamTrainingIsAudited: training changes every later verdict, so the audit log says who
// trained which model with how many examples, and who deleted a scratch model; never the text.
func TestSpamTrainingIsAudited(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost})[0]
	admin := e.as(t, adminKeyName)
	xs := []*commentdv1.TrainingExample{{Body: corpusSpam[0], Spam: true}, {Body: corpusSpam[1], Spam: true}, {Body: corpusHam[0]}}
	for _, r := range []*commentdv1.TrainSpamRequest{
		{Examples: xs, RequestId: "site-1"},
		{Examples: xs, RequestId: "site-1"}, // a resend: recorded, saying it learnt nothing new
		{SpamModel: "eval-audit", Examples: xs},
	} {
		if _, err := e.mod.TrainSpam(admin, r); err != nil {
			t.Fatalf("called TrainSpam(%v), got error %v", r, err)
		}
	}
	if _, err := e.mod.DeleteSpamModel(admin, &commentdv1.DeleteSpamModelRequest{SpamModel: "eval-audit"}); err != nil {
		t.Fatalf("called DeleteSpamModel, got error %v", err)
	}
	events := auditPages(t, admin, e.env, &commentdv1.ListAuditEventsRequest{}, 50)
	type entry struct{ moderator, action, target, reason string }
	var got []entry
	for _, ev := range events {
		got = append(got, entry{ev.GetModerator(), ev.GetAction().String(), ev.GetTarget(), ev.GetReason()})
	}
	want := []entry{ // newest first
		{adminKeyName, "AUDIT_ACTION_DELETE_SPAM_MODEL", "spamModels/eval-audit", ""},
		{adminKeyName, "AUDIT_ACTION_TRAIN_SPAM", "spamModels/eval-audit", "3 examples (2 spam, 1 ham)"},
		{adminKeyName, "AUDIT_ACTION_TRAIN_SPAM", "spamModel", "3 examples (2 spam, 1 ham), 3 of them trained by an earlier call with this request id"},
		{adminKeyName, "AUDIT_ACTION_TRAIN_SPAM", "spamModel", "3 examples (2 spam, 1 ham)"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("audit log after training and deleting models (-want +got):\n%s", diff)
	}
}

// TestWordListsOfOtherScriptsThroughServer adds entries a moderator of a Chinese, Japanese or
// Thai site, or one pasting fullwidth text, would add, through the API onto a real Redis, and
// checks what comments they catch: a word without spaces is a word, a fullwidth spelling is the
// entry it spells (a duplicate, not a second entry), and each matches in the comment's text.
func TestWordListsOfOtherScriptsThroughServer(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost})[0]
	mod := e.as(t, modKeyName)
	create := func(kind commentdv1.FilterKind, value string) *commentdv1.Filter {
		t.Helper()
		resp, err := e.mod.CreateFilter(mod, &commentdv1.CreateFilterRequest{Filter: &commentdv1.Filter{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: kind, Value: value}})
		if err != nil {
			t.Fatalf("called CreateFilter(spam, %v, %q), got error %v", kind, value, err)
		}
		return resp.GetFilter()
	}
	create(commentdv1.FilterKind_FILTER_KIND_WORD, "赌场赢钱")         // Chinese: win money at the casino
	create(commentdv1.FilterKind_FILTER_KIND_PHRASE, "เล่นคาสิโน") // Thai: play at the casino
	fullwidth := create(commentdv1.FilterKind_FILTER_KIND_WORD, "Ｃａｓｉｎｏ")
	if plain := create(commentdv1.FilterKind_FILTER_KIND_WORD, "casino"); plain.GetName() != fullwidth.GetName() {
		t.Errorf("called CreateFilter(word, Ｃａｓｉｎｏ) then (word, casino), got %s and %s, want the same entry", fullwidth.GetName(), plain.GetName())
	}
	list, err := e.mod.ListFilters(mod, &commentdv1.ListFiltersRequest{})
	if err != nil || len(list.GetFilters()) != 3 {
		t.Errorf("called ListFilters, got %v, %v; want 3 entries", list.GetFilters(), err)
	}
	spamWaitFor(t, "the word lists to load", func() bool {
		return e.check(t, spamSubmission(900, "scripts", "the new casino opened"), "").GetDecision() == commentdv1.SpamDecision_SPAM_DECISION_SPAM
	})
	tests := []struct {
		body string
		want commentdv1.SpamDecision
	}{
		{"在线赌场赢钱，快来", commentdv1.SpamDecision_SPAM_DECISION_SPAM},
		{"今天的新闻很有意思", commentdv1.SpamDecision_SPAM_DECISION_PUBLISH},
		{"มาเล่นคาสิโนออนไลน์กันเถอะ", commentdv1.SpamDecision_SPAM_DECISION_SPAM},
		{"ข่าววันนี้น่าสนใจมาก", commentdv1.SpamDecision_SPAM_DECISION_PUBLISH},
		{"ｔｈｅ ｎｅｗ ＣＡＳＩＮＯ", commentdv1.SpamDecision_SPAM_DECISION_SPAM},
		{"the budget figures were revised last week", commentdv1.SpamDecision_SPAM_DECISION_PUBLISH},
	}
	for i, tt := range tests {
		if got := e.check(t, spamSubmission(i, "scripts", tt.body), "").GetDecision(); got != tt.want {
			t.Errorf("called CheckComment(%q), got decision %v, want %v", tt.body, got, tt.want)
		}
	}
}

// TestTrainSpamCutShortIsAudited: a TrainSpam that fails part way (here its deadline ends while
// Redis holds its writes) leaves an audit entry saying its examples may be trained, written after
// the call's own context has ended: the steps that finished stay in the model, and without the
// entry an import cut short would change it unrecorded.
func TestTrainSpamCutShortIsAudited(t *testing.T) {
	e := newSpamDeployment(t, 1, spamEnvOptions{mode: comment.ModePost})[0]
	var xs []*commentdv1.TrainingExample
	for _, b := range corpusSpam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b, Spam: true})
	}
	for _, b := range corpusHam {
		xs = append(xs, &commentdv1.TrainingExample{Body: b})
	}
	// Redis holds every write for 700 ms: the call's deadline ends in its first training step,
	// and the audit write goes through once the pause is over.
	if err := e.redis.Do(t.Context(), "CLIENT", "PAUSE", "700", "WRITE").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	ctx, cancel := context.WithTimeout(e.as(t, adminKeyName), 150*time.Millisecond)
	defer cancel()
	_, err := e.mod.TrainSpam(ctx, &commentdv1.TrainSpamRequest{SpamModel: "cut", Examples: xs, RequestId: "import-1"})
	if code, _ := codeReason(err); code != codes.DeadlineExceeded {
		t.Fatalf("called TrainSpam while Redis held writes, got %v; want DEADLINE_EXCEEDED", err)
	}
	target := moderation.SpamModelTarget("cut")
	var events []*commentdv1.AuditEvent
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(50 * time.Millisecond) {
		resp, err := e.mod.ListAuditEvents(e.as(t, modKeyName), &commentdv1.ListAuditEventsRequest{Target: target})
		if err != nil {
			t.Fatalf("called ListAuditEvents(target %s), got error %v", target, err)
		}
		if events = resp.GetEvents(); len(events) > 0 {
			break
		}
	}
	want := fmt.Sprintf("%d examples (%d spam, %d ham) sent; the call failed part way and some of them may be trained: resend it with its request id to train the rest", len(xs), len(corpusSpam), len(corpusHam))
	if len(events) != 1 || events[0].GetReason() != want || events[0].GetModerator() != adminKeyName {
		t.Fatalf("after a TrainSpam cut short, audit events for %s = %v; want one by %s with reason %q", target, events, adminKeyName, want)
	}
}
