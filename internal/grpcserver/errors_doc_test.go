package grpcserver_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestErrorsDocListsEveryReason compares the reasons docs/ERRORS.md's table documents with the
// Reason constants errors.go defines: programs branch on them, so a reason missing from the
// table is one a site's developer cannot look up, and one the table has beyond them is never sent.
func TestErrorsDocListsEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for i, n := range v.Names {
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(n.Name, "Reason") || !ok || lit.Kind != token.STRING {
					continue
				}
				r, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("errors.go: %s: %v", n.Name, err)
				}
				defined = append(defined, r)
			}
		}
	}
	if len(defined) == 0 {
		t.Fatal("errors.go: no Reason constants found")
	}

	doc, err := os.ReadFile("../../docs/ERRORS.md")
	if err != nil {
		t.Fatal(err)
	}
	// A row of the table: | `CODE` | `REASON` (or `A`, `B`) | when | details |.
	row := regexp.MustCompile("^\\| `[A-Z_]+` \\| ([^|]+) \\|")
	code := regexp.MustCompile("`([A-Z_]+)`")
	var documented []string
	for line := range strings.Lines(string(doc)) {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, r := range code.FindAllStringSubmatch(m[1], -1) {
			documented = append(documented, r[1])
		}
	}
	slices.Sort(defined)
	slices.Sort(documented)
	if diff := cmp.Diff(slices.Compact(defined), slices.Compact(documented)); diff != "" {
		t.Errorf("docs/ERRORS.md's reasons differ from errors.go's Reason constants (-defined +documented):\n%s", diff)
	}
}
