package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// selfSigned makes a certificate for 127.0.0.1 and returns it with its PEM, to act as its own CA.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "commentd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert, caPEM := selfSigned(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatalf("write CA file: %v", err)
	}
	_, otherPEM := selfSigned(t) // a CA that did not sign the server's certificate
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(otherFile, otherPEM, 0o600); err != nil {
		t.Fatalf("write CA file: %v", err)
	}

	f := &fakeModeration{getThread: func(_ context.Context, req *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
		return &commentdv1.GetThreadResponse{Thread: &commentdv1.Thread{Name: req.GetName()}}, nil
	}}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	addr := serve(t, f, grpc.Creds(creds))

	const hint = "; is the server using TLS? try --tls (or --tls-ca FILE)\n"
	tests := []struct {
		name     string
		flags    []string
		env      map[string]string
		want     int
		wantHint bool // stderr ends with the hint to use TLS
	}{
		{name: "trusted CA", flags: []string{"--tls-ca", caFile}, want: exitOK},
		{name: "insecure skip verify", flags: []string{"--tls-insecure"}, want: exitOK},
		{name: "untrusted CA", flags: []string{"--tls-ca", otherFile}, want: exitError},
		{name: "system roots only", flags: []string{"--tls"}, want: exitError},
		{name: "plaintext to a TLS server", want: exitError, wantHint: true},
		{name: "missing CA file", flags: []string{"--tls-ca", filepath.Join(t.TempDir(), "none.pem")}, want: exitError},
		{name: "CA from the environment", env: map[string]string{envTLSCA: caFile}, want: exitOK},
		// Without a CA the certificate fails verification, which shows TLS was used.
		{name: "TLS from the environment", env: map[string]string{envTLS: "1"}, want: exitError},
		{name: "TLS from the environment, true", env: map[string]string{envTLS: "true"}, want: exitError},
		{name: "--tls=false beats the environment", flags: []string{"--tls=false"}, env: map[string]string{envTLS: "1"}, want: exitError, wantHint: true},
		{name: "environment says no TLS", env: map[string]string{envTLS: "0"}, want: exitError, wantHint: true},
		{name: "environment TLS not a boolean", env: map[string]string{envTLS: "yes"}, want: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(addr, append(tt.flags, "--timeout", "5s", "thread", "get", "t1")...)
			got := invocation{args: args, env: tt.env}.run(t)
			if got.code != tt.want {
				t.Errorf("%s with env %v: exit %d (stderr %q); want %d", cmdline(args), tt.env, got.code, got.stderr, tt.want)
			}
			if hasHint := strings.HasSuffix(got.stderr, hint); hasHint != tt.wantHint {
				t.Errorf("%s with env %v: stderr %q; want the hint to use TLS: %v", cmdline(args), tt.env, got.stderr, tt.wantHint)
			}
		})
	}

	// Every call that got through carried the token.
	for _, c := range f.recorded() {
		if diff := cmp.Diff([]string{"Bearer tok-1"}, c.auth); diff != "" {
			t.Errorf("TLS call %s: authorization mismatch (-want +got):\n%s", c.method, diff)
		}
	}
}

// TestConnHints checks the hint added to a call that fails because --server or --tls points at
// something that does not speak what commentctl sent.
func TestConnHints(t *testing.T) {
	t.Parallel()
	grpcAddr := serve(t, &fakeModeration{})
	web := httptest.NewServer(http.NotFoundHandler()) // as commentd's HTTP port answers
	t.Cleanup(web.Close)
	webAddr := strings.TrimPrefix(web.URL, "http://")
	// A port nothing listens on: one the system gave out and took back.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	downAddr := l.Addr().String()
	l.Close()

	tests := []struct {
		name  string
		addr  string
		flags []string
		hint  string
	}{
		{name: "HTTP port", addr: webAddr,
			hint: "; is that commentd's HTTP port? --server wants its gRPC address (port 7070 unless set otherwise)"},
		{name: "HTTP port with TLS", addr: webAddr, flags: []string{"--tls"},
			hint: "; the server does not use TLS on that port: drop --tls (and tls from the config file), or check the port"},
		{name: "server down", addr: downAddr,
			hint: "; nothing listens at that address: is commentd running, and is --server its gRPC address?"},
		{name: "TLS to a plaintext server", addr: grpcAddr, flags: []string{"--tls"},
			hint: "; the server does not use TLS on that port: drop --tls (and tls from the config file), or check the port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := withServer(tt.addr, append(tt.flags, "--timeout", "5s", "thread", "get", "t1")...)
			got := invocation{args: args}.run(t)
			if got.code != exitError {
				t.Errorf("%s: exit %d (stderr %q); want %d", cmdline(args), got.code, got.stderr, exitError)
			}
			if !strings.HasSuffix(got.stderr, tt.hint+"\n") {
				t.Errorf("%s: stderr %q; want it to end with %q", cmdline(args), got.stderr, tt.hint)
			}
		})
	}
}
