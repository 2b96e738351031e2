package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/resolver"
)

// Exit codes of commentctl.
const (
	exitOK    = 0
	exitError = 1 // the call failed: the server refused it, or it could not be reached
	exitUsage = 2 // the command line or the config file is wrong; nothing was sent
)

// Environment variables that stand in for flags left unset.
const (
	envServer = "COMMENTCTL_SERVER"
	envToken  = "COMMENTCTL_TOKEN"
	envTLS    = "COMMENTCTL_TLS"
	envTLSCA  = "COMMENTCTL_TLS_CA"
)

const defaultServer = "127.0.0.1:7070"

// usageError is a mistake on the command line. It exits with exitUsage and points at --help.
type usageError struct {
	cmdPath string // the command whose help explains the mistake
	err     error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmdPath: cmd.CommandPath(), err: fmt.Errorf(format, args...)}
}

// configError is a mistake in the config file or the environment. Like a usage error, nothing was sent and it exits
// with exitUsage; but the command's --help would not explain it, so it points at no help.
type configError struct {
	err error
}

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// cli holds one invocation's streams and global flags. Each run builds its own, so runs share nothing.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string

	server      string
	token       string
	tokenFrom   string // where the token in force came from, for the hint on a refused one
	timeout     time.Duration
	useTLS      bool
	tlsCA       string
	tlsInsecure bool
	output      string
	configFile  string
}

// run executes one commentctl command line (args without the program name) and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "commentctl: %v\n", ue.err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.cmdPath)
		return exitUsage
	}
	var ce *configError
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "commentctl: %v\n", ce.err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "commentctl: %v\n", err)
	return exitError
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "commentctl",
		Short: "Moderate comments on a commentd server",
		Long: `commentctl is the moderators' tool for commentd. It lists the moderation queue, shows,
approves and rejects comments, changes a thread's moderation settings, and generates API keys.

Every command except keygen and completion calls the server at --server with the API key in --token
(a key of role "moderator" or "admin"). Flags left unset fall back to the environment:
  ` + envServer + `   the server address (default ` + defaultServer + `)
  ` + envToken + `    the API token
  ` + envTLS + `      true (or 1) to connect with TLS, as --tls
  ` + envTLSCA + `   the CA file, as --tls-ca
and then to the config file (--config, default ~/.config/commentctl/config.yaml or
$XDG_CONFIG_HOME/commentctl/config.yaml) with the keys server, token, tls, tls-ca and timeout.
A file holding a token must not be readable by group or others (chmod 600).

Exit status: 0 on success, 1 when a call fails, 2 when the command line, the environment or the
config file is wrong.`,
		Example: `  export ` + envToken + `=cmd_...
  commentctl review
  commentctl queue
  commentctl show 01HZX3K9
  commentctl approve 01HZX3K9 01HZX3KA
  commentctl reject 01HZX3KB --reason "advertising"`,
		// Our own RunE turns stray arguments into a usage error with suggestions; leaving Args nil
		// would make cobra return its own plain error for them.
		Args:              cobra.ArbitraryArgs,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			return missingSubcommand(cmd, args)
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return c.resolveGlobals(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmdPath: cmd.CommandPath(), err: err}
	})

	pf := root.PersistentFlags()
	pf.StringVar(&c.server, "server", defaultServer, "commentd address as host:port (env "+envServer+")")
	pf.StringVar(&c.token, "token", "", "API token of a moderator or admin key (env "+envToken+")")
	pf.DurationVar(&c.timeout, "timeout", 10*time.Second, "maximum time for each call to the server")
	pf.BoolVar(&c.useTLS, "tls", false, "connect with TLS (plaintext by default; env "+envTLS+")")
	pf.StringVar(&c.tlsCA, "tls-ca", "", "PEM `file` of the CA that signed the server's certificate (implies --tls; env "+envTLSCA+")")
	// No environment variable or config key: turning verification off should show on the command line.
	pf.BoolVar(&c.tlsInsecure, "tls-insecure", false, "do not verify the server's certificate, for testing only (implies --tls)")
	pf.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	completeValues(root, "output", "table", "json")
	pf.StringVar(&c.configFile, "config", "", "config `file` with server, token, tls, tls-ca and timeout (default $XDG_CONFIG_HOME/commentctl/config.yaml or ~/.config/commentctl/config.yaml)")

	root.AddCommand(
		c.keygenCmd(),
		c.queueCmd(),
		c.showCmd(),
		c.decideCmd(actApprove),
		c.decideCmd(actReject),
		c.decideCmd(actReopen),
		c.threadCmd(),
		c.banCmd(), c.bansCmd(), c.unbanCmd(),
		c.spamCmd(), c.notSpamCmd(), c.filtersCmd(),
		c.watchCmd(),
		c.bulkCmd(),
		c.auditCmd(),
		c.statsCmd(),
		c.eraseCmd(),
		c.exportCmd(),
		c.completionCmd(),
		c.reviewCmd(),
	)
	return root
}

// resolveGlobals applies the config file and environment fallbacks and checks the global flags.
func (c *cli) resolveGlobals(cmd *cobra.Command) error {
	if !offline(cmd) {
		if err := c.applyConfigFile(cmd); err != nil {
			return err
		}
		if err := c.applyEnv(cmd); err != nil {
			return err
		}
	}
	if cmd.Flags().Changed("token") {
		c.tokenFrom = "--token"
	}
	c.server = strings.TrimSpace(c.server)
	c.token = strings.TrimSpace(c.token)
	if c.server == "" {
		return usagef(cmd, "--server is empty: give the commentd address as host:port")
	}
	// A URL is the likeliest mistake: gRPC would read "https://host" as a host named "https" and
	// fail at the first call with "too many colons", after warning that the token goes in clear.
	// Targets with a scheme gRPC knows (dns:///host:port, unix:///path) are left to it.
	if scheme, rest, ok := strings.Cut(c.server, "://"); ok && resolver.Get(strings.ToLower(scheme)) == nil {
		addr, hint := strings.TrimSuffix(rest, "/"), ""
		port := "7070"
		switch strings.ToLower(scheme) {
		case "http":
			port = "80"
		case "https":
			port, hint = "443", " with --tls"
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, port)
		}
		return usagef(cmd, "--server %q is a URL: give the commentd gRPC address as host:port, such as %s%s",
			c.server, addr, hint)
	}
	if c.timeout <= 0 {
		return usagef(cmd, "--timeout must be positive, got %s", c.timeout)
	}
	switch c.output {
	case "table", "json":
	default:
		return usagef(cmd, "-o %q: want table or json", c.output)
	}
	return nil
}

// offline reports whether cmd never calls the server: keygen, completion, help, and the requests
// the shell's completion script sends on every Tab. They use nothing from the config file or the
// environment, so a config file refused for its mode, or a bad COMMENTCTL_TLS, must not stop them;
// a failing completion request would only leave Tab silently dead.
func offline(cmd *cobra.Command) bool {
	if !cmd.HasParent() || cmd.Parent() != cmd.Root() {
		return false
	}
	switch cmd.Name() {
	case "keygen", "completion", "help", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return true
	}
	return false
}

// applyEnv fills the global flags the command line left unset from the environment. It runs after
// the config file, so the environment wins over it.
func (c *cli) applyEnv(cmd *cobra.Command) error {
	flags := cmd.Flags()
	if v := c.env(envServer); v != "" && !flags.Changed("server") {
		c.server = v
	}
	if v := c.env(envToken); v != "" && !flags.Changed("token") {
		c.token, c.tokenFrom = v, envToken
	}
	if v := c.env(envTLS); v != "" && !flags.Changed("tls") {
		on, err := strconv.ParseBool(strings.TrimSpace(v)) // what --tls=VALUE takes
		if err != nil {
			return &configError{err: fmt.Errorf("%s=%q: want true or false (1 or 0)", envTLS, v)}
		}
		c.useTLS = on
	}
	if v := strings.TrimSpace(c.env(envTLSCA)); v != "" && !flags.Changed("tls-ca") {
		c.tlsCA = v
	}
	return nil
}

// missingSubcommand is the RunE of commands that only group others.
func missingSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usagef(cmd, "%s needs a command", cmdName(cmd))
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{cmdPath: cmd.CommandPath(), err: errors.New(msg)}
}

// argCount returns an argument check that wants between min and max arguments (max < 0: no limit)
// and names what is missing in its usage error. An empty or blank argument (show "", or a shell
// variable that was not set) is a usage error too, before anything is sent: no command takes one,
// and the server would only refuse it.
func argCount(minN, maxN int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		switch {
		case len(a) < minN:
			return usagef(cmd, "%s needs %s", cmdName(cmd), what)
		case maxN >= 0 && len(a) > maxN:
			return usagef(cmd, "%s takes %s, got %d: %s", cmdName(cmd), what, len(a), strings.Join(a, " "))
		}
		for i, v := range a {
			v = strings.TrimSpace(v)
			if v == "" {
				return usagef(cmd, "%s: argument %d is empty; want %s", cmdName(cmd), i+1, what)
			}
			// "comments/$ID" with ID unset names no resource; sent, it would come back as the
			// server's refusal of the name, which does not say the command line is at fault.
			switch v {
			case "comments/", "threads/", "bans/", "filters/": // the resource names taken beside bare ids
				return usagef(cmd, "%s: argument %d is only the prefix %q; want %s", cmdName(cmd), i+1, v, what)
			}
		}
		return nil
	}
}

// blankFlag refuses --name given an empty or blank value, which is what --name "$V" becomes with V
// unset. Sent as if the flag were not given, it would widen or unguard the command it was given to
// narrow or guard. hint says what to do instead.
func blankFlag(cmd *cobra.Command, name, hint string) error {
	f := cmd.Flags().Lookup(name)
	if f == nil || !f.Changed || strings.TrimSpace(f.Value.String()) != "" {
		return nil
	}
	return usagef(cmd, "--%s is empty; %s", name, hint)
}

// cmdName is the command path without the program name, as error messages already start with it.
func cmdName(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}
