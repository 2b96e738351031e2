package main

import (
	"github.com/spf13/cobra"
)

// completeValues makes the shell offer values for a flag that takes one of a fixed set.
func completeValues(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	})
}

// completionCmd prints a shell completion script. It replaces cobra's default completion command,
// which the root disables, so it can carry installation examples and our usage errors.
func (c *cli) completionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `completion prints a script that teaches your shell to complete commentctl's commands and flags
(and the values of flags such as --state and --kinds). It needs no server.

Load it in the current shell, or install it once as the examples show; open a new shell afterwards.
For bash, either way needs the bash-completion package (without it every Tab prints
"_get_comp_words_by_ref: command not found"). For zsh, completion must be enabled
("autoload -U compinit; compinit" in ~/.zshrc).`,
		Example: `  # bash (both need the bash-completion package), this shell only:
  source <(commentctl completion bash)
  # bash, for good:
  commentctl completion bash > ~/.local/share/bash-completion/completions/commentctl

  # zsh, for good: a directory on $fpath
  mkdir -p ~/.zfunc && commentctl completion zsh > ~/.zfunc/_commentctl
  echo 'fpath=(~/.zfunc $fpath); autoload -U compinit; compinit' >> ~/.zshrc

  # fish:
  commentctl completion fish > ~/.config/fish/completions/commentctl.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      argCount(1, 1, "one shell: bash, zsh or fish"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(c.stdout, true)
			case "zsh":
				return root.GenZshCompletion(c.stdout)
			case "fish":
				return root.GenFishCompletion(c.stdout, true)
			}
			return usagef(cmd, "unknown shell %q: want bash, zsh or fish", args[0])
		},
	}
}
