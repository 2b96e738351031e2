package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Readers' reports (moderation.Reports) live beside the comment's record, in its shard: counters,
// the set of reporters (keyed hashes only) and the newest reports. reports.lua counts a report
// and, at the threshold, takes the comment down in the same atomic step.

//go:embed reports.lua
var reportSrc string

// reportScript is immutable, like the ban scripts; it runs alone, so Script.Run falls back to
// EVAL by itself after a Redis restart.
var reportScript = redis.NewScript(reportSrc)

var _ moderation.Reports = (*Store)(nil)

// AddReport implements moderation.Reports in one script call. reporter must not be empty:
// moderation.Service.Report always names the reader by a keyed hash, and the set of reporters is
// what tells a resent call from a new report.
func (s *Store) AddReport(ctx context.Context, id string, r moderation.Report, reporter string, threshold int) (comment.Comment, int, error) {
	shard, ok := shardOfID(id)
	if !ok || !comment.ValidID(id) {
		return comment.Comment{}, 0, fmt.Errorf("redisstore: report comment %q: %w", id, comment.ErrNotFound)
	}
	if threshold < 1 {
		return comment.Comment{}, 0, fmt.Errorf("redisstore: report comment %s: threshold %d: want at least 1", id, threshold)
	}
	if reporter == "" {
		return comment.Comment{}, 0, fmt.Errorf("redisstore: report comment %s: no reporter", id)
	}
	k := s.keys
	scriptKeys := []string{
		k.record(shard, id), k.reportCounts(shard, id), k.reporters(shard, id), k.reportList(shard, id),
		k.shardQueue(shard, comment.StatePending), k.audit(shard),
	}
	// The hold field is a JSON list of pairs; the script appends this one pair to it.
	pair := strings.TrimSuffix(strings.TrimPrefix(encodeHold([]comment.Reason{{Code: moderation.ReasonReported, Message: moderation.ReportedMessage}}), "["), "]")
	args := []any{
		reporter, strconv.FormatInt(micros(r.At), 10) + " " + r.Reason, threshold, moderation.MaxReportsShown,
		k.publishedBase(shard), k.threadQueueBase(shard, comment.StatePending), pair,
		moderation.SystemModerator, string(moderation.AuditReportTakedown),
		fmt.Sprintf("readers' reports reached the threshold of %d", threshold), k.events(), micros(r.At),
	}
	reply, err := reportScript.Run(ctx, s.rdb, scriptKeys, args...).Slice()
	if err != nil {
		return comment.Comment{}, 0, storeError("report comment "+id, err)
	}
	status, rest, err := splitReply(reply)
	if err != nil {
		return comment.Comment{}, 0, fmt.Errorf("redisstore: report comment %s: %w", id, err)
	}
	switch status {
	case "missing":
		return comment.Comment{}, 0, fmt.Errorf("redisstore: report comment %s: %w", id, comment.ErrNotFound)
	case "dup", "ok", "down":
		if len(rest) == 2 {
			n, ok := rest[0].(int64)
			c, err := decodeReplyRecord(rest[1])
			if ok && err == nil {
				return c, int(n), nil
			}
		}
	}
	return comment.Comment{}, 0, fmt.Errorf("redisstore: report comment %s: %w: reply %q", id, errCorrupt, status)
}

// ReportSummaries implements moderation.Reports: two commands per comment, all in one pipeline.
func (s *Store) ReportSummaries(ctx context.Context, ids []string) ([]moderation.ReportSummary, error) {
	out := make([]moderation.ReportSummary, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	counts := make([]*redis.StringCmd, len(ids))
	lists := make([]*redis.StringSliceCmd, len(ids))
	// Pipelined's own error is the first command's error, which may be HGET's nil reply for a
	// comment never reported; each command is checked below instead.
	_, _ = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, id := range ids {
			shard, ok := shardOfID(id)
			if !ok {
				continue
			}
			counts[i] = pl.HGet(ctx, s.keys.reportCounts(shard, id), "n")
			lists[i] = pl.LRange(ctx, s.keys.reportList(shard, id), 0, moderation.MaxReportsShown-1)
		}
		return nil
	})
	for i := range ids {
		if counts[i] == nil {
			continue
		}
		for _, err := range []error{counts[i].Err(), lists[i].Err()} {
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, storeError("read reports", err)
			}
		}
		if v, err := counts[i].Int(); err == nil {
			out[i].Count = v
		}
		for _, item := range lists[i].Val() {
			us, reason, _ := strings.Cut(item, " ")
			at, err := fromMicros(us)
			if err != nil {
				return nil, fmt.Errorf("redisstore: read reports of %s: %w", ids[i], err)
			}
			out[i].Recent = append(out[i].Recent, moderation.Report{Reason: reason, At: at})
		}
	}
	return out, nil
}
