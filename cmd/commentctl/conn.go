package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// bearer sends the API token with every call as "authorization: Bearer <token>".
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false for plaintext connections: commentd listens in plaintext by
// default (behind a TLS-terminating proxy or on loopback), and grpc refuses per-RPC credentials on
// an insecure channel unless they say so.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// dial opens a client connection to the server for cmd. The caller closes it.
func (c *cli) dial(cmd *cobra.Command) (*grpc.ClientConn, commentdv1.ModerationServiceClient, error) {
	if c.token == "" {
		return nil, nil, usagef(cmd, "no API token: set --token, %s or token in the config file to a moderator or admin key (commentctl keygen makes one)", envToken)
	}
	if err := checkServer(c.server); err != nil {
		return nil, nil, usagef(cmd, "%v", err)
	}
	secure := c.secure()
	var tc credentials.TransportCredentials
	if secure {
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, nil, err
		}
		tc = credentials.NewTLS(cfg)
	} else {
		tc = insecure.NewCredentials()
		if !isLoopback(c.server) {
			fmt.Fprintf(c.stderr, "commentctl: warning: sending the API token to %s without encryption; use --tls unless a private network carries it\n", c.server)
		}
	}
	conn, err := grpc.NewClient(c.server,
		grpc.WithTransportCredentials(tc),
		grpc.WithPerRPCCredentials(bearer{token: c.token, secure: secure}),
	)
	if err != nil {
		// NewClient fails only on a malformed target, which is a command-line mistake.
		return nil, nil, usagef(cmd, "--server %q: %v", c.server, err)
	}
	return conn, commentdv1.NewModerationServiceClient(conn), nil
}

// checkServer refuses a server address that is not host:port. gRPC would take "comments.example.org"
// for port 443, not commentd's 7070, and "https://host:7070" for a host named "https", and the
// moderator would read of a connection refused or a name not found rather than of the mistake. A
// gRPC target with a scheme gRPC knows (dns:///host:port, unix:///path) is left to gRPC.
func checkServer(addr string) error {
	if u, err := url.Parse(addr); err == nil && u.Scheme != "" && resolver.Get(u.Scheme) != nil {
		return nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("server %q: want host:port, such as comments.example.org:7070 (--server, %s or the config file's server)", addr, envServer)
	}
	return nil
}

// secure reports whether calls go over TLS: --tls, or either flag that implies it.
func (c *cli) secure() bool { return c.useTLS || c.tlsCA != "" || c.tlsInsecure }

func (c *cli) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.tlsInsecure} //nolint:gosec // opt-in, documented as testing only
	if c.tlsCA != "" {
		pem, err := os.ReadFile(c.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("read --tls-ca: no PEM certificate in " + c.tlsCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// isLoopback reports whether addr (host:port) names this machine, where plaintext is harmless.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callCtx bounds one call to the server by --timeout.
func (c *cli) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}
