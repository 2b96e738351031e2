package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client settings. Timeouts are short because a comment widget waits on them; the caller's
// context deadline (gRPC's) still wins, since the client has context timeouts enabled.
const (
	dialTimeout  = 2 * time.Second
	readTimeout  = 2 * time.Second
	writeTimeout = 2 * time.Second
	poolTimeout  = 3 * time.Second
	maxRetries   = 2 // safe: every write of the store can run twice
	// dialAttempts bounds the dials per command attempt (go-redis makes 5 by default, and each
	// command attempt dials again), so a Redis that is down is reported in well under a second.
	dialAttempts = 2
)

// target is a parsed Redis address.
type target struct {
	kind     string // "standalone", "cluster" or "sentinel"
	addrs    []string
	user     string
	password string
	master   string // sentinel only
	db       int
	tls      bool
}

// NewClient builds a go-redis client from one address string. Accepted forms:
//
//	redis://[user:pass@]host[:port][/db]              one server (port 6379, db 0 by default)
//	rediss://...                                      the same over TLS (any of the forms)
//	host[:port]                                       one server, no scheme
//	redis://[user:pass@]h1:7000,h2:7001,h3:7002       a Cluster: two or more seed nodes
//	h1:7000,h2:7001                                   a Cluster, no scheme
//	redis+cluster://[user:pass@]h1:7000               a Cluster reached through one seed
//	redis+sentinel://[user:pass@]h1:26379,h2:26379/mastername[/db]
//	                                                  a Sentinel set-up (sentinel port 26379 by default);
//	                                                  rediss+sentinel:// for TLS
//
// user and pass (URL-escaped) authenticate to the Redis servers; Sentinels are contacted without
// credentials. A Cluster has no db. Query parameters are not accepted.
//
// The client has context timeouts enabled (a gRPC deadline reaches Redis reads), short dial, read
// and write timeouts, two retries (every write of this store is safe to repeat), and on a Cluster
// it sends reads to masters (ReadOnly false), so a read always sees the submission before it.
// A Cluster client also resends, for up to 0.775 s, a command refused because its hash slot is
// moving between masters (slotRetryHook).
func NewClient(addr string) (redis.UniversalClient, error) {
	t, err := parseTarget(addr)
	if err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{
		Addrs:                 t.addrs,
		ClientName:            "commentd",
		DB:                    t.db,
		Username:              t.user,
		Password:              t.password,
		MasterName:            t.master,
		IsClusterMode:         t.kind == "cluster",
		ReadOnly:              false,
		ContextTimeoutEnabled: true,
		DialTimeout:           dialTimeout,
		ReadTimeout:           readTimeout,
		WriteTimeout:          writeTimeout,
		PoolTimeout:           poolTimeout,
		MaxRetries:            maxRetries,
		DialerRetries:         dialAttempts,
	}
	if t.tls {
		// ServerName stays empty so each node's certificate is checked against its own host name.
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	rdb := redis.NewUniversalClient(opts)
	if t.kind == "cluster" {
		// Added first, so it wraps every hook added later (RoundTripHook counts each resend).
		rdb.AddHook(slotRetryHook{delays: slotRetryDelays})
	}
	return rdb, nil
}

// errAddr is wrapped by every address error, so messages never echo the password.
var errAddr = errors.New("redisstore: invalid redis address")

// errUnescaped is wrapped by the errors for a user name or password holding a character that
// would end it early ("/", "?", "#"), so the operator learns what to escape.
var errUnescaped = fmt.Errorf("%w: the user name and password must be URL-escaped", errAddr)

func parseTarget(addr string) (target, error) {
	var t target
	rest := strings.TrimSpace(addr)
	if rest == "" {
		return t, fmt.Errorf("%w: empty", errAddr)
	}
	scheme := ""
	if i := strings.Index(rest, "://"); i >= 0 {
		// A scheme is case-insensitive (RFC 3986, 3.1): "REDIS://" is go-redis's own redis://.
		scheme, rest = strings.ToLower(rest[:i]), rest[i+3:]
	}
	defaultPort := "6379"
	switch scheme {
	case "", "redis":
	case "rediss":
		t.tls = true
	case "redis+cluster":
		t.kind = "cluster"
	case "rediss+cluster":
		t.kind, t.tls = "cluster", true
	case "redis+sentinel":
		t.kind, defaultPort = "sentinel", "26379"
	case "rediss+sentinel":
		t.kind, defaultPort, t.tls = "sentinel", "26379", true
	default:
		return t, fmt.Errorf("%w: unknown scheme %q (want redis, rediss, redis+cluster or redis+sentinel)", errAddr, scheme)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if scheme != "" && !strings.Contains(hosts, "@") && strings.Contains(path, "@") {
		// user:pa/ss@host: the "/" ended the host list inside the password. Said without quoting
		// any part of the address, which would show part of the password.
		return t, fmt.Errorf("%w: write a \"/\" as %%2F", errUnescaped)
	}
	if at := strings.LastIndexByte(hosts, '@'); scheme != "" && at >= 0 && strings.ContainsAny(hosts[:at], "?#") {
		// user:pa#ss@host: not a query, but a password that needs escaping; "query parameters
		// are not supported" sent the operator looking for a "?" the address does not have.
		return t, fmt.Errorf("%w: write a \"?\" as %%3F and a \"#\" as %%23", errUnescaped)
	}
	if strings.ContainsAny(rest, "?#") {
		return t, fmt.Errorf("%w: query parameters are not supported", errAddr)
	}
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		if scheme == "" {
			return t, fmt.Errorf("%w: credentials need a scheme (redis://user:pass@host)", errAddr)
		}
		var err error
		if t.user, t.password, err = parseUserinfo(hosts[:at]); err != nil {
			return t, err
		}
		hosts = hosts[at+1:]
	}
	for _, h := range strings.Split(hosts, ",") {
		hp, err := hostPort(strings.TrimSpace(h), defaultPort)
		if err != nil {
			return t, err
		}
		t.addrs = append(t.addrs, hp)
	}
	var segs []string
	if path != "" {
		segs = strings.Split(strings.TrimSuffix(path, "/"), "/")
	}
	if t.kind == "sentinel" {
		if len(segs) == 0 || segs[0] == "" {
			return t, fmt.Errorf("%w: a sentinel address needs the master name: redis+sentinel://host:26379/mastername", errAddr)
		}
		t.master, segs = segs[0], segs[1:]
	}
	if t.kind == "" {
		t.kind = "standalone"
		if len(t.addrs) > 1 {
			t.kind = "cluster"
		}
	}
	switch {
	case len(segs) > 1:
		return t, fmt.Errorf("%w: unexpected path /%s", errAddr, path)
	case len(segs) == 1:
		db, err := strconv.Atoi(segs[0])
		if err != nil || db < 0 {
			return t, fmt.Errorf("%w: database %q is not a number", errAddr, segs[0])
		}
		if t.kind == "cluster" && db != 0 {
			return t, fmt.Errorf("%w: a Redis Cluster has only database 0", errAddr)
		}
		t.db = db
	}
	return t, nil
}

func parseUserinfo(s string) (user, password string, err error) {
	u, p, hasPass := strings.Cut(s, ":")
	if user, err = url.PathUnescape(u); err != nil {
		return "", "", fmt.Errorf("%w: user name is not URL-escaped", errAddr)
	}
	if hasPass {
		if password, err = url.PathUnescape(p); err != nil {
			return "", "", fmt.Errorf("%w: password is not URL-escaped", errAddr)
		}
	}
	return user, password, nil
}

func hostPort(s, defaultPort string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty host", errAddr)
	}
	host, port := s, defaultPort
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			// "[::1]" without a port
			if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
				host, port = s[1:len(s)-1], defaultPort
			} else {
				return "", fmt.Errorf("%w: host %q", errAddr, s)
			}
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return "", fmt.Errorf("%w: host %q", errAddr, s)
	}
	return net.JoinHostPort(host, port), nil
}
