package comment

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/privacy"
)

// Limits bounds the text a reader may submit. Zero fields take the defaults.
type Limits struct {
	MaxBodyChars int // default 5000
	MaxNameChars int // default 100
}

// Default limits, as documented in the API.
const (
	DefaultMaxBodyChars = 5000
	DefaultMaxNameChars = 100
	MaxUserAgentChars   = 512
	MaxRequestIDChars   = 64
	MaxReasonChars      = 500
)

func (l Limits) withDefaults() Limits {
	if l.MaxBodyChars <= 0 {
		l.MaxBodyChars = DefaultMaxBodyChars
	}
	if l.MaxNameChars <= 0 {
		l.MaxNameChars = DefaultMaxNameChars
	}
	return l
}

// The id checks below are what these patterns match (TestIDChecksMatchPatterns and
// FuzzIDChecksMatchPatterns hold them to it), checked byte by byte: every character they allow
// is ASCII, and a submission checks its thread id several times on its way (validation, the
// comment's id, the store), where the regexp engine cost about 4% of commentd's CPU.
//
//	thread id   ^[A-Za-z0-9][A-Za-z0-9._~:-]{0,127}$
//	request id  ^[\x21-\x7e]{1,64}$
//	comment id  ^[A-Za-z0-9_-]{1,40}$

// ThreadIDRule says in words what ValidThreadID accepts, for every call that refuses a thread id:
// "not a thread id" alone leaves a caller guessing which character was wrong.
const ThreadIDRule = "1 to 128 characters from letters, digits and ._~:- starting with a letter or digit"

// BadCommentName describes a violation on a comment name whose id is id: missing when id is
// empty (the field left out, a gap in a list), otherwise malformed; want says what is wanted.
func BadCommentName(id, want string) string { return BadName("comment", id, want) }

// BadName describes a violation on the name of a resource of kind (comment, thread, ban,
// filter) whose id is id, as BadCommentName does for comments.
func BadName(kind, id, want string) string {
	if id == "" {
		return "required (want " + want + ")"
	}
	return "not a " + kind + " name (want " + want + ")"
}

// NotAThreadID describes a violation on a thread id that was given but is malformed.
const NotAThreadID = "not a thread id: want " + ThreadIDRule

// ValidThreadID reports whether s is a well-formed thread id.
func ValidThreadID(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '~' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

// ValidRequestID reports whether s is a well-formed client request id (MaxRequestIDChars printable
// ASCII characters without spaces, and no "@"). The id is kept in clear, in Redis key names among
// other places, so it must not be able to hold an email address, as a site that built ids from
// its readers' addresses would otherwise make it.
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > MaxRequestIDChars {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == '@' {
			return false
		}
	}
	return true
}

// RequestIDRule describes a well-formed request id, for field violations.
const RequestIDRule = `at most 64 printable ASCII characters without spaces or "@" (a UUID is best)`

// HoldsPersonalData reports whether a well-formed request id holds an IP address
// (privacy.HoldsIP) or a URL-encoded email address ("jane%40example.com"; ValidRequestID refuses
// a plain one). A request id names Redis keys in clear (an idempotency record, its fingerprint),
// which every operator listing keys sees and Redis's slow log keeps, so a site that built its ids
// from what it knows of the reader would put the reader's address there. Keying the records by
// a keyed hash instead would hide any id, but servers of the previous release, sharing Redis
// during a rolling upgrade, look the records up by the id in clear: a request sent to a new
// server and resent to an old one would be stored twice.
func HoldsPersonalData(requestID string) bool {
	return privacy.HoldsIP(requestID) ||
		strings.Contains(requestID, "%40") && privacy.HoldsEmail(strings.ReplaceAll(requestID, "%40", "@"))
}

// RequestIDPersonalRule describes the refusal of a request id that holds an address, for field
// violations.
const RequestIDPersonalRule = "holds an IP or email address, which would be kept in clear in Redis key names: use an id that says nothing of the reader, such as a random UUID"

// ValidID reports whether s is a well-formed comment id (it may still not exist).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Submission is a comment as the site's backend sent it, before any check.
type Submission struct {
	ThreadID    string
	ParentID    string
	AuthorName  string
	AuthorEmail string
	Body        string
	RequestID   string
	ClientIP    string
	UserAgent   string
	Honeypot    string // the form's hidden field: humans leave it empty
	// FormAge is the time from form render to submit; nil when the site did not say. A zero
	// duration is a value (a form sent at once), not "unknown".
	FormAge *time.Duration
}

// Draft is a submission that passed validation: text trimmed, addresses parsed.
type Draft struct {
	ThreadID   string
	ParentID   string
	AuthorName string
	Email      privacy.Email
	IP         privacy.IP
	Body       string
	RequestID  string
	UserAgent  string
	Honeypot   string
	FormAge    *time.Duration // nil when unknown
	// History is the author's record, when a screener has read it (the abuse check reads it in the
	// same round trip as the rate limits, for the spam check that runs after it).
	History *AuthorHistory

	keyed            bool
	authorKey, ipKey string
	requestKey       string // RequestKey, once computed
}

// Keys returns the keyed hashes of the draft's email and IP address ("" for an absent address).
// The abuse check, the spam check and the stored record all need them; each is an HMAC, so they
// are computed once per draft and kept.
func (d *Draft) Keys(k *privacy.Keyring) (authorKey, ipKey string) {
	if !d.keyed {
		d.authorKey, d.ipKey, d.keyed = k.EmailKey(d.Email), k.IPKey(d.IP), true
	}
	return d.authorKey, d.ipKey
}

// RequestKey identifies what the draft asks for, to tell a resend of a request (the same key under
// the same request id) from another request reusing its id: who (the author's keyed hash, so the
// address as normalised, and the name), where (the parent; the thread scopes a request id
// already) and what (the body, trimmed and composed). The facts of the sending are left out
// (address, user agent, form duration, honeypot): a site may measure them again when it resends.
// It is a keyed hash like every other lookup value, so the stores that keep it learn nothing from
// it. The name is one line and a parent id has no line break, so the parts cannot run into each
// other. Like Keys, it is computed once per draft (the abuse check and the store both need it).
func (d *Draft) RequestKey(k *privacy.Keyring) string {
	if d.requestKey == "" {
		authorKey, _ := d.Keys(k)
		d.requestKey = k.TextKey(requestKeyLabel, authorKey+"\n"+d.AuthorName+"\n"+d.ParentID+"\n"+d.Body)
	}
	return d.requestKey
}

// requestKeyLabel is the keyed-hash label of Draft.RequestKey.
const requestKeyLabel = "request"

// Validate checks every field of s and returns the draft, or a *ValidationError naming every bad field.
func (l Limits) Validate(s Submission) (Draft, error) {
	l = l.withDefaults()
	var verr ValidationError
	d := Draft{
		ThreadID:  s.ThreadID,
		ParentID:  s.ParentID,
		RequestID: s.RequestID,
		Honeypot:  s.Honeypot,
		FormAge:   s.FormAge,
	}
	if s.FormAge != nil && *s.FormAge < 0 {
		verr.Add("form_duration", "want a valid duration, not negative")
	}
	checkThreadID(&verr, s.ThreadID)
	if s.ParentID != "" && !ValidID(s.ParentID) {
		verr.Add("parent_id", "not a comment id")
	}
	before := len(verr.Violations)
	d.AuthorName = checkText(&verr, "author_name", s.AuthorName, l.MaxNameChars, false)
	if len(verr.Violations) == before {
		switch {
		case hasDirectionOverride(d.AuthorName):
			verr.Add("author_name", directionOverrideRule("name"))
		case privacy.HoldsEmail(d.AuthorName):
			verr.Add("author_name", "holds an email address, which every reader would see: want the name to show, and the address in author_email")
		}
	}
	d.Body = checkText(&verr, "body", s.Body, l.MaxBodyChars, true)
	switch email, ok := privacy.ParseEmail(s.AuthorEmail); {
	case strings.TrimSpace(s.AuthorEmail) == "":
		verr.Add("author_email", "required")
	case !ok:
		verr.Add("author_email", "not a valid email address (want a bare address such as name@example.com)")
	case addressLiteral(s.AuthorEmail):
		verr.Add("author_email", "an IP address in brackets is not a reader's address: want a domain name, such as name@example.com")
	case numericDomain(s.AuthorEmail):
		verr.Add("author_email", "an IP address is not a reader's domain: want a domain name, such as name@example.com")
	default:
		d.Email = email
	}
	if s.ClientIP != "" {
		ip, ok := privacy.ParseIP(s.ClientIP)
		switch {
		case !ok:
			verr.Add("client_ip", "not an IPv4 or IPv6 address")
		case !ValidClientIP(ip):
			verr.Add("client_ip", UnspecifiedIPRule)
		}
		d.IP = ip
	}
	switch {
	case s.RequestID == "":
	case !ValidRequestID(s.RequestID):
		verr.Add("request_id", RequestIDRule)
	case HoldsPersonalData(s.RequestID):
		verr.Add("request_id", RequestIDPersonalRule)
	}
	if !utf8.ValidString(s.UserAgent) {
		verr.Add("user_agent", "not valid UTF-8")
	} else {
		// The site passes the browser's header on; control characters in it (terminal escapes,
		// newlines) would reach every moderation client as they are, so they become spaces.
		ua := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, s.UserAgent)
		// An address in it (a proxy's "via 203.0.113.7", a crawler's contact address) is masked:
		// the user agent is kept in clear and shown to moderators, and the site cannot be asked
		// for a header the browser wrote. Masked before the cut, as a masked form may be longer.
		d.UserAgent = truncateAtSpace(strings.TrimSpace(privacy.MaskAddresses(ua)), MaxUserAgentChars)
	}
	if err := verr.Err(); err != nil {
		return Draft{}, err
	}
	return d, nil
}

// hasDirectionOverride reports whether s holds a bidirectional embedding, override or isolate
// (U+202A to U+202E, U+2066 to U+2069). They change the direction of the text that follows up to
// the end of its paragraph, and a name is printed inside a line of the site's own text ("Jane
// wrote on 3 May"): a name ending in U+202E shows that line backwards, and one made of reversed
// letters after it shows as another name ("nimda" as "admin"). The marks that only set the
// direction of the characters beside them (U+200E, U+200F, U+061C), which names mixing scripts
// need, are kept.
func hasDirectionOverride(s string) bool {
	for _, r := range s {
		if r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069' {
			return true
		}
	}
	return false
}

// directionOverrideRule describes the refusal of a direction-changing character in what (a name, a
// reason), for field violations.
func directionOverrideRule(what string) string {
	return "contains a direction-changing character (U+202A to U+202E, U+2066 to U+2069), which reorders the text shown after the " + what
}

// ValidClientIP reports whether ip can be a reader's address: any but the unspecified addresses
// 0.0.0.0 and ::, which name no host. A site that sends one (a default left in place of an address
// it failed to read) would have every such reader counted as one, by the rate limits and by
// readers' reports alike, so it is refused rather than taken for an address.
func ValidClientIP(ip privacy.IP) bool { return !ip.Addr().IsUnspecified() }

// UnspecifiedIPRule describes the refusal of an unspecified address, for field violations.
const UnspecifiedIPRule = "the unspecified address (0.0.0.0 or ::) is no reader's address: send the reader's address, or none when it is unknown"

// addressLiteral reports whether the domain of the email address s is an address literal
// ("jane@[192.0.2.1]"). Like a dotless domain, which privacy.ParseEmail refuses, it is valid
// syntax but never a reader's address; and the domain is what the masked form moderators see
// keeps in full, so it would show them an IP address in clear. It is refused here, for new
// submissions, rather than by ParseEmail, which also reads the addresses of comments stored
// before (an erasure or a ban names their author by it).
func addressLiteral(s string) bool {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	return at >= 0 && strings.HasPrefix(s[at+1:], "[")
}

// numericDomain reports whether the domain of the email address s ends in an all-numeric label
// ("jane@192.0.2.1", "jane@192.168.1"): an IP address, or part of one, written without the
// brackets addressLiteral looks for. No top-level domain is all-numeric (RFC 3696, section 2), so
// it is no reader's address either, and the masked form would show moderators the address in
// clear. Like addressLiteral it is refused for new submissions only.
func numericDomain(s string) bool {
	s = strings.TrimSpace(s)
	top := s[strings.LastIndexByte(s, '.')+1:]
	if top == "" || strings.ContainsRune(top, '@') {
		return false
	}
	for i := 0; i < len(top); i++ {
		if top[i] < '0' || top[i] > '9' {
			return false
		}
	}
	return true
}

// checkThreadID adds a violation on thread_id when id is missing or malformed, worded so that a
// malformed id that was sent is not reported as missing.
func checkThreadID(verr *ValidationError, id string) {
	switch {
	case id == "":
		verr.Add("thread_id", "required: "+ThreadIDRule)
	case !ValidThreadID(id):
		verr.Add("thread_id", NotAThreadID)
	}
}

// checkText trims a required text field and checks its encoding and length. Line breaks are kept
// only where multiline is true; other control characters are refused everywhere.
func checkText(verr *ValidationError, field, s string, max int, multiline bool) string {
	if !utf8.ValidString(s) {
		verr.Add(field, "not valid UTF-8")
		return ""
	}
	// Composed (NFC), so that a letter typed as a base and a combining accent, as some keyboards
	// and systems send it, is stored, compared and counted as the one character it is.
	s = norm.NFC.String(strings.TrimSpace(s))
	n := composedLength(s)
	switch {
	case n == 0:
		verr.Add(field, "required")
	case n > max:
		verr.Add(field, "too long: "+itoa(n)+" characters, at most "+itoa(max))
	case hasControl(s, multiline):
		verr.Add(field, "contains control characters")
	case !hasVisible(s):
		verr.Add(field, "required: it holds only invisible characters")
	}
	return s
}

// TextLength is the length of a reader's text as the limits count it: in characters of its
// composed form (NFC: "é" is one character however it was sent), a line break sent as CR LF
// counting as one. A browser sends every line break of a textarea as CR LF, while the form's own
// counter and its maxlength count one character for it (HTML's textarea rules): a site that sets
// maxlength to our limit would otherwise see its readers' comments of several paragraphs refused
// as too long, by as many characters as they have line breaks.
func TextLength(s string) int { return composedLength(norm.NFC.String(s)) }

// composedLength is TextLength of a text already composed.
func composedLength(s string) int { return utf8.RuneCountInString(s) - strings.Count(s, "\r\n") }

// Visible reports whether s has a character a reader can see, as a submission's required text
// must: other texts that stand for a comment (training examples) are held to the same rule.
func Visible(s string) bool { return hasVisible(s) }

// hasVisible reports whether s has a character a reader can see. Trimming removes only white
// space, so a field of zero-width spaces, joiners, a byte order mark or a Hangul filler passes as
// one or more characters while it shows as nothing: a required field left blank.
func hasVisible(s string) bool {
	for _, r := range s {
		if r < utf8.RuneSelf {
			if !unicode.IsSpace(r) {
				return true
			}
			continue
		}
		if !unicode.IsSpace(r) && !blankSymbol(r) &&
			!unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return true
		}
	}
	return false
}

// blankSymbol reports whether r is a symbol whose glyph is empty: the Braille pattern with no
// dots (U+2800) and the musical null notehead (U+1D159). Unicode gives them no property that
// says so (they are neither white space nor default ignorable), yet a font draws nothing for
// them, and U+2800 is the character passed around for "invisible" user names: a name of them
// shows as nothing, as one of zero-width spaces does.
func blankSymbol(r rune) bool { return r == '\u2800' || r == '\U0001D159' }

// hasControl reports whether s holds a control character, or, where multiline is false, a line
// break of any kind: besides the ASCII ones (control characters already), the Unicode line and
// paragraph separators U+2028 and U+2029, which are no control characters but end the line as a
// newline does wherever the text is laid out by Unicode's rules (a page, a moderator's screen).
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || !multiline && (r == '\u2028' || r == '\u2029') {
			return true
		}
	}
	return false
}

// ValidateReason checks a free-text reason (a moderator's, a reader's report) and returns it
// trimmed. A reason is one line, and it is printed inside lines of other text (commentctl's
// tables, the audit log), so direction-changing characters are refused as in a name: a reason
// ending in U+202E would show the rest of its row backwards.
func ValidateReason(field, s string) (string, error) {
	var verr ValidationError
	if !utf8.ValidString(s) {
		verr.Add(field, "not valid UTF-8")
		return "", &verr
	}
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n > MaxReasonChars:
		verr.Add(field, "too long: "+itoa(n)+" characters, at most "+itoa(MaxReasonChars))
	case hasControl(s, false):
		verr.Add(field, "contains control characters")
	case hasDirectionOverride(s):
		verr.Add(field, directionOverrideRule("reason"))
	}
	return s, verr.Err()
}

// truncateAtSpace cuts s to at most max runes, at the last space when the cut would fall inside a
// word: a masked user agent cut inside "203.0.113.0/24" or "2001:db8:1::/48" would end in text
// that reads as an address ("203.0.113.0"). A first word longer than max is cut where it reaches it.
func truncateAtSpace(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	if unicode.IsSpace(r[max]) {
		return strings.TrimRightFunc(string(r[:max]), unicode.IsSpace)
	}
	for i := max - 1; i > 0; i-- {
		if unicode.IsSpace(r[i]) {
			return strings.TrimRightFunc(string(r[:i]), unicode.IsSpace)
		}
	}
	return string(r[:max])
}

func itoa(n int) string { return strconv.Itoa(n) }
