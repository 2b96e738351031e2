package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	commentdv1 "github.com/commentd/commentd/proto/commentd/v1"
)

// writeConfig writes a config file with mode perm at dir/rel and returns its path.
func writeConfig(t *testing.T, dir, rel, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatalf("create config directory: %v", err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatalf("write config file: %v", err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(path, perm); err != nil {
		t.Fatalf("chmod config file: %v", err)
	}
	return path
}

// threadDouble answers GetThread, so "thread get" can show which server and token were used.
func threadDouble() *moderationDouble {
	d := &moderationDouble{}
	d.getThread = func(_ context.Context, req *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
		return &commentdv1.GetThreadResponse{Thread: &commentdv1.Thread{Name: req.GetName()}}, nil
	}
	return d
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	fileSrv := threadDouble() // the server the config file names
	fileAddr := serveDouble(t, fileSrv)
	envSrv := threadDouble() // the server the environment names
	envAddr := serveDouble(t, envSrv)

	tests := []struct {
		name       string
		rel        string // where the file goes below the temp dir
		flags      []string
		env        map[string]string // values may use {dir}
		wantServer *moderationDouble
		wantAuth   string
	}{
		{
			name:       "XDG_CONFIG_HOME file gives server and token",
			rel:        "xdg/commentctl/config.yaml",
			env:        map[string]string{envXDGConfig: "{dir}/xdg"},
			wantServer: fileSrv,
			wantAuth:   "Bearer file-token",
		},
		{
			name:       "HOME/.config when XDG_CONFIG_HOME is unset",
			rel:        "home/.config/commentctl/config.yaml",
			env:        map[string]string{envHome: "{dir}/home"},
			wantServer: fileSrv,
			wantAuth:   "Bearer file-token",
		},
		{
			name:       "XDG_CONFIG_HOME before HOME",
			rel:        "xdg/commentctl/config.yaml",
			env:        map[string]string{envXDGConfig: "{dir}/xdg", envHome: "{dir}/nowhere"},
			wantServer: fileSrv,
			wantAuth:   "Bearer file-token",
		},
		{
			name:       "--config names the file",
			rel:        "elsewhere.yaml",
			flags:      []string{"--config", "{dir}/elsewhere.yaml"},
			wantServer: fileSrv,
			wantAuth:   "Bearer file-token",
		},
		{
			name:       "environment beats the file",
			rel:        "xdg/commentctl/config.yaml",
			env:        map[string]string{envXDGConfig: "{dir}/xdg", envServer: "{env}", envToken: "env-token"},
			wantServer: envSrv,
			wantAuth:   "Bearer env-token",
		},
		{
			name:       "flags beat the environment and the file",
			rel:        "xdg/commentctl/config.yaml",
			flags:      []string{"--server", "{env}", "--token", "flag-token"},
			env:        map[string]string{envXDGConfig: "{dir}/xdg", envToken: "env-token"},
			wantServer: envSrv,
			wantAuth:   "Bearer flag-token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the two servers' recorded calls are shared by the cases.
			dir := t.TempDir()
			writeConfig(t, dir, tt.rel, "server: "+fileAddr+"\ntoken: file-token\ntimeout: 5s\n", 0o600)
			expand := func(s string) string {
				return strings.NewReplacer("{dir}", dir, "{env}", envAddr).Replace(s)
			}
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = expand(v)
			}
			var args []string
			for _, f := range tt.flags {
				args = append(args, expand(f))
			}
			args = append(args, "thread", "get", "t1")

			before := len(tt.wantServer.recorded())
			got := invocation{args: args, env: env}.run(t)
			if got.code != exitOK {
				t.Fatalf("%s with env %v: exit %d, stderr %q; want 0", cmdline(args), env, got.code, got.stderr)
			}
			calls := tt.wantServer.recorded()
			if len(calls) != before+1 {
				t.Fatalf("%s with env %v: the expected server got %d new calls; want 1", cmdline(args), env, len(calls)-before)
			}
			if diff := cmp.Diff([]string{tt.wantAuth}, calls[len(calls)-1].auth); diff != "" {
				t.Errorf("%s with env %v: authorization mismatch (-want +got):\n%s", cmdline(args), env, diff)
			}
		})
	}
}

func TestConfigRefusals(t *testing.T) {
	t.Parallel()
	d := threadDouble()
	addr := serveDouble(t, d)
	tests := []struct {
		name     string
		content  string
		perm     os.FileMode
		missing  bool // --config names a file that is not there
		wantCode int
	}{
		{name: "token readable by others", content: "server: " + addr + "\ntoken: secret\n", perm: 0o644, wantCode: exitUsage},
		{name: "token readable by group", content: "server: " + addr + "\ntoken: secret\n", perm: 0o640, wantCode: exitUsage},
		{name: "token writable by group", content: "server: " + addr + "\ntoken: secret\n", perm: 0o620, wantCode: exitUsage},
		{name: "no token, readable by all", content: "server: " + addr + "\n", perm: 0o644, wantCode: exitOK},
		{name: "unknown key", content: "server: " + addr + "\nservr: x\n", perm: 0o600, wantCode: exitUsage},
		{name: "bad timeout", content: "server: " + addr + "\ntimeout: soon\n", perm: 0o600, wantCode: exitUsage},
		{name: "not yaml", content: "server: [\n", perm: 0o600, wantCode: exitUsage},
		{name: "empty file", content: "", perm: 0o600, wantCode: exitOK},
		{name: "missing --config file", missing: true, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "missing.yaml")
			if !tt.missing {
				path = writeConfig(t, dir, "config.yaml", tt.content, tt.perm)
			}
			// The token for the cases whose file has none comes from the flag; the server from the
			// file or, for the failing cases, from the flag too.
			args := []string{"--config", path, "--server", addr, "--token", "flag-token", "thread", "get", "t1"}
			got := invocation{args: args}.run(t)
			if got.code != tt.wantCode {
				t.Errorf("%s (file mode %04o): exit %d (stderr %q); want %d", cmdline(args), tt.perm, got.code, got.stderr, tt.wantCode)
			}
			if tt.wantCode != exitOK && !strings.Contains(got.stderr, path) {
				t.Errorf("%s: stderr %q; want it to name the config file", cmdline(args), got.stderr)
			}
		})
	}
}

// TestConfigTLSEnv checks the TLS settings' precedence: flags > environment > file.
func TestConfigTLSEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, "c.yaml", "server: example.org:443\ntls: true\ntls-ca: ca.pem\n", 0o600)
	fileCA := filepath.Join(dir, "ca.pem")
	tests := []struct {
		name    string
		flags   []string
		env     map[string]string
		noFile  bool
		wantTLS bool
		wantCA  string
	}{
		{name: "file only", wantTLS: true, wantCA: fileCA},
		{name: "environment turns TLS off", env: map[string]string{envTLS: "0"}, wantTLS: false, wantCA: fileCA},
		{name: "environment CA beats the file", env: map[string]string{envTLSCA: "/env/ca.pem"}, wantTLS: true, wantCA: "/env/ca.pem"},
		{name: "flag CA beats the environment", flags: []string{"--tls-ca", "/flag/ca.pem"}, env: map[string]string{envTLSCA: "/env/ca.pem"}, wantTLS: true, wantCA: "/flag/ca.pem"},
		{name: "flag --tls=false beats the environment", flags: []string{"--tls=false"}, env: map[string]string{envTLS: "true"}, wantTLS: false, wantCA: fileCA},
		{name: "environment without a file", noFile: true, env: map[string]string{envTLS: "1", envTLSCA: "rel/ca.pem"}, wantTLS: true, wantCA: "rel/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The environment has no HOME or XDG_CONFIG_HOME, so without --config there is no file.
			c := &cli{env: func(k string) string { return tt.env[k] }}
			var args []string
			if !tt.noFile {
				args = []string{"--config", path}
			}
			args = append(append(args, tt.flags...), "stats")
			// Parse the flags and apply the globals as run would, without calling the server.
			cmd, rest, err := c.rootCmd().Find(args)
			if err != nil {
				t.Fatalf("find stats: %v", err)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatalf("parse flags %v: %v", rest, err)
			}
			if err := c.resolveGlobals(cmd); err != nil {
				t.Fatalf("resolveGlobals: %v", err)
			}
			if c.useTLS != tt.wantTLS || c.tlsCA != tt.wantCA {
				t.Errorf("%s with env %v: tls %v, tls-ca %q; want %v, %q", cmdline(args), tt.env, c.useTLS, c.tlsCA, tt.wantTLS, tt.wantCA)
			}
		})
	}
}

// TestConfigErrorText checks that a bad config file gives one line naming the file, the line and
// the key, and no pointer to --help: the command line is not at fault.
func TestConfigErrorText(t *testing.T) {
	t.Parallel()
	d := threadDouble()
	addr := serveDouble(t, d)
	const keys = " (keys: server, token, tls, tls-ca, timeout)"
	tests := []struct {
		name    string
		content string
		perm    os.FileMode
		want    string // the error after "commentctl: config file PATH: "
	}{
		{
			name:    "misspelt key",
			content: "server: " + addr + "\n# the key\n\n\n\ntokn: secret\n",
			want:    `line 6: unknown key "tokn"` + keys,
		},
		{
			name:    "two unknown keys",
			content: "servr: x\ntimeout: 5s\ntsl: true\n",
			want:    `line 1: unknown key "servr"; line 3: unknown key "tsl"` + keys,
		},
		{name: "not a mapping", content: "- server\n- token\n", want: `line 1: want "key: value" lines` + keys},
		{name: "bad bool", content: "tls: maybe\n", want: "line 1: cannot unmarshal !!str `maybe` into bool"},
		{name: "bad timeout", content: "timeout: soon\n", want: `timeout "soon": want a positive duration such as 10s`},
		{name: "not yaml", content: "server: [\n", want: "line 1: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, t.TempDir(), "config.yaml", tt.content, 0o600)
			args := []string{"--config", path, "--server", addr, "--token", "flag-token", "thread", "get", "t1"}
			got := invocation{args: args}.run(t)
			want := "commentctl: config file " + path + ": " + tt.want + "\n"
			if diff := cmp.Diff(want, got.stderr); diff != "" || got.code != exitUsage {
				t.Errorf("%s with %q: exit %d; want %d; stderr mismatch (-want +got):\n%s", cmdline(args), tt.content, got.code, exitUsage, diff)
			}
		})
	}
}

// TestConfigKeys keeps the keys that errors list in step with the keys fileConfig reads.
func TestConfigKeys(t *testing.T) {
	t.Parallel()
	var tags []string
	typ := reflect.TypeFor[fileConfig]()
	for i := range typ.NumField() {
		tags = append(tags, typ.Field(i).Tag.Get("yaml"))
	}
	if diff := cmp.Diff(tags, configKeys); diff != "" {
		t.Errorf("configKeys mismatch with fileConfig's yaml tags (-tags +configKeys):\n%s", diff)
	}
}

func TestConfigLooseTokenNeverSent(t *testing.T) {
	t.Parallel()
	d := threadDouble()
	addr := serveDouble(t, d)
	dir := t.TempDir()
	writeConfig(t, dir, "commentctl/config.yaml", "server: "+addr+"\ntoken: secret-from-file\n", 0o644)
	args := []string{"thread", "get", "t1"}
	got := invocation{args: args, env: map[string]string{envXDGConfig: dir}}.run(t)
	if got.code != exitUsage {
		t.Errorf("%s with a world-readable token file: exit %d; want %d", cmdline(args), got.code, exitUsage)
	}
	if !strings.Contains(got.stderr, "chmod 600") || strings.Contains(got.stderr, "--help") {
		t.Errorf("%s with a world-readable token file: stderr %q; want the chmod that fixes it and no pointer to --help", cmdline(args), got.stderr)
	}
	if calls := d.recorded(); len(calls) != 0 {
		t.Errorf("%s with a world-readable token file: %d calls; want none", cmdline(args), len(calls))
	}
}

func TestConfigTLSAndTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, "c.yaml", "server: example.org:443\ntoken: t\ntls: true\ntls-ca: certs/ca.pem\ntimeout: 3s\n", 0o600)
	c := &cli{env: func(string) string { return "" }}
	root := c.rootCmd()
	// Parse the flags and apply the globals as run would, without calling the server.
	cmd, rest, err := root.Find([]string{"--config", path, "--timeout", "7s", "stats"})
	if err != nil {
		t.Fatalf("find stats: %v", err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	if err := c.resolveGlobals(cmd); err != nil {
		t.Fatalf("resolveGlobals: %v", err)
	}
	got := struct {
		Server, Token, CA, Timeout string
		TLS                        bool
	}{c.server, c.token, c.tlsCA, c.timeout.String(), c.useTLS}
	want := struct {
		Server, Token, CA, Timeout string
		TLS                        bool
	}{"example.org:443", "t", filepath.Join(dir, "certs/ca.pem"), "7s", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("globals from %s with --timeout 7s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestConfigNotReadByOfflineCommands checks that the commands that never call the server (keygen,
// completion, and the completion engine the shell runs on every Tab) work whatever the config file
// and environment hold: they use neither, and a broken completion fails silently in the shell.
func TestConfigNotReadByOfflineCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeConfig(t, dir, "commentctl/config.yaml", "server: 127.0.0.1:1\ntoken: secret-from-file\n", 0o644)
	envs := []struct {
		name string
		env  map[string]string
	}{
		{name: "token file readable by others", env: map[string]string{envXDGConfig: dir}},
		{name: "bad " + envTLS, env: map[string]string{envTLS: "maybe"}},
	}
	tests := []struct {
		args []string
		want string // in stdout
	}{
		{args: []string{"keygen", "--name", "alice", "--role", "moderator"}, want: "cmd_"},
		{args: []string{"completion", "bash"}, want: "__start_commentctl"},
		{args: []string{"__complete", "queue", "--state", ""}, want: "pending"},
		{args: []string{"help", "queue"}, want: "queue lists"},
	}
	for _, e := range envs {
		for _, tt := range tests {
			t.Run(e.name+"/"+tt.args[0], func(t *testing.T) {
				t.Parallel()
				got := invocation{args: tt.args, env: e.env}.run(t)
				if got.code != exitOK || !strings.Contains(got.stdout, tt.want) {
					t.Errorf("%s with %v: exit %d, stdout %q, stderr %q; want exit 0 and %q in stdout",
						cmdline(tt.args), e.env, got.code, got.stdout, got.stderr, tt.want)
				}
			})
		}
	}
}

// TestRefusedTokenNamesItsSource checks that a refused token is traced to where it came from: with
// a stale token in the config file, "check --token or COMMENTCTL_TOKEN" sent the moderator to look
// where no token was set.
func TestRefusedTokenNamesItsSource(t *testing.T) {
	t.Parallel()
	d := &moderationDouble{}
	d.getThread = func(context.Context, *commentdv1.GetThreadRequest) (*commentdv1.GetThreadResponse, error) {
		return nil, statusErr(t, codes.Unauthenticated, "unknown API key", "API_KEY_INVALID")
	}
	addr := serveDouble(t, d)
	dir := t.TempDir()
	path := writeConfig(t, dir, "commentctl/config.yaml", "server: "+addr+"\ntoken: stale-token\n", 0o600)

	tests := []struct {
		name  string
		flags []string
		env   map[string]string
		want  string
	}{
		{name: "config file", env: map[string]string{envXDGConfig: dir}, want: "; check the token from the config file " + path + "\n"},
		{name: "environment over the file", env: map[string]string{envXDGConfig: dir, envToken: "env-token"}, want: "; check the token from " + envToken + "\n"},
		{name: "flag over both", flags: []string{"--token", "flag-token"}, env: map[string]string{envXDGConfig: dir, envToken: "env-token"}, want: "; check the token from --token\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(tt.flags, "thread", "get", "t1")
			got := invocation{args: args, env: tt.env}.run(t)
			if got.code != exitError {
				t.Errorf("%s with env %v: exit %d (stderr %q); want %d", cmdline(args), tt.env, got.code, got.stderr, exitError)
			}
			if !strings.HasSuffix(got.stderr, tt.want) {
				t.Errorf("%s with env %v: stderr %q; want it to end with %q", cmdline(args), tt.env, got.stderr, tt.want)
			}
		})
	}
}
