package redisstore

import (
	"context"
	"fmt"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/moderation"
)

// Access requests (moderation.Exporter): the erasure's walk (scanRecords, then authorRecords per
// SCAN slice) with the author's records read whole instead of anonymised. Reads only: SCAN, HGET
// and HGETALL, so an export never changes the store.

var _ moderation.Exporter = (*Store)(nil)

// AuthorComments implements moderation.Exporter.
func (s *Store) AuthorComments(ctx context.Context, authorKey string, opts comment.ScanOptions, fn func(context.Context, []comment.Comment) error) error {
	if authorKey == "" {
		// Anonymised records have no author key: "" would match nothing, but it is a caller's bug.
		return fmt.Errorf("redisstore: export author: empty author key")
	}
	return s.scanRecords(ctx, opts, func(ctx context.Context, keys []string) error {
		mine, err := s.authorRecords(ctx, opts.CallTimeout, keys, authorKey)
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
			if c.AuthorKey == authorKey {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return fn(ctx, out)
	})
}
