package spam_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/spam"
)

func TestMirrorApply(t *testing.T) {
	ctx := context.Background()
	m := spam.NewMirror()
	m.Replace(4, map[string][2]int64{"cash": {3, 1}, "song": {0, 5}}, spam.Totals{Spam: 3, Ham: 5, SpamTokens: 3, HamTokens: 6, Vocabulary: 2})

	steps := []struct {
		name    string
		change  spam.Change
		applied bool
	}{
		{name: "the next change", change: spam.Change{Seq: 5, Tokens: []spam.TokenCount{{Token: "cash", Spam: 4, Ham: 1}, {Token: "free", Spam: 1}}, Totals: spam.Totals{Spam: 4, Ham: 5, Vocabulary: 3}}, applied: true},
		{name: "a repeat of it", change: spam.Change{Seq: 5, Tokens: []spam.TokenCount{{Token: "cash", Spam: 99}}}, applied: false},
		{name: "a gap", change: spam.Change{Seq: 7, Tokens: []spam.TokenCount{{Token: "cash", Spam: 99}}}, applied: false},
		{name: "a token back to zero", change: spam.Change{Seq: 6, Tokens: []spam.TokenCount{{Token: "song"}}, Totals: spam.Totals{Spam: 4, Ham: 4, Vocabulary: 2}}, applied: true},
	}
	for _, st := range steps {
		if got := m.Apply(st.change); got != st.applied {
			t.Errorf("called Apply(%s, seq %d), got %v, want %v", st.name, st.change.Seq, got, st.applied)
		}
	}
	s, h := make([]int64, 4), make([]int64, 4)
	tot, err := m.TokenCounts(ctx, []string{"cash", "free", "song", "never"}, s, h)
	if err != nil {
		t.Fatalf("called TokenCounts, got error %v", err)
	}
	if diff := cmp.Diff([][]int64{{4, 1, 0, 0}, {1, 0, 0, 0}}, [][]int64{s, h}); diff != "" {
		t.Errorf("called TokenCounts after the changes, got counts diff (-want +got):\n%s", diff)
	}
	if want := (spam.Totals{Spam: 4, Ham: 4, Vocabulary: 2}); tot != want || m.Seq() != 6 || m.Len() != 2 {
		t.Errorf("after the changes got totals %+v, seq %d, %d tokens; want %+v, seq 6, 2 tokens", tot, m.Seq(), m.Len(), want)
	}
}

// TestMirrorPatch: a change after a gap writes the counts and totals it lists, but the mirror
// stays at the change before the gap, so Apply goes on refusing what follows until a Replace.
func TestMirrorPatch(t *testing.T) {
	ctx := context.Background()
	m := spam.NewMirror()
	m.Replace(4, map[string][2]int64{"cash": {3, 1}, "name": {2, 0}}, spam.Totals{Spam: 3, Ham: 1, Vocabulary: 2})
	m.Patch(spam.Change{Seq: 7, Tokens: []spam.TokenCount{{Token: "cash", Spam: 5, Ham: 1}, {Token: "song", Ham: 2}}, Totals: spam.Totals{Spam: 5, Ham: 3, Vocabulary: 3}})
	m.Patch(spam.Change{Seq: 8, Tokens: []spam.TokenCount{{Token: "song"}}, Totals: spam.Totals{Spam: 5, Ham: 2, Vocabulary: 2}})
	if m.Apply(spam.Change{Seq: 9, Tokens: []spam.TokenCount{{Token: "cash", Spam: 99}}}) {
		t.Errorf("called Apply(seq 9) after patches from seq 7 on a mirror at 4, got true, want false")
	}
	s, h := make([]int64, 3), make([]int64, 3)
	tot, err := m.TokenCounts(ctx, []string{"cash", "name", "song"}, s, h)
	if err != nil {
		t.Fatalf("called TokenCounts, got error %v", err)
	}
	// "name" was in none of the changes read: it keeps its old counts until a Replace.
	if diff := cmp.Diff([][]int64{{5, 2, 0}, {1, 0, 0}}, [][]int64{s, h}); diff != "" {
		t.Errorf("called TokenCounts after the patches, got counts diff (-want +got):\n%s", diff)
	}
	if want := (spam.Totals{Spam: 5, Ham: 2, Vocabulary: 2}); tot != want || m.Seq() != 4 || m.Len() != 2 {
		t.Errorf("after the patches got totals %+v, seq %d, %d tokens; want %+v, seq 4, 2 tokens", tot, m.Seq(), m.Len(), want)
	}
}

// BenchmarkMirrorMemory measures what a server's in-memory copy of the site's model holds after
// moderators decided every comment of the YouTube Spam Collection (1,956 comments, each trained
// once with its label): the distinct tokens, and the Go heap they take per token. It reports
// figures for docs/SPAM.md; the timing is of no interest.
//
//	go test -run XXX -bench BenchmarkMirrorMemory -benchtime 1x ./internal/spam/
func BenchmarkMirrorMemory(b *testing.B) {
	ds, err := spam.LoadDatasets(dataDir)
	if err != nil {
		b.Fatalf("the YouTube Spam Collection is needed at %s: %v", dataDir, err)
	}
	var comments int
	for range b.N {
		tokens := map[string][2]int64{}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		comments = 0
		for _, d := range ds {
			for _, x := range d.Examples {
				comments++
				for _, tok := range spam.Features(spam.Input{Body: x.Body}) {
					tok = strings.Clone(tok) // as loaded from Redis: a string of its own
					n := tokens[tok]
					if x.Spam {
						n[0]++
					} else {
						n[1]++
					}
					tokens[tok] = n
				}
			}
		}
		m := spam.NewMirror()
		m.Replace(1, tokens, spam.Totals{})
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(m.Len()), "tokens")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(m.Len()), "heap-B/token")
		b.ReportMetric(float64(m.Len())/float64(comments), "tokens/comment")
		runtime.KeepAlive(m)
	}
}
