package comment

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/privacy"
)

// FuzzValidate: Validate never panics, and a draft it accepts has its name and body trimmed,
// composed (NFC), valid UTF-8 and within the length limits, a name that holds no email address,
// and a user agent of valid UTF-8 without control characters, within MaxUserAgentChars, that is
// the start of the user agent with every address masked, cut between words so that the cut
// leaves no text that reads as an address ("203.0.113.0" of the network "203.0.113.0/24").
func FuzzValidate(f *testing.F) {
	s := validSubmission()
	f.Add(s.AuthorName, s.AuthorEmail, s.Body, s.ClientIP, s.UserAgent, s.RequestID)
	f.Add("jane@example.com", "jane@[192.0.2.1]", " \u200b ", "::ffff:203.0.113.7", "via 203.0.113.7", "203.0.113.7")
	f.Add("Jane", "jane@bücher.example", "e\u0301\r\n", "64:ff9b::198.51.100.7", strings.Repeat("a", MaxUserAgentChars-12)+" 203.0.113.0/24", "req-2")
	f.Fuzz(func(t *testing.T, name, email, body, ip, ua, requestID string) {
		d, err := Limits{MaxNameChars: 20, MaxBodyChars: 50}.Validate(Submission{
			ThreadID: "article-42", AuthorName: name, AuthorEmail: email, Body: body,
			ClientIP: ip, UserAgent: ua, RequestID: requestID,
		})
		if err != nil {
			return
		}
		for _, tt := range []struct {
			field, in, got string
			max            int
		}{{"author_name", name, d.AuthorName, 20}, {"body", body, d.Body, 50}} {
			if want := norm.NFC.String(strings.TrimSpace(tt.in)); tt.got != want {
				t.Errorf("Validate(%s %q) kept %q, want %q (trimmed, composed)", tt.field, tt.in, tt.got, want)
			}
			if n := TextLength(tt.got); !utf8.ValidString(tt.got) || n < 1 || n > tt.max {
				t.Errorf("Validate(%s %q) accepted %q, of %d characters; want valid UTF-8 of 1 to %d", tt.field, tt.in, tt.got, n, tt.max)
			}
		}
		if privacy.HoldsEmail(d.AuthorName) {
			t.Errorf("Validate(author_name %q) accepted a name that holds an email address", name)
		}
		if d.Email.IsZero() {
			t.Errorf("Validate(author_email %q) accepted no address", email)
		}
		if !utf8.ValidString(d.UserAgent) || utf8.RuneCountInString(d.UserAgent) > MaxUserAgentChars || strings.ContainsFunc(d.UserAgent, unicode.IsControl) {
			t.Errorf("Validate(user_agent %q) kept %q; want valid UTF-8 without control characters, of at most %d characters", ua, d.UserAgent, MaxUserAgentChars)
		}
		spaced := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, ua)
		if m := strings.TrimSpace(privacy.MaskAddresses(spaced)); !strings.HasPrefix(m, d.UserAgent) {
			t.Errorf("Validate(user_agent %q) kept %q, want the start of it masked: %q", ua, d.UserAgent, m)
		}
		// Cut between words, what is kept is whole words of the masked text, which masking
		// leaves alone; only a first word longer than the limit is cut inside.
		if strings.ContainsFunc(d.UserAgent, unicode.IsSpace) && privacy.MaskAddresses(d.UserAgent) != d.UserAgent {
			t.Errorf("Validate(user_agent %q) kept %q, which masks to %q: the cut left text that reads as an address", ua, d.UserAgent, privacy.MaskAddresses(d.UserAgent))
		}
	})
}
