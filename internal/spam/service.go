package spam

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/comment"
)

// ErrModelNotFound: no scratch model of that name (it was never trained, was deleted, or expired).
var ErrModelNotFound = errors.New("spam: model not found")

// ErrTrainingCut marks an error of Train after training began: the model keeps the steps that
// finished before it (a resend with the request id trains only the rest), so some of the
// examples may be trained.
var ErrTrainingCut = errors.New("spam: training cut short")

// MaxTrainExamples bounds one Train call.
const MaxTrainExamples = 1000

var modelNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// ValidModelName reports whether name is a well-formed scratch model name. The site's model has
// no name (""), so no scratch model can be mistaken for it.
func ValidModelName(name string) bool { return modelNamePattern.MatchString(name) }

// Labelled is one training example, as features.
type Labelled struct {
	Tokens []string
	Spam   bool
}

// ModelStore keeps spam models: the site's ("") and scratch models for evaluations.
type ModelStore interface {
	// TrainModel trains examples into model in one or more atomic, idempotent steps (a step the
	// Redis client resends is not applied twice). With a requestID, a step that an earlier call
	// with the same requestID and examples applied is not applied again, so a call that failed
	// part way can be resent; repeated counts the examples of such steps. A scratch model is
	// created by its first training. The site's model is trained for every server at once.
	TrainModel(ctx context.Context, model, requestID string, examples []Labelled) (repeated int, err error)
	// ModelCounts returns the counts of a scratch model, read from the store on every call (a
	// scratch model is not mirrored). Reads of a model that does not exist fail with
	// ErrModelNotFound.
	ModelCounts(model string) Counts
	// DeleteModel deletes a scratch model, or returns ErrModelNotFound.
	DeleteModel(ctx context.Context, model string) error
}

// Bans refuses a draft whose author or address is banned, without counting anything: the abuse
// checks' read-only ban lookup. It returns the error the submission would have got.
type Bans interface {
	CheckBan(ctx context.Context, d *comment.Draft) error
}

// Threads says what the store would refuse about a submission's thread and parent, reading only:
// comment.ErrThreadClosed, comment.ErrParentNotFound, comment.ErrParentNotPublished or
// comment.ErrReplyTooDeep, as
// comment.Store.Create would return them for a comment of threadID replying to parentID ("" for
// none) stored now, or nil.
type Threads interface {
	CheckThread(ctx context.Context, threadID, parentID string) error
}

// Histories reads authors' records by keyed email hash.
type Histories interface {
	AuthorHistories(ctx context.Context, authorKeys []string) ([]comment.AuthorHistory, error)
}

// ServiceOptions configures a Service.
type ServiceOptions struct {
	Limits    comment.Limits // the submission limits, as comment.Service has them
	Bans      Bans           // optional: no ban check without it
	Threads   Threads        // optional: no check of the thread and the parent without it
	Histories Histories      // optional: Check reads the author's record when set
}

// Service checks submissions without storing them, and trains and deletes models.
type Service struct {
	engine *Engine
	models ModelStore
	opts   ServiceOptions
}

// NewService builds a Service.
func NewService(e *Engine, models ModelStore, opts ServiceOptions) *Service {
	return &Service{engine: e, models: models, opts: opts}
}

// Check runs every check a submission would go through (validation, bans, the thread and the
// parent, spam) and returns the verdict. A submission the store would refuse (a closed thread, a
// parent not found in the thread or not published) gets the error comment.Service.Submit would
// return, so a site that checks first is not told a comment is fine that Submit then refuses. It
// stores nothing and counts nothing: no rate limit, no campaign sighting, no training. model is
// "" for the site's model or a scratch model's name.
func (s *Service) Check(ctx context.Context, sub comment.Submission, model string) (Result, error) {
	d, err := s.opts.Limits.Validate(sub)
	if model != "" && !ValidModelName(model) {
		// Named with the submission's bad fields, if any.
		verr := &comment.ValidationError{}
		if !errors.As(err, &verr) && err != nil {
			return Result{}, err
		}
		verr.Add("spam_model", modelRule)
		return Result{}, verr
	}
	if err != nil {
		return Result{}, err
	}
	if s.opts.Bans != nil {
		if err := s.opts.Bans.CheckBan(ctx, &d); err != nil {
			return Result{}, err
		}
	}
	// After the bans, as Submit meets them: the screeners run before the store's refusals.
	if s.opts.Threads != nil {
		if err := s.opts.Threads.CheckThread(ctx, d.ThreadID, d.ParentID); err != nil {
			return Result{}, comment.ParentError(err)
		}
	}
	in := s.engine.Input(&d)
	if s.opts.Histories != nil && in.AuthorKey != "" {
		hs, err := s.opts.Histories.AuthorHistories(ctx, []string{in.AuthorKey})
		if err != nil {
			return Result{}, fmt.Errorf("read author's record: %w", err)
		}
		if len(hs) == 1 {
			in.History = AuthorHistory{Approved: int(hs[0].Approved), Rejected: int(hs[0].Rejected), Spam: int(hs[0].Spam)}
		}
	}
	var counts Counts
	if model != "" {
		counts = s.models.ModelCounts(model)
	}
	return s.engine.Check(ctx, in, counts)
}

// Train trains a model with 1 to MaxTrainExamples labelled comments and returns how many it
// learnt (all of them) and how many of those an earlier call with the same requestID had trained
// already (they count once). Each body must be valid text within the submission limits.
// requestID, when not empty, makes a resend of a call that failed part way train only what the
// first call did not (see ModelStore.TrainModel).
func (s *Service) Train(ctx context.Context, model, requestID string, examples []Example) (trained, repeated int, err error) {
	var verr comment.ValidationError
	if model != "" && !ValidModelName(model) {
		verr.Add("spam_model", modelRule)
	}
	if requestID != "" && !comment.ValidRequestID(requestID) {
		verr.Add("request_id", comment.RequestIDRule)
	}
	switch n := len(examples); {
	case n == 0:
		verr.Add("examples", fmt.Sprintf("required: 1 to %d examples", MaxTrainExamples))
	case n > MaxTrainExamples:
		verr.Add("examples", fmt.Sprintf("at most %d examples per call, got %d", MaxTrainExamples, n))
	}
	maxChars := s.opts.Limits.MaxBodyChars
	if maxChars <= 0 {
		maxChars = comment.DefaultMaxBodyChars
	}
	if len(examples) > MaxTrainExamples {
		// Refused whatever the examples hold: reading and tokenising a list this long first would
		// spend the server's time and memory on a call that cannot succeed.
		examples = nil
	}
	labelled := make([]Labelled, 0, len(examples))
	for i, x := range examples {
		field := fmt.Sprintf("examples[%d].body", i)
		// Composed (NFC) as a submission's body is stored and scored: the tokeniser does not
		// compose, so an example whose accents came as combining marks would otherwise train
		// tokens no submission has.
		body := norm.NFC.String(strings.TrimSpace(x.Body))
		switch {
		case !utf8.ValidString(x.Body):
			verr.Add(field, "not valid UTF-8")
		case body == "":
			verr.Add(field, "required")
		case !comment.Visible(body):
			// Refused as a submission's body is: it trains nothing but a length token.
			verr.Add(field, "required: it holds only invisible characters")
		case comment.TextLength(body) > maxChars:
			verr.Add(field, fmt.Sprintf("too long: at most %d characters", maxChars))
		default:
			labelled = append(labelled, Labelled{Tokens: Features(Input{Body: body}), Spam: x.Spam})
		}
		if len(verr.Violations) >= 20 {
			break // enough to fix a file; a thousand lines of errors help nobody
		}
	}
	if err := verr.Err(); err != nil {
		return 0, 0, err
	}
	repeated, err = s.models.TrainModel(ctx, model, requestID, labelled)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrTrainingCut, err)
	}
	return len(labelled), repeated, nil
}

// DeleteModel deletes a scratch model. The site's model cannot be deleted: it has no name.
func (s *Service) DeleteModel(ctx context.Context, model string) error {
	switch {
	case model == "":
		return &comment.ValidationError{Violations: []comment.FieldViolation{{Field: "spam_model", Description: "required: a scratch model's name (the site's model cannot be deleted)"}}}
	case !ValidModelName(model):
		return badModel()
	}
	return s.models.DeleteModel(ctx, model)
}

const modelRule = "a scratch model name is 1 to 40 letters, digits, '_' or '-'; empty means the site's model"

func badModel() error {
	return &comment.ValidationError{Violations: []comment.FieldViolation{{Field: "spam_model", Description: modelRule}}}
}
