package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHTTPServerTimeouts holds connections to the HTTP port open as an anonymous client could: idle
// after one request, and waiting on a response that takes too long to write. The server must close
// both within its bounds rather than keep them (and their goroutines) for good.
func TestHTTPServerTimeouts(t *testing.T) {
	bounds := httpTimeouts{header: time.Second, write: 200 * time.Millisecond, idle: 200 * time.Millisecond}
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * bounds.write)
		io.WriteString(w, "late")
	})
	srv := newHTTPServer(mux, bounds)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })

	for _, tc := range []struct {
		name, path string
		wantBody   bool // a response arrives before the server closes the connection
	}{
		{name: "idle after a request", path: "/fast", wantBody: true},
		{name: "response written after the write bound", path: "/slow", wantBody: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, "GET "+tc.path+" HTTP/1.1\r\nHost: commentd\r\n\r\n"); err != nil {
				t.Fatalf("write request: %v", err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if gotBody := err == nil; gotBody != tc.wantBody {
				t.Fatalf("GET %s, got response %v, error %v; want a response: %t", tc.path, resp, err, tc.wantBody)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			// The connection is kept alive; the server must end it within a few bounds.
			began := time.Now()
			_, err = br.ReadByte()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("GET %s, then waited: the connection was still open after %v; want it closed within about %v", tc.path, time.Since(began).Round(time.Millisecond), bounds.idle)
			}
		})
	}
}
