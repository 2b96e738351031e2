// Package privacy keeps readers' personal data (email and IP addresses) private: it seals them with
// AES-256-GCM for storage, derives keyed hashes (HMAC-SHA256) for lookups, and gives them log and
// display forms that never reveal the address.
//
// The types here are the only way the rest of commentd holds an email or IP address. Their String
// and LogValue methods return masked or redacted forms, so a stray fmt or slog call cannot leak one;
// code that really needs the address (sealing it) calls Reveal.
package privacy

import (
	"fmt"
	"iter"
	"log/slog"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Email is a syntactically valid email address. Its zero value is "no address".
type Email struct {
	addr string // as given, trimmed
}

// ParseEmail checks that s is a single bare address such as "jane@example.com" (no display name,
// no angle brackets) and returns it. It does not look the domain up.
func ParseEmail(s string) (Email, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 || !utf8.ValidString(s) {
		return Email{}, false
	}
	if !simpleAddress(s) {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			return Email{}, false
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || !strings.Contains(s[at+1:], ".") {
		// A dotless domain ("jane@localhost") is valid syntax but never a reader's real address.
		return Email{}, false
	}
	return Email{addr: s}, true
}

// HoldsEmail reports whether text holds an email address that ParseEmail takes: a run of text
// with an "@", cut at spaces, at the brackets and quotes that enclose an address in prose and at
// colons ("mailto:", "E-mail:"; no address has one outside quotes), without the full stop, comma
// or other punctuation that ends a sentence after it. The text is read as readable gives it
// first: an address typed with an East Asian input method in full-width mode ("jane＠example．com"),
// or with a zero-width space in it, is one to every reader, though ParseEmail alone would not take
// it. A masked address (MaskEmail's j•••@example.com, as moderators see it) is not one, nor is a handle
// ("@jane") or a word with an "@" and no domain ("Jane@Home").
func HoldsEmail(text string) bool {
	text = readable(text)
	if !strings.Contains(text, "@") {
		return false
	}
	for start, end := range spans(text, isEmailChar) {
		if _, ok := emailIn(text[start:end]); ok {
			return true
		}
	}
	return false
}

// isEmailChar reports whether r may be part of a run of text that holds an email address: it is
// no space, nor a bracket or quote that encloses an address in prose, nor a colon ("mailto:",
// "E-mail:"; no address has one outside quotes).
func isEmailChar(r rune) bool {
	return !unicode.IsSpace(r) && !strings.ContainsRune("<>()[]{},;:\"'`«»“”‘’", r)
}

// emailIn returns where the email address that run (a run of isEmailChar) starts with ends, as
// HoldsEmail reads it, and whether there is one.
func emailIn(run string) (end int, ok bool) {
	if !strings.Contains(run, "@") || strings.Contains(run, "•") {
		return 0, false
	}
	end = len(strings.TrimRight(run, ".!?"))
	if _, ok := ParseEmail(run[:end]); !ok {
		return 0, false
	}
	return end, true
}

// HoldsIP reports whether text holds an IP address: four dot-separated numbers of one to three
// digits, each at most 255, wherever they stand ("ip-203.0.113.7:443"), or a run of hexadecimal
// digits, colons and dots, with at least two colons, that net/netip parses as an IPv6 address
// other than the loopback and unspecified ones ("2001:db8::1", "[2001:db8::1]:443"). A version
// number of four parts ("1.2.3.4") looks the same and is taken for one. The first address of a
// network written as one ("203.0.113.0/24", or "2001:db8:1::/48" as IP.Masked gives an IPv6
// address) names the network, not a reader, and is not one. The text is read as readable gives it
// ("１９８.５１.１００.７" and an address with a zero-width space in it are addresses).
func HoldsIP(text string) bool {
	text = readable(text)
	for start, end := range spans(text, isIPv4Char) {
		if len(ipv4In(text, start, end)) > 0 {
			return true
		}
	}
	for start, end := range spans(text, isIPv6Char) {
		if _, ok := ipv6In(text, start, end); ok {
			return true
		}
	}
	return false
}

// readable returns text as a reader sees it, for the address checks: in its compatibility form
// (NFKC: full-width letters, digits and "＠" become ASCII), without the invisible characters
// (zero-width spaces and joiners, soft hyphens, direction marks, variation selectors) that would
// otherwise cut an address in two for the checks and not for the eye.
func readable(text string) string {
	return DropInvisible(norm.NFKC.String(text))
}

// Invisible reports whether r is drawn as nothing: a format character (zero-width spaces and
// joiners, soft hyphen, direction marks and isolates, invisible operators, tags), a variation
// selector (the U+FE0F that follows most emoji), or one of the other characters Unicode says to
// draw as nothing (the combining grapheme joiner, Hangul fillers), which are letters and marks
// only by category. Spammers sprinkle them into words, links and addresses so that a check reads
// another text than the eye. It is the one definition the checks that compare text share: the
// address checks here and an address's identity, duplicate control, the word lists, the campaign
// check.
func Invisible(r rune) bool {
	return r >= 0xAD && (unicode.Is(unicode.Cf, r) ||
		unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point))
}

// DropInvisible returns s without its Invisible characters; s itself when it has none.
func DropInvisible(s string) string {
	if !strings.ContainsFunc(s, Invisible) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Invisible(r) {
			return -1
		}
		return r
	}, s)
}

// HoldsAddress reports whether text holds an email address (HoldsEmail) or an IP address
// (HoldsIP). Free text that is kept in clear and shown to moderators (a reason, a word-list entry)
// is refused when it does: an address written there would never be hashed, sealed or erased.
func HoldsAddress(text string) bool { return HoldsEmail(text) || HoldsIP(text) }

// MaskAddresses returns text with every address HoldsEmail and HoldsIP would find in it replaced
// by its masked form (MaskEmail, IP.Masked): "via 203.0.113.7" becomes "via 203.0.113.x". It is for
// text a reader or their browser sent that is kept as it is, such as the user agent, where a
// refusal would help no one: the reader cannot change it. A four-part number right after a
// product name and a slash ("Chrome/124.0.0.0") is a version, as user agents write them, and is
// left alone. The text comes back as readable gives it (NFKC, without invisible format
// characters), as HoldsEmail reads it; the masked form may be longer than the address it replaces.
func MaskAddresses(text string) string {
	// Read as HoldsEmail and HoldsIP read it, or an address they find would be kept.
	text = readable(text)
	if strings.Contains(text, "@") {
		text = replaceSpans(text, isEmailChar, func(start, end int) string {
			run := text[start:end]
			e, ok := emailIn(run)
			if !ok {
				return run
			}
			return MaskEmail(run[:e]) + run[e:]
		})
	}
	if strings.Count(text, ":") >= 2 {
		text = replaceSpans(text, isIPv6Char, func(start, end int) string {
			if a, ok := ipv6In(text, start, end); ok {
				return IPFromAddr(a).Masked()
			}
			return text[start:end]
		})
	}
	if strings.Contains(text, ".") {
		text = replaceSpans(text, isIPv4Char, func(start, end int) string {
			run := text[start:end]
			if start >= 2 && text[start-1] == '/' && isAlnumByte(text[start-2]) {
				return run // a product's version: "Chrome/124.0.0.0"
			}
			last := ipv4In(text, start, end)
			if len(last) == 0 {
				return run
			}
			var b strings.Builder
			from := start
			for _, i := range last {
				b.WriteString(text[from:i])
				b.WriteString("x")
				from = i
				for from < end && text[from] != '.' {
					from++
				}
			}
			b.WriteString(text[from:end])
			return b.String()
		})
	}
	return text
}

// spans yields the start and end of every maximal run of text whose runes keep accepts, in order.
func spans(text string, keep func(rune) bool) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		start := -1
		for i, r := range text {
			switch {
			case keep(r) && start < 0:
				start = i
			case !keep(r) && start >= 0:
				if !yield(start, i) {
					return
				}
				start = -1
			}
		}
		if start >= 0 {
			yield(start, len(text))
		}
	}
}

// replaceSpans returns text with every span of keep replaced by what f makes of it. Text in which
// f changes nothing comes back as it is, without a copy: the user agent of every submission goes
// through here, and almost none holds an address.
func replaceSpans(text string, keep func(rune) bool, f func(start, end int) string) string {
	var b strings.Builder
	last := 0
	for start, end := range spans(text, keep) {
		r := f(start, end)
		if r == text[start:end] {
			continue
		}
		b.WriteString(text[last:start])
		b.WriteString(r)
		last = end
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

func isIPv4Char(r rune) bool { return r >= '0' && r <= '9' || r == '.' }

func isIPv6Char(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == ':' || r == '.'
}

func isAlnumByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ipv4In returns where the last number of each IPv4 address in text[start:end] (a run of
// isIPv4Char) starts: four consecutive dot-separated numbers of one to three digits, each at most
// 255, that are not a network's first address followed by its prefix length (isNetwork).
func ipv4In(text string, start, end int) []int {
	var lasts []int
	n, first := 0, start // consecutive numbers of an address's form, and where the first began
	for i := start; i < end; {
		j := i
		for j < end && text[j] != '.' {
			j++
		}
		part := text[i:j]
		if v, err := strconv.Atoi(part); err == nil && len(part) <= 3 && v <= 255 {
			if n == 0 {
				first = i
			}
			n++
		} else {
			n = 0
		}
		if n == 4 {
			a, err := netip.ParseAddr(text[first:j])
			if err != nil || !isNetwork(a, text[j:]) {
				lasts = append(lasts, i)
			}
			n = 0
		}
		i = j + 1
	}
	return lasts
}

// ipv6In returns the IPv6 address text[start:end] (a run of isIPv6Char) is, and whether it is one
// HoldsIP takes: at least two colons, neither loopback nor unspecified, nor a network's first
// address followed by its prefix length.
func ipv6In(text string, start, end int) (netip.Addr, bool) {
	run := text[start:end]
	if strings.Count(run, ":") < 2 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(run)
	if err != nil || !a.Is6() || a.IsLoopback() || a.IsUnspecified() || isNetwork(a, text[end:]) {
		return netip.Addr{}, false
	}
	return a, true
}

// isNetwork reports whether address a, written just before rest, is the first address of a
// network whose prefix length rest starts with ("/24"), shorter than a full address: such as
// "203.0.113.0/24", or "2001:db8:1::/48" as IP.Masked shows an IPv6 address.
func isNetwork(a netip.Addr, rest string) bool {
	if len(rest) < 2 || rest[0] != '/' {
		return false
	}
	bits, i := 0, 1
	for ; i < len(rest) && i <= 3 && rest[i] >= '0' && rest[i] <= '9'; i++ {
		bits = bits*10 + int(rest[i]-'0')
	}
	if i == 1 || bits >= a.BitLen() {
		return false
	}
	p, err := a.Prefix(bits)
	return err == nil && p.Addr() == a
}

// simpleAddress reports whether s is a dot-atom local part, "@" and a domain of letters, digits,
// hyphens and dots (no empty label) — the form nearly every reader's address has, and one that
// net/mail accepts unchanged. It is checked here because net/mail's general parser (quoted local
// parts, comments, display names, encoded words) was the dearest part of validating a submission;
// anything else still goes through net/mail, and a fuzz test holds the two to the same answers.
func simpleAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	return dotted(s[:at], isAtext) && dotted(s[at+1:], isDomainChar)
}

// dotted reports whether s is one or more non-empty runs of characters ok accepts, separated by
// single dots.
func dotted(s string, ok func(byte) bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if run == 0 {
				return false
			}
			run = 0
		case ok(c):
			run++
		default:
			return false
		}
	}
	return run > 0
}

// isAtext reports whether c may appear in an atom (RFC 5322 atext, ASCII only).
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isDomainChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// IsZero reports whether e holds no address.
func (e Email) IsZero() bool { return e.addr == "" }

// Reveal returns the address in clear. Call it only to seal the address; never log or return it.
func (e Email) Reveal() string { return e.addr }

// Normalized returns the address trimmed and lower-cased, so "Jane@Example.com" and
// "jane@example.com" compare equal. Provider-specific rules (dots, plus tags) are not applied:
// they differ between providers, and guessing wrong would merge different people.
func (e Email) Normalized() string { return strings.ToLower(e.addr) }

// identity returns the form the keyed hash (Keyring.EmailKey) is taken of: Normalized, and for an
// address with letters beyond ASCII, or a domain in its ASCII-compatible "xn--" form, one spelling
// of it: Unicode in composed form (NFC), the domain decoded from "xn--", without Invisible
// characters. The mail system delivers those spellings to one mailbox (an invisible character
// shows nowhere, and the domain's IDNA mapping drops it), and told apart they would let a banned
// or rate-limited reader come back as someone new. Plain ASCII addresses, nearly all of them, keep
// the hashes they always had.
//
// Provider rules are not applied: dots in a Gmail local part, "+tags", googlemail.com for
// gmail.com. They hold for some providers only (a "+" or a dot is part of the mailbox name on
// many), and the address is never verified: whoever wants a new identity can type any new address,
// so folding them would stop nobody who means it while it would merge other providers' distinct
// mailboxes and change the hashes, bans and records of every such address already stored.
// Look-alike letters (a Cyrillic "о" for a Latin "o") are not folded either: they spell another
// mailbox.
func (e Email) identity() string {
	lower := e.Normalized()
	if isASCII(lower) && !strings.Contains(lower, "xn--") {
		return lower
	}
	addr := DropInvisible(e.addr)
	at := strings.LastIndexByte(addr, '@')
	domain := caseless(addr[at+1:])
	if u, err := idna.Punycode.ToUnicode(domain); err == nil {
		domain = u
	}
	return caseless(addr[:at]) + "@" + caseless(domain)
}

// caseless returns s composed (NFC) and lower-cased, composing and lower-casing it twice: a
// capital's lower case may differ from its parts' (a capital I with a dot above, U+0130, is "i";
// an I followed by a combining dot above is "i" and the dot), and a lower case may compose
// further once lower-cased.
func caseless(s string) string {
	return strings.ToLower(norm.NFC.String(strings.ToLower(norm.NFC.String(s))))
}

// Spellings returns the address lower-cased in every spelling of it that names the same mailbox:
// as given, as its identity, and the other forms earlierSpellings lists. A plain ASCII address has
// one. It is for keeping the address out of free text in whatever spelling the text uses.
func (e Email) Spellings() []string {
	if e.IsZero() {
		return nil
	}
	return compactStrings(append([]string{e.Normalized(), e.identity()}, e.earlierSpellings()...))
}

// earlierSpellings returns the spellings of the address, lower-cased, whose keyed hashes differ
// from that of its identity: the address as given, and the local part and domain composed (NFC)
// or decomposed (NFD), the domain in Unicode or in its "xn--" form. Before identity, the keyed
// hash was taken of the address as the reader spelt it, lower-cased, and comments stored then
// (or by a server of that release during a rolling upgrade) carry those hashes. Plain ASCII
// addresses, whose hash did not change, have none.
func (e Email) earlierSpellings() []string {
	id, given := e.identity(), e.Normalized()
	if id == given && isASCII(id) {
		return nil
	}
	at := strings.LastIndexByte(id, '@')
	local, domain := id[:at], id[at+1:]
	domains := []string{domain, norm.NFD.String(domain)}
	if a, err := idna.Punycode.ToASCII(domain); err == nil {
		domains = append(domains, a)
	}
	out := []string{given}
	for _, l := range []string{local, norm.NFD.String(local)} {
		for _, d := range domains {
			out = append(out, strings.ToLower(l+"@"+d))
		}
	}
	return slices.DeleteFunc(compactStrings(out), func(s string) bool { return s == id })
}

// compactStrings removes repeated strings from ss, keeping the first of each in its place.
func compactStrings(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Masked returns the form shown to moderators: the first character of the local part, a run of
// bullets, and the domain, such as "j•••@example.com". A local part of one character is not shown
// at all ("•••@example.com"): its first character would be the whole address.
func (e Email) Masked() string { return MaskEmail(e.addr) }

// String returns the masked form, so formatting an Email never prints the address.
func (e Email) String() string { return e.Masked() }

// LogValue implements slog.LogValuer: logs carry no part of the address.
func (e Email) LogValue() slog.Value { return slog.StringValue("[email redacted]") }

// MaskEmail masks a plain address string the way Email.Masked does. Strings without "@" mask to "•••".
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "•••"
	}
	domain := strings.ToLower(addr[at+1:])
	first, size := utf8.DecodeRuneInString(addr)
	if size == at {
		return "•••@" + domain
	}
	return string(first) + "•••@" + domain
}

// IP is a reader's IP address. Its zero value is "no address".
type IP struct {
	addr netip.Addr
}

// ParseIP parses an IPv4 or IPv6 address (an IPv4-mapped IPv6 address, or one of the NAT64
// well-known prefix, becomes the IPv4 address it stands for; a zone is refused).
func ParseIP(s string) (IP, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return IP{}, false
	}
	return IPFromAddr(a), true
}

// IPFromAddr wraps an already parsed address, as ParseIP does.
func IPFromAddr(a netip.Addr) IP {
	a = a.Unmap()
	if nat64Prefix.Contains(a) {
		// A site behind an IPv6-only network's translator (RFC 6052, 7755) sees each IPv4 reader
		// as 64:ff9b::a.b.c.d. Taken as IPv6, every such reader would share one /64, counted by
		// the rate limits as one reader and banned together; the address is the IPv4 one.
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	return IP{addr: a}
}

// nat64Prefix is the NAT64 well-known prefix, whose addresses hold an IPv4 address in their last
// 32 bits (RFC 6052).
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// IsZero reports whether ip holds no address.
func (ip IP) IsZero() bool { return !ip.addr.IsValid() }

// Addr returns the address, for range (CIDR) matching. Never log or return it.
func (ip IP) Addr() netip.Addr { return ip.addr }

// Reveal returns the address in clear, to seal it. Never log or return it.
func (ip IP) Reveal() string {
	if !ip.addr.IsValid() {
		return ""
	}
	return ip.addr.String()
}

// Masked returns the form shown to moderators: the IPv4 /24 ("203.0.113.x") or the IPv6 /48
// ("2001:db8:1::/48"). That is enough to spot a burst from one network without naming the reader.
// A 6to4 address (2002::/16) carries its host's IPv4 address in bits 16 to 47, so its /48 would
// name that address in full: it is masked to the /40, the IPv4 /24 it holds.
func (ip IP) Masked() string {
	switch {
	case !ip.addr.IsValid():
		return ""
	case ip.addr.Is4():
		b := ip.addr.As4()
		return fmt.Sprintf("%d.%d.%d.x", b[0], b[1], b[2])
	case sixToFour.Contains(ip.addr):
		p, _ := ip.addr.Prefix(40)
		return p.String()
	default:
		p, _ := ip.addr.Prefix(48)
		return p.String()
	}
}

// The widest IP ranges a moderator may name, in a range ban or a word-list entry: a typo such as
// 0.0.0.0/0 must not lock out, hold or mark spam the whole Internet.
const (
	MinRangeBitsIPv4 = 8
	MinRangeBitsIPv6 = 16
)

// DeviceBitsIPv6 is the prefix length of the IPv6 network one phone or home network is given,
// which rate limits and address bans count an IPv6 address by (Keyring.IPLimitKey).
const DeviceBitsIPv6 = 64

// MaxRangeBitsIPv4 is the longest IPv4 prefix a range kept in clear (a range ban, a word-list
// entry) may have: a /30 holds four addresses and a /31 two, one home's or one point-to-point
// link's, which the range would name to every moderator and in the audit log, while an address is
// kept only as its keyed hash.
const MaxRangeBitsIPv4 = 29

// NarrowRange reports whether p, a range of more than one address, is so narrow that keeping it in
// clear would name one reader or two, and says what it is, for the caller's message: an IPv6 range
// within one DeviceBitsIPv6 network, an IPv4 range longer than /MaxRangeBitsIPv4, or a 6to4 range
// (2002::/16) whose IPv4 part, bits 16 to 47, is such an IPv4 range (so a 6to4 /48 is one IPv4
// address's network). A range of one address is the caller's to refuse.
func NarrowRange(p netip.Prefix) (what string, narrow bool) {
	a := p.Addr()
	switch {
	case !p.IsValid() || p.IsSingleIP() || a.Is4In6():
		return "", false
	case a.Is4() && p.Bits() > MaxRangeBitsIPv4:
		return fmt.Sprintf("a range of %d addresses or fewer (narrower than /%d), one home's or one link's", 1<<(32-MaxRangeBitsIPv4-1), MaxRangeBitsIPv4), true
	case a.Is4():
		return "", false
	case sixToFour.Contains(a) && p.Bits()-16 > MaxRangeBitsIPv4:
		v4 := netip.PrefixFrom(sixToFourIPv4(a), min(p.Bits()-16, 32))
		return fmt.Sprintf("a 6to4 range, which stands for the IPv4 %s (%d addresses or fewer, one home's or one link's)", v4.Masked(), 1<<(32-MaxRangeBitsIPv4-1)), true
	case p.Bits() >= DeviceBitsIPv6:
		return fmt.Sprintf("a range within one /%d, the block one phone or home network is given", DeviceBitsIPv6), true
	}
	return "", false
}

// MinRangeBits is the shortest prefix length a range starting at a may have.
func MinRangeBits(a netip.Addr) int {
	if a.Is4() {
		return MinRangeBitsIPv4
	}
	return MinRangeBitsIPv6
}

// sixToFour is the 6to4 prefix (RFC 3056): 2002:V4ADDR::/48 is the network of the IPv4 address V4ADDR.
var sixToFour = netip.MustParsePrefix("2002::/16")

// sixToFourIPv4 returns the IPv4 address a 6to4 address holds in its bits 16 to 47.
func sixToFourIPv4(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[2:6]))
}

// String returns the masked form.
func (ip IP) String() string { return ip.Masked() }

// LogValue implements slog.LogValuer: logs carry no part of the address.
func (ip IP) LogValue() slog.Value { return slog.StringValue("[ip redacted]") }
