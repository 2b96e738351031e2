package main

import (
	"bytes"
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
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore/redistest"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key, and returns their paths and a
// pool trusting the certificate.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "commentd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// healthCheck calls the health service at addr over a new connection with creds.
func healthCheck(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// runTLS runs commentd serving gRPC over TLS with certFile and keyFile, on a Redis of its own, and
// returns its address; reload is what SIGHUP would feed (nil for none). It stops when t ends.
func runTLS(t *testing.T, certFile, keyFile string, reload <-chan os.Signal) string {
	t.Helper()
	key := privacy.EncodeSecret(privacy.NewSecret())
	env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + key, "COMMENTD_HASH_KEY": key}
	keys := filepath.Join(t.TempDir(), "keys")
	writeKeys(t, keys)
	rs := redistest.Start(t, "--appendonly", "yes")
	addr, cancel, done := runAsyncReload(t, []string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-keys", keys,
		"-redis-url", "redis://" + rs.Addr, "-tls-cert", certFile, "-tls-key", keyFile}, env, &bytes.Buffer{}, reload)
	t.Cleanup(func() { cancel(); <-done })
	return addr
}

// TestTLS serves gRPC over TLS: a client trusting the certificate gets an answer, a plaintext
// client does not.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := writeSelfSigned(t)
	addr := runTLS(t, certFile, keyFile, nil)

	check := func(creds credentials.TransportCredentials) error { return healthCheck(addr, creds) }
	if err := check(credentials.NewTLS(&tls.Config{RootCAs: pool})); err != nil {
		t.Errorf("health check over TLS with the server's certificate trusted: %v, want success", err)
	}
	if err := check(insecure.NewCredentials()); err == nil {
		t.Errorf("health check in plaintext against the TLS port succeeded, want an error")
	}
}

// TestTLSReload: a reload (SIGHUP) puts a new certificate in force for new connections; a broken
// one is refused and the one in force stays.
func TestTLSReload(t *testing.T) {
	certFile, keyFile, oldPool := writeSelfSigned(t)
	reload := make(chan os.Signal, 1)
	addr := runTLS(t, certFile, keyFile, reload)

	check := func(pool *x509.CertPool) error {
		return healthCheck(addr, credentials.NewTLS(&tls.Config{RootCAs: pool}))
	}
	if err := check(oldPool); err != nil {
		t.Fatalf("health check trusting the first certificate: %v", err)
	}
	newCert, newKey, newPool := writeSelfSigned(t)
	for _, f := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reload <- syscall.SIGHUP
	deadline := time.Now().Add(10 * time.Second)
	for check(newPool) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("a client trusting only the new certificate is still refused 10s after the reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := check(oldPool); err == nil {
		t.Errorf("a client trusting only the old certificate connected after the reload, want it refused")
	}

	// A broken certificate file is not put in force.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The channel holds one signal and one goroutine takes them in turn: once the third send is
	// accepted, the first reload has run.
	for range 3 {
		reload <- syscall.SIGHUP
	}
	if err := check(newPool); err != nil {
		t.Errorf("health check after reloading a broken certificate file: %v, want the certificate in force kept", err)
	}
}
