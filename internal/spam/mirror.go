package spam

import (
	"context"
	"sync"
)

// Mirror is an in-memory copy of one model's counts, kept in step with the store that holds the
// truth by applying the store's change events in order. Scoring reads it without a network round
// trip: the submission path has a budget of two round trips (the abuse check and the comment
// write) and the classifier must not add a third. Safe for concurrent use.
//
// Every change event carries the counts of the tokens it touched as they are after the change
// (not the deltas), and the totals after it. Applying events is therefore idempotent, and a
// snapshot read while changes were being made is corrected by replaying every event from before
// the snapshot began: each touched token ends with the value of the last event that touched it.
type Mirror struct {
	mu     sync.RWMutex
	tokens map[string][2]int64 // [0] spam, [1] ham; tokens at (0, 0) are absent
	totals Totals
	seq    int64
}

// TokenCount is one token's counts.
type TokenCount struct {
	Token     string
	Spam, Ham int64
}

// Change is one change event of a model: its sequence number (one more than the change before),
// the counts after it of every token it touched, and the totals after it.
type Change struct {
	Seq    int64
	Tokens []TokenCount
	Totals Totals
}

// NewMirror returns an empty mirror at sequence number 0.
func NewMirror() *Mirror {
	return &Mirror{tokens: make(map[string][2]int64)}
}

// TokenCounts writes the counts of each token (0 for unknown ones) and returns the totals, as
// spam.Counts does. It never fails.
func (m *Mirror) TokenCounts(_ context.Context, tokens []string, spamCounts, hamCounts []int64) (Totals, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, t := range tokens {
		n := m.tokens[t]
		spamCounts[i], hamCounts[i] = n[0], n[1]
	}
	return m.totals, nil
}

// Apply applies c if it is the next change (c.Seq is one more than the last applied) and reports
// whether it did. Any other sequence number means changes were missed (the store trimmed its
// event log, or lost data and started again): the caller must Replace the whole mirror.
func (m *Mirror) Apply(c Change) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Seq != m.seq+1 {
		return false
	}
	m.write(c)
	m.seq = c.Seq
	return true
}

// Patch writes the counts c lists and its totals whatever its sequence number, and leaves the
// sequence number as it is. It is for the changes that arrive after a gap, while the caller waits to
// Replace the whole mirror: each lists the counts its tokens have in the store, so they score as
// they should meanwhile, and only the tokens of the missed changes keep old counts. Apply goes on
// refusing the changes after the gap, since the sequence number still says where it began.
func (m *Mirror) Patch(c Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.write(c)
}

// write applies c's counts and totals; m.mu is held.
func (m *Mirror) write(c Change) {
	for _, t := range c.Tokens {
		if t.Spam <= 0 && t.Ham <= 0 {
			delete(m.tokens, t.Token)
			continue
		}
		m.tokens[t.Token] = [2]int64{max(t.Spam, 0), max(t.Ham, 0)}
	}
	m.totals = c.Totals
}

// Replace swaps in a whole model, read as of change seq. The mirror takes ownership of tokens.
// Scoring goes on with the old counts until the swap, never with a half-built model.
func (m *Mirror) Replace(seq int64, tokens map[string][2]int64, totals Totals) {
	if tokens == nil {
		tokens = make(map[string][2]int64)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens, m.totals, m.seq = tokens, totals, seq
}

// Seq returns the sequence number of the last change applied.
func (m *Mirror) Seq() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.seq
}

// Totals returns the current totals.
func (m *Mirror) Totals() Totals {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.totals
}

// Len returns the number of tokens with a count above zero.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens)
}
