// Package config reads commentd's configuration at start-up, from (lowest to highest precedence)
// built-in defaults, a YAML config file, COMMENTD_* environment variables and command-line flags,
// and validates it before anything starts. commentd reads it again the same way on SIGHUP, for the
// abuse controls only (Changed, IsAbuse).
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/privacy"
)

// DefaultRedisURL is -redis-url's default: a Redis on this machine's standard port.
const DefaultRedisURL = "redis://127.0.0.1:6379"

// defaultRedisPrefix is -redis-prefix's default, the store's own (redisstore.DefaultPrefix).
const defaultRedisPrefix = "commentd:v1:"

// Config is commentd's whole configuration.
type Config struct {
	Dev             bool
	GRPCAddr        string
	HTTPAddr        string
	RedisURL        string
	RedisPrefix     string
	KeysFile        string
	EncryptionKeys  []privacy.Key
	HashKey         []byte
	ModerationMode  comment.Mode
	MaxBodyChars    int
	MaxNameChars    int
	AcceptDataLoss  bool
	TLSCert         string
	TLSKey          string
	LogLevel        string
	ShutdownTimeout time.Duration
	ShutdownDelay   time.Duration
	RedisTimeout    time.Duration
	RedisWait       time.Duration // how long start-up waits for Redis; 0 not at all
	ConfigFile      string
	Abuse           Abuse    // rate limits, duplicate control, bans: see abuse.go
	Workflow        Workflow // readers' reports, thread auto-close: see workflow.go
	Spam            Spam     // the spam checks: see spam.go
	Pprof           bool     // serve Go's profiler under /debug/pprof/ on the HTTP port

	fileKeys []string // keys the config file set, so -dev knows which defaults it may change
}

// setting is one scalar option: its flag name (also its key in the config file), environment
// variable, default and how to apply a string value. One table drives flags, env and file alike,
// so the three can never drift apart.
type setting struct {
	name, env, def, usage string
	boolean               bool
	apply                 func(c *Config, v string) error
	show                  func(c *Config) string
	// node, when set, reads the key from the config file, where it may be more than one value (a
	// list); without it the file must give a single value, read by apply.
	node func(c *Config, n *yaml.Node) error
	// same, when set, compares the setting's values in two configurations (Changed), for settings
	// whose show hides part of the value (secrets, a count); without it their shows are compared.
	same func(a, b *Config) bool
}

// The functions below turn a pointer to a Config field into the table's apply and show pair for
// one kind of value, so every section of the table parses its values alike.

func stringField(p func(*Config) *string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *p(c) = v; return nil }, func(c *Config) string { return *p(c) }
}

func boolField(p func(*Config) *bool) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*p(c) = b
			return nil
		}, func(c *Config) string {
			return strconv.FormatBool(*p(c))
		}
}

func intField(p func(*Config) *int) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want a whole number, got %q", v)
			}
			*p(c) = n
			return nil
		}, func(c *Config) string {
			return strconv.Itoa(*p(c))
		}
}

func floatField(p func(*Config) *float64) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("want a number, got %q", v)
			}
			*p(c) = f
			return nil
		}, func(c *Config) string {
			return strconv.FormatFloat(*p(c), 'g', -1, 64)
		}
}

func durationField(p func(*Config) *time.Duration) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("want a duration such as 10s, got %q", v)
			}
			*p(c) = d
			return nil
		}, func(c *Config) string {
			return p(c).String()
		}
}

// scalar is a table row for a single value.
func scalar(name, env, def, usage string, apply func(*Config, string) error, show func(*Config) string) setting {
	return setting{name: name, env: env, def: def, usage: usage, apply: apply, show: show}
}

func settings() []setting {
	var out []setting
	a, s := boolField(func(c *Config) *bool { return &c.Dev })
	st := scalar("dev", "COMMENTD_DEV", "false", "try-it-now mode: embedded in-memory Redis (data is lost at exit), generated keys, loopback addresses; never for production", a, s)
	st.boolean = true
	out = append(out, st)
	a, s = stringField(func(c *Config) *string { return &c.GRPCAddr })
	out = append(out, scalar("grpc-addr", "COMMENTD_GRPC_ADDR", ":7070", "gRPC listen address (-dev: 127.0.0.1:7070)", a, s))
	a, s = stringField(func(c *Config) *string { return &c.HTTPAddr })
	out = append(out, scalar("http-addr", "COMMENTD_HTTP_ADDR", ":7071", "HTTP listen address for /metrics (-dev: 127.0.0.1:7071)", a, s))
	a, _ = stringField(func(c *Config) *string { return &c.RedisURL })
	s = func(c *Config) string { return maskRedisPassword(c.RedisURL) }
	st = scalar("redis-url", "COMMENTD_REDIS_URL", DefaultRedisURL, "Redis: redis://[user:pass@]host:port[/db], rediss:// for TLS, a Cluster as redis://h1:p1,h2:p2,... or redis+cluster://h1:p1 (one seed), Sentinel as redis+sentinel://h1:p1,h2:p2/master (rediss+... for TLS)", a, s)
	st.same = func(a, b *Config) bool { return a.RedisURL == b.RedisURL } // show masks the password
	out = append(out, st)
	a, s = stringField(func(c *Config) *string { return &c.RedisPrefix })
	out = append(out, scalar("redis-prefix", "COMMENTD_REDIS_PREFIX", defaultRedisPrefix, "prefix of every Redis key (lets several sites share one Redis); not empty, without { or }", a, s))
	a, s = stringField(func(c *Config) *string { return &c.KeysFile })
	out = append(out, scalar("keys", "COMMENTD_KEYS", "", "API keys file: one \"name role sha256hex\" line per key (make lines with commentctl keygen)", a, s))
	out = append(out, setting{name: "encryption-keys", env: "COMMENTD_ENCRYPTION_KEYS",
		usage: "AES-256 keys for email/IP at rest: \"id:base64,id:base64\"; the first seals, all open (rotation)",
		apply: func(c *Config, v string) error {
			if v == "" {
				c.EncryptionKeys = nil
				return nil
			}
			keys, err := privacy.ParseKeys(v)
			c.EncryptionKeys = keys
			if err != nil {
				return fmt.Errorf("%w (%s)", err, keyHint(encryptionSecrets(v)))
			}
			return nil
		},
		show: func(c *Config) string {
			ids := make([]string, len(c.EncryptionKeys))
			for i, k := range c.EncryptionKeys {
				ids[i] = k.ID + ":***"
			}
			return strings.Join(ids, ",")
		},
		same: func(a, b *Config) bool { return slices.EqualFunc(a.EncryptionKeys, b.EncryptionKeys, sameKey) }})
	out = append(out, setting{name: "hash-key", env: "COMMENTD_HASH_KEY",
		usage: "HMAC-SHA256 key (base64, 32 bytes) for author/IP lookup hashes; changing it orphans bans and counters",
		apply: func(c *Config, v string) error {
			if v == "" {
				c.HashKey = nil
				return nil
			}
			b, err := privacy.DecodeSecret(v)
			c.HashKey = b
			if err != nil {
				return fmt.Errorf("%w (%s)", err, keyHint([]string{v}))
			}
			return nil
		},
		show: func(c *Config) string {
			if len(c.HashKey) == 0 {
				return ""
			}
			return "***"
		},
		same: func(a, b *Config) bool { return bytes.Equal(a.HashKey, b.HashKey) }})
	out = append(out, setting{name: "moderation-mode", env: "COMMENTD_MODERATION_MODE", def: "post",
		usage: "site-wide default: pre (every comment waits for a moderator, except those of authors trusted by -spam-trust-after) or post (published unless a check holds it)",
		apply: func(c *Config, v string) error {
			// "default" means "the site's mode" for a thread; the site's own mode must be one.
			m, err := comment.ParseMode(v)
			if err != nil || m == comment.ModeDefault {
				return fmt.Errorf("want pre or post, got %q", v)
			}
			c.ModerationMode = m
			return nil
		},
		show: func(c *Config) string { return c.ModerationMode.String() }})
	a, s = intField(func(c *Config) *int { return &c.MaxBodyChars })
	out = append(out, scalar("max-body-chars", "COMMENTD_MAX_BODY_CHARS", "5000", "longest comment body, in characters", a, s))
	a, s = intField(func(c *Config) *int { return &c.MaxNameChars })
	out = append(out, scalar("max-name-chars", "COMMENTD_MAX_NAME_CHARS", "100", "longest author name, in characters", a, s))
	a, s = boolField(func(c *Config) *bool { return &c.AcceptDataLoss })
	st = scalar("accept-data-loss", "COMMENTD_ACCEPT_DATA_LOSS", "false", "start even when Redis may evict keys or has AOF off (comments can be lost); -dev implies it", a, s)
	st.boolean = true
	out = append(out, st)
	a, s = stringField(func(c *Config) *string { return &c.TLSCert })
	out = append(out, scalar("tls-cert", "COMMENTD_TLS_CERT", "", "PEM certificate file: serve gRPC over TLS (with -tls-key)", a, s))
	a, s = stringField(func(c *Config) *string { return &c.TLSKey })
	out = append(out, scalar("tls-key", "COMMENTD_TLS_KEY", "", "PEM private key file for -tls-cert", a, s))
	a, s = stringField(func(c *Config) *string { return &c.LogLevel })
	out = append(out, scalar("log-level", "COMMENTD_LOG_LEVEL", "info", "debug, info, warn or error", a, s))
	a, s = durationField(func(c *Config) *time.Duration { return &c.ShutdownTimeout })
	out = append(out, scalar("shutdown-timeout", "COMMENTD_SHUTDOWN_TIMEOUT", "15s", "how long SIGTERM waits for in-flight calls before stopping hard", a, s))
	a, s = durationField(func(c *Config) *time.Duration { return &c.ShutdownDelay })
	out = append(out, scalar("shutdown-delay", "COMMENTD_SHUTDOWN_DELAY", "0s", "how long SIGTERM goes on taking new calls, with health NOT_SERVING, before it drains (for load balancers that learn late)", a, s))
	a, s = durationField(func(c *Config) *time.Duration { return &c.RedisTimeout })
	out = append(out, scalar("redis-timeout", "COMMENTD_REDIS_TIMEOUT", "2s", "upper bound of a whole gRPC call, all its Redis calls together, when the caller set no shorter deadline (erasures, exports and reseal bound each Redis call by it instead)", a, s))
	a, s = durationField(func(c *Config) *time.Duration { return &c.RedisWait })
	out = append(out, scalar("redis-wait", "COMMENTD_REDIS_WAIT", "5m", "how long start-up waits for Redis to answer and pass the start-up checks (health NOT_SERVING, calls UNAVAILABLE meanwhile) before it gives up and exits; 0 exits at the first failure. A configuration error (wrong password, TLS, AOF off without -accept-data-loss) exits at once", a, s))
	out = append(out, abuseSettings()...)
	out = append(out, workflowSettings()...)
	out = append(out, spamSettings()...)
	a, s = boolField(func(c *Config) *bool { return &c.Pprof })
	st = scalar("pprof", "COMMENTD_PPROF", "false", "serve Go's profiler at /debug/pprof/ on -http-addr, for performance work: never on an address others can reach", a, s)
	st.boolean = true
	out = append(out, st)
	return out
}

// keyHint says, for a refused secret key, in which encoding keys are read and how to make one.
// When one of secrets is hex it says so: 64 hex digits are 32 bytes, but read as base64 they are
// 48, and "want 32 bytes, got 48" alone sent operators looking for a key of another length. It
// never repeats a secret.
func keyHint(secrets []string) string {
	for _, s := range secrets {
		if isHex(strings.TrimSpace(s)) {
			return "this key looks like hex, and keys are read as base64: convert it with xxd -r -p <<< KEY | base64, or make a new one with openssl rand -base64 32"
		}
	}
	return fmt.Sprintf("a key is %d random bytes in base64: make one with openssl rand -base64 32", privacy.KeySize)
}

// encryptionSecrets returns the secret part of each "id:secret" entry of an -encryption-keys list.
func encryptionSecrets(list string) []string {
	var out []string
	for _, part := range strings.Split(list, ",") {
		if _, secret, ok := strings.Cut(part, ":"); ok {
			out = append(out, secret)
		}
	}
	return out
}

// isHex reports whether s is 2*privacy.KeySize hexadecimal digits: a key of the right size in
// the encoding commentd does not read.
func isHex(s string) bool {
	if len(s) != 2*privacy.KeySize {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// maskRedisPassword replaces the password of a Redis address (scheme://user:pass@hosts/...) with
// "***", so the start-up log shows which server and user without the secret. The credentials end
// at the last "@" of the whole address, not of the part before the first "/": a password with a
// "/" left unescaped (common in base64-made passwords) is refused by the parser later, but the
// start-up log is written before that and must not show it either. The same goes for an address
// without a scheme (user:pass@host), which the parser refuses too.
func maskRedisPassword(u string) string {
	scheme, rest := "", u
	if i := strings.Index(u, "://"); i >= 0 {
		scheme, rest = u[:i+3], u[i+3:]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return u
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return u
	}
	return scheme + user + ":***" + rest[at:]
}

// UnknownEnv returns the names in environ (as os.Environ gives it) that look like commentd's
// (COMMENTD_...) but are no setting's, sorted: a misspelt variable is otherwise ignored without a
// word and leaves its setting at the default, where the config file refuses a misspelt key. The
// test harness's and the benchmark's own variables (COMMENTD_TEST_..., COMMENTD_BENCH_...) are
// not reported. Only names are returned, never values.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{"COMMENTD_CONFIG": true}
	for _, st := range settings() {
		known[st.env] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "COMMENTD_") || known[name] ||
			strings.HasPrefix(name, "COMMENTD_TEST_") || strings.HasPrefix(name, "COMMENTD_BENCH_") {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// ErrHelp is returned when -h or -help was asked for; the usage was printed.
var ErrHelp = flag.ErrHelp

// Load parses the server's command line, args (without the program name), with env as the
// environment lookup. The usage is written to usage when -h asks for it; a bad flag is an error.
func Load(args []string, env func(string) string, usage io.Writer) (*Config, error) {
	return load(args, env, usage, command{
		name: "commentd",
		intro: "Usage: commentd [flags]\n" +
			"       commentd reseal [-dry-run] [flags]   seal stored emails and IPs again with the first encryption key (commentd reseal -h)\n",
		serves: true,
	})
}

// ResealOptions are the flags of "commentd reseal" beyond the server's settings.
type ResealOptions struct {
	DryRun bool // count the sealed values per key; write nothing
}

// LoadReseal parses the command line of "commentd reseal" (args after "reseal"). It reads the
// server's settings from the same flags, environment and config file, so the job runs with the
// servers' configuration as it is, plus the command's own -dry-run. Settings the job has no use
// for (addresses to listen on, the API keys file) are accepted and not required.
func LoadReseal(args []string, env func(string) string, usage io.Writer) (*Config, ResealOptions, error) {
	var opts ResealOptions
	c, err := load(args, env, usage, command{
		name: "commentd reseal",
		intro: "Usage: commentd reseal [-dry-run] [flags]\n\n" +
			"Seals every stored email and IP address that a key other than the first of -encryption-keys\n" +
			"sealed again with the first key, and prints the sealed values per key before and after, so\n" +
			"you know when an old key is no longer used. Run it with the servers' configuration, while\n" +
			"they serve; it is safe to stop and to run again. Exits 1 if some values do not open.\n",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&opts.DryRun, "dry-run", false, "only count the sealed values per key (and those that do not open); write nothing")
		},
		check: func(c *Config) error {
			if c.Dev {
				return errors.New("dev: reseal works on the servers' Redis; -dev's embedded Redis starts empty")
			}
			return nil
		},
	})
	return c, opts, err
}

// command is what commentd was started to do, for the parts of loading that differ.
type command struct {
	name   string                 // as the usage names it
	intro  string                 // usage text before the flags
	serves bool                   // the server: needs what serving calls needs (the API keys)
	flags  func(fs *flag.FlagSet) // the command's own flags, if any
	check  func(c *Config) error  // the command's own validation, if any
}

func load(args []string, env func(string) string, usage io.Writer, cmd command) (*Config, error) {
	table := settings()
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	// The flag package prints a bad flag's error and then the whole usage, some hundred lines
	// that push the error off the screen, and the caller prints the error again. The usage is
	// printed below when asked for (-h), and a bad flag is returned as one line.
	fs.SetOutput(io.Discard)
	values := make(map[string]*flagValue, len(table))
	for _, st := range table {
		v := &flagValue{boolean: st.boolean, s: st.def}
		values[st.name] = v
		help := st.usage + " (env " + st.env + ")"
		fs.Var(v, st.name, help)
		fs.Lookup(st.name).DefValue = usageDefault(st)
	}
	configFile := fs.String("config", env("COMMENTD_CONFIG"), "YAML config file; its keys are the flag names; SIGHUP reads it again for the abuse controls (env COMMENTD_CONFIG)")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(usage, "%s\nPrecedence: flags > COMMENTD_* environment > -config file > defaults; a variable set to \"\" counts as unset.\n\n", cmd.intro)
		fs.SetOutput(usage)
		fs.PrintDefaults()
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w (%s -h lists the flags)", err, cmd.name)
	}
	switch {
	case fs.NArg() > 0 && cmd.serves && fs.Arg(0) == "reseal":
		return nil, errors.New("the command goes first: commentd reseal [flags]")
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q (all settings are flags)", fs.Arg(0))
	}

	c := &Config{ConfigFile: *configFile}
	for _, st := range table {
		if err := st.apply(c, st.def); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", st.name, err)) // a bug in the table above
		}
	}
	var errs []error
	failed := map[string]bool{} // settings whose value given in the file, the environment or a flag was refused
	if c.ConfigFile != "" {
		if err := c.loadFile(table, failed); err != nil {
			errs = append(errs, err)
		}
	}
	for _, st := range table {
		if v, ok := lookupEnv(env, st.env); ok {
			if err := st.apply(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", st.env, err))
				failed[st.name] = true
			}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, st := range table {
		if set[st.name] {
			if err := st.apply(c, values[st.name].s); err != nil {
				errs = append(errs, fmt.Errorf("-%s: %w", st.name, err))
				failed[st.name] = true
			}
		}
	}
	if c.Dev {
		// -dev binds to loopback unless told otherwise: a try-it-now server must not be reachable from the network.
		if !set["grpc-addr"] && env("COMMENTD_GRPC_ADDR") == "" && !c.fileHas("grpc-addr") {
			c.GRPCAddr = "127.0.0.1:7070"
		}
		if !set["http-addr"] && env("COMMENTD_HTTP_ADDR") == "" && !c.fileHas("http-addr") {
			c.HTTPAddr = "127.0.0.1:7071"
		}
		c.AcceptDataLoss = true
	}
	// Every problem at once: the settings' own errors, then what validation finds in the rest.
	errs = append(errs, withoutFailed(c.validate(cmd.serves), failed))
	if cmd.check != nil {
		errs = append(errs, cmd.check(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// usageDefault is the default -h shows for st. Every setting is the same flag.Value type, so the
// flag package cannot do for them what it does for its own kinds: leave out a boolean's false
// ("(default false)" after every switch that is off) and quote a text ("(default default)" for
// -rate-limits). A number or a duration reads well bare; "" shows no default at all.
func usageDefault(st setting) string {
	switch {
	case st.boolean && st.def == "false", st.def == "":
		return ""
	case st.boolean:
		return st.def
	}
	if _, err := strconv.ParseFloat(st.def, 64); err == nil {
		return st.def
	}
	if d, err := time.ParseDuration(st.def); err == nil {
		return shortDuration(d)
	}
	return strconv.Quote(st.def)
}

// shortDuration is d as the README and the flags' examples write it: a default taken from a
// constant (spam.DefaultCampaignWindow) would otherwise read "1h0m0s" beside "5m" and "15s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// withoutFailed drops validate's complaints about settings whose given value (in the config file,
// the environment or a flag) was refused already:
// a refused -encryption-keys leaves the setting empty, and "encryption-keys: required" after the
// real error would send the operator looking for a setting they did give.
func withoutFailed(err error, failed map[string]bool) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(failed) == 0 {
		return err
	}
	var keep []error
	for _, e := range j.Unwrap() {
		if name, _, _ := strings.Cut(e.Error(), ":"); !failed[name] {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

// lookupEnv reads a setting's variable; one set to "" counts as unset, as a compose file or a
// Kubernetes manifest that passes ${VAR} through leaves it when VAR is not set.
func lookupEnv(env func(string) string, name string) (string, bool) {
	v := env(name)
	return v, v != ""
}

func (c *Config) fileHas(key string) bool {
	for _, k := range c.fileKeys {
		if k == key {
			return true
		}
	}
	return false
}

// loadFile applies the config file's keys, recording in failed the settings whose value it refused.
func (c *Config) loadFile(table []setting, failed map[string]bool) error {
	raw, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	doc, lines, err := parseFile(raw)
	if err != nil {
		return fmt.Errorf("config file %s: %w", c.ConfigFile, err)
	}
	byName := make(map[string]setting, len(table))
	for _, st := range table {
		byName[st.name] = st
	}
	var errs []error
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	// In the file's order, so the errors read from top to bottom.
	sort.Slice(keys, func(i, j int) bool {
		if li, lj := lines[keys[i]], lines[keys[j]]; li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		// The key's line, where the operator looks for it; none for a key merged from elsewhere.
		at := "config file " + c.ConfigFile
		if n := lines[k]; n > 0 {
			at += fmt.Sprintf(": line %d", n)
		}
		v := doc[k]
		node := deref(&v)
		st, ok := byName[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key %q%s", at, k, suggest(k, table)))
			continue
		}
		if st.node != nil {
			if err := st.node(c, node); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", at, k, err))
				failed[k] = true
			}
			c.fileKeys = append(c.fileKeys, k)
			continue
		}
		if node.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s: %s: want a single value", at, k))
			failed[k] = true
			continue
		}
		if err := st.apply(c, scalarValue(node)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", at, k, err))
			failed[k] = true
		}
		c.fileKeys = append(c.fileKeys, k)
	}
	return errors.Join(errs...)
}

// parseFile reads a config file's settings, by key. The file is one YAML document: a second one
// (after a "---" line) is refused, as yaml.Unmarshal would read the first and drop the rest without
// a word, and a setting moved below such a line (files put together with cat, a template that
// ends each part with "---") would keep its default. A "---" with nothing after it is no document.
//
// It also returns the line of each key written in the file (not of those merged into it with "<<").
func parseFile(raw []byte) (map[string]yaml.Node, map[string]int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var root yaml.Node
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
		return nil, nil, nil // empty, or only comments
	case err != nil:
		return nil, nil, err
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if len(next.Content) > 0 && next.Content[0].ShortTag() != "!!null" {
			return nil, nil, fmt.Errorf("line %d: a second YAML document (after \"---\"); commentd reads one, so put every setting in it", next.Line)
		}
	}
	var doc map[string]yaml.Node
	if err := root.Decode(&doc); err != nil {
		return nil, nil, err
	}
	lines := map[string]int{}
	if len(root.Content) > 0 && root.Content[0].Kind == yaml.MappingNode {
		m := root.Content[0].Content
		for i := 0; i+1 < len(m); i += 2 {
			lines[m[i].Value] = m[i].Line
		}
	}
	return doc, lines, nil
}

// suggest names the setting an unknown config-file key k was most likely meant for, as the end of
// the error's sentence, or returns "". The usual slips: a variable's spelling (COMMENTD_REDIS_URL,
// redis_url), a flag's dash (-redis-url), a letter or two wrong.
func suggest(k string, table []setting) string {
	norm := strings.TrimLeft(strings.ReplaceAll(strings.ToLower(k), "_", "-"), "-")
	norm = strings.TrimPrefix(norm, "commentd-")
	best, bestDist := "", 3 // at most two edits away
	for _, st := range table {
		if st.name == norm {
			return fmt.Sprintf(" (did you mean %s?)", st.name)
		}
		if d := editDistance(norm, st.name); d < bestDist {
			best, bestDist = st.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes (setting names are ASCII).
// Written here: cobra's own is unexported, and a module for these few lines, run once per refused
// key, would be more to keep up to date than the lines themselves.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// deref is n, or, for an alias (*name), the node its anchor (&name) marks: YAML lets a value be
// written once and named again, and the settings read it as if it were written out. Without this
// "duplicate-window: *window" was refused as "want a single value", which it is.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalarValue is the value of a config file's scalar: "" for YAML's null in each of its
// spellings ("key:", "key: ~", "key: null"), which all mean no value; yaml keeps the text of the
// last two, and "tls-cert: ~" had commentd open a file named "~".
func scalarValue(n *yaml.Node) string {
	if n.ShortTag() == "!!null" {
		return ""
	}
	return n.Value
}

// validate checks the combination of settings; serves says whether they are the server's (a
// one-shot job such as reseal needs no API keys file).
func (c *Config) validate(serves bool) error {
	var errs []error
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("grpc-addr is empty"))
	}
	if c.HTTPAddr == "" {
		// net.Listen would take "" as every interface and a random port: /metrics (and -pprof)
		// served where nobody looks for them.
		errs = append(errs, errors.New("http-addr is empty"))
	}
	if c.RedisURL == "" && !c.Dev {
		errs = append(errs, errors.New("redis-url is empty"))
	}
	switch {
	case c.RedisPrefix == "":
		// The store would put its keys under its default prefix while the start-up log said "".
		errs = append(errs, errors.New("redis-prefix is empty (the default is "+defaultRedisPrefix+")"))
	case strings.ContainsAny(c.RedisPrefix, "{}"):
		// The store refuses it too, but only once Redis answers: while Redis is away, start-up
		// would wait for it (up to -redis-wait) to report a mistake in the configuration.
		errs = append(errs, fmt.Errorf("redis-prefix %q: must not hold '{' or '}', which would move the keys' Cluster hash slots", c.RedisPrefix))
	}
	if !c.Dev {
		if c.KeysFile == "" && serves {
			errs = append(errs, errors.New("keys: an API keys file is required (make lines with: commentctl keygen --name NAME --role ROLE)"))
		}
		if len(c.EncryptionKeys) == 0 {
			errs = append(errs, errors.New("encryption-keys: required (COMMENTD_ENCRYPTION_KEYS=\"k1:<base64 of 32 random bytes>\")"))
		}
		if len(c.HashKey) == 0 {
			errs = append(errs, errors.New("hash-key: required (COMMENTD_HASH_KEY=<base64 of 32 random bytes>)"))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.MaxBodyChars < 1 || c.MaxBodyChars > 100000 {
		errs = append(errs, fmt.Errorf("max-body-chars %d: want 1 to 100000", c.MaxBodyChars))
	}
	if c.MaxNameChars < 1 || c.MaxNameChars > 1000 {
		errs = append(errs, fmt.Errorf("max-name-chars %d: want 1 to 1000", c.MaxNameChars))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout %s: must be positive", c.ShutdownTimeout))
	}
	if c.ShutdownDelay < 0 {
		errs = append(errs, fmt.Errorf("shutdown-delay %s: must not be negative", c.ShutdownDelay))
	}
	if c.RedisTimeout <= 0 {
		errs = append(errs, fmt.Errorf("redis-timeout %s: must be positive", c.RedisTimeout))
	}
	if c.RedisWait < 0 {
		errs = append(errs, fmt.Errorf("redis-wait %s: must not be negative (0 does not wait)", c.RedisWait))
	}
	errs = append(errs, c.Abuse.validate()...)
	errs = append(errs, c.Workflow.validate()...)
	errs = append(errs, c.Spam.validate()...)
	return errors.Join(errs...)
}

// LogAttrs returns every setting for one start-up log line, with secrets masked.
func (c *Config) LogAttrs() []any {
	var attrs []any
	for _, st := range settings() {
		attrs = append(attrs, strings.ReplaceAll(st.name, "-", "_"), st.show(c))
	}
	attrs = append(attrs, "config", c.ConfigFile)
	return attrs
}

type flagValue struct {
	s       string
	boolean bool
}

func (v *flagValue) String() string     { return v.s }
func (v *flagValue) Set(s string) error { v.s = s; return nil }
func (v *flagValue) IsBoolFlag() bool   { return v.boolean }
