package spam_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

const ua = "Mozilla/5.0 (test)"

var (
	spamBodies = []string{
		"check out my channel and subscribe please",
		"subscribe to my channel for free gift cards",
		"please check out my new channel, subscribe!",
		"free gift cards at my channel, check it out",
		"visit my channel and subscribe for more",
		"make money fast, check out my channel",
		"subscribe subscribe subscribe to my channel",
		"check out my music channel please subscribe",
		"free money, check my channel now",
		"my channel has free gift cards, subscribe",
		"hey guys check out my channel",
		"please subscribe to my channel thanks",
	}
	hamBodies = []string{
		"this song is beautiful",
		"love the chorus of this song",
		"the video is so funny, great dancing",
		"who is watching this in 2015",
		"best song of the summer",
		"the dancing in this video is amazing",
		"i love her voice in this song",
		"this song never gets old",
		"great video, love the colours",
		"such a beautiful voice",
		"the beat of this song is great",
		"still watching this song in 2015",
	}
)

// trained returns a scorer trained on the small corpus above.
func trained(t *testing.T, opts spam.Options) (*spam.Scorer, *spamtest.Counts) {
	t.Helper()
	counts := spamtest.NewCounts()
	s, err := spam.NewScorer(counts, opts)
	if err != nil {
		t.Fatalf("NewScorer(%+v): %v", opts, err)
	}
	ctx := context.Background()
	for _, b := range spamBodies {
		if err := s.Train(ctx, spam.Input{Body: b}, true); err != nil {
			t.Fatalf("Train(%q, spam): %v", b, err)
		}
	}
	for _, b := range hamBodies {
		if err := s.Train(ctx, spam.Input{Body: b}, false); err != nil {
			t.Fatalf("Train(%q, ham): %v", b, err)
		}
	}
	return s, counts
}

func score(t *testing.T, s *spam.Scorer, in spam.Input) spam.Result {
	t.Helper()
	r, err := s.Score(context.Background(), in)
	if err != nil {
		t.Fatalf("Score(%+v): %v", in, err)
	}
	return r
}

func codes(r spam.Result) []string {
	var out []string
	for _, x := range r.Reasons {
		out = append(out, x.Code)
	}
	return out
}

func TestScoreLearns(t *testing.T) {
	for _, m := range []spam.Model{spam.ModelRobinson, spam.ModelNaiveBayes} {
		t.Run(m.String(), func(t *testing.T) {
			s, _ := trained(t, spam.Options{Model: m})
			spammy := score(t, s, spam.Input{Body: "check out my channel and get free gift cards", UserAgent: ua})
			hammy := score(t, s, spam.Input{Body: "i love this song, beautiful voice", UserAgent: ua})
			if spammy.Score <= 0.5 || hammy.Score >= 0.5 {
				t.Errorf("Score after training: spammy text %v, hammy text %v; want above and below 0.5", spammy.Score, hammy.Score)
			}
			if spammy.Decision == spam.DecisionPublish {
				t.Errorf("Score(spammy text) decision = %s (score %v), want hold or spam", spammy.Decision, spammy.Score)
			}
			if hammy.Decision != spam.DecisionPublish {
				t.Errorf("Score(hammy text) decision = %s (score %v, reasons %v), want publish", hammy.Decision, hammy.Score, hammy.Reasons)
			}
		})
	}
}

func TestTrainAndUntrain(t *testing.T) {
	ctx := context.Background()
	s, _ := trained(t, spam.Options{})
	in := spam.Input{Body: "great dancing, check out the gift", UserAgent: ua}
	before := score(t, s, in)

	for range 3 {
		if err := s.Train(ctx, in, true); err != nil {
			t.Fatalf("Train(%q, spam): %v", in.Body, err)
		}
	}
	asSpam := score(t, s, in)
	if asSpam.Score <= before.Score {
		t.Errorf("Score(%q) after training it as spam = %v, want above %v", in.Body, asSpam.Score, before.Score)
	}

	// A moderator changes their mind: untrain spam, train ham.
	for range 3 {
		if err := s.Untrain(ctx, in, true); err != nil {
			t.Fatalf("Untrain(%q, spam): %v", in.Body, err)
		}
	}
	if got := score(t, s, in); !cmp.Equal(got, before) {
		t.Errorf("Score(%q) after training and untraining = %+v, want exactly the score before %+v", in.Body, got, before)
	}
	if err := s.Train(ctx, in, false); err != nil {
		t.Fatalf("Train(%q, ham): %v", in.Body, err)
	}
	if asHam := score(t, s, in); asHam.Score >= before.Score {
		t.Errorf("Score(%q) after training it as ham = %v, want below %v", in.Body, asHam.Score, before.Score)
	}
}

func TestThresholds(t *testing.T) {
	in := spam.Input{Body: "check out my gift, great song", UserAgent: ua}
	probe, _ := trained(t, spam.Options{})
	x := score(t, probe, in).Score
	if x <= 0.01 || x >= 0.99 {
		t.Fatalf("probe score %v is too close to 0 or 1 to place thresholds around", x)
	}
	tests := []struct {
		name           string
		holdAt, spamAt float64
		want           spam.Decision
		wantCode       string
	}{
		{"below both", x + 0.005, x + 0.01, spam.DecisionPublish, ""},
		{"at the hold threshold", x, x + 0.01, spam.DecisionHold, spam.ReasonClassifierHold},
		{"between", x - 0.01, x + 0.01, spam.DecisionHold, spam.ReasonClassifierHold},
		{"at the spam threshold", x - 0.01, x, spam.DecisionSpam, spam.ReasonClassifierSpam},
		{"above both", x - 0.01, x - 0.005, spam.DecisionSpam, spam.ReasonClassifierSpam},
		{"equal thresholds: no hold band", x, x, spam.DecisionSpam, spam.ReasonClassifierSpam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := trained(t, spam.Options{HoldAt: tt.holdAt, SpamAt: tt.spamAt})
			r := score(t, s, in)
			var wantCodes []string
			if tt.wantCode != "" {
				wantCodes = []string{tt.wantCode}
			}
			if r.Decision != tt.want || !cmp.Equal(codes(r), wantCodes) {
				t.Errorf("Score (score %v, thresholds %v/%v) = %s %v, want %s %v", r.Score, tt.holdAt, tt.spamAt, r.Decision, codes(r), tt.want, wantCodes)
			}
		})
	}
}

// TestThresholdReasonsCompareAsTheScoreDoes: the reason a moderator reads shows the score and the
// thresholds so that they compare as the decision did, however close they are (a score of
// 0.9651 held below a spam threshold of 0.97 must not read "scored 0.97, between 0.24 and 0.97").
func TestThresholdReasonsCompareAsTheScoreDoes(t *testing.T) {
	in := spam.Input{Body: "check out my gift, great song", UserAgent: ua}
	probe, _ := trained(t, spam.Options{})
	x := score(t, probe, in).Score
	if x <= 0.01 || x >= 0.99 {
		t.Fatalf("probe score %v is too close to 0 or 1 to place thresholds around", x)
	}
	tests := []struct {
		name           string
		holdAt, spamAt float64
	}{
		{"just below the spam threshold", x - 0.2, x + 1e-4},
		{"just above the hold threshold", x - 1e-4, x + 0.2},
		{"just above the spam threshold", x - 0.2, x - 1e-4},
		{"at the spam threshold", x - 0.2, x},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := trained(t, spam.Options{HoldAt: tt.holdAt, SpamAt: tt.spamAt})
			r := score(t, s, in)
			if len(r.Reasons) != 1 {
				t.Fatalf("Score (score %v, thresholds %v/%v) reasons = %v, want one", r.Score, tt.holdAt, tt.spamAt, r.Reasons)
			}
			msg := r.Reasons[0].Message
			var got, hold, spamAt float64
			switch r.Decision {
			case spam.DecisionHold:
				if _, err := fmt.Sscanf(msg, "the content scored %g, between the thresholds %g and %g", &got, &hold, &spamAt); err != nil {
					t.Fatalf("reason %q does not read as a score between two thresholds: %v", msg, err)
				}
				if got < hold || got >= spamAt {
					t.Errorf("Score (score %v, thresholds %v/%v) held with reason %q, which shows a score outside the band it names", r.Score, tt.holdAt, tt.spamAt, msg)
				}
			case spam.DecisionSpam:
				if _, err := fmt.Sscanf(msg, "the content scored %g, at or above the spam threshold %g", &got, &spamAt); err != nil {
					t.Fatalf("reason %q does not read as a score at or above a threshold: %v", msg, err)
				}
				if got < spamAt {
					t.Errorf("Score (score %v, thresholds %v/%v) marked spam with reason %q, which shows a score below the threshold it names", r.Score, tt.holdAt, tt.spamAt, msg)
				}
			default:
				t.Fatalf("Score (score %v, thresholds %v/%v) = %s, want hold or spam", r.Score, tt.holdAt, tt.spamAt, r.Decision)
			}
		})
	}
}

func TestUntrainedClassifierAbstains(t *testing.T) {
	ctx := context.Background()
	s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{MinTrained: 3})
	if err != nil {
		t.Fatal(err)
	}
	in := spam.Input{Body: "check out my channel", UserAgent: ua}
	for i := range 3 {
		r := score(t, s, in)
		if r.Score != 0.5 || r.Decision != spam.DecisionPublish || len(r.Reasons) != 0 {
			t.Errorf("Score with %d messages of each class trained (minimum 3) = %+v, want score 0.5, publish, no reasons", i, r)
		}
		if err := s.Train(ctx, spam.Input{Body: spamBodies[i]}, true); err != nil {
			t.Fatal(err)
		}
		if err := s.Train(ctx, spam.Input{Body: hamBodies[i]}, false); err != nil {
			t.Fatal(err)
		}
	}
	if r := score(t, s, in); r.Score == 0.5 {
		t.Errorf("Score with 3 messages of each class trained (minimum 3) = 0.5, want the classifier to vote")
	}
}

func TestRulesAndClassifierCombine(t *testing.T) {
	s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{Rules: spam.RuleOptions{SpamList: []string{"casino"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := score(t, s, spam.Input{Body: "casino http://a.example http://b.example", Honeypot: "x"})
	// Every finding is listed, spam ones first; the decision is the most severe.
	want := []string{spam.ReasonHoneypot, spam.ReasonSpamList, spam.ReasonNoUserAgent, spam.ReasonTooManyLinks}
	if r.Decision != spam.DecisionSpam || !cmp.Equal(codes(r), want) {
		t.Errorf("Score(honeypot, spam word, no user agent, two links) = %s %v, want spam %v", r.Decision, codes(r), want)
	}
}

func TestSkipPreModeration(t *testing.T) {
	s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{Rules: spam.RuleOptions{TrustAfter: 2}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   spam.Input
		want bool
	}{
		{"trusted author, clean comment", spam.Input{Body: "nice", UserAgent: ua, History: spam.AuthorHistory{Approved: 2}}, true},
		{"too few approved", spam.Input{Body: "nice", UserAgent: ua, History: spam.AuthorHistory{Approved: 1}}, false},
		{"spam on record", spam.Input{Body: "nice", UserAgent: ua, History: spam.AuthorHistory{Approved: 5, Spam: 1}}, false},
		{"trusted author, but the comment is held", spam.Input{Body: "nice", History: spam.AuthorHistory{Approved: 5}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := score(t, s, tt.in).SkipPreModeration; got != tt.want {
				t.Errorf("Score(%+v).SkipPreModeration = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCampaign(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{
		Campaigns: &spamtest.Campaigns{},
		Campaign:  spam.CampaignOptions{MinAuthors: 2, Window: time.Hour, Now: func() time.Time { return now }},
	})
	if err != nil {
		t.Fatal(err)
	}
	text := "Hey everyone, check out my new channel where I post covers of popular songs every week!"
	post := func(author, body string) spam.Result {
		return score(t, s, spam.Input{Body: body, UserAgent: ua, AuthorKey: author})
	}
	held := func(r spam.Result) bool { return cmp.Equal(codes(r), []string{spam.ReasonCampaign}) }

	if r := post("a1", text); held(r) {
		t.Errorf("first copy: reasons %v, want no campaign", codes(r))
	}
	if r := post("a1", text+" again"); held(r) {
		t.Errorf("same author again: reasons %v, want no campaign (one author is not a campaign)", codes(r))
	}
	if r := post("a2", strings.ToUpper(text)); held(r) {
		t.Errorf("second author: reasons %v, want no campaign yet (1 other author, 2 needed)", codes(r))
	}
	if r := post("a2", text); held(r) {
		t.Errorf("second author again: reasons %v, want no campaign yet (still 1 other author: an author's own copies do not count)", codes(r))
	}
	if r := post("a3", strings.Replace(text, "covers", "remixes", 1)); !held(r) {
		t.Errorf("third author, one word changed: reasons %v, want %s", codes(r), spam.ReasonCampaign)
	} else if want := "2 other authors posted nearly the same text in the last 1h"; r.Reasons[0].Message != want {
		t.Errorf("third author, one word changed: got reason %q, want %q", r.Reasons[0].Message, want)
	}
	if r := post("a4", "The drummer is completely out of sync with the music during the second chorus."); held(r) {
		t.Errorf("unrelated text: reasons %v, want no campaign", codes(r))
	}
	if r := post("a5", "love it"); held(r) {
		t.Errorf("short text: reasons %v, want no campaign check", codes(r))
	}
	now = now.Add(2 * time.Hour)
	if r := post("a6", text); held(r) {
		t.Errorf("copy after the window: reasons %v, want no campaign", codes(r))
	}
}

// TestCampaignDisguisedCopies: a campaign that writes each copy with other look-alike letters,
// accents, marks stacked on the letters or invisible characters shows readers the same text, and
// must be held as a campaign all the same.
func TestCampaignDisguisedCopies(t *testing.T) {
	text := "Hey everyone, check out my new channel where I post covers of popular songs every week!"
	// replace writes text with each of the letters in pairs (old, new, old, new...) replaced.
	replace := func(pairs ...string) string { return strings.NewReplacer(pairs...).Replace(text) }
	// after writes insert after every n-th letter of text.
	after := func(insert string, n int) string {
		var b strings.Builder
		i := 0
		for _, r := range text {
			b.WriteRune(r)
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				if i++; i%n == 0 {
					b.WriteString(insert)
				}
			}
		}
		return b.String()
	}
	tests := []struct {
		name   string
		copies [3]string // by three authors; the third is held
	}{
		{"cyrillic look-alikes", [3]string{
			text,
			replace("e", "\u0435", "o", "\u043e", "a", "\u0430"),
			replace("c", "\u0441", "p", "\u0440", "y", "\u0443", "x", "\u0445"),
		}},
		{"greek look-alikes", [3]string{
			text,
			replace("o", "\u03bf", "i", "\u03b9", "k", "\u03ba"),
			replace("a", "\u03b1", "v", "\u03bd", "p", "\u03c1", "H", "\u0397"),
		}},
		{"accents", [3]string{
			text,
			replace("e", "\u00e9", "o", "\u00f4", "a", "\u00e0"),
			replace("e", "e\u0300", "u", "\u00fc", "i", "\u00ef", "c", "\u00e7"),
		}},
		{"stacked marks", [3]string{
			text,
			after("\u0336", 1),
			after("\u0301\u0302\u0303", 2),
		}},
		{"invisible characters", [3]string{
			after("\u2063", 2),
			after("\u200e", 3),
			after("\u034f\ufe0f", 1),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
			s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{
				Campaigns: windowCampaigns{spam.NewWindow(time.Hour)},
				Campaign:  spam.CampaignOptions{MinAuthors: 2, Window: time.Hour, Now: func() time.Time { return now }},
			})
			if err != nil {
				t.Fatal(err)
			}
			var r spam.Result
			for i, body := range tt.copies {
				now = now.Add(time.Minute)
				r = score(t, s, spam.Input{Body: body, UserAgent: ua, AuthorKey: fmt.Sprintf("author%d", i)})
			}
			if !slices.Contains(codes(r), spam.ReasonCampaign) {
				t.Errorf("Score(%q) after two other authors posted %q and %q: reasons %v, want %s",
					tt.copies[2], tt.copies[0], tt.copies[1], codes(r), spam.ReasonCampaign)
			}
		})
	}
}

// TestCampaignSeesOtherAuthorsPastOnesManyCopies: one author's many copies (say, one on each of
// hundreds of threads) must not hide the other authors of the same text from the campaign check.
func TestCampaignSeesOtherAuthorsPastOnesManyCopies(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{
		Campaigns: windowCampaigns{spam.NewWindow(time.Hour)},
		Campaign:  spam.CampaignOptions{MinAuthors: 2, Window: time.Hour, Now: func() time.Time { return now }},
	})
	if err != nil {
		t.Fatal(err)
	}
	text := "Hey everyone, check out my new channel where I post covers of popular songs every week!"
	post := func(author string) spam.Result {
		now = now.Add(time.Second)
		return score(t, s, spam.Input{Body: text, UserAgent: ua, AuthorKey: author})
	}
	for range 300 {
		post("prolific")
	}
	post("second")
	if r := post("third"); !cmp.Equal(codes(r), []string{spam.ReasonCampaign}) {
		t.Errorf("third author after 300 copies by one and 1 by another: reasons %v, want %s (2 other authors)", codes(r), spam.ReasonCampaign)
	}
}

// failingCounts is a stub whose every call fails, to check that store errors reach the caller.
type failingCounts struct{ err error }

func (f failingCounts) TokenCounts(context.Context, []string, []int64, []int64) (spam.Totals, error) {
	return spam.Totals{}, f.err
}
func (f failingCounts) Train(context.Context, []string, bool, int64) error { return f.err }

func TestStoreErrors(t *testing.T) {
	errDown := errors.New("store down")
	s, err := spam.NewScorer(failingCounts{errDown}, spam.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := spam.Input{Body: "hello", UserAgent: ua}
	if _, err := s.Score(ctx, in); !errors.Is(err, errDown) {
		t.Errorf("Score with a failing store: error %v, want it to wrap %v", err, errDown)
	}
	if err := s.Train(ctx, in, true); !errors.Is(err, errDown) {
		t.Errorf("Train with a failing store: error %v, want it to wrap %v", err, errDown)
	}
	if err := s.Untrain(ctx, in, true); !errors.Is(err, errDown) {
		t.Errorf("Untrain with a failing store: error %v, want it to wrap %v", err, errDown)
	}
}

func TestNewScorerRejectsBadOptions(t *testing.T) {
	for _, opts := range []spam.Options{
		{HoldAt: 0.9, SpamAt: 0.5},
		{HoldAt: -0.1},
		{SpamAt: 1.5},
		{Model: spam.Model(7)},
		{Rules: spam.RuleOptions{HoldList: []string{"/(/"}}},
	} {
		if _, err := spam.NewScorer(spamtest.NewCounts(), opts); !errors.Is(err, spam.ErrInvalidOptions) {
			t.Errorf("NewScorer(%+v) error = %v, want ErrInvalidOptions", opts, err)
		}
	}
}

// Tokens are stored in clear, so they must never hold an author's address or IP, nor an address,
// an IP address or a link's path written in the body (words, character n-grams and link tokens).
func TestTrainingStoresNoPersonalData(t *testing.T) {
	counts := spamtest.NewCounts()
	s, err := spam.NewScorer(counts, spam.Options{})
	if err != nil {
		t.Fatal(err)
	}
	email, _ := privacy.ParseEmail("jane.doe@example.com")
	ip, _ := privacy.ParseIP("203.0.113.9")
	in := spam.Input{
		Body: "write to john.smith@mail.example or jane.doe@example.com, my ip is 198.51.100.23 " +
			"and my page is http://example.com/users/?name=jane.doe@example.com",
		Email: email, IP: ip, UserAgent: ua, AuthorName: "Jane",
	}
	if err := s.Train(context.Background(), in, true); err != nil {
		t.Fatal(err)
	}
	for _, tok := range counts.Tokens() {
		for _, secret := range []string{"jane.doe", "jane doe", "doe", "john", "smith", "203", "113", "198", "n:51", "name="} {
			if strings.Contains(tok, secret) {
				t.Errorf("Train stored token %q, which reveals %q", tok, secret)
			}
		}
	}
}

// benchBody is a comment of some 570 characters with little repetition: the costly case for the
// tokeniser and the counts lookup, since nearly every word and character n-gram is distinct.
const benchBody = "Hey everyone! I just uploaded a brand new cover of this song to my channel and would really " +
	"appreciate it if you could check it out, leave a comment about what you think and maybe subscribe " +
	"if you enjoy it. I have been practising guitar for six years now, recording in my bedroom with a " +
	"cheap microphone, so every single view means a lot to me. Next week I am planning a live stream " +
	"where we can talk about music, gear and songwriting. Thanks so much for reading this far, you are " +
	"all amazing and I hope you have a wonderful day!"

func BenchmarkScore(b *testing.B) {
	counts := spamtest.NewCounts()
	s, err := spam.NewScorer(counts, spam.Options{})
	if err != nil {
		b.Fatal(err)
	}
	// withCampaign also runs the campaign check (its fingerprint), against a store that finds
	// nothing: what the scorer itself spends, not the store.
	withCampaign, err := spam.NewScorer(counts, spam.Options{Campaigns: noCampaigns{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range 50 {
		_ = s.Train(ctx, spam.Input{Body: spamBodies[i%len(spamBodies)]}, true)
		_ = s.Train(ctx, spam.Input{Body: hamBodies[i%len(hamBodies)]}, false)
	}
	accented := strings.Repeat("Le conseil a approuvé le budget après une très longue nuit de débats. ", 8)
	for _, bc := range []struct {
		name     string
		body     string
		campaign bool
	}{
		{"repetitive", strings.Repeat("check out my new channel, it has great songs! ", 10) + "http://example.com/c", false},
		{"varied", benchBody, false},
		{"varied-campaign", benchBody, true},
		// Accents, as in most languages written in Latin letters: the campaign check reads such
		// text through comment.Skeleton, which ASCII text skips.
		{"accented", accented, false},
		{"accented-campaign", accented, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := spam.Input{Body: bc.body, UserAgent: ua}
			// Train the comment itself, so every one of its tokens is found in the counts.
			_ = s.Train(ctx, in, true)
			scorer := s
			if bc.campaign {
				scorer, in.AuthorKey = withCampaign, "author"
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scorer.Score(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// noCampaigns is a spam.Campaigns that records nothing and finds nothing.
type noCampaigns struct{}

func (noCampaigns) Observe(context.Context, spam.Sighting, time.Duration, int) ([]spam.Sighting, error) {
	return nil, nil
}

// MinTrained counts each class: many spam and too little ham still abstains.
func TestClassifierAbstainsUntilBothClassesTrained(t *testing.T) {
	ctx := context.Background()
	s, err := spam.NewScorer(spamtest.NewCounts(), spam.Options{MinTrained: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Train(ctx, spam.Input{Body: spamBodies[i%len(spamBodies)]}, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := s.Train(ctx, spam.Input{Body: hamBodies[i]}, false); err != nil {
			t.Fatal(err)
		}
	}
	in := spam.Input{Body: spamBodies[0], UserAgent: ua}
	if r := score(t, s, in); r.Score != 0.5 || r.Decision != spam.DecisionPublish {
		t.Errorf("Score with 5 spam and 2 ham trained (minimum 3 of each) = %+v, want score 0.5, publish", r)
	}
}
