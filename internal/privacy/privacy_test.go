package privacy

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

func testKeyring(t *testing.T, ids ...string) *Keyring {
	t.Helper()
	var keys []Key
	for _, id := range ids {
		keys = append(keys, Key{ID: id, Secret: NewSecret()})
	}
	k, err := NewKeyring(Options{EncryptionKeys: keys, HashKey: NewSecret()})
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testKeyring(t, "k1")
	e, _ := ParseEmail("Jane@Example.com")
	sealed, err := k.SealEmail(e, "c1")
	if err != nil {
		t.Fatalf("SealEmail: %v", err)
	}
	if !strings.HasPrefix(sealed, "k1:") || strings.Contains(strings.ToLower(sealed), "jane") {
		t.Fatalf("SealEmail = %q, want a k1: prefixed ciphertext without the address", sealed)
	}
	got, err := k.OpenEmail(sealed, "c1")
	if err != nil || got.Reveal() != "Jane@Example.com" {
		t.Fatalf("OpenEmail(sealed, c1) = %q, %v; want Jane@Example.com, nil", got.Reveal(), err)
	}
	if _, err := k.OpenEmail(sealed, "c2"); !errors.Is(err, ErrTampered) {
		t.Errorf("OpenEmail(sealed, other context) err = %v, want ErrTampered", err)
	}
	flipped := altered(sealed)
	if _, err := k.OpenEmail(flipped, "c1"); !errors.Is(err, ErrTampered) {
		t.Errorf("OpenEmail(altered) err = %v, want ErrTampered", err)
	}
	if _, err := testKeyring(t, "k9").OpenEmail(sealed, "c1"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("OpenEmail with a keyring lacking k1: err = %v, want ErrUnknownKey", err)
	}
}

// TestSealFormat opens sealed values the plain way, with the key's AES-GCM: "keyid:" then the
// unpadded base64url of nonce||ciphertext||tag, the label and the context authenticated. Values
// sealed before must keep opening, and values sealed now must open on servers of the release
// before.
func TestSealFormat(t *testing.T) {
	secret := NewSecret()
	k, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "key-7", Secret: secret}}, HashKey: NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	open := func(sealed, context string) string {
		t.Helper()
		id, enc, ok := strings.Cut(sealed, ":")
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if !ok || id != "key-7" || err != nil || len(raw) < gcm.NonceSize() {
			t.Fatalf("sealed value %q: want key-7: and unpadded base64url", sealed)
		}
		plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], []byte(context))
		if err != nil {
			t.Fatalf("AES-GCM open of %q with context %q: %v", sealed, context, err)
		}
		return string(plain)
	}
	e, _ := ParseEmail("Jane@Example.com")
	ip, _ := ParseIP("2001:db8::7")
	long := strings.Repeat("é", 300)
	for _, c := range []struct{ name, want, context string }{
		{"SealEmail", e.Reveal(), "email\x00c1"},
		{"SealIP", ip.Reveal(), "ip\x00c1"},
		{"Seal", long, "c1"},
		{"Seal, no context", "x", ""},
	} {
		var sealed string
		switch c.name {
		case "SealEmail":
			sealed, err = k.SealEmail(e, "c1")
		case "SealIP":
			sealed, err = k.SealIP(ip, "c1")
		default:
			sealed, err = k.Seal(c.want, c.context)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := open(sealed, c.context); got != c.want {
			t.Errorf("%s sealed %q, want %q", c.name, got, c.want)
		}
	}
}

// TestSealNonces checks that every value sealed gets a nonce of its own. AES-GCM under one key
// with a nonce used twice gives away the XOR of the two plaintexts and lets anyone forge values
// that open, so the same address sealed again, even for the same record, must never repeat one.
func TestSealNonces(t *testing.T) {
	k := testKeyring(t, "k1")
	e, _ := ParseEmail("jane@example.com")
	ip, _ := ParseIP("203.0.113.7")
	seen := make(map[string]string)
	for i := range 50 {
		for _, c := range []struct {
			name string
			seal func() (string, error)
		}{
			{"SealEmail", func() (string, error) { return k.SealEmail(e, "c1") }},
			{"SealIP", func() (string, error) { return k.SealIP(ip, "c1") }},
			{"Seal", func() (string, error) { return k.Seal("jane@example.com", "c1") }},
		} {
			sealed, err := c.seal()
			if err != nil {
				t.Fatalf("%s #%d: %v", c.name, i, err)
			}
			_, raw, ok := parseSealed(sealed)
			if !ok {
				t.Fatalf("%s #%d = %q, not shaped as a sealed value", c.name, i, sealed)
			}
			nonce := string(raw[:12])
			if nonce == string(make([]byte, 12)) {
				t.Fatalf("%s #%d sealed with an all-zero nonce, want a random one", c.name, i)
			}
			if prev, dup := seen[nonce]; dup {
				t.Fatalf("%s #%d sealed with the nonce of %s, want a new nonce for every value", c.name, i, prev)
			}
			seen[nonce] = fmt.Sprintf("%s #%d", c.name, i)
		}
	}
}

func TestRotation(t *testing.T) {
	old := Key{ID: "old", Secret: NewSecret()}
	newer := Key{ID: "new", Secret: NewSecret()}
	hash := NewSecret()
	before, _ := NewKeyring(Options{EncryptionKeys: []Key{old}, HashKey: hash})
	after, _ := NewKeyring(Options{EncryptionKeys: []Key{newer, old}, HashKey: hash})
	ip, _ := ParseIP("2001:db8::1")
	sealed, _ := before.SealIP(ip, "c")
	got, err := after.OpenIP(sealed, "c")
	if err != nil || got.Reveal() != "2001:db8::1" {
		t.Fatalf("after rotation OpenIP(old value) = %q, %v; want 2001:db8::1", got.Reveal(), err)
	}
	resealed, _ := after.SealIP(ip, "c")
	if !strings.HasPrefix(resealed, "new:") {
		t.Errorf("after rotation SealIP = %q, want the new key's prefix", resealed)
	}
	if before.IPKey(ip) != after.IPKey(ip) {
		t.Errorf("IPKey changed with the encryption key rotation; it must depend on the hash key only")
	}
}

// TestReseal: a value of a key other than the primary is sealed again with the primary and still
// opens, to the same address, with the primary alone; a value of the primary comes back as it was;
// a value that does not open is refused with the reason.
func TestReseal(t *testing.T) {
	old := Key{ID: "old", Secret: NewSecret()}
	newer := Key{ID: "new", Secret: NewSecret()}
	hash := NewSecret()
	before, _ := NewKeyring(Options{EncryptionKeys: []Key{old}, HashKey: hash})
	during, _ := NewKeyring(Options{EncryptionKeys: []Key{newer, old}, HashKey: hash})
	after, _ := NewKeyring(Options{EncryptionKeys: []Key{newer}, HashKey: hash})
	email, _ := ParseEmail("jane@example.com")
	ip, _ := ParseIP("2001:db8::7")
	oldEmail, _ := before.SealEmail(email, "c1")
	oldIP, _ := before.SealIP(ip, "c1")
	newEmail, _ := during.SealEmail(email, "c1")

	tests := []struct {
		name      string
		reseal    func(sealed, context string) (string, error)
		sealed    string
		context   string
		wantErr   error
		unchanged bool
	}{
		{name: "email of the old key", reseal: during.ResealEmail, sealed: oldEmail, context: "c1"},
		{name: "ip of the old key", reseal: during.ResealIP, sealed: oldIP, context: "c1"},
		{name: "email of the primary", reseal: during.ResealEmail, sealed: newEmail, context: "c1", unchanged: true},
		{name: "empty", reseal: during.ResealEmail, sealed: "", context: "c1", unchanged: true},
		{name: "another record's value", reseal: during.ResealEmail, sealed: oldEmail, context: "c2", wantErr: ErrTampered},
		{name: "an email's value as an ip", reseal: during.ResealIP, sealed: oldEmail, context: "c1", wantErr: ErrTampered},
		{name: "altered", reseal: during.ResealEmail, sealed: altered(oldEmail), context: "c1", wantErr: ErrTampered},
		{name: "key no longer held", reseal: after.ResealEmail, sealed: oldEmail, context: "c1", wantErr: ErrUnknownKey},
		// "2001" could be a key id, but the rest is no sealed value: not an unknown key.
		{name: "an address in clear", reseal: during.ResealIP, sealed: "2001:db8::1", context: "c1", wantErr: ErrTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.reseal(tt.sealed, tt.context)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != "" {
					t.Fatalf("reseal(%q, %s) = %q, %v; want \"\", %v", tt.sealed, tt.context, got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "2001") {
					t.Errorf("reseal(%q, %s) error %q shows part of the value", tt.sealed, tt.context, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("reseal(%q, %s) = %v, want no error", tt.sealed, tt.context, err)
			}
			if tt.unchanged {
				if got != tt.sealed {
					t.Errorf("reseal(%q, %s) = %q, want the value unchanged", tt.sealed, tt.context, got)
				}
				return
			}
			if !strings.HasPrefix(got, "new:") || got == tt.sealed {
				t.Errorf("reseal(%q, %s) = %q, want a new value sealed with \"new\"", tt.sealed, tt.context, got)
			}
		})
	}

	// What the new key sealed opens with it alone, to what the old key sealed.
	gotEmail, _ := during.ResealEmail(oldEmail, "c1")
	if e, err := after.OpenEmail(gotEmail, "c1"); err != nil || e.Reveal() != email.Reveal() {
		t.Errorf("OpenEmail(resealed email) with the new key alone = %q, %v; want %q", e.Reveal(), err, email.Reveal())
	}
	gotIP, _ := during.ResealIP(oldIP, "c1")
	if a, err := after.OpenIP(gotIP, "c1"); err != nil || a.Reveal() != ip.Reveal() {
		t.Errorf("OpenIP(resealed ip) with the new key alone = %q, %v; want %q", a.Reveal(), err, ip.Reveal())
	}
}

func TestKeyID(t *testing.T) {
	k := testKeyring(t, "k-2", "k1")
	sealed, _ := k.Seal("x", "c")
	tests := []struct {
		sealed string
		want   string
		ok     bool
	}{
		{sealed, "k-2", true},
		{"k9:" + sealed[len("k-2:"):], "k9", true}, // a key the keyring lacks still names its id
		{"", "", false},
		{"jane@example.com", "", false},
		{"2001:db8::1", "", false}, // an IPv6 address in clear: "2001" is not a key id
		{"k1:short", "", false},
		{"k 1:" + sealed[len("k-2:"):], "", false},
		{"k1:" + sealed[len("k-2:"):] + "!", "", false},
	}
	for _, tt := range tests {
		if got, ok := KeyID(tt.sealed); got != tt.want || ok != tt.ok {
			t.Errorf("KeyID(%q) = %q, %v; want %q, %v", tt.sealed, got, ok, tt.want, tt.ok)
		}
	}
	if got := k.KeyIDs(); len(got) != 2 || got[0] != "k-2" || got[1] != "k1" || k.Primary() != "k-2" {
		t.Errorf("KeyIDs() = %v, Primary() = %q; want [k-2 k1], k-2", got, k.Primary())
	}
}

func TestKeyedHashes(t *testing.T) {
	k := testKeyring(t, "k1")
	a, _ := ParseEmail("Jane@Example.com")
	b, _ := ParseEmail(" jane@example.COM ")
	c, _ := ParseEmail("john@example.com")
	if k.EmailKey(a) != k.EmailKey(b) {
		t.Errorf("EmailKey differs for addresses equal after normalisation")
	}
	if k.EmailKey(a) == k.EmailKey(c) {
		t.Errorf("EmailKey equal for different authors")
	}
	if other := testKeyring(t, "k1"); other.EmailKey(a) == k.EmailKey(a) {
		t.Errorf("EmailKey equal under two different hash keys: it is not keyed")
	}
	if strings.Contains(k.EmailKey(a), "jane") || len(k.EmailKey(a)) != 40 {
		t.Errorf("EmailKey = %q, want 40 hex digits", k.EmailKey(a))
	}
}

// The keyed hashes are stored (Redis keys, author keys, bans): they must stay exactly
// HMAC-SHA256(hash key, label 0x00 value) cut to 160 bits, whatever the code computing them, and
// be the same when computed concurrently from pooled states.
func TestKeyedHashFormat(t *testing.T) {
	secret := NewSecret()
	k, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "k1", Secret: NewSecret()}}, HashKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	want := func(label, value string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label + "\x00" + value))
		return hex.EncodeToString(m.Sum(nil)[:20])
	}
	e, _ := ParseEmail("Jane@Example.com")
	ip, _ := ParseIP("203.0.113.7")
	long := strings.Repeat("x", 1000)
	huge := strings.Repeat("y", maxPooledInput+1) // its buffer is not kept: the next hash starts afresh
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if got := k.EmailKey(e); got != want("email", "jane@example.com") {
					t.Errorf("EmailKey = %s, want %s", got, want("email", "jane@example.com"))
					return
				}
				if got := k.IPKey(ip); got != want("ip", "203.0.113.7") {
					t.Errorf("IPKey = %s, want %s", got, want("ip", "203.0.113.7"))
					return
				}
				if got := k.TextKey("dup", long); got != want("text:dup", long) {
					t.Errorf("TextKey(long) = %s, want %s", got, want("text:dup", long))
					return
				}
				if got := k.TextKey("dup", huge); got != want("text:dup", huge) {
					t.Errorf("TextKey(huge) = %s, want %s", got, want("text:dup", huge))
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMaskingAndLogs(t *testing.T) {
	e, ok := ParseEmail("jane.doe@Example.com")
	if !ok {
		t.Fatal("ParseEmail(jane.doe@Example.com) failed")
	}
	ip4, _ := ParseIP("203.0.113.77")
	ip6, _ := ParseIP("2001:db8:abcd:12::1")
	// A 6to4 address holds an IPv4 address (here 203.0.113.77) in its bits 16-47.
	ip6to4, _ := ParseIP("2002:cb00:714d::1")
	tests := []struct{ got, want string }{
		{e.Masked(), "j•••@example.com"},
		{fmt.Sprint(e), "j•••@example.com"},
		{ip4.Masked(), "203.0.113.x"},
		{ip6.Masked(), "2001:db8:abcd::/48"},
		{ip6to4.Masked(), "2002:cb00:7100::/40"}, // 203.0.113.0/24, as for the IPv4 address itself
		{MaskEmail("nobody"), "•••"},
		// A one-character local part: its first character is all of it, so none is shown.
		{MaskEmail("a@b.co"), "•••@b.co"},
		{MaskEmail("é@Example.org"), "•••@example.org"},
		{MaskEmail("ab@b.co"), "a•••@b.co"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("masked form = %q, want %q", tt.got, tt.want)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "email", e, "ip", ip4)
	if strings.Contains(buf.String(), "jane") || strings.Contains(buf.String(), "203.0.113") {
		t.Errorf("slog output %s reveals the address", buf.String())
	}
}

func TestParseKeys(t *testing.T) {
	secret := EncodeSecret(NewSecret())
	keys, err := ParseKeys("a:" + secret + ", b:" + strings.TrimRight(secret, "="))
	if err != nil || len(keys) != 2 || keys[0].ID != "a" || keys[1].ID != "b" {
		t.Fatalf("ParseKeys(two keys) = %v, %v; want a and b", keys, err)
	}
	for _, bad := range []string{"", "nokey", "a:short", "a:!!!"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) = nil error, want an error", bad)
		}
	}
	// A secret is never part of the error, which goes to the log, even when it stands where the
	// id belongs.
	for _, spec := range []string{secret + ":k1", "k1:" + secret[:20], strings.TrimRight(secret, "=") + ":" + secret, "bad id:" + secret, secret, "k0:" + secret + "," + secret} {
		_, err := ParseKeys(spec)
		if err == nil {
			t.Errorf("ParseKeys(%q) = nil error, want an error", spec)
			continue
		}
		for _, s := range []string{secret, strings.TrimRight(secret, "="), secret[:20], secret[:4]} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("ParseKeys(%q) = error %q, which holds the secret", spec, err)
				break
			}
		}
	}
	if _, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "bad id", Secret: NewSecret()}}, HashKey: NewSecret()}); err == nil {
		t.Errorf("NewKeyring(key id with space) = nil error, want an error")
	}
}

// FuzzSimpleAddressAgreesWithNetMail holds the fast path of ParseEmail to net/mail's answer: every
// string it accepts, net/mail accepts unchanged, as a bare address.
func FuzzSimpleAddressAgreesWithNetMail(f *testing.F) {
	for _, s := range []string{
		"jane@example.com", "jane.doe+news@mail.example.co.uk", "a@b.c", "o'brien@example.ie",
		"x..y@example.com", ".x@example.com", "x.@example.com", "x@example..com", "x@.example.com",
		"x@example.com.", "x@-example.com", "x@ex_ample.com", "\"quoted\"@example.com",
		"Jane <jane@example.com>", "jane@[127.0.0.1]", "jané@example.com", "a@b@c.d", "{}|~@x.y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !simpleAddress(s) {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			t.Errorf("simpleAddress(%q) = true, but net/mail gives %+v, %v", s, a, err)
		}
	})
}

// BenchmarkKeys is the keyed hashes one submission needs: its author's email and its address.
func BenchmarkKeys(b *testing.B) {
	k, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "k1", Secret: NewSecret()}}, HashKey: NewSecret()})
	if err != nil {
		b.Fatal(err)
	}
	email, ok := ParseEmail("Jane.Reader@Example.com")
	if !ok {
		b.Fatal("ParseEmail refused the address")
	}
	ip, _ := ParseIP("203.0.113.7")
	b.ReportAllocs()
	for range b.N {
		k.EmailKey(email)
		k.IPKey(ip)
	}
}

// BenchmarkSeal is the sealing one submission needs: its author's email and its address.
func BenchmarkSeal(b *testing.B) {
	k, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "k1", Secret: NewSecret()}}, HashKey: NewSecret()})
	if err != nil {
		b.Fatal(err)
	}
	email, _ := ParseEmail("Jane.Reader@Example.com")
	ip, _ := ParseIP("203.0.113.7")
	b.ReportAllocs()
	for b.Loop() {
		k.SealEmail(email, "0c0006449d8e1a3f2b9c4d5e6f")
		k.SealIP(ip, "0c0006449d8e1a3f2b9c4d5e6f")
	}
}

// TestEmailKeySpellings: one address written in the other forms the mail system treats as the
// same (an internationalised domain in Unicode or in its ASCII "xn--" form, any case; accented
// letters composed or decomposed) is one author, so a ban or a rate limit cannot be escaped by
// spelling the address another way. Different addresses stay apart.
func TestEmailKeySpellings(t *testing.T) {
	k := testKeyring(t, "k1")
	key := func(s string) string {
		t.Helper()
		e, ok := ParseEmail(s)
		if !ok {
			t.Fatalf("ParseEmail(%q) refused", s)
		}
		return k.EmailKey(e)
	}
	for _, same := range [][]string{
		{"jane@bücher.example", "jane@xn--bcher-kva.example", "JANE@XN--BCHER-KVA.EXAMPLE", "jane@bu\u0308cher.example", "Jane@BÜCHER.example"},
		{"jos\u00e9@example.com", "jose\u0301@example.com", "JOS\u00c9@example.com"},
		{"jane@example.com", "Jane@Example.COM"},
		// An invisible character shows nowhere and the domain's mapping drops it: one address.
		{"troll@gmail.com", "troll@gmail.com\u200b", "tro\u200bll@gmail.com", "troll\u2060@gmail.com", "tr\u034foll@gmail.com", "troll@gm\ufe0fail.com", "troll@\u200egmail.com"},
	} {
		for _, s := range same[1:] {
			if key(s) != key(same[0]) {
				t.Errorf("EmailKey(%q) != EmailKey(%q): one address, two authors", s, same[0])
			}
		}
	}
	for _, pair := range [][2]string{
		{"jane@bücher.example", "jane@bucher.example"},
		{"jose@example.com", "jos\u00e9@example.com"},
		{"jane@xn--bcher-kva.example", "jane@xn--bcher-kvb.example"},
		// Provider rules are not applied (see Email.identity), nor are look-alike letters folded.
		{"troll@gmail.com", "tr.oll@gmail.com"},
		{"troll@gmail.com", "troll+1@gmail.com"},
		{"troll@gmail.com", "troll@googlemail.com"},
		{"troll@gmail.com", "tr\u03bfll@gmail.com"},
	} {
		if key(pair[0]) == key(pair[1]) {
			t.Errorf("EmailKey(%q) == EmailKey(%q): two addresses, one author", pair[0], pair[1])
		}
	}
}

// TestEmailKeysFindEarlierSpellings: before an address was hashed in one spelling, its keyed hash
// was the HMAC of the spelling the reader sent, lower-cased, and comments stored then carry it.
// EmailKeys, which erasures and exports look the author up by, holds that hash for every spelling
// of TestEmailKeySpellings, whichever of them the request gives; a plain ASCII address has one key.
func TestEmailKeysFindEarlierSpellings(t *testing.T) {
	hashKey := NewSecret()
	k, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "k1", Secret: NewSecret()}}, HashKey: hashKey})
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	// earlierKey is the hash as it was taken of a spelling, computed here without the keyring.
	earlierKey := func(spelling string) string {
		m := hmac.New(sha256.New, hashKey)
		m.Write([]byte("email\x00" + strings.ToLower(spelling)))
		return hex.EncodeToString(m.Sum(nil))[:40]
	}
	tests := []struct {
		name      string
		spellings []string // every one may be the request's, and every one a stored comment's
		wantKeys  int      // 0: any number
	}{
		{"ascii", []string{"Jane.Reader@Example.com", "jane.reader@example.com"}, 1},
		{"idn domain", []string{"jane@bücher.example", "jane@xn--bcher-kva.example", "JANE@XN--BCHER-KVA.EXAMPLE", "jane@bu\u0308cher.example", "Jane@BÜCHER.example"}, 0},
		{"accented local part", []string{"jos\u00e9@example.com", "jose\u0301@example.com", "JOS\u00c9@example.com"}, 0},
		{"both", []string{"jos\u00e9@bücher.example", "jose\u0301@xn--bcher-kva.example"}, 0},
		{"invisible character", []string{"troll\u200b@gmail.com", "TROLL\u200b@GMAIL.COM"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, asked := range tt.spellings {
				e, ok := ParseEmail(asked)
				if !ok {
					t.Fatalf("ParseEmail(%q) refused", asked)
				}
				keys := k.EmailKeys(e)
				if len(keys) == 0 || keys[0] != k.EmailKey(e) {
					t.Errorf("EmailKeys(%q) = %q, want EmailKey first", asked, keys)
				}
				if tt.wantKeys > 0 && len(keys) != tt.wantKeys {
					t.Errorf("EmailKeys(%q) = %d keys, want %d", asked, len(keys), tt.wantKeys)
				}
				for _, stored := range tt.spellings {
					if !slices.Contains(keys, earlierKey(stored)) {
						t.Errorf("EmailKeys(%q) lacks the key a comment sent as %q was stored under", asked, stored)
					}
				}
			}
		})
	}
	other, _ := ParseEmail("jane@bucher.example")
	idn, _ := ParseEmail("jane@bücher.example")
	for _, key := range k.EmailKeys(idn) {
		if key == k.EmailKey(other) {
			t.Errorf("EmailKeys(jane@bücher.example) holds the key of jane@bucher.example, another address")
		}
	}
}

func TestHoldsEmail(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"", false},
		{"off topic", false},
		{"reply to @jane, not an address", false},
		{"jane@localhost is no reader's address", false},
		{"spam from jane@example.com", true},
		{"spam from Jane.Doe@Example.COM.", true},
		{"posted as <jane@example.com>, again", true},
		{"(mailto:jane@example.com)", true},
		{"same author as «jane@bücher.example»", true},
		{"see jane@example.com: a sock puppet", true},
		{"rate 5@2x", false},
		{"same author as j•••@example.com", false},
		{"Jane@Home", false},
		{"Jane <jane@example.com>", true},
		{"E-mail:jane@example.com", true},
		{"MAILTO:jane@example.com", true},
		{"jane＠example.com", true},
		{"jane﹫example.com", true},
		{"ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", true},
		{"jane@example．com", true},
		{"Jane＠Home", false},
		{"same author as j•••＠example.com", false},
		{"jane\u200b@example.com", true},
		{"jane@exam\u00adple.com", true},
		{"crawler (+mailto:jane@example.com)", true},
	} {
		if got := HoldsEmail(tt.text); got != tt.want {
			t.Errorf("HoldsEmail(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestHoldsIP(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"", false},
		{"7f3a9c2e-1b4d-4e8a-9f00-123456789abc", false},
		{"form-7f3a", false},
		{"203.0.113.7", true},
		{"ip-203.0.113.7-1", true},
		{"203.0.113.7:8443", true},
		{"v1.203.0.113.7", true},
		{"1.2.3", false},
		{"999.1.1.1", false},
		{"1234.1.1.1", false},
		{"20261201.083512.123.4", false},
		{"1..2.3.4", false},
		{"2001:db8:dead:beef::4711", true},
		{"[2001:db8::77]:443", true},
		{"r-2001:DB8::1", true},
		{"::ffff:198.51.100.7", true},
		{"::1", false},
		{"::", false},
		{"a:b", false},
		{"2026-12-01T08:35:12Z", false},
		{"12:34:56", false},
		{"１９８.５１.１００.７", true},
		{"198.51.100\u200b.7", true},
		{"2001:db8:dead:beef:\u20601:2:3:4", true},
	} {
		if got := HoldsIP(tt.text); got != tt.want {
			t.Errorf("HoldsIP(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// TestParseIPEmbeddedIPv4: an IPv6 address that stands for an IPv4 reader (IPv4-mapped, or of the
// NAT64 well-known prefix) is that IPv4 address, so two such readers are counted, banned and
// masked as the two IPv4 addresses they are, not as one IPv6 /64.
func TestParseIPEmbeddedIPv4(t *testing.T) {
	keys, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "k", Secret: NewSecret()}}, HashKey: NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ in, want string }{
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"64:ff9b::198.51.100.7", "198.51.100.7"},
		{"64:ff9b::c633:6408", "198.51.100.8"},
		{"64:ff9b::0.0.0.0", "0.0.0.0"},
		{"64:ff9b:1::198.51.100.7", "64:ff9b:1::c633:6407"}, // a local-use prefix: no known layout
		{"2001:db8::198.51.100.7", "2001:db8::c633:6407"},
	} {
		ip, ok := ParseIP(tt.in)
		if !ok || ip.Reveal() != tt.want {
			t.Errorf("ParseIP(%q) = %q, %v; want %q", tt.in, ip.Reveal(), ok, tt.want)
		}
	}
	a, _ := ParseIP("64:ff9b::198.51.100.7")
	b, _ := ParseIP("64:ff9b::203.0.113.9")
	v4, _ := ParseIP("198.51.100.7")
	if keys.IPLimitKey(a) == keys.IPLimitKey(b) {
		t.Errorf("IPLimitKey(64:ff9b::198.51.100.7) = IPLimitKey(64:ff9b::203.0.113.9), want two readers' keys")
	}
	if keys.IPKey(a) != keys.IPKey(v4) || keys.IPLimitKey(a) != keys.IPLimitKey(v4) {
		t.Errorf("IPKey, IPLimitKey(64:ff9b::198.51.100.7) differ from those of 198.51.100.7, want the same reader's")
	}
	if got := a.Masked(); got != "198.51.100.x" {
		t.Errorf("ParseIP(64:ff9b::198.51.100.7).Masked() = %q, want 198.51.100.x", got)
	}
}

// TestIPLimitKeySixToFour: a 6to4 address counts as the IPv4 address it holds, so that one IPv4
// host's 65,536 6to4 /64s share its budget and its address ban; another host's do not.
func TestIPLimitKeySixToFour(t *testing.T) {
	keys, err := NewKeyring(Options{EncryptionKeys: []Key{{ID: "k", Secret: NewSecret()}}, HashKey: NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) IP {
		ip, ok := ParseIP(s)
		if !ok {
			t.Fatalf("ParseIP(%q) failed", s)
		}
		return ip
	}
	v4 := keys.IPLimitKey(parse("198.51.100.7"))
	for _, same := range []string{"2002:c633:6407::1", "2002:c633:6407:1::1", "2002:c633:6407:ffff:1:2:3:4"} {
		if got := keys.IPLimitKey(parse(same)); got != v4 {
			t.Errorf("IPLimitKey(%s) = %s, want IPLimitKey(198.51.100.7) = %s", same, got, v4)
		}
	}
	for _, other := range []string{"2002:c633:6408::1", "2003:c633:6407::1"} {
		if keys.IPLimitKey(parse(other)) == v4 {
			t.Errorf("IPLimitKey(%s) = IPLimitKey(198.51.100.7), want another host's key", other)
		}
	}
}

func TestMaskAddresses(t *testing.T) {
	chrome := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	for _, tt := range []struct {
		name, text, want string
	}{
		{name: "empty", text: "", want: ""},
		{name: "browser with a four-part version", text: chrome, want: chrome},
		{name: "IPv4 address", text: "Mozilla/5.0 via 203.0.113.7", want: "Mozilla/5.0 via 203.0.113.x"},
		{name: "IPv4 address with a port and a label", text: "proxy(ip=203.0.113.7:8080)", want: "proxy(ip=203.0.113.x:8080)"},
		{name: "IPv4 address in a link", text: "bot (+http://203.0.113.7/bot.html)", want: "bot (+http://203.0.113.x/bot.html)"},
		{name: "IPv4 address after a word and a slash", text: "fwd/203.0.113.7", want: "fwd/203.0.113.7"},
		{name: "too many digits", text: "build 1234.1.1.1", want: "build 1234.1.1.1"},
		{name: "two addresses", text: "203.0.113.7, 198.51.100.9", want: "203.0.113.x, 198.51.100.x"},
		{name: "IPv6 address", text: "client [2001:db8:dead:beef::4711]:443", want: "client [2001:db8:dead::/48]:443"},
		{name: "IPv4 in IPv6 form", text: "from ::ffff:198.51.100.7", want: "from 198.51.100.x"},
		{name: "loopback and times stay", text: "::1 at 12:34:56", want: "::1 at 12:34:56"},
		{name: "email address", text: "crawler (+mailto:Jane.Doe@Example.com)", want: "crawler (+mailto:J•••@example.com)"},
		{name: "email address ending a sentence", text: "contact jane@example.com.", want: "contact j•••@example.com."},
		{name: "email address in full-width forms", text: "via ｊａｎｅ＠example.com", want: "via j•••@example.com"},
		{name: "IPv4 address with a zero-width space", text: "via 203.0.113\u200b.7", want: "via 203.0.113.x"},
		{name: "masked email stays", text: "j•••@example.com", want: "j•••@example.com"},
		{name: "handle stays", text: "@jane", want: "@jane"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := MaskAddresses(tt.text)
			if got != tt.want {
				t.Errorf("MaskAddresses(%q) = %q, want %q", tt.text, got, tt.want)
			}
			// A version left alone still reads as an address to HoldsAddress; a text masked must not.
			if got != tt.text && HoldsAddress(got) {
				t.Errorf("HoldsAddress(MaskAddresses(%q)) = true, want false: %q still holds an address", tt.text, got)
			}
		})
	}
}

func TestHoldsAddress(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"off topic", false},
		{"spam from 203.0.113.x", false},
		{"same as j•••@example.com", false},
		{"spam from 203.0.113.7", true},
		{"sock puppet of jane@example.com", true},
		{"same network as 2001:db8::42", true},
		{"bot net 203.0.113.0/24", false},
		{"bot net 2001:db8:1::/48", false},
		{"one address 203.0.113.7/24", true},
		{"one address 203.0.113.0/32", true},
		{"one address 2001:db8::1/64", true},
	} {
		if got := HoldsAddress(tt.text); got != tt.want {
			t.Errorf("HoldsAddress(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// altered returns sealed with its last two characters changed: to "AA", or to "BB" where they
// are "AA" already (a random seal ends so about once in 4,096 runs, and would then be unchanged).
func altered(sealed string) string {
	if strings.HasSuffix(sealed, "AA") {
		return sealed[:len(sealed)-2] + "BB"
	}
	return sealed[:len(sealed)-2] + "AA"
}

// TestNarrowRange checks which ranges name one reader or two, and so may not be kept in clear.
func TestNarrowRange(t *testing.T) {
	tests := []struct {
		cidr      string
		narrow    bool
		whatHolds string
	}{
		{cidr: "203.0.113.0/24"},
		{cidr: "203.0.113.8/29"},
		{cidr: "203.0.113.8/30", narrow: true, whatHolds: "4 addresses or fewer"},
		{cidr: "203.0.113.8/31", narrow: true, whatHolds: "narrower than /29"},
		{cidr: "203.0.113.8/32"}, // one address: the caller refuses it, with its own advice
		{cidr: "2001:db8:1::/63"},
		{cidr: "2001:db8:1:2::/64", narrow: true, whatHolds: "within one /64"},
		{cidr: "2001:db8:1:2::8000/127", narrow: true, whatHolds: "within one /64"},
		// 6to4: 2002:cb00:7108::/48 is the network of 203.0.113.8 alone.
		{cidr: "2002:cb00:7100::/40"},
		{cidr: "2002:cb00:7108::/45"},
		{cidr: "2002:cb00:7108::/46", narrow: true, whatHolds: "the IPv4 203.0.113.8/30"},
		{cidr: "2002:cb00:7108::/48", narrow: true, whatHolds: "the IPv4 203.0.113.8/32"},
		{cidr: "2002:cb00:7108:1::/64", narrow: true, whatHolds: "the IPv4 203.0.113.8/32"},
		{cidr: "2002::/16"},
		{cidr: "::ffff:203.0.113.8/126"}, // IPv4 in IPv6 form: callers refuse the form itself
	}
	for _, tt := range tests {
		what, narrow := NarrowRange(netip.MustParsePrefix(tt.cidr))
		if narrow != tt.narrow || !strings.Contains(what, tt.whatHolds) {
			t.Errorf("NarrowRange(%s) = %q, %v; want narrow %v, holding %q", tt.cidr, what, narrow, tt.narrow, tt.whatHolds)
		}
		if !narrow && what != "" {
			t.Errorf("NarrowRange(%s) says %q of a range it lets through", tt.cidr, what)
		}
	}
}
