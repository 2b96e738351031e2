package privacy

import (
	"strings"
	"testing"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// FuzzEmailIdentity: the form an address is hashed in (identity) is one address's form: taken as
// an address again, it has itself as identity (but for domains no registry gives out, see below); the other spellings the mail system delivers to
// the same mailbox (ASCII letters in another case, accents composed or decomposed, the domain in
// its "xn--" form) have the same; and Spellings lists both the address as given and its identity.
func FuzzEmailIdentity(f *testing.F) {
	for _, s := range []string{
		"jane@example.com", "Jane@Example.COM", "jane@bücher.example", "jane@xn--bcher-kva.example",
		"jose\u0301@example.com", "JOS\u00c9@example.com", "a@b.c", "\"quoted\"@example.com",
		"jane@xn--.example", "jane@xn--zz-.example", "ǅ@example.com", "\u0130@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, ok := ParseEmail(s)
		if !ok {
			return
		}
		id := e.identity()
		sp := e.Spellings()
		if len(sp) == 0 || sp[0] != e.Normalized() || !strings.Contains(strings.Join(sp, "\n")+"\n", id+"\n") {
			t.Errorf("ParseEmail(%q).Spellings() = %q, want the address lower-cased first and its identity %q among them", s, sp, id)
		}
		addr := e.Reveal()
		at := strings.LastIndexByte(addr, '@')
		local := addr[:at]
		others := []string{swapASCIICase(s), norm.NFC.String(s), norm.NFD.String(s)}
		if !strings.Contains(id, "xn--") {
			// A domain whose "xn--" label decodes to another "xn--" label is no valid IDNA name,
			// nor any reader's: its identity, decoded once, is not decoded again.
			others = append(others, id)
			if a, err := idna.Punycode.ToASCII(id[strings.LastIndexByte(id, '@')+1:]); err == nil {
				others = append(others, local+"@"+a)
			}
		}
		for _, o := range others {
			oe, ok := ParseEmail(o)
			if !ok {
				continue // a spelling ParseEmail refuses is no address to hash
			}
			if got := oe.identity(); got != id {
				t.Errorf("identity(%q) = %q, identity(%q) = %q; want one identity for the two spellings", o, got, s, id)
			}
		}
	})
}

// swapASCIICase returns s with its ASCII letters' case swapped, and every other byte as it is.
func swapASCIICase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b[i] = c ^ 0x20
		}
	}
	return string(b)
}
