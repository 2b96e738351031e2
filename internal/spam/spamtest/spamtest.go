// Package spamtest holds in-memory implementations of the interfaces package spam consumes, for
// unit tests and for the offline evaluation. They are fakes of our own interfaces, not of Redis:
// the Redis-backed implementations are tested against a real redis-server.
package spamtest

import (
	"context"
	"sync"
	"time"

	"github.com/commentd/commentd/internal/spam"
)

// Counts is an in-memory spam.Counts. It is safe for concurrent use. The zero value is not usable;
// call NewCounts.
type Counts struct {
	mu     sync.Mutex
	tokens map[string][2]int64 // [0] spam, [1] ham
	totals spam.Totals
}

// NewCounts returns empty counts.
func NewCounts() *Counts {
	return &Counts{tokens: make(map[string][2]int64)}
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
