package apikey

import (
	"errors"
	"strings"
	"testing"
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

func TestParseRejectsBadFiles(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct{ name, file string }{
		{"two fields", "a site\n"},
		{"bad role", "a root " + good + "\n"},
		{"short hash", "a site abcd\n"},
		{"not hex", "a site " + strings.Repeat("zz", 32) + "\n"},
		{"duplicate name", "a site " + good + "\na moderator " + good + "\n"},
		{"bad name", "a/b site " + good + "\n"},
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
