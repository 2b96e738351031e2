package redisstore

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/moderation"
)

// eraseThenLoseReply is a go-redis hook for the first script call whose keys include key: it runs
// run just before the call, sends the call, and then reports the call failed as if its reply was
// lost (the connection dropped, the server stopped), so no later step of the caller runs.
type eraseThenLoseReply struct {
	key  string
	done atomic.Bool
	run  func(ctx context.Context)
}

func (h *eraseThenLoseReply) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *eraseThenLoseReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *eraseThenLoseReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && slices.Contains(cmd.Args(), any(h.key)) && h.done.CompareAndSwap(false, true) {
			h.run(ctx)
			if err := next(ctx, cmd); err != nil {
				return err
			}
			err := errors.New("injected: connection lost before the reply")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// TestErasureBetweenLearnStepsThenFailure: as TestErasureBetweenLearnSteps, an erasure runs whole
// between a decision's two learning steps, so the late outcome would bring the erased author's
// record back; here the decision then fails (its reply is lost), so no later step of it runs, and
// the moderator retries the decision, as its error invites. The erased author's record must not
// be left behind for good.
func TestErasureBetweenLearnStepsThenFailure(t *testing.T) {
	t.Parallel()
	f := newTrainingFixture(t)
	ctx := context.Background()
	target := f.erased[2] // pending
	hook := &eraseThenLoseReply{key: f.ts.keys.authorHistory(f.key), run: func(ctx context.Context) {
		if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
			t.Errorf("EraseAuthorData between the learner's steps = %v", err)
		}
	}}
	f.ts.rdb.AddHook(hook)
	if _, err := f.mod.Decide(ctx, "anna", moderation.Approve, target.ID, ""); err == nil {
		t.Fatal("Decide succeeded although the reply to its outcome was lost")
	}
	if !hook.done.Load() {
		t.Fatal("the decision never recorded the author's outcome: the test shows nothing")
	}
	// The retry the error invites.
	if _, err := f.mod.Decide(ctx, "anna", moderation.Approve, target.ID, ""); err != nil {
		t.Fatalf("Decide(approve %s), retried = %v", target.ID, err)
	}
	if n := f.authorKeysExist(t, f.key); n != 0 {
		t.Errorf("after a decision that failed once its outcome was recorded behind an erasure, and its retry, %d keys of the erased author's record exist", n)
	}
}
