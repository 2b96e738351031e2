package spam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// This file holds the word lists moderators edit at run time (the API's filters): what an entry
// may be, how it is kept private, and the service that adds, lists and removes entries. The
// Engine turns the entries in force into the Scorer's hold and spam lists.

// FilterList is the list an entry belongs to.
type FilterList int

// The lists. The numbers are stored; never renumber them.
const (
	FilterListAny  FilterList = 0 // in a query: every list
	FilterListHold FilterList = 1 // a match holds the comment for a moderator
	FilterListSpam FilterList = 2 // a match marks the comment spam
)

func (l FilterList) String() string {
	switch l {
	case FilterListHold:
		return "hold"
	case FilterListSpam:
		return "spam"
	}
	return fmt.Sprintf("list(%d)", int(l))
}

// FilterKind is how an entry matches.
type FilterKind int

// The kinds. The numbers are stored; never renumber them.
const (
	FilterWord   FilterKind = 1 // a whole word, ignoring case (in scripts without spaces, see NewFilter)
	FilterPhrase FilterKind = 2 // several words in a row, ignoring case
	FilterDomain FilterKind = 3 // a domain and its subdomains, in the body and name (linked or written out) and the author's email
	FilterEmail  FilterKind = 4 // one author's address: kept as its keyed hash only
	FilterIP     FilterKind = 5 // an address (kept as its keyed hash only) or a CIDR range
	FilterRegex  FilterKind = 6 // an RE2 pattern of at most MaxPatternChars
)

func (k FilterKind) String() string {
	switch k {
	case FilterWord:
		return "word"
	case FilterPhrase:
		return "phrase"
	case FilterDomain:
		return "domain"
	case FilterEmail:
		return "email"
	case FilterIP:
		return "ip"
	case FilterRegex:
		return "regex"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Filter is one word-list entry.
type Filter struct {
	ID   string
	List FilterList
	Kind FilterKind
	// Value is the entry as entered (a word or phrase with its compatibility characters in their
	// plain form, NFKC: "Ｃａｓｉｎｏ" is kept as "Casino"), except for an email address or a
	// single IP address, which are never kept: Value is then their masked form and Hash their
	// keyed hash.
	Value     string
	Hash      string
	Moderator string
	CreatedAt time.Time
}

// Limits on the word lists.
const (
	MaxFilterChars = 200   // longest value (a pattern is bounded by MaxPatternChars)
	MaxFilters     = 10000 // entries in both lists together
	// MaxRegexFilters bounds the regex entries in both lists together. Words, phrases, domains
	// and addresses are looked up, whatever their number; each pattern is matched against every
	// submission in turn, so their costs add up on every long submission, within the call's
	// deadline. BenchmarkRegexPattern measures one pattern's cost.
	MaxRegexFilters = 50
)

// ErrFilterNotFound: no word-list entry with that id.
var ErrFilterNotFound = errors.New("spam: filter not found")

var filterIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// ParseFilterID accepts "filters/{id}" or a bare id and returns the id.
func ParseFilterID(field, name string) (string, error) {
	id := strings.TrimPrefix(name, "filters/")
	if !filterIDPattern.MatchString(id) {
		return "", &comment.ValidationError{Violations: []comment.FieldViolation{{Field: field, Description: comment.BadName("filter", id, "filters/{id}")}}}
	}
	return id, nil
}

// NewFilter checks an entry and returns it ready to store: an email address or a single IP
// address is replaced by its masked form and keyed hash. The id is derived from the list, the
// kind and the normalised value, so adding the same entry twice names the same entry: a word or
// phrase in the form the lists compare (listForm), so "Ｃａｓｉｎｏ" is the entry "casino". Field
// names in the *comment.ValidationError are relative to the API's Filter message, prefixed by
// field.
//
// In the scripts written without spaces (Chinese, Japanese, Thai: see unspaced) a word and a
// phrase look alike, so an entry without spaces or punctuation in them is taken as either kind;
// its id is made with the kind earlier releases gave that text (a word when the tokeniser reads it
// as one word, a phrase when it reads several, as it reads each Chinese character), so an entry
// they stored is found again as the same entry, whichever kind it is added as now.
func NewFilter(keys *privacy.Keyring, field string, list FilterList, kind FilterKind, value string) (Filter, error) {
	var verr comment.ValidationError
	if list != FilterListHold && list != FilterListSpam {
		verr.Add(field+".list", "want FILTER_LIST_HOLD or FILTER_LIST_SPAM")
	}
	if kind < FilterWord || kind > FilterRegex {
		// Checked here too, as setValue names the value alone when that is bad as well.
		verr.Add(field+".kind", kindRule)
	}
	f := Filter{List: list, Kind: kind}
	canonical, bad := f.setValue(keys, value)
	if bad != nil && bad.Field != "kind" {
		verr.Add(field+"."+bad.Field, bad.Description)
	}
	if err := verr.Err(); err != nil {
		return Filter{}, err
	}
	idKind := kind
	if kind == FilterWord || kind == FilterPhrase {
		// The kind earlier releases gave these words (see above); the same as kind but for an
		// entry in a script without spaces.
		idKind = FilterWord
		if strings.Contains(canonical, " ") {
			idKind = FilterPhrase
		}
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%d\x00%s", list, idKind, canonical)))
	f.ID = hex.EncodeToString(sum[:12])
	return f, nil
}

// setValue checks value for f.Kind and fills Value and Hash. It returns the canonical form the id
// is made from (for a word or phrase, its words as the lists compare them), or what is wrong
// (Field relative to the Filter message).
func (f *Filter) setValue(keys *privacy.Keyring, value string) (canonical string, bad *comment.FieldViolation) {
	badValue := func(format string, args ...any) (string, *comment.FieldViolation) {
		return "", &comment.FieldViolation{Field: "value", Description: fmt.Sprintf(format, args...)}
	}
	if !utf8.ValidString(value) {
		return badValue("not valid UTF-8")
	}
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return badValue("required")
	case utf8.RuneCountInString(v) > MaxFilterChars:
		return badValue("too long: at most %d characters", MaxFilterChars)
	case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return badValue("contains control characters")
	case f.Kind == FilterRegex && privacy.HoldsAddress(patternLiterals(v)),
		(f.Kind == FilterWord || f.Kind == FilterPhrase || f.Kind == FilterDomain) && privacy.HoldsAddress(v):
		// A word, phrase or pattern is kept and listed in clear, while an address entry is kept
		// only as its keyed hash. A pattern is read for the text it matches as it is, so that
		// 198\.51\.100\.7 counts as the address it matches, and [a-z]+@example\.com does not.
		return badValue("holds an email or IP address, which the word list would keep in clear: add it with kind email or ip, which keep only its keyed hash")
	}
	switch f.Kind {
	case FilterWord, FilterPhrase, FilterDomain:
		// Kept in the plain form of its compatibility characters, as the lists compare it:
		// "Ｃａｓｉｎｏ" and "casino" are one entry, shown as typed but for the width.
		v = norm.NFKC.String(v)
		// The Scorer's list compiler decides what an entry is; an entry must land where its kind says.
		l, err := compileList("entry", []string{v}, nil)
		var words string // the entry's words, for a word or phrase
		for w := range l.words {
			words = w
		}
		if len(l.phrases) == 1 {
			words = l.phrases[0]
		}
		several := strings.Contains(words, " ")
		// Text of a script written without spaces, with none in it: the tokeniser reads a Chinese
		// word as several (one per character) and a Thai phrase as one, so either kind takes it.
		unspacedRun := strings.IndexFunc(words, unspaced) >= 0 && oneRun(v)
		wordOK, phraseOK := !several || unspacedRun, several || unspacedRun
		switch {
		case err != nil:
			return badValue("no words in it")
		case words != "" && (f.Kind == FilterWord && wordOK || f.Kind == FilterPhrase && phraseOK):
			f.Value = v
			// The id is made of the words as earlier releases compared them, not of their
			// skeleton, so an entry they stored is found again as the same entry.
			return entryWords(v), nil
		case f.Kind == FilterDomain && len(l.domains) == 1 && !strings.Contains(l.domains[0], "."):
			// "www.com" loses its "www." as every domain does, and what is left, stored and
			// compiled again on every server, would be the word "com".
			return badValue("not a domain name such as example.com: without \"www.\" it is %q, a top-level domain", l.domains[0])
		case f.Kind == FilterDomain && len(l.domains) == 1:
			f.Value = l.domains[0]
			return l.domains[0], nil
		case f.Kind == FilterWord:
			return badValue("not a single word (use kind phrase for several words, domain for a domain)")
		case f.Kind == FilterPhrase:
			return badValue("not a phrase of two or more words")
		default:
			return badValue("not a domain name such as example.com")
		}
	case FilterEmail:
		e, ok := privacy.ParseEmail(v)
		if !ok {
			return badValue("not an email address (for a whole domain use kind domain)")
		}
		f.Value, f.Hash = e.Masked(), keys.EmailKey(e)
		return f.Hash, nil
	case FilterIP:
		if p, err := netip.ParsePrefix(v); err == nil && p.Addr().Is4In6() && p.Bits() < 128 {
			// Submissions' addresses are matched unmapped, so an IPv4 range in IPv6 form would
			// never match; say so rather than call it no address at all (as range bans do).
			return badValue("give an IPv4 range in IPv4 form, such as 198.51.100.0/24")
		}
		if p, err := netip.ParsePrefix(v); err == nil && p.Bits() < p.Addr().Unmap().BitLen() {
			// As for range bans: a typo such as 0.0.0.0/0 must not hold or mark spam every comment.
			if min := privacy.MinRangeBits(p.Addr()); p.Bits() < min {
				return badValue("range wider than /%d", min)
			}
			if what, narrow := privacy.NarrowRange(p); narrow {
				// As for range bans: a range is kept in clear and listed to every moderator, and
				// one this narrow names one reader or two.
				return badValue("%s, which the word list would keep in clear: add an address in it instead, which is kept only as its keyed hash (it matches that one address; a ban of an IPv6 address covers its whole /%d)", what, privacy.DeviceBitsIPv6)
			}
			f.Value = p.Masked().String()
			return f.Value, nil
		}
		// A single address, with or without a full-length prefix, is personal data: hashed only.
		addr := strings.TrimSuffix(strings.TrimSuffix(v, "/32"), "/128")
		ip, ok := privacy.ParseIP(addr)
		if !ok {
			return badValue("not an IP address or a CIDR range such as 198.51.100.0/24")
		}
		f.Value, f.Hash = ip.Masked(), keys.IPKey(ip)
		// An IPv6 address's masked form is its /48, which reads as the range entry of that /48:
		// Current says that this entry holds one address, as it does for entries read back.
		*f = f.Current()
		return f.Hash, nil
	case FilterRegex:
		if len(v) > MaxPatternChars {
			return badValue("pattern too long: %d bytes, at most %d", len(v), MaxPatternChars)
		}
		if _, err := compileList("entry", []string{"/" + v + "/"}, nil); err != nil {
			msg := "not an RE2 regular expression"
			var perr *syntax.Error
			if _, cerr := regexp.Compile(v); errors.As(cerr, &perr) {
				msg += ": " + perr.Code.String()
			}
			return badValue("%s", msg)
		}
		if n := patternInsts(v); n > MaxPatternInsts {
			return badValue("pattern too costly to match: it compiles to %d instructions, at most %d (lower the counts of {n,m} repetitions)", n, MaxPatternInsts)
		}
		// A pattern that matches the empty string matches every comment: ".*" or "x*" on the
		// spam list would mark every comment spam.
		if re, err := regexp.Compile("(?i)" + v); err == nil && re.MatchString("") {
			return badValue("matches every comment (the pattern matches empty text)")
		}
		f.Value = v
		return v, nil
	}
	return "", &comment.FieldViolation{Field: "kind", Description: kindRule}
}

const kindRule = "want one of word, phrase, domain, email, ip, regex"

// oneAddress follows the masked form of an entry of one IPv6 address (its /48).
const oneAddress = " (one address)"

// Current returns f, an entry as a store read it back, in the form this release gives the same
// entry when it is added: earlier releases stored an entry of one IPv6 address with its masked
// form alone, "2001:db8:5::/48", which is also the value of the entry of that whole /48, so that
// the two were listed alike though the first matches one address only.
func (f Filter) Current() Filter {
	if f.Kind == FilterIP && f.Hash != "" && strings.Contains(f.Value, ":") && !strings.HasSuffix(f.Value, oneAddress) {
		f.Value += oneAddress
	}
	return f
}

// entry returns the Scorer list entry for f, or "" for entries matched by keyed hash.
func (f Filter) entry() string {
	switch {
	case f.Hash != "":
		return ""
	case f.Kind == FilterRegex:
		return "/" + f.Value + "/"
	}
	return f.Value
}

// FilterStore keeps the word lists.
//
// A store that keeps the moderators' audit log records each entry it adds and each one it removes
// there (action create_filter or delete_filter, target "filters/{id}", by the moderator, an added
// entry with its AuditReason), and counts it among the moderator's other actions of the day, in the
// same atomic step as the change: an entry written after the change would be lost with a reply
// that came after the call's deadline, and the moderator's resend, which finds the entry added (or
// gone) already, changes nothing and would record nothing either. A call the store's client
// resends records nothing more.
type FilterStore interface {
	// CreateFilter stores f, in the name of f.Moderator, unless an entry with its id exists, and
	// returns the stored entry (the earlier one when it existed) and whether this call stored it.
	// It refuses with a *comment.ValidationError when the lists hold MaxFilters entries, or when
	// f is a regex entry and they hold MaxRegexFilters of them.
	CreateFilter(ctx context.Context, f Filter) (stored Filter, created bool, err error)
	// ListFilters returns one page of the entries of list (FilterListAny: both), oldest first,
	// and the next page token.
	ListFilters(ctx context.Context, list FilterList, p comment.Page) ([]Filter, string, error)
	// DeleteFilter removes an entry in moderator's name, or returns ErrFilterNotFound.
	DeleteFilter(ctx context.Context, id, moderator string) error
}

// AuditReason is what the moderators' audit log says of an added entry: its list and kind, never
// its value (an email or address entry is personal data, and the audit log keeps none).
func (f Filter) AuditReason() string { return fmt.Sprintf("%s list, %s", f.List, f.Kind) }

// FiltersOptions configures Filters.
type FiltersOptions struct {
	Now func() time.Time // defaults to time.Now
}

// Filters is the moderators' service for the word lists. Changes reach every server's Engine
// through the store (see the redisstore filter watcher), without a restart.
type Filters struct {
	store FilterStore
	keys  *privacy.Keyring
	now   func() time.Time
}

// NewFilters builds Filters.
func NewFilters(store FilterStore, keys *privacy.Keyring, opts FiltersOptions) *Filters {
	f := &Filters{store: store, keys: keys, now: opts.Now}
	if f.now == nil {
		f.now = time.Now
	}
	return f
}

// Create adds an entry in the name of moderator. Adding an entry that exists returns it unchanged,
// with created false: nothing changed, and it is still the entry of whoever added it first.
func (fs *Filters) Create(ctx context.Context, moderator string, list FilterList, kind FilterKind, value string) (f Filter, created bool, err error) {
	f, err = NewFilter(fs.keys, "filter", list, kind, value)
	if err != nil {
		return Filter{}, false, err
	}
	f.Moderator, f.CreatedAt = moderator, fs.now().UTC()
	return fs.store.CreateFilter(ctx, f)
}

// List returns one page of the entries, oldest first.
func (fs *Filters) List(ctx context.Context, list FilterList, p comment.Page) ([]Filter, string, error) {
	var verr comment.ValidationError
	if list != FilterListAny && list != FilterListHold && list != FilterListSpam {
		verr.Add("list", "want FILTER_LIST_HOLD, FILTER_LIST_SPAM or unset")
	}
	comment.CheckPageSize(&verr, p.Size)
	if err := verr.Err(); err != nil {
		return nil, "", err
	}
	p.Size = comment.ClampPageSize(p.Size)
	return fs.store.ListFilters(ctx, list, p)
}

// Delete removes an entry in the name of moderator.
func (fs *Filters) Delete(ctx context.Context, moderator, id string) error {
	return fs.store.DeleteFilter(ctx, id, moderator)
}

// patternLiterals returns the runs of text pattern v matches character for character (its
// literals, escapes taken out), separated by spaces: 198\.51\.100\.7 gives "198.51.100.7". A
// pattern that does not parse gives itself.
func patternLiterals(v string) string {
	re, err := syntax.Parse(v, syntax.Perl)
	if err != nil {
		return v
	}
	var b strings.Builder
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			b.WriteString(string(r.Rune))
		case syntax.OpConcat:
			// The parser merges adjacent characters into one literal; anything else between two
			// literals writes the spaces that keep them apart.
			for _, sub := range r.Sub {
				walk(sub)
			}
		default:
			b.WriteByte(' ')
			for _, sub := range r.Sub {
				walk(sub)
				b.WriteByte(' ')
			}
		}
	}
	walk(re)
	return b.String()
}

// patternInsts returns the size of the program v compiles to, as the Scorer compiles it (ignoring
// case); v must already be known to compile.
func patternInsts(v string) int {
	re, err := syntax.Parse("(?i)"+v, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}
