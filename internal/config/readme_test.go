package config

import (
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readmeRow is one setting as the README's configuration reference documents it.
type readmeRow struct{ env, def string }

// readmeSettings reads the tables of the README's configuration reference: every row whose first
// cell is a flag. A row may document two flags (`-tls-cert`, `-tls-key`) with their two variables.
func readmeSettings(t *testing.T) map[string]readmeRow {
	t.Helper()
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(doc), "### Configuration reference")
	if !ok {
		t.Fatal("README.md has no \"### Configuration reference\" section")
	}
	ref, _, _ = strings.Cut(ref, "\n## ")
	code := regexp.MustCompile("`([^`]*)`")
	rows := map[string]readmeRow{}
	for line := range strings.Lines(ref) {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`-") {
			continue
		}
		var flags, envs []string
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			flags = append(flags, strings.TrimPrefix(m[1], "-"))
		}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			envs = append(envs, m[1])
		}
		if len(flags) != len(envs) {
			t.Errorf("README.md: row %q names %d flags and %d environment variables", strings.TrimSpace(line), len(flags), len(envs))
			continue
		}
		def := readmeDefault(cells[3])
		for i, f := range flags {
			if _, dup := rows[f]; dup {
				t.Errorf("README.md: -%s is documented twice", f)
			}
			rows[f] = readmeRow{env: envs[i], def: def}
		}
	}
	return rows
}

// readmeDefault turns a default cell into the value it documents: "`:7070` (`-dev`: ...)" is
// ":7070", "0 (never)" is "0", "(required)" and an empty cell are "".
func readmeDefault(cell string) string {
	cell = strings.TrimSpace(cell)
	if strings.HasPrefix(cell, "(") {
		return ""
	}
	cell, _, _ = strings.Cut(cell, " (")
	return strings.Trim(cell, "`")
}

// sameDefault reports whether the README's default doc and the table's def are the same value:
// "10m" and "10m0s" are one duration.
func sameDefault(doc, def string) bool {
	if doc == def {
		return true
	}
	if a, err := time.ParseDuration(doc); err == nil {
		b, err := time.ParseDuration(def)
		return err == nil && a == b
	}
	if a, err := strconv.ParseFloat(doc, 64); err == nil {
		b, err := strconv.ParseFloat(def, 64)
		return err == nil && a == b
	}
	return false
}

// TestReadmeDocumentsEverySetting compares the README's configuration reference with the settings
// commentd reads: the same flags, each with its environment variable and default.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	doc := readmeSettings(t)
	real := map[string]readmeRow{"config": {env: "COMMENTD_CONFIG"}} // -config is the one flag outside the table
	for _, st := range settings() {
		real[st.name] = readmeRow{env: st.env, def: st.def}
	}
	names := func(m map[string]readmeRow) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(names(real), names(doc)); diff != "" {
		t.Errorf("README.md configuration reference: flags differ from commentd's settings (-real +documented):\n%s", diff)
	}
	for name, r := range real {
		d, ok := doc[name]
		if !ok {
			continue
		}
		if d.env != r.env {
			t.Errorf("README.md: -%s has environment variable %s, want %s", name, d.env, r.env)
		}
		if !sameDefault(d.def, r.def) {
			t.Errorf("README.md: -%s has default %q, want %q", name, d.def, r.def)
		}
	}
}

// TestDocumentedConfigFiles loads every config file docs/ABUSE.md shows (its ```yaml blocks): an
// operator copies them, and one the server refused would be the first thing they try.
func TestDocumentedConfigFiles(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ABUSE.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) == 0 {
		t.Fatal("docs/ABUSE.md has no ```yaml block")
	}
	for i, b := range blocks {
		file := writeConfig(t, b[1])
		if _, err := Load([]string{"-dev", "-config", file}, envMap(nil), io.Discard); err != nil {
			t.Errorf("docs/ABUSE.md, yaml block %d: Load = %v, want no error\n%s", i+1, err, b[1])
		}
	}
}
