package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/commentd/commentd/internal/moderation"
)

// beforeScriptOn is a go-redis hook that calls run once, just before the first script call whose
// keys include key. With loseReply it then sends the call and reports it failed as if its reply was
// lost (the connection dropped, the server stopped), so no later step of the caller runs.
type beforeScriptOn struct {
	key       string
	loseReply bool
	done      atomic.Bool
	run       func(ctx context.Context)
}

func (h *beforeScriptOn) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeScriptOn) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *beforeScriptOn) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			if hasArg(cmd.Args(), h.key) && h.done.CompareAndSwap(false, true) {
				h.run(ctx)
				if h.loseReply {
					if err := next(ctx, cmd); err != nil {
						return err
					}
					err := errors.New("injected: connection lost before the reply")
					cmd.SetErr(err)
					return err
				}
			}
		}
		return next(ctx, cmd)
	}
}

// TestErasureBetweenLearnSteps: a moderator's decision on one of the author's comments is learnt in
// two steps, the label in the site's model and then the outcome in the author's record. An erasure
// that runs whole between the two (its move of the comment's training, the anonymisation and the
// deletion of the author's record) must not leave the author's record behind: the late outcome
// would bring back, for good, a record under the author's keyed hash that lists the comment ids.
func TestErasureBetweenLearnSteps(t *testing.T) {
	t.Parallel()
	f := newTrainingFixture(t)
	ctx := context.Background()
	target := f.erased[2] // pending
	hook := &beforeScriptOn{key: f.ts.keys.authorHistory(f.key), run: func(ctx context.Context) {
		if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
			t.Errorf("EraseAuthorData between the learner's steps = %v", err)
		}
	}}
	f.ts.rdb.AddHook(hook)
	if _, err := f.mod.Decide(ctx, "anna", moderation.Approve, target.ID, "", ""); err != nil {
		t.Fatalf("Decide(approve %s) = %v", target.ID, err)
	}
	if !hook.done.Load() {
		t.Fatal("the decision never recorded the author's outcome: the test shows nothing")
	}
	if n := f.authorKeysExist(t, f.key); n != 0 {
		t.Errorf("after an erasure that ran between the decision's two learning steps, %d keys of the erased author's record exist", n)
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
	hook := &beforeScriptOn{key: f.ts.keys.authorHistory(f.key), loseReply: true, run: func(ctx context.Context) {
		if _, err := f.mod.EraseAuthorData(ctx, "root", eraseEmail, "", false); err != nil {
			t.Errorf("EraseAuthorData between the learner's steps = %v", err)
		}
	}}
	f.ts.rdb.AddHook(hook)
	if _, err := f.mod.Decide(ctx, "anna", moderation.Approve, target.ID, "", ""); err == nil {
		t.Fatal("Decide succeeded although the reply to its outcome was lost")
	}
	if !hook.done.Load() {
		t.Fatal("the decision never recorded the author's outcome: the test shows nothing")
	}
	// The retry the error invites.
	if _, err := f.mod.Decide(ctx, "anna", moderation.Approve, target.ID, "", ""); err != nil {
		t.Fatalf("Decide(approve %s), retried = %v", target.ID, err)
	}
	if n := f.authorKeysExist(t, f.key); n != 0 {
		t.Errorf("after a decision that failed once its outcome was recorded behind an erasure, and its retry, %d keys of the erased author's record exist", n)
	}
}
