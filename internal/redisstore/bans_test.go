package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

var equateNetip = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func mustBan(t *testing.T, bans *ratelimit.Bans, r ratelimit.BanRequest) ratelimit.Ban {
	t.Helper()
	b, err := bans.Ban(context.Background(), r)
	if err != nil {
		t.Fatalf("Ban(%v) = %v, want no error", r.Target, err)
	}
	return b
}

func rangeTarget(s string) ratelimit.Target {
	return ratelimit.RangeTarget(netip.MustParsePrefix(s))
}

func TestBanLookup(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	g := ratelimit.NewGuard(s, ratelimit.Options{DuplicateWindow: -1})
	troll := subjectOf(t, "troll@example.com", "", "t", "x")
	sock := subjectOf(t, "sock@example.com", "198.51.100.7", "t", "x")
	phone, _ := privacy.ParseIP("2001:db8:5:0:1234:5678:9abc:def0")
	phoneBan := ratelimit.AddressBan(abuseKeys, phone) // its /64
	earlier := subjectOf(t, "sock@example.com", "2001:db8:6::1", "t", "x")
	for _, target := range []ratelimit.Target{
		ratelimit.AuthorTarget(troll.AuthorKey),
		ratelimit.IPTarget(sock.IPKey),
		phoneBan,
		ratelimit.IPTarget(earlier.IPKey), // one IPv6 address, as bans were made before /64 bans
		rangeTarget("203.0.0.0/16"),
		rangeTarget("203.0.113.0/24"), // inside the /16: the narrower one is reported
		rangeTarget("2001:db8:1::/48"),
		rangeTarget("10.0.0.0/8"),
	} {
		mustBan(t, bans, ratelimit.BanRequest{Target: target, Reason: "test", Moderator: "mod"})
	}
	// An expired ban on a range matches nothing.
	mustBan(t, bans, ratelimit.BanRequest{Target: rangeTarget("192.0.2.0/24"), Duration: time.Millisecond, Moderator: "mod"})
	time.Sleep(5 * time.Millisecond)

	tests := []struct {
		email, ip string
		want      string // the banned target's String(), "" for none
	}{
		{email: "troll@example.com", want: ratelimit.AuthorTarget(troll.AuthorKey).String()},
		{email: "Troll@Example.com", ip: "203.0.113.5", want: ratelimit.AuthorTarget(troll.AuthorKey).String()}, // the author first
		{email: "reader@example.com", ip: "198.51.100.7", want: ratelimit.IPTarget(sock.IPKey).String()},
		{email: "reader@example.com", ip: "198.51.100.8"},
		{email: "reader@example.com", ip: "203.0.113.200", want: "range:203.0.113.0/24"},
		{email: "reader@example.com", ip: "203.0.114.1", want: "range:203.0.0.0/16"},
		{email: "reader@example.com", ip: "203.1.0.1"},
		{email: "reader@example.com", ip: "::ffff:203.0.113.9", want: "range:203.0.113.0/24"},
		{email: "reader@example.com", ip: "10.255.255.255", want: "range:10.0.0.0/8"},
		{email: "reader@example.com", ip: "11.0.0.0"},
		{email: "reader@example.com", ip: "2001:db8:1:ffff::1", want: "range:2001:db8:1::/48"},
		{email: "reader@example.com", ip: "2001:db8:2::1"},
		// The phone's address changes within its /64 (privacy extensions): still banned.
		{email: "reader@example.com", ip: "2001:db8:5::aaaa", want: phoneBan.String()},
		{email: "reader@example.com", ip: "2001:db8:5:1::aaaa"}, // another /64
		{email: "reader@example.com", ip: "2001:db8:6::1", want: ratelimit.IPTarget(earlier.IPKey).String()},
		{email: "reader@example.com", ip: "2001:db8:6::2"},
		{email: "reader@example.com", ip: "192.0.2.1"}, // the expired ban
		{email: "reader@example.com"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		sub := subjectOf(t, tt.email, tt.ip, "t", "x")
		b, err := g.Banned(ctx, ratelimit.BanLookup{AuthorKey: sub.AuthorKey, IPKey: sub.IPKey, NetKey: sub.IPLimitKey, IP: sub.IP})
		if err != nil {
			t.Fatalf("Banned(%s, %s) = %v", tt.email, tt.ip, err)
		}
		got := ""
		if b != nil {
			got = b.Target.String()
		}
		if got != tt.want {
			t.Errorf("Banned(%s, %s) = %q, want %q", tt.email, tt.ip, got, tt.want)
		}
		// The submit path finds the same ban in its one round trip, and counts nothing for it.
		o, err := g.Check(ctx, sub)
		if err != nil {
			t.Fatalf("Check(%s, %s) = %v", tt.email, tt.ip, err)
		}
		got = ""
		if o.Ban != nil {
			got = o.Ban.Target.String()
			if !o.Ticket.IsZero() {
				t.Errorf("Check(%s, %s) = banned with ticket %+v, want nothing counted", tt.email, tt.ip, o.Ticket)
			}
		}
		if got != tt.want {
			t.Errorf("Check(%s, %s).Ban = %q, want %q", tt.email, tt.ip, got, tt.want)
		}
	}
}

func TestBanExpiry(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	g := ratelimit.NewGuard(s, ratelimit.Options{})
	ctx := context.Background()
	sub := subjectOf(t, "troll@example.com", "192.0.2.50", "t", "x")
	for _, target := range []ratelimit.Target{ratelimit.AuthorTarget(sub.AuthorKey), ratelimit.IPTarget(sub.IPKey), rangeTarget("192.0.2.0/28")} {
		mustBan(t, bans, ratelimit.BanRequest{Target: target, Duration: 300 * time.Millisecond, Reason: "cool off", Moderator: "mod"})
	}
	if b, err := g.Banned(ctx, ratelimit.BanLookup{AuthorKey: sub.AuthorKey, IPKey: sub.IPKey, NetKey: sub.IPLimitKey, IP: sub.IP}); err != nil || b == nil {
		t.Fatalf("Banned at once = %v, %v; want the author's ban", b, err)
	}
	if list, _, err := bans.List(ctx, comment.Page{}); err != nil || len(list) != 3 {
		t.Fatalf("List at once = %d bans, %v; want 3", len(list), err)
	}
	time.Sleep(400 * time.Millisecond)
	if b, err := g.Banned(ctx, ratelimit.BanLookup{AuthorKey: sub.AuthorKey, IPKey: sub.IPKey, NetKey: sub.IPLimitKey, IP: sub.IP}); err != nil || b != nil {
		t.Errorf("Banned after 300ms bans ran out = %v, %v; want no ban", b, err)
	}
	if list, next, err := bans.List(ctx, comment.Page{}); err != nil || len(list) != 0 || next != "" {
		t.Errorf("List after the bans ran out = %v, %q, %v; want nothing", list, next, err)
	}
	if err := bans.Unban(ctx, ratelimit.AuthorTarget(sub.AuthorKey), "ann"); !errors.Is(err, ratelimit.ErrBanNotFound) {
		t.Errorf("Unban of an expired ban = %v, want ratelimit.ErrBanNotFound", err)
	}
	// The purge removed the expired records from Redis, not just from view.
	if n, err := s.rdb.HLen(ctx, s.keys.banRecords()).Result(); err != nil || n != 0 {
		t.Errorf("HLEN of the ban records after expiry = %d, %v; want 0", n, err)
	}
}

func TestUnbanAndReplace(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	g := ratelimit.NewGuard(s, ratelimit.Options{})
	ctx := context.Background()
	target := rangeTarget("2001:db8:77::/48")
	ip := netip.MustParseAddr("2001:db8:77::1")

	mustBan(t, bans, ratelimit.BanRequest{Target: target, Reason: "for good", Moderator: "ann"})
	second := mustBan(t, bans, ratelimit.BanRequest{Target: target, Duration: time.Hour, Reason: "for an hour", Moderator: "bob"})
	b, err := g.Banned(ctx, ratelimit.BanLookup{IP: ip})
	if err != nil || b == nil {
		t.Fatalf("Banned(%v) = %v, %v; want the ban", ip, b, err)
	}
	if diff := cmp.Diff(second, *b, equateNetip); diff != "" {
		t.Errorf("Banned(%v) after a second ban on the same range (-want +got):\n%s", ip, diff)
	}
	if err := bans.Unban(ctx, target, "ann"); err != nil {
		t.Fatalf("Unban(%v) = %v", target, err)
	}
	if b, err := g.Banned(ctx, ratelimit.BanLookup{IP: ip}); err != nil || b != nil {
		t.Errorf("Banned(%v) after Unban = %v, %v; want no ban", ip, b, err)
	}
	if err := bans.Unban(ctx, target, "ann"); !errors.Is(err, ratelimit.ErrBanNotFound) {
		t.Errorf("Unban(%v) twice = %v, want ratelimit.ErrBanNotFound", target, err)
	}
}

func TestListBansPaginates(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	// Two bans per millisecond, so pages must also cut between bans created at the same time.
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{Now: func() time.Time {
		n++
		return t0.Add(time.Duration(n/2) * time.Millisecond)
	}})
	ctx := context.Background()
	var want []ratelimit.Ban
	for i := range 11 {
		want = append(want, mustBan(t, bans, ratelimit.BanRequest{Target: rangeTarget(fmt.Sprintf("10.%d.0.0/16", i)), Moderator: "mod", Reason: fmt.Sprint("ban ", i)}))
	}
	// Newest first; at the same time, ids in descending byte order, as the sorted set keeps them.
	slices.SortFunc(want, func(a, b ratelimit.Ban) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Target.String(), a.Target.String())
	})

	var got []ratelimit.Ban
	tok := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatalf("List did not end after %d pages", page)
		}
		list, next, err := bans.List(ctx, comment.Page{Size: 3, Token: tok})
		if err != nil {
			t.Fatalf("List(page %d, token %q) = %v", page, tok, err)
		}
		if len(list) > 3 {
			t.Fatalf("List(size 3) returned %d bans", len(list))
		}
		got = append(got, list...)
		if next == "" {
			break
		}
		if page == 1 {
			// A ban lifted between two pages shifts nothing: it just is not listed.
			if err := bans.Unban(ctx, want[len(want)-1].Target, "ann"); err != nil {
				t.Fatalf("Unban = %v", err)
			}
			want = want[:len(want)-1]
		}
		tok = next
	}
	if diff := cmp.Diff(want, got, equateNetip); diff != "" {
		t.Errorf("List by pages of 3 (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"garbage", "YjEuMTIzLmF1dGhvcjpub3BlCg", "eDEuMS5yYW5nZToxMC4wLjAuMC8xNg"} {
		if _, _, err := bans.List(ctx, comment.Page{Token: bad}); !errors.Is(err, comment.ErrInvalidPageToken) {
			t.Errorf("List(token %q) = %v, want comment.ErrInvalidPageToken", bad, err)
		}
	}
}

// TestAbuseDataHoldsNoPersonalData runs every kind of abuse write and then reads back every key
// and value under the store's prefix: no email, address or comment text may appear in clear.
func TestAbuseDataHoldsNoPersonalData(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	const (
		email = "Private.Person@Example.org"
		ip4   = "198.51.100.77"
		ip6   = "2001:db8:dead:beef::77"
		body  = "My secret comment text"
	)
	var rules []ratelimit.Rule
	for _, k := range []ratelimit.KeyKind{ratelimit.KeyIP, ratelimit.KeyAuthor, ratelimit.KeyThread, ratelimit.KeySite} {
		rules = append(rules, rule(k.String(), k, 10, time.Minute, 10))
	}
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
	for _, ip := range []string{ip4, ip6} {
		if _, err := g.Check(ctx, subjectOf(t, email, ip, "t", body+ip)); err != nil {
			t.Fatalf("Check from %s = %v", ip, err)
		}
	}
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	sub := subjectOf(t, email, ip4, "t", body)
	mustBan(t, bans, ratelimit.BanRequest{Target: ratelimit.AuthorTarget(sub.AuthorKey), Moderator: "mod", Reason: "trolling"})
	mustBan(t, bans, ratelimit.BanRequest{Target: ratelimit.IPTarget(sub.IPKey), Moderator: "mod", Duration: time.Hour})

	keys := scanKeys(t, s.rdb, s.keys.prefix)
	if len(keys) < 8 {
		t.Fatalf("SCAN found %d keys under the prefix, want the rule states, markers and bans", len(keys))
	}
	var dump strings.Builder
	for _, k := range keys {
		dump.WriteString(k + "\n")
		typ, err := s.rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s = %v", k, err)
		}
		switch typ {
		case "string":
			dump.WriteString(s.rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range s.rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "zset":
			dump.WriteString(strings.Join(s.rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range s.rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					fmt.Fprintf(&dump, "%s=%v\n", f, v)
				}
			}
		default:
			t.Errorf("key %s has type %s, which this test does not read", k, typ)
		}
		dump.WriteString("\n")
	}
	all := strings.ToLower(dump.String())
	e, _ := privacy.ParseEmail(email)
	a6, _ := privacy.ParseIP(ip6)
	for _, secret := range []string{strings.ToLower(email), "private.person", ip4, a6.Reveal(), "dead:beef", "secret comment", e.Normalized()} {
		if strings.Contains(all, strings.ToLower(secret)) {
			t.Errorf("Redis holds %q in clear:\n%s", secret, dump.String())
		}
	}
}

func TestAbuseOnCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	rdb := clusterClient(t, cluster)
	var c counter
	rdb.AddHook(&c)
	s := abuseStore(t, rdb)
	ctx := context.Background()
	rules := []ratelimit.Rule{
		rule("ip", ratelimit.KeyIP, 1, time.Hour, 1),
		rule("ip2", ratelimit.KeyIP, 5, time.Hour, 5),
		rule("author", ratelimit.KeyAuthor, 5, time.Hour, 5),
		rule("author2", ratelimit.KeyAuthor, 5, time.Hour, 5),
		rule("thread", ratelimit.KeyThread, 100, time.Hour, 100),
		rule("site", ratelimit.KeySite, 100, time.Hour, 100),
	}
	g := ratelimit.NewGuard(s, ratelimit.Options{Rules: rules})
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})

	// Every key one script call touches must hash to one slot; Redis Cluster refuses the call
	// otherwise (CROSSSLOT), so the calls below would fail. Check the slots directly as well.
	sub := subjectOf(t, "jane@example.com", "192.0.2.1", "thread-7", "hello")
	q := ratelimit.Query{ID: "slotcheck", Duplicate: &ratelimit.DuplicateCheck{AuthorKey: sub.AuthorKey, TextKey: sub.TextKey, Window: time.Minute},
		Request: &ratelimit.RequestCheck{ThreadID: sub.ThreadID, RequestID: "form-{1}", Key: "k"}, History: sub.AuthorKey}
	for _, r := range rules {
		v := map[ratelimit.KeyKind]string{ratelimit.KeyIP: sub.IPKey, ratelimit.KeyAuthor: sub.AuthorKey, ratelimit.KeyThread: sub.ThreadID}[r.Key]
		q.Takes = append(q.Takes, ratelimit.Take{Rule: r, Subject: v})
	}
	groups := rateGroups(q.Takes, q.Duplicate, q.Request, q.History)
	if len(groups) != 4 {
		t.Fatalf("rateGroups(%d rules on 4 kinds of value) = %d groups, want 4", len(rules), len(groups))
	}
	slotsOf := func(keys []string) []int64 {
		var slots []int64
		for _, k := range keys {
			slot, err := rdb.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %s = %v", k, err)
			}
			slots = append(slots, slot)
		}
		return slices.Compact(slots)
	}
	var groupSlots []int64
	for _, g := range groups {
		take, _ := s.rateTakeCall(g, q.ID)
		refund, _ := s.rateRefundCall(g, q.ID, false)
		slots := slotsOf(append(take, refund...))
		if len(slots) != 1 {
			t.Errorf("keys of the %s group %v hash to slots %v, want one", g.kind, append(take, refund...), slots)
		}
		groupSlots = append(groupSlots, slots...)
	}
	if slots := slotsOf(s.banKeys()); len(slots) != 1 {
		t.Errorf("ban keys %v hash to slots %v, want one", s.banKeys(), slots)
	}
	if slices.Sort(groupSlots); len(slices.Compact(groupSlots)) < 2 {
		t.Errorf("the four groups share slot %v; the test wants them spread so that the cluster is exercised", groupSlots)
	}

	mustBan(t, bans, ratelimit.BanRequest{Target: rangeTarget("203.0.113.0/24"), Moderator: "mod"})
	mustBan(t, bans, ratelimit.BanRequest{Target: ratelimit.AuthorTarget(subjectOf(t, "troll@example.com", "", "t", "x").AuthorKey), Moderator: "mod", Duration: time.Hour})
	if list, _, err := bans.List(ctx, comment.Page{}); err != nil || len(list) != 2 {
		t.Fatalf("List on the cluster = %d bans, %v; want 2", len(list), err)
	}
	// Warm up (loads the scripts on every master), then one round trip per submission.
	if _, err := g.Check(ctx, subjectOf(t, "warm@example.com", "192.0.2.99", "thread-0", "warm")); err != nil {
		t.Fatalf("warm-up Check on the cluster = %v", err)
	}
	trips := c.trips.Load()
	if o, err := g.Check(ctx, sub); err != nil || o.Ban != nil {
		t.Fatalf("Check on the cluster = %+v, %v; want accepted", o, err)
	}
	if got := c.trips.Load() - trips; got != 1 {
		t.Errorf("Check on the cluster took %d round trips, want 1", got)
	}
	// Refused by the IP rule: the counts in the other three slots (other nodes) are given back.
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.1", "thread-7", "again")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("second Check from the address on the cluster = %v, want refused", err)
	}
	for i := range 4 {
		if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", fmt.Sprintf("192.0.2.%d", 10+i), "thread-7", fmt.Sprint("more ", i))); err != nil {
			t.Fatalf("Check %d from a new address on the cluster = %v, want accepted (refunds must have worked)", i, err)
		}
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.50", "thread-7", "over")); !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("sixth accepted Check by the author on the cluster = %v, want refused by the author's rules", err)
	}
	if _, err := g.Check(ctx, subjectOf(t, "jane@example.com", "192.0.2.60", "thread-7", "hello")); !errors.Is(err, ratelimit.ErrDuplicate) {
		t.Errorf("duplicate Check on the cluster = %v, want ratelimit.ErrDuplicate", err)
	}
	// A request id's marker is in the thread's slot. Sent again unchanged, the request is let
	// through for the comment store to answer, although the address's rule would refuse it;
	// another request under the id is refused; neither counts (the refunds cross nodes).
	asked := subjectOf(t, "ann@example.com", "192.0.2.70", "thread-7", "asked once")
	asked.RequestID, asked.RequestKey = "form-7", "ann: asked once"
	if o, err := g.Check(ctx, asked); err != nil || o.Replay {
		t.Fatalf("Check with request id form-7 on the cluster = %+v, %v; want accepted", o, err)
	}
	if o, err := g.Check(ctx, asked); err != nil || !o.Replay || !o.Ticket.IsZero() {
		t.Errorf("Check with request id form-7 resent on the cluster = %+v, %v; want a replay, nothing counted", o, err)
	}
	reused := asked
	reused.RequestKey, reused.TextKey = "ann: asked twice", subjectOf(t, "", "", "thread-7", "asked twice").TextKey
	if _, err := g.Check(ctx, reused); !errors.Is(err, comment.ErrRequestReused) {
		t.Errorf("Check reusing request id form-7 on the cluster = %v, want comment.ErrRequestReused", err)
	}
	if o, err := g.Check(ctx, subjectOf(t, "reader@example.com", "203.0.113.4", "thread-7", "x")); err != nil || o.Ban == nil {
		t.Errorf("Check from a banned range on the cluster = %+v, %v; want the ban", o, err)
	}
	if err := bans.Unban(ctx, rangeTarget("203.0.113.0/24"), "ann"); err != nil {
		t.Errorf("Unban on the cluster = %v", err)
	}
}

// TestBanFieldsAreTargetIDs checks the fields the ban lookup asks for against the ids bans are
// stored under (ratelimit.Target.String), built the plain way: a field that differs would never
// match its ban.
func TestBanFieldsAreTargetIDs(t *testing.T) {
	t.Parallel()
	author, ip := strings.Repeat("a1", 20), strings.Repeat("b2", 20)
	for _, addr := range []string{"203.0.113.77", "10.0.0.1", "255.255.255.255", "2001:db8:42::7", "::ffff:192.0.2.9", "fe80::1", "::1"} {
		a := netip.MustParseAddr(addr)
		want := []string{ratelimit.AuthorTarget(author).String(), ratelimit.IPTarget(ip).String()}
		u := a.Unmap()
		widest := ratelimit.MinRangeBitsIPv6
		if u.Is4() {
			widest = ratelimit.MinRangeBitsIPv4
		}
		for bits := u.BitLen() - 1; bits >= widest; bits-- {
			want = append(want, ratelimit.RangeTarget(netip.PrefixFrom(u, bits).Masked()).String())
		}
		got := banFields(ratelimit.BanLookup{AuthorKey: author, IPKey: ip, IP: a})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("banFields(%s) (-want +got):\n%s", addr, diff)
		}
	}
	if got := banFields(ratelimit.BanLookup{AuthorKey: author}); !cmp.Equal(got, []string{"author:" + author}) {
		t.Errorf("banFields(author only) = %v, want only the author", got)
	}
}

// TestListBansSkipsExpiredBansThePurgeLeft lists bans while more bans have expired than one call
// purges (1,000): the expired ones left over must not take the places of bans in force, nor end
// the listing early.
func TestListBansSkipsExpiredBansThePurgeLeft(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 3 {
		b := ratelimit.Ban{Target: rangeTarget(fmt.Sprintf("10.%d.0.0/16", i)), Moderator: "mod", Reason: "in force", CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)}
		if _, _, err := s.PutBan(ctx, b, ratelimit.BanCall{}); err != nil {
			t.Fatalf("PutBan(%v) = %v", b.Target, err)
		}
		want = append([]string{b.Target.String()}, want...)
	}
	// Newer bans, all expired by the time of the listing: the purge of one call removes the
	// 1,000 that expired first and leaves the last 5, the newest, at the head of the list.
	created := t0.Add(time.Second)
	for i := range 1005 {
		b := ratelimit.Ban{
			Target:    rangeTarget(fmt.Sprintf("11.%d.%d.0/24", i/256, i%256)),
			Moderator: "mod", Reason: "expired",
			CreatedAt: created.Add(time.Duration(i) * time.Millisecond),
			ExpiresAt: created.Add(time.Minute + time.Duration(i)*time.Millisecond),
		}
		if _, _, err := s.PutBan(ctx, b, ratelimit.BanCall{}); err != nil {
			t.Fatalf("PutBan(%v) = %v", b.Target, err)
		}
	}
	now := created.Add(time.Hour)
	var got []string
	tok := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatalf("ListBans did not end after %d pages", page)
		}
		list, next, err := s.ListBans(ctx, now, comment.Page{Size: 2, Token: tok})
		if err != nil {
			t.Fatalf("ListBans(page %d) = %v", page, err)
		}
		for _, b := range list {
			got = append(got, b.Target.String())
		}
		if next == "" {
			break
		}
		tok = next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListBans by pages of 2, with 5 expired bans left unpurged (-want +got):\n%s", diff)
	}
}

// TestUnbanOfAnExpiredBanThePurgeLeft lifts a ban that has expired while more bans expired than
// one call purges (1,000): a ban no longer in force is not found, whether or not the purge
// reached it.
func TestUnbanOfAnExpiredBanThePurgeLeft(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var last ratelimit.Target
	for i := range 1005 {
		b := ratelimit.Ban{
			Target:    rangeTarget(fmt.Sprintf("11.%d.%d.0/24", i/256, i%256)),
			Moderator: "mod", Reason: "expired",
			CreatedAt: created.Add(time.Duration(i) * time.Millisecond),
			ExpiresAt: created.Add(time.Minute + time.Duration(i)*time.Millisecond),
		}
		if _, _, err := s.PutBan(ctx, b, ratelimit.BanCall{}); err != nil {
			t.Fatalf("PutBan(%v) = %v", b.Target, err)
		}
		last = b.Target
	}
	now := created.Add(time.Hour)
	if err := s.DeleteBan(ctx, last, now, "ann"); !errors.Is(err, ratelimit.ErrBanNotFound) {
		t.Errorf("DeleteBan(%v, an hour after it expired, 1,004 other bans expired too) = %v, want ratelimit.ErrBanNotFound", last, err)
	}
	if n, err := s.rdb.HExists(ctx, s.keys.banRecords(), last.String()).Result(); err != nil || n {
		t.Errorf("HEXISTS of the expired ban's record after DeleteBan = %v, %v; want it gone", n, err)
	}
}

// TestBanReplaceReportsTheBanInForce: banning a target again replaces its ban and returns the one
// in force before, so a moderator who shortened a longer ban learns it and an undo can restore it.
// An expired ban, or none, is not reported; nor is the call's own record when it is resent.
func TestBanReplaceReportsTheBanInForce(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{})
	target := rangeTarget("198.18.0.0/16")

	forever, replaced, err := bans.Replace(ctx, ratelimit.BanRequest{Target: target, Reason: "for good", Moderator: "anna"})
	if err != nil || replaced != nil {
		t.Fatalf("first ban: replaced %v, %v; want nothing replaced", replaced, err)
	}
	_, replaced, err = bans.Replace(ctx, ratelimit.BanRequest{Target: target, Duration: time.Hour, Reason: "a day off", Moderator: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&forever, replaced, equateNetip); diff != "" {
		t.Errorf("ban over a ban in force: replaced differs (-want +got):\n%s", diff)
	}

	// A resend of the same record (as go-redis sends a write whose reply it lost) replaces nothing.
	again := ratelimit.Ban{Target: rangeTarget("198.19.0.0/16"), Reason: "r", Moderator: "m", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	for i := range 2 {
		if _, got, err := s.PutBan(ctx, again, ratelimit.BanCall{}); err != nil || got != nil {
			t.Errorf("PutBan of one record, call %d: replaced %v, %v; want nothing", i+1, got, err)
		}
	}

	// A ban that has expired is not in force: nothing replaced.
	short := rangeTarget("198.20.0.0/16")
	mustBan(t, bans, ratelimit.BanRequest{Target: short, Duration: time.Millisecond, Reason: "short", Moderator: "m"})
	time.Sleep(5 * time.Millisecond)
	if _, replaced, err := bans.Replace(ctx, ratelimit.BanRequest{Target: short, Reason: "again", Moderator: "m"}); err != nil || replaced != nil {
		t.Errorf("ban after an expired one: replaced %v, %v; want nothing", replaced, err)
	}
}

// TestBanRequestID: a ban request sent again with its request id (a moderator's retry after a
// lost reply) gets the ban the first one stored, with its times and the ban it replaced, and
// stores and records nothing; the id with another request is refused and stores nothing; a
// request without an id bans again, as before.
func TestBanRequestID(t *testing.T) {
	t.Parallel()
	ts := newTestStore(t)
	ctx := context.Background()
	// The calls are a second apart, three seconds in all: the clock starts that far back, so it
	// never runs ahead of the days wantAudited reads, from since's to today's.
	since := time.Now().UTC().Add(-3 * time.Second).Truncate(time.Millisecond)
	now := since
	bans := ratelimit.NewBans(ts.Store, ratelimit.BansOptions{Now: func() time.Time { return now }})
	target := rangeTarget("198.51.100.0/24")
	earlier := mustBan(t, bans, ratelimit.BanRequest{Target: target, Reason: "earlier", Moderator: "ann"})

	req := ratelimit.BanRequest{Target: target, Duration: time.Hour, Reason: "flood", Moderator: "ann", RequestID: "ban-7f3a"}
	now = now.Add(time.Second)
	first, replaced, err := bans.Replace(ctx, req)
	if err != nil {
		t.Fatalf("Replace(%+v) = %v", req, err)
	}
	if diff := cmp.Diff(&earlier, replaced, equateNetip); diff != "" {
		t.Errorf("Replace(%+v): replaced differs (-want +got):\n%s", req, diff)
	}

	now = now.Add(time.Second)
	again, replacedAgain, err := bans.Replace(ctx, req)
	if err != nil {
		t.Fatalf("Replace(%+v) resent = %v", req, err)
	}
	if diff := cmp.Diff(first, again, equateNetip); diff != "" {
		t.Errorf("Replace(%+v) resent: ban differs from the first call's (-want +got):\n%s", req, diff)
	}
	if diff := cmp.Diff(&earlier, replacedAgain, equateNetip); diff != "" {
		t.Errorf("Replace(%+v) resent: replaced differs from the first call's (-want +got):\n%s", req, diff)
	}
	wantAudited(t, ts.Store, since, "after a ban resent with its request id", target.Name(), "ann", 2, "ban by ann: flood", "ban by ann: earlier")

	for _, tt := range []struct {
		name   string
		change func(*ratelimit.BanRequest)
	}{
		{"another target", func(r *ratelimit.BanRequest) { r.Target = rangeTarget("198.51.101.0/24") }},
		{"another duration", func(r *ratelimit.BanRequest) { r.Duration = 2 * time.Hour }},
		{"for good", func(r *ratelimit.BanRequest) { r.Duration = 0 }},
		{"another reason", func(r *ratelimit.BanRequest) { r.Reason = "flood again" }},
		{"another moderator", func(r *ratelimit.BanRequest) { r.Moderator = "ben" }},
	} {
		other := req
		tt.change(&other)
		if _, _, err := bans.Replace(ctx, other); !errors.Is(err, ratelimit.ErrBanRequestReused) {
			t.Errorf("%s: Replace(%+v) with the request id of another ban = %v; want ratelimit.ErrBanRequestReused", tt.name, other, err)
		}
	}
	list, _, err := bans.List(ctx, comment.Page{})
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	if diff := cmp.Diff([]ratelimit.Ban{first}, list, equateNetip); diff != "" {
		t.Errorf("List after the resend and the reuses differs (-want +got):\n%s", diff)
	}
	wantAudited(t, ts.Store, since, "after the request id was reused", target.Name(), "ann", 2, "ban by ann: flood", "ban by ann: earlier")

	// Without a request id, the same request bans again.
	plain := req
	plain.RequestID = ""
	now = now.Add(time.Second)
	second, replaced, err := bans.Replace(ctx, plain)
	if err != nil {
		t.Fatalf("Replace(%+v) = %v", plain, err)
	}
	if !second.CreatedAt.Equal(now) || replaced == nil || !replaced.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("Replace(%+v) without request id = %v, replaced %v; want a ban made at %v replacing the one made at %v", plain, second, replaced, now, first.CreatedAt)
	}
	wantAudited(t, ts.Store, since, "after the same ban without request id", target.Name(), "ann", 3, "ban by ann: flood", "ban by ann: flood", "ban by ann: earlier")
}

// TestBanRequestIDBadID: a request id that is not one is refused before anything is stored.
func TestBanRequestIDBadID(t *testing.T) {
	t.Parallel()
	bans := ratelimit.NewBans(sharedAbuseStore(t), ratelimit.BansOptions{})
	for _, id := range []string{"with space", "jane@example.com", strings.Repeat("x", 65)} {
		_, err := bans.Ban(context.Background(), ratelimit.BanRequest{Target: rangeTarget("198.51.102.0/24"), Reason: "r", Moderator: "m", RequestID: id})
		var verr *comment.ValidationError
		if !errors.As(err, &verr) || verr.Violations[0].Field != "request_id" {
			t.Errorf("Ban with request id %q = %v; want a validation error on request_id", id, err)
		}
	}
}

// TestListBansRejectsBadPageTokens: a page token cut short on its way, or spelt otherwise than a
// server spells it, is refused rather than read as another position. The previous release's
// tokens, "b1.<created ms>.<target id>", are still read.
func TestListBansRejectsBadPageTokens(t *testing.T) {
	t.Parallel()
	s := sharedAbuseStore(t)
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	bans := ratelimit.NewBans(s, ratelimit.BansOptions{Now: func() time.Time { return now }})
	// Bans of every kind made in the same millisecond, listed by target id, descending.
	targets := []ratelimit.Target{
		rangeTarget("2001:db8:abcd::/48"),
		rangeTarget("10.3.0.0/16"),
		ratelimit.IPTarget(strings.Repeat("b", 40)),
		ratelimit.AuthorTarget(strings.Repeat("a", 40)),
	}
	for _, tg := range targets {
		mustBan(t, bans, ratelimit.BanRequest{Target: tg, Moderator: "mod"})
	}
	names := func(bs []ratelimit.Ban) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Target.String())
		}
		return out
	}
	var want []string
	for _, tg := range targets {
		want = append(want, tg.String())
	}
	if got, _, err := s.ListBans(ctx, now, comment.Page{Size: 50}); err != nil || !cmp.Equal(names(got), want) {
		t.Fatalf("ListBans() = %v, %v; want %v", names(got), err, want)
	}

	for size := 1; size < len(targets); size++ {
		_, tok, err := s.ListBans(ctx, now, comment.Page{Size: size})
		if err != nil || tok == "" {
			t.Fatalf("ListBans(size %d) = next %q, %v; want a token", size, tok, err)
		}
		for n := len(tok) - 1; n > 0; n-- {
			if got, _, err := s.ListBans(ctx, now, comment.Page{Size: 50, Token: tok[:n]}); !errors.Is(err, comment.ErrInvalidPageToken) {
				t.Errorf("ListBans(token of the page of %d cut to %d characters, %q) = %v, %v; want ErrInvalidPageToken", size, n, tok[:n], names(got), err)
				break
			}
		}
	}

	// Tokens spelt by hand, as the previous release spelt them, at the ban of 10.3.0.0/16.
	b64 := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	b1 := b64("b1." + ms + ".range:10.3.0.0/16")
	if got, _, err := s.ListBans(ctx, now, comment.Page{Size: 50, Token: b1}); err != nil || !cmp.Equal(names(got), want[2:]) {
		t.Errorf("ListBans(the previous release's token at range:10.3.0.0/16, %q) = %v, %v; want %v", b1, names(got), err, want[2:])
	}
	for _, tt := range []struct{ name, tok string }{
		{"time with a plus sign", b64("b1.+" + ms + ".range:10.3.0.0/16")},
		{"time with a leading zero", b64("b1.0" + ms + ".range:10.3.0.0/16")},
		{"time -0", b64("b1.-0.range:10.3.0.0/16")},
		{"target after a space", b64("b1." + ms + ". range:10.3.0.0/16")},
		{"target before a line break", b64("b1." + ms + ".range:10.3.0.0/16\n")},
		{"bare range", b64("b1." + ms + ".10.3.0.0/16")},
		{"range not masked", b64("b1." + ms + ".range:10.3.0.1/16")},
		{"author hash in capitals", b64("b1." + ms + ".author:" + strings.Repeat("A", 40))},
		{"line break inside", b1[:8] + "\n" + b1[8:]},
		{"unknown version", b64("b9." + ms + ".range:10.3.0.0/16")},
	} {
		if got, _, err := s.ListBans(ctx, now, comment.Page{Size: 50, Token: tt.tok}); !errors.Is(err, comment.ErrInvalidPageToken) {
			t.Errorf("ListBans(token %s, %q) = %v, %v; want ErrInvalidPageToken", tt.name, tt.tok, names(got), err)
		}
	}
}
