package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// envXDGConfig and envHome locate the default config file, as the XDG base directory spec says.
const (
	envXDGConfig = "XDG_CONFIG_HOME"
	envHome      = "HOME"
)

// configRelPath is the config file below the user's config directory.
const configRelPath = "commentctl/config.yaml"

// maxConfigSize bounds what we read: a config file is a handful of lines, anything bigger is a mistake.
const maxConfigSize = 64 << 10

// fileConfig is the content of a config file. Every key is optional; one left out keeps the default.
type fileConfig struct {
	Server  string `yaml:"server"`
	Token   string `yaml:"token"`
	TLS     *bool  `yaml:"tls"` // a pointer so "tls: false" in the file differs from no key
	TLSCA   string `yaml:"tls-ca"`
	Timeout string `yaml:"timeout"`
}

// configPath returns the config file to read and whether the user named it. It is --config when
// given, else $XDG_CONFIG_HOME/commentctl/config.yaml, else ~/.config/commentctl/config.yaml; ""
// when none of these can be formed.
func (c *cli) configPath(cmd *cobra.Command) (string, bool) {
	if cmd.Flags().Changed("config") {
		return c.configFile, true
	}
	// The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
	if dir := c.env(envXDGConfig); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, configRelPath), false
	}
	if home := c.env(envHome); home != "" {
		return filepath.Join(home, ".config", configRelPath), false
	}
	return "", false
}

// applyConfigFile fills the global flags the command line left unset from the config file. It runs
// before the environment fallbacks, which therefore win over the file: flags > environment > file >
// defaults. A missing default file is no error; a missing --config file is.
func (c *cli) applyConfigFile(cmd *cobra.Command) error {
	path, named := c.configPath(cmd)
	if path == "" {
		if named {
			return usagef(cmd, "--config is empty: give the path of a config file")
		}
		return nil
	}
	cfg, err := readConfig(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !named:
		return nil
	case err != nil:
		return &configError{err: err}
	}

	flags := cmd.Flags()
	if cfg.Server != "" && !flags.Changed("server") {
		c.server = cfg.Server
	}
	if cfg.Token != "" && !flags.Changed("token") {
		c.token, c.tokenFrom = cfg.Token, "the config file "+path
	}
	if cfg.TLS != nil && !flags.Changed("tls") {
		c.useTLS = *cfg.TLS
	}
	if cfg.TLSCA != "" && !flags.Changed("tls-ca") {
		ca := cfg.TLSCA
		if !filepath.IsAbs(ca) {
			// Relative to the file, so the file means the same whatever directory commentctl runs in.
			ca = filepath.Join(filepath.Dir(path), ca)
		}
		c.tlsCA = ca
	}
	if cfg.Timeout != "" && !flags.Changed("timeout") {
		d, err := time.ParseDuration(cfg.Timeout)
		if err != nil || d <= 0 {
			return &configError{err: fmt.Errorf("config file %s: timeout %q: want a positive duration such as 10s", path, cfg.Timeout)}
		}
		c.timeout = d
	}
	return nil
}

// readConfig reads and checks one config file. It refuses a file that holds a token when group or
// others may read it: the token is a moderator's credential.
func readConfig(path string) (fileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileConfig{}, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of what we read.
	info, err := f.Stat()
	if err != nil {
		return fileConfig{}, fmt.Errorf("config file: %w", err)
	}
	if info.IsDir() {
		return fileConfig{}, fmt.Errorf("config file %s is a directory", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return fileConfig{}, fmt.Errorf("config file: %w", err)
	}
	if len(b) > maxConfigSize {
		return fileConfig{}, fmt.Errorf("config file %s is larger than %d bytes", path, maxConfigSize)
	}

	cfg, err := decodeConfig(b)
	if err != nil {
		return fileConfig{}, fmt.Errorf("config file %s: %w", path, err)
	}
	cfg.Server = strings.TrimSpace(cfg.Server)
	cfg.Token = strings.TrimSpace(cfg.Token)
	cfg.TLSCA = strings.TrimSpace(cfg.TLSCA)
	cfg.Timeout = strings.TrimSpace(cfg.Timeout)

	// Windows has no such mode bits; its ACLs are out of our reach here.
	if cfg.Token != "" && runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return fileConfig{}, &looseConfigError{path: path, mode: info.Mode().Perm()}
	}
	return cfg, nil
}

// configKeys are the keys of fileConfig, as a config file spells them.
var configKeys = []string{"server", "token", "tls", "tls-ca", "timeout"}

// decodeConfig parses a config file's YAML. It checks the keys itself, a misspelt one being an
// error rather than ignored, because the decoder's own check names the Go type instead of the keys.
func decodeConfig(b []byte) (fileConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fileConfig{}, errors.New(yamlErrorText(err))
	}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" { // empty, or only comments
		return fileConfig{}, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fileConfig{}, fmt.Errorf("line %d: want \"key: value\" lines (keys: %s)", top.Line, strings.Join(configKeys, ", "))
	}
	var unknown []string
	for i := 0; i < len(top.Content); i += 2 { // a mapping's content alternates key, value
		if k := top.Content[i]; !slices.Contains(configKeys, k.Value) {
			unknown = append(unknown, fmt.Sprintf("line %d: unknown key %q", k.Line, k.Value))
		}
	}
	if len(unknown) > 0 {
		return fileConfig{}, fmt.Errorf("%s (keys: %s)", strings.Join(unknown, "; "), strings.Join(configKeys, ", "))
	}
	var cfg fileConfig
	if err := top.Decode(&cfg); err != nil {
		return fileConfig{}, errors.New(yamlErrorText(err))
	}
	return cfg, nil
}

// yamlErrorText is a YAML error on one line, without the "yaml: unmarshal errors:" preamble.
func yamlErrorText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return oneLine(strings.Join(te.Errors, "; "))
	}
	return strings.TrimPrefix(oneLine(err.Error()), "yaml: ")
}

// looseConfigError refuses a config file whose token others on the machine could read.
type looseConfigError struct {
	path string
	mode fs.FileMode
}

func (e *looseConfigError) Error() string {
	return fmt.Sprintf("config file %s holds a token but group or others can read it (mode %04o); "+
		"refusing to use it: run chmod 600 %s", e.path, e.mode, e.path)
}
