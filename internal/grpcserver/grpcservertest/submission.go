// Package grpcservertest builds realistic CommentService requests for load: the benchmark command
// (cmd/commentd-bench) and the in-process benchmark of SubmitComment (internal/grpcserver) send the
// same comments, so their allocation and CPU figures describe the same work.
package grpcservertest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

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

// Threads is how many threads Submission spreads its comments over.
const Threads = 1000

// Submission builds a realistic submission, the n-th of a run: a distinct author, email and IP on
// every call (the email holds n), spread over Threads threads, a body of one to four sentences of 6
// to 18 words (about 60-500 characters) and a request id of its own.
func Submission(r *rand.Rand, n int64) *commentdv1.SubmitCommentRequest {
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
		ThreadId:    fmt.Sprintf("article-%d", r.IntN(Threads)),
		AuthorName:  first + " " + last,
		AuthorEmail: fmt.Sprintf("%s.%s.%d@%s", first[:1], last, n, domains[r.IntN(len(domains))]),
		Body:        body,
		RequestId:   fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), n),
		ClientIp:    fmt.Sprintf("%d.%d.%d.%d", 10+r.IntN(200), r.IntN(256), r.IntN(256), 1+r.IntN(254)),
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
	}
}
