package spam_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/spam"
	"github.com/commentd/commentd/internal/spam/spamtest"
)

// dataDir is the YouTube Spam Collection beside the checkout (../shared/data from the repository
// root).
const dataDir = "../../../shared/data/youtube-spam"

func TestConfusionMetrics(t *testing.T) {
	// Worked by hand: TP=40 FN=10 FP=5 TN=45 (100 messages, 50 spam).
	//   SC = 40/50 = 0.8, BH = 5/50 = 0.1, accuracy = 85/100,
	//   F1 = 2·40 / (2·40 + 5 + 10) = 80/95,
	//   MCC = (40·45 − 5·10) / √(45·50·50·55) = 1750 / √6187500 = 0.70353...
	tests := []struct {
		name                 string
		c                    spam.Confusion
		sc, bh, acc, f1, mcc float64
	}{
		{name: "mixed", c: spam.Confusion{TP: 40, FN: 10, FP: 5, TN: 45}, sc: 0.8, bh: 0.1, acc: 0.85, f1: 80.0 / 95, mcc: 1750 / math.Sqrt(6187500)},
		{name: "perfect", c: spam.Confusion{TP: 3, TN: 7}, sc: 1, bh: 0, acc: 1, f1: 1, mcc: 1},
		{name: "all wrong", c: spam.Confusion{FN: 3, FP: 7}, sc: 0, bh: 1, acc: 0, f1: 0, mcc: -1},
		// Everything predicted ham: MCC's denominator is zero, and by convention MCC is 0.
		{name: "all ham predicted", c: spam.Confusion{FN: 5, TN: 5}, sc: 0, bh: 0, acc: 0.5, f1: 0, mcc: 0},
		{name: "empty", c: spam.Confusion{}, sc: 0, bh: 0, acc: 0, f1: 0, mcc: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []float64{tt.c.SpamCaught(), tt.c.HamBlocked(), tt.c.Accuracy(), tt.c.F1(), tt.c.MCC()}
			want := []float64{tt.sc, tt.bh, tt.acc, tt.f1, tt.mcc}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-12 })); diff != "" {
				t.Errorf("metrics of %+v: [SC BH Acc F1 MCC] (-want +got):\n%s", tt.c, diff)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	// 20 spam: 1 published, 4 held, 15 blocked; 30 ham: 27 published, 2 held, 1 blocked.
	o := spam.Outcomes{Spam: [3]int{1, 4, 15}, Ham: [3]int{27, 2, 1}}
	got := []float64{o.SpamPublished(), o.HamLost(), o.ModeratorLoad()}
	want := []float64{1.0 / 20, 1.0 / 30, 6.0 / 50}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes of %+v: [spam published, ham lost, load] (-want +got):\n%s", o, diff)
	}
}

func TestTallyAdd(t *testing.T) {
	var got spam.Tally
	got.Add(true, spam.Result{Score: 0.9, Decision: spam.DecisionSpam})
	got.Add(true, spam.Result{Score: 0.5, Decision: spam.DecisionHold}) // 0.5 is not above 0.5: predicted ham
	got.Add(false, spam.Result{Score: 0.7, Decision: spam.DecisionHold})
	got.Add(false, spam.Result{Score: 0.1, Decision: spam.DecisionPublish})
	want := spam.Tally{
		Confusion: spam.Confusion{TP: 1, FN: 1, FP: 1, TN: 1},
		Outcomes:  spam.Outcomes{Spam: [3]int{0, 1, 1}, Ham: [3]int{1, 1, 0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tally after four Adds (-want +got):\n%s", diff)
	}
}

func TestChooseThresholds(t *testing.T) {
	var xs []spam.Scored
	for _, x := range []float64{0.1, 0.5, 0.6, 0.9, 0.95} {
		xs = append(xs, spam.Scored{Score: x, Spam: true})
	}
	for _, x := range []float64{0.05, 0.2, 0.3, 0.55, 0.97} {
		xs = append(xs, spam.Scored{Score: x})
	}
	tests := []struct {
		name                string
		maxSpamPub, maxLost float64
		wantHold            float64
		wantSpamAbove       float64 // spamAt must be just above this
		wantLoad            float64
	}{
		// One of five spam may go live: the one at 0.1, so hold from 0.5. One of five ham may be
		// lost: the one at 0.97, so spam from just above 0.55. Held: 0.5 (spam) and 0.55 (ham).
		{name: "one of each allowed", maxSpamPub: 0.2, maxLost: 0.2, wantHold: 0.5, wantSpamAbove: 0.55, wantLoad: 0.2},
		// Nothing may be lost or go live: hold from the lowest spam (0.1), spam above the highest
		// ham (0.97); only the ham at 0.05 is not held.
		{name: "nothing allowed", maxSpamPub: 0, maxLost: 0, wantHold: 0.1, wantSpamAbove: 0.97, wantLoad: 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold, spamAt, load := spam.ChooseThresholds(xs, tt.maxSpamPub, tt.maxLost)
			if hold != tt.wantHold || spamAt <= tt.wantSpamAbove || spamAt > tt.wantSpamAbove+1e-9 || math.Abs(load-tt.wantLoad) > 1e-12 {
				t.Errorf("ChooseThresholds(%v, %v) = hold %v, spam %v, load %v; want hold %v, spam just above %v, load %v",
					tt.maxSpamPub, tt.maxLost, hold, spamAt, load, tt.wantHold, tt.wantSpamAbove, tt.wantLoad)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	// The columns the reader must ignore are filled with values that track the label, as in the
	// real data: it must read CONTENT and CLASS only, and drop U+FEFF.
	in := "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n" +
		"a1,Spammer,,\"check out my channel, please\ufeff\",1\n" +
		"a2,Fan,2015-01-01T00:00:00,\"I \"\"love\"\" this<br />song\",0\n"
	got, err := spam.ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	want := []spam.Example{
		{Body: "check out my channel, please", Spam: true},
		{Body: `I "love" this<br />song`, Spam: false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadCSV (-want +got):\n%s", diff)
	}

	// A byte order mark at the start of the file (as spreadsheet programs write one) is not part
	// of the header, quoted or not.
	for _, in := range []string{"\ufeffCONTENT,CLASS\nhello,1\n", "\ufeff\"CONTENT\",\"CLASS\"\r\n\"hello\",1\r\n"} {
		got, err := spam.ReadCSV(strings.NewReader(in))
		if diff := cmp.Diff([]spam.Example{{Body: "hello", Spam: true}}, got); err != nil || diff != "" {
			t.Errorf("ReadCSV(%q) = error %v, examples (-want +got):\n%s", in, err, diff)
		}
	}

	// A bad row is named by its line, before anything is trained.
	for _, tt := range []struct{ in, want string }{
		{"CONTENT,LABEL\nhello,1\n", "no CONTENT or no CLASS"},
		{"CONTENT,CLASS\nhello,1\nhello,spam\n", "line 3: CLASS is \"spam\""},
		{"CONTENT,CLASS\nhello,1\n\"  \",0\n", "line 3: CONTENT is empty"},
		{"CONTENT,CLASS\nhello,1\n\ufeff,0\n", "line 3: CONTENT is empty"},
		{"CONTENT,CLASS\nhello,1\n\u200b\u200b,0\n", "line 3: CONTENT is only invisible characters"},
		{"CONTENT,CLASS\nhello,1\n\"multi\nline\",0\nbad \xff byte,1\n", "line 5: CONTENT is not valid UTF-8"},
	} {
		_, err := spam.ReadCSV(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadCSV(%q) = error %v, want one saying %q", tt.in, err, tt.want)
		}
	}
}

func TestReadJSONLines(t *testing.T) {
	in := `{"body": "buy now\ufeff", "spam": true}

{"body": "nice song", "spam": false}
`
	got, err := spam.ReadJSONLines(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ReadJSONLines: %v", err)
	}
	want := []spam.Example{{Body: "buy now", Spam: true}, {Body: "nice song", Spam: false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadJSONLines (-want +got):\n%s", diff)
	}
	// A byte order mark at the start of the file is not part of the first record.
	bom := "\ufeff{\"body\": \"hello\", \"spam\": true}\r\n"
	got, err = spam.ReadJSONLines(strings.NewReader(bom))
	if diff := cmp.Diff([]spam.Example{{Body: "hello", Spam: true}}, got); err != nil || diff != "" {
		t.Errorf("ReadJSONLines(%q) = error %v, examples (-want +got):\n%s", bom, err, diff)
	}
	// A bad record is named by the line it starts on, blank lines counted, as an editor shows it.
	ok := "{\"body\": \"ok\", \"spam\": true}\n"
	for _, tt := range []struct{ in, want string }{
		{`{"body": "no label"}`, `line 1: want both "body" and "spam"`},
		{ok + "{\"body\": \" \\ufeff \", \"spam\": false}", `line 2: "body" is empty`},
		{ok + "{\"body\": \"\\u3164\", \"spam\": false}", `line 2: "body" is only invisible characters`},
		{ok + "\n\n" + `{"body": "no label"}` + "\n", `line 4: want both "body" and "spam"`},
		{ok + "\r\n" + ok + `{"body": "x", "spam": "yes"}` + "\n", "line 4: "},
		{ok + "\n" + `{"body": "x", "spam": tru}` + "\n" + ok, "line 3: "},
		// Wrong types are named in the file's terms, not Go's.
		{ok + `{"body": "x", "spam": "yes"}` + "\n", `line 2: "spam" is a JSON string, want true or false`},
		{ok + `{"body": "x", "spam": 1}` + "\n", `line 2: "spam" is a JSON number, want true or false`},
		{`{"body": ["x"], "spam": true}` + "\n", `line 1: "body" is a JSON array, want a string`},
		{`[{"body": "x", "spam": true}]` + "\n", `line 1: the record is a JSON array, want one object {"body": "...", "spam": true} per line`},
	} {
		_, err := spam.ReadJSONLines(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadJSONLines(%q) = error %v, want one saying %q", tt.in, err, tt.want)
		}
	}
}

func TestLoadDatasets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := spam.LoadDatasets(dir); !errors.Is(err, spam.ErrNoData) {
		t.Errorf("LoadDatasets(empty dir) error = %v, want ErrNoData", err)
	}
	write("b.jsonl", `{"body": "x", "spam": true}`+"\n")
	write("a.csv", "CONTENT,CLASS\ny,0\n")
	write("notes.txt", "ignored")
	got, err := spam.LoadDatasets(dir)
	if err != nil {
		t.Fatalf("LoadDatasets: %v", err)
	}
	want := []spam.Dataset{
		{Name: "a", Examples: []spam.Example{{Body: "y"}}},
		{Name: "b", Examples: []spam.Example{{Body: "x", Spam: true}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadDatasets (-want +got):\n%s", diff)
	}
}

func TestSplitByClass(t *testing.T) {
	var xs []spam.Example
	for i := range 10 {
		xs = append(xs, spam.Example{Body: string(rune('a' + i)), Spam: i%2 == 0})
	}
	train, test := spam.SplitByClass(xs, 0.6)
	// 5 spam (a c e g i) and 5 ham (b d f h j): the first 3 of each train.
	wantTrain := "abcdef"
	wantTest := "ghij"
	if got := bodies(train); got != wantTrain {
		t.Errorf("SplitByClass(a..j, 0.6) train = %q, want %q", got, wantTrain)
	}
	if got := bodies(test); got != wantTest {
		t.Errorf("SplitByClass(a..j, 0.6) test = %q, want %q", got, wantTest)
	}
}

func bodies(xs []spam.Example) string {
	var b strings.Builder
	for _, x := range xs {
		b.WriteString(x.Body)
	}
	return b.String()
}

// LeaveOneOutNovel counts only the held-out examples whose features match no example of the other
// data sets: a copy differing only in case, spacing or punctuation is still a copy.
func TestLeaveOneOutNovel(t *testing.T) {
	ds := []spam.Dataset{
		{Name: "a", Examples: []spam.Example{{Body: "Check out my channel for free gifts", Spam: true}, {Body: "what a great song"}}},
		{Name: "b", Examples: []spam.Example{{Body: "check out   my CHANNEL for free gifts!", Spam: true}, {Body: "the chorus is lovely"}, {Body: "what a great song"}}},
	}
	e := spam.Evaluation{NewCounts: func() spam.Counts { return spamtest.NewCounts() }}
	r, err := e.Run(context.Background(), ds)
	if err != nil {
		t.Fatalf("Evaluation.Run: %v", err)
	}
	count := func(ts []spam.Tally) []int {
		var out []int
		for _, x := range ts {
			out = append(out, x.TP+x.FN+x.FP+x.TN)
		}
		return out
	}
	if diff := cmp.Diff([]int{2, 3}, count(r.LeaveOneOut)); diff != "" {
		t.Errorf("LeaveOneOut examples per data set diff (-want +got):\n%s", diff)
	}
	// a: both examples have a copy in b; b: only "the chorus is lovely" has none in a.
	if diff := cmp.Diff([]int{0, 1}, count(r.LeaveOneOutNovel)); diff != "" {
		t.Errorf("LeaveOneOutNovel examples per data set diff (-want +got):\n%s", diff)
	}
}

// loadYouTube loads the real data or fails the test: a missing data set must not pass quietly.
func loadYouTube(t *testing.T) []spam.Dataset {
	t.Helper()
	ds, err := spam.LoadDatasets(dataDir)
	if err != nil {
		t.Fatalf("the YouTube Spam Collection is needed at %s (../shared/data/youtube-spam beside the checkout): %v", dataDir, err)
	}
	if len(ds) != 5 {
		t.Fatalf("LoadDatasets(%s) gave %d data sets, want the 5 videos", dataDir, len(ds))
	}
	return ds
}

// The evaluation on real data. Its floors sit a little under what was measured when the defaults
// were chosen, so a change that makes the spam check worse fails here. The run is deterministic
// (file order, no randomness), so it is not flaky. go test -v prints the full report;
// docs/SPAM_QUALITY.md explains it.
func TestEvaluationYouTube(t *testing.T) {
	ds := loadYouTube(t)
	ctx := context.Background()
	newCounts := func() spam.Counts { return spamtest.NewCounts() }

	type floor struct {
		splitMCC      float64 // mean over the videos, protocol (a)
		looMCC        float64 // mean over the rotations, protocol (b)
		spamPublished float64 // pooled over the rotations, at most
		hamLost       float64 // pooled, at most
		load          float64 // pooled, at most
		// Under thresholds chosen without the held-out video (NestedLeaveOneOut), pooled, at
		// most; zero skips the nested run.
		nestedSpamPublished, nestedHamLost, nestedLoad float64
		// Leave one video out counting only the held-out comments with no copy in training
		// (Report.LeaveOneOutNovel): mean MCC at least, pooled rates at most; zero skips them.
		novelMCC, novelSpamPublished, novelHamLost, novelLoad float64
	}
	tests := []struct {
		model spam.Model
		// countsOnly scores with the counts alone, hiding the forest (the stacked model as it
		// shipped before the forest, with its thresholds: docs/SPAM_QUALITY.md compares the two).
		countsOnly bool
		floor      floor
	}{
		// Measured (with the forest): split 0.936, leave-one-out 0.898, pooled 1.99 % / 0.42 % /
		// 10.1 %; nested 1.49 % / 0.32 % / 11.9 %; without copies 0.884, 2.43 % / 0.45 % / 11.4 %.
		{model: spam.ModelStacked, floor: floor{splitMCC: 0.925, looMCC: 0.885, spamPublished: 0.021, hamLost: 0.0055, load: 0.11,
			nestedSpamPublished: 0.018, nestedHamLost: 0.005, nestedLoad: 0.13,
			novelMCC: 0.87, novelSpamPublished: 0.026, novelHamLost: 0.006, novelLoad: 0.125}},
		// Measured (the counts alone): split 0.923, leave-one-out 0.891, pooled 1.99 % / 0.42 % /
		// 14.4 %; nested 1.49 % / 0.53 % / 18.9 %; without copies 0.877, 2.37 % / 0.45 % / 16.2 %.
		{model: spam.ModelStacked, countsOnly: true, floor: floor{splitMCC: 0.91, looMCC: 0.88, spamPublished: 0.021, hamLost: 0.0055, load: 0.15,
			nestedSpamPublished: 0.018, nestedHamLost: 0.0065, nestedLoad: 0.195,
			novelMCC: 0.865, novelSpamPublished: 0.026, novelHamLost: 0.006, novelLoad: 0.17}},
		// Measured: split 0.843, leave-one-out 0.687, pooled 1.89 % / 0.42 % / 30.7 %.
		{model: spam.ModelRobinson, floor: floor{splitMCC: 0.82, looMCC: 0.66, spamPublished: 0.022, hamLost: 0.006, load: 0.33}},
		// Measured: split 0.877, leave-one-out 0.846, pooled 1.79 % / 0.42 % / 43.1 %.
		{model: spam.ModelNaiveBayes, floor: floor{splitMCC: 0.86, looMCC: 0.83, spamPublished: 0.02, hamLost: 0.006, load: 0.45}},
	}
	for _, tt := range tests {
		name := tt.model.String()
		if tt.countsOnly {
			name += ", counts alone"
		}
		t.Run(name, func(t *testing.T) {
			newCounts := newCounts
			if tt.countsOnly {
				newCounts = func() spam.Counts { return countsOnly{spamtest.NewCounts()} }
			}
			e := spam.Evaluation{NewCounts: newCounts, Options: spam.Options{Model: tt.model}}
			r, err := e.Run(ctx, ds)
			if err != nil {
				t.Fatalf("Evaluation.Run(%s): %v", tt.model, err)
			}
			var nested spam.Tally
			if tt.floor.nestedLoad > 0 {
				r.Nested, r.NestedThresholds, err = e.NestedLeaveOneOut(ctx, ds, 0.02, 0.005)
				if err != nil {
					t.Fatalf("Evaluation.NestedLeaveOneOut(%s): %v", tt.model, err)
				}
				for _, x := range r.Nested {
					nested.Merge(x)
				}
			}
			var out strings.Builder
			if err := r.Write(&out); err != nil {
				t.Fatalf("Report.Write: %v", err)
			}
			t.Logf("model %s, default thresholds\n%s", name, out.String())
			if tt.model == spam.ModelStacked && !tt.countsOnly {
				t.Logf("(a) against the best published MCC per video:\n%s", versusPublished(r))
			}

			var pooled spam.Tally
			for _, x := range r.LeaveOneOut {
				pooled.Merge(x)
			}
			checks := []struct {
				what      string
				got, want float64
				atMost    bool
			}{
				{"mean MCC, 70/30 split per video", spam.Mean(r.Split, spam.Tally.MCC), tt.floor.splitMCC, false},
				{"mean MCC, leave one video out", spam.Mean(r.LeaveOneOut, spam.Tally.MCC), tt.floor.looMCC, false},
				{"spam published, leave one video out", pooled.SpamPublished(), tt.floor.spamPublished, true},
				{"ham lost, leave one video out", pooled.HamLost(), tt.floor.hamLost, true},
				{"moderator load, leave one video out", pooled.ModeratorLoad(), tt.floor.load, true},
			}
			if tt.floor.novelLoad > 0 {
				var novel spam.Tally
				for _, x := range r.LeaveOneOutNovel {
					novel.Merge(x)
				}
				checks = append(checks, []struct {
					what      string
					got, want float64
					atMost    bool
				}{
					{"mean MCC, leave one video out, without copies", spam.Mean(r.LeaveOneOutNovel, spam.Tally.MCC), tt.floor.novelMCC, false},
					{"spam published, without copies", novel.SpamPublished(), tt.floor.novelSpamPublished, true},
					{"ham lost, without copies", novel.HamLost(), tt.floor.novelHamLost, true},
					{"moderator load, without copies", novel.ModeratorLoad(), tt.floor.novelLoad, true},
				}...)
			}
			if tt.floor.nestedLoad > 0 {
				checks = append(checks, []struct {
					what      string
					got, want float64
					atMost    bool
				}{
					{"spam published, nested thresholds", nested.SpamPublished(), tt.floor.nestedSpamPublished, true},
					{"ham lost, nested thresholds", nested.HamLost(), tt.floor.nestedHamLost, true},
					{"moderator load, nested thresholds", nested.ModeratorLoad(), tt.floor.nestedLoad, true},
				}...)
			}
			for _, c := range checks {
				if c.atMost && c.got > c.want || !c.atMost && c.got < c.want {
					bound := "at least"
					if c.atMost {
						bound = "at most"
					}
					t.Errorf("Evaluation.Run(%s): %s = %.4f, want %s %.4f", tt.model, c.what, c.got, bound, c.want)
				}
			}
			t.Logf("leave one video out, pooled decisions [publish hold spam]: spam %v, ham %v", pooled.Spam, pooled.Ham)
			var novelPooled spam.Tally
			for _, x := range r.LeaveOneOutNovel {
				novelPooled.Merge(x)
			}
			sum := func(a [3]int) int { return a[0] + a[1] + a[2] }
			t.Logf("held-out comments with a copy in the training videos: %d spam, %d ham",
				sum(pooled.Spam)-sum(novelPooled.Spam), sum(pooled.Ham)-sum(novelPooled.Ham))

			// How the defaults were found: the thresholds with the least load that meet the
			// spam-published and ham-lost targets on these scores.
			scores, err := e.LeaveOneOutScores(ctx, ds)
			if err != nil {
				t.Fatalf("Evaluation.LeaveOneOutScores(%s): %v", tt.model, err)
			}
			hold, spamAt, load := spam.ChooseThresholds(scores, 0.02, 0.005)
			t.Logf("ChooseThresholds(leave-one-out scores, spam published <= 2%%, ham lost <= 0.5%%) = hold %.6f, spam %.6f, load %.1f%% (without rule holds)", hold, spamAt, 100*load)
			// The learning curve must learn: in the last tenth of every video less spam goes live
			// than in the first, when nothing was trained yet. (MCC is no use here: some tenths hold
			// one class only.)
			for i, c := range r.Curves {
				if first, last := c[0].SpamPublished(), c[len(c)-1].SpamPublished(); last >= first || last > 0.1 {
					t.Errorf("Evaluation.Run(%s): learning curve of %s: spam published in the last tenth %.3f, want below the first tenth's %.3f and at most 0.1", tt.model, r.Names[i], last, first)
				}
			}
		})
	}
}

// publishedMCC is the best MCC published per video for the same collection (the product's
// target for protocol (a)), by data set name.
var publishedMCC = map[string]float64{
	"Youtube01-Psy":       0.925,
	"Youtube02-KatyPerry": 0.893,
	"Youtube03-LMFAO":     0.955,
	"Youtube04-Eminem":    0.955,
	"Youtube05-Shakira":   0.931,
}

// versusPublished tabulates protocol (a)'s MCC next to the published best. It reports; it does not
// judge (the floors above do).
func versusPublished(r spam.Report) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "video\tMCC\tpublished best\tmet\t\n")
	for i, name := range r.Names {
		want, ok := publishedMCC[name]
		if !ok {
			continue
		}
		got := r.Split[i].MCC()
		met := "no"
		if got >= want {
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%s\t\n", name, got, want, met)
	}
	_ = tw.Flush()
	return b.String()
}
