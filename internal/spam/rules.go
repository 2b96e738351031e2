package spam

import (
	"errors"
	"fmt"
	"html"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/comment"
)

// Defaults of the rule checks.
const (
	DefaultMaxLinks   = 2
	DefaultMinFormAge = 3 * time.Second
	DefaultTrustAfter = 3
	// MaxPatternChars bounds a /regexp/ list entry. RE2 matches in time linear in the text, so no
	// entry can backtrack; the bound keeps the source short.
	MaxPatternChars = 200
	// MaxPatternInsts bounds the compiled program of a regex filter added through the API. RE2's
	// time is linear in the text but also grows with the program, which counted repetition makes
	// large from a short source: BenchmarkRegexPattern (a 5,000-character body) measured about
	// 0.1 ms for word-list patterns of 8–50 instructions, 2 ms for `(\w+\s?){1,10}z` (72) and
	// 8 ms for `(\w+\s?){1,40}z` (282); `(\w+\s?){1,999}z` compiles to about 7,000. The bound is
	// per pattern: every pattern runs on every submission, so many patterns still add up.
	MaxPatternInsts = 100
)

// RuleOptions configures the rule checks. Zero fields take the defaults; a negative number turns
// that check off.
type RuleOptions struct {
	// MaxLinks holds a comment with this many links or more (default 2).
	MaxLinks int
	// HoldList and SpamList entries hold a comment, or mark it spam, when they match. An entry is
	//   - "/pattern/": an RE2 regular expression (case-insensitive, at most MaxPatternChars), matched
	//     against the body, the author's name, email address and user agent;
	//   - an IP address or CIDR range ("203.0.113.7", "198.51.100.0/24"): matched against the IP;
	//   - an email address ("jane@example.com"), or "@example.com" for a whole domain;
	//   - a domain ("example.com"): matched against the hosts of links in the body (subdomains
	//     included) and the author's email domain;
	//   - otherwise a word or phrase, matched as whole words, ignoring case, in the body and the
	//     name ("cash" does not match "cashew"). Entry and text are compared in one form (see
	//     listForm), so "Ｃａｓｉｎｏ" and "casino" are one entry and match the same comments. In
	//     the scripts written without spaces between words (see unspaced), where no word boundary
	//     can be told, an entry matches wherever its letters stand in a row: "赌场" in "在线赌场".
	//     Not in the user agent: a browser's holds words such as iPhone, Android, Windows or
	//     Mobile, which are spam words in a comment, and would hold or mark spam every reader of
	//     that browser; a pattern can match it.
	// Empty entries and entries starting with "#" are ignored.
	HoldList, SpamList []string
	// HoldNames and SpamNames, when set, name the entries of HoldList and SpamList (same index) in
	// the reason a pattern gives, such as "filters/<id>"; an entry without a name is called
	// "entry N" by its 1-based place in its list.
	HoldNames, SpamNames []string
	// MinFormAge: a form submitted sooner than this after it was rendered is held, or marked
	// spam with TooFastIsSpam (default 3s). Only when the site reports the form age.
	MinFormAge    time.Duration
	TooFastIsSpam bool
	// AllowNoUserAgent stops holding comments that arrive without a user agent.
	AllowNoUserAgent bool
	// TrustAfter: an author with at least this many approved comments and none marked spam skips
	// pre-moderation (default 3).
	TrustAfter int
}

// rules is the compiled form of RuleOptions.
type rules struct {
	opts           RuleOptions
	hold, spamList *wordList
}

func compileRules(o RuleOptions) (*rules, error) {
	if o.MaxLinks == 0 {
		o.MaxLinks = DefaultMaxLinks
	}
	if o.MinFormAge == 0 {
		o.MinFormAge = DefaultMinFormAge
	}
	if o.TrustAfter == 0 {
		o.TrustAfter = DefaultTrustAfter
	}
	hold, err1 := compileList("hold list", o.HoldList, o.HoldNames)
	spamList, err2 := compileList("spam list", o.SpamList, o.SpamNames)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &rules{opts: o, hold: hold, spamList: spamList}, nil
}

// check runs every rule on in and records what they find in v.
func (r *rules) check(in Input, a analysis, v *verdict) {
	o := r.opts
	if strings.TrimSpace(in.Honeypot) != "" {
		v.add(DecisionSpam, ReasonHoneypot, "a form field hidden from people was filled in")
	}
	if o.MinFormAge > 0 && in.FormAge != nil && *in.FormAge < o.MinFormAge {
		d := DecisionHold
		if o.TooFastIsSpam {
			d = DecisionSpam
		}
		v.add(d, ReasonTooFast, fmt.Sprintf("submitted %s after the form was shown, sooner than %s", in.FormAge.Round(time.Millisecond), o.MinFormAge))
	}
	if !o.AllowNoUserAgent && strings.TrimSpace(in.UserAgent) == "" {
		v.add(DecisionHold, ReasonNoUserAgent, "the submission has no user agent")
	}
	if o.MaxLinks > 0 {
		if n := len(a.links); n >= o.MaxLinks {
			v.add(DecisionHold, ReasonTooManyLinks, fmt.Sprintf("the body has %d links; comments with %d or more are held", n, o.MaxLinks))
		}
	}
	if r.spamList.len() > 0 || r.hold.len() > 0 {
		t := newListTarget(in, a, len(r.spamList.domains) > 0 || len(r.hold.domains) > 0)
		if msg, ok := r.spamList.match(t); ok {
			v.add(DecisionSpam, ReasonSpamList, msg+" on the spam list")
		}
		if msg, ok := r.hold.match(t); ok {
			v.add(DecisionHold, ReasonHoldList, msg+" on the hold list")
		}
	}
	if in.History.Spam > 0 {
		noun := "comments"
		if in.History.Spam == 1 {
			noun = "comment"
		}
		v.add(DecisionHold, ReasonAuthorSpam, fmt.Sprintf(aboutHistory+"%d %s marked spam", in.History.Spam, noun))
	}
}

// trusted reports whether the author's history earns skipping pre-moderation.
func (r *rules) trusted(h AuthorHistory) bool {
	return r.opts.TrustAfter > 0 && h.Approved >= r.opts.TrustAfter && h.Spam == 0
}

// wordList is a compiled hold or spam list.
type wordList struct {
	words   map[string]string // single word → entry as written
	phrases []string          // normalised multi-word phrases, space-separated, and entries in unspaced scripts
	domains []string          // lower-case domains
	// domainAt is the place in domains of each domain's first entry: a host is looked up by
	// itself and each of its parent domains, so that matching costs the same however many domains
	// the list holds (a body may write out hundreds of host names, and a list hold thousands).
	domainAt map[string]int
	emails   map[string]bool // normalised addresses
	emailDom map[string]bool // domains of "@example.com" entries
	prefixes []netip.Prefix  // addresses become /32 or /128
	patterns []pattern
}

type pattern struct {
	name string // the entry's name in reasons, such as "entry 3" or "filters/<id>"
	re   *regexp.Regexp
}

func (l *wordList) len() int {
	return len(l.words) + len(l.phrases) + len(l.domains) + len(l.emails) + len(l.emailDom) + len(l.prefixes) + len(l.patterns)
}

// compileList compiles the entries of the list called name; names, when longer than an entry's
// index, names that entry in reasons.
func compileList(name string, entries, names []string) (*wordList, error) {
	l := &wordList{words: map[string]string{}, emails: map[string]bool{}, emailDom: map[string]bool{}, domainAt: map[string]int{}}
	var errs []error
	for i, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "" || strings.HasPrefix(e, "#"):
		case len(e) >= 2 && e[0] == '/' && e[len(e)-1] == '/':
			pat := e[1 : len(e)-1]
			if len(pat) > MaxPatternChars {
				errs = append(errs, fmt.Errorf("%w: %s entry %d: pattern longer than %d characters", ErrInvalidOptions, name, i+1, MaxPatternChars))
				continue
			}
			re, err := regexp.Compile("(?i)" + pat)
			if err != nil {
				// The entry itself is not quoted: a list may hold addresses.
				errs = append(errs, fmt.Errorf("%w: %s entry %d: not an RE2 pattern", ErrInvalidOptions, name, i+1))
				continue
			}
			label := fmt.Sprintf("entry %d", i+1)
			if i < len(names) && names[i] != "" {
				label = names[i]
			}
			l.patterns = append(l.patterns, pattern{name: label, re: re})
		case strings.HasPrefix(e, "@"):
			l.emailDom[strings.ToLower(e[1:])] = true
		case strings.Contains(e, "@"):
			l.emails[strings.ToLower(e)] = true
		default:
			if p, err := netip.ParsePrefix(e); err == nil {
				l.prefixes = append(l.prefixes, p.Masked())
				continue
			}
			if a, err := netip.ParseAddr(e); err == nil {
				a = a.Unmap()
				l.prefixes = append(l.prefixes, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			// Compatibility forms as their plain ones: "ｓｈｏｐ．example" is a domain, as a
			// browser reads it (siteHost does the same to the links).
			n := norm.NFKC.String(e)
			if !strings.ContainsAny(n, " \t") && strings.Contains(n, ".") && validHost(n) {
				d := strings.TrimPrefix(strings.ToLower(n), "www.")
				if _, ok := l.domainAt[d]; !ok {
					l.domainAt[d] = len(l.domains)
				}
				l.domains = append(l.domains, d)
				continue
			}
			words := listWords(e)
			switch {
			case words == "":
				errs = append(errs, fmt.Errorf("%w: %s entry %d: no words in it", ErrInvalidOptions, name, i+1))
			case strings.Contains(words, " ") || strings.IndexFunc(words, unspaced) >= 0:
				l.phrases = append(l.phrases, words)
			default:
				l.words[words] = e
			}
		}
	}
	return l, errors.Join(errs...)
}

func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return s[0] != '.' && s[len(s)-1] != '.'
}

// normaliseWords returns the words of s as the tokeniser sees them (folded, lower-cased), joined
// by single spaces, each kept whole however long.
func normaliseWords(s string) string {
	t := tokenizer{whole: true}
	t.words(s, "", false)
	return strings.Join(t.tokens(), " ")
}

// listWords returns the words of s in the form the word lists compare, entries and comments
// alike: normaliseWords of listForm of its skeleton (comment.Skeleton: look-alike letters,
// accents and invisible characters, with which "саsinο" or "ca\u034fsino" would be another word
// than the listed "casino" to the lists, not to the eye).
func listWords(s string) string {
	words := normaliseWords(listForm(comment.Skeleton(s)))
	if words == "" {
		return entryWords(s)
	}
	return words
}

// entryWords returns the words of s as the lists compared them before they read the skeleton:
// what an entry's id is made of (NewFilter), so that an entry stored then is still found as the
// same entry.
func entryWords(s string) string {
	words := normaliseWords(listForm(s))
	if words == "" {
		// No compatibility character turns letters into none; should one, the entry keeps the
		// words it had before the lists compared this form rather than fail every server's load.
		words = normaliseWords(s)
	}
	return words
}

// listForm is s as the word lists compare it: compatibility forms as their plain ones (NFKC:
// fullwidth "Ｃａｓｉｎｏ", halfwidth katakana "ｶｼﾞﾉ", ligatures such as "ﬁ", circled and
// superscript letters), then case folded, which lower-casing alone does not finish ("Straße" and
// "STRASSE", final and other sigma). The tokeniser folds some look-alikes itself; this covers
// the rest, for the lists only: the classifier's tokens stay as they are (they are
// FeatureVersion's, and a trained model holds their counts).
func listForm(s string) string {
	if isASCII(s) {
		return s // nothing to do: the tokeniser lower-cases ASCII
	}
	return splitUnspaced(norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s))))
}

// splitUnspaced puts a space where letters of an unspaced script meet others, which ends a word
// there as it would be read: "playคาสิโน" is "play" and "คาสิโน" (casino, in Thai).
func splitUnspaced(s string) string {
	if strings.IndexFunc(s, unspaced) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	var prev rune
	for _, r := range s {
		if prev != 0 && unspaced(prev) != unspaced(r) && wordRune(prev) && wordRune(r) && !unicode.Is(unicode.Mn, r) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// wordRune reports whether r is part of a word for the tokeniser.
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unspacedScripts are the scripts written without spaces between words. The tokeniser makes each
// Han, Hiragana or Katakana character a word, and a run of Thai, Lao, Khmer or Burmese one word;
// either way no word boundary of the language can be told, so word-list entries match their
// letters wherever they stand in a row (containsWords). Korean separates words with spaces.
var unspacedScripts = []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana,
	unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar}

// unspaced reports whether r is of a script written without spaces between words.
func unspaced(r rune) bool { return r >= 0x0E00 && unicode.In(r, unspacedScripts...) }

// oneRun reports whether s holds no character that separates words for the tokeniser: it is one
// run of letters, digits and marks, as a word of a script without spaces is.
func oneRun(s string) bool {
	for _, r := range s {
		r = fold(r)
		if !(r == ignoredRune || r == '\'' || r == '’' || wordRune(r)) {
			return false
		}
	}
	return true
}

// containsWords reports whether text, normalised words each with a space either side (see
// listTarget.text), holds the words p in a row. p's ends must fall on word boundaries, except
// beside a character of an unspaced script, where any place is a boundary: "คาสิโน" (casino, in
// Thai) stands inside the one token "เล่นคาสิโนออนไลน์".
func containsWords(text, p string) bool {
	first, _ := utf8.DecodeRuneInString(p)
	last, _ := utf8.DecodeLastRuneInString(p)
	for from := 0; ; {
		i := strings.Index(text[from:], p)
		if i < 0 {
			return false
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[i+len(p):])
		if (before == ' ' || unspaced(before) || unspaced(first)) && (after == ' ' || unspaced(after) || unspaced(last)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		from = i + size
	}
}

// listTarget is an input prepared once for matching against both lists.
type listTarget struct {
	in          Input
	text        []string   // normalised words of body and name, each " w1 w2 … "
	hosts       []string   // link hosts in the body
	named       [][]string // host names written out in each text field (listTarget.text order), with or without a scheme
	email       string     // normalised address, "" if none
	emailDomain string
}

func newListTarget(in Input, a analysis, domains bool) listTarget {
	t := listTarget{in: in}
	body := in.Body
	if strings.IndexByte(body, '&') >= 0 {
		// As the tokeniser reads it: sites send HTML-escaped text, and "vi&#97;gra" is the word
		// the reader sees. Patterns still see the text as sent.
		body = html.UnescapeString(body)
	}
	for _, s := range []string{body, in.AuthorName} {
		t.text = append(t.text, " "+listWords(s)+" ")
		if domains {
			t.named = append(t.named, namedHosts(s))
		}
	}
	for _, l := range a.links {
		t.hosts = append(t.hosts, l.host)
	}
	if !in.Email.IsZero() {
		t.email = in.Email.Normalized()
		t.emailDomain = asciiHost(t.email[strings.LastIndexByte(t.email, '@')+1:])
	}
	return t
}

// Reason messages about the author's own data (name, email address and domain, IP address, user
// agent, their record of spam) begin with one of these; messages about the text begin otherwise. An erasure request
// rewrites the first kind, which may quote a word of the name or the email domain
// (PersonalReasonPrefixes).
const (
	aboutAuthor    = "the author's "
	aboutHistory   = "the author has " // a copy of the author's record, which an erasure deletes
	aboutUserAgent = "the user agent " // no longer written: words are not matched in it; kept for the reasons stored before
)

// PersonalReasonPrefixes returns the beginnings of the reason messages that describe the author's
// own data rather than the text.
func PersonalReasonPrefixes() []string { return []string{aboutAuthor, aboutHistory, aboutUserAgent} }

// fieldNames name the text fields in listTarget.text order, for reasons.
var fieldNames = [...]string{"the body", aboutAuthor + "name"}

// match returns a description of the first entry that matches (without quoting addresses), and
// whether one did.
func (l *wordList) match(t listTarget) (string, bool) {
	for i, text := range t.text {
		for w := range strings.FieldsSeq(text) {
			if e, ok := l.words[w]; ok {
				return fmt.Sprintf("%s contains %q,", fieldNames[i], e), true
			}
		}
		for _, p := range l.phrases {
			if containsWords(text, p) {
				return fmt.Sprintf("%s contains %q,", fieldNames[i], p), true
			}
		}
	}
	if i := l.firstDomain(t); i >= 0 {
		if msg, ok := l.matchDomain(t, l.domains[i]); ok {
			return msg, true
		}
	}
	if t.email != "" && (l.emails[t.email] || l.emailDom[t.emailDomain]) {
		return aboutAuthor + "email address is", true
	}
	if ip := t.in.IP; !ip.IsZero() {
		for _, p := range l.prefixes {
			if p.Contains(ip.Addr()) {
				return aboutAuthor + "IP address is", true
			}
		}
	}
	for _, p := range l.patterns {
		// Neither the field nor the pattern is named: it may have matched an email address.
		if p.re.MatchString(t.in.Body) || p.re.MatchString(t.in.AuthorName) || p.re.MatchString(t.email) || p.re.MatchString(t.in.UserAgent) {
			return "the comment matches pattern " + p.name, true
		}
	}
	return "", false
}

// firstDomain returns the place in l.domains of the first listed domain that t's link hosts, the
// domain of its author's email or the host names written out in it are, or are subdomains of; -1
// when none is. Each host is looked up with its parent domains in domainAt, not compared with
// every entry: with thousands of entries and a body of hundreds of dotted words, the comparisons
// took tens of milliseconds a submission.
func (l *wordList) firstDomain(t listTarget) int {
	if len(l.domains) == 0 {
		return -1
	}
	best := -1
	look := func(host string) {
		// host itself, then what follows each of its dots: the domains it is a subdomain of.
		for s := host; s != ""; {
			if i, ok := l.domainAt[s]; ok && (best < 0 || i < best) {
				best = i
			}
			dot := strings.IndexByte(s, '.')
			if dot < 0 {
				break
			}
			s = s[dot+1:]
		}
	}
	for _, h := range t.hosts {
		look(h)
	}
	look(t.emailDomain)
	for _, hosts := range t.named {
		for _, h := range hosts {
			look(h)
		}
	}
	return best
}

// matchDomain returns the description of how t matches the listed domain d, and whether it does.
func (l *wordList) matchDomain(t listTarget, d string) (string, bool) {
	for _, h := range t.hosts {
		if h == d || strings.HasSuffix(h, "."+d) {
			return fmt.Sprintf("the body links to %s,", d), true
		}
	}
	if t.emailDomain == d || strings.HasSuffix(t.emailDomain, "."+d) {
		return fmt.Sprintf(aboutAuthor+"email domain is %s,", d), true
	}
	// A listed domain written out without a link: the tokeniser counts a bare name as a link
	// only under a few common top-level domains, so that prose such as "end.so" is not one,
	// but a name the moderator listed is meant wherever it stands, as in the author's name,
	// where a site without a URL field gets "cheap-pills.shop" or "https://cheap-pills.shop".
	for i, hosts := range t.named {
		for _, h := range hosts {
			if h == d || strings.HasSuffix(h, "."+d) {
				return fmt.Sprintf("%s contains %q,", fieldNames[i], d), true
			}
		}
	}
	return "", false
}

// namedHosts returns the host names written out in s: every run without spaces that holds a dot,
// read as a browser reads an address typed in (compatibility forms and case folded as siteHost
// folds them; a scheme, user, path, query, port and leading "www." dropped).
func namedHosts(s string) []string {
	var hosts []string
	for chunk := range strings.FieldsSeq(s) {
		chunk = strings.Map(hostRune, chunk)
		if strings.IndexByte(chunk, '.') < 0 && !strings.Contains(chunk, "%2") {
			continue
		}
		if i := strings.Index(chunk, "://"); i >= 0 {
			chunk = chunk[i+3:]
		}
		if h := siteHost(ruleHost(chunk)); strings.Contains(h, ".") && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}
