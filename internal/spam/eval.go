package spam

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/commentd/commentd/internal/comment"
)

// This file reads labelled comments, in the two formats commentctl spam train and spam eval take,
// and tallies how a model decided them (commentctl spam eval prints a Tally). The evaluation the
// package's tests run on the YouTube Spam Collection is in evaluation_test.go.

// Example is one labelled comment.
type Example struct {
	Body string `json:"body"`
	Spam bool   `json:"spam"`
}

// ReadCSV reads comments from a CSV file with a header naming (at least) a CONTENT and a CLASS
// column, CLASS being 1 for spam and 0 for ham: the YouTube Spam Collection's format. Every other
// column is ignored on purpose: in that collection some of them leak the label. U+FEFF characters
// are removed from the text for the same reason (whether a comment ends in one tracks the label
// in two of its files).
func ReadCSV(r io.Reader) ([]Example, error) {
	cr := csv.NewReader(skipBOM(r))
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	content, class := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")) {
		case "CONTENT":
			content = i
		case "CLASS":
			class = i
		}
	}
	if content < 0 || class < 0 {
		return nil, errors.New("read csv: the header has no CONTENT or no CLASS column")
	}
	var out []Example
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read csv: %w", err)
		}
		var isSpam bool
		switch strings.TrimSpace(rec[class]) {
		case "1":
			isSpam = true
		case "0":
		default:
			line, _ := cr.FieldPos(class)
			return nil, fmt.Errorf("read csv: line %d: CLASS is %q, want 0 or 1", line, rec[class])
		}
		body := strings.ReplaceAll(rec[content], "\uFEFF", "")
		if problem := bodyProblem(body); problem != "" {
			line, _ := cr.FieldPos(content)
			return nil, fmt.Errorf("read csv: line %d: CONTENT is %s", line, problem)
		}
		out = append(out, Example{Body: body, Spam: isSpam})
	}
}

// skipBOM returns r without the byte order mark it may start with. Spreadsheet programs and
// editors write one at the start of a UTF-8 file; it belongs to no field, and left in it stops
// a quoted CSV header or the first JSON record from parsing.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len("\uFEFF")); err == nil && string(b) == "\uFEFF" {
		br.Discard(len(b))
	}
	return br
}

// jsonTypeProblem says what is wrong with a JSON lines record of the wrong type, or holding a
// field of the wrong type.
func jsonTypeProblem(e *json.UnmarshalTypeError) string {
	switch e.Field {
	case "body":
		return fmt.Sprintf("\"body\" is a JSON %s, want a string", e.Value)
	case "spam":
		return fmt.Sprintf("\"spam\" is a JSON %s, want true or false", e.Value)
	case "":
		return fmt.Sprintf("the record is a JSON %s, want one object {\"body\": \"...\", \"spam\": true} per line (JSON lines, not one JSON array)", e.Value)
	}
	return fmt.Sprintf("%q is a JSON %s", e.Field, e.Value)
}

// bodyProblem says what makes body unfit to train with ("" when nothing does): the readers check
// it, so a bad row is named by its place in the file before anything is sent, not by its index in
// a batch the server refused part way through.
func bodyProblem(body string) string {
	switch {
	case !utf8.ValidString(body):
		return "not valid UTF-8"
	case strings.TrimSpace(body) == "":
		return "empty"
	case !comment.Visible(body):
		// The server refuses it as it refuses such a submission.
		return "only invisible characters"
	}
	return ""
}

// ReadJSONLines reads one JSON object per line, {"body": "...", "spam": true}. Blank lines are
// skipped. A bad record is named by the line it starts on.
func ReadJSONLines(r io.Reader) ([]Example, error) {
	data, err := io.ReadAll(skipBOM(r))
	if err != nil {
		return nil, fmt.Errorf("read json lines: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Example
	line, counted := 1, 0 // the line at offset counted: lines are counted on from there, once
	for {
		// The next record starts after the white space that follows the last one.
		start := int(dec.InputOffset())
		start += len(data[start:]) - len(bytes.TrimLeft(data[start:], " \t\r\n"))
		line += bytes.Count(data[counted:start], []byte("\n"))
		counted = start
		var e struct {
			Body *string `json:"body"`
			Spam *bool   `json:"spam"`
		}
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			// Said in the file's terms: the decoder's own message names Go types
			// ("cannot unmarshal array into Go value of type struct { Body *string ... }").
			return nil, fmt.Errorf("read json lines: line %d: %s", line, jsonTypeProblem(typeErr))
		}
		if err != nil {
			return nil, fmt.Errorf("read json lines: line %d: %w", line, err)
		}
		if e.Body == nil || e.Spam == nil {
			return nil, fmt.Errorf("read json lines: line %d: want both \"body\" and \"spam\"", line)
		}
		body := strings.ReplaceAll(*e.Body, "\uFEFF", "")
		if problem := bodyProblem(body); problem != "" {
			return nil, fmt.Errorf("read json lines: line %d: \"body\" is %s", line, problem)
		}
		out = append(out, Example{Body: body, Spam: *e.Spam})
	}
}

// Confusion counts binary predictions with spam as the positive class.
type Confusion struct {
	TP, FN int // spam predicted spam, spam predicted ham
	FP, TN int // ham predicted spam, ham predicted ham
}

// SpamCaught is the share of spam predicted spam (recall), 0 to 1.
func (c Confusion) SpamCaught() float64 { return ratio(c.TP, c.TP+c.FN) }

// HamBlocked is the share of ham predicted spam (false positive rate), 0 to 1.
func (c Confusion) HamBlocked() float64 { return ratio(c.FP, c.FP+c.TN) }

// Accuracy is the share of correct predictions.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.TP+c.TN+c.FP+c.FN) }

// F1 is the harmonic mean of precision and recall for the spam class: 2TP / (2TP + FP + FN).
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// MCC is Matthews' correlation coefficient, -1 to 1; 0 when a row or column of the matrix is
// empty (the usual convention: the prediction carries no information).
func (c Confusion) MCC() float64 {
	tp, tn, fp, fn := float64(c.TP), float64(c.TN), float64(c.FP), float64(c.FN)
	den := math.Sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
	if den == 0 {
		return 0
	}
	return (tp*tn - fp*fn) / den
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Outcomes counts the Scorer's three-way decisions for spam and ham.
type Outcomes struct {
	Spam, Ham [3]int // indexed by decision: publish, hold, spam
}

// SpamPublished is the share of spam that went live, 0 to 1.
func (o Outcomes) SpamPublished() float64 { return ratio(o.Spam[0], sum3(o.Spam)) }

// HamLost is the share of ham marked spam, 0 to 1.
func (o Outcomes) HamLost() float64 { return ratio(o.Ham[2], sum3(o.Ham)) }

// ModeratorLoad is the share of all comments held for a moderator, 0 to 1.
func (o Outcomes) ModeratorLoad() float64 { return ratio(o.Spam[1]+o.Ham[1], sum3(o.Spam)+sum3(o.Ham)) }

func sum3(a [3]int) int { return a[0] + a[1] + a[2] }

// Tally is the quality of a run: binary predictions (Score above 0.5 means spam) and decisions.
type Tally struct {
	Confusion
	Outcomes
}

// Add counts one scored example.
func (t *Tally) Add(isSpam bool, r Result) {
	predicted := r.Score > 0.5
	switch {
	case isSpam && predicted:
		t.TP++
	case isSpam:
		t.FN++
	case predicted:
		t.FP++
	default:
		t.TN++
	}
	i := int(r.Decision) - 1
	if isSpam {
		t.Spam[i]++
	} else {
		t.Ham[i]++
	}
}

// Merge adds u's counts to t.
func (t *Tally) Merge(u Tally) {
	t.TP += u.TP
	t.FN += u.FN
	t.FP += u.FP
	t.TN += u.TN
	for i := range 3 {
		t.Spam[i] += u.Spam[i]
		t.Ham[i] += u.Ham[i]
	}
}
