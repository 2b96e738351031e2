package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/ratelimit"
)

// The abuse check of a submission (ratelimit.Store) costs one round trip: one pipeline holding
// one rate-limit script call per counted value (ip, author, thread, site) and one HMGET of the
// bans. The author's call also reads the author's record (comment.AuthorHistory), which shares the
// author's slot, for the spam check that runs after the abuse check. The thread's call also
// checks and sets the marker of the submission's request id (in the thread's slot, the request
// id's scope), so that a resend or a reuse of the id is known before anything counts it, though
// the comment's own idempotency record is in another slot and only the write can read it.
//
// go-redis/redis_rate has a GCRA script too, but it checks one key per call and always counts a
// passing key. A submission must pass every rule and be counted by none when any refuses, so
// ratelimit_take.lua checks all the rules on one value and counts them only when all pass, in one
// atomic step. Rules on different values live in different Cluster hash slots (possibly on
// different nodes), where no script can be atomic, so the decision across values is completed by
// the Guard: it refunds (ratelimit_refund.lua) whatever was counted when anything refused. Between
// the two, a concurrent submission may be refused by a count that is then given back: the limits
// are briefly stricter, never looser. The refund only costs a second round trip on the refusal
// path, and on the path where the check failed without a reply (an unsure refund, which gives back
// only what the check's own marks show it counted): both rare and not latency-critical.

var (
	//go:embed ratelimit_take.lua
	rateTakeSrc string
	//go:embed ratelimit_refund.lua
	rateRefundSrc string
)

// The abuse-control scripts are package-level rather than Store fields: they are immutable (a
// source and its SHA1), and keep these files apart from the comment side of Store. Pipelined
// EVALSHA cannot fall back to EVAL, so rateEvalPipelined loads them on NOSCRIPT and resends.
var (
	rateTakeScript   = newShaScript(rateTakeSrc)
	rateRefundScript = newShaScript(rateRefundSrc)
)

var (
	_ ratelimit.Store    = (*Store)(nil)
	_ ratelimit.BanStore = (*Store)(nil)
)

// rateGroup is the takes, and the duplicate or request check, on one counted value: one slot, one
// script call. The script holds one marker per call: an author's group may have a duplicate check,
// a thread's a request check, never both.
type rateGroup struct {
	kind, value string
	takes       []ratelimit.Take
	n           int // len(takes) once rateGroups has filled them
	dup         *ratelimit.DuplicateCheck
	request     *ratelimit.RequestCheck
	history     bool // read the author's record (kind author only)
}

// rateGroups sorts takes, the duplicate and request checks and the history read by counted value,
// in order of first appearance. history is the author key whose record to read, "" for none; when
// that author has no rule or duplicate check of its own, its group holds only the read.
//
// It runs on every submission (three or four groups, five takes with the default rules), so the
// groups are found by a linear search and their takes share one array, each group's part cut to
// the size counted first: the list of groups and the takes are one allocation each, where the
// lists grown one take or group at a time cost about six.
func rateGroups(takes []ratelimit.Take, dup *ratelimit.DuplicateCheck, request *ratelimit.RequestCheck, history string) []*rateGroup {
	if len(takes) == 0 && dup == nil && request == nil && history == "" {
		return nil
	}
	// At most one group per take, plus the duplicate check's, the request check's and the read's.
	groups := make([]*rateGroup, 0, len(takes)+3)
	group := func(kind, value string) *rateGroup {
		for _, g := range groups {
			if g.kind == kind && g.value == value {
				return g
			}
		}
		g := &rateGroup{kind: kind, value: value}
		groups = append(groups, g)
		return g
	}
	for _, t := range takes {
		group(t.Rule.Key.String(), t.Subject).n++
	}
	if len(takes) > 0 {
		all := make([]ratelimit.Take, len(takes))
		for _, g := range groups {
			g.takes, all = all[:0:g.n], all[g.n:]
		}
		for _, t := range takes {
			g := group(t.Rule.Key.String(), t.Subject)
			g.takes = append(g.takes, t)
		}
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

func (s *Store) rateTakeCall(g *rateGroup, checkID string) (keys []string, args []any) {
	keys = make([]string, 0, len(g.takes)+3)
	args = make([]any, 0, 3*len(g.takes)+7)
	args = append(args, len(g.takes), flag(g.dup != nil || g.request != nil), flag(g.history))
	keys = s.keys.appendRates(keys, g.kind, g.value, g.takes)
	for _, t := range g.takes {
		args = append(args, t.Rule.Interval().Microseconds(), t.Rule.Burst, flag(t.Rule.Shadow))
	}
	switch {
	case g.dup != nil:
		key, dupArgs := s.duplicateTakeArgs(g.dup, checkID)
		keys = append(keys, key)
		args = append(args, dupArgs...)
	case g.request != nil:
		// The request marker rides in the script's marker slot: "ours" is this check's value, and
		// the replay prefix is the request's fingerprint, so the script's "replay" is a resend of
		// the request and its "duplicate" another request under the id.
		// The replay prefix is the marker's start, "<fingerprint>:", so it is cut from the marker
		// rather than hashed and built a second time.
		marker := requestMarker(g.request, checkID)
		keys = append(keys, s.keys.requestMark(g.request.ThreadID, g.request.RequestID))
		args = append(args, requestTTL*1000, marker, marker[:len(marker)-len(checkID)])
	}
	if g.history {
		keys = append(keys, s.keys.authorHistory(g.value))
	}
	if len(g.takes) > 0 && (g.dup == nil && g.request == nil || hasShadow(g.takes)) {
		// Without a marker to recognise it, a resent call would count twice. With one, the take
		// mark records only which shadow rules did not count, when some did not.
		keys = append(keys, s.keys.takeMark(g.kind, g.value, checkID))
		args = append(args, takeMarkTTL*1000)
	}
	return keys, args
}

// markerAge is how long ago a marker of the given lifetime was set, from the remaining life a
// replay reply carries after its header. The age tells a first submission that may still be on
// its way from one long ended; without it (no TTL), it is zero: the marker counts as young.
func markerAge(vals []any, lifetime time.Duration) time.Duration {
	if len(vals) > rateReplyHeader {
		if left, ok := vals[rateReplyHeader].(int64); ok && left >= 0 {
			return lifetime - time.Duration(left)*time.Millisecond
		}
	}
	return 0
}

// hasShadow reports whether a shadow rule is among takes.
func hasShadow(takes []ratelimit.Take) bool {
	for _, t := range takes {
		if t.Rule.Shadow {
			return true
		}
	}
	return false
}

// flag is a script's boolean argument, already in an interface: the constants cost no allocation
// there, where a string result would be boxed anew at every call.
func flag(b bool) any {
	if b {
		return "1"
	}
	return "0"
}

// rateRefundCall is the refund of g's takes and marker by check checkID. unsure asks for the
// refund of a check whose reply was lost (Ticket.Unsure): the script then gives back only what the
// check's own marker or take mark shows it counted.
func (s *Store) rateRefundCall(g *rateGroup, checkID string, unsure bool) (keys []string, args []any) {
	keys = make([]string, 0, len(g.takes)+3)
	args = make([]any, 0, 2*len(g.takes)+4)
	keys = append(keys, s.keys.refundMark(g.kind, g.value, checkID))
	args = append(args, len(g.takes))
	for _, t := range g.takes {
		keys = append(keys, s.keys.rate(g.kind, g.value, t.Rule.Name))
		args = append(args, t.Rule.Interval().Microseconds())
	}
	for _, t := range g.takes {
		var drained int64 // unknown
		if !t.Drained.IsZero() {
			drained = t.Drained.UnixMicro()
		}
		args = append(args, drained)
	}
	args = append(args, refundMarkTTL, flag(unsure))
	switch {
	case g.dup != nil:
		keys = append(keys, s.keys.duplicate(g.dup.AuthorKey, g.dup.TextKey))
		args = append(args, duplicateMarker(g.dup, checkID))
	case g.request != nil:
		keys = append(keys, s.keys.requestMark(g.request.ThreadID, g.request.RequestID))
		args = append(args, requestMarker(g.request, checkID))
	case unsure && len(g.takes) > 0:
		// The take mark ratelimit_take.lua keeps on a value without a marker when it counts.
		keys = append(keys, s.keys.takeMark(g.kind, g.value, checkID))
	}
	if unsure && (g.dup != nil || g.request != nil) && hasShadow(g.takes) {
		// The unsure ticket holds every take of the check: the take mark says which shadow rules
		// did not count, and so have nothing to give back.
		keys = append(keys, s.keys.takeMark(g.kind, g.value, checkID))
	}
	return keys, args
}

// requestMarker is the value of the request marker a check sets: the request's fingerprint (fixed
// length, no ':'), then the check id, which makes it this check's own.
func requestMarker(r *ratelimit.RequestCheck, checkID string) string {
	fp := requestFingerprintHex(r.Key)
	return string(fp[:]) + ":" + checkID
}

// Status codes of ratelimit_take.lua.
const (
	rateTaken     = 0
	rateDuplicate = 1
	rateReplay    = 2
	rateRefused   = 3
)

// rateReplyHeader is the number of values before the waits in a ratelimit_take.lua reply: the
// status and the author's record (approved, rejected, spam).
const rateReplyHeader = 4

// Screen runs a submission's whole abuse check in one pipeline (ratelimit.Store). When a command
// fails, what the others counted is given back (best effort) before the error is returned.
func (s *Store) Screen(ctx context.Context, q ratelimit.Query) (ratelimit.Result, error) {
	res := ratelimit.Result{Taken: ratelimit.Ticket{ID: q.ID}}
	groups := rateGroups(q.Takes, q.Duplicate, q.Request, q.History)
	fields := banFields(q.Bans)
	if len(groups) == 0 && len(fields) == 0 {
		return res, nil
	}
	if q.ID == "" && len(groups) > 0 {
		return ratelimit.Result{}, errors.New("redisstore: abuse check: query without id")
	}
	calls := make([]rateCall, len(groups))
	for i, g := range groups {
		calls[i].keys, calls[i].args = s.rateTakeCall(g, q.ID)
	}
	var bans *redis.SliceCmd
	var extra []redis.Cmder
	if len(fields) > 0 {
		args := make([]any, 0, 2+len(fields))
		args = append(args, "hmget", s.keys.banRecords())
		for i := range fields {
			// As in evalShaCmd: a pointer costs no allocation; go-redis writes the string.
			args = append(args, &fields[i])
		}
		bans = redis.NewSliceCmd(ctx, args...)
		extra = append(extra, bans)
	}
	if err := s.rateEvalPipelined(ctx, rateTakeScript, calls, extra...); err != nil {
		// Whether the scripts ran is unknown: the Guard gives back what they may have taken
		// (an unsure Refund), on this error path only.
		return ratelimit.Result{}, storeError("abuse check", err)
	}

	var cmdErrs, badReplies []error
	for i, g := range groups {
		if calls[i].err != nil {
			cmdErrs = append(cmdErrs, calls[i].err)
			continue
		}
		if err := readTake(&res, g, calls[i].reply, len(q.Takes)); err != nil {
			badReplies = append(badReplies, fmt.Errorf("rules on %s: %w", g.kind, err))
		}
	}
	if bans != nil {
		if err := bans.Err(); err != nil {
			cmdErrs = append(cmdErrs, err)
		} else if res.Ban, err = pickBan(fields, bans.Val(), q.Now); err != nil {
			badReplies = append(badReplies, err)
		}
	}
	if len(cmdErrs) > 0 || len(badReplies) > 0 {
		if !res.Taken.IsZero() {
			// Best effort: when Redis is down this fails too, and the counts just expire.
			_ = s.Refund(ctx, res.Taken)
		}
		return ratelimit.Result{}, rateError("abuse check", cmdErrs, badReplies)
	}
	return res, nil
}

// readTake reads one ratelimit_take.lua reply for g into res. takes is how many takes the whole
// check holds: the first group taken makes room for all of them in res.Taken.Takes, which
// appending group by group grew three times with the default rules.
func readTake(res *ratelimit.Result, g *rateGroup, reply any, takes int) error {
	vals, ok := reply.([]any)
	if !ok || len(vals) < rateReplyHeader {
		return fmt.Errorf("unexpected script reply %T of %d values", reply, len(vals))
	}
	if g.history {
		var h [3]int64
		for i := range h {
			h[i], _ = vals[i+1].(int64)
		}
		res.History = &comment.AuthorHistory{Approved: h[0], Rejected: h[1], Spam: h[2]}
	}
	status, _ := vals[0].(int64)
	switch status {
	case rateTaken:
		if res.Taken.Takes == nil && len(g.takes) > 0 {
			res.Taken.Takes = make([]ratelimit.Take, 0, max(takes, len(g.takes)))
		}
		for i, t := range g.takes {
			var tat int64
			if i+rateReplyHeader < len(vals) {
				tat, _ = vals[i+rateReplyHeader].(int64)
			}
			switch {
			case tat < 0:
				// A shadow rule that would have refused: it counted nothing, so a refund must not
				// give anything back for it.
				res.Shadowed = append(res.Shadowed, ratelimit.Refusal{Rule: t.Rule.Name, RetryAfter: time.Duration(-tat) * time.Microsecond})
				continue
			case tat > 0:
				t.Drained = time.UnixMicro(tat)
			}
			res.Taken.Takes = append(res.Taken.Takes, t)
		}
		if g.dup != nil {
			res.Taken.Duplicate = g.dup
		}
		if g.request != nil {
			res.Taken.Request = g.request
		}
	case rateDuplicate:
		if g.request != nil {
			res.Request = ratelimit.RequestReused
		} else {
			res.Duplicate = ratelimit.DuplicateFound
		}
	case rateReplay:
		if g.request != nil {
			res.Request = ratelimit.RequestResent
			res.MarkerAge = markerAge(vals, time.Duration(requestTTL)*time.Second)
		} else if age := markerAge(vals, g.dup.Window); age >= time.Duration(requestTTL)*time.Second {
			// Set longer ago than the request id is remembered (a duplicate window above a day):
			// the id's marker and idempotency record are gone, so no resend can get the first
			// comment; let through as one, it would be a second comment no rule counted.
			res.Duplicate = ratelimit.DuplicateFound
		} else {
			res.Duplicate = ratelimit.DuplicateReplay
			res.MarkerAge = age
		}
	case rateRefused:
		if len(vals) != len(g.takes)+rateReplyHeader {
			return fmt.Errorf("script reply has %d values, want %d", len(vals), len(g.takes)+rateReplyHeader)
		}
		for i, t := range g.takes {
			wait, _ := vals[i+rateReplyHeader].(int64)
			switch {
			case wait > 0:
				res.Refused = append(res.Refused, ratelimit.Refusal{Rule: t.Rule.Name, RetryAfter: time.Duration(wait) * time.Microsecond})
			case wait < 0:
				res.Shadowed = append(res.Shadowed, ratelimit.Refusal{Rule: t.Rule.Name, RetryAfter: time.Duration(-wait) * time.Microsecond})
			}
		}
	default:
		return fmt.Errorf("unexpected script status %v", vals[0])
	}
	return nil
}

// Refund gives back what one Screen counted (ratelimit.Store). Refunding the same ticket twice
// changes nothing the second time, nor does an unsure refund (Ticket.Unsure) after a sure one. An
// unsure refund costs no more commands than a sure one: the proof it reads is in the slot it
// writes.
func (s *Store) Refund(ctx context.Context, t ratelimit.Ticket) error {
	groups := rateGroups(t.Takes, t.Duplicate, t.Request, "")
	if len(groups) == 0 {
		return nil
	}
	if t.ID == "" {
		return errors.New("redisstore: refund: ticket without id")
	}
	calls := make([]rateCall, len(groups))
	for i, g := range groups {
		calls[i].keys, calls[i].args = s.rateRefundCall(g, t.ID, t.Unsure)
	}
	_ = s.rateEvalPipelined(ctx, rateRefundScript, calls) // its error is in every call
	var errs []error
	for _, c := range calls {
		if c.err != nil {
			errs = append(errs, c.err)
		}
	}
	if len(errs) > 0 {
		return rateError("refund", errs, nil)
	}
	return nil
}

// LoadAbuseScripts loads the abuse-control scripts (rate limits and bans) into Redis (on a Cluster,
// into every master). Without it they load on first use, which costs that submission (or ban
// change) extra round trips; commentd calls it at start-up so the first request costs no more than
// the others. A restarted Redis is handled by the scripts' own reload on NOSCRIPT.
func (s *Store) LoadAbuseScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{rateTakeScript.Script, rateRefundScript.Script, banPutScript, banDeleteScript, banListScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return storeError("load abuse scripts", err)
		}
	}
	return nil
}

// rateLoadScripts loads both rate-limit scripts: when Redis has lost one it has lost both, and the
// refund should not pay for a second discovery on the refusal path.
func rateLoadScripts(ctx context.Context, rdb redis.UniversalClient) error {
	for _, sc := range []*redis.Script{rateTakeScript.Script, rateRefundScript.Script} {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return err
		}
	}
	return nil
}

// rateCall is one script call of a pipeline, and its outcome.
type rateCall struct {
	keys  []string
	args  []any
	reply any
	err   error
}

// rateEvalPipelined sends one call of sc per entry of calls, and the commands in extra, in one
// exchange (through the store's batcher, so possibly with other submissions' commands), and
// records each call's reply or error; extra's commands hold their own. It returns an error, and
// records it for every call, only when ctx ended before the replies came: then extra's commands
// must not be read. Calls that find the script missing from Redis'
// cache (Redis restarted or failed over since it was loaded) are sent once more after loading the scripts;
// those calls did nothing the first time, so resending them is safe.
func (s *Store) rateEvalPipelined(ctx context.Context, sc *shaScript, calls []rateCall, extra ...redis.Cmder) error {
	cmds := make([]*redis.Cmd, len(calls))
	all := make([]redis.Cmder, 0, len(calls)+len(extra))
	for i, c := range calls {
		cmds[i] = evalShaCmd(ctx, sc, c.keys, c.args...)
		all = append(all, cmds[i])
	}
	all = append(all, extra...)
	if err := s.batch.do(ctx, all...); err != nil {
		for i := range calls {
			calls[i].err = err
		}
		return err
	}
	var again []int
	for i, c := range cmds {
		calls[i].reply, calls[i].err = c.Result()
		if calls[i].err != nil && isNoScript(calls[i].err) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return nil
	}
	if err := rateLoadScripts(ctx, s.rdb); err != nil {
		for _, i := range again {
			calls[i].err = err
		}
		return nil
	}
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range again {
			cmds[i] = sc.EvalSha(ctx, p, calls[i].keys, calls[i].args...)
		}
		return nil
	})
	for _, i := range again {
		calls[i].reply, calls[i].err = cmds[i].Result()
	}
	return nil
}

// rateError translates the errors of one pipeline: command errors (cmdErrs) and replies we could
// not read (badReplies). When a command error means Redis is unavailable, that one is the cause, so
// the Guard's fail-open policy applies; anything else is a bug or a misconfiguration.
func rateError(op string, cmdErrs, badReplies []error) error {
	for _, err := range cmdErrs {
		if unavailable(err) {
			return storeError(op, err)
		}
	}
	return fmt.Errorf("redisstore: %s: %w", op, errors.Join(append(cmdErrs, badReplies...)...))
}
