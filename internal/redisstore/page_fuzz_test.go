package redisstore

import (
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/commentd/commentd/internal/comment"
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
