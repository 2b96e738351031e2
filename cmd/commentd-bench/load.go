package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

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

var (
	firstNames = []string{"Anna", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas", "Kwame", "Lena", "Mateo", "Nora", "Oskar", "Priya"}
	lastNames  = []string{"Schmidt", "Okafor", "García", "Nguyen", "Kowalski", "Rossi", "Haddad", "Larsen", "Moreau", "Tanaka"}
	domains    = []string{"example.com", "mail.example.org", "post.example.net", "example.co.uk"}
	sentences  = []string{
		"I read the whole article and I think the council is right to wait for the second survey.",
		"The figures in the third paragraph don't match what the ministry published last spring.",
		"My grandmother lived on that street for forty years; nobody ever asked the residents.",
		"Thanks for covering this, the local papers ignored it completely.",
		"Does anyone know whether the new timetable applies on Sundays too?",
		"This is the best explanation of the tariff changes I have seen so far.",
		"I disagree with the conclusion, but the reporting is fair and well sourced.",
		"The photo caption says 2019 but the bridge was finished in 2021.",
	}
)

// payload builds a realistic submission: a distinct author, email and IP on every call, spread
// over 1,000 threads, a body of one to four sentences (about 60-350 characters).
func payload(r *rand.Rand, n int64) *commentdv1.SubmitCommentRequest {
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	body := ""
	for i := 0; i <= r.IntN(4); i++ {
		if i > 0 {
			body += " "
		}
		body += sentences[r.IntN(len(sentences))]
	}
	return &commentdv1.SubmitCommentRequest{
		ThreadId:    fmt.Sprintf("article-%d", r.IntN(1000)),
		AuthorName:  first + " " + last,
		AuthorEmail: fmt.Sprintf("%s.%s.%d@%s", first[:1], last, n, domains[r.IntN(len(domains))]),
		Body:        body,
		RequestId:   fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), n),
		ClientIp:    fmt.Sprintf("%d.%d.%d.%d", 10+r.IntN(200), r.IntN(256), r.IntN(256), 1+r.IntN(254)),
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
	}
}

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
				req := payload(r, seq.Add(1))
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
