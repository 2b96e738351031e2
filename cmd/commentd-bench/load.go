package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
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
	// Real readers' comments are nearly all different texts; bodies are built from these openings
	// and a vocabulary, so near-duplicates are as rare as on a real site (the campaign check looks
	// for them, and a bench of eight recombined sentences would look like one large campaign).
	openings = []string{"I think", "Honestly,", "As a resident,", "Thanks for this.", "I disagree:", "Good point, but",
		"Does anyone know whether", "My family", "The article says", "Last year", "In my experience", "Why does nobody mention"}
	vocabulary = strings.Fields(`council budget bridge school teacher parents street traffic bus train timetable weekend
		survey ministry figures paragraph spring summer winter harvest farmers market prices rent housing tenants landlord
		hospital nurses doctors waiting list clinic emergency ambulance river flooding rain storm power outage cables
		library museum concert festival football stadium tickets parking fines police report court judge appeal vote
		election candidate mayor opposition coalition tax pension salary workers strike union factory closure jobs
		airport noise runway climate emissions solar wind turbines heating gas bills energy water pipes repairs roadworks
		cyclists pedestrians crossing children playground park trees neighbours shop bakery closed opened finally again
		never always usually rarely reported explained ignored promised delayed cancelled approved rejected increased
		reduced doubled halved expected surprising disappointing excellent fair unfair clear confusing wrong right
		because although however since while until after before during without despite nobody everyone somebody`)
)

// payload builds a realistic submission: a distinct author, email and IP on every call, spread
// over 1,000 threads, a body of one to four sentences of 6 to 18 words (about 60-500 characters).
func payload(r *rand.Rand, n int64) *commentdv1.SubmitCommentRequest {
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	var b strings.Builder
	for i := 0; i <= r.IntN(4); i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(openings[r.IntN(len(openings))])
		for range 6 + r.IntN(13) {
			b.WriteString(" ")
			b.WriteString(vocabulary[r.IntN(len(vocabulary))])
		}
		b.WriteString(".")
	}
	body := b.String()
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
