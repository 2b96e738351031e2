package spam_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/spam"
)

func testKeyring(t *testing.T) *privacy.Keyring {
	t.Helper()
	k, err := privacy.NewKeyring(privacy.Options{
		EncryptionKeys: []privacy.Key{{ID: "k1", Secret: privacy.NewSecret()}},
		HashKey:        privacy.NewSecret(),
	})
	if err != nil {
		t.Fatalf("privacy.NewKeyring: %v", err)
	}
	return k
}

func TestNewFilter(t *testing.T) {
	keys := testKeyring(t)
	email, _ := privacy.ParseEmail("spammer@example.com")
	ip, _ := privacy.ParseIP("203.0.113.7")
	ip6, _ := privacy.ParseIP("2001:db8:5:6::7")
	tests := []struct {
		name      string
		list      spam.FilterList
		kind      spam.FilterKind
		value     string
		wantValue string
		wantHash  string
		badFields []string
		badHas    string // a word the description of the first bad field has
	}{
		{name: "word", list: spam.FilterListHold, kind: spam.FilterWord, value: " Casino ", wantValue: "Casino"},
		{name: "phrase", list: spam.FilterListSpam, kind: spam.FilterPhrase, value: "buy followers", wantValue: "buy followers"},
		{name: "domain", list: spam.FilterListSpam, kind: spam.FilterDomain, value: "WWW.Spam.Example", wantValue: "spam.example"},
		{name: "email is hashed", list: spam.FilterListSpam, kind: spam.FilterEmail, value: "spammer@example.com", wantValue: email.Masked(), wantHash: keys.EmailKey(email)},
		{name: "single IP is hashed", list: spam.FilterListHold, kind: spam.FilterIP, value: "203.0.113.7", wantValue: ip.Masked(), wantHash: keys.IPKey(ip)},
		{name: "full-length prefix is a single IP", list: spam.FilterListHold, kind: spam.FilterIP, value: "203.0.113.7/32", wantValue: ip.Masked(), wantHash: keys.IPKey(ip)},
		{name: "single IPv6 address is hashed, told from its /48", list: spam.FilterListHold, kind: spam.FilterIP, value: "2001:db8:5:6::7", wantValue: "2001:db8:5::/48 (one address)", wantHash: keys.IPKey(ip6)},
		{name: "range in clear", list: spam.FilterListHold, kind: spam.FilterIP, value: "198.51.100.9/24", wantValue: "198.51.100.0/24"},
		{name: "regex", list: spam.FilterListHold, kind: spam.FilterRegex, value: `v[i1]agra`, wantValue: `v[i1]agra`},

		// Compatibility forms are kept in their plain form, as the lists compare them.
		{name: "fullwidth word", list: spam.FilterListSpam, kind: spam.FilterWord, value: "Ｃａｓｉｎｏ", wantValue: "Casino"},
		{name: "fullwidth domain", list: spam.FilterListSpam, kind: spam.FilterDomain, value: "ｓｐａｍ．ｅｘａｍｐｌｅ", wantValue: "spam.example"},
		// Chinese, Japanese and Thai put no spaces between words: a word there may be read as
		// several (a Chinese one per character), a phrase as one (Thai). Either kind takes them.
		{name: "Chinese word", list: spam.FilterListSpam, kind: spam.FilterWord, value: "赌场赢钱", wantValue: "赌场赢钱"},
		{name: "Chinese phrase", list: spam.FilterListSpam, kind: spam.FilterPhrase, value: "赌场赢钱", wantValue: "赌场赢钱"},
		{name: "Japanese word", list: spam.FilterListHold, kind: spam.FilterWord, value: "オンラインカジノ", wantValue: "オンラインカジノ"},
		{name: "Thai phrase without spaces", list: spam.FilterListSpam, kind: spam.FilterPhrase, value: "เล่นคาสิโน", wantValue: "เล่นคาสิโน"},
		{name: "Thai word", list: spam.FilterListSpam, kind: spam.FilterWord, value: "คาสิโน", wantValue: "คาสิโน"},
		{name: "Chinese words with a space as a word", list: spam.FilterListSpam, kind: spam.FilterWord, value: "赌场 赢钱", badFields: []string{"filter.value"}},
		{name: "Chinese words with a space as a phrase", list: spam.FilterListSpam, kind: spam.FilterPhrase, value: "赌场 赢钱", wantValue: "赌场 赢钱"},
		{name: "two words as a word", list: spam.FilterListHold, kind: spam.FilterWord, value: "buy now", badFields: []string{"filter.value"}},
		{name: "domain as a word", list: spam.FilterListHold, kind: spam.FilterWord, value: "spam.example", badFields: []string{"filter.value"}},
		{name: "one word as a phrase", list: spam.FilterListHold, kind: spam.FilterPhrase, value: "casino", badFields: []string{"filter.value"}},
		{name: "not a domain", list: spam.FilterListHold, kind: spam.FilterDomain, value: "casino", badFields: []string{"filter.value"}},
		{name: "www and a top-level domain", list: spam.FilterListHold, kind: spam.FilterDomain, value: "www.com", badFields: []string{"filter.value"}, badHas: "example.com"},
		{name: "not an email", list: spam.FilterListHold, kind: spam.FilterEmail, value: "nobody", badFields: []string{"filter.value"}},
		{name: "not an IP", list: spam.FilterListHold, kind: spam.FilterIP, value: "300.1.1.1", badFields: []string{"filter.value"}},
		{name: "every IPv4 address", list: spam.FilterListHold, kind: spam.FilterIP, value: "0.0.0.0/0", badFields: []string{"filter.value"}},
		{name: "IPv4 range wider than /8", list: spam.FilterListSpam, kind: spam.FilterIP, value: "10.0.0.0/7", badFields: []string{"filter.value"}},
		{name: "IPv4 range of /8", list: spam.FilterListSpam, kind: spam.FilterIP, value: "10.0.0.0/8", wantValue: "10.0.0.0/8"},
		{name: "every IPv6 address", list: spam.FilterListHold, kind: spam.FilterIP, value: "::/0", badFields: []string{"filter.value"}},
		{name: "IPv6 range of /16", list: spam.FilterListHold, kind: spam.FilterIP, value: "2001::/16", wantValue: "2001::/16"},
		// A range no wider than a /64 is one reader's network, which the entry would keep in clear.
		{name: "IPv6 range of /63", list: spam.FilterListHold, kind: spam.FilterIP, value: "2001:db8:1:2::/63", wantValue: "2001:db8:1:2::/63"},
		{name: "IPv6 range of /64", list: spam.FilterListHold, kind: spam.FilterIP, value: "2001:db8:1:2::/64", badFields: []string{"filter.value"}, badHas: "within one /64"},
		{name: "IPv6 range of /127", list: spam.FilterListSpam, kind: spam.FilterIP, value: "2001:db8:1:2::170/127", badFields: []string{"filter.value"}, badHas: "within one /64"},
		{name: "IPv4 range of /29", list: spam.FilterListHold, kind: spam.FilterIP, value: "198.51.100.8/29", wantValue: "198.51.100.8/29"},
		{name: "IPv4 range of /31", list: spam.FilterListHold, kind: spam.FilterIP, value: "198.51.100.8/31", badFields: []string{"filter.value"}, badHas: "narrower than /29"},
		{name: "6to4 range of one IPv4 address", list: spam.FilterListSpam, kind: spam.FilterIP, value: "2002:c633:6408::/48", badFields: []string{"filter.value"}, badHas: "stands for the IPv4 198.51.100.8/32"},
		{name: "IPv6 address as /128", list: spam.FilterListHold, kind: spam.FilterIP, value: "2001:db8:5:6::7/128", wantValue: "2001:db8:5::/48 (one address)", wantHash: keys.IPKey(ip6)},
		{name: "IPv4 range in IPv6 form", list: spam.FilterListHold, kind: spam.FilterIP, value: "::ffff:198.51.100.0/120", badFields: []string{"filter.value"}, badHas: "IPv4 form"},
		{name: "IPv4 address in IPv6 form", list: spam.FilterListHold, kind: spam.FilterIP, value: "::ffff:203.0.113.7/128", wantValue: ip.Masked(), wantHash: keys.IPKey(ip)},
		{name: "bad regex", list: spam.FilterListHold, kind: spam.FilterRegex, value: `(unclosed`, badFields: []string{"filter.value"}},
		{name: "regex matching everything", list: spam.FilterListSpam, kind: spam.FilterRegex, value: `.*`, badFields: []string{"filter.value"}},
		{name: "regex matching empty text", list: spam.FilterListSpam, kind: spam.FilterRegex, value: `casino|`, badFields: []string{"filter.value"}},
		{name: "regex too long", list: spam.FilterListHold, kind: spam.FilterRegex, value: strings.Repeat("a", spam.MaxPatternChars+1), badFields: []string{"filter.value"}},
		{name: "regex too costly to match", list: spam.FilterListHold, kind: spam.FilterRegex, value: `(\w+\s?){1,999}z`, badFields: []string{"filter.value"}},
		{name: "regex with a modest repetition", list: spam.FilterListHold, kind: spam.FilterRegex, value: `\b\d{3}[-.\s]?\d{3}[-.\s]?\d{4}\b`, wantValue: `\b\d{3}[-.\s]?\d{3}[-.\s]?\d{4}\b`},
		// An address in an entry kept in clear: it belongs in an email or ip entry, kept hashed.
		{name: "phrase with an IPv4 address", list: spam.FilterListHold, kind: spam.FilterPhrase, value: "call 198.51.100.117 now", badFields: []string{"filter.value"}, badHas: "kind email or ip"},
		{name: "phrase with an IPv6 address", list: spam.FilterListHold, kind: spam.FilterPhrase, value: "from 2001:db8::7 again", badFields: []string{"filter.value"}, badHas: "kind email or ip"},
		{name: "phrase with an email address", list: spam.FilterListHold, kind: spam.FilterPhrase, value: "write to vole@example.com now", badFields: []string{"filter.value"}, badHas: "kind email or ip"},
		{name: "regex spelling an IPv4 address", list: spam.FilterListHold, kind: spam.FilterRegex, value: `198\.51\.100\.114`, badFields: []string{"filter.value"}, badHas: "kind email or ip"},
		{name: "regex spelling an IPv4 address in a group", list: spam.FilterListHold, kind: spam.FilterRegex, value: `^(198\.51\.100\.114)$`, badFields: []string{"filter.value"}, badHas: "kind email or ip"},
		{name: "regex spelling an email address", list: spam.FilterListSpam, kind: spam.FilterRegex, value: `mink\.re4@example\.com`, badFields: []string{"filter.value"}, badHas: "kind email or ip"},
		{name: "regex of any address at a domain", list: spam.FilterListSpam, kind: spam.FilterRegex, value: `[a-z]+@spam\.example`, wantValue: `[a-z]+@spam\.example`},
		{name: "regex of a network", list: spam.FilterListSpam, kind: spam.FilterRegex, value: `198\.51\.100\.\d+`, wantValue: `198\.51\.100\.\d+`},
		{name: "empty", list: spam.FilterListHold, kind: spam.FilterWord, value: "  ", badFields: []string{"filter.value"}},
		{name: "control characters", list: spam.FilterListHold, kind: spam.FilterPhrase, value: "buy\x00now", badFields: []string{"filter.value"}},
		{name: "no list, no kind", value: "casino", badFields: []string{"filter.list", "filter.kind"}},
		{name: "no list, no kind, no value", value: " ", badFields: []string{"filter.list", "filter.kind", "filter.value"}},
		{name: "unknown kind, control characters", list: spam.FilterListHold, kind: spam.FilterKind(9), value: "a\x00b", badFields: []string{"filter.kind", "filter.value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := spam.NewFilter(keys, "filter", tt.list, tt.kind, tt.value)
			if tt.badFields != nil {
				var verr *comment.ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("called NewFilter(%v, %v, %q), got error %v, want a *comment.ValidationError", tt.list, tt.kind, tt.value, err)
				}
				var fields []string
				for _, v := range verr.Violations {
					fields = append(fields, v.Field)
				}
				if diff := cmp.Diff(tt.badFields, fields); diff != "" {
					t.Errorf("called NewFilter(%v, %v, %q), got bad fields diff (-want +got):\n%s", tt.list, tt.kind, tt.value, diff)
				}
				if tt.badHas != "" && !strings.Contains(verr.Violations[0].Description, tt.badHas) {
					t.Errorf("called NewFilter(%v, %v, %q), got %q, want a description that says %q", tt.list, tt.kind, tt.value, verr.Violations[0].Description, tt.badHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("called NewFilter(%v, %v, %q), got error %v, want none", tt.list, tt.kind, tt.value, err)
			}
			if f.Value != tt.wantValue || f.Hash != tt.wantHash || f.List != tt.list || f.Kind != tt.kind || len(f.ID) != 24 {
				t.Errorf("called NewFilter(%v, %v, %q), got %+v, want value %q, hash %q and a 24-digit id", tt.list, tt.kind, tt.value, f, tt.wantValue, tt.wantHash)
			}
			if tt.wantHash != "" && strings.Contains(strings.ToLower(f.Value+f.Hash), strings.ToLower(strings.TrimSpace(tt.value))) {
				t.Errorf("called NewFilter(%v, %q), got %+v, which holds the address in clear", tt.kind, tt.value, f)
			}
			again, _ := spam.NewFilter(keys, "filter", tt.list, tt.kind, strings.ToUpper(tt.value))
			if tt.kind != spam.FilterRegex && again.ID != f.ID {
				t.Errorf("called NewFilter with %q and %q, got ids %s and %s, want the same entry", tt.value, strings.ToUpper(tt.value), f.ID, again.ID)
			}
		})
	}
}

// An entry's id is the entry: one written another way, or of the other kind where a script
// without spaces cannot tell a word from a phrase, is the same entry, and is reported as a
// duplicate. The ids of entries earlier releases accepted stay as they were, so an entry they
// stored is found again.
func TestFilterIDs(t *testing.T) {
	type entry struct {
		list  spam.FilterList
		kind  spam.FilterKind
		value string
	}
	id := func(t *testing.T, e entry) string {
		t.Helper()
		f, err := spam.NewFilter(nil, "filter", e.list, e.kind, e.value)
		if err != nil {
			t.Fatalf("called NewFilter(%v, %v, %q), got error %v", e.list, e.kind, e.value, err)
		}
		return f.ID
	}
	// As the previous release made them.
	earlier := []struct {
		entry
		id string
	}{
		{entry{spam.FilterListSpam, spam.FilterWord, "casino"}, "aa5655b881e3a8972ae4772b"},
		{entry{spam.FilterListSpam, spam.FilterPhrase, "赌场赢钱"}, "55843a233f0bf12e063548ba"},
		{entry{spam.FilterListSpam, spam.FilterWord, "คาสิโน"}, "56b0b99c1eb00c0d90aaa23a"},
		{entry{spam.FilterListSpam, spam.FilterWord, "赌"}, "a796b814deae0baa37f1b0df"},
		{entry{spam.FilterListHold, spam.FilterPhrase, "cheap watches"}, "4ffef95733efdf0ca18aaf1e"},
		{entry{spam.FilterListHold, spam.FilterDomain, "spam.example"}, "cd0a1f7c3392e39f359897cc"},
		{entry{spam.FilterListSpam, spam.FilterWord, "1234"}, "136fe4c33628ed649382124e"},
	}
	for _, tt := range earlier {
		if got := id(t, tt.entry); got != tt.id {
			t.Errorf("called NewFilter(%v, %v, %q), got id %s, want %s as the previous release gave it", tt.list, tt.kind, tt.value, got, tt.id)
		}
	}
	same := []struct {
		name string
		a, b entry
	}{
		{"fullwidth and plain", entry{spam.FilterListSpam, spam.FilterWord, "Ｃａｓｉｎｏ"}, entry{spam.FilterListSpam, spam.FilterWord, "casino"}},
		{"fullwidth phrase and plain", entry{spam.FilterListHold, spam.FilterPhrase, "ＣＨＥＡＰ　ｗａｔｃｈｅｓ"}, entry{spam.FilterListHold, spam.FilterPhrase, "cheap watches"}},
		{"halfwidth and fullwidth katakana", entry{spam.FilterListHold, spam.FilterWord, "ｶｼﾞﾉ"}, entry{spam.FilterListHold, spam.FilterWord, "カジノ"}},
		{"ligature", entry{spam.FilterListHold, spam.FilterWord, "ﬁnance"}, entry{spam.FilterListHold, spam.FilterWord, "finance"}},
		{"sharp s and its capital spelling", entry{spam.FilterListHold, spam.FilterWord, "Straße"}, entry{spam.FilterListHold, spam.FilterWord, "STRASSE"}},
		{"Chinese word and phrase", entry{spam.FilterListSpam, spam.FilterWord, "赌场赢钱"}, entry{spam.FilterListSpam, spam.FilterPhrase, "赌场赢钱"}},
		{"Thai word and phrase", entry{spam.FilterListSpam, spam.FilterPhrase, "คาสิโน"}, entry{spam.FilterListSpam, spam.FilterWord, "คาสิโน"}},
	}
	for _, tt := range same {
		if a, b := id(t, tt.a), id(t, tt.b); a != b {
			t.Errorf("%s: called NewFilter with %+v and %+v, got ids %s and %s, want the same entry", tt.name, tt.a, tt.b, a, b)
		}
	}
	if a, b := id(t, entry{spam.FilterListSpam, spam.FilterWord, "casino"}), id(t, entry{spam.FilterListHold, spam.FilterWord, "casino"}); a == b {
		t.Errorf("called NewFilter with casino on both lists, got id %s twice, want two entries", a)
	}
}

// memFilters is an in-memory spam.FilterStore for the service's own rules.
type memFilters struct{ byID map[string]spam.Filter }

func (m *memFilters) CreateFilter(_ context.Context, f spam.Filter) (spam.Filter, bool, error) {
	if old, ok := m.byID[f.ID]; ok {
		return old, false, nil
	}
	m.byID[f.ID] = f
	return f, true, nil
}

func (m *memFilters) ListFilters(_ context.Context, list spam.FilterList, _ comment.Page) ([]spam.Filter, string, error) {
	var out []spam.Filter
	for _, f := range m.byID {
		if list == spam.FilterListAny || f.List == list {
			out = append(out, f)
		}
	}
	return out, "", nil
}

func (m *memFilters) DeleteFilter(_ context.Context, id, _ string) error {
	if _, ok := m.byID[id]; !ok {
		return spam.ErrFilterNotFound
	}
	delete(m.byID, id)
	return nil
}

func TestFiltersCreateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	store := &memFilters{byID: map[string]spam.Filter{}}
	fs := spam.NewFilters(store, testKeyring(t), spam.FiltersOptions{})
	first, created, err := fs.Create(ctx, "mod-a", spam.FilterListSpam, spam.FilterWord, "casino")
	if err != nil || !created {
		t.Fatalf("called Create(casino), got created %v, %v; want created", created, err)
	}
	second, created, err := fs.Create(ctx, "mod-b", spam.FilterListSpam, spam.FilterWord, "CASINO")
	if err != nil || second != first || created {
		t.Errorf("called Create(CASINO) after Create(casino), got %+v, created %v, %v; want the first entry %+v, not created", second, created, err, first)
	}
	if first.Moderator != "mod-a" || first.CreatedAt.IsZero() {
		t.Errorf("called Create as mod-a, got moderator %q at %v, want mod-a and a time", first.Moderator, first.CreatedAt)
	}
	if _, _, err := fs.List(ctx, spam.FilterList(7), comment.Page{}); !isValidation(err, "list") {
		t.Errorf("called List(list 7), got %v, want a validation error on list", err)
	}
}

func isValidation(err error, field string) bool {
	var verr *comment.ValidationError
	if !errors.As(err, &verr) {
		return false
	}
	for _, v := range verr.Violations {
		if v.Field == field {
			return true
		}
	}
	return false
}

func TestParseFilterID(t *testing.T) {
	const id = "0123456789abcdef01234567"
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"filters/" + id, true}, {id, true}, {"filters/xyz", false}, {"", false}, {"comments/" + id, false}} {
		got, err := spam.ParseFilterID("name", tt.name)
		if tt.ok && (err != nil || got != id) {
			t.Errorf("called ParseFilterID(%q), got %q, %v; want %q", tt.name, got, err, id)
		}
		if !tt.ok && !isValidation(err, "name") {
			t.Errorf("called ParseFilterID(%q), got %q, %v; want a validation error on name", tt.name, got, err)
		}
	}
}

// BenchmarkRegexPattern matches patterns of several compiled sizes against a 5,000-character
// body, as every regex filter is matched on every submission (MaxPatternInsts is chosen from it).
func BenchmarkRegexPattern(b *testing.B) {
	body := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 130)[:5000]
	for _, p := range []string{`c[a@]sino`, `\b\d{3}[-.\s]?\d{3}[-.\s]?\d{4}\b`, `(free|cheap)\s+(iphone|watches|followers)`, `(\w+\s?){1,10}z`, `(\w+\s?){1,40}z`} {
		re := regexp.MustCompile("(?i)" + p)
		b.Run(p, func(b *testing.B) {
			for range b.N {
				re.MatchString(body)
			}
		})
	}
}

// TestFilterCurrent: only an entry of one IPv6 address stored without "(one address)", as earlier
// releases stored it, changes when read back.
func TestFilterCurrent(t *testing.T) {
	tests := []struct {
		name string
		in   spam.Filter
		want string
	}{
		{name: "one IPv6 address, stored before", in: spam.Filter{Kind: spam.FilterIP, Value: "2001:db8:5::/48", Hash: "h"}, want: "2001:db8:5::/48 (one address)"},
		{name: "one IPv6 address, stored now", in: spam.Filter{Kind: spam.FilterIP, Value: "2001:db8:5::/48 (one address)", Hash: "h"}, want: "2001:db8:5::/48 (one address)"},
		{name: "an IPv6 /48", in: spam.Filter{Kind: spam.FilterIP, Value: "2001:db8:5::/48"}, want: "2001:db8:5::/48"},
		{name: "one IPv4 address", in: spam.Filter{Kind: spam.FilterIP, Value: "198.51.100.x", Hash: "h"}, want: "198.51.100.x"},
		{name: "an email address", in: spam.Filter{Kind: spam.FilterEmail, Value: "j•••@example.com", Hash: "h"}, want: "j•••@example.com"},
		{name: "a word", in: spam.Filter{Kind: spam.FilterWord, Value: "casino"}, want: "casino"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Current().Value; got != tt.want {
				t.Errorf("Filter{%v %q}.Current().Value = %q, want %q", tt.in.Kind, tt.in.Value, got, tt.want)
			}
		})
	}
}
