package redisstore

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// FuzzPageToken: a token made for a query reads back as the position it was made for; any other
// string is either refused with comment.ErrInvalidPageToken or is, byte for byte, a token that
// encodeToken (or the previous release, "v1") makes for that query; and no token cut short is
// taken (it would name another position, and the listing would repeat or skip entries).
func FuzzPageToken(f *testing.F) {
	f.Add("published/article-1", int64(1764495148000000), "0706617a33", "")
	f.Add("threads", int64(0), "article-12", "djEuMDAwMDAwMDAuMC5h")
	f.Add("queue/1/", int64(1<<53), "x", "djEuZmZmZmZmZmYuKzUuYQ")
	f.Fuzz(func(t *testing.T, query string, score int64, id, forged string) {
		for _, validID := range []func(string) bool{comment.ValidID, comment.ValidThreadID} {
			if score >= 0 && score <= 1<<53 && validID(id) {
				c := cursor{score: score, id: id}
				tok := encodeToken(query, c)
				got, err := decodeTokenOf(tok, query, validID)
				if err != nil || got == nil || *got != c {
					t.Errorf("decodeTokenOf(encodeToken(%q, %v)) = %v, %v; want %v", query, c, got, err, c)
				}
				for n := len(tok) - 1; n > 0; n-- {
					if got, err := decodeTokenOf(tok[:n], query, validID); err == nil {
						t.Errorf("decodeTokenOf(%q, %q) = %v, nil; a token cut short (%q whole, for %v) must be refused", tok[:n], query, got, tok, c)
						break
					}
				}
			}
			got, err := decodeTokenOf(forged, query, validID)
			switch {
			case err != nil && !errors.Is(err, comment.ErrInvalidPageToken):
				t.Errorf("decodeTokenOf(%q, %q) = %v, want ErrInvalidPageToken", forged, query, err)
			case err == nil && forged == "" && got != nil:
				t.Errorf("decodeTokenOf(\"\", %q) = %v, want nil (the first page)", query, got)
			case err == nil && forged != "" && (got == nil || encodeToken(query, *got) != forged && sealToken("v1", query, got.spell()) != forged):
				t.Errorf("decodeTokenOf(%q, %q) = %v, nil; want ErrInvalidPageToken for a token encodeToken does not make", forged, query, got)
			}
		}
	})
}

// TestPageTokenSpellings: a token of the previous release is read as it was; a token cut short,
// or another spelling of the same parts, is refused.
func TestPageTokenSpellings(t *testing.T) {
	const query = "published/article-1"
	c := cursor{score: 1764495148000000, id: "0706617a33"}
	b64 := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	crc := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(query)))
	v1 := b64("v1." + crc + ".1764495148000000.0706617a33")
	if got, err := decodeToken(v1, query); err != nil || got == nil || *got != c {
		t.Errorf("decodeToken(the previous release's token for %v) = %v, %v; want %v", c, got, err, c)
	}
	tok := encodeToken(query, c)
	for _, tt := range []struct{ name, tok string }{
		{"cut short by one character", tok[:len(tok)-1]},
		{"cut short in the id", tok[:len(tok)-4]},
		{"of another query", encodeToken("published/article-2", c)},
		{"score with a plus sign", b64("v1." + crc + ".+1764495148000000.0706617a33")},
		{"score with a leading zero", b64("v1." + crc + ".01764495148000000.0706617a33")},
		{"line break inside", v1[:8] + "\n" + v1[8:]},
		{"unknown version", b64("v3." + crc + ".1764495148000000.0706617a33")},
	} {
		if got, err := decodeToken(tt.tok, query); !errors.Is(err, comment.ErrInvalidPageToken) {
			t.Errorf("decodeToken(%s: %q) = %v, %v; want ErrInvalidPageToken", tt.name, tt.tok, got, err)
		}
	}
}

// FuzzAuditPageToken holds the audit log's tokens to what FuzzPageToken holds the others': a
// token made for a position reads back as it, no token cut short is read (the stream number at
// its end, cut, would name another stream), and any other string is refused with
// comment.ErrInvalidPageToken unless it is, byte for byte, the token this release or the previous
// one ("v1") makes for the position it is read as.
func FuzzAuditPageToken(f *testing.F) {
	b64 := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	const query = "audit?m=&t=&s=0&u=0"
	crc := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(query)))
	f.Add(query, uint64(1764495148000), uint64(0), 17, "")
	f.Add(query, uint64(1764495148000), uint64(3), 12, b64("v1."+crc+".1764495148000-3.12"))
	f.Add(query, uint64(0), uint64(0), 0, b64("v1."+crc+".1764495148000-3.+1"))
	f.Add("audit?m=ann&t=bans/x&s=1&u=2", uint64(1<<63), uint64(1<<64-1), auditStreams-1, encodeAuditToken(query, auditPos{ms: 5, seq: 1, stream: 18}))
	f.Fuzz(func(t *testing.T, query string, ms, seq uint64, stream int, forged string) {
		if stream >= 0 && stream < auditStreams {
			p := auditPos{ms: ms, seq: seq, stream: stream}
			tok := encodeAuditToken(query, p)
			if got, err := decodeAuditToken(tok, query); err != nil || got == nil || *got != p {
				t.Errorf("decodeAuditToken(encodeAuditToken(%q, %v)) = %v, %v; want %v", query, p, got, err, p)
			}
			if got, err := decodeAuditToken(sealToken("v1", query, p.spell()), query); err != nil || got == nil || *got != p {
				t.Errorf("decodeAuditToken(the previous release's token for %q, %v) = %v, %v; want %v", query, p, got, err, p)
			}
			for n := len(tok) - 1; n > 0; n-- {
				if got, err := decodeAuditToken(tok[:n], query); err == nil {
					t.Errorf("decodeAuditToken(%q, %q) = %v, nil; a token cut short (%q whole, for %v) must be refused", tok[:n], query, got, tok, p)
					break
				}
			}
		}
		got, err := decodeAuditToken(forged, query)
		switch {
		case err != nil && !errors.Is(err, comment.ErrInvalidPageToken):
			t.Errorf("decodeAuditToken(%q, %q) = %v, want ErrInvalidPageToken", forged, query, err)
		case err == nil && forged == "" && got != nil:
			t.Errorf("decodeAuditToken(\"\", %q) = %v, want nil (the first page)", query, got)
		case err == nil && forged != "" && (got == nil || encodeAuditToken(query, *got) != forged && sealToken("v1", query, got.spell()) != forged):
			t.Errorf("decodeAuditToken(%q, %q) = %v, nil; want ErrInvalidPageToken for a token no release makes", forged, query, got)
		}
	})
}

// FuzzBanPageToken holds the bans' tokens to the same: the position is the ban's creation time
// (ms) and target id, made of the fuzzer's bytes into an author, address or range target, and
// the previous release's tokens are "b1.<ms>.<target id>", without a check.
func FuzzBanPageToken(f *testing.F) {
	b64 := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	f.Add(int64(1735689600000), uint8(2), []byte{10, 3, 0, 0}, uint8(16), "")
	f.Add(int64(1735689600000), uint8(0), []byte("jane@example.com"), uint8(0), b64("b1.1735689600000.range:10.3.0.0/16"))
	f.Add(int64(0), uint8(2), []byte{0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(120), b64("b1.1735689600000.range:10.3.0.1/16"))
	f.Add(int64(1<<53), uint8(1), []byte{}, uint8(0), encodeToken(banQuery, cursor{score: 1, id: "ip:" + fmt.Sprintf("%040x", 7)}))
	f.Fuzz(func(t *testing.T, ms int64, kind uint8, key []byte, bits uint8, forged string) {
		if id, ok := fuzzBanID(kind, key, bits); ok && ms >= 0 && ms <= 1<<53 {
			c := cursor{score: ms, id: id}
			tok := encodeToken(banQuery, c)
			if got, err := decodeBanToken(tok); err != nil || got == nil || *got != c {
				t.Errorf("decodeBanToken(encodeToken(%q, %v)) = %v, %v; want %v", banQuery, c, got, err, c)
			}
			if got, err := decodeBanToken(b64("b1." + c.spell())); err != nil || got == nil || *got != c {
				t.Errorf("decodeBanToken(the previous release's token for %v) = %v, %v; want %v", c, got, err, c)
			}
			for n := len(tok) - 1; n > 0; n-- {
				if got, err := decodeBanToken(tok[:n]); err == nil {
					t.Errorf("decodeBanToken(%q) = %v, nil; a token cut short (%q whole, for %v) must be refused", tok[:n], got, tok, c)
					break
				}
			}
		}
		got, err := decodeBanToken(forged)
		switch {
		case err != nil && !errors.Is(err, comment.ErrInvalidPageToken):
			t.Errorf("decodeBanToken(%q) = %v, want ErrInvalidPageToken", forged, err)
		case err == nil && forged == "" && got != nil:
			t.Errorf("decodeBanToken(\"\") = %v, want nil (the first page)", got)
		case err == nil && forged != "" && (got == nil || encodeToken(banQuery, *got) != forged && b64("b1."+got.spell()) != forged):
			t.Errorf("decodeBanToken(%q) = %v, nil; want ErrInvalidPageToken for a token no release makes", forged, got)
		case err == nil && forged != "" && !validBanID(got.id):
			t.Errorf("decodeBanToken(%q) = %v, nil; want ErrInvalidPageToken for a target id no ban has", forged, got)
		}
	})
}

// fuzzBanID makes the id of a valid ban target of the fuzzer's bytes: an author's or address's
// keyed hash (40 hex digits of key), or the range of key's first 4 or 16 bytes and bits; false
// when that range is not one a ban may have.
func fuzzBanID(kind uint8, key []byte, bits uint8) (string, bool) {
	sum := sha1.Sum(key)
	hash := hex.EncodeToString(sum[:])
	var tg ratelimit.Target
	switch kind % 3 {
	case 0:
		tg = ratelimit.AuthorTarget(hash)
	case 1:
		tg = ratelimit.IPTarget(hash)
	default:
		var a netip.Addr
		switch {
		case len(key) >= 16:
			a = netip.AddrFrom16([16]byte(key[:16]))
		case len(key) >= 4:
			a = netip.AddrFrom4([4]byte(key[:4]))
		default:
			return "", false
		}
		tg = ratelimit.RangeTarget(netip.PrefixFrom(a, int(bits)).Masked())
	}
	id := tg.String()
	return id, validBanID(id)
}
