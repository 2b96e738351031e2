package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrHashKeyChanged means the data under the store's prefix was written by servers with another
// hash key than the one checked (see CheckHashKey).
var ErrHashKeyChanged = errors.New("redisstore: the stored data was written with another hash key")

// CheckHashKey compares check, privacy.Keyring.HashKeyCheck of the server's hash key, with the
// one recorded under the store's prefix, and records it when there is none (a new store, or one
// written by a release that kept none). It returns ErrHashKeyChanged, which names the key to
// delete to start over with the new hash key regardless, when they differ.
//
// Every lookup hash is made with the hash key: a server given another one finds none of the
// authors, addresses or texts stored under the old hashes, so bans, word-list entries and
// authors' records stop applying, and erasure and access requests miss every comment stored
// before, all without an error. Refusing to start turns a mistyped or regenerated secret into
// a message, before anything is stored under the new hashes.
func (s *Store) CheckHashKey(ctx context.Context, check string) error {
	key := s.keys.hashKeyCheck()
	var got *redis.StringCmd
	// One round trip; the key never changes once set, so the GET reads what SETNX found or wrote.
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, key, check, 0)
		got = p.Get(ctx, key)
		return nil
	})
	if err != nil {
		return storeError("check hash key", err)
	}
	if got.Val() != check {
		return fmt.Errorf("%w (recorded in the Redis key %s)", ErrHashKeyChanged, key)
	}
	return nil
}
