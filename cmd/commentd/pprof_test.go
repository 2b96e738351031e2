package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPprofHidesCommandLine: -pprof serves the profiles, but not the command line, which holds
// whatever secrets were given as flags (-hash-key, -encryption-keys, a Redis password, staff
// email addresses) and which the start-up log masks.
func TestPprofHidesCommandLine(t *testing.T) {
	mux := http.NewServeMux()
	servePprof(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: read body: %v", path, err)
		}
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		if code, _ := get(path); code != http.StatusOK {
			t.Errorf("GET %s with -pprof = %d, want 200", path, code)
		}
	}
	code, body := get("/debug/pprof/cmdline")
	if code == http.StatusOK || strings.Contains(body, "-test.") {
		t.Errorf("GET /debug/pprof/cmdline with -pprof = %d %q, want no command line (it may hold secrets)", code, body)
	}
}

// TestPprofWarnsWhenReachable: -pprof on an HTTP address other machines can reach (the default
// -http-addr is every interface) is said at start, in a WARN line; on loopback it is not.
func TestPprofWarnsWhenReachable(t *testing.T) {
	tests := []struct {
		name     string
		httpAddr string
		wantWarn bool
	}{
		{name: "loopback", httpAddr: "127.0.0.1:0"},
		{name: "every interface", httpAddr: "0.0.0.0:0", wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-dev", "-pprof", "-grpc-addr", "127.0.0.1:0", "-http-addr", tt.httpAddr}
			stderr := startAndStop(t, args, nil)
			warned := false
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "pprof") {
					warned = true
				}
			}
			if warned != tt.wantWarn {
				t.Errorf("run(%q) logged a pprof warning: %v, want %v; log:\n%s", args, warned, tt.wantWarn, stderr)
			}
		})
	}
}
