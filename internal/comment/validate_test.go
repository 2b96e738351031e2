package comment

import (
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/privacy"
)

func validSubmission() Submission {
	return Submission{
		ThreadID:    "article-42",
		AuthorName:  "  Jane Reader ",
		AuthorEmail: "Jane@Example.com",
		Body:        "\n Good point about the bridge. \n",
		ClientIP:    "203.0.113.7",
		UserAgent:   "Mozilla/5.0",
		RequestID:   "req-1",
	}
}

func TestValidateAccepts(t *testing.T) {
	d, err := Limits{}.Validate(validSubmission())
	if err != nil {
		t.Fatalf("Validate(valid submission) = %v, want nil", err)
	}
	if d.AuthorName != "Jane Reader" || d.Body != "Good point about the bridge." {
		t.Errorf("Validate trimmed name/body to %q/%q, want %q/%q", d.AuthorName, d.Body, "Jane Reader", "Good point about the bridge.")
	}
	if d.Email.Normalized() != "jane@example.com" || d.IP.Masked() != "203.0.113.x" {
		t.Errorf("Validate parsed email %q ip %q, want jane@example.com and 203.0.113.x", d.Email.Normalized(), d.IP.Masked())
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		edit   func(*Submission)
		fields []string
	}{
		{"empty thread", Limits{}, func(s *Submission) { s.ThreadID = "" }, []string{"thread_id"}},
		{"thread with slash", Limits{}, func(s *Submission) { s.ThreadID = "news/1" }, []string{"thread_id"}},
		{"thread too long", Limits{}, func(s *Submission) { s.ThreadID = strings.Repeat("a", 129) }, []string{"thread_id"}},
		{"bad parent", Limits{}, func(s *Submission) { s.ParentID = "no spaces allowed" }, []string{"parent_id"}},
		{"name blank after trim", Limits{}, func(s *Submission) { s.AuthorName = "   " }, []string{"author_name"}},
		{"name too long", Limits{}, func(s *Submission) { s.AuthorName = strings.Repeat("é", 101) }, []string{"author_name"}},
		{"name with newline", Limits{}, func(s *Submission) { s.AuthorName = "Jane\nDoe" }, []string{"author_name"}},
		{"name with a right-to-left override", Limits{}, func(s *Submission) { s.AuthorName = "\u202enimda" }, []string{"author_name"}},
		{"name with a left-to-right embedding", Limits{}, func(s *Submission) { s.AuthorName = "Jane\u202a" }, []string{"author_name"}},
		{"name with a first-strong isolate", Limits{}, func(s *Submission) { s.AuthorName = "\u2068Jane" }, []string{"author_name"}},
		{"name is an email address", Limits{}, func(s *Submission) { s.AuthorName = "jane@example.com" }, []string{"author_name"}},
		{"name holds an email address", Limits{}, func(s *Submission) { s.AuthorName = "Jane Reader <Jane@Example.com>" }, []string{"author_name"}},
		{"name holds an email address typed in full-width forms", Limits{}, func(s *Submission) { s.AuthorName = "Jane jane＠example.com" }, []string{"author_name"}},
		{"request id holding a URL-encoded email address after a colon", Limits{}, func(s *Submission) { s.RequestID = "form:jane%40example.com" }, []string{"request_id"}},
		{"name holds another email address", Limits{}, func(s *Submission) { s.AuthorName = "Jane (write to info@example.org.)" }, []string{"author_name"}},
		{"name with a line separator", Limits{}, func(s *Submission) { s.AuthorName = "Jane\u2028Doe" }, []string{"author_name"}},
		{"name with a paragraph separator", Limits{}, func(s *Submission) { s.AuthorName = "Jane\u2029Doe" }, []string{"author_name"}},
		{"name only invisible characters", Limits{}, func(s *Submission) { s.AuthorName = " \u2060\u3164\ufe0f " }, []string{"author_name"}},
		{"body missing", Limits{}, func(s *Submission) { s.Body = "" }, []string{"body"}},
		{"body only zero-width characters", Limits{}, func(s *Submission) { s.Body = "\u200b\n\u200c\u200d\ufeff" }, []string{"body"}},
		{"name only blank Braille patterns", Limits{}, func(s *Submission) { s.AuthorName = "\u2800\u2800" }, []string{"author_name"}},
		{"body only blank symbols", Limits{}, func(s *Submission) { s.Body = "\u2800\n\U0001D159\u200b" }, []string{"body"}},
		{"body too long by default", Limits{}, func(s *Submission) { s.Body = strings.Repeat("x", 5001) }, []string{"body"}},
		{"body over configured limit", Limits{MaxBodyChars: 10}, func(s *Submission) { s.Body = strings.Repeat("x", 11) }, []string{"body"}},
		{"body invalid utf-8", Limits{}, func(s *Submission) { s.Body = "ok \xff" }, []string{"body"}},
		{"body control char", Limits{}, func(s *Submission) { s.Body = "bell\x07" }, []string{"body"}},
		{"email missing", Limits{}, func(s *Submission) { s.AuthorEmail = "" }, []string{"author_email"}},
		{"email no at", Limits{}, func(s *Submission) { s.AuthorEmail = "jane.example.com" }, []string{"author_email"}},
		{"email display name", Limits{}, func(s *Submission) { s.AuthorEmail = "Jane <jane@example.com>" }, []string{"author_email"}},
		{"email dotless domain", Limits{}, func(s *Submission) { s.AuthorEmail = "jane@localhost" }, []string{"author_email"}},
		{"email with an IPv4 address for a domain", Limits{}, func(s *Submission) { s.AuthorEmail = "jane@[192.0.2.1]" }, []string{"author_email"}},
		{"email with an IPv6 address for a domain", Limits{}, func(s *Submission) { s.AuthorEmail = "jane@[IPv6:2001:db8::1]" }, []string{"author_email"}},
		{"email with a bare IPv4 address for a domain", Limits{}, func(s *Submission) { s.AuthorEmail = "jane@192.0.2.1" }, []string{"author_email"}},
		{"email with a numeric top-level domain", Limits{}, func(s *Submission) { s.AuthorEmail = "jane@192.168.1" }, []string{"author_email"}},
		{"bad ip", Limits{}, func(s *Submission) { s.ClientIP = "999.1.1.1" }, []string{"client_ip"}},
		{"unspecified IPv4 address", Limits{}, func(s *Submission) { s.ClientIP = "0.0.0.0" }, []string{"client_ip"}},
		{"unspecified IPv6 address", Limits{}, func(s *Submission) { s.ClientIP = "::" }, []string{"client_ip"}},
		{"unspecified IPv4 address mapped to IPv6", Limits{}, func(s *Submission) { s.ClientIP = "::ffff:0.0.0.0" }, []string{"client_ip"}},
		{"request id with space", Limits{}, func(s *Submission) { s.RequestID = "a b" }, []string{"request_id"}},
		{"request id too long", Limits{}, func(s *Submission) { s.RequestID = strings.Repeat("r", 65) }, []string{"request_id"}},
		{"request id holding an email address", Limits{}, func(s *Submission) { s.RequestID = "jane@example.com-1" }, []string{"request_id"}},
		{"user agent invalid utf-8", Limits{}, func(s *Submission) { s.UserAgent = "\xfe" }, []string{"user_agent"}},
		{"everything missing", Limits{}, func(s *Submission) { *s = Submission{} }, []string{"author_email", "author_name", "body", "thread_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSubmission()
			tt.edit(&s)
			_, err := tt.limits.Validate(s)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate(%+v) = %v, want a *ValidationError", s, err)
			}
			var got []string
			for _, v := range verr.Violations {
				got = append(got, v.Field)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("Validate(%+v) violation fields (-want +got):\n%s", s, diff)
			}
		})
	}
}

// Invisible characters beside visible ones are the reader's text (an emoji sequence joins its
// parts with U+200D): they are kept as they are.
func TestValidateKeepsInvisibleCharactersInText(t *testing.T) {
	s := validSubmission()
	s.AuthorName, s.Body = "\u200bJane", "\U0001F469\u200d\U0001F4BB"
	d, err := Limits{}.Validate(s)
	if err != nil || d.AuthorName != s.AuthorName || d.Body != s.Body {
		t.Errorf("Validate(name %q, body %q) = %q, %q, %v; want them unchanged, nil", s.AuthorName, s.Body, d.AuthorName, d.Body, err)
	}
}

// A line break sent as CR LF, as browsers send a textarea's, counts as one character, as the
// form's own counter counts it; a lone CR or LF counts as one too.
func TestValidateBodyLengthCountsLineBreaksOnce(t *testing.T) {
	line := strings.Repeat("x", 99)
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"CR LF line breaks at the limit", strings.Repeat(line+"\r\n", 49) + line + "x", false},
		{"LF line breaks at the limit", strings.Repeat(line+"\n", 49) + line + "x", false},
		{"CR line breaks at the limit", strings.Repeat(line+"\r", 49) + line + "x", false},
		{"CR LF line breaks over the limit", strings.Repeat(line+"\r\n", 49) + line + "xx", true},
		{"CR LF line breaks reversed over the limit", strings.Repeat(line+"\n\r", 49) + line + "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSubmission()
			s.Body = tt.body
			d, err := Limits{}.Validate(s)
			var verr *ValidationError
			switch {
			case tt.wantErr && (!errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "body"):
				t.Errorf("Validate(body of %d runes) = %v, want a *ValidationError on body", len([]rune(tt.body)), err)
			case !tt.wantErr && (err != nil || d.Body != tt.body):
				t.Errorf("Validate(body of %d runes) = %v, want it accepted unchanged", len([]rune(tt.body)), err)
			}
		})
	}
}

// The marks that set the direction of the characters beside them only are a name's own.
func TestValidateKeepsDirectionMarksInNames(t *testing.T) {
	for _, name := range []string{"\u05d3\u05e0\u05d4 (Dana)\u200f", "Jane\u200e", "\u0633\u0627\u0631\u0629\u061c 2"} {
		s := validSubmission()
		s.AuthorName = name
		d, err := Limits{}.Validate(s)
		if err != nil || d.AuthorName != name {
			t.Errorf("Validate(author name %q) = %q, %v; want it accepted unchanged", name, d.AuthorName, err)
		}
	}
}

// A name may hold an "@" that is no email address: a handle, or a word without a domain.
func TestValidateKeepsNamesWithAnAtSign(t *testing.T) {
	for _, name := range []string{"@jane", "Jane@Home", "Jane @ example.com", "jane@localhost"} {
		s := validSubmission()
		s.AuthorName = name
		d, err := Limits{}.Validate(s)
		if err != nil || d.AuthorName != name {
			t.Errorf("Validate(author name %q) = %q, %v; want it accepted unchanged", name, d.AuthorName, err)
		}
	}
}

// A letter sent as a base and a combining accent is one character: it is stored composed (NFC),
// and counted once against the limits.
func TestValidateComposesText(t *testing.T) {
	decomposed, composed := strings.Repeat("e\u0301", 60), strings.Repeat("\u00e9", 60)
	s := validSubmission()
	s.AuthorName, s.Body = decomposed, "Nguye\u0302\u0303n: "+decomposed
	d, err := Limits{MaxNameChars: 60, MaxBodyChars: 68}.Validate(s)
	if err != nil || d.AuthorName != composed || d.Body != "Nguy\u1ec5n: "+composed {
		t.Errorf("Validate(name and body with combining accents, limits 60 and 68 characters) = %q, %q, %v; want them composed, nil", d.AuthorName, d.Body, err)
	}
	s.AuthorName = decomposed + "e\u0301"
	_, err = Limits{MaxNameChars: 60}.Validate(s)
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "author_name" {
		t.Errorf("Validate(name of 61 composed characters, limit 60) = %v, want a *ValidationError on author_name", err)
	}
}

// A body is many lines: the Unicode line and paragraph separators are line breaks like "\n", and
// kept.
func TestValidateKeepsLineSeparatorsInBody(t *testing.T) {
	s := validSubmission()
	s.Body = "first line\u2028second line\u2029next paragraph"
	d, err := Limits{}.Validate(s)
	if err != nil || d.Body != s.Body {
		t.Errorf("Validate(body %q) = %q, %v; want it unchanged, nil", s.Body, d.Body, err)
	}
}

// A reason is one line: every kind of line break is refused, as in a name.
func TestValidateReasonRefusesLineBreaks(t *testing.T) {
	for _, reason := range []string{"rude\nand off topic", "rude\rand off topic", "rude\u0085and off topic", "rude\u2028and off topic", "rude\u2029and off topic"} {
		_, err := ValidateReason("reason", reason)
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "reason" {
			t.Errorf("ValidateReason(%q) = %v, want a *ValidationError on reason", reason, err)
		}
	}
}

// A reason is printed inside a line (commentctl's tables, the audit log), as a name is: the
// characters that change the direction of the text after them are refused, and the marks that set
// the direction of the characters beside them only are kept.
func TestValidateReasonDirectionCharacters(t *testing.T) {
	tests := []struct {
		name    string
		reason  string
		wantErr bool
	}{
		{"left-to-right embedding", "rude\u202a and off topic", true},
		{"right-to-left embedding", "rude\u202b and off topic", true},
		{"pop directional formatting", "rude\u202c and off topic", true},
		{"left-to-right override", "rude\u202d and off topic", true},
		{"right-to-left override", "approved by \u202enimda", true},
		{"left-to-right isolate", "rude\u2066 and off topic", true},
		{"right-to-left isolate", "rude\u2067 and off topic", true},
		{"first strong isolate", "rude\u2068 and off topic", true},
		{"pop directional isolate", "rude\u2069 and off topic", true},
		{"left-to-right mark", "off topic\u200e", false},
		{"right-to-left mark", "\u05dc\u05d0 \u05e8\u05dc\u05d5\u05d5\u05e0\u05d8\u05d9\u200f", false},
		{"Arabic letter mark", "\u062e\u0627\u0631\u062c \u0627\u0644\u0645\u0648\u0636\u0648\u0639\u061c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateReason("reason", tt.reason)
			var verr *ValidationError
			switch {
			case tt.wantErr && (!errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "reason"):
				t.Errorf("ValidateReason(%q) = %v, want a *ValidationError on reason", tt.reason, err)
			case !tt.wantErr && (err != nil || got != tt.reason):
				t.Errorf("ValidateReason(%q) = %q, %v; want it accepted unchanged", tt.reason, got, err)
			}
		})
	}
}

// A request id is kept in clear in Redis key names: one that holds the reader's IP address, or
// an email address URL-encoded past the "@" rule, is refused; ids that only look a little like
// one are kept.
func TestValidateRequestIDWithoutPersonalData(t *testing.T) {
	tests := []struct {
		id      string
		wantErr bool
	}{
		{"203.0.113.7", true},
		{"form-203.0.113.7-1", true},
		{"2001:db8:dead:beef::4711", true},
		{"[2001:db8::1]:443", true},
		{"jane%40example.com", true},
		{"form-jane.doe%40example.org-3", true},
		{"7f3a9c2e-1b4d-4e8a-9f00-123456789abc", false},
		{"form-7f3a", false},
		{"post:2026-12-01T08:35:12Z", false},
		{"v1.2.3", false},
		{"100%40off", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			s := validSubmission()
			s.RequestID = tt.id
			d, err := Limits{}.Validate(s)
			var verr *ValidationError
			switch {
			case tt.wantErr && (!errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "request_id"):
				t.Errorf("Validate(request id %q) = %v, want a *ValidationError on request_id", tt.id, err)
			case !tt.wantErr && (err != nil || d.RequestID != tt.id):
				t.Errorf("Validate(request id %q) = %v, want it accepted unchanged", tt.id, err)
			}
		})
	}
}

func TestValidateUserAgentControlCharacters(t *testing.T) {
	s := validSubmission()
	s.UserAgent = "Mozilla/5.0\x1b[2J\nX-Injected: 1\x07\u0085"
	d, err := Limits{}.Validate(s)
	if err != nil || d.UserAgent != "Mozilla/5.0 [2J X-Injected: 1" {
		t.Errorf("Validate(user agent with control characters) = %q, %v; want them as spaces (trimmed at the end)", d.UserAgent, err)
	}
}

// TestValidateMasksAddressesInUserAgent: the user agent is kept in clear and shown to moderators,
// so an address in it (a proxy's, a crawler's contact) is kept only in its masked form.
func TestValidateMasksAddressesInUserAgent(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{name: "browser", ua: "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0 Safari/537.36", want: "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0 Safari/537.36"},
		{name: "IPv4 address", ua: "Mozilla/5.0 via 198.51.100.94", want: "Mozilla/5.0 via 198.51.100.x"},
		{name: "IPv6 address", ua: "Mozilla/5.0 (client 2001:db8:4c3a::93)", want: "Mozilla/5.0 (client 2001:db8:4c3a::/48)"},
		{name: "email address", ua: "ExampleBot/2.1 (+mailto:badger.ua3@example.org)", want: "ExampleBot/2.1 (+mailto:b•••@example.org)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSubmission()
			s.UserAgent = tt.ua
			d, err := Limits{}.Validate(s)
			if err != nil || d.UserAgent != tt.want {
				t.Errorf("Validate(user agent %q) = %q, %v; want %q, nil", tt.ua, d.UserAgent, err, tt.want)
			}
		})
	}
}

func TestValidateTruncatesUserAgent(t *testing.T) {
	s := validSubmission()
	s.UserAgent = strings.Repeat("u", MaxUserAgentChars+10)
	d, err := Limits{}.Validate(s)
	if err != nil || len(d.UserAgent) != MaxUserAgentChars {
		t.Errorf("Validate(long user agent) = %d chars, %v; want %d, nil", len(d.UserAgent), err, MaxUserAgentChars)
	}
}

// TestValidateCutsUserAgentBetweenWords: a user agent longer than the limit is cut at the last
// space before it, so the cut never leaves the start of a masked range or version reading as an
// address.
func TestValidateCutsUserAgentBetweenWords(t *testing.T) {
	pad := strings.Repeat("x", MaxUserAgentChars-10)
	tests := []struct {
		name, ua, want string
	}{
		{name: "range cut", ua: pad + " via 203.0.113.0/24 proxy", want: pad + " via"},
		{name: "IPv6 mask cut", ua: pad + " client 2001:db8:1::99 end", want: pad + " client"},
		{name: "cut at a space", ua: pad + strings.Repeat("y", 10) + " tail", want: pad + strings.Repeat("y", 10)},
		{name: "one long word", ua: strings.Repeat("u", MaxUserAgentChars+10), want: strings.Repeat("u", MaxUserAgentChars)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSubmission()
			s.UserAgent = tt.ua
			d, err := Limits{}.Validate(s)
			if err != nil || d.UserAgent != tt.want {
				t.Errorf("Validate(user agent ...%q) = ...%q, %v; want ...%q", tail(tt.ua), tail(d.UserAgent), err, tail(tt.want))
			}
		})
	}
}

func tail(s string) string { return s[max(0, len(s)-40):] }

func TestDraftKeys(t *testing.T) {
	k, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}}, HashKey: privacy.NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Limits{}.Validate(validSubmission())
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	author, ip := d.Keys(k)
	if author != k.EmailKey(d.Email) || ip != k.IPKey(d.IP) || author == "" || ip == "" {
		t.Errorf("Draft.Keys = %q, %q; want EmailKey %q and IPKey %q", author, ip, k.EmailKey(d.Email), k.IPKey(d.IP))
	}
	noIP := validSubmission()
	noIP.ClientIP = ""
	d2, _ := Limits{}.Validate(noIP)
	if _, ip := d2.Keys(k); ip != "" {
		t.Errorf("Draft.Keys without an address: ip key %q, want empty", ip)
	}
}

// A thread id that was given but is malformed is "not a thread id", not "required".
func TestValidateThreadIDMessage(t *testing.T) {
	for _, tt := range []struct{ id, prefix string }{
		{"", "required: "},
		{"news/1", "not a thread id: "},
		{strings.Repeat("a", 129), "not a thread id: "},
	} {
		s := validSubmission()
		s.ThreadID = tt.id
		_, err := Limits{}.Validate(s)
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Violations) != 1 {
			t.Fatalf("Validate(thread %q) = %v, want one violation", tt.id, err)
		}
		if d := verr.Violations[0].Description; !strings.HasPrefix(d, tt.prefix) {
			t.Errorf("Validate(thread %q) description %q, want prefix %q", tt.id, d, tt.prefix)
		}
	}
}

// ListPublished words its thread id violation as a submission does: a malformed id that was sent
// is "not a thread id", not "required".
func TestValidateListPublishedThreadIDMessage(t *testing.T) {
	for _, tt := range []struct{ id, prefix string }{
		{"", "required: "},
		{"news/1", "not a thread id: "},
		{strings.Repeat("a", 129), "not a thread id: "},
	} {
		err := ValidateListPublished(tt.id, Page{})
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "thread_id" {
			t.Fatalf("ValidateListPublished(thread %q) = %v, want one violation on thread_id", tt.id, err)
		}
		if d := verr.Violations[0].Description; !strings.HasPrefix(d, tt.prefix) {
			t.Errorf("ValidateListPublished(thread %q) description %q, want prefix %q", tt.id, d, tt.prefix)
		}
	}
}

// The patterns the id checks implement (see ValidThreadID).
var (
	threadIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~:-]{0,127}$`)
	requestIDPattern = regexp.MustCompile(`^[\x21-\x3f\x41-\x7e]{1,64}$`)
	commentIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)
)

// checkIDs fails t when an id check and its pattern disagree about s.
func checkIDs(t *testing.T, s string) {
	t.Helper()
	for _, c := range []struct {
		name    string
		check   func(string) bool
		pattern *regexp.Regexp
	}{
		{"ValidThreadID", ValidThreadID, threadIDPattern},
		{"ValidRequestID", ValidRequestID, requestIDPattern},
		{"ValidID", ValidID, commentIDPattern},
	} {
		if got, want := c.check(s), c.pattern.MatchString(s); got != want {
			t.Errorf("%s(%q) = %v, want %v (%s)", c.name, s, got, want, c.pattern)
		}
	}
}

func TestIDChecksMatchPatterns(t *testing.T) {
	ids := []string{"", "a", "-a", "a-", ".a", "_a", "~a", ":a", "article-42", "a.b_c~d:e-f", "A9",
		"a b", "a\n", "a\x00", "é", "aé", "a\xff", "!", "~", "\x7f", " x", "req-1", "a/b", "a+b", "a\tb",
		strings.Repeat("a", 40), strings.Repeat("a", 41), strings.Repeat("a", 64), strings.Repeat("a", 65),
		strings.Repeat("a", 128), strings.Repeat("a", 129), "0" + strings.Repeat("-", 127), "0" + strings.Repeat("-", 128)}
	for c := 0; c < 256; c++ {
		ids = append(ids, string(rune(c)), "a"+string([]byte{byte(c)}), string([]byte{byte(c)}))
	}
	for _, s := range ids {
		checkIDs(t, s)
	}
}

func FuzzIDChecksMatchPatterns(f *testing.F) {
	for _, s := range []string{"article-42", "req-1", "0123456789abcdef", "a b", "é", strings.Repeat("z", 64)} {
		f.Add(s)
	}
	f.Fuzz(checkIDs)
}

func TestShortDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{360 * time.Hour, "360h"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{45 * time.Minute, "45m"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		if got := ShortDuration(tt.d); got != tt.want {
			t.Errorf("ShortDuration(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
