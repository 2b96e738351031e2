package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/commentd/commentd/internal/spam"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// spamState is what the spam test double remembers: every request, and the examples each model
// was trained with.
type spamState struct {
	mu      sync.Mutex
	reqs    []proto.Message
	trained map[string][]*commentdv1.TrainingExample
	filters []*commentdv1.Filter
	failOn  string // a comment name or body whose call fails
	// trainErrs are the errors of the next TrainSpam calls, in turn (nil: the call succeeds).
	trainErrs []error
	// trainedIDs are the request ids of the TrainSpam calls that succeeded: a resend trains
	// nothing and reports its examples as already trained, as the server does.
	trainedIDs map[string]bool
}

func (s *spamState) record(m proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, proto.Clone(m))
}

// requests returns the recorded requests of type T, in arrival order.
func requestsOf[T proto.Message](s *spamState) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []T
	for _, r := range s.reqs {
		if v, ok := r.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// spamModeration is the ModerationService half of the double.
type spamModeration struct {
	commentdv1.UnimplementedModerationServiceServer
	*spamState
}

func (f spamModeration) decided(name string, st commentdv1.State) (*commentdv1.ModeratedComment, error) {
	if name == f.failOn {
		return nil, status.Error(codes.FailedPrecondition, "the comment cannot become that")
	}
	id := strings.TrimPrefix(name, "comments/")
	return &commentdv1.ModeratedComment{Comment: &commentdv1.Comment{Name: name, Id: id, State: st}}, nil
}

func (f spamModeration) MarkSpam(_ context.Context, r *commentdv1.MarkSpamRequest) (*commentdv1.MarkSpamResponse, error) {
	f.record(r)
	mc, err := f.decided(r.GetName(), commentdv1.State_STATE_SPAM)
	return &commentdv1.MarkSpamResponse{Comment: mc}, err
}

func (f spamModeration) MarkNotSpam(_ context.Context, r *commentdv1.MarkNotSpamRequest) (*commentdv1.MarkNotSpamResponse, error) {
	f.record(r)
	mc, err := f.decided(r.GetName(), commentdv1.State_STATE_PENDING)
	return &commentdv1.MarkNotSpamResponse{Comment: mc}, err
}

func (f spamModeration) TrainSpam(_ context.Context, r *commentdv1.TrainSpamRequest) (*commentdv1.TrainSpamResponse, error) {
	f.record(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(r.GetExamples()) > spam.MaxTrainExamples {
		return nil, status.Error(codes.InvalidArgument, "too many examples")
	}
	if len(f.trainErrs) > 0 {
		err := f.trainErrs[0]
		f.trainErrs = f.trainErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	n := int32(len(r.GetExamples()))
	if id := r.GetRequestId(); id != "" {
		if f.trainedIDs[id] {
			return &commentdv1.TrainSpamResponse{Trained: n, AlreadyTrained: n}, nil
		}
		if f.trainedIDs == nil {
			f.trainedIDs = map[string]bool{}
		}
		f.trainedIDs[id] = true
	}
	f.trained[r.GetSpamModel()] = append(f.trained[r.GetSpamModel()], r.GetExamples()...)
	return &commentdv1.TrainSpamResponse{Trained: n}, nil
}

func (f spamModeration) DeleteSpamModel(_ context.Context, r *commentdv1.DeleteSpamModelRequest) (*commentdv1.DeleteSpamModelResponse, error) {
	f.record(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.trained[r.GetSpamModel()]; !ok {
		return nil, status.Error(codes.NotFound, "no such model")
	}
	delete(f.trained, r.GetSpamModel())
	return &commentdv1.DeleteSpamModelResponse{}, nil
}

// spamSite is the CommentService half: CheckComment decides by the words of the body, and
// refuses a model that was never trained.
type spamSite struct {
	commentdv1.UnimplementedCommentServiceServer
	*spamState
}

// fakeDecision is the double's rule: "buy" marks spam, "maybe" holds, anything else publishes.
func fakeDecision(body string) commentdv1.SpamDecision {
	switch {
	case strings.Contains(body, "buy"):
		return commentdv1.SpamDecision_SPAM_DECISION_SPAM
	case strings.Contains(body, "maybe"):
		return commentdv1.SpamDecision_SPAM_DECISION_HOLD
	}
	return commentdv1.SpamDecision_SPAM_DECISION_PUBLISH
}

func (f spamSite) CheckComment(_ context.Context, r *commentdv1.CheckCommentRequest) (*commentdv1.CheckCommentResponse, error) {
	f.record(r)
	f.mu.Lock()
	_, trained := f.trained[r.GetSpamModel()]
	f.mu.Unlock()
	if !trained {
		return nil, status.Error(codes.NotFound, "no such model")
	}
	if r.GetComment().GetBody() == f.failOn {
		return nil, status.Error(codes.Unavailable, "store unavailable")
	}
	return &commentdv1.CheckCommentResponse{Decision: fakeDecision(r.GetComment().GetBody()), SpamScore: 0.5}, nil
}

// serveSpamDouble runs both halves on a loopback gRPC server until the test ends.
func serveSpamDouble(t *testing.T, s *spamState) string {
	t.Helper()
	if s.trained == nil {
		s.trained = map[string][]*commentdv1.TrainingExample{}
	}
	srv := grpc.NewServer()
	commentdv1.RegisterModerationServiceServer(srv, spamModeration{spamState: s})
	commentdv1.RegisterCommentServiceServer(srv, spamSite{spamState: s})
	return serveLoopback(t, srv)
}

func TestSpamMark(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		failOn    string
		wantCode  int
		wantNames []string
		wantOut   string
		wantErr   string
	}{
		{name: "spam", args: []string{"spam", "c1", "comments/c2", "--reason", "link farm"}, wantNames: []string{"comments/c1", "comments/c2"},
			wantOut: "comments/c1: marked spam\ncomments/c2: marked spam\n"},
		{name: "not spam", args: []string{"not-spam", "c3", "--reason", "link farm"}, wantNames: []string{"comments/c3"}, wantOut: "comments/c3: marked not spam\n"},
		{name: "one fails", args: []string{"spam", "c4", "c5"}, failOn: "comments/c5", wantCode: exitError, wantNames: []string{"comments/c4", "comments/c5"},
			wantOut: "comments/c4: marked spam\n", wantErr: "comments/c5: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &spamState{failOn: tt.failOn}
			args := withServer(serveSpamDouble(t, st), tt.args...)
			got := invocation{args: args}.run(t)
			if got.code != tt.wantCode || got.stdout != tt.wantOut || !strings.Contains(got.stderr, tt.wantErr) {
				t.Errorf("%s: got exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q", cmdline(args), got.code, got.stdout, got.stderr, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			var names, reasons []string
			if tt.args[0] == "spam" {
				for _, r := range requestsOf[*commentdv1.MarkSpamRequest](st) {
					names, reasons = append(names, r.GetName()), append(reasons, r.GetReason())
				}
			} else {
				for _, r := range requestsOf[*commentdv1.MarkNotSpamRequest](st) {
					names, reasons = append(names, r.GetName()), append(reasons, r.GetReason())
				}
			}
			slices.Sort(names)
			if diff := cmp.Diff(tt.wantNames, names); diff != "" {
				t.Errorf("%s: got names sent diff (-want +got):\n%s", cmdline(args), diff)
			}
			if slices.Contains(tt.args, "--reason") && slices.ContainsFunc(reasons, func(r string) bool { return r != "link farm" }) {
				t.Errorf("%s: got reasons %q, want every one %q", cmdline(args), reasons, "link farm")
			}
		})
	}
}

// spamFile writes content to a file named name in a fresh directory and returns its path.
func spamFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// csvOf renders examples as a YouTube Spam Collection file: a byte order mark, columns the reader
// must ignore, and U+FEFF inside the text that it must strip.
func csvOf(xs []spam.Example) string {
	var b strings.Builder
	b.WriteString("\uFEFFCOMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n")
	for i, x := range xs {
		class := "0"
		if x.Spam {
			class = "1"
		}
		fmt.Fprintf(&b, "id%d,\"Author, %d\",2015-01-01,\"%s\uFEFF\",%s\n", i, i, strings.ReplaceAll(x.Body, `"`, `""`), class)
	}
	return b.String()
}

func jsonLinesOf(xs []spam.Example) string {
	var b strings.Builder
	for _, x := range xs {
		line, _ := json.Marshal(map[string]any{"body": x.Body, "spam": x.Spam, "extra": 1})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// spamExamples returns n examples, every third one spam.
func spamExamples(n int, prefix string) []spam.Example {
	out := make([]spam.Example, n)
	for i := range out {
		out[i] = spam.Example{Body: fmt.Sprintf("%s comment %d, \"quoted\"", prefix, i), Spam: i%3 == 0}
	}
	return out
}

func TestSpamTrain(t *testing.T) {
	xs := spamExamples(1200, "training")
	tests := []struct {
		name      string
		file      string
		content   string
		extra     []string
		wantModel string
	}{
		{name: "csv into the site model", file: "data.csv", content: csvOf(xs)},
		{name: "json lines into a scratch model", file: "data.jsonl", content: jsonLinesOf(xs), extra: []string{"--model", "trial-1"}, wantModel: "trial-1"},
		{name: "json lines found by content", file: "data.txt", content: jsonLinesOf(xs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &spamState{}
			args := withServer(serveSpamDouble(t, st), append([]string{"spam", "train", spamFile(t, tt.file, tt.content)}, tt.extra...)...)
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: got exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			reqs := requestsOf[*commentdv1.TrainSpamRequest](st)
			var sizes []int
			var sent []spam.Example
			for _, r := range reqs {
				if r.GetSpamModel() != tt.wantModel {
					t.Errorf("%s: got a TrainSpam call for model %q, want %q", cmdline(args), r.GetSpamModel(), tt.wantModel)
				}
				sizes = append(sizes, len(r.GetExamples()))
				for _, x := range r.GetExamples() {
					sent = append(sent, spam.Example{Body: x.GetBody(), Spam: x.GetSpam()})
				}
			}
			if diff := cmp.Diff([]int{500, 500, 200}, sizes); diff != "" {
				t.Errorf("%s: got batch sizes diff (-want +got):\n%s", cmdline(args), diff)
			}
			if diff := cmp.Diff(xs, sent); diff != "" {
				t.Errorf("%s: got examples sent diff (-want +got):\n%s", cmdline(args), diff)
			}
			if !strings.Contains(got.stdout, "1200 examples (400 spam, 800 not spam)") {
				t.Errorf("%s: got stdout %q, want the totals", cmdline(args), got.stdout)
			}
			// Not a terminal: progress lines, no bar.
			if !strings.Contains(got.stderr, "spam train: 600/1200 done") || strings.Contains(got.stderr, "\r") {
				t.Errorf("%s: got stderr %q, want progress lines and no bar", cmdline(args), got.stderr)
			}
		})
	}
}

// unavailable is the store error the server returns, asking for a retry after delay.
func unavailable(t *testing.T, delay time.Duration) error {
	t.Helper()
	st, err := status.New(codes.Unavailable, "the store is unavailable; retry later").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	if err != nil {
		t.Fatalf("status details: %v", err)
	}
	return st.Err()
}

// TestSpamTrainResends: every call carries a request id made from its examples; a call that finds
// the store unavailable is resent with the same id; running the same file again trains nothing
// twice and says so.
func TestSpamTrainResends(t *testing.T) {
	xs := spamExamples(1200, "resend")
	file := spamFile(t, "data.csv", csvOf(xs))
	st := &spamState{trainErrs: []error{nil, unavailable(t, 10*time.Millisecond), status.Error(codes.DeadlineExceeded, "late")}}
	addr := serveSpamDouble(t, st)
	args := withServer(addr, "spam", "train", file)
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: got exit %d, stderr %q; want 0 after the resends", cmdline(args), got.code, got.stderr)
	}
	var ids []string
	for _, r := range requestsOf[*commentdv1.TrainSpamRequest](st) {
		ids = append(ids, r.GetRequestId())
	}
	// Batch 1 once, batch 2 three times (two failures), batch 3 once.
	if len(ids) != 5 || ids[1] != ids[2] || ids[2] != ids[3] || len(slices.Compact(slices.Clone(ids))) != 3 || slices.Contains(ids, "") {
		t.Fatalf("%s: got request ids %q, want 3 distinct ids, the second sent three times", cmdline(args), ids)
	}
	if n := len(st.trained[""]); n != len(xs) {
		t.Errorf("%s: got %d examples trained, want %d", cmdline(args), n, len(xs))
	}

	again := invocation{args: withServer(addr, "spam", "train", file, "-o", "json")}.run(t)
	var out struct {
		Trained        int `json:"trained"`
		AlreadyTrained int `json:"alreadyTrained"`
	}
	if err := json.Unmarshal([]byte(again.stdout), &out); again.code != exitOK || err != nil {
		t.Fatalf("the same file again: got exit %d, stdout %q (%v), stderr %q", again.code, again.stdout, err, again.stderr)
	}
	reqs := requestsOf[*commentdv1.TrainSpamRequest](st)
	var againIDs []string
	for _, r := range reqs[5:] {
		againIDs = append(againIDs, r.GetRequestId())
	}
	if diff := cmp.Diff(slices.Compact(slices.Clone(ids)), againIDs); diff != "" {
		t.Errorf("the same file again: got request ids diff (-first run +second):\n%s", diff)
	}
	if out.Trained != len(xs) || out.AlreadyTrained != len(xs) || len(st.trained[""]) != len(xs) {
		t.Errorf("the same file again: got trained %d, alreadyTrained %d and %d stored, want %d, %d and %d", out.Trained, out.AlreadyTrained, len(st.trained[""]), len(xs), len(xs), len(xs))
	}
	text := invocation{args: withServer(addr, "spam", "train", file)}.run(t)
	if !strings.Contains(text.stdout, "1200 of them had been trained already (by an earlier run") {
		t.Errorf("the same file a third time: got stdout %q, want it to say the examples counted once", text.stdout)
	}

	other := invocation{args: withServer(addr, "spam", "train", file, "--model", "trial-2")}.run(t)
	if other.code != exitOK || len(st.trained["trial-2"]) != len(xs) {
		t.Errorf("the same file into another model: got exit %d and %d trained, want 0 and %d", other.code, len(st.trained["trial-2"]), len(xs))
	}
}

// TestSpamTrainGivesUp: a store that stays unavailable stops the run after trainAttempts sends of
// one batch, saying which examples are trained.
func TestSpamTrainGivesUp(t *testing.T) {
	errs := []error{nil}
	for range trainAttempts {
		errs = append(errs, unavailable(t, time.Millisecond))
	}
	st := &spamState{trainErrs: errs}
	args := withServer(serveSpamDouble(t, st), "spam", "train", spamFile(t, "data.csv", csvOf(spamExamples(1200, "down"))))
	got := invocation{args: args}.run(t)
	if got.code != exitError || !strings.Contains(got.stderr, "train examples 501 to 1000 (1 to 500 are trained, and some of these may be)") || !strings.Contains(got.stderr, "UNAVAILABLE") {
		t.Errorf("%s: got exit %d, stderr %q; want exit 1 naming the failed batch and what is trained", cmdline(args), got.code, got.stderr)
	}
	if n := len(requestsOf[*commentdv1.TrainSpamRequest](st)); n != 1+trainAttempts {
		t.Errorf("%s: got %d TrainSpam calls, want %d (one, then %d sends of the failing batch)", cmdline(args), n, 1+trainAttempts, trainAttempts)
	}
}

// TestSpamTrainSaysWhatMayBeTrained: a call cut short may have trained some of its examples (the
// server trains a call in steps and keeps those it finished), and the error says so; a call the
// server refused trained none of them, and the error does not.
func TestSpamTrainSaysWhatMayBeTrained(t *testing.T) {
	refused := statusErr(t, codes.InvalidArgument, "examples[3].body: too long", "INVALID_ARGUMENT",
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "examples[3].body", Description: "at most 5000 characters"}}})
	tests := []struct {
		name string
		errs []error
		want string
	}{
		{name: "second call cancelled", errs: []error{nil, status.Error(codes.Canceled, "context canceled")}, want: "train examples 501 to 1000 (1 to 500 are trained, and some of these may be): "},
		{name: "first call cancelled", errs: []error{status.Error(codes.Canceled, "context canceled")}, want: "train examples 1 to 500 (some of them may be trained): "},
		{name: "second call failed inside the server", errs: []error{nil, status.Error(codes.Internal, "internal error")}, want: "train examples 501 to 1000 (1 to 500 are trained, and some of these may be): "},
		{name: "second call refused", errs: []error{nil, refused}, want: "train examples 501 to 1000 (1 to 500 are trained); the server refused"},
		{name: "first call refused", errs: []error{refused}, want: "train examples 1 to 500; the server refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &spamState{trainErrs: tt.errs}
			args := withServer(serveSpamDouble(t, st), "spam", "train", spamFile(t, "data.csv", csvOf(spamExamples(1200, "cut"))))
			got := invocation{args: args}.run(t)
			if got.code != exitError || !strings.Contains(got.stderr, tt.want) {
				t.Errorf("%s: got exit %d, stderr %q; want exit 1 and %q", cmdline(args), got.code, got.stderr, tt.want)
			}
		})
	}
}

// TestSpamEvalRefused: a key that may not train gets one error that names the role it needs, and
// no attempt to delete a model that was never made.
func TestSpamEvalRefused(t *testing.T) {
	st, err := status.New(codes.PermissionDenied, "this key's role may not call this method").WithDetails(&errdetails.ErrorInfo{
		Reason: "ROLE_NOT_ALLOWED", Domain: "commentd", Metadata: map[string]string{"role": "moderator", "required_role": "admin"},
	})
	if err != nil {
		t.Fatalf("status details: %v", err)
	}
	state := &spamState{trainErrs: []error{st.Err()}}
	args := withServer(serveSpamDouble(t, state), "spam", "eval", "--train", spamFile(t, "train.csv", csvOf(spamExamples(10, "t"))), "--test", spamFile(t, "test.csv", csvOf(spamExamples(3, "u"))))
	got := invocation{args: args}.run(t)
	if got.code != exitError || !strings.Contains(got.stderr, "needs a key with role admin") || strings.Contains(got.stderr, "warning") {
		t.Errorf("%s: got exit %d, stderr %q; want exit 1, the role needed and no warning", cmdline(args), got.code, got.stderr)
	}
	if n := len(requestsOf[*commentdv1.DeleteSpamModelRequest](state)); n != 0 {
		t.Errorf("%s: got %d DeleteSpamModel calls, want none", cmdline(args), n)
	}
}

func TestSpamTrainBadFiles(t *testing.T) {
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		wantCode int
	}{
		{"missing file", func(t *testing.T) []string { return []string{"spam", "train", filepath.Join(t.TempDir(), "nope.csv")} }, exitUsage},
		{"no CLASS column", func(t *testing.T) []string {
			return []string{"spam", "train", spamFile(t, "x.csv", "CONTENT,OTHER\nhello,1\n")}
		}, exitError},
		{"bad class", func(t *testing.T) []string {
			return []string{"spam", "train", spamFile(t, "x.csv", "CONTENT,CLASS\nhello,yes\n")}
		}, exitError},
		{"empty", func(t *testing.T) []string { return []string{"spam", "train", spamFile(t, "x.jsonl", "")} }, exitError},
		{"two files", func(t *testing.T) []string { return []string{"spam", "train", "a.csv", "b.csv"} }, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &spamState{}
			args := withServer(serveSpamDouble(t, st), tt.args(t)...)
			got := invocation{args: args}.run(t)
			if got.code != tt.wantCode || len(requestsOf[*commentdv1.TrainSpamRequest](st)) != 0 {
				t.Errorf("%s: got exit %d (stderr %q) and %d calls, want exit %d and no call", cmdline(args), got.code, got.stderr, len(requestsOf[*commentdv1.TrainSpamRequest](st)), tt.wantCode)
			}
		})
	}
}

func TestSpamEval(t *testing.T) {
	train := spamExamples(700, "train")
	test := []spam.Example{
		{Body: "buy now", Spam: true}, {Body: "buy cheap", Spam: true}, {Body: "maybe buy", Spam: true},
		{Body: "maybe later", Spam: true}, {Body: "hello there", Spam: true},
		{Body: "nice piece", Spam: false}, {Body: "maybe true", Spam: false}, {Body: "i would buy it", Spam: false},
		{Body: "well written", Spam: false},
	}
	st := &spamState{}
	args := withServer(serveSpamDouble(t, st), "spam", "eval", "--train", spamFile(t, "train.csv", csvOf(train)), "--test", spamFile(t, "test.jsonl", jsonLinesOf(test)), "-o", "json")
	got := invocation{args: args}.run(t)
	if got.code != exitOK {
		t.Fatalf("%s: got exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
	}
	var out struct {
		Model         string  `json:"model"`
		Trained       int     `json:"trained"`
		SpamCaught    float64 `json:"spamCaught"`
		HamMarkedSpam float64 `json:"hamMarkedSpam"`
		HamHeld       float64 `json:"hamHeld"`
		F1            float64 `json:"f1"`
		MCC           float64 `json:"mcc"`
	}
	if err := json.Unmarshal([]byte(got.stdout), &out); err != nil {
		t.Fatalf("%s: stdout %q is not JSON: %v", cmdline(args), got.stdout, err)
	}

	// What the numbers must be, from the double's rule and the labels.
	var c spam.Confusion
	var hamHeld, ham int
	for _, x := range test {
		d := fakeDecision(x.Body)
		marked := d == commentdv1.SpamDecision_SPAM_DECISION_SPAM
		switch {
		case x.Spam && marked:
			c.TP++
		case x.Spam:
			c.FN++
		case marked:
			c.FP++
		default:
			c.TN++
		}
		if !x.Spam {
			ham++
			if d == commentdv1.SpamDecision_SPAM_DECISION_HOLD {
				hamHeld++
			}
		}
	}
	want := []float64{c.SpamCaught(), c.HamBlocked(), float64(hamHeld) / float64(ham), c.F1(), c.MCC()}
	gotNums := []float64{out.SpamCaught, out.HamMarkedSpam, out.HamHeld, out.F1, out.MCC}
	if diff := cmp.Diff(want, gotNums, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })); diff != "" {
		t.Errorf("%s: got [caught, ham marked spam, ham held, F1, MCC] diff (-want +got):\n%s", cmdline(args), diff)
	}

	if !strings.HasPrefix(out.Model, "eval-") || out.Trained != len(train) {
		t.Errorf("%s: got model %q trained with %d, want a fresh eval- model trained with %d", cmdline(args), out.Model, out.Trained, len(train))
	}
	trainCalls := requestsOf[*commentdv1.TrainSpamRequest](st)
	checks := requestsOf[*commentdv1.CheckCommentRequest](st)
	deletes := requestsOf[*commentdv1.DeleteSpamModelRequest](st)
	if len(trainCalls) != 2 || len(checks) != len(test) || len(deletes) != 1 || deletes[0].GetSpamModel() != out.Model {
		t.Errorf("%s: got %d TrainSpam, %d CheckComment and DeleteSpamModel %v; want 2, %d and one delete of %s", cmdline(args), len(trainCalls), len(checks), deletes, len(test), out.Model)
	}
	for _, r := range checks {
		if r.GetSpamModel() != out.Model || r.GetComment().GetUserAgent() == "" {
			t.Errorf("%s: got CheckComment %v, want model %s and a user agent", cmdline(args), r, out.Model)
			break
		}
	}
}

// TestSpamEvalOneClass checks a test file of one class only: the figures of the missing class, and
// those that need both, are not measured, and must not be printed as zero ("no spam caught").
func TestSpamEvalOneClass(t *testing.T) {
	tests := []struct {
		name       string
		test       []spam.Example
		wantNull   []string // JSON fields that must be null
		wantNumber []string // JSON fields that must be numbers
		wantText   []string // lines of the text output
	}{
		{
			name:       "no spam",
			test:       []spam.Example{{Body: "nice piece"}, {Body: "maybe true"}, {Body: "i would buy it"}},
			wantNull:   []string{"spamCaught", "spamHeld", "spamPublished", "f1", "mcc"},
			wantNumber: []string{"hamMarkedSpam", "hamHeld", "moderatorLoad"},
			wantText: []string{
				"spam caught         n/a  (no spam in the test file)",
				"ham marked spam   33.3%",
				"F1                  n/a  (no spam in the test file)",
				"MCC                 n/a  (no spam in the test file)",
			},
		},
		{
			name:       "no ham",
			test:       []spam.Example{{Body: "buy now", Spam: true}, {Body: "maybe later", Spam: true}},
			wantNull:   []string{"hamMarkedSpam", "hamHeld", "mcc"},
			wantNumber: []string{"spamCaught", "spamHeld", "spamPublished", "f1", "moderatorLoad"},
			wantText: []string{
				"spam caught       50.0%  (marked spam; 50.0% more held, 0.0% published)",
				"ham marked spam     n/a  (no ham in the test file)",
				"ham held            n/a  (no ham in the test file)",
				"F1                0.667  (marked spam against the rest)",
				"MCC                 n/a  (no ham in the test file)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveSpamDouble(t, &spamState{})
			train := spamFile(t, "train.csv", csvOf(spamExamples(10, "t")))
			test := spamFile(t, "test.jsonl", jsonLinesOf(tt.test))

			args := withServer(addr, "spam", "eval", "--train", train, "--test", test, "-o", "json")
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: got exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			var out map[string]any
			if err := json.Unmarshal([]byte(got.stdout), &out); err != nil {
				t.Fatalf("%s: stdout %q is not JSON: %v", cmdline(args), got.stdout, err)
			}
			for _, f := range tt.wantNull {
				if v, ok := out[f]; !ok || v != nil {
					t.Errorf("%s: got %s = %v (present %v), want null", cmdline(args), f, v, ok)
				}
			}
			for _, f := range tt.wantNumber {
				if _, ok := out[f].(float64); !ok {
					t.Errorf("%s: got %s = %v, want a number", cmdline(args), f, out[f])
				}
			}

			args = withServer(addr, "spam", "eval", "--train", train, "--test", test)
			got = invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: got exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			lines := strings.Split(got.stdout, "\n")
			for _, want := range tt.wantText {
				if !slices.Contains(lines, want) {
					t.Errorf("%s: got stdout\n%s\nwant the line %q", cmdline(args), got.stdout, want)
				}
			}
		})
	}
}

// TestSpamEvalWarnsUntrained: a --train file with fewer than spam.DefaultMinTrained examples of a
// class leaves the classifier abstaining, so the figures are the rules' alone; the run says so.
func TestSpamEvalWarnsUntrained(t *testing.T) {
	tests := []struct {
		name     string
		train    []spam.Example
		wantWarn bool
	}{
		{"enough of each", spamExamples(3*spam.DefaultMinTrained, "t"), false}, // 10 spam, 20 not
		{"too little spam", spamExamples(3*spam.DefaultMinTrained-3, "t"), true},
		{"no ham", []spam.Example{{Body: "a", Spam: true}, {Body: "b", Spam: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := withServer(serveSpamDouble(t, &spamState{}), "spam", "eval", "--train", spamFile(t, "train.csv", csvOf(tt.train)), "--test", spamFile(t, "test.csv", csvOf(spamExamples(3, "u"))))
			got := invocation{args: args}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s: got exit %d, stderr %q; want 0", cmdline(args), got.code, got.stderr)
			}
			if warned := strings.Contains(got.stderr, "the classifier votes only once it has seen"); warned != tt.wantWarn {
				t.Errorf("%s: got stderr %q; want a warning that the classifier does not vote: %v", cmdline(args), got.stderr, tt.wantWarn)
			}
		})
	}
}

// TestSpamEvalCleansUp fails a check half way: the run fails and the scratch model is deleted.
func TestSpamEvalCleansUp(t *testing.T) {
	st := &spamState{failOn: "hello there"}
	test := []spam.Example{{Body: "buy now", Spam: true}, {Body: "hello there"}}
	args := withServer(serveSpamDouble(t, st), "spam", "eval", "--train", spamFile(t, "train.csv", csvOf(spamExamples(10, "t"))), "--test", spamFile(t, "test.csv", csvOf(test)))
	got := invocation{args: args}.run(t)
	if got.code != exitError || !strings.Contains(got.stderr, "check test comment") {
		t.Errorf("%s: got exit %d, stderr %q; want exit 1 naming the failed check", cmdline(args), got.code, got.stderr)
	}
	if st.trained == nil || len(st.trained) != 0 || len(requestsOf[*commentdv1.DeleteSpamModelRequest](st)) != 1 {
		t.Errorf("%s: got models left %v, want the scratch model deleted", cmdline(args), st.trained)
	}
}

// TestSpamEvalCleansUpAfterRefusedBatch: the server refuses the second training call (a body
// longer than its limit is INVALID_ARGUMENT), after the first made the scratch model: the run fails
// and the model is deleted, not left to expire.
func TestSpamEvalCleansUpAfterRefusedBatch(t *testing.T) {
	st := &spamState{trainErrs: []error{nil, status.Error(codes.InvalidArgument, "examples[3].body: too long")}}
	args := withServer(serveSpamDouble(t, st), "spam", "eval", "--train", spamFile(t, "train.csv", csvOf(spamExamples(trainBatch+10, "t"))), "--test", spamFile(t, "test.csv", csvOf(spamExamples(3, "u"))))
	got := invocation{args: args}.run(t)
	if got.code != exitError {
		t.Errorf("%s: got exit %d, stderr %q; want exit 1", cmdline(args), got.code, got.stderr)
	}
	if n := len(requestsOf[*commentdv1.DeleteSpamModelRequest](st)); n != 1 || len(st.trained) != 0 {
		t.Errorf("%s: got %d DeleteSpamModel calls and models left %d, want the scratch model deleted", cmdline(args), n, len(st.trained))
	}
}

// spamFilters is the word-list half of the double, served on its own.
type spamFilters struct {
	commentdv1.UnimplementedModerationServiceServer
	*spamState
}

func (f spamFilters) CreateFilter(_ context.Context, r *commentdv1.CreateFilterRequest) (*commentdv1.CreateFilterResponse, error) {
	f.record(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	nf := proto.Clone(r.GetFilter()).(*commentdv1.Filter)
	nf.Name = fmt.Sprintf("filters/%024d", len(f.filters)+1)
	nf.Moderator = "mod-a"
	nf.CreateTime = timestamppb.Now()
	f.filters = append(f.filters, nf)
	return &commentdv1.CreateFilterResponse{Filter: nf}, nil
}

func (f spamFilters) ListFilters(_ context.Context, r *commentdv1.ListFiltersRequest) (*commentdv1.ListFiltersResponse, error) {
	f.record(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []*commentdv1.Filter
	for _, x := range f.filters {
		if r.GetList() == commentdv1.FilterList_FILTER_LIST_UNSPECIFIED || x.GetList() == r.GetList() {
			match = append(match, x)
		}
	}
	// Pages of two, to make the client follow tokens.
	start := 0
	if r.GetPageToken() != "" {
		fmt.Sscan(r.GetPageToken(), &start)
	}
	end := min(start+2, len(match))
	resp := &commentdv1.ListFiltersResponse{Filters: match[start:end]}
	if end < len(match) {
		resp.NextPageToken = fmt.Sprint(end)
	}
	return resp, nil
}

func (f spamFilters) DeleteFilter(_ context.Context, r *commentdv1.DeleteFilterRequest) (*commentdv1.DeleteFilterResponse, error) {
	f.record(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.filters {
		if x.GetName() == r.GetName() {
			f.filters = slices.Delete(f.filters, i, i+1)
			return &commentdv1.DeleteFilterResponse{}, nil
		}
	}
	return nil, status.Error(codes.NotFound, "no such entry")
}

func serveFiltersDouble(t *testing.T, s *spamState) string {
	t.Helper()
	srv := grpc.NewServer()
	commentdv1.RegisterModerationServiceServer(srv, spamFilters{spamState: s})
	return serveLoopback(t, srv)
}

func TestFiltersCommands(t *testing.T) {
	st := &spamState{}
	addr := serveFiltersDouble(t, st)
	run := func(args ...string) result {
		t.Helper()
		return invocation{args: withServer(addr, args...)}.run(t)
	}
	adds := [][]string{
		{"--list", "spam", "--kind", "phrase", "cheap watches"},
		{"--list", "hold", "--kind", "domain", "example.net"},
		{"--list", "spam", "--kind", "regex", `v[i1]agra`},
	}
	for _, a := range adds {
		if got := run(append([]string{"filters", "add"}, a...)...); got.code != exitOK || !strings.Contains(got.stdout, "filters/") {
			t.Fatalf("filters add %q: got exit %d, stdout %q, stderr %q; want the new entry's name", a, got.code, got.stdout, got.stderr)
		}
	}
	wantSent := []*commentdv1.CreateFilterRequest{
		{Filter: &commentdv1.Filter{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_PHRASE, Value: "cheap watches"}},
		{Filter: &commentdv1.Filter{List: commentdv1.FilterList_FILTER_LIST_HOLD, Kind: commentdv1.FilterKind_FILTER_KIND_DOMAIN, Value: "example.net"}},
		{Filter: &commentdv1.Filter{List: commentdv1.FilterList_FILTER_LIST_SPAM, Kind: commentdv1.FilterKind_FILTER_KIND_REGEX, Value: `v[i1]agra`}},
	}
	if diff := cmp.Diff(wantSent, requestsOf[*commentdv1.CreateFilterRequest](st), protocmp.Transform()); diff != "" {
		t.Errorf("filters add: got requests diff (-want +got):\n%s", diff)
	}

	got := run("filters", "list")
	if got.code != exitOK || strings.Count(got.stdout, "filters/") != 3 || !strings.Contains(got.stdout, "cheap watches") || !strings.Contains(got.stdout, "NAME") {
		t.Errorf("filters list: got exit %d, stdout %q; want a table of the three entries across pages", got.code, got.stdout)
	}
	got = run("filters", "list", "--list", "spam", "-o", "json")
	var resp struct {
		Filters []struct{ Name, Value string }
	}
	if err := json.Unmarshal([]byte(got.stdout), &resp); err != nil || len(resp.Filters) != 2 {
		t.Errorf("filters list --list spam -o json: got %q (%v), want the two spam entries", got.stdout, err)
	}

	got = run("filters", "rm", fmt.Sprintf("%024d", 1), "filters/nope")
	if got.code != exitError || !strings.Contains(got.stdout, "removed") || !strings.Contains(got.stderr, "filters/nope") {
		t.Errorf("filters rm (one known, one not): got exit %d, stdout %q, stderr %q; want exit 1, one removed, the other reported", got.code, got.stdout, got.stderr)
	}
	if n := len(st.filters); n != 2 {
		t.Errorf("after filters rm, the double holds %d entries, want 2", n)
	}
	// -o json is one array, as for unban, so a script can read which removals failed.
	args := []string{"filters", "rm", "-o", "json", fmt.Sprintf("%024d", 2), "filters/nope"}
	got = run(args...)
	var removed []struct {
		Name  string
		OK    bool
		Error *struct{ Code string }
	}
	if err := json.Unmarshal([]byte(got.stdout), &removed); err != nil {
		t.Fatalf("%s: stdout %q is not JSON: %v", cmdline(args), got.stdout, err)
	}
	wantRemoved := []string{fmt.Sprintf("filters/%024d:true:", 2), "filters/nope:false:NOT_FOUND"}
	var gotRemoved []string
	for _, r := range removed {
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		gotRemoved = append(gotRemoved, fmt.Sprintf("%s:%t:%s", r.Name, r.OK, code))
	}
	if diff := cmp.Diff(wantRemoved, gotRemoved); diff != "" || got.code != exitError {
		t.Errorf("%s: exit %d, results mismatch (-want +got):\n%s; want exit 1", cmdline(args), got.code, diff)
	}

	for _, bad := range [][]string{
		{"filters", "add", "--list", "maybe", "--kind", "word", "x"},
		{"filters", "add", "--list", "spam", "--kind", "glob", "x"},
		{"filters", "add", "--list", "spam", "--kind", "word"},
		{"filters", "list", "--list", "maybe"},
		{"filters"},
	} {
		if got := run(bad...); got.code != exitUsage {
			t.Errorf("%s: got exit %d, stderr %q; want %d", cmdline(bad), got.code, got.stderr, exitUsage)
		}
	}
}

// TestSpamTrainNamesTheRefusedExample: the server names a bad example by its place in the call
// (examples[3]); the moderator needs its place in the file, counted over every call.
func TestSpamTrainNamesTheRefusedExample(t *testing.T) {
	refused := statusErr(t, codes.InvalidArgument, "examples[3].body: too long", "INVALID_ARGUMENT",
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "examples[3].body", Description: "at most 5000 characters"}}})
	st := &spamState{trainErrs: []error{nil, refused}}
	args := withServer(serveSpamDouble(t, st), "spam", "train", spamFile(t, "train.csv", csvOf(spamExamples(trainBatch+10, "t"))))
	got := invocation{args: args}.run(t)
	want := fmt.Sprintf("example %d of the file", trainBatch+4)
	if got.code != exitError || !strings.Contains(got.stderr, want) {
		t.Errorf("%s: got exit %d, stderr %q; want exit 1 and %q", cmdline(args), got.code, got.stderr, want)
	}
}
