package redisstore

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/commentd/commentd/internal/ratelimit"
)

// Duplicate control rides in the author's rate-limit script call (ratelimit_take.lua), as the
// marker is in the author's hash slot: the marker is set only when the author's rules pass, and the
// rules count nothing when the marker says "duplicate". Only a keyed hash of the normalised text is
// in the key; the body itself never reaches Redis here.

// duplicateTakeArgs returns the marker key and the script arguments that follow the rules'.
func (s *Store) duplicateTakeArgs(d *ratelimit.DuplicateCheck, checkID string) (key string, args []any) {
	window := d.Window.Milliseconds()
	if window < 1 {
		window = 1
	}
	marker := duplicateMarker(d, checkID)
	replay := ""
	if d.RequestID != "" {
		// The marker starts with the replay prefix: cut it there rather than hash the id again.
		replay = marker[:len(marker)-len(checkID)]
	}
	return s.keys.duplicate(d.AuthorKey, d.TextKey), []any{window, marker, replay}
}

// duplicateMarker is the value our marker holds: the check id, and a hash of the request id (so a
// later check with the same request id is recognised as a retry, and the id itself is not stored).
// With a request id it is "r:<hash>:" (the replay prefix, which starts the marker of every check
// with this request id) and the check id. The prefix has a fixed length and no ':' inside the
// hash, so one request id can never be a prefix of another's.
func duplicateMarker(d *ratelimit.DuplicateCheck, checkID string) string {
	if d.RequestID == "" {
		return "n:" + checkID
	}
	h := duplicateReplayHash(d.RequestID)
	return "r:" + string(h[:]) + ":" + checkID
}

// duplicateReplayHash is the hash in the replay prefix: 32 hex digits of the id's SHA-256.
func duplicateReplayHash(requestID string) [32]byte {
	sum := sha256.Sum256([]byte(requestID))
	var h [32]byte
	hex.Encode(h[:], sum[:16])
	return h
}
