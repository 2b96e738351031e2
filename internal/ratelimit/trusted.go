package ratelimit

import (
	"fmt"
	"net/netip"
	"strings"

	// Against the import rules (see the package comment): a trusted address or range is read as
	// bans read it (privacy.ParseIP, IPFromAddr) and is no wider than a range ban (MinRangeBits).
	"github.com/commentd/commentd/internal/privacy"
)

// Trusted lists the authors and networks that rate limits do not apply to: site staff answering
// readers, a newsroom's office network. Bans and duplicate control still apply to them.
type Trusted struct {
	authors map[string]bool
	ranges  []netip.Prefix
}

// NewTrusted builds a Trusted from author keys (keyed email hashes, as in comment.Comment.AuthorKey;
// see TrustedAuthorKeys to derive them from addresses) and IP ranges in CIDR form (a single address
// is written as a /32 or /128), each at most as wide as a range ban may be (privacy.MinRangeBits).
// Configuration naming staff networks is not a reader's personal data.
func NewTrusted(authorKeys []string, ranges []string) (Trusted, error) {
	t := Trusted{authors: make(map[string]bool, len(authorKeys))}
	for _, k := range authorKeys {
		if !hashKeyPattern.MatchString(k) {
			return Trusted{}, fmt.Errorf("trusted author key %q: want 40 lowercase hex digits", k)
		}
		t.authors[k] = true
	}
	for _, s := range ranges {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil {
				return Trusted{}, fmt.Errorf("trusted range %q: want a CIDR such as 192.0.2.0/24 or 2001:db8::/48", s)
			}
			a = privacy.IPFromAddr(a).Addr()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return Trusted{}, fmt.Errorf("trusted range %q: an IPv4-mapped range needs at least 96 bits", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if v4, ok := nat64Range(p); ok {
			// A reader behind the translator arrives as the IPv4 address it holds
			// (privacy.ParseIP): kept in NAT64 form, the range would never match.
			p = v4
		}
		if widest := privacy.MinRangeBits(p.Addr()); p.Bits() < widest {
			// As for a ban: a typo ("/4" for "/48") must not exempt the whole Internet.
			return Trusted{}, fmt.Errorf("trusted range %q: wider than /%d", s, widest)
		}
		t.ranges = append(t.ranges, p.Masked())
	}
	return t, nil
}

// Contains reports whether the author key or the address is trusted.
func (t Trusted) Contains(authorKey string, ip netip.Addr) bool {
	if authorKey != "" && t.authors[authorKey] {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = privacy.IPFromAddr(ip).Addr() // an IPv4-mapped or NAT64 address is the IPv4 one it holds
	for _, p := range t.ranges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// IsZero reports whether nothing is trusted.
func (t Trusted) IsZero() bool { return len(t.authors) == 0 && len(t.ranges) == 0 }

// nat64Range returns the IPv4 range a range of at least 96 bits inside the NAT64 prefix
// (64:ff9b::/96) stands for, and whether p is one.
func nat64Range(p netip.Prefix) (netip.Prefix, bool) {
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() < 96 {
		return netip.Prefix{}, false
	}
	v4 := privacy.IPFromAddr(p.Addr()).Addr()
	if !v4.Is4() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(v4, p.Bits()-96), true
}
