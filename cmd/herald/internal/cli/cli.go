// Package cli is herald's command line: the cobra command tree, its flags,
// output formats and exit codes. Run is the whole program; cmd/herald only
// hands it the process's arguments and streams.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/lang/diag"
)

// Version is herald's version. Release builds set it with
//
//	-ldflags "-X github.com/heraldhq/herald/cmd/herald/internal/cli.Version=v1.2.3"
//
// When it is empty, the module version recorded in the binary is used, or
// "dev" when there is none.
var Version string

// exitCode is returned by a command that has already told the user what
// went wrong and wants the process to exit with that code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// app is what every command shares: the streams and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	chdir   string // -chdir
	noColor bool   // -no-color
}

// Run runs herald with args (without the program name) and returns the
// process exit code: 0 on success, 1 on any error, including a
// configuration with errors and a usage mistake.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(doubleDash(args))
	cmd, err := root.ExecuteC()
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		// Everything else comes from cobra: an unknown command or flag, or
		// the wrong number of arguments.
		fmt.Fprintf(stderr, "Error: %s\n", strings.TrimRight(err.Error(), "\n"))
		fmt.Fprintf(stderr, "Run '%s -help' for usage.\n", cmd.CommandPath())
		return 1
	}
}

const longHelp = `Herald compiles campaigns written as code — audiences, templates, consent
and compliance rules in *.hcl files — checks them, and sends them.

Flags are written with one dash, as in terraform (-json, -chdir=DIR), or with
two (--json); both mean the same.`

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Campaigns as code",
		Long:          longHelp,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.checkChdir()
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetVersionTemplate("herald {{.Version}}\n")
	root.SetUsageFunc(usage)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return errors.New(oneDash(err.Error()))
	})

	pf := root.PersistentFlags()
	pf.StringVar(&a.chdir, "chdir", "", "switch to `DIR` before doing anything")
	pf.BoolVar(&a.noColor, "no-color", false, "print no colours (also when NO_COLOR is set)")

	root.AddCommand(
		a.validateCmd(),
		a.planCmd(),
		a.applyCmd(),
		a.showCmd(),
		a.fmtCmd(),
		a.initCmd(),
		a.versionCmd(),
		a.stateCmd(), a.forceUnlockCmd(),
		a.ingestCmd(),
		a.runCmd(), a.journeysCmd(), a.campaignCmd(),
	)
	return root
}

// checkChdir reports a -chdir directory that is not one.
func (a *app) checkChdir() error {
	if a.chdir == "" {
		return nil
	}
	fi, err := os.Stat(a.chdir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(a.stderr, "Error: -chdir: the directory %s does not exist\n", a.chdir)
		return exitCode(1)
	case err != nil:
		fmt.Fprintf(a.stderr, "Error: -chdir: %v\n", err)
		return exitCode(1)
	case !fi.IsDir():
		fmt.Fprintf(a.stderr, "Error: -chdir: %s is not a directory\n", a.chdir)
		return exitCode(1)
	}
	return nil
}

// dir is the project directory: -chdir, or the current directory.
func (a *app) dir() string {
	if a.chdir == "" {
		return "."
	}
	return a.chdir
}

// path resolves a path the user gave relative to the project directory,
// which is how -chdir behaves in terraform: as if herald had been started
// there. The result is still relative when the user's path and -chdir were.
func (a *app) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(a.dir(), p)
}

// color reports whether output to w may use ANSI colours: not with
// -no-color or a non-empty NO_COLOR (https://no-color.org), always with a
// non-empty CLICOLOR_FORCE other than "0", otherwise only on a terminal.
func (a *app) color(w io.Writer) bool {
	if a.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	if v := os.Getenv("CLICOLOR_FORCE"); v != "" && v != "0" {
		return true
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// writeDiags renders diags for people on w, in colour if w takes it.
func (a *app) writeDiags(w io.Writer, diags hcl.Diagnostics, sources map[string][]byte) {
	diag.WriteText(w, diags, sources, a.color(w))
}

// fail tells the user what went wrong and makes herald exit 1.
func (a *app) fail(format string, args ...any) error {
	fmt.Fprintf(a.stderr, "Error: "+format+"\n", args...)
	return exitCode(1)
}

// longFlag is a flag written with one dash, as terraform users write them:
// -json, -chdir=DIR, -var-file. A single letter (-h) is a shorthand and is
// left alone.
var longFlag = regexp.MustCompile(`^-[a-z][a-z0-9-]+(=.*)?$`)

// doubleDash rewrites one-dash long flags to the two dashes cobra expects.
// Arguments after "--" are not flags and stay as they are.
func doubleDash(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, arg := range out {
		if arg == "--" {
			break
		}
		if longFlag.MatchString(arg) {
			out[i] = "-" + arg
		}
	}
	return out
}

// dashedFlag finds a long flag spelled with two dashes in cobra's output.
var dashedFlag = regexp.MustCompile(`(^|[\s:])--([a-z])`)

// oneDash spells flags in s the way herald documents them: -json.
func oneDash(s string) string {
	return dashedFlag.ReplaceAllString(s, "${1}-${2}")
}

// usage is cobra's usage text with flags spelled with one dash.
func usage(c *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if c.Runnable() {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s [command]\n", c.CommandPath())
	}
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\nCommands:\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				fmt.Fprintf(&b, "  %-*s %s\n", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", oneDash(c.LocalFlags().FlagUsages()))
	}
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(&b, "\nGlobal flags:\n%s", oneDash(c.InheritedFlags().FlagUsages()))
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nUse \"%s [command] -help\" for more about a command.\n", c.CommandPath())
	}
	_, err := io.WriteString(c.OutOrStderr(), b.String())
	return err
}

// versionString is herald's version, Go version and platform.
func versionString() string {
	v := Version
	if v == "" {
		v = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("%s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print herald's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(a.stdout, "herald %s\n", versionString())
			return err
		},
	}
}
