package spam_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// recordedLessons is a spam.Lessons that keeps what it is told.
type recordedLessons struct {
	got   []spam.Lesson
	moves []refeatured
}

type refeatured struct {
	id       string
	from, to []string
}

func (r *recordedLessons) Learn(_ context.Context, l spam.Lesson) error {
	r.got = append(r.got, l)
	return nil
}

func (r *recordedLessons) Refeature(_ context.Context, id string, from, to []string) error {
	r.moves = append(r.moves, refeatured{id: id, from: from, to: to})
	return nil
}

// TestLearnerRefeature: an anonymised comment's training moves from the features it was trained
// with (its author's name and email domain among them) to those it has now.
func TestLearnerRefeature(t *testing.T) {
	keys := testKeyring(t)
	email, _ := privacy.ParseEmail("reader@news.example")
	const id = "00abd"
	sealed, err := keys.SealEmail(email, id)
	if err != nil {
		t.Fatalf("SealEmail: %v", err)
	}
	before := comment.Comment{ID: id, AuthorKey: "ak1", AuthorName: "Zebediah Quux", EmailSealed: sealed, Body: "the council budget does not add up"}
	after := before
	after.AuthorName, after.EmailSealed, after.AuthorKey = "Anonymous", "", ""
	store := &recordedLessons{}
	if err := spam.NewLearner(store, keys).Refeature(context.Background(), before, after); err != nil {
		t.Fatalf("Refeature = %v", err)
	}
	want := []refeatured{{
		id:   id,
		from: spam.Features(spam.Input{Body: before.Body, AuthorName: "Zebediah Quux", Email: email}),
		to:   spam.Features(spam.Input{Body: before.Body, AuthorName: "Anonymous"}),
	}}
	if diff := cmp.Diff(want, store.moves, cmp.AllowUnexported(refeatured{})); diff != "" {
		t.Errorf("Refeature moved (-want +got):\n%s", diff)
	}
	if len(store.got) != 0 {
		t.Errorf("Refeature stored lessons %+v, want none (the label and the author's record stay)", store.got)
	}
	if cmp.Equal(want[0].from, want[0].to) {
		t.Fatalf("the name and email are not features: the test shows nothing")
	}
}

func TestLearnerLessons(t *testing.T) {
	keys := testKeyring(t)
	email, ok := privacy.ParseEmail("reader@news.example")
	if !ok {
		t.Fatal("ParseEmail(reader@news.example) failed")
	}
	const id = "00abc"
	sealed, err := keys.SealEmail(email, id)
	if err != nil {
		t.Fatalf("SealEmail: %v", err)
	}
	base := comment.Comment{ID: id, AuthorKey: "ak1", AuthorName: "Jane Reader", EmailSealed: sealed, Body: "the council budget does not add up"}
	tests := []struct {
		state       comment.State
		decided     bool // a moderator's decision left the comment in state
		wantLabel   spam.Label
		wantOutcome spam.Outcome
	}{
		{comment.StatePublished, true, spam.LabelHam, spam.OutcomeApproved},
		{comment.StateSpam, true, spam.LabelSpam, spam.OutcomeSpam},
		{comment.StateRejected, true, spam.LabelNone, spam.OutcomeRejected},
		{comment.StatePending, true, spam.LabelNone, spam.OutcomeNone},
		// The checks' own verdicts teach nothing, even when a moderator approves a comment the
		// checks published (the store records no decision for it).
		{comment.StatePublished, false, spam.LabelNone, spam.OutcomeNone},
		{comment.StateSpam, false, spam.LabelNone, spam.OutcomeNone},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s decided %v", tt.state, tt.decided), func(t *testing.T) {
			store := &recordedLessons{}
			c := base
			c.State = tt.state
			if tt.decided {
				c.Decision = &comment.Decision{Moderator: "mod", To: tt.state}
			}
			if err := spam.NewLearner(store, keys).Learn(context.Background(), c); err != nil {
				t.Fatalf("called Learn(%s comment), got error %v", tt.state, err)
			}
			if len(store.got) != 1 {
				t.Fatalf("called Learn(%s comment), got %d lessons stored, want 1", tt.state, len(store.got))
			}
			l := store.got[0]
			if l.CommentID != id || l.AuthorKey != "ak1" || l.Label != tt.wantLabel || l.Outcome != tt.wantOutcome {
				t.Errorf("called Learn(%s comment), got lesson %+v, want id %s, author ak1, label %v, outcome %v", tt.state, l, id, tt.wantLabel, tt.wantOutcome)
			}
			// The features are those the comment was scored with: body, name and email domain.
			want := spam.Features(spam.Input{Body: c.Body, AuthorName: c.AuthorName, Email: email})
			if diff := cmp.Diff(want, l.Tokens); diff != "" {
				t.Errorf("called Learn, got tokens diff (-want +got):\n%s", diff)
			}
			// And those it has once anonymised, with which the label is untrained after an
			// erasure moved it.
			wantAnon := spam.Features(spam.Input{Body: c.Body, AuthorName: comment.ErasedAuthorName})
			if diff := cmp.Diff(wantAnon, l.Anonymised); diff != "" {
				t.Errorf("called Learn, got anonymised tokens diff (-want +got):\n%s", diff)
			}
			for _, tok := range l.Tokens {
				if strings.Contains(tok, "reader@") {
					t.Errorf("called Learn, got token %q holding the address", tok)
				}
			}
		})
	}
}

// stubModels is a spam.ModelStore whose scratch models are in memory.
type stubModels struct {
	models     map[string]*spamtest.Counts
	trained    map[string][]spam.Labelled
	requestIDs []string // of every TrainModel call, in order
}

func newStubModels() *stubModels {
	return &stubModels{models: map[string]*spamtest.Counts{}, trained: map[string][]spam.Labelled{}}
}

func (m *stubModels) TrainModel(ctx context.Context, model, requestID string, xs []spam.Labelled) (int, error) {
	m.requestIDs = append(m.requestIDs, requestID)
	c := m.models[model]
	if c == nil {
		c = spamtest.NewCounts()
		m.models[model] = c
	}
	for _, x := range xs {
		c.Train(ctx, x.Tokens, x.Spam, 1)
	}
	m.trained[model] = append(m.trained[model], xs...)
	return 0, nil
}

func (m *stubModels) ModelCounts(model string) spam.Counts {
	if c := m.models[model]; c != nil {
		return c
	}
	return brokenModel{}
}

func (m *stubModels) DeleteModel(_ context.Context, model string) error {
	if m.models[model] == nil {
		return spam.ErrModelNotFound
	}
	delete(m.models, model)
	return nil
}

type brokenModel struct{}

func (brokenModel) TokenCounts(context.Context, []string, []int64, []int64) (spam.Totals, error) {
	return spam.Totals{}, spam.ErrModelNotFound
}
func (brokenModel) Train(context.Context, []string, bool, int64) error { return spam.ErrModelNotFound }

// banAll refuses every draft with errBanned.
type banAll struct{}

var errBanned = errors.New("banned")

func (banAll) CheckBan(context.Context, *comment.Draft) error { return errBanned }

// spammerRecord says every author has a comment marked spam.
type spammerRecord struct{}

func (spammerRecord) AuthorHistories(_ context.Context, keys []string) ([]comment.AuthorHistory, error) {
	out := make([]comment.AuthorHistory, len(keys))
	for i := range out {
		out[i].Spam = 1
	}
	return out, nil
}

func TestServiceCheck(t *testing.T) {
	keys := testKeyring(t)
	ctx := context.Background()
	valid := comment.Submission{ThreadID: "t1", AuthorName: "Reader", AuthorEmail: "reader@example.org", Body: "the budget figures were revised last week", UserAgent: "ua"}
	models := newStubModels()
	models.TrainModel(ctx, "eval-1", "", nil)
	tests := []struct {
		name      string
		opts      spam.ServiceOptions
		sub       comment.Submission
		model     string
		wantErr   error
		wantField string
		wantHold  string
	}{
		{name: "clean", sub: valid},
		{name: "invalid submission", sub: comment.Submission{ThreadID: "t1"}, wantField: "body"},
		{name: "bad model name", sub: valid, model: "no spaces please", wantField: "spam_model"},
		{name: "unknown scratch model", sub: valid, model: "never-trained", wantErr: spam.ErrModelNotFound},
		{name: "scratch model", sub: valid, model: "eval-1"},
		{name: "banned", sub: valid, opts: spam.ServiceOptions{Bans: banAll{}}, wantErr: errBanned},
		{name: "author's record", sub: valid, opts: spam.ServiceOptions{Histories: spammerRecord{}}, wantHold: spam.ReasonAuthorSpam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spam.NewService(engineFor(t, keys, spam.EngineOptions{}), models, tt.opts)
			res, err := s.Check(ctx, tt.sub, tt.model)
			switch {
			case tt.wantField != "":
				if !isValidation(err, tt.wantField) {
					t.Errorf("called Check(model %q), got %v, want a validation error on %s", tt.model, err, tt.wantField)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("called Check(model %q), got %v, want %v", tt.model, err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("called Check(model %q), got error %v, want none", tt.model, err)
			case tt.wantHold != "" && !slices.Contains(reasonCodes(res.Reasons), tt.wantHold):
				t.Errorf("called Check, got reasons %v, want %s", reasonCodes(res.Reasons), tt.wantHold)
			case tt.wantHold == "" && res.Decision != spam.DecisionPublish:
				t.Errorf("called Check on a clean comment, got %v %v, want publish", res.Decision, reasonCodes(res.Reasons))
			}
		})
	}
}

// TestServiceTrainRefusesTooManyAtOnce: a list over MaxTrainExamples is refused for its length
// alone; its examples are not looked at (their empty bodies are not reported).
func TestServiceTrainRefusesTooManyAtOnce(t *testing.T) {
	models := newStubModels()
	s := spam.NewService(engineFor(t, testKeyring(t), spam.EngineOptions{}), models, spam.ServiceOptions{})
	_, _, err := s.Train(context.Background(), "", "", make([]spam.Example, spam.MaxTrainExamples+1))
	var verr *comment.ValidationError
	if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "examples" || verr.Omitted != 0 || len(models.trained) != 0 {
		t.Errorf("called Train with %d empty examples, got %v; want one violation, on examples, and nothing trained", spam.MaxTrainExamples+1, err)
	}
}

func TestServiceTrain(t *testing.T) {
	keys := testKeyring(t)
	ctx := context.Background()
	many := make([]spam.Example, spam.MaxTrainExamples+1)
	for i := range many {
		many[i] = spam.Example{Body: "x"}
	}
	// The longest body a submission may have, its line breaks sent as CR LF, and one longer.
	longest := strings.Repeat(strings.Repeat("x", 99)+"\r\n", 49) + strings.Repeat("x", 100)
	tooLong := longest + "x"
	tests := []struct {
		name      string
		model     string
		requestID string
		examples  []spam.Example
		wantField string
	}{
		{name: "site model", examples: []spam.Example{{Body: " free iphone ", Spam: true}, {Body: "nice article"}}},
		{name: "scratch model", model: "eval_2", examples: []spam.Example{{Body: "free iphone", Spam: true}}},
		{name: "request id", requestID: "train-0001", examples: []spam.Example{{Body: "free iphone", Spam: true}}},
		{name: "bad request id", requestID: "has space", examples: []spam.Example{{Body: "ok"}}, wantField: "request_id"},
		{name: "none", wantField: "examples"},
		{name: "too many", examples: many, wantField: "examples"},
		{name: "longest body with CR LF line breaks", examples: []spam.Example{{Body: longest, Spam: true}}},
		{name: "body too long", examples: []spam.Example{{Body: tooLong}}, wantField: "examples[0].body"},
		{name: "empty body", examples: []spam.Example{{Body: "ok"}, {Body: "  "}}, wantField: "examples[1].body"},
		// A submission of these is refused as blank; as an example it would train the class with
		// nothing but a length token.
		{name: "invisible body", examples: []spam.Example{{Body: "ok"}, {Body: "\u200b\u200b"}}, wantField: "examples[1].body"},
		{name: "Hangul filler body", examples: []spam.Example{{Body: " \u3164 "}}, wantField: "examples[0].body"},
		{name: "byte order mark body", examples: []spam.Example{{Body: "\ufeff", Spam: true}}, wantField: "examples[0].body"},
		{name: "zero-width space inside a word", examples: []spam.Example{{Body: "fr\u200bee iphone", Spam: true}}},
		{name: "bad model", model: "a/b", examples: []spam.Example{{Body: "ok"}}, wantField: "spam_model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			models := newStubModels()
			s := spam.NewService(engineFor(t, keys, spam.EngineOptions{}), models, spam.ServiceOptions{})
			n, repeated, err := s.Train(ctx, tt.model, tt.requestID, tt.examples)
			if tt.wantField != "" {
				if !isValidation(err, tt.wantField) || len(models.trained) != 0 {
					t.Errorf("called Train(%q, %d examples), got %d, %v and %d models trained; want a validation error on %s and nothing trained", tt.model, len(tt.examples), n, err, len(models.trained), tt.wantField)
				}
				return
			}
			if err != nil || n != len(tt.examples) || repeated != 0 {
				t.Fatalf("called Train(%q, %d examples), got %d (%d repeated), %v; want %d (0 repeated)", tt.model, len(tt.examples), n, repeated, err, len(tt.examples))
			}
			var want []spam.Labelled
			for _, x := range tt.examples {
				want = append(want, spam.Labelled{Tokens: spam.Features(spam.Input{Body: strings.TrimSpace(x.Body)}), Spam: x.Spam})
			}
			if diff := cmp.Diff(want, models.trained[tt.model]); diff != "" {
				t.Errorf("called Train(%q), got stored examples diff (-want +got):\n%s", tt.model, diff)
			}
			if diff := cmp.Diff([]string{tt.requestID}, models.requestIDs); diff != "" {
				t.Errorf("called Train(%q, request id %q), got the store's request ids diff (-want +got):\n%s", tt.model, tt.requestID, diff)
			}
		})
	}
}

func TestServiceDeleteModel(t *testing.T) {
	keys := testKeyring(t)
	ctx := context.Background()
	models := newStubModels()
	models.TrainModel(ctx, "eval-1", "", nil)
	s := spam.NewService(engineFor(t, keys, spam.EngineOptions{}), models, spam.ServiceOptions{})
	if err := s.DeleteModel(ctx, ""); !isValidation(err, "spam_model") {
		t.Errorf("called DeleteModel(site model), got %v, want a validation error on spam_model", err)
	}
	if err := s.DeleteModel(ctx, "eval-1"); err != nil {
		t.Errorf("called DeleteModel(eval-1), got %v, want success", err)
	}
	if err := s.DeleteModel(ctx, "eval-1"); !errors.Is(err, spam.ErrModelNotFound) {
		t.Errorf("called DeleteModel(eval-1) twice, got %v, want ErrModelNotFound", err)
	}
}

// TestServiceTrainComposesBodies: a training example teaches the features a submission of the same
// text is scored with. Submissions are stored and scored composed (NFC); an example sent with its
// accents as combining marks (as some systems write text) must train the same tokens, not ones no
// submission ever has.
func TestServiceTrainComposesBodies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, body, composed string
	}{
		{name: "combining acute", body: "Caf\u00e9 cre\u0301me offer, visit now", composed: "Caf\u00e9 cr\u00e9me offer, visit now"},
		{name: "combining diaeresis and ring", body: "  Zu\u0308rich A\u030angstro\u0308m  ", composed: "Z\u00fcrich \u00c5ngstr\u00f6m"},
		{name: "already composed", body: "na\u00efve r\u00e9sum\u00e9", composed: "na\u00efve r\u00e9sum\u00e9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			models := newStubModels()
			s := spam.NewService(engineFor(t, testKeyring(t), spam.EngineOptions{}), models, spam.ServiceOptions{})
			if _, _, err := s.Train(ctx, "", "", []spam.Example{{Body: tt.body, Spam: true}}); err != nil {
				t.Fatalf("called Train(%q), got %v, want success", tt.body, err)
			}
			sub := comment.Submission{ThreadID: "t1", AuthorName: "Reader", AuthorEmail: "reader@example.org", Body: tt.body, UserAgent: "ua"}
			d, err := comment.Limits{}.Validate(sub)
			if err != nil {
				t.Fatalf("validate a submission of %q: %v", tt.body, err)
			}
			if d.Body != tt.composed {
				t.Fatalf("validate a submission of %q: body %q, want %q", tt.body, d.Body, tt.composed)
			}
			want := []spam.Labelled{{Tokens: spam.Features(spam.Input{Body: d.Body}), Spam: true}}
			if diff := cmp.Diff(want, models.trained[""]); diff != "" {
				t.Errorf("called Train(%q), got trained examples diff from the submission's features (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}
