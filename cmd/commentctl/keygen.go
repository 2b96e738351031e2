package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/commentd/commentd/internal/apikey"
)

func (c *cli) keygenCmd() *cobra.Command {
	var name, role, keysFile string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME --role site|moderator|admin",
		Short: "Generate a new API key (no server needed)",
		Long: `keygen generates a new random API token and the line that registers it in commentd's keys file.

The token is the secret: give it to whoever uses the key (a moderator's --token or
` + envToken + `, or the site backend's configuration). It is printed only once.
The keys-file line holds only the token's SHA-256; append it to the keys file the server reads.

The output is for people, with a comment line before each value: do not append it all to the keys
file, which would then hold the secret token, and which commentd would refuse (it names the line
holding a token, without printing it). With --keys-file FILE, keygen appends the line to FILE itself (created, mode 644, if
missing; nothing is written if FILE would not load, such as a NAME already in it) and prints only
the token, as one line, for a script to take. -o json prints both as "token" and "keysFileLine".

NAME is 1-64 letters, digits and ._@-, starting with a letter or digit, and is recorded with every
moderator decision; "system" and "retention" (in any case) are refused, as the audit log names the
server's own actions so.
Roles: site calls CommentService; moderator calls ModerationService except the
admin-only commands (spam train, spam eval, erase, export); admin calls everything.`,
		Example: `  commentctl keygen --name alice --role moderator
  commentctl keygen --name blog-backend --role site -o json
  TOKEN=$(commentctl keygen --name bob --role moderator --keys-file /etc/commentd/keys)`,
		Args: argCount(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usagef(cmd, "--name is required")
			}
			if !apikey.ValidName(name) {
				return usagef(cmd, "--name %q: want %s", name, apikey.NameRule)
			}
			if role == "" {
				return usagef(cmd, "--role is required: site, moderator or admin")
			}
			r, err := apikey.ParseRole(role)
			if err != nil {
				return usagef(cmd, "--role %q: want site, moderator or admin", role)
			}
			if keysFile != "" && c.output == "json" {
				return usagef(cmd, "--keys-file prints the token alone, not JSON: leave out -o json")
			}
			token, line, err := apikey.Generate(name, r)
			if err != nil {
				return fmt.Errorf("generate key: %w", err)
			}
			if keysFile != "" {
				if err := appendKeyLine(keysFile, line); err != nil {
					return err
				}
				_, err := fmt.Fprintln(c.stdout, token)
				return err
			}
			return c.printKey(name, r, token, line)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the key, recorded with decisions (required)")
	cmd.Flags().StringVar(&role, "role", "", "role of the key: site, moderator or admin (required)")
	cmd.Flags().StringVar(&keysFile, "keys-file", "", "append the keys-file line to this `FILE` and print only the token")
	completeValues(cmd, "role", "site", "moderator", "admin")
	return cmd
}

// appendKeyLine appends line to the keys file at path, creating it if missing, once the file with
// the line added is known to load: a name used twice, or a file already broken, would make commentd
// refuse every key in it at its next start or reload.
func appendKeyLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644) // hashes only, no token
	if err != nil {
		return fmt.Errorf("keys file: %w", err)
	}
	defer f.Close()
	old, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("keys file: read %s: %w", path, err)
	}
	add := line + "\n"
	if len(old) > 0 && old[len(old)-1] != '\n' {
		add = "\n" + add
	}
	if _, err := apikey.Parse(strings.NewReader(string(old) + add)); err != nil {
		return fmt.Errorf("keys file %s: nothing written, as commentd would refuse it with the new line: %w", path, err)
	}
	if _, err := f.WriteString(add); err != nil {
		return fmt.Errorf("keys file: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keys file: write %s: %w", path, err)
	}
	return nil
}

func (c *cli) printKey(name string, role apikey.Role, token, line string) error {
	if c.output == "json" {
		b, err := json.MarshalIndent(struct {
			Name         string `json:"name"`
			Role         string `json:"role"`
			Token        string `json:"token"`
			KeysFileLine string `json:"keysFileLine"`
		}{name, role.String(), token, line}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode key as json: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(c.stdout,
		"# Token: give it to the key's user (commentctl --token or %s, or the site's config). Shown only once.\n%s\n"+
			"# Keys-file line: append it to commentd's keys file (it holds only the token's SHA-256).\n%s\n",
		envToken, token, line)
	return err
}
