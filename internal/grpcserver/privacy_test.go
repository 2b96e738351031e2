package grpcserver_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/redisstore/redistest"
	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// TestPrivacy submits comments with distinctive addresses and drives every site call (and the
// moderator's) around them, then looks for the addresses in clear in everything the server let
// out: responses, error statuses, headers, its log, its metrics and what it stored in Redis.
func TestPrivacy(t *testing.T) {
	const (
		email     = "Zebra.Quagga.4711@privacy-probe.example"
		localPart = "zebra.quagga.4711" // compared case-insensitively
		ipv4      = "198.51.100.77"
		ipv6      = "2001:db8:dead:beef::4711"
	)
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost, screeners: []comment.Screener{flagScreener{}}})
	site, mod := e.as(t, siteKeyName), e.as(t, modKeyName)

	var siteOut, modOut strings.Builder // everything the site / the moderator received
	record := func(out *strings.Builder, header, trailer metadata.MD, m proto.Message, err error) {
		out.WriteString(prototext.Format(m))
		if err != nil {
			out.WriteString(prototext.Format(status.Convert(err).Proto()))
		}
		for _, md := range []metadata.MD{header, trailer} {
			for k, vs := range md {
				out.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
		}
	}
	siteCall := func(name string, call func(opts ...grpc.CallOption) (proto.Message, error)) proto.Message {
		var h, tr metadata.MD
		resp, err := call(grpc.Header(&h), grpc.Trailer(&tr))
		record(&siteOut, h, tr, resp, err)
		return resp
	}

	var names []string
	for i, s := range []*commentdv1.SubmitCommentRequest{
		{ThreadId: "privacy", AuthorName: "Zed", AuthorEmail: email, Body: "published", ClientIp: ipv4, RequestId: "p-1"},
		{ThreadId: "privacy", AuthorName: "Zed", AuthorEmail: email, Body: "SPAM spam", ClientIp: ipv6},
		{ThreadId: "privacy", AuthorName: "Zed", AuthorEmail: email, Body: "HOLD me", ClientIp: ipv4},
		// Refused submissions: the error must not echo the address either.
		{ThreadId: "privacy", AuthorName: "", AuthorEmail: email, Body: "no name", ClientIp: ipv4},
		{ThreadId: "privacy", AuthorName: "Zed", AuthorEmail: email + ">", Body: "bad email", ClientIp: ipv4 + "9"},
	} {
		resp := siteCall("SubmitComment", func(opts ...grpc.CallOption) (proto.Message, error) {
			return e.site.SubmitComment(site, s, opts...)
		}).(*commentdv1.SubmitCommentResponse)
		if i < 3 {
			if resp.GetComment().GetName() == "" {
				t.Fatalf("called SubmitComment #%d, got no comment back, want one", i)
			}
			names = append(names, resp.GetComment().GetName())
		}
	}
	// The same request id again, as a retrying site would.
	siteCall("SubmitComment", func(opts ...grpc.CallOption) (proto.Message, error) {
		return e.site.SubmitComment(site, &commentdv1.SubmitCommentRequest{ThreadId: "privacy", AuthorName: "Zed", AuthorEmail: email, Body: "published", ClientIp: ipv4, RequestId: "p-1"}, opts...)
	})
	for _, n := range names {
		siteCall("GetComment", func(opts ...grpc.CallOption) (proto.Message, error) {
			return e.site.GetComment(site, &commentdv1.GetCommentRequest{Name: n}, opts...)
		})
	}
	siteCall("ListComments", func(opts ...grpc.CallOption) (proto.Message, error) {
		return e.site.ListComments(site, &commentdv1.ListCommentsRequest{ThreadId: "privacy"}, opts...)
	})
	siteCall("CountComments", func(opts ...grpc.CallOption) (proto.Message, error) {
		return e.site.CountComments(site, &commentdv1.CountCommentsRequest{ThreadIds: []string{"privacy"}}, opts...)
	})

	// The moderator sees masked forms only.
	for _, st := range []commentdv1.State{commentdv1.State_STATE_PENDING, commentdv1.State_STATE_SPAM} {
		resp, err := e.mod.ListQueue(mod, &commentdv1.ListQueueRequest{State: st})
		record(&modOut, nil, nil, resp, err)
	}
	for _, n := range names {
		resp, err := e.mod.RejectComment(mod, &commentdv1.RejectCommentRequest{Name: n})
		record(&modOut, nil, nil, resp, err)
	}
	if !strings.Contains(modOut.String(), "Z•••@privacy-probe.example") || !strings.Contains(modOut.String(), "198.51.100.x") {
		t.Fatalf("called ListQueue and RejectComment, got no masked email or IP in:\n%s\nwant the masked forms (or the probe proves nothing)", modOut.String())
	}

	metrics := e.metricsText(t)

	outputs := map[string]string{
		"site responses":      siteOut.String(),
		"moderator responses": modOut.String(),
		"server log":          e.logs.String(),
		"metrics":             metrics,
		"redis":               e.storedText(t),
	}
	for where, text := range outputs {
		if text == "" {
			t.Errorf("captured no %s, want some output to search", where)
		}
		lower := strings.ToLower(text)
		for _, secret := range []string{strings.ToLower(email), localPart, ipv4, ipv6, "198.51.100.779"} {
			if strings.Contains(lower, secret) {
				t.Errorf("searched the %s for %q, got a match, want none:\n%s", where, secret, text)
			}
		}
	}
}

// TestRequestIDsHoldNoAddress submits comments whose request ids a site built from the reader's
// IP address or (URL-encoded) email address, then looks for those addresses in everything the
// server let out and stored. The ids are refused (INVALID_ARGUMENT on request_id) before anything
// is stored: a request id names Redis keys in clear. A UUID request id, which is kept, shows that
// the search sees the key names.
func TestRequestIDsHoldNoAddress(t *testing.T) {
	const (
		ipv4  = "198.51.100.78"
		ipv6  = "2001:db8:cafe:f00d::4712"
		email = "okapi.narwhal.4712%40privacy-probe.example"
		uuid  = "0b9e54c2-7d1a-4f3e-8c6b-2a5d9e1f4712"
	)
	e := newEnv(t, envOptions{redisAddr: redistest.Start(t).Addr, mode: comment.ModePost})
	site := e.as(t, siteKeyName)
	var siteOut strings.Builder
	for i, id := range []string{ipv4, "form-" + ipv4 + "-1", ipv6, "[" + ipv6 + "]:443", email} {
		var h, tr metadata.MD
		r := validSubmission("request-ids", fmt.Sprintf("comment %d", i))
		r.RequestId = id
		resp, err := e.site.SubmitComment(site, r, grpc.Header(&h), grpc.Trailer(&tr))
		siteOut.WriteString(prototext.Format(resp) + prototext.Format(status.Convert(err).Proto()))
		for _, md := range []metadata.MD{h, tr} {
			for k, vs := range md {
				siteOut.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
			}
		}
		if code, reason := codeReason(err); code != codes.InvalidArgument || reason != grpcserver.ReasonInvalidArgument || !slices.Equal(badRequestFields(err), []string{"request_id"}) {
			t.Errorf("called SubmitComment(request id %q), got %v %q fields %v, want InvalidArgument on request_id", id, code, reason, badRequestFields(err))
		}
	}
	r := validSubmission("request-ids", "a comment with a good request id")
	r.RequestId = uuid
	e.submit(t, r)

	stored := e.storedText(t)
	if !strings.Contains(stored, uuid) {
		t.Fatalf("searched Redis for the accepted request id %q, got no match, want it in a key name (or the probe proves nothing)", uuid)
	}
	outputs := map[string]string{
		"site responses": siteOut.String(),
		"server log":     e.logs.String(),
		"metrics":        e.metricsText(t),
		"redis":          stored,
	}
	for where, text := range outputs {
		lower := strings.ToLower(text)
		for _, secret := range []string{ipv4, ipv6, "okapi.narwhal.4712"} {
			if strings.Contains(lower, secret) {
				t.Errorf("searched the %s for %q, got a match, want none:\n%s", where, secret, text)
			}
		}
	}
}

// metricsText returns every metric of the server's registry in the text format /metrics serves.
func (e *env) metricsText(t *testing.T) string {
	t.Helper()
	var metrics bytes.Buffer
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&metrics, f); err != nil {
			t.Fatalf("format metric family %s: %v", f.GetName(), err)
		}
	}
	return metrics.String()
}
