package grpcserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/commentd/commentd/internal/apikey"
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

// The randomised run's size and seed. COMMENTD_INVARIANTS_SEED, COMMENTD_INVARIANTS_WORKERS and
// COMMENTD_INVARIANTS_STEPS override them to look further than CI does (10 workers of 500 steps
// take about 10 s without -race). A failing run prints the seed that replays its operations; the
// interleaving of the workers is the scheduler's, so a replay is likely, not certain, to fail the
// same way.
const (
	invariantsSeed    = 20261201
	invariantsSteps   = 120 // per worker
	invariantsWorkers = 4
)

// invariantsModerator is the moderator key worker w decides with, so that the audit log can be
// checked against who did what.
func invariantsModerator(w int) string { return fmt.Sprintf("mod-%02d", w) }

// newInvariantServer starts one server of a deployment (redisAddr, prefix and ring shared with
// the others) wired as commentd wires it: the abuse check (bans, no rate limits: the run submits
// faster than any reader) and the spam checks on every submission, plus flagScreener so that some
// submissions are held or judged spam whatever the model says; the whole moderator workflow with
// the spam learner, the authors' records and a report threshold of 2; bans and the spam RPCs.
func newInvariantServer(t *testing.T, redisAddr, prefix string, ring *privacy.Keyring, workers int) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{prefix: prefix, ring: ring, logs: &syncBuffer{}, reg: prometheus.NewRegistry(), tokens: map[string]string{}}
	client, err := redisstore.NewClient(redisAddr)
	if err != nil {
		t.Fatalf("redisstore.NewClient(%q): %v", redisAddr, err)
	}
	t.Cleanup(func() { client.Close() })
	e.redis = client
	if e.store, err = redisstore.New(ctx, client, redisstore.Options{Prefix: prefix}); err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	if err := e.store.LoadAbuseScripts(ctx); err != nil {
		t.Fatalf("LoadAbuseScripts: %v", err)
	}
	keys := testKeys(t, e)
	for w := range workers {
		name := invariantsModerator(w)
		e.tokens[name] = newToken()
		if err := keys.Add(name, apikey.RoleModerator, e.tokens[name]); err != nil {
			t.Fatalf("apikey.Set.Add(%q): %v", name, err)
		}
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	engine, _ := startSpamChecks(t, e, log, spam.EngineOptions{})
	guard := ratelimit.NewGuard(e.store, ratelimit.Options{Logger: log})
	opts := withWorkflow(moderation.Options{
		DefaultMode: comment.ModePost, Learner: spam.NewLearner(e.store, e.ring), Histories: e.store, ReportThreshold: 2,
	}, e.store)
	opts.LearnQueue, opts.Purger = e.store, e.store
	e.start(t, grpcserver.Options{
		Logger: log,
		Keys:   keys,
		Comments: comment.NewService(e.store, e.ring, comment.Options{DefaultMode: comment.ModePost, Screeners: []comment.Screener{
			ratelimit.NewScreener(guard, e.ring, ratelimit.ScreenerOptions{}),
			spam.NewScreener(engine, spam.ScreenerOptions{Logger: log}),
			flagScreener{},
		}}),
		Moderation: moderation.NewService(e.store, e.ring, opts),
		Bans:       ratelimit.NewBans(e.store, ratelimit.BansOptions{Keys: e.ring}),
		Registerer: e.reg,
		Spam: grpcserver.SpamOptions{
			Service: spam.NewService(engine, e.store, spam.ServiceOptions{Bans: grpcserver.GuardBans(guard, e.ring, false), Threads: e.store, Histories: e.store}),
			Filters: spam.NewFilters(e.store, e.ring, spam.FiltersOptions{}),
		},
	})
	return e
}

// invariantsRun is what the workers did, as the API answered it, for the checks at the end.
type invariantsRun struct {
	mu sync.Mutex
	// submitted maps each comment name the API returned to what its first SubmitComment answered.
	submitted map[string]submission
	byThread  map[string][]string // thread → comment names, in the order the answers came
	// decided holds, per comment, moderator and state, the decisions the moderator's calls
	// returned as theirs (by decide time): each is one state change the audit log must hold once.
	decided map[decisionKey]map[string]bool
	// reported holds the comments readers reported.
	reported map[string]bool
	// erased holds, per erasure, the comments of the author submitted before it began.
	erased [][]string
	// erasedAuthors holds the emails of authors with an erasure, whose records the checks skip.
	erasedAuthors map[string]bool
	bans          []string // names of bans made
	// sent holds the requests with a request_id that stored a comment, and its name.
	sent []sentRequest
	ops  map[string]int
}

type submission struct {
	thread, email string
	state         commentdv1.State // what the site was told
}

type submitResult struct {
	c   *commentdv1.Comment
	err error
}

type sentRequest struct {
	req  *commentdv1.SubmitCommentRequest
	name string
}

type decisionKey struct {
	name, moderator string
	to              commentdv1.State
}

func (r *invariantsRun) count(op string) {
	r.mu.Lock()
	r.ops[op]++
	r.mu.Unlock()
}

// pick returns a random known comment name, or "" when there is none yet.
func (r *invariantsRun) pick(rng *rand.Rand) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	threads := slices.Sorted(func(yield func(string) bool) {
		for th := range r.byThread {
			if !yield(th) {
				return
			}
		}
	})
	if len(threads) == 0 {
		return ""
	}
	names := r.byThread[threads[rng.IntN(len(threads))]]
	if rng.IntN(2) == 0 {
		// The newest few: workers on both servers then act on the same comments at once.
		names = names[max(0, len(names)-3):]
	}
	return names[rng.IntN(len(names))]
}

// decision records what a moderator's call returned.
func (r *invariantsRun) decision(moderator string, c *commentdv1.ModeratedComment) {
	d := c.GetDecision()
	if d == nil || d.GetModerator() != moderator {
		return
	}
	k := decisionKey{name: c.GetComment().GetName(), moderator: moderator, to: d.GetToState()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.decided[k] == nil {
		r.decided[k] = map[string]bool{}
	}
	r.decided[k][d.GetDecideTime().AsTime().Format(time.RFC3339Nano)] = true
}

func envInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// TestTwoServersKeepInvariants has several workers drive two servers of one deployment at once,
// with random submissions (top-level and replies, held, spam-like, resent with their request_id
// at once on the other server or later, in pre-moderated and closed threads), decisions (plain,
// and with the etag just read), claims, thread updates, bans, erasures and readers' reports. Then
// it checks what every view of the data must agree on: each thread's count and listing of
// published comments; each queue (every comment of its state, once) and its depth in the
// statistics; one comment stored per submission; the daily and per-moderator statistics; the
// audit log (per comment, a chain from the state it was stored in to its state now, each change
// once and by the moderator whose call returned it); the spam model's counts, per token, as the
// comments' last decisions teach them; the authors' records; and no name or address left on an
// erased author's comments in any view.
func TestTwoServersKeepInvariants(t *testing.T) {
	seed := envInt(t, "COMMENTD_INVARIANTS_SEED", invariantsSeed)
	steps := int(envInt(t, "COMMENTD_INVARIANTS_STEPS", invariantsSteps))
	workers := int(envInt(t, "COMMENTD_INVARIANTS_WORKERS", invariantsWorkers))
	t.Logf("seed %d, %d workers of %d steps (COMMENTD_INVARIANTS_SEED, _WORKERS, _STEPS)", seed, workers, steps)

	redisAddr := redistest.Start(t).Addr
	prefix := redistest.Prefix(t)
	ring, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatalf("privacy.NewKeyring: %v", err)
	}
	servers := []*env{newInvariantServer(t, redisAddr, prefix, ring, workers), newInvariantServer(t, redisAddr, prefix, ring, workers)}

	run := &invariantsRun{
		submitted: map[string]submission{}, byThread: map[string][]string{}, decided: map[decisionKey]map[string]bool{},
		reported: map[string]bool{}, erasedAuthors: map[string]bool{}, ops: map[string]int{},
	}
	threads := []string{"inv-a", "inv-b", "inv-c", "inv-d"}
	authors := []string{"ann@example.org", "bob@example.org", "cat@example.org", "dan@example.org", "eve@example.org"}

	var wg sync.WaitGroup
	for w := range workers {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			for step := range steps {
				if t.Failed() {
					return
				}
				invariantsStep(t, run, servers[rng.IntN(len(servers))], servers, rng, w, step, threads, authors)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.Fatalf("a step failed (seed %d)", seed)
	}
	t.Logf("operations: %v", run.ops)
	checkInvariants(t, run, servers, threads, seed)
}

// accept reports whether err is nil or one of the refusals the run provokes on purpose.
func accept(err error, allowed ...string) bool {
	if err == nil {
		return true
	}
	code, reason := codeReason(err)
	return slices.Contains(allowed, fmt.Sprintf("%v/%s", code, reason))
}

var (
	transitionRefused = fmt.Sprintf("%v/%s", codes.FailedPrecondition, grpcserver.ReasonInvalidStateTransition)
	threadClosed      = fmt.Sprintf("%v/%s", codes.FailedPrecondition, grpcserver.ReasonThreadClosed)
	banned            = fmt.Sprintf("%v/%s", codes.PermissionDenied, grpcserver.ReasonBanned)
	// A reply to a comment that is not published (any more) is refused.
	parentNotPublished = fmt.Sprintf("%v/%s", codes.InvalidArgument, grpcserver.ReasonInvalidArgument)
)

// invariantsStep makes one random call on e as worker w.
func invariantsStep(t *testing.T, run *invariantsRun, e *env, servers []*env, rng *rand.Rand, w, step int, threads, authors []string) {
	mod := withBearer(t.Context(), e.tokens[invariantsModerator(w)])
	site := withBearer(t.Context(), e.tokens[siteKeyName])
	admin := withBearer(t.Context(), e.tokens[adminKeyName])
	moderator := invariantsModerator(w)
	op := rng.IntN(100)
	switch {
	case op < 35: // submit
		thread := threads[rng.IntN(len(threads))]
		email := authors[rng.IntN(len(authors))]
		body := fmt.Sprintf("worker %d step %d says %x", w, step, rng.Uint64())
		switch rng.IntN(6) {
		case 0:
			body = "HOLD " + body
		case 1:
			body = "SPAM " + body
		}
		r := validSubmission(thread, body)
		r.AuthorEmail = email
		r.AuthorName = "Reader " + strings.ToUpper(email[:3])
		if rng.IntN(4) == 0 {
			if parent := run.pick(rng); parent != "" {
				run.mu.Lock()
				if s := run.submitted[parent]; s.thread != "" {
					r.ThreadId = s.thread
					r.ParentId = strings.TrimPrefix(parent, "comments/")
				}
				run.mu.Unlock()
			}
		}
		if rng.IntN(2) == 0 {
			r.RequestId = fmt.Sprintf("req-%d-%d-%d", w, step, rng.Uint32())
		}
		resend := r.RequestId != "" && rng.IntN(2) == 0
		resendOn := servers[rng.IntN(len(servers))]
		run.count("submit")
		var twin chan submitResult
		if r.RequestId != "" && rng.IntN(4) == 0 {
			// The same request on the other server at the same time, as a site retrying early.
			run.count("submit twice at once")
			other := servers[0]
			if other == e {
				other = servers[1]
			}
			twin = make(chan submitResult, 1)
			go func() {
				resp, err := other.site.SubmitComment(withBearer(t.Context(), other.tokens[siteKeyName]), r)
				twin <- submitResult{resp.GetComment(), err}
			}()
		}
		resp, err := e.site.SubmitComment(site, r)
		if twin != nil {
			// One of the two may be told the other is in progress. Two that both store must
			// store one comment. One may be refused and the other stored: when the first ended
			// before the second was checked, and the thread or the ban changed in between, the
			// second is a new submission (a refused one leaves no record).
			o := <-twin
			inProgress := fmt.Sprintf("%v/%s", codes.Aborted, grpcserver.ReasonRequestInProgress)
			switch {
			case !accept(o.err, inProgress, threadClosed, banned, parentNotPublished):
				code, reason := codeReason(o.err)
				t.Errorf("worker %d step %d: SubmitComment(%v) on the other server at the same time: %v (%v %s)", w, step, r, o.err, code, reason)
				return
			case err == nil && o.err == nil && resp.GetComment().GetName() != o.c.GetName():
				t.Errorf("worker %d step %d: SubmitComment(%v) on both servers at once, got %s and %s; want one comment",
					w, step, r, resp.GetComment().GetName(), o.c.GetName())
				return
			case err != nil && o.err == nil:
				resp, err = &commentdv1.SubmitCommentResponse{Comment: o.c}, nil
			}
			if accept(err, inProgress) && err != nil {
				run.count("submit refused " + refusal(err))
				return
			}
		}
		if !accept(err, threadClosed, banned, parentNotPublished) {
			code, reason := codeReason(err)
			t.Errorf("worker %d step %d: SubmitComment(%v): %v (%v %s)", w, step, r, err, code, reason)
			return
		}
		if err != nil {
			run.count("submit refused " + refusal(err))
			return
		}
		c := resp.GetComment()
		run.mu.Lock()
		run.submitted[c.GetName()] = submission{thread: c.GetThreadId(), email: email, state: c.GetState()}
		run.byThread[c.GetThreadId()] = append(run.byThread[c.GetThreadId()], c.GetName())
		if r.RequestId != "" {
			run.sent = append(run.sent, sentRequest{req: r, name: c.GetName()})
		}
		run.mu.Unlock()
		if resend {
			run.count("resend")
			resendSubmission(t, resendOn, r, c.GetName(), fmt.Sprintf("worker %d step %d", w, step))
		}
	case op < 38: // resend an earlier request, whatever happened since
		run.mu.Lock()
		var s sentRequest
		if len(run.sent) > 0 {
			s = run.sent[rng.IntN(len(run.sent))]
		}
		run.mu.Unlock()
		if s.req == nil {
			return
		}
		run.count("resend later")
		resendSubmission(t, e, s.req, s.name, fmt.Sprintf("worker %d step %d", w, step))
	case op < 70: // decide
		name := run.pick(rng)
		if name == "" {
			return
		}
		a := seqAction(rng.IntN(5))
		if rng.IntN(2) == 0 {
			run.count(fmt.Sprintf("decide %d", a))
			c, err := a.call(mod, e, name)
			if !accept(err, transitionRefused) {
				code, reason := codeReason(err)
				t.Errorf("worker %d step %d: action %d on %s as %s: %v (%v %s)", w, step, a, name, moderator, err, code, reason)
				return
			}
			if err == nil {
				run.decision(moderator, c)
			}
			return
		}
		// As review and bulk decide: on what was read, with its etag, maybe on the other server.
		run.count(fmt.Sprintf("decide %d with etag", a))
		seen, err := ctxGet(mod, e, name)
		if err != nil {
			t.Errorf("worker %d step %d: GetComment(%s): %v", w, step, name, err)
			return
		}
		other := servers[rng.IntN(len(servers))]
		c, err := a.callWithETag(withBearer(t.Context(), other.tokens[moderator]), other, name, seen.GetEtag())
		if !accept(err, transitionRefused, fmt.Sprintf("%v/%s", codes.Aborted, grpcserver.ReasonETagMismatch)) {
			code, reason := codeReason(err)
			t.Errorf("worker %d step %d: action %d on %s as %s with etag %s: %v (%v %s)", w, step, a, name, moderator, seen.GetEtag(), err, code, reason)
			return
		}
		if err != nil {
			return
		}
		// A decision it made changed the comment it read, from the state it read.
		if d := c.GetDecision(); d.GetModerator() == moderator && !proto.Equal(d, seen.GetDecision()) && d.GetFromState() != seen.GetComment().GetState() {
			t.Errorf("worker %d step %d: action %d on %s with the etag of a comment in %v, got decision %v", w, step, a, name, seen.GetComment().GetState(), d)
		}
		run.decision(moderator, c)
	case op < 76: // claim, then give back some
		run.count("claim")
		st := commentdv1.State_STATE_PENDING
		if rng.IntN(3) == 0 {
			st = commentdv1.State_STATE_SPAM
		}
		resp, err := e.mod.ClaimComments(mod, &commentdv1.ClaimCommentsRequest{Count: 3, State: st})
		if err != nil {
			t.Errorf("worker %d step %d: ClaimComments(%v) as %s: %v", w, step, st, moderator, err)
			return
		}
		var back []string
		for _, c := range resp.GetComments() {
			if c.GetComment().GetState() != st {
				t.Errorf("worker %d step %d: ClaimComments(%v) as %s, got %s in %v", w, step, st, moderator, c.GetComment().GetName(), c.GetComment().GetState())
			}
			if rng.IntN(2) == 0 {
				back = append(back, c.GetComment().GetName())
			}
		}
		if _, err := e.mod.ReleaseComments(mod, &commentdv1.ReleaseCommentsRequest{Names: back}); err != nil {
			t.Errorf("worker %d step %d: ReleaseComments(%v) as %s: %v", w, step, back, moderator, err)
		}
	case op < 82: // thread settings
		thread := threads[rng.IntN(len(threads))]
		mode := []commentdv1.ModerationMode{commentdv1.ModerationMode_MODERATION_MODE_UNSPECIFIED, commentdv1.ModerationMode_MODERATION_MODE_PRE, commentdv1.ModerationMode_MODERATION_MODE_POST}[rng.IntN(3)]
		closed := rng.IntN(6) == 0
		run.count("update thread")
		_, err := e.mod.UpdateThread(mod, &commentdv1.UpdateThreadRequest{
			Thread:     &commentdv1.Thread{Name: "threads/" + thread, ModerationMode: mode, Closed: closed},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}},
		})
		if err != nil {
			t.Errorf("worker %d step %d: UpdateThread(%s, %v, closed %v): %v", w, step, thread, mode, closed, err)
		}
	case op < 84: // ban
		email := authors[rng.IntN(len(authors))]
		run.count("ban")
		resp, err := e.mod.CreateBan(mod, &commentdv1.CreateBanRequest{
			Target: &commentdv1.CreateBanRequest_AuthorEmail{AuthorEmail: email}, Duration: durationpb.New(time.Hour), Reason: "random run",
		})
		if err != nil {
			t.Errorf("worker %d step %d: CreateBan(%s): %v", w, step, email, err)
			return
		}
		run.mu.Lock()
		run.bans = append(run.bans, resp.GetBan().GetName())
		run.mu.Unlock()
	case op < 90: // unban
		run.mu.Lock()
		var name string
		if len(run.bans) > 0 {
			name = run.bans[rng.IntN(len(run.bans))]
		}
		run.mu.Unlock()
		if name == "" {
			return
		}
		run.count("unban")
		_, err := e.mod.DeleteBan(mod, &commentdv1.DeleteBanRequest{Name: name})
		if !accept(err, fmt.Sprintf("%v/%s", codes.NotFound, grpcserver.ReasonBanNotFound)) {
			t.Errorf("worker %d step %d: DeleteBan(%s): %v", w, step, name, err)
		}
	case op < 92: // erase
		email := authors[rng.IntN(len(authors))]
		run.mu.Lock()
		var before []string
		for name, s := range run.submitted {
			if s.email == email {
				before = append(before, name)
			}
		}
		run.erasedAuthors[email] = true
		run.mu.Unlock()
		run.count("erase")
		if _, err := e.mod.EraseAuthorData(admin, &commentdv1.EraseAuthorDataRequest{AuthorEmail: email, Reason: "random run"}); err != nil {
			t.Errorf("worker %d step %d: EraseAuthorData: %v", w, step, err)
			return
		}
		run.mu.Lock()
		run.erased = append(run.erased, before)
		run.mu.Unlock()
	default: // report
		name := run.pick(rng)
		if name == "" {
			return
		}
		run.count("report")
		run.mu.Lock()
		run.reported[name] = true
		run.mu.Unlock()
		_, err := e.site.ReportComment(site, &commentdv1.ReportCommentRequest{Name: name, Reason: "rude", ReporterId: fmt.Sprintf("reader-%d", rng.IntN(3))})
		if err != nil {
			t.Errorf("worker %d step %d: ReportComment(%s): %v", w, step, name, err)
		}
	}
}

// callWithETag makes the moderator call a on comment name with etag, with the reason "step <a>".
func (a seqAction) callWithETag(ctx context.Context, e *env, name, etag string) (*commentdv1.ModeratedComment, error) {
	reason := fmt.Sprintf("step %d", int(a))
	switch a {
	case seqApprove:
		r, err := e.mod.ApproveComment(ctx, &commentdv1.ApproveCommentRequest{Name: name, Reason: reason, Etag: etag})
		return r.GetComment(), err
	case seqReject:
		r, err := e.mod.RejectComment(ctx, &commentdv1.RejectCommentRequest{Name: name, Reason: reason, Etag: etag})
		return r.GetComment(), err
	case seqSpam:
		r, err := e.mod.MarkSpam(ctx, &commentdv1.MarkSpamRequest{Name: name, Reason: reason, Etag: etag})
		return r.GetComment(), err
	case seqNotSpam:
		r, err := e.mod.MarkNotSpam(ctx, &commentdv1.MarkNotSpamRequest{Name: name, Reason: reason, Etag: etag})
		return r.GetComment(), err
	}
	r, err := e.mod.ReopenComment(ctx, &commentdv1.ReopenCommentRequest{Name: name, Reason: reason, Etag: etag})
	return r.GetComment(), err
}

// resendSubmission sends r, which stored the comment name, again on e, and checks that it returns
// that comment.
func resendSubmission(t *testing.T, e *env, r *commentdv1.SubmitCommentRequest, name, where string) {
	again, err := e.site.SubmitComment(withBearer(t.Context(), e.tokens[siteKeyName]), r)
	if err != nil {
		code, reason := codeReason(err)
		t.Errorf("%s: SubmitComment(%v) sent again with its request_id after it stored %s: %v (%v %s), want the first comment",
			where, r, name, err, code, reason)
		return
	}
	if again.GetComment().GetName() != name {
		t.Errorf("%s: SubmitComment(%v) sent again with its request_id, got %s, want the first comment %s",
			where, r, again.GetComment().GetName(), name)
	}
}

// refusal names err's code and reason, for the run's tally.
func refusal(err error) string {
	code, reason := codeReason(err)
	return fmt.Sprintf("%v/%s", code, reason)
}

// checkInvariants reads every view of the data through the API (and the spam model's totals from
// the store) and checks that they agree with each other and with what the run did.
func checkInvariants(t *testing.T, run *invariantsRun, servers []*env, threads []string, seed uint64) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("failed with seed %d", seed)
		}
	}()
	e := servers[0]
	mod := e.as(t, modKeyName)
	site := e.as(t, siteKeyName)

	// Every comment, as the moderators see it now.
	final := map[string]*commentdv1.ModeratedComment{}
	byState := map[commentdv1.State][]string{}
	for name := range run.submitted {
		c, err := ctxGet(withBearer(t.Context(), servers[1].tokens[modKeyName]), servers[1], name)
		if err != nil {
			t.Fatalf("called GetComment(%s): %v", name, err)
		}
		final[name] = c
		byState[c.GetComment().GetState()] = append(byState[c.GetComment().GetState()], name)
	}

	// The published comments of each thread: listed (each once) and counted.
	counts, err := e.site.CountComments(site, &commentdv1.CountCommentsRequest{ThreadIds: threads})
	if err != nil {
		t.Fatalf("called CountComments(%v): %v", threads, err)
	}
	listed := map[string]*commentdv1.Comment{}
	for i, th := range threads {
		var want, got []string
		for _, name := range byState[commentdv1.State_STATE_PUBLISHED] {
			if final[name].GetComment().GetThreadId() == th {
				want = append(want, name)
			}
		}
		req := &commentdv1.ListCommentsRequest{ThreadId: th, PageSize: 7}
		for range 100 {
			resp, err := e.site.ListComments(site, req)
			if err != nil {
				t.Fatalf("called ListComments(%s): %v", th, err)
			}
			for _, c := range resp.GetComments() {
				got = append(got, c.GetName())
				listed[c.GetName()] = c
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("called ListComments(%s), got %v, want the published %v", th, got, want)
		}
		if n := counts.GetCounts()[i].GetPublished(); n != int64(len(want)) || n != int64(len(got)) {
			t.Errorf("called CountComments(%s), got %d, want %d (published) and %d (listed)", th, n, len(want), len(got))
		}
	}

	// The queues: each comment of the state once, and nothing else; their depths in the statistics.
	stats, err := e.mod.GetStats(mod, &commentdv1.GetStatsRequest{Days: 2})
	if err != nil {
		t.Fatalf("called GetStats: %v", err)
	}
	queued := map[string]*commentdv1.ModeratedComment{}
	for _, st := range []commentdv1.State{commentdv1.State_STATE_PENDING, commentdv1.State_STATE_REJECTED, commentdv1.State_STATE_SPAM} {
		var got []string
		req := &commentdv1.ListQueueRequest{State: st, PageSize: 6}
		for range 100 {
			resp, err := e.mod.ListQueue(mod, req)
			if err != nil {
				t.Fatalf("called ListQueue(%v): %v", st, err)
			}
			for _, c := range resp.GetComments() {
				got = append(got, c.GetComment().GetName())
				queued[c.GetComment().GetName()] = c
				if c.GetComment().GetState() != st {
					t.Errorf("called ListQueue(%v), got %s in state %v", st, c.GetComment().GetName(), c.GetComment().GetState())
				}
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		slices.Sort(got)
		if d := slices.Compact(slices.Clone(got)); len(d) != len(got) {
			t.Errorf("called ListQueue(%v), got a comment twice: %v", st, got)
		}
		want := slices.Sorted(slices.Values(byState[st]))
		if !slices.Equal(got, want) {
			t.Errorf("called ListQueue(%v), got %v, want the comments in that state %v", st, got, want)
		}
		for _, q := range stats.GetQueue() {
			if q.GetState() == st && q.GetCount() != int64(len(want)) {
				t.Errorf("called GetStats, got queue %v = %d, want %d", st, q.GetCount(), len(want))
			}
		}
	}

	// Stored once per submission: a resend stored nothing, and every comment is in one state.
	var submitted, spamDays int64
	for _, d := range stats.GetDays() {
		submitted += d.GetSubmitted()
		spamDays += d.GetSpam()
	}
	if submitted != int64(len(run.submitted)) {
		t.Errorf("called GetStats, got %d submitted, want %d (the comments the run stored)", submitted, len(run.submitted))
	}
	if want := int64(len(byState[commentdv1.State_STATE_SPAM])); spamDays != want {
		t.Errorf("called GetStats, got %d spam in the daily figures, want %d (the comments spam now)", spamDays, want)
	}
	var total int
	for _, names := range byState {
		total += len(names)
	}
	if total != len(run.submitted) {
		t.Errorf("counted %d comments over the states, want %d", total, len(run.submitted))
	}

	// The spam model: one spam example per comment whose last moderator decision marked it
	// spam, one ham example per comment whose last moderator decision approved it, each with the
	// features the comment has now (an erased one's without its author's name and address).
	var wantSpam, wantHam, wantSpamTokens, wantHamTokens int64
	wantTokens := map[string][2]int64{} // token → spam, ham count
	for name, c := range final {
		in := spam.Input{Body: c.GetComment().GetBody(), AuthorName: c.GetComment().GetAuthorName()}
		if c.GetMaskedEmail() != "" {
			in.Email, _ = privacy.ParseEmail(run.submitted[name].email)
		}
		class := -1
		switch c.GetDecision().GetToState() {
		case commentdv1.State_STATE_SPAM:
			wantSpam++
			class = 0
		case commentdv1.State_STATE_PUBLISHED:
			wantHam++
			class = 1
		}
		for _, tok := range spam.Features(in) {
			n := wantTokens[tok]
			if class >= 0 {
				n[class]++
				if class == 0 {
					wantSpamTokens++
				} else {
					wantHamTokens++
				}
			}
			wantTokens[tok] = n
		}
	}
	tokens := slices.Sorted(func(yield func(string) bool) {
		for tok := range wantTokens {
			if !yield(tok) {
				return
			}
		}
	})
	spamCounts, hamCounts := make([]int64, len(tokens)), make([]int64, len(tokens))
	tot, err := e.store.ModelCounts("").TokenCounts(context.Background(), tokens, spamCounts, hamCounts)
	if err != nil {
		t.Fatalf("read the site model's counts: %v", err)
	}
	var vocab int64
	for i, tok := range tokens {
		w := wantTokens[tok]
		if w[0] > 0 || w[1] > 0 {
			vocab++
		}
		if spamCounts[i] != w[0] || hamCounts[i] != w[1] {
			t.Errorf("read the site model, got token %q counted %d spam %d ham, want %d and %d", tok, spamCounts[i], hamCounts[i], w[0], w[1])
		}
	}
	if tot.SpamTokens != wantSpamTokens || tot.HamTokens != wantHamTokens || tot.Vocabulary != vocab {
		t.Errorf("read the site model, got %d spam and %d ham tokens in all, a vocabulary of %d; want %d, %d and %d",
			tot.SpamTokens, tot.HamTokens, tot.Vocabulary, wantSpamTokens, wantHamTokens, vocab)
	}
	t.Logf("%d comments: %d published, %d pending, %d rejected, %d spam; the model holds %d spam and %d ham",
		len(run.submitted), len(byState[commentdv1.State_STATE_PUBLISHED]), len(byState[commentdv1.State_STATE_PENDING]),
		len(byState[commentdv1.State_STATE_REJECTED]), len(byState[commentdv1.State_STATE_SPAM]), tot.Spam, tot.Ham)
	if tot.Spam != wantSpam || tot.Ham != wantHam {
		t.Errorf("read the site model, got spam %d ham %d, want %d and %d (the last decisions)", tot.Spam, tot.Ham, wantSpam, wantHam)
	}

	// The audit log: per comment, a chain of changes from the state it was stored in to the one
	// it is in, each change made by a call that returned it as its own, once.
	events := auditPages(t, mod, e, &commentdv1.ListAuditEventsRequest{}, 200)
	chains := map[string][]*commentdv1.AuditEvent{}
	audited := map[decisionKey]int{}
	for _, ev := range slices.Backward(events) {
		if !strings.HasPrefix(ev.GetTarget(), "comments/") {
			continue
		}
		chains[ev.GetTarget()] = append(chains[ev.GetTarget()], ev)
		if ev.GetAction() == commentdv1.AuditAction_AUDIT_ACTION_REPORT_TAKEDOWN {
			if ev.GetModerator() != "system" || !run.reported[ev.GetTarget()] {
				t.Errorf("audit log: %v, want takedowns by system of reported comments only", ev)
			}
			continue
		}
		audited[decisionKey{name: ev.GetTarget(), moderator: ev.GetModerator(), to: ev.GetToState()}]++
	}
	t.Logf("%d audit events, %d of them changes of comments", len(events), len(audited))
	for k, n := range audited {
		if want := len(run.decided[k]); n != want {
			t.Errorf("audit log holds %d changes of %s to %v by %s, want %d (the decisions the calls returned as theirs)", n, k.name, k.to, k.moderator, want)
		}
	}
	for k, times := range run.decided {
		if audited[k] == 0 {
			t.Errorf("audit log holds no change of %s to %v by %s, want %d", k.name, k.to, k.moderator, len(times))
		}
	}
	for name, s := range run.submitted {
		chain := chains[name]
		st := final[name].GetComment().GetState()
		if len(chain) > 0 {
			st = chain[0].GetFromState()
		}
		// The site is told PENDING for what the checks held, judged spam, or rejected for a ban.
		if s.state == commentdv1.State_STATE_PUBLISHED && st != commentdv1.State_STATE_PUBLISHED ||
			s.state == commentdv1.State_STATE_PENDING && st == commentdv1.State_STATE_PUBLISHED {
			t.Errorf("audit log of %s starts from %v (or it has none and the comment is in it), but SubmitComment answered %v", name, st, s.state)
		}
		for _, ev := range chain {
			if ev.GetFromState() != st {
				t.Errorf("audit log of %s: %v by %s from %v, want from %v (the state before)", name, ev.GetAction(), ev.GetModerator(), ev.GetFromState(), st)
			}
			st = ev.GetToState()
		}
		if want := final[name].GetComment().GetState(); st != want {
			t.Errorf("audit log of %s ends in %v, want the comment's state %v", name, st, want)
		}
	}
	checkStatsMatchAudit(t, stats, auditTallies(events))

	// Erasures: the comments of the author submitted before it hold no name or email in any view.
	for _, names := range run.erased {
		for _, name := range names {
			c := final[name]
			if c.GetComment().GetAuthorName() != comment.ErasedAuthorName || c.GetMaskedEmail() != "" || c.GetAuthorKey() != "" || c.GetMaskedIp() != "" {
				t.Errorf("called GetComment(%s) after its author's data was erased, got author %q, email %q, key %q, ip %q; want %q and nothing else",
					name, c.GetComment().GetAuthorName(), c.GetMaskedEmail(), c.GetAuthorKey(), c.GetMaskedIp(), comment.ErasedAuthorName)
			}
			if l, ok := listed[name]; ok && l.GetAuthorName() != comment.ErasedAuthorName {
				t.Errorf("called ListComments, got %s by %q after its author's data was erased", name, l.GetAuthorName())
			}
			if q, ok := queued[name]; ok && (q.GetComment().GetAuthorName() != comment.ErasedAuthorName || q.GetMaskedEmail() != "" || q.GetAuthorKey() != "") {
				t.Errorf("called ListQueue, got %s by %q (%q, %q) after its author's data was erased", name, q.GetComment().GetAuthorName(), q.GetMaskedEmail(), q.GetAuthorKey())
			}
		}
	}

	// The authors' records, for authors never erased: what moderators left their comments in.
	type record struct{ approved, rejected, spam int64 }
	want := map[string]*record{}
	for name, s := range run.submitted {
		if run.erasedAuthors[s.email] {
			continue
		}
		r := want[s.email]
		if r == nil {
			r = &record{}
			want[s.email] = r
		}
		switch final[name].GetDecision().GetToState() {
		case commentdv1.State_STATE_PUBLISHED:
			r.approved++
		case commentdv1.State_STATE_REJECTED:
			r.rejected++
		case commentdv1.State_STATE_SPAM:
			r.spam++
		}
	}
	for name, s := range run.submitted {
		if run.erasedAuthors[s.email] {
			continue
		}
		h, w := final[name].GetAuthorHistory(), want[s.email]
		if h.GetApproved() != w.approved || h.GetRejected() != w.rejected || h.GetSpam() != w.spam {
			t.Errorf("called GetComment(%s), got author history %v, want %+v", name, h, *w)
		}
	}
}
