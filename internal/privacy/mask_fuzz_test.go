package privacy

import (
	"testing"
)

// withoutVersions returns text with every run of digits and dots that MaskAddresses takes for a
// product's version ("Chrome/124.0.0.0": right after a letter or digit and a slash) written as
// "v"s, so that HoldsIP, which has no such exception, reads in it only what MaskAddresses should
// have masked.
func withoutVersions(text string) string {
	b := []byte(text)
	for start, end := range spans(text, isIPv4Char) {
		if start >= 2 && text[start-1] == '/' && isAlnumByte(text[start-2]) && len(ipv4In(text, start, end)) > 0 {
			for i := start; i < end; i++ {
				b[i] = 'v'
			}
		}
	}
	return string(b)
}

// FuzzMaskAddressesLeavesNone: what MaskAddresses returns holds no address HoldsEmail or HoldsIP
// would find, but for the product versions it leaves alone on purpose; masking it again changes
// nothing; and it changes the text (beyond reading it as readable does) exactly when the text
// holds an address outside such a version, so a user agent is masked where a reason would be
// refused.
func FuzzMaskAddressesLeavesNone(f *testing.F) {
	for _, s := range []string{
		"", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 via 203.0.113.7", "proxy(ip=203.0.113.7:8080)", "bot (+http://203.0.113.7/bot.html)",
		"fwd/203.0.113.7", "203.0.113.7, 198.51.100.9", "client [2001:db8:dead:beef::4711]:443",
		"from ::ffff:198.51.100.7", "::1 at 12:34:56", "crawler (+mailto:Jane.Doe@Example.com)",
		"contact jane@example.com.", "via ｊａｎｅ＠example.com", "via 203.0.113\u200b.7",
		"j•••@example.com", "@jane", "203.0.113.0/24", "2001:db8:1::/48", "64:ff9b::198.51.100.7",
		"2002:cb00:7107::1", "1.2.3.4.5.6.7.8", "fe80::1%eth0", "\"jane doe\"@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := MaskAddresses(s)
		if HoldsEmail(m) {
			t.Errorf("HoldsEmail(MaskAddresses(%q) = %q) = true, want false", s, m)
		}
		if HoldsIP(withoutVersions(m)) {
			t.Errorf("HoldsIP(MaskAddresses(%q) = %q), versions aside, = true, want false", s, m)
		}
		if again := MaskAddresses(m); again != m {
			t.Errorf("MaskAddresses(MaskAddresses(%q)) = %q, want it unchanged: %q", s, again, m)
		}
		r := readable(s)
		if held, changed := HoldsEmail(r) || HoldsIP(withoutVersions(r)), m != r; held != changed {
			t.Errorf("MaskAddresses(%q) = %q (changed: %v), but HoldsAddress, versions aside, = %v", s, m, changed, held)
		}
	})
}
