package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/commentd/commentd/internal/apikey"
)

func (c *cli) keygenCmd() *cobra.Command {
	var name, role string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME --role site|moderator|admin",
		Short: "Generate a new API key (no server needed)",
		Long: `keygen generates a new random API token and the line that registers it in commentd's keys file.

The token is the secret: give it to whoever uses the key (a moderator's --token or
` + envToken + `, or the site backend's configuration). It is printed only once.
The keys-file line holds only the token's SHA-256; append it to the keys file the server reads.

NAME is 1-64 letters, digits and ._@-, starting with a letter or digit, and is recorded with every
moderator decision; "system" and "retention" (in any case) are refused, as the audit log names the
server's own actions so.
Roles: site calls CommentService; moderator calls ModerationService except the
admin-only commands (spam train, spam eval, erase, export); admin calls everything.`,
		Example: `  commentctl keygen --name alice --role moderator
  commentctl keygen --name blog-backend --role site -o json`,
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
			token, line, err := apikey.Generate(name, r)
			if err != nil {
				return fmt.Errorf("generate key: %w", err)
			}
			return c.printKey(name, r, token, line)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the key, recorded with decisions (required)")
	cmd.Flags().StringVar(&role, "role", "", "role of the key: site, moderator or admin (required)")
	completeValues(cmd, "role", "site", "moderator", "admin")
	return cmd
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
