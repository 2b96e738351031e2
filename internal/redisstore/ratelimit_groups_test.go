package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commentd/commentd/internal/ratelimit"
)

// rateGroupsByMap is rateGroups as first written (a map from value to group, and a group and a
// list of takes grown one by one), the reference for the grouping rateGroups must keep.
func rateGroupsByMap(takes []ratelimit.Take, dup *ratelimit.DuplicateCheck, request *ratelimit.RequestCheck, history string) []*rateGroup {
	var groups []*rateGroup
	index := map[[2]string]*rateGroup{}
	group := func(kind, value string) *rateGroup {
		id := [2]string{kind, value}
		g := index[id]
		if g == nil {
			g = &rateGroup{kind: kind, value: value}
			index[id] = g
			groups = append(groups, g)
		}
		return g
	}
	for _, t := range takes {
		g := group(t.Rule.Key.String(), t.Subject)
		g.takes = append(g.takes, t)
	}
	if dup != nil {
		group(ratelimit.KeyAuthor.String(), dup.AuthorKey).dup = dup
	}
	if request != nil {
		group(ratelimit.KeyThread.String(), request.ThreadID).request = request
	}
	if history != "" {
		group(ratelimit.KeyAuthor.String(), history).history = true
	}
	return groups
}

func TestRateGroups(t *testing.T) {
	rule := func(name string, k ratelimit.KeyKind) ratelimit.Rule {
		return ratelimit.Rule{Name: name, Key: k, Count: 1, Period: time.Minute, Burst: 1}
	}
	ip1, ip2 := rule("ip-1", ratelimit.KeyIP), rule("ip-2", ratelimit.KeyIP)
	au1, au2 := rule("author-1", ratelimit.KeyAuthor), rule("author-2", ratelimit.KeyAuthor)
	th := rule("thread", ratelimit.KeyThread)
	site := rule("site", ratelimit.KeySite)
	defaults := []ratelimit.Take{{Rule: au1, Subject: "a"}, {Rule: ip1, Subject: "10.0.0.1"}, {Rule: au2, Subject: "a"},
		{Rule: ip2, Subject: "10.0.0.1"}, {Rule: th, Subject: "t1"}}
	dup := &ratelimit.DuplicateCheck{AuthorKey: "a", TextKey: "x", Window: time.Minute}
	otherDup := &ratelimit.DuplicateCheck{AuthorKey: "b", TextKey: "x", Window: time.Minute}
	req := &ratelimit.RequestCheck{ThreadID: "t1", RequestID: "r1", Key: "k"}
	otherReq := &ratelimit.RequestCheck{ThreadID: "t2", RequestID: "r1", Key: "k"}
	var many []ratelimit.Take
	for i := range 40 {
		many = append(many, ratelimit.Take{Rule: rule(fmt.Sprintf("r%d", i), ratelimit.KeyKind(i%4)), Subject: fmt.Sprintf("v%d", i%7)})
	}
	for _, c := range []struct {
		name    string
		takes   []ratelimit.Take
		dup     *ratelimit.DuplicateCheck
		request *ratelimit.RequestCheck
		history string
	}{
		{name: "nothing"},
		{name: "default rules, every check", takes: defaults, dup: dup, request: req, history: "a"},
		{name: "default rules, checks on values without rules", takes: defaults, dup: otherDup, request: otherReq, history: "c"},
		{name: "checks only", dup: dup, request: req, history: "a"},
		{name: "site rule", takes: []ratelimit.Take{{Rule: site}, {Rule: th, Subject: "t1"}, {Rule: site}}},
		{name: "one value, kinds apart", takes: []ratelimit.Take{{Rule: au1, Subject: "v"}, {Rule: ip1, Subject: "v"}, {Rule: th, Subject: "v"}, {Rule: au2, Subject: "v"}}},
		{name: "many rules and values", takes: many, dup: dup, history: "v3"},
	} {
		got := rateGroups(c.takes, c.dup, c.request, c.history)
		want := rateGroupsByMap(c.takes, c.dup, c.request, c.history)
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(rateGroup{}), cmp.FilterPath(func(p cmp.Path) bool {
			return p.Last().String() == ".n" // rateGroups' own count
		}, cmp.Ignore())); diff != "" {
			t.Errorf("%s: rateGroups differs from the map-based grouping (-want +got):\n%s", c.name, diff)
		}
	}
}
