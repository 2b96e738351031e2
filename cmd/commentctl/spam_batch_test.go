package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/spam"
)

// TrainSpam calls must stay under the server's 4 MiB message limit: 500 examples of 5,000
// characters outside ASCII (10 MB) used to fail with RESOURCE_EXHAUSTED.
func TestNextBatchBoundsBytes(t *testing.T) {
	t.Parallel()
	examples := func(n int, body string) []spam.Example {
		out := make([]spam.Example, n)
		for i := range out {
			out[i] = spam.Example{Body: body}
		}
		return out
	}
	ends := func(xs []spam.Example) []int {
		var out []int
		for start := 0; start < len(xs); {
			end := nextBatch(xs, start)
			out = append(out, end)
			start = end
		}
		return out
	}
	tests := []struct {
		name string
		xs   []spam.Example
		want []int
	}{
		{name: "short comments: batches of 500 as before", xs: examples(1200, "hello"), want: []int{500, 1000, 1200}},
		{name: "5,000 two-byte characters: cut by bytes", xs: examples(500, strings.Repeat("é", 5000)), want: []int{314, 500}},
		{name: "one example over the bound still goes, alone", xs: examples(2, strings.Repeat("a", trainBatchBytes+1)), want: []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ends(tt.xs)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("batch ends (-want +got):\n%s", diff)
			}
			for i, end := range got {
				start := 0
				if i > 0 {
					start = got[i-1]
				}
				size := 0
				for _, x := range tt.xs[start:end] {
					size += len(x.Body)
				}
				if end-start > 1 && size > trainBatchBytes {
					t.Errorf("batch %d..%d carries %d bytes, more than %d", start, end, size, trainBatchBytes)
				}
			}
		})
	}
}
