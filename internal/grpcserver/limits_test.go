package grpcserver_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/commentd/commentd/internal/grpcserver"
)

// rawServer serves a bare grpcserver (health needs nothing behind it) on a loopback port, for
// tests that speak HTTP/2 themselves: a gRPC client keeps to the limits the server announces, an
// attacker's client need not.
func rawServer(t *testing.T) string {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{})
	srv.SetServing(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		<-served
	})
	return lis.Addr().String()
}

// rawHealthCheck sends one Health.Check whose metadata carries a header of padding bytes, over a
// connection of its own, ignoring the server's announced bounds, and reports whether the call
// ended with grpc-status 0.
func rawHealthCheck(t *testing.T, addr string, padding int) (ok bool, outcome string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatalf("write preface: %v", err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 64 << 20
	if err := fr.WriteSettings(); err != nil {
		t.Fatalf("write settings: %v", err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/grpc.health.v1.Health/Check"}, {Name: ":authority", Value: "commentd"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
		{Name: "x-padding", Value: strings.Repeat("a", padding)},
	} {
		enc.WriteField(f)
	}
	// The block goes in frames of the smallest maximum frame size every peer accepts.
	const frameSize = 16 << 10
	b := block.Bytes()
	first := b[:min(len(b), frameSize)]
	b = b[len(first):]
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: len(b) == 0}); err != nil {
		return false, "write headers: " + err.Error()
	}
	for len(b) > 0 {
		part := b[:min(len(b), frameSize)]
		b = b[len(part):]
		if err := fr.WriteContinuation(1, len(b) == 0, part); err != nil {
			return false, "write continuation: " + err.Error()
		}
	}
	// An empty HealthCheckRequest: a gRPC message of length 0.
	if err := fr.WriteData(1, true, []byte{0, 0, 0, 0, 0}); err != nil {
		return false, "write data: " + err.Error()
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return false, "read: " + err.Error()
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.RSTStreamFrame:
			return false, "RST_STREAM " + f.ErrCode.String()
		case *http2.GoAwayFrame:
			return false, "GOAWAY " + f.ErrCode.String()
		case *http2.MetaHeadersFrame:
			if st := f.PseudoValue("status"); st != "" && st != "200" {
				return false, "HTTP status " + st
			}
			for _, hf := range f.Fields {
				if hf.Name == "grpc-status" {
					return hf.Value == "0", "grpc-status " + hf.Value
				}
			}
		}
	}
}

// TestMetadataSizeBound sends, with no API key (health needs none, so anyone who reaches the port
// can), calls whose metadata is under and over the server's bound, from a client that does not
// keep to the bound the server announces.
func TestMetadataSizeBound(t *testing.T) {
	addr := rawServer(t)
	for _, tc := range []struct {
		name  string
		bytes int
		ok    bool
	}{
		{name: "small", bytes: 1 << 10, ok: true},
		{name: "just under the bound", bytes: 60 << 10, ok: true},
		{name: "over the bound", bytes: 65 << 10, ok: false},
		{name: "under gRPC's default bound of 16 MiB", bytes: 8 << 20, ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, outcome := rawHealthCheck(t, addr, tc.bytes)
			if ok != tc.ok {
				t.Errorf("sent Health.Check with %d bytes of metadata, got %s (served: %t); want served: %t", tc.bytes, outcome, ok, tc.ok)
			}
		})
	}
}

// TestConcurrentStreamsBound opens health watches, which need no key and last until the client
// leaves, on one connection: one past the bound is refused, from a client that does not keep to
// the bound the server announces.
func TestConcurrentStreamsBound(t *testing.T) {
	addr := rawServer(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatalf("write preface: %v", err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatalf("write settings: %v", err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	const bound = 256 // grpcserver.MaxConcurrentStreams, spelt out so the test says what it expects
	streams := bound + 1
	for i := range streams {
		id := uint32(2*i + 1)
		block.Reset()
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
			{Name: ":path", Value: "/grpc.health.v1.Health/Watch"}, {Name: ":authority", Value: "commentd"},
			{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
		} {
			enc.WriteField(f)
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
			t.Fatalf("open stream %d: %v", id, err)
		}
		if err := fr.WriteData(id, true, []byte{0, 0, 0, 0, 0}); err != nil {
			t.Fatalf("write stream %d: %v", id, err)
		}
	}
	// Each watch answers with its first status; the one past the bound is reset instead.
	answered, refused := map[uint32]bool{}, map[uint32]bool{}
	for len(answered)+len(refused) < streams {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("opened %d health watches on one connection, read after %d answered and %d refused: %v", streams, len(answered), len(refused), err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			answered[f.StreamID] = true
		case *http2.RSTStreamFrame:
			refused[f.StreamID] = true
		case *http2.GoAwayFrame:
			t.Fatalf("opened %d health watches on one connection, got GOAWAY %v after %d answered and %d refused", streams, f.ErrCode, len(answered), len(refused))
		}
	}
	if len(answered) != bound || len(refused) != 1 {
		t.Errorf("opened %d health watches on one connection, got %d answered and %d refused; want %d answered and 1 refused", streams, len(answered), len(refused), bound)
	}
}
