package spam

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestAnalyse(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		nameField   string
		emailDomain string
		want        []string // must all be among the tokens
		wantNot     []string // must all be absent
		links       int
	}{
		{
			name: "words are lower-cased, apostrophes dropped, bigrams added",
			body: "Don't STOP me",
			want: []string{"dont", "stop", "me", "b:dont stop", "b:stop me", "s:len4"},
		},
		{
			name:    "byte order marks and zero-width characters vanish without splitting words",
			body:    "sub\u200bscribe\ufeff",
			want:    []string{"subscribe"},
			wantNot: []string{"sub", "scribe"},
		},
		{
			name: "fullwidth and mathematical letters fold to plain ones",
			body: "ｆｒｅｅ 𝐦𝐨𝐧𝐞𝐲",
			want: []string{"free", "money"},
		},
		{
			name:    "runs of a letter are cut to two",
			body:    "sooooo goooood",
			want:    []string{"soo", "good"},
			wantNot: []string{"sooooo", "so"},
		},
		{
			name: "HTML entities are decoded",
			body: "you&#39;re &quot;great&quot;",
			want: []string{"youre", "great"},
		},
		{
			name:    "numbers of up to four digits are kept, longer ones are one token",
			body:    "2015 and 1234567",
			want:    []string{"n:2015", "n:long"},
			wantNot: []string{"1234567", "n:1234567"},
		},
		{
			name:  "a link gives a marker, host, domain and first path segment",
			body:  "see https://www.Example.co.uk/user/abc?x=1 now",
			want:  []string{"u:link", "u:h:example.co.uk", "u:p:user", "see", "now"},
			links: 1,
		},
		{
			name:  "subdomains give the registrable domain too",
			body:  "http://m.youtube.com/watch?v=abc",
			want:  []string{"u:h:m.youtube.com", "u:d:youtube.com", "u:p:watch"},
			links: 1,
		},
		{
			name:  "a bare domain with a common top-level domain is a link",
			body:  "visit murdev.com today",
			want:  []string{"u:link", "u:h:murdev.com"},
			links: 1,
		},
		{
			name:    "a sentence ending in a dot is not a domain",
			body:    "the end.so what",
			wantNot: []string{"u:link"},
		},
		{
			name:  "links with host names longer than a token are counted",
			body:  "https://" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + ".example/x and www." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + ".com",
			links: 2,
		},
		{
			// "lol...me too" is common in comments; a host name has no empty label.
			name:  "words joined by dots with an empty label between are not links",
			body:  "love it...me too, wait..in a minute",
			links: 0,
		},
		{
			name:  "the same link in an HTML anchor's attribute and text counts once",
			body:  `<a href="http://spam.example/x">http://spam.example/x</a>`,
			want:  []string{"u:h:spam.example"},
			links: 1,
		},
		{
			name:  "distinct links are counted",
			body:  "www.a.com and www.b.com",
			links: 2,
		},
		{
			name:    "an address in the body keeps only its domain",
			body:    "mail jane.doe@example.org now",
			want:    []string{"e:example.org"},
			wantNot: []string{"jane", "doe", "jane.doe", "b:mail jane"},
		},
		{
			name:    "addresses inside links are not kept",
			body:    "http://jane@example.com/x and http://site.example/bob@mail.example",
			want:    []string{"u:h:example.com", "u:h:site.example"},
			wantNot: []string{"u:h:jane@example.com", "u:p:bob@mail.example"},
			links:   2,
		},
		{
			name:        "name words and email domain are prefixed",
			body:        "hello",
			nameField:   "Cheap Pills",
			emailDomain: "Example.NET",
			want:        []string{"a:cheap", "a:pills", "e:example.net", "hello"},
			wantNot:     []string{"cheap", "pills"},
		},
		{
			name: "ideographs are one token each",
			body: "好歌",
			want: []string{"好", "歌"},
		},
		{
			name: "character 5-grams of the lower-cased text, punctuation as one space, words' edges included",
			body: "Check  OUT!!",
			want: []string{"c: chec", "c:check", "c:heck ", "c:eck o", "c:ck ou", "c:k out", "c: out "},
		},
		{
			name:    "character n-grams fold look-alikes, drop invisible characters and cut runs of a letter",
			body:    "ｓｕｂ\u200bscriiiibe",
			want:    []string{"c:subsc", "c:bscri", "c:scrii", "c:criib"},
			wantNot: []string{"c:riiii", "c:iiiib"},
		},
		{
			name:    "character n-grams write every digit as 0",
			body:    "call +44 7935 454150",
			want:    []string{"c: 00 0", "c:0000 ", "c:00000"},
			wantNot: []string{"c:7935 ", "c:54150", "c:44 79"},
		},
		{
			name:    "character n-grams leave out links and email addresses",
			body:    "go http://spam.example/secretpath and mail jane.doe@example.org now",
			want:    []string{"c: go a", "c:o and", "c:mail ", "c:l now"},
			wantNot: []string{"c:secre", "c:spam ", "c: jane", "c:jane ", "c:examp"},
			links:   1,
		},
		{
			name:    "an IP address in the body is one token, not its numbers",
			body:    "my server is 203.0.113.9, or [2001:db8::1]",
			want:    []string{"n:ip", "my", "server"},
			wantNot: []string{"n:203", "n:113", "c: 000 ", "n:2001", "c:000 0"},
		},
		{
			name:    "a comment of under five characters has no character n-grams",
			body:    "ok",
			want:    []string{"ok"},
			wantNot: []string{"c: ok "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := analyseTokens(tt.body, tt.nameField, tt.emailDomain)
			for _, w := range tt.want {
				if !slices.Contains(a.tokens, w) {
					t.Errorf("analyse(%q, %q, %q) tokens = %q, want them to contain %q", tt.body, tt.nameField, tt.emailDomain, a.tokens, w)
				}
			}
			for _, w := range tt.wantNot {
				if slices.Contains(a.tokens, w) {
					t.Errorf("analyse(%q, %q, %q) tokens = %q, want no %q", tt.body, tt.nameField, tt.emailDomain, a.tokens, w)
				}
			}
			if len(a.links) != tt.links {
				t.Errorf("analyse(%q) links = %v, want %d", tt.body, a.links, tt.links)
			}
			sorted := slices.Sorted(slices.Values(a.tokens))
			if len(slices.Compact(sorted)) != len(a.tokens) {
				t.Errorf("analyse(%q) tokens = %q, want them distinct", tt.body, a.tokens)
			}
		})
	}
}

func TestAnalyseBounded(t *testing.T) {
	body := strings.Repeat(strings.Repeat("abcdefghij", 5)+" ", 2000)
	for i := range 2000 {
		body += "w" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + " "
	}
	a := analyseTokens(body, "", "")
	var chars int
	for _, tok := range a.tokens {
		if strings.HasPrefix(tok, prefixChars) {
			chars++
		}
	}
	if words := len(a.tokens) - chars; words > maxFeatures || chars > maxCharGrams {
		t.Errorf("analyse(%d bytes) gave %d tokens and %d character n-grams, want at most %d and %d", len(body), words, chars, maxFeatures, maxCharGrams)
	}
	if !slices.Contains(a.tokens, tokenLongWord) {
		t.Errorf("analyse of a 50-letter word: tokens lack %q", tokenLongWord)
	}
}

// TestFeatures: every token of an open vocabulary becomes its kind's prefix and a bucket below
// 2^bits, so no kind can hold more than 2^bits features however much text is learnt; numbers and
// the length bucket stay as they are; the same token always becomes the same feature.
func TestFeatures(t *testing.T) {
	body := "Check https://shop.example.com/deals now!! Free money 2015, see 10.0.0.1 or write to x@mail.example.org"
	tokens := analyseTokens(body, "Jane Doe", "example.net").tokens
	features := analyse(body, "Jane Doe", "example.net").tokens
	if len(features) == 0 || len(features) > len(tokens) {
		t.Fatalf("analyse gave %d features for %d tokens", len(features), len(tokens))
	}
	kinds := map[string]bool{}
	for _, tok := range tokens {
		prefix, bits := featureBits([]byte(tok))
		if bits == 0 {
			if !slices.Contains(features, tok) {
				t.Errorf("token %q of a finite kind is not among the features %q", tok, features)
			}
			continue
		}
		kinds[tok[:prefix]] = true
		f := feature(t, tok)
		if !slices.Contains(features, f) {
			t.Errorf("token %q: its feature %q is not among the comment's features", tok, f)
		}
	}
	var bound int
	for _, kind := range FeatureKinds() {
		if !kinds[kind.Prefix] {
			t.Errorf("the comment has no token of kind %q: the test checks nothing for it", kind.Prefix)
		}
		bound += 1 << kind.Bits
	}
	if bound+finiteTokens != MaxModelTokens {
		t.Errorf("FeatureKinds hold %d buckets and %d finite tokens, MaxModelTokens says %d", bound, finiteTokens, MaxModelTokens)
	}
	for _, f := range features {
		if strings.Contains(f, "free") || strings.Contains(f, "jane") || strings.Contains(f, "example") {
			t.Errorf("feature %q holds a word of the comment", f)
		}
	}
	// The same token in another comment is the same feature.
	if again := analyse("free money", "", "").tokens; !slices.Contains(again, feature(t, "free")) || !slices.Contains(again, feature(t, "b:free money")) {
		t.Errorf("analyse(%q) = %q, want the features of %q and %q", "free money", again, "free", "b:free money")
	}
}

// feature returns tok's feature, checking its form: the prefix, then exactly enough hexadecimal
// digits for the kind's bits, whose value is below 2^bits.
func feature(t *testing.T, tok string) string {
	t.Helper()
	prefix, bits := featureBits([]byte(tok))
	f := analyseFeatureOf(tok)
	digits := f[prefix:]
	if f[:prefix] != tok[:prefix] || len(digits) != int(bits+3)/4 {
		t.Fatalf("feature of %q = %q, want prefix %q and %d hexadecimal digits", tok, f, tok[:prefix], (bits+3)/4)
	}
	v, err := strconv.ParseUint(digits, 16, 64)
	if err != nil || v >= 1<<bits {
		t.Fatalf("feature of %q = %q: bucket %d, %v; want below 2^%d", tok, f, v, err, bits)
	}
	return f
}

// analyseFeatureOf returns the feature of one token, through appendFeatures.
func analyseFeatureOf(tok string) string {
	tk := &tokenizer{distinct: true}
	tk.reset(tok)
	tk.arena = append(tk.arena, tok...)
	tk.ends = append(tk.ends, len(tk.arena))
	tk.hashes = append(tk.hashes, tokenHash([]byte(tok)))
	return tk.appendFeatures(nil)[0]
}

// TestTokenHash: the hash the tokeniser records for each token, on which its feature depends, is
// tokenHash of the token, whichever part of the tokeniser made it, so a token is the same feature
// in every comment.
func TestTokenHash(t *testing.T) {
	tk := &tokenizer{distinct: true}
	tk.comment("Check https://shop.example.com/deals now!! Free money 2015, see 10.0.0.1", "Jane Doe", "example.net")
	if len(tk.hashes) != len(tk.ends) {
		t.Fatalf("the tokeniser recorded %d hashes for %d tokens", len(tk.hashes), len(tk.ends))
	}
	for i, tok := range tk.tokens() {
		if got := tokenHash([]byte(tok)); got != tk.hashes[i] {
			t.Errorf("token %q: tokenHash = %x, the tokeniser recorded %x", tok, got, tk.hashes[i])
		}
	}
}

// TestFeaturesShareABucketOnce: two words of one comment that fall in one bucket are one feature,
// counted once, as a word said twice is.
func TestFeaturesShareABucketOnce(t *testing.T) {
	seen := map[string]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		if i > 1<<20 {
			t.Fatal("no two words share a bucket")
		}
		w := "w" + strconv.Itoa(i)
		f := analyseFeatureOf(w)
		if other, ok := seen[f]; ok {
			a, b = other, w
		}
		seen[f] = w
	}
	features := analyse(a+" "+b, "", "").tokens
	shared := feature(t, a)
	if n := len(slices.DeleteFunc(slices.Clone(features), func(f string) bool { return f != shared })); n != 1 {
		t.Errorf("analyse(%q) = %q: the shared feature %q appears %d times, want once", a+" "+b, features, shared, n)
	}
}

// A typical 500-character comment with a link, mixed case and punctuation.
var benchComment = strings.Repeat("Hey guys!! Check out my NEW channel, it's awesome :) ", 6) +
	"https://www.youtube.com/user/somechannel?sub_confirmation=1 and please subscribe, like and share!!! Thanks " +
	"a lot & see you there in 2015 ❤ ＴＨＡＮＫＳ"

func BenchmarkAnalyse(b *testing.B) {
	b.SetBytes(int64(len(benchComment)))
	b.ReportAllocs()
	for b.Loop() {
		analyse(benchComment, "Some Name", "example.com")
	}
}

// TestFiniteTokens: finiteTokens counts every token of the kinds kept as they are, so that
// MaxModelTokens bounds a model. A number is any run of up to four bytes of digits as the
// tokeniser reads them ("0042" is not "42", and a digit of another script is 2 to 4 bytes), so the
// test asks the tokeniser which characters are digits, and counts the digit strings by bytes.
func TestFiniteTokens(t *testing.T) {
	// byLen[n]: the characters the tokeniser keeps as digits whose UTF-8 form is n bytes.
	var byLen [5]int
	var tk tokenizer
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) || unicode.IsSpace(r) || !unicode.IsDigit(fold(r)) {
			continue // cheap filter: only a digit (after folding) can make a number token
		}
		s := string(r)
		tk.arena, tk.ends, tk.nfeatures = tk.arena[:0], tk.ends[:0], 0
		tk.words(s, "", false)
		if toks := tk.tokens(); len(toks) == 1 && toks[0] == prefixNumber+s {
			byLen[len(s)]++
		}
	}
	// strings[n]: the digit strings of exactly n bytes.
	var strs [5]int
	strs[0] = 1
	numbers := 0
	for n := 1; n <= 4; n++ {
		for k := 1; k <= n; k++ {
			strs[n] += strs[n-k] * byLen[k]
		}
		numbers += strs[n]
	}
	// n:long, n:ip, and s:len0 to s:len64 (the bit length of a character count).
	want := numbers + 2 + 65
	if finiteTokens != want {
		t.Errorf("finiteTokens = %d; the tokeniser makes %d numbers (digits of 1 to 4 bytes: %v), n:long, n:ip and 65 length buckets, %d in all", finiteTokens, numbers, byLen[1:], want)
	}
}

// FuzzBareGramsSameFeatures: the scoring path writes each character n-gram as its prefix alone
// (tokenizer.bareGrams), since a gram's feature comes from its hash; its features and links are
// those of the tokeniser writing every gram out in full, whatever the comment.
//
//	go test -run XXX -fuzz FuzzBareGramsSameFeatures ./internal/spam/
func FuzzBareGramsSameFeatures(f *testing.F) {
	for _, s := range []string{
		benchComment, "", "hi", "ok!!", "Ünïcödé ｃｈａｎｎｅｌ 日本語のテキスト 2015 ❤ ÉÉÉ café",
		"See http://example.com/watch?v=1 or www.shop.example, mail me at x@example.org, 10.0.0.1",
		strings.Repeat("subscribe to my channel ", 60), "a\u200bb\u00adc ’quoted’ don't 0123456789",
	} {
		f.Add(s, "Jane Doe", "example.net")
	}
	f.Fuzz(func(t *testing.T, body, name, domain string) {
		full := &tokenizer{distinct: true}
		full.comment(body, name, domain)
		want := full.appendFeatures(nil)
		got := analyse(body, name, domain)
		if !slices.Equal(got.tokens, want) || !slices.Equal(got.links, full.links) {
			t.Errorf("analyse(%q, %q, %q) = %q, %v; the tokeniser writing grams in full gives %q, %v", body, name, domain, got.tokens, got.links, want, full.links)
		}
	})
}
