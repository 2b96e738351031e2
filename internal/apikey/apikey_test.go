package apikey

import (
	"errors"
	"strings"
	"testing"

	// Only the tests import moderation: its names for the server's own actions are the ones
	// reservedNames must refuse, and apikey itself keeps a copy so that it imports nothing of ours.
	"github.com/commentd/commentd/internal/moderation"
)

func TestGenerateParseLookup(t *testing.T) {
	siteTok, siteLine, err := Generate("news-site", RoleSite)
	if err != nil {
		t.Fatalf("Generate(news-site, site): %v", err)
	}
	modTok, modLine, err := Generate("alice", RoleModerator)
	if err != nil {
		t.Fatalf("Generate(alice, moderator): %v", err)
	}
	if !strings.HasPrefix(siteTok, TokenPrefix) || strings.Contains(siteLine, siteTok) {
		t.Fatalf("Generate: token %q / line %q: want prefixed token not present in the line", siteTok, siteLine)
	}
	set, err := Parse(strings.NewReader("# keys\n\n" + siteLine + "\n" + modLine + "\n"))
	if err != nil {
		t.Fatalf("Parse(generated lines): %v", err)
	}
	tests := []struct {
		name     string
		token    string
		wantName string
		wantRole Role
		wantErr  error
	}{
		{"site key", siteTok, "news-site", RoleSite, nil},
		{"moderator key", modTok, "alice", RoleModerator, nil},
		{"empty", "", "", RoleUnknown, ErrUnknown},
		{"wrong", siteTok + "x", "", RoleUnknown, ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := set.Lookup(tt.token)
			if !errors.Is(err, tt.wantErr) || k.Name != tt.wantName || k.Role != tt.wantRole {
				t.Errorf("Lookup(%q) = %q/%v, %v; want %q/%v, %v", tt.token, k.Name, k.Role, err, tt.wantName, tt.wantRole, tt.wantErr)
			}
		})
	}
}

// TestParseEditedFiles: files as editors save them parse to the keys they hold.
func TestParseEditedFiles(t *testing.T) {
	tok, line, err := Generate("news-site", RoleSite)
	if err != nil {
		t.Fatalf("Generate(news-site, site): %v", err)
	}
	tests := []struct{ name, file string }{
		{"plain", line + "\n"},
		{"no final newline", line},
		{"CRLF line endings", "# keys\r\n\r\n" + line + "\r\n"},
		{"tabs between fields", strings.ReplaceAll(line, " ", "\t") + "\n"},
		{"byte order mark before a comment", "\ufeff# keys\n" + line + "\n"},
		{"byte order mark before a key", "\ufeff" + line + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Parse(strings.NewReader(tt.file))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want the key", tt.file, err)
			}
			if k, err := set.Lookup(tok); err != nil || k.Name != "news-site" || set.Len() != 1 {
				t.Errorf("Parse(%q), then Lookup(token) = %q, %v with %d keys; want news-site and 1 key", tt.file, k.Name, err, set.Len())
			}
		})
	}
}

func TestParseRejectsBadFiles(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct{ name, file string }{
		{"two fields", "a site\n"},
		{"bad role", "a root " + good + "\n"},
		{"short hash", "a site abcd\n"},
		{"not hex", "a site " + strings.Repeat("zz", 32) + "\n"},
		{"duplicate name", "a site " + good + "\na moderator " + good + "\n"},
		{"duplicate hash", "a site " + good + "\nb admin " + good + "\n"},
		{"duplicate hash in other case", "a site " + good + "\nb admin " + strings.ToUpper(good) + "\n"},
		{"bad name", "a/b site " + good + "\n"},
		// The audit log's names for the server itself, in any spelling.
		{"name of the server's takedowns", moderation.SystemModerator + " moderator " + good + "\n"},
		{"name of the spam retention", moderation.RetentionModerator + " admin " + good + "\n"},
		{"server's name in capitals", "System moderator " + good + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tt.file)); err == nil {
				t.Errorf("Parse(%q) = nil error, want an error", tt.file)
			}
		})
	}
}

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleSite, RoleSite, true},
		{RoleSite, RoleModerator, false},
		{RoleModerator, RoleSite, false},
		{RoleModerator, RoleModerator, true},
		{RoleAdmin, RoleSite, true},
		{RoleAdmin, RoleModerator, true},
		{RoleAdmin, RoleAdmin, true},
		{RoleModerator, RoleAdmin, false},
		{RoleUnknown, RoleUnknown, false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%v.Allows(%v) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

// An empty token is refused even when a key's digest is the empty token's (a keys file may hold
// Line(name, role, "") by mistake): the "empty" case above never reaches that check.
func TestLookupRefusesEmptyTokenWithMatchingDigest(t *testing.T) {
	set, err := Parse(strings.NewReader(Line("blank", RoleAdmin, "") + "\n"))
	if err != nil {
		t.Fatalf("Parse(line of the empty token): %v", err)
	}
	if k, err := set.Lookup(""); !errors.Is(err, ErrUnknown) {
		t.Errorf("Lookup(\"\") with a key of the empty token's digest = %q/%v, %v; want ErrUnknown", k.Name, k.Role, err)
	}
}

func TestGenerateAndAddRefuse(t *testing.T) {
	if _, _, err := Generate("a/b", RoleSite); err == nil {
		t.Errorf("Generate(bad name) = nil error, want an error")
	}
	if _, _, err := Generate(moderation.RetentionModerator, RoleAdmin); err == nil {
		t.Errorf("Generate(%q) = nil error, want an error: the audit log names the server so", moderation.RetentionModerator)
	}
	if _, _, err := Generate("ok", RoleUnknown); err == nil {
		t.Errorf("Generate(no role) = nil error, want an error")
	}
	var s Set
	if err := s.Add("a/b", RoleSite, "tok"); err == nil {
		t.Errorf("Add(bad name) = nil error, want an error")
	}
	if err := s.Add(moderation.SystemModerator, RoleModerator, "tok"); err == nil {
		t.Errorf("Add(%q) = nil error, want an error: the audit log names the server so", moderation.SystemModerator)
	}
	if err := s.Add("x", RoleSite, "tok1"); err != nil {
		t.Fatalf("Add(x): %v", err)
	}
	if err := s.Add("x", RoleAdmin, "tok2"); err == nil || s.Len() != 1 {
		t.Errorf("Add(x) twice = %v, %d keys; want an error and 1 key", err, s.Len())
	}
}

// TestParseRefusesTokens: a keys file holding a token (keygen's token line appended instead of, or
// with, its keys-file line) is refused as such, naming the line but never echoing the secret.
func TestParseRefusesTokens(t *testing.T) {
	t.Parallel()
	token, line, err := Generate("alice", RoleModerator)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tests := []struct {
		name     string
		file     string
		wantLine string
	}{
		{name: "token alone", file: token + "\n", wantLine: "line 1"},
		{name: "keygen's whole output", file: "# keys\n" + "# Token: give it to the key's user\n" + token + "\n# Keys-file line\n" + line + "\n", wantLine: "line 3"},
		{name: "token after the line", file: line + "\n" + token + "\n", wantLine: "line 2"},
		{name: "token for the hash", file: "alice moderator " + token + "\n", wantLine: "line 1"},
		{name: "token as the name", file: token + " moderator " + strings.Repeat("ab", 32) + "\n", wantLine: "line 1"},
		{name: "token in a variable", file: "COMMENTD_TOKEN=" + token + "\n", wantLine: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(strings.NewReader(tt.file))
			if !errors.Is(err, ErrTokenLine) {
				t.Fatalf("Parse(file with a token) = %v; want ErrTokenLine", err)
			}
			if strings.Contains(err.Error(), token[len(TokenPrefix):len(TokenPrefix)+8]) {
				t.Errorf("Parse(file with a token) = %v; it echoes the token", err)
			}
			if !strings.Contains(err.Error(), tt.wantLine+":") {
				t.Errorf("Parse(file with a token) = %v; want it to name %s", err, tt.wantLine)
			}
		})
	}

	// Comments are ignored, so a note holding a token does not stop the keys from loading.
	if _, err := Parse(strings.NewReader("# " + token + " was given to alice\n" + line + "\n")); err != nil {
		t.Errorf("Parse(a commented token and the keys-file line) = %v; want the key (comments are ignored)", err)
	}
}
