package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/commentd/commentd/internal/grpcserver/grpcservertest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// result is what one load phase measured.
type result struct {
	calls, errors int64
	elapsed       time.Duration
	p50, p99      time.Duration
	firstErr      error
}

func (r result) rate() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// drive calls SubmitComment from `workers` goroutines over conn for duration and measures every call.
func drive(ctx context.Context, conn *grpc.ClientConn, token string, workers int, duration time.Duration) result {
	client := commentdv1.NewCommentServiceClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	var (
		seq      atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Pointer[error]
		mu       sync.Mutex
		lats     []time.Duration
		wg       sync.WaitGroup
	)
	start := time.Now()
	stopAt := start.Add(duration)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			local := make([]time.Duration, 0, 1<<14)
			for {
				t0 := time.Now()
				if t0.After(stopAt) || ctx.Err() != nil {
					break
				}
				req := grpcservertest.Submission(r, seq.Add(1))
				callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := client.SubmitComment(callCtx, req)
				cancel()
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res := result{calls: int64(len(lats)), errors: errs.Load(), elapsed: time.Since(start)}
	if p := firstErr.Load(); p != nil {
		res.firstErr = *p
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		res.p50 = lats[len(lats)*50/100]
		res.p99 = lats[len(lats)*99/100]
	}
	return res
}
