package spam_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// The engine tests' corpus: enough of each class for the classifier to vote (DefaultMinTrained).
var (
	engineSpam = []string{
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
	engineHam = []string{
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

// engineFor returns an engine over counts trained on the corpus, with keys and options.
func engineFor(t *testing.T, keys *privacy.Keyring, opts spam.EngineOptions) *spam.Engine {
	t.Helper()
	counts := spamtest.NewCounts()
	ctx := context.Background()
	for _, b := range engineSpam {
		counts.Train(ctx, spam.Features(spam.Input{Body: b}), true, 1)
	}
	for _, b := range engineHam {
		counts.Train(ctx, spam.Features(spam.Input{Body: b}), false, 1)
	}
	e, err := spam.NewEngine(counts, keys, opts)
	if err != nil {
		t.Fatalf("called NewEngine(%+v), got error %v", opts, err)
	}
	return e
}

// draftOf returns a valid draft with a user agent.
func draftOf(t *testing.T, body, email, ip string) comment.Draft {
	t.Helper()
	d, err := comment.Limits{}.Validate(comment.Submission{
		ThreadID: "t1", AuthorName: "Reader", AuthorEmail: email, Body: body, ClientIP: ip, UserAgent: "Mozilla/5.0 (test)",
	})
	if err != nil {
		t.Fatalf("called Validate(%q), got error %v", body, err)
	}
	return d
}

// screen runs a Screener over e on d and returns the verdict.
func screen(t *testing.T, e *spam.Engine, d comment.Draft) comment.Verdict {
	t.Helper()
	var v comment.Verdict
	if err := spam.NewScreener(e, spam.ScreenerOptions{}).Screen(context.Background(), &d, &v); err != nil {
		t.Fatalf("called Screen(%q), got error %v; the spam screener never refuses", d.Body, err)
	}
	return v
}

func reasonCodes(rs []comment.Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

// TestThresholdsToDecisions scores one comment, then moves the thresholds around its score: the
// verdict must follow them.
func TestThresholdsToDecisions(t *testing.T) {
	keys := testKeyring(t)
	d := draftOf(t, "the council budget figures, click the link", "reader@example.org", "")
	probe := engineFor(t, keys, spam.EngineOptions{})
	score := screen(t, probe, d).Score
	if score <= 0.01 || score >= 0.99999 {
		t.Fatalf("the probe comment scored %v; this test needs a score well inside (0, 1) to place thresholds around", score)
	}
	tests := []struct {
		name           string
		holdAt, spamAt float64
		wantSpam       []string
		wantHold       []string
	}{
		{name: "below both", holdAt: (score + 1) / 2, spamAt: 1},
		{name: "at the hold threshold", holdAt: score, spamAt: 1, wantHold: []string{spam.ReasonClassifierHold}},
		{name: "between", holdAt: score / 2, spamAt: (score + 1) / 2, wantHold: []string{spam.ReasonClassifierHold}},
		{name: "at the spam threshold", holdAt: score / 2, spamAt: score, wantSpam: []string{spam.ReasonClassifierSpam}},
		{name: "above both", holdAt: score / 4, spamAt: score / 2, wantSpam: []string{spam.ReasonClassifierSpam}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := engineFor(t, keys, spam.EngineOptions{Scorer: spam.Options{HoldAt: tt.holdAt, SpamAt: tt.spamAt}})
			v := screen(t, e, d)
			if diff := cmp.Diff([][]string{tt.wantSpam, tt.wantHold}, [][]string{reasonCodes(v.Spam), reasonCodes(v.Hold)}); diff != "" {
				t.Errorf("called Screen with score %.4f, hold at %.4f, spam at %.4f: got [spam, hold] reasons diff (-want +got):\n%s", score, tt.holdAt, tt.spamAt, diff)
			}
			if v.Score != score {
				t.Errorf("called Screen, got verdict score %v, want the classifier's %v", v.Score, score)
			}
		})
	}
}

func TestEngineWordLists(t *testing.T) {
	keys := testKeyring(t)
	ctx := context.Background()
	store := &memFilters{byID: map[string]spam.Filter{}}
	fs := spam.NewFilters(store, keys, spam.FiltersOptions{})
	add := func(list spam.FilterList, kind spam.FilterKind, value string) {
		if _, _, err := fs.Create(ctx, "mod", list, kind, value); err != nil {
			t.Fatalf("called Create(%v, %v, %q), got error %v", list, kind, value, err)
		}
	}
	add(spam.FilterListSpam, spam.FilterEmail, "banned.author@example.com")
	add(spam.FilterListHold, spam.FilterIP, "198.51.100.77")
	add(spam.FilterListHold, spam.FilterIP, "192.0.2.0/24")
	add(spam.FilterListHold, spam.FilterIP, "198.51.100.0/24") // holds the held address too: one reason, not two
	add(spam.FilterListSpam, spam.FilterPhrase, "cheap watches")
	add(spam.FilterListHold, spam.FilterWord, "casino")
	add(spam.FilterListSpam, spam.FilterDomain, "spam.example")
	add(spam.FilterListHold, spam.FilterRegex, `b[i1]tc[o0]in`)

	e := engineFor(t, keys, spam.EngineOptions{})
	all, _, _ := store.ListFilters(ctx, spam.FilterListAny, comment.Page{})
	if err := e.SetFilters(all); err != nil {
		t.Fatalf("called SetFilters with %d entries, got error %v", len(all), err)
	}
	const body = "the budget figures were revised last week"
	tests := []struct {
		name            string
		body, email, ip string
		wantSpam        []string
		wantHold        []string
	}{
		{name: "nothing matches", body: body, email: "reader@example.org", ip: "203.0.113.1"},
		{name: "email on the spam list", body: body, email: "Banned.Author@example.com", ip: "203.0.113.1", wantSpam: []string{spam.ReasonSpamList}},
		{name: "address on the hold list", body: body, email: "reader@example.org", ip: "198.51.100.77", wantHold: []string{spam.ReasonHoldList}},
		{name: "range on the hold list", body: body, email: "reader@example.org", ip: "192.0.2.200", wantHold: []string{spam.ReasonHoldList}},
		{name: "phrase", body: "Cheap  watches for sale", email: "reader@example.org", wantSpam: []string{spam.ReasonSpamList}},
		{name: "word", body: "the new casino opens", email: "reader@example.org", wantHold: []string{spam.ReasonHoldList}},
		{name: "domain in a link", body: "see https://www.spam.example/offer", email: "reader@example.org", wantSpam: []string{spam.ReasonSpamList}},
		{name: "regex", body: "buy b1tcoin here", email: "reader@example.org", wantHold: []string{spam.ReasonHoldList}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := screen(t, e, draftOf(t, tt.body, tt.email, tt.ip))
			got := [][]string{filterCodes(v.Spam), filterCodes(v.Hold)}
			if diff := cmp.Diff([][]string{tt.wantSpam, tt.wantHold}, got); diff != "" {
				t.Errorf("called Screen(%q from %s at %s), got list reasons [spam, hold] diff (-want +got):\n%s", tt.body, tt.email, tt.ip, diff)
			}
			for _, r := range append(v.Spam, v.Hold...) {
				if strings.Contains(strings.ToLower(r.Message), "banned.author") || strings.Contains(r.Message, "198.51.100.77") {
					t.Errorf("called Screen, got reason %q, which names the address", r.Message)
				}
			}
		})
	}

	// A pattern's reason names its filter, so a moderator finds it in "filters list".
	var regexID string
	for _, f := range all {
		if f.Kind == spam.FilterRegex {
			regexID = f.ID
		}
	}
	v := screen(t, e, draftOf(t, "buy b1tcoin here", "reader@example.org", ""))
	if len(v.Hold) == 0 || !strings.Contains(v.Hold[0].Message, "filters/"+regexID) {
		t.Errorf("called Screen with a body the regex filter %s matches, got hold reasons %v, want one naming filters/%s", regexID, v.Hold, regexID)
	}

	// Removing the entries applies at once.
	if err := e.SetFilters(nil); err != nil {
		t.Fatalf("called SetFilters(nil), got error %v", err)
	}
	if v := screen(t, e, draftOf(t, body, "banned.author@example.com", "198.51.100.77")); len(v.Spam)+len(v.Hold) != 0 {
		t.Errorf("called Screen after clearing the lists, got spam %v hold %v, want nothing", v.Spam, v.Hold)
	}
}

// filterCodes keeps only the word-list reasons (the classifier may add its own).
func filterCodes(rs []comment.Reason) []string {
	var out []string
	for _, c := range reasonCodes(rs) {
		if c == spam.ReasonSpamList || c == spam.ReasonHoldList {
			out = append(out, c)
		}
	}
	return out
}

func TestEngineAuthorRecord(t *testing.T) {
	keys := testKeyring(t)
	const body = "the budget figures were revised last week"
	tests := []struct {
		name     string
		opts     spam.EngineOptions
		history  *comment.AuthorHistory
		wantHold []string
		wantSkip bool
	}{
		{name: "no record", opts: spam.EngineOptions{Scorer: spam.Options{Rules: spam.RuleOptions{TrustAfter: 1}}}},
		{name: "trusted after one approval", opts: spam.EngineOptions{Scorer: spam.Options{Rules: spam.RuleOptions{TrustAfter: 1}}}, history: &comment.AuthorHistory{Approved: 1}, wantSkip: true},
		{name: "not yet trusted", opts: spam.EngineOptions{Scorer: spam.Options{Rules: spam.RuleOptions{TrustAfter: 3}}}, history: &comment.AuthorHistory{Approved: 2}},
		{name: "spam on record holds", opts: spam.EngineOptions{Scorer: spam.Options{Rules: spam.RuleOptions{TrustAfter: 1}}}, history: &comment.AuthorHistory{Approved: 5, Spam: 1}, wantHold: []string{spam.ReasonAuthorSpam}},
		{name: "spam on record ignored, still not trusted", opts: spam.EngineOptions{IgnoreAuthorSpam: true, Scorer: spam.Options{Rules: spam.RuleOptions{TrustAfter: 1}}}, history: &comment.AuthorHistory{Approved: 5, Spam: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := draftOf(t, body, "reader@example.org", "")
			d.History = tt.history
			v := screen(t, engineFor(t, keys, tt.opts), d)
			if diff := cmp.Diff(tt.wantHold, reasonCodes(v.Hold)); diff != "" || v.SkipPreModeration != tt.wantSkip || len(v.Spam) > 0 {
				t.Errorf("called Screen with record %+v, got hold %v spam %v skip %v; want hold %v, skip %v", tt.history, reasonCodes(v.Hold), reasonCodes(v.Spam), v.SkipPreModeration, tt.wantHold, tt.wantSkip)
			}
		})
	}
}

// windowCampaigns is spam.Campaigns (and spam.Peeker) over an in-memory window, as the Redis store
// is without its stream.
type windowCampaigns struct{ w *spam.Window }

func (c windowCampaigns) Observe(_ context.Context, s spam.Sighting, window time.Duration, maxDistance int) ([]spam.Sighting, error) {
	return c.w.ObserveNear(s, window, maxDistance), nil
}

func (c windowCampaigns) Peek(_ context.Context, s spam.Sighting, window time.Duration) ([]spam.Sighting, error) {
	return c.w.Match(s, window), nil
}

func TestEngineCheckLeavesNoTrace(t *testing.T) {
	keys := testKeyring(t)
	ctx := context.Background()
	camp := windowCampaigns{w: spam.NewWindow(time.Hour)}
	e := engineFor(t, keys, spam.EngineOptions{Scorer: spam.Options{Campaigns: camp}})
	const text = "Everyone should read the report on the harbour redevelopment before the vote tonight"
	authorsSeen := []string{"a@example.org", "b@example.org"}
	for _, a := range authorsSeen {
		d := draftOf(t, text, a, "")
		if _, err := e.Score(ctx, e.Input(&d)); err != nil {
			t.Fatalf("called Score(%s), got error %v", a, err)
		}
	}
	before := camp.w.Len()
	d := draftOf(t, text, "c@example.org", "")
	res, err := e.Check(ctx, e.Input(&d), nil)
	if err != nil {
		t.Fatalf("called Check, got error %v", err)
	}
	if !slices.Contains(reasonCodes(res.Reasons), spam.ReasonCampaign) {
		t.Errorf("called Check on the text two other authors posted, got reasons %v, want %s", reasonCodes(res.Reasons), spam.ReasonCampaign)
	}
	if after := camp.w.Len(); after != before {
		t.Errorf("called Check, got %d sightings after, %d before; want no sighting recorded", after, before)
	}
	// A scratch model: the given counts, not the site's.
	empty := spamtest.NewCounts()
	res, err = e.Check(ctx, spam.Input{Body: engineSpam[0], UserAgent: "x"}, empty)
	if err != nil || res.Score != 0.5 {
		t.Errorf("called Check with an untrained model, got score %v, %v; want 0.5 (no vote)", res.Score, err)
	}
}

// brokenCounts fails every read.
type brokenCounts struct{}

func (brokenCounts) TokenCounts(context.Context, []string, []int64, []int64) (spam.Totals, error) {
	return spam.Totals{}, comment.ErrUnavailable
}
func (brokenCounts) Train(context.Context, []string, bool, int64) error {
	return comment.ErrUnavailable
}

func TestScreenerHoldsWhenUnchecked(t *testing.T) {
	keys := testKeyring(t)
	e, err := spam.NewEngine(brokenCounts{}, keys, spam.EngineOptions{})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	v := screen(t, e, draftOf(t, "hello", "reader@example.org", ""))
	if diff := cmp.Diff([]string{spam.ReasonUnchecked}, reasonCodes(v.Hold)); diff != "" {
		t.Errorf("called Screen with failing counts, got hold reasons diff (-want +got):\n%s", diff)
	}
	if v.Score != 0.5 {
		t.Errorf("called Screen with failing counts, got score %v, want 0.5 (cannot tell), not a score that reads as ham", v.Score)
	}
	_, err = e.Check(context.Background(), spam.Input{Body: "hello"}, nil)
	if !errors.Is(err, comment.ErrUnavailable) {
		t.Errorf("called Check with failing counts, got %v, want an error wrapping comment.ErrUnavailable", err)
	}
}
