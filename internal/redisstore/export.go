package redisstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Access requests (moderation.Exporter): the erasure's walk (scanRecords, then authorRecords per
// SCAN slice) with the author's records read whole instead of anonymised. Reads only: SCAN, HGET
// and HGETALL, so an export never changes the store.

var _ moderation.Exporter = (*Store)(nil)

// AuthorComments implements moderation.Exporter, in one walk whatever the number of author keys.
func (s *Store) AuthorComments(ctx context.Context, authorKeys []string, opts comment.ScanOptions, fn func(context.Context, []comment.Comment) error) error {
	if err := checkAuthorKeys(authorKeys); err != nil {
		return fmt.Errorf("redisstore: export author: %w", err)
	}
	return s.scanRecords(ctx, opts, func(ctx context.Context, keys []string) error {
		mine, _, err := s.authorRecords(ctx, opts.CallTimeout, keys, authorKeys)
		if err != nil || len(mine) == 0 {
			return err
		}
		cs, err := s.records(ctx, opts.CallTimeout, mine)
		if err != nil {
			return err
		}
		// A record anonymised between the two reads is no longer the author's.
		out := cs[:0]
		for _, c := range cs {
			if slices.Contains(authorKeys, c.AuthorKey) {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return fn(ctx, out)
	})
}
