// Package apikey holds commentd's API keys: random bearer tokens, each with a name and a role. The
// server keeps only each token's SHA-256, in a keys file with one "name role sha256hex" line per key,
// and compares digests in constant time.
package apikey

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Role is what a key may do.
type Role int

// The roles. Admin may call everything; site and moderator only their own service.
const (
	RoleUnknown Role = iota
	RoleSite
	RoleModerator
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleSite:
		return "site"
	case RoleModerator:
		return "moderator"
	case RoleAdmin:
		return "admin"
	}
	return "unknown"
}

// ParseRole parses "site", "moderator" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "site":
		return RoleSite, nil
	case "moderator":
		return RoleModerator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleUnknown, fmt.Errorf("apikey: role %q: want site, moderator or admin", s)
}

// Allows reports whether a key of role r may call a method that requires role need.
func (r Role) Allows(need Role) bool {
	return r == RoleAdmin || (r == need && r != RoleUnknown)
}

// Key is one API key as the server knows it: never the token itself.
type Key struct {
	Name   string
	Role   Role
	digest [sha256.Size]byte
}

// Set is the keys a server accepts. The zero Set accepts nothing.
type Set struct {
	keys []Key
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// reservedNames are the moderator names the audit log gives the server's own actions (the
// moderation package's SystemModerator and RetentionModerator). A key of such a name would pass
// its holder's actions off as the server's there, and keep them out of the statistics. Every
// spelling is refused: "System" reads the same to a person going through the log.
var reservedNames = []string{"system", "retention"}

// ValidName reports whether s may name a key: 1-64 letters, digits and ._@- (it is logged and
// recorded with moderator decisions, so it must be plain), and none of the names the audit log
// keeps for the server itself.
func ValidName(s string) bool {
	if !namePattern.MatchString(s) {
		return false
	}
	for _, r := range reservedNames {
		if strings.EqualFold(s, r) {
			return false
		}
	}
	return true
}

// NameRule says what ValidName accepts, for error messages.
const NameRule = "1-64 letters, digits and ._@-, starting with a letter or digit; not system or retention, the server's own names in the audit log"

// Parse reads a keys file: one "name role sha256hex" per line; blank lines and lines starting with
// "#" are ignored. Names must be unique, and so must hashes: one token under two lines (a line
// copied and renamed, say) would get the name and role of whichever line Lookup met last.
// A line holding a token itself is refused with ErrTokenLine, naming the line but not the token.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{}
	seen := map[string]bool{}
	digests := map[[sha256.Size]byte]string{} // name by digest
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			// Some Windows editors and PowerShell start a UTF-8 file with a byte order mark, which
			// would make the first line a comment no more, or its key name a bad one.
			line = strings.TrimPrefix(line, "\ufeff")
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if tokenPattern.MatchString(line) {
			// Before the checks of each field: they quote the field they refuse, and a token is a secret.
			return nil, fmt.Errorf("apikey: line %d: %w: a token is the secret its user holds, and the keys file takes the \"name role sha256hex\" line commentctl keygen prints after it; put that line in its place, and make a new key if anyone else can read this file", n, ErrTokenLine)
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("apikey: line %d: want \"name role sha256hex\"", n)
		}
		if !ValidName(f[0]) {
			return nil, fmt.Errorf("apikey: line %d: bad key name %q: want %s", n, f[0], NameRule)
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("apikey: line %d: key name %q used twice", n, f[0])
		}
		role, err := ParseRole(f[1])
		if err != nil {
			return nil, fmt.Errorf("apikey: line %d: role %q: want site, moderator or admin", n, f[1])
		}
		raw, err := hex.DecodeString(f[2])
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("apikey: line %d: want a 64-digit hex SHA-256", n)
		}
		k := Key{Name: f[0], Role: role}
		copy(k.digest[:], raw)
		if other, dup := digests[k.digest]; dup {
			return nil, fmt.Errorf("apikey: line %d: key %q has the hash of key %q: one token would be both", n, f[0], other)
		}
		digests[k.digest] = f[0]
		s.keys = append(s.keys, k)
		seen[f[0]] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("apikey: read keys: %w", err)
	}
	return s, nil
}

// ErrTokenLine means a keys-file line holds a token itself (keygen's token line appended instead
// of its keys-file line, say). The error that wraps it names the line, never the token.
var ErrTokenLine = errors.New("a token where a keys-file line belongs")

// tokenPattern finds a token as Generate makes them anywhere in a line, alone or as part of
// "TOKEN=...". A SHA-256 is hex, so only a key name could match by chance; a name shaped exactly
// like a token is one pasted in its place, and names are logged.
var tokenPattern = regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(TokenPrefix) +
	fmt.Sprintf(`[A-Za-z0-9_-]{%d}($|[^A-Za-z0-9_-])`, base64.RawURLEncoding.EncodedLen(tokenBytes)))

// Add adds a key given its token, for generated development keys and tests.
func (s *Set) Add(name string, role Role, token string) error {
	if !ValidName(name) {
		return fmt.Errorf("apikey: bad key name %q: want %s", name, NameRule)
	}
	for _, k := range s.keys {
		if k.Name == name {
			return fmt.Errorf("apikey: key name %q used twice", name)
		}
	}
	s.keys = append(s.keys, Key{Name: name, Role: role, digest: sha256.Sum256([]byte(token))})
	return nil
}

// Len returns the number of keys.
func (s *Set) Len() int { return len(s.keys) }

// ErrUnknown means the token matches no key.
var ErrUnknown = errors.New("apikey: unknown key")

// Lookup returns the key whose token this is. It compares against every key in constant time, so
// neither the match nor its position leaks through timing.
func (s *Set) Lookup(token string) (Key, error) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.keys {
		if subtle.ConstantTimeCompare(d[:], s.keys[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 || token == "" {
		return Key{}, ErrUnknown
	}
	return s.keys[found], nil
}

// TokenPrefix starts every generated token, so a leaked one is easy to recognise in code scans.
const TokenPrefix = "cmd_"

// tokenBytes is how many random bytes a token holds, after TokenPrefix in unpadded URL-safe base64.
const tokenBytes = 32

// Generate returns a new random token and its keys-file line.
func Generate(name string, role Role) (token, line string, err error) {
	if !ValidName(name) {
		return "", "", fmt.Errorf("apikey: bad key name %q: want %s", name, NameRule)
	}
	if role == RoleUnknown {
		return "", "", errors.New("apikey: a role is required")
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("apikey: random: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Line(name, role, token), nil
}

// Line returns the keys-file line for a token.
func Line(name string, role Role, token string) string {
	d := sha256.Sum256([]byte(token))
	return name + " " + role.String() + " " + hex.EncodeToString(d[:])
}
