// Package spamtest holds in-memory implementations of the interfaces package spam consumes, for
// unit tests and for the offline evaluation. They are fakes of our own interfaces, not of Redis:
// the Redis-backed implementations are tested against a real redis-server.
package spamtest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/commentd/commentd/internal/spam"
)

// Counts is an in-memory spam.Counts, and a spam.ForestSource: it keeps the examples it was
// trained with as the Redis store does (the same tokens in the same class are one example counted
// several times; an undo takes it back) and fits their forest when asked, once refitAfter changes
// have come since the last fit. Unlike the store it keeps every example. It is safe for
// concurrent use. The zero value is not usable; call NewCounts.
type Counts struct {
	mu       sync.Mutex
	tokens   map[string][2]int64 // [0] spam, [1] ham
	totals   spam.Totals
	examples map[string]int64 // class ("s" or "h") and sorted forest tokens, space-separated → count
	changes  int64            // training calls so far
	fitted   int64            // changes when forest was fitted; -1: never
	forest   *spam.Forest
}

// NewCounts returns empty counts.
func NewCounts() *Counts {
	return &Counts{tokens: make(map[string][2]int64), examples: make(map[string]int64), fitted: -1}
}

// refitAfter is how many changes Counts lets pass before it fits its forest again. A server
// fits the site model's forest at most every 30 seconds, so a decision reaches the forest some
// decisions later; an evaluation that feeds decisions one by one (the learning curve) sees the
// same lag, and fits a tenth as often as it would after every change.
const refitAfter = 10

// Forest implements spam.ForestSource: the forest of the examples trained so far, fitted again
// when refitAfter changes have come since the last fit (or none was fitted yet).
func (c *Counts) Forest(context.Context) (*spam.Forest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fitted >= 0 && c.changes-c.fitted < refitAfter {
		return c.forest, nil
	}
	xs := make([]spam.ForestExample, 0, len(c.examples))
	for key, n := range c.examples {
		class, toks, _ := strings.Cut(key, " ")
		xs = append(xs, spam.ForestExample{Tokens: strings.Fields(toks), Spam: class == "s", Count: n})
	}
	c.forest, c.fitted = spam.FitForest(xs), c.changes
	return c.forest, nil
}

// example adds delta to the count of the example of tokens in the class.
func (c *Counts) example(tokens []string, isSpam bool, delta int64) {
	toks := spam.ForestTokens(tokens)
	slices.Sort(toks)
	class := "h"
	if isSpam {
		class = "s"
	}
	key := class + " " + strings.Join(toks, " ")
	n := c.examples[key]
	switch {
	case n == 0 && delta <= 0:
		// never trained: nothing to take back
	case n+delta <= 0:
		delete(c.examples, key)
	default:
		c.examples[key] = n + delta
	}
}

// TokenCounts implements spam.Counts.
func (c *Counts) TokenCounts(_ context.Context, tokens []string, spamCounts, hamCounts []int64) (spam.Totals, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range tokens {
		n := c.tokens[t]
		spamCounts[i], hamCounts[i] = n[0], n[1]
	}
	return c.totals, nil
}

// Train implements spam.Counts.
func (c *Counts) Train(_ context.Context, tokens []string, isSpam bool, delta int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	class := 1
	total, tokTotal := &c.totals.Ham, &c.totals.HamTokens
	if isSpam {
		class = 0
		total, tokTotal = &c.totals.Spam, &c.totals.SpamTokens
	}
	*total = max(*total+delta, 0)
	c.example(tokens, isSpam, delta)
	c.changes++
	for _, t := range tokens {
		n := c.tokens[t]
		before := n[class]
		n[class] = max(n[class]+delta, 0)
		*tokTotal += n[class] - before
		switch {
		case n == [2]int64{}:
			delete(c.tokens, t)
			if before > 0 {
				c.totals.Vocabulary--
			}
		case before == 0 && n[1-class] == 0:
			c.totals.Vocabulary++
			c.tokens[t] = n
		default:
			c.tokens[t] = n
		}
	}
	return nil
}

// Campaigns is an in-memory spam.Campaigns: it keeps every sighting and answers by scanning them.
// It is safe for concurrent use.
type Campaigns struct {
	mu   sync.Mutex
	seen []spam.Sighting
}

// Observe implements spam.Campaigns.
func (c *Campaigns) Observe(_ context.Context, s spam.Sighting, window time.Duration, _ int) ([]spam.Sighting, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []spam.Sighting
	from := s.At.Add(-window)
	for _, x := range c.seen {
		if x.At.Before(from) {
			continue
		}
		for i := range spam.Bands {
			if x.Fingerprint.Band(i) == s.Fingerprint.Band(i) {
				out = append(out, x)
				break
			}
		}
	}
	c.seen = append(c.seen, s)
	return out, nil
}

// Tokens returns every token with a non-zero count, in no particular order: tests use it to check
// what would be stored.
func (c *Counts) Tokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.tokens))
	for t := range c.tokens {
		out = append(out, t)
	}
	return out
}
