package privacy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"regexp"
	"strings"
	"sync"
)

// KeySize is the length in bytes of every secret key: AES-256 and the HMAC key.
const KeySize = 32

// ErrUnknownKey means a sealed value names an encryption key the keyring does not hold.
var ErrUnknownKey = errors.New("privacy: sealed with an unknown key")

// ErrTampered means a sealed value failed authentication: it was altered, truncated, or moved to
// another record.
var ErrTampered = errors.New("privacy: sealed value failed authentication")

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Key is one AES-256 encryption key with the id written in front of every value it seals.
type Key struct {
	ID     string
	Secret []byte
}

// Options configures a Keyring.
type Options struct {
	// EncryptionKeys are the AES-256 keys. The first one seals new values; all of them open old ones,
	// so a key can be rotated by putting a new one first and keeping the old one until nothing uses it.
	EncryptionKeys []Key
	// HashKey is the HMAC-SHA256 key for lookup hashes. Changing it changes every author's and IP's
	// hash, so that nothing stored under the old hashes is found again: bans, word-list entries,
	// authors' records, and the comments an erasure or access request looks for. It is not rotated.
	HashKey []byte
}

// Keyring seals and opens personal data and derives keyed lookup hashes. It is safe for concurrent use.
type Keyring struct {
	primary string
	ids     []string // every key's id, in the order given: primary first
	aeads   map[string]cipher.AEAD
	hashKey []byte
	// macs holds *macState values: HMAC-SHA256 states keyed with hashKey, with their buffers.
	// Reset returns one to its keyed start, so a submission's hashes skip hmac.New's key schedule
	// and allocations (BenchmarkKeys).
	macs sync.Pool
}

// NewKeyring checks the keys and builds a Keyring.
func NewKeyring(opts Options) (*Keyring, error) {
	if len(opts.EncryptionKeys) == 0 {
		return nil, errors.New("privacy: no encryption key")
	}
	if len(opts.HashKey) != KeySize {
		return nil, fmt.Errorf("privacy: hash key must be %d bytes, got %d", KeySize, len(opts.HashKey))
	}
	k := &Keyring{
		primary: opts.EncryptionKeys[0].ID,
		aeads:   make(map[string]cipher.AEAD, len(opts.EncryptionKeys)),
		hashKey: append([]byte(nil), opts.HashKey...),
	}
	k.macs.New = func() any { return &macState{mac: hmac.New(sha256.New, k.hashKey)} }
	for _, key := range opts.EncryptionKeys {
		if !keyIDPattern.MatchString(key.ID) {
			return nil, fmt.Errorf("privacy: key id %q: want 1-32 letters, digits, '_' or '-'", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("privacy: key %s must be %d bytes, got %d", key.ID, KeySize, len(key.Secret))
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("privacy: key id %s given twice", key.ID)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("privacy: key %s: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("privacy: key %s: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
		k.ids = append(k.ids, key.ID)
	}
	return k, nil
}

// Primary returns the id of the key that seals new values.
func (k *Keyring) Primary() string { return k.primary }

// KeyIDs returns the ids of every key the keyring holds, the primary first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// sealedMinLen is the shortest body a sealed value can have: the nonce and tag of cipher.NewGCM.
const sealedMinLen = 12 + 16

// KeyID returns the id of the key that sealed a value, without opening it, and false when the
// value does not have the shape Seal gives (then the part before ":" may be anything, even a
// piece of an address written in clear by mistake, and must not be shown).
func KeyID(sealed string) (string, bool) {
	id, _, ok := parseSealed(sealed)
	return id, ok
}

// parseSealed splits a value made by Seal into its key id and nonce||ciphertext||tag.
func parseSealed(sealed string) (id string, raw []byte, ok bool) {
	id, enc, ok := strings.Cut(sealed, ":")
	if !ok || !keyIDPattern.MatchString(id) {
		return "", nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) < sealedMinLen {
		return "", nil, false
	}
	return id, raw, true
}

// Seal encrypts plaintext with the primary key. The result is "keyid:" followed by the unpadded
// base64url of nonce||ciphertext||tag. context is authenticated but not stored (for example the
// comment id), so a sealed value copied into another record fails to open.
func (k *Keyring) Seal(plaintext, context string) (string, error) {
	return k.seal(plaintext, "", context)
}

// seal is Seal with label+context as the context. Every submission seals two values, so it works
// in one buffer: nonce||plaintext (sealed in place into nonce||ciphertext||tag), then the
// authenticated context, then the result's text, which becomes the returned string. That is two
// allocations, where converting each input to []byte, encoding to a string and concatenating
// cost six.
func (k *Keyring) seal(plaintext, label, context string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := k.aeads[k.primary]
	ns := aead.NonceSize()
	sealedLen := ns + len(plaintext) + aead.Overhead()
	textLen := len(k.primary) + 1 + base64.RawURLEncoding.EncodedLen(sealedLen)
	buf := make([]byte, sealedLen+len(label)+len(context)+textLen)
	nonce := buf[:ns]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("privacy: nonce: %w", err)
	}
	copy(buf[ns:], plaintext)
	ad := buf[sealedLen : sealedLen+len(label)+len(context)]
	copy(ad[copy(ad, label):], context)
	sealed := aead.Seal(nonce, nonce, buf[ns:ns+len(plaintext)], ad)
	text := buf[len(buf)-textLen:]
	n := copy(text, k.primary)
	text[n] = ':'
	base64.RawURLEncoding.Encode(text[n+1:], sealed)
	return string(text), nil
}

// Open decrypts a value made by Seal with the same context. The empty string opens to itself.
func (k *Keyring) Open(sealed, context string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	// The shape is checked first: only a value shaped as sealed names a key, and only then is
	// the part before ":" fit for an error message.
	id, raw, ok := parseSealed(sealed)
	if !ok {
		return "", ErrTampered
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return "", ErrTampered
	}
	return string(plain), nil
}

// reseal opens sealed and, unless the primary key sealed it, seals the plaintext again with the
// primary key. The plaintext never leaves the keyring.
func (k *Keyring) reseal(sealed, context string) (string, error) {
	plain, err := k.Open(sealed, context)
	if err != nil {
		return "", err
	}
	if id, _, _ := strings.Cut(sealed, ":"); id == k.primary { // it opened: it has the shape
		return sealed, nil
	}
	return k.Seal(plain, context)
}

// The labels put before a record's context, so an email's sealed value never opens as an IP's.
const (
	emailLabel = "email\x00"
	ipLabel    = "ip\x00"
)

// SealEmail seals e for the record identified by context. The zero Email seals to "".
func (k *Keyring) SealEmail(e Email, context string) (string, error) {
	return k.seal(e.Reveal(), emailLabel, context)
}

// OpenEmail opens a value made by SealEmail.
func (k *Keyring) OpenEmail(sealed, context string) (Email, error) {
	s, err := k.Open(sealed, emailLabel+context)
	if err != nil || s == "" {
		return Email{}, err
	}
	return Email{addr: s}, nil
}

// ResealEmail opens a value made by SealEmail for the record identified by context and returns it
// sealed with the primary key, for key rotation: a value the primary key sealed comes back
// unchanged (once it has opened), any other one newly sealed. The address never leaves the keyring.
func (k *Keyring) ResealEmail(sealed, context string) (string, error) {
	return k.reseal(sealed, emailLabel+context)
}

// SealIP seals ip for the record identified by context. The zero IP seals to "".
func (k *Keyring) SealIP(ip IP, context string) (string, error) {
	return k.seal(ip.Reveal(), ipLabel, context)
}

// OpenIP opens a value made by SealIP.
func (k *Keyring) OpenIP(sealed, context string) (IP, error) {
	s, err := k.Open(sealed, ipLabel+context)
	if err != nil || s == "" {
		return IP{}, err
	}
	ip, ok := ParseIP(s)
	if !ok {
		return IP{}, ErrTampered
	}
	return ip, nil
}

// ResealIP is ResealEmail for a value made by SealIP.
func (k *Keyring) ResealIP(sealed, context string) (string, error) {
	return k.reseal(sealed, ipLabel+context)
}

// hash returns the hex HMAC-SHA256 of value under a domain label, cut to 160 bits (collisions stay
// out of reach and Redis keys stay short). The label keeps an email hash from ever equalling an IP hash.
func (k *Keyring) hash(label, value string) string {
	m := k.macs.Get().(*macState)
	m.mac.Reset()
	m.in = append(append(append(m.in[:0], label...), 0), value...)
	m.mac.Write(m.in)
	hex.Encode(m.hex[:], m.mac.Sum(m.sum[:0])[:20])
	out := string(m.hex[:])
	if cap(m.in) > maxPooledInput {
		m.in = nil
	}
	k.macs.Put(m)
	return out
}

// macState is one keyed HMAC state and the buffers hash needs, reused together: buffers on the
// stack would escape through the hash.Hash interface, costing three allocations per hash.
type macState struct {
	mac hash.Hash
	in  []byte // label, 0, value
	sum [sha256.Size]byte
	hex [40]byte // 160 bits in hex
}

// maxPooledInput bounds the input buffer a pooled state keeps: a rare long value (a comment's
// text) should not hold its memory for good.
const maxPooledInput = 4 << 10

// EmailKey returns the keyed hash of the address in one spelling (see Email.identity): the
// author's identity for lookups, bans and rate limits. The zero Email has the empty key.
func (k *Keyring) EmailKey(e Email) string {
	if e.IsZero() {
		return ""
	}
	return k.hash("email", e.identity())
}

// EmailKeys returns every keyed hash the comments of the address may be stored under: EmailKey
// first, then the hashes earlier releases took of its other spellings (see Email.earlierSpellings;
// none for a plain ASCII address). An erasure or an access request must find the author's
// comments under each of them; bans and rate limits use EmailKey alone. The zero Email has none.
func (k *Keyring) EmailKeys(e Email) []string {
	if e.IsZero() {
		return nil
	}
	keys := []string{k.EmailKey(e)}
	for _, s := range e.earlierSpellings() {
		keys = append(keys, k.hash("email", s))
	}
	return keys
}

// HashKeyCheck returns a keyed hash of a fixed text: the same for two keyrings exactly when they
// hold the same hash key, and telling nothing of the key. The store keeps the one its data was
// written with, so that a server given another hash key, under which no stored author, ban or
// word-list entry is found again, can refuse to start.
func (k *Keyring) HashKeyCheck() string { return k.hash("check", "commentd hash key") }

// IPKey returns the keyed hash of an IP address. The zero IP has the empty key.
func (k *Keyring) IPKey(ip IP) string {
	if ip.IsZero() {
		return ""
	}
	return k.hash("ip", ip.addr.String())
}

// IPLimitKey returns the keyed hash rate limits count an address under: IPKey for an IPv4
// address, and for an IPv6 address a hash of its /64 network. A /64 is what one household or
// server is usually given; counting single IPv6 addresses would let one client rotate through
// 2^64 of them, a fresh budget each time. A 6to4 address (2002::/16) counts as the IPv4 address it
// holds in bits 16 to 47: its /48 is the network of that one IPv4 host, which could otherwise take
// 65,536 /64s from it, each a fresh budget, and step around a ban of its IPv4 address. The zero IP
// has the empty key.
func (k *Keyring) IPLimitKey(ip IP) string {
	if ip.IsZero() {
		return ""
	}
	if ip.addr.Is4() {
		return k.IPKey(ip)
	}
	if sixToFour.Contains(ip.addr) {
		return k.IPKey(IP{addr: sixToFourIPv4(ip.addr)})
	}
	return k.hash("ip64", netip.PrefixFrom(ip.addr, DeviceBitsIPv6).Masked().String())
}

// TextKey returns a keyed hash of arbitrary text under a label, for lookups that must not reveal
// the text (for example a normalised comment body for duplicate detection).
func (k *Keyring) TextKey(label, text string) string { return k.hash("text:"+label, text) }

// NewSecret returns KeySize random bytes, for generated development keys and key set-up.
func NewSecret() []byte {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read never fails on supported platforms (it panics itself since Go 1.24).
		panic(fmt.Sprintf("privacy: crypto/rand: %v", err))
	}
	return b
}

// ParseKeys parses "id:base64,id:base64" (standard or URL base64, padded or not) into keys, in order.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	n := 0
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		// A malformed entry is named by its place, never by any of its text: without its id, or
		// with the two parts swapped ("base64:id"), its first characters are the secret's, which
		// must not reach the log.
		n++
		id, enc, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("privacy: key %d of the list: want id:base64", n)
		}
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("privacy: key %d of the list: id before the \":\": want 1-32 letters, digits, '_' or '-', then the base64", n)
		}
		secret, err := DecodeSecret(enc)
		if err != nil {
			return nil, fmt.Errorf("privacy: key %s: %w", id, err)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	if len(keys) == 0 {
		return nil, errors.New("privacy: no keys given")
	}
	return keys, nil
}

// DecodeSecret decodes a base64 (standard or URL alphabet, padded or not) key of KeySize bytes.
func DecodeSecret(enc string) ([]byte, error) {
	enc = strings.TrimRight(strings.TrimSpace(enc), "=")
	enc = strings.NewReplacer("+", "-", "/", "_").Replace(enc)
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New("not valid base64")
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("want %d bytes, got %d", KeySize, len(b))
	}
	return b, nil
}

// EncodeSecret is the inverse of DecodeSecret, for printing generated keys.
func EncodeSecret(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
