package config

import (
	"bytes"

	"github.com/commentd/commentd/internal/privacy"
)

// Changed returns the names of the settings (as flags and config-file keys name them) whose values
// differ between a and b, in the order commentd -h lists them. commentd compares the configuration
// it started with to the one a reload (SIGHUP) reads, to put the changed abuse controls in force
// and to warn of the other changes, which only a restart applies. Secrets are compared, never
// returned.
func Changed(a, b *Config) []string {
	var out []string
	for _, st := range settings() {
		same := st.same
		if same == nil {
			same = func(a, b *Config) bool { return st.show(a) == st.show(b) }
		}
		if !same(a, b) {
			out = append(out, st.name)
		}
	}
	return out
}

// IsAbuse reports whether name is one of the abuse controls' settings (see Abuse): the settings a
// reload puts in force without a restart.
func IsAbuse(name string) bool {
	for _, st := range abuseSettings() {
		if st.name == name {
			return true
		}
	}
	return false
}

func sameKey(a, b privacy.Key) bool { return a.ID == b.ID && bytes.Equal(a.Secret, b.Secret) }

// FileEmpty reports whether the config file gave no setting at all: it is empty, or holds only
// comments and blank lines. A reload takes such a file for one caught while it was being written
// (an editor or a deploy tool that writes in place empties it first); read as it is, it would put
// every abuse control back at its default. Without a config file it reports false.
func (c *Config) FileEmpty() bool { return c.ConfigFile != "" && len(c.fileKeys) == 0 }
