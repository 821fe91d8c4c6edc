package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/rogpeppe/go-internal/diff"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/lang"
)

type fmtFlags struct {
	check, diff, recursive bool
}

func (a *app) fmtCmd() *cobra.Command {
	var f fmtFlags
	cmd := &cobra.Command{
		Use:   "fmt [FILE|DIR...]",
		Short: "Rewrite *.hcl files in the canonical format",
		Long: `Fmt rewrites *.hcl files in herald's canonical layout and prints the name of
each file it changed. With no arguments it formats the project directory; a
DIR argument formats the *.hcl files in DIR (and below, with -recursive), a
FILE argument that file, and - reads standard input and writes the result to
standard output.

A file with a syntax error is left as it is: fmt prints the error and exits 1.
With -check, fmt writes nothing and exits 1 when some file is not formatted.`,
		Example: `  herald fmt
  herald fmt -check -diff
  herald fmt -recursive examples`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runFmt(f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.check, "check", false, "write nothing; list the files that are not formatted and exit 1 if any")
	fl.BoolVar(&f.diff, "diff", false, "print the changes as a unified diff")
	fl.BoolVar(&f.recursive, "recursive", false, "also format the directories below each DIR")
	return cmd
}

// fmtRun is the state of one herald fmt.
type fmtRun struct {
	a       *app
	flags   fmtFlags
	changed bool
	diags   hcl.Diagnostics
	sources map[string][]byte
}

func (a *app) runFmt(flags fmtFlags, args []string) error {
	if len(args) == 0 {
		args = []string{"."}
	}
	r := &fmtRun{a: a, flags: flags, sources: map[string][]byte{}}
	failed := false
	for _, arg := range args {
		if err := r.target(arg); err != nil {
			fmt.Fprintf(a.stderr, "Error: %v\n", err)
			failed = true
		}
	}
	if len(r.diags) > 0 {
		a.writeDiags(a.stderr, r.diags, r.sources)
	}
	if failed || r.diags.HasErrors() || (flags.check && r.changed) {
		return exitCode(1)
	}
	return nil
}

// target formats what one argument names: standard input, a file or a
// directory.
func (r *fmtRun) target(arg string) error {
	if arg == "-" {
		return r.stdin()
	}
	fi, err := os.Stat(r.a.path(arg))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("there is no file or directory %s", arg)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if filepath.Ext(arg) != ".hcl" {
			return fmt.Errorf("%s: only *.hcl files can be formatted", arg)
		}
		return r.file(arg)
	}
	files, err := hclFiles(r.a.path(arg), r.flags.recursive)
	if err != nil {
		return err
	}
	for _, rel := range files {
		name := filepath.Join(arg, rel)
		if err := r.file(name); err != nil {
			return err
		}
	}
	return nil
}

// hclFiles lists the *.hcl files in dir, relative to it and in lexical
// order; below dir too when recursive, skipping hidden directories such as
// .git and .herald.
func hclFiles(dir string, recursive bool) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && filepath.Ext(path) == ".hcl" {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// file formats the file the user knows as name.
func (r *fmtRun) file(name string) error {
	path := r.a.path(name)
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, ok := r.format(name, src)
	if !ok || bytes.Equal(src, out) {
		return nil
	}
	r.changed = true
	fmt.Fprintln(r.a.stdout, name)
	if r.flags.diff {
		r.a.stdout.Write(diff.Diff("old/"+name, src, "new/"+name, out))
	}
	if r.flags.check {
		return nil
	}
	// WriteFile keeps the mode of an existing file.
	return os.WriteFile(path, out, 0o644)
}

// stdin formats standard input to standard output.
func (r *fmtRun) stdin() error {
	src, err := io.ReadAll(r.a.stdin)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	const name = "<stdin>"
	out, ok := r.format(name, src)
	if !ok {
		return nil
	}
	if !bytes.Equal(src, out) {
		r.changed = true
	}
	switch {
	case r.flags.diff:
		r.a.stdout.Write(diff.Diff("old/"+name, src, "new/"+name, out))
	case !r.flags.check:
		r.a.stdout.Write(out)
	}
	return nil
}

// format formats src, or records why it cannot.
func (r *fmtRun) format(name string, src []byte) ([]byte, bool) {
	out, diags := lang.FormatFile(name, src)
	if len(diags) > 0 {
		r.diags = append(r.diags, diags...)
		r.sources[name] = src
	}
	return out, !diags.HasErrors()
}
