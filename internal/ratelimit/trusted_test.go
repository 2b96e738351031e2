package ratelimit

import (
	"net/netip"
	"testing"
)

func TestTrusted(t *testing.T) {
	t.Parallel()
	tr, err := NewTrusted([]string{hashA}, []string{"192.0.2.0/24", "2001:db8:aa::/48", "198.51.100.7", "::ffff:203.0.113.0/120", "10.0.0.0/8", "2400::/16",
		"64:ff9b::6440:0/120", "64:ff9b::808:404"})
	if err != nil {
		t.Fatalf("NewTrusted(...) = %v, want no error", err)
	}
	tests := []struct {
		author string
		ip     string
		want   bool
	}{
		{author: hashA, want: true},
		{author: hashA, ip: "8.8.8.8", want: true},
		{author: "ffffffffffffffffffffffffffffffffffffffff", ip: "192.0.2.200", want: true},
		{ip: "192.0.3.1", want: false},
		{ip: "2001:db8:aa:1::5", want: true},
		{ip: "2001:db8:ab::5", want: false},
		{ip: "198.51.100.7", want: true},
		{ip: "198.51.100.8", want: false},
		{ip: "::ffff:192.0.2.9", want: true}, // a mapped address matches its IPv4 range
		{ip: "203.0.113.4", want: true},      // a mapped range was configured
		{ip: "10.200.0.1", want: true},       // as wide as a trusted range may be
		{ip: "2400:ff::1", want: true},
		// A range or address written in the NAT64 prefix is the IPv4 one it stands for, which is
		// the address a reader behind the translator arrives with (privacy.ParseIP)...
		{ip: "100.64.0.9", want: true},
		{ip: "100.64.1.9", want: false},
		{ip: "8.8.4.4", want: true},
		// ...and an address still in NAT64 form matches the IPv4 range it stands for.
		{ip: "64:ff9b::c000:209", want: true},
		{ip: "64:ff9b::c000:309", want: false},
		{want: false},
	}
	for _, tt := range tests {
		var ip netip.Addr
		if tt.ip != "" {
			ip = netip.MustParseAddr(tt.ip)
		}
		if got := tr.Contains(tt.author, ip); got != tt.want {
			t.Errorf("Trusted.Contains(%q, %v) = %v, want %v", tt.author, ip, got, tt.want)
		}
	}
}

func TestNewTrustedRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ keys, ranges []string }{
		{keys: []string{"jane@example.com"}},
		{ranges: []string{"192.0.2.0/33"}},
		{ranges: []string{"office"}},
		{ranges: []string{"::ffff:10.0.0.0/64"}},
		// A typo must not exempt the whole Internet from the rate limits: the bounds of a ban.
		{ranges: []string{"0.0.0.0/0"}},
		{ranges: []string{"192.0.2.0/2"}},
		{ranges: []string{"2001:db8:aa::/4"}},
		{ranges: []string{"::ffff:10.0.0.0/100"}},
		{ranges: []string{"::/0"}},
	} {
		if _, err := NewTrusted(tc.keys, tc.ranges); err == nil {
			t.Errorf("NewTrusted(%q, %q) = nil error, want an error", tc.keys, tc.ranges)
		}
	}
}
