package redisstore

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/spam"
)

// Authors' records: how many of an author's comments moderators approved, rejected and marked
// spam. The abuse check reads the record in its round trip (ratelimit_take.lua); moderators'
// decisions move it here, through spam.Learner.

var (
	//go:embed history_record.lua
	historyRecordSrc    string
	historyRecordScript = redis.NewScript(historyRecordSrc)
)

// Record field names, as the abuse check reads them.
const (
	histApproved = "approved"
	histRejected = "rejected"
	histSpam     = "spam"
)

// recordOutcome sets the outcome comment id counts as in its author's record: one script on the
// author's slot, idempotent per comment.
func (s *Store) recordOutcome(ctx context.Context, authorKey, id string, o spam.Outcome) error {
	field := ""
	switch o {
	case spam.OutcomeApproved:
		field = histApproved
	case spam.OutcomeRejected:
		field = histRejected
	case spam.OutcomeSpam:
		field = histSpam
	}
	keys := []string{s.keys.authorHistory(authorKey), s.keys.authorOutcomes(authorKey), s.keys.authorErased(authorKey)}
	if err := historyRecordScript.Run(ctx, s.rdb, keys, id, field).Err(); err != nil {
		return storeError("record author's outcome", err)
	}
	return nil
}

// AuthorHistories returns the records of the authors, in order (zero for an author nobody decided
// about): one HMGET per author in one pipeline (on a Cluster, one round trip per node, in parallel).
// It implements moderation.Histories and spam.Histories.
func (s *Store) AuthorHistories(ctx context.Context, authorKeys []string) ([]comment.AuthorHistory, error) {
	out := make([]comment.AuthorHistory, len(authorKeys))
	cmds := make([]*redis.SliceCmd, len(authorKeys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range authorKeys {
			if k != "" {
				cmds[i] = p.HMGet(ctx, s.keys.authorHistory(k), histApproved, histRejected, histSpam)
			}
		}
		return nil
	})
	if err != nil {
		return nil, storeError("read author records", err)
	}
	for i, c := range cmds {
		if c == nil {
			continue
		}
		n, err := parseInts(c.Val())
		if err != nil {
			return nil, fmt.Errorf("redisstore: read author record: %w", err)
		}
		out[i] = comment.AuthorHistory{Approved: max(n[0], 0), Rejected: max(n[1], 0), Spam: max(n[2], 0)}
	}
	return out, nil
}
