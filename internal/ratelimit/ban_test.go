package ratelimit

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/comment"
)

const hashA = "0123456789abcdef0123456789abcdef01234567"

// equateNetip compares netip values by ==, as they are meant to be.
var equateNetip = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{in: "author:" + hashA, want: AuthorTarget(hashA)},
		{in: "ip:" + hashA, want: IPTarget(hashA)},
		{in: "range:203.0.113.0/24", want: RangeTarget(netip.MustParsePrefix("203.0.113.0/24"))},
		{in: "range:203.0.113.77/24", want: RangeTarget(netip.MustParsePrefix("203.0.113.0/24"))},
		{in: "2001:db8::/32", want: RangeTarget(netip.MustParsePrefix("2001:db8::/32"))},
		{in: "range:2001:db8:1:2::/64", want: RangeTarget(netip.MustParsePrefix("2001:db8:1:2::/64"))},
		{in: "author:" + strings.ToUpper(hashA), wantErr: true},
		{in: "author:abc", wantErr: true},
		{in: "ip:", wantErr: true},
		{in: "range:203.0.113.7/32", wantErr: true},      // one address: must be banned by hash
		{in: "range:2001:db8::1/128", wantErr: true},     // likewise
		{in: "range:10.0.0.0/7", wantErr: true},          // wider than /8
		{in: "range:2000::/15", wantErr: true},           // wider than /16
		{in: "range:::ffff:10.0.0.0/104", wantErr: true}, // IPv4 in IPv6 form
		{in: "range:banana", wantErr: true},
		{in: "email:jane@example.com", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTarget("target", tt.in)
		if tt.wantErr {
			var verr *comment.ValidationError
			if !errors.As(err, &verr) {
				t.Errorf("ParseTarget(%q) = %v, %v; want a *comment.ValidationError", tt.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTarget(%q) error = %v, want none", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTarget(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if again, err := ParseTarget("target", got.String()); err != nil || again != got {
			t.Errorf("ParseTarget(%q) = %v, %v; want %v (String round trip)", got.String(), again, err, got)
		}
	}
}

// banStoreStub records what Bans asks of its store.
type banStoreStub struct {
	put    func(Ban) error
	delete func(Target, time.Time) error
}

func (s banStoreStub) PutBan(_ context.Context, b Ban, _ BanCall) (Ban, *Ban, error) {
	return b, nil, s.put(b)
}
func (s banStoreStub) DeleteBan(_ context.Context, t Target, now time.Time, _ string) error {
	return s.delete(t, now)
}
func (s banStoreStub) ListBans(context.Context, time.Time, comment.Page) ([]Ban, string, error) {
	return nil, "", nil
}

func TestBansBan(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name       string
		req        BanRequest
		want       Ban
		wantFields []string // the fields a *comment.ValidationError names; nil means success
		wantDesc   string   // with wantFields: a part of the first violation's description
		notDesc    string   // with wantFields: what that description must not hold
	}{
		{
			name: "author for good",
			req:  BanRequest{Target: AuthorTarget(hashA), Reason: " spam links ", Moderator: "mod-ann"},
			want: Ban{Target: AuthorTarget(hashA), Reason: "spam links", Moderator: "mod-ann", CreatedAt: now.Truncate(time.Millisecond)},
		},
		{
			name: "range for a day, masked, expiry rounded up to the ms",
			req:  BanRequest{Target: RangeTarget(netip.MustParsePrefix("198.51.100.9/24")), Duration: 24*time.Hour + 1, Moderator: "mod-ann"},
			want: Ban{Target: RangeTarget(netip.MustParsePrefix("198.51.100.0/24")), Moderator: "mod-ann",
				CreatedAt: now.Truncate(time.Millisecond), ExpiresAt: now.Truncate(time.Millisecond).Add(24*time.Hour + time.Millisecond)},
		},
		{
			// What the API's duration of a thousand years comes to (durationpb saturates).
			name: "the longest duration, expiry in the future",
			req:  BanRequest{Target: AuthorTarget(hashA), Duration: math.MaxInt64, Moderator: "mod-ann"},
			want: Ban{Target: AuthorTarget(hashA), Moderator: "mod-ann", CreatedAt: now.Truncate(time.Millisecond),
				ExpiresAt: now.Truncate(time.Millisecond).Add(math.MaxInt64 - math.MaxInt64%time.Millisecond).Add(time.Millisecond)},
		},
		{
			name:       "everything wrong",
			req:        BanRequest{Target: AuthorTarget("nope"), Duration: -time.Second, Reason: strings.Repeat("x", comment.MaxReasonChars+1)},
			wantFields: []string{"target", "duration", "reason", "moderator"},
		},
		{
			// Readers behind a NAT64 translator are matched by the IPv4 address they hold
			// (privacy.ParseIP): a range in the NAT64 prefix would never refuse anyone.
			name:       "range in NAT64 form",
			req:        BanRequest{Target: RangeTarget(netip.MustParsePrefix("64:ff9b::cb00:7100/120")), Reason: "bot net", Moderator: "m"},
			wantFields: []string{"target"},
			wantDesc:   "ban the IPv4 range it stands for, 203.0.113.0/24",
		},
		{
			// The IPv4 range it stands for is itself too wide to ban: the advice must not point
			// to a ban the same call refuses.
			name:       "whole NAT64 prefix",
			req:        BanRequest{Target: RangeTarget(netip.MustParsePrefix("64:ff9b::/96")), Reason: "bot net", Moderator: "m"},
			wantFields: []string{"target"},
			wantDesc:   "ban narrower IPv4 ranges",
			notDesc:    "ban the IPv4 range it stands for",
		},
		{
			// A /64 is one phone's or home network's, which an address ban keeps as a hash.
			name:       "IPv6 range within one /64",
			req:        BanRequest{Target: RangeTarget(netip.MustParsePrefix("2001:db8:1:2::/64")), Reason: "bot net", Moderator: "m"},
			wantFields: []string{"target"},
		},
		{
			// Four addresses, one home's or one link's, would be kept in clear and listed.
			name:       "IPv4 range of /30",
			req:        BanRequest{Target: RangeTarget(netip.MustParsePrefix("203.0.113.8/30")), Reason: "bot net", Moderator: "m"},
			wantFields: []string{"target"},
			wantDesc:   "ban an address in it instead",
		},
		{
			name: "IPv4 range of /29",
			req:  BanRequest{Target: RangeTarget(netip.MustParsePrefix("203.0.113.8/29")), Reason: "bot net", Moderator: "m"},
			want: Ban{Target: RangeTarget(netip.MustParsePrefix("203.0.113.8/29")), Reason: "bot net", Moderator: "m", CreatedAt: now.Truncate(time.Millisecond)},
		},
		{
			// A 6to4 /48 is the network of one IPv4 address, which it holds in bits 16 to 47.
			name:       "6to4 range of one IPv4 address",
			req:        BanRequest{Target: RangeTarget(netip.MustParsePrefix("2002:cb00:7108::/48")), Reason: "bot net", Moderator: "m"},
			wantFields: []string{"target"},
			wantDesc:   "stands for the IPv4 203.0.113.8/32",
		},
		{
			// The IPv4 range a NAT64 range stands for is too narrow to ban: the advice must
			// not point to it.
			name:       "NAT64 range of four IPv4 addresses",
			req:        BanRequest{Target: RangeTarget(netip.MustParsePrefix("64:ff9b::cb00:7108/126")), Reason: "bot net", Moderator: "m"},
			wantFields: []string{"target"},
			wantDesc:   "ban an address in it instead",
			notDesc:    "ban the IPv4 range it stands for",
		},
		{
			name: "IPv6 range of two /64s",
			req:  BanRequest{Target: RangeTarget(netip.MustParsePrefix("2001:db8:1:2::/63")), Reason: "bot net", Moderator: "m"},
			want: Ban{Target: RangeTarget(netip.MustParsePrefix("2001:db8:1:2::/63")), Reason: "bot net", Moderator: "m", CreatedAt: now.Truncate(time.Millisecond)},
		},
		{
			name:       "no target",
			req:        BanRequest{Moderator: "m"},
			wantFields: []string{"target"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stored []Ban
			bs := NewBans(banStoreStub{put: func(b Ban) error { stored = append(stored, b); return nil }},
				BansOptions{Now: func() time.Time { return now }})
			got, err := bs.Ban(context.Background(), tt.req)
			if tt.wantFields != nil {
				var verr *comment.ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("Ban(%+v) error = %v, want a *comment.ValidationError", tt.req, err)
				}
				var fields []string
				for _, v := range verr.Violations {
					fields = append(fields, v.Field)
				}
				if diff := cmp.Diff(tt.wantFields, fields); diff != "" {
					t.Errorf("Ban(%+v) violations (-want +got):\n%s", tt.req, diff)
				}
				if d := verr.Violations[0].Description; !strings.Contains(d, tt.wantDesc) || (tt.notDesc != "" && strings.Contains(d, tt.notDesc)) {
					t.Errorf("Ban(%+v) violation %q, want it to hold %q and not %q", tt.req, d, tt.wantDesc, tt.notDesc)
				}
				if len(stored) != 0 {
					t.Errorf("Ban(%+v) stored %v, want nothing stored", tt.req, stored)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ban(%+v) error = %v, want none", tt.req, err)
			}
			if diff := cmp.Diff(tt.want, got, equateNetip); diff != "" {
				t.Errorf("Ban(%+v) (-want +got):\n%s", tt.req, diff)
			}
			if diff := cmp.Diff([]Ban{tt.want}, stored, equateNetip); diff != "" {
				t.Errorf("Ban(%+v) stored (-want +got):\n%s", tt.req, diff)
			}
		})
	}
}

func TestBanActive(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		expires time.Time
		want    bool
	}{
		{time.Time{}, true},
		{now.Add(time.Millisecond), true},
		{now, false},
		{now.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		if got := (Ban{ExpiresAt: tt.expires}).Active(now); got != tt.want {
			t.Errorf("Ban{ExpiresAt: %v}.Active(%v) = %v, want %v", tt.expires, now, got, tt.want)
		}
	}
}

func TestBansHashedTargets(t *testing.T) {
	t.Parallel()
	keys := testKeyring(t)
	bans := NewBans(banStoreStub{}, BansOptions{Keys: keys})
	jane := testDraft(t, "jane@example.com", "2001:db8::7", "x")
	tests := []struct {
		name      string
		target    func(field, v string) (Target, error)
		in        string
		want      Target
		wantField string // the field of the *comment.ValidationError; "" for success
	}{
		{name: "email, any spelling", target: bans.EmailTarget, in: " Jane@EXAMPLE.com ", want: AuthorTarget(keys.EmailKey(jane.Email))},
		{name: "not an email", target: bans.EmailTarget, in: "jane at example", wantField: "author_email"},
		{name: "IPv6 address is its /64", target: bans.AddressTarget, in: "2001:db8:0::7", want: IPTarget(keys.IPLimitKey(jane.IP))},
		{name: "IPv4-mapped is IPv4", target: bans.AddressTarget, in: "::ffff:192.0.2.1", want: IPTarget(keys.IPKey(testDraft(t, "a@example.com", "192.0.2.1", "x").IP))},
		{name: "a range is not an address", target: bans.AddressTarget, in: "192.0.2.0/24", wantField: "ip"},
		{name: "unspecified IPv4", target: bans.AddressTarget, in: "0.0.0.0", wantField: "ip"},
		{name: "unspecified IPv6", target: bans.AddressTarget, in: "::", wantField: "ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field := "author_email"
			if tt.wantField != "" {
				field = tt.wantField
			}
			got, err := tt.target(field, tt.in)
			if tt.wantField == "" {
				if err != nil || got != tt.want {
					t.Errorf("target of %q = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			var verr *comment.ValidationError
			if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != tt.wantField {
				t.Errorf("target of %q = %v, %v; want a validation error on %s", tt.in, got, err, tt.wantField)
			}
		})
	}
	noKeys := NewBans(banStoreStub{}, BansOptions{})
	if _, err := noKeys.EmailTarget("author_email", "jane@example.com"); err == nil {
		t.Errorf("EmailTarget on Bans without a keyring = nil error, want an error")
	}
}

// A comment without an address is refused on the field, and the refusal points the moderator to
// the author only while there is one: an erased comment has neither.
func TestBansCommentAddressTargetWithoutAddress(t *testing.T) {
	t.Parallel()
	bans := NewBans(banStoreStub{}, BansOptions{Keys: testKeyring(t)})
	tests := []struct {
		name      string
		authorKey string
		want      string // a part of the violation's description
		wantNot   string
	}{
		{name: "site sent none", authorKey: "ak", want: "ban its author instead"},
		{name: "author erased", authorKey: "", want: "erased", wantNot: "ban its author"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bans.CommentAddressTarget("ip", comment.Comment{ID: "c1", AuthorKey: tt.authorKey})
			var verr *comment.ValidationError
			if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Field != "ip" {
				t.Fatalf("CommentAddressTarget = %v; want a validation error on ip", err)
			}
			d := verr.Violations[0].Description
			if !strings.Contains(d, tt.want) || (tt.wantNot != "" && strings.Contains(d, tt.wantNot)) {
				t.Errorf("description %q; want it to hold %q and not %q", d, tt.want, tt.wantNot)
			}
		})
	}
}
