package main

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callError is a failed call to the server. Its text is one line for people: the operation, the
// status message and whatever the error details add (bad fields, retry delay, failed precondition).
type callError struct {
	op        string        // what was called, such as "approve comments/abc"
	err       error         // the error the client returned
	timeout   time.Duration // the --timeout in force, to explain a deadline
	plaintext bool          // the call went without TLS, which may be why it failed
	tokenFrom string        // where the token came from, to point at it when it is refused
}

func (e *callError) Error() string {
	return e.op + ": " + describe(e.err, e.timeout) + connHint(e.err, e.plaintext) + tokenHint(e.err, e.tokenFrom)
}
func (e *callError) Unwrap() error { return e.err }

func (c *cli) callError(op string, err error) error {
	return &callError{op: op, err: err, timeout: c.timeout, plaintext: !c.secure(), tokenFrom: c.tokenFrom}
}

// describe is describe with the hints this invocation's flags call for.
func (c *cli) describe(err error) string {
	return describe(err, c.timeout) + connHint(err, !c.secure()) + tokenHint(err, c.tokenFrom)
}

// tokenHint points, as a further detail for describe's line, at where the refused token came
// from: --token, COMMENTCTL_TOKEN or the config file, which one is in force being anything but
// obvious to someone with a stale token in one of them. It is "" unless err is UNAUTHENTICATED.
func tokenHint(err error, from string) string {
	if status.Code(err) != codes.Unauthenticated {
		return ""
	}
	if from == "" {
		return "; check --token or " + envToken
	}
	return "; check the token from " + from
}

// connHint says, as a further detail for describe's line, what the likely mistake is when a call
// could not even start because the other end does not speak what commentctl sent. It is "" otherwise.
//   - An HTTP/1.1 answer: --server names commentd's HTTP port (health, metrics) instead of its gRPC
//     port; TLS would not help.
//   - With TLS, a first record that is no TLS handshake: the server listens in plaintext there.
//   - In plaintext, no HTTP/2 server preface or a handshake failure: the server drops a connection
//     that does not open with a TLS handshake.
//
// And when it could not find the other end at all: a host name that does not resolve, which gRPC
// reports only as a resolver that "produced zero addresses", not naming the host; or an address
// where nothing listens (commentd is not running, or --server names another port).
func connHint(err error, plaintext bool) string {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return ""
	}
	msg := st.Message()
	switch {
	case strings.Contains(msg, "produced zero addresses") || strings.Contains(msg, "no such host"):
		return "; the host name in --server did not resolve: check its spelling (and the DNS)"
	case strings.Contains(msg, "connect: connection refused"): // the dial's own error, not a server's message
		return "; nothing listens at that address: is commentd running, and is --server its gRPC address?"
	case strings.Contains(msg, "HTTP/1.1"):
		return "; is that commentd's HTTP port? --server wants its gRPC address (port 7070 unless set otherwise)"
	case !plaintext && strings.Contains(msg, "does not look like a TLS handshake"):
		return "; the server does not use TLS on that port: drop --tls (and tls from the config file), or check the port"
	case plaintext && (strings.Contains(msg, "server preface") || strings.Contains(msg, "handshake")):
		return "; is the server using TLS? try --tls (or --tls-ca FILE)"
	}
	return ""
}

// describe renders a gRPC error as one line:
//
//	<message> (<CODE>[, <reason>])[; <detail>]...
func describe(err error, timeout time.Duration) string {
	st, ok := status.FromError(err)
	if !ok {
		return oneLine(err.Error())
	}
	codeName := code.Code(st.Code()).String()
	msg := st.Message()
	if msg == "" {
		msg = strings.ToLower(strings.ReplaceAll(codeName, "_", " "))
	}
	var b strings.Builder
	b.WriteString(oneLine(msg))
	b.WriteString(" (")
	b.WriteString(codeName)
	var details []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			// commentd sets the reason to the code name when it has nothing finer to say.
			if d.GetReason() != "" && d.GetReason() != codeName {
				b.WriteString(", ")
				b.WriteString(d.GetReason())
			}
			if role := d.GetMetadata()["required_role"]; role != "" {
				details = append(details, "needs a key with role "+role)
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				// commentd's validation message already lists each violation as "field: description".
				if text := v.GetField() + ": " + v.GetDescription(); !strings.Contains(msg, text) {
					details = append(details, "field "+text)
				}
			}
		case *errdetails.RetryInfo:
			if delay := d.GetRetryDelay(); delay != nil {
				details = append(details, "retry in "+roundDelay(delay.AsDuration()).String())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				details = append(details, preconditionText(v))
			}
		case *errdetails.QuotaFailure:
			for _, v := range d.GetViolations() {
				if v.GetDescription() != "" {
					details = append(details, "quota "+v.GetSubject()+": "+v.GetDescription())
				}
			}
		}
	}
	b.WriteString(")")
	switch st.Code() {
	case codes.DeadlineExceeded:
		details = append(details, fmt.Sprintf("no answer within --timeout %s", timeout))
	}
	for _, d := range details {
		b.WriteString("; ")
		b.WriteString(oneLine(d))
	}
	return b.String()
}

func preconditionText(v *errdetails.PreconditionFailure_Violation) string {
	var b strings.Builder
	b.WriteString("precondition")
	if v.GetType() != "" {
		b.WriteString(" " + v.GetType())
	}
	if v.GetSubject() != "" {
		b.WriteString(" " + v.GetSubject())
	}
	if v.GetDescription() != "" {
		b.WriteString(": " + v.GetDescription())
	}
	return b.String()
}

// roundDelay keeps a retry delay readable: whole seconds, or milliseconds below a second.
func roundDelay(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// retryWait reports whether a failed call is worth making again, and how long to wait first: def,
// or the delay the error's RetryInfo asks for when that is longer. Worth it are the failures that
// pass: UNAVAILABLE (the server or its store is restarting), DEADLINE_EXCEEDED, ABORTED (a
// conflict), and RESOURCE_EXHAUSTED when the server says when (a rate limit's RetryInfo; without
// it no wait refills the quota). The rest fail the same way every time: a refused or unknown key,
// a bad request, a state that forbids the call.
func retryWait(err error, def time.Duration) (time.Duration, bool) {
	asked := retryDelay(err, 0)
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
	case codes.ResourceExhausted:
		if asked <= 0 {
			return 0, false
		}
	default:
		return 0, false
	}
	return max(def, asked), true
}

// retryDelay returns the delay the error's RetryInfo asks for, or def when it has none.
func retryDelay(err error, def time.Duration) time.Duration {
	st, ok := status.FromError(err)
	if !ok {
		return def
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return def
}

// isETagMismatch reports whether err is the server's refusal of a decision whose etag the comment
// no longer has (ABORTED, ETAG_MISMATCH): another moderator decided it since it was read.
func isETagMismatch(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Aborted {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "ETAG_MISMATCH" {
			return true
		}
	}
	return false
}
