package cli

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// scaffold is the project herald init writes. Its gitignore is written as
// .gitignore: a file of that name here would be one for this repository.
//
//go:embed scaffold
var scaffold embed.FS

func (a *app) initCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Create a small project to start from",
		Long: `Init writes a small herald project into DIR (the current directory by
default): main.hcl with a sender, a schema, a CSV data source, consent, a
segment, a template and a campaign that sends to a local outbox, the data
and template files it names, and a .gitignore. The project validates as it is.

Init refuses a directory that already holds *.hcl files, and never
overwrites a file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return a.runInit(dir)
		},
	}
}

// scaffoldFile is one file of the scaffold and where it goes.
type scaffoldFile struct {
	src, dest string // slash-separated; src in scaffold, dest in the project
}

func scaffoldFiles() ([]scaffoldFile, error) {
	var files []scaffoldFile
	err := fs.WalkDir(scaffold, "scaffold", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dest := strings.TrimPrefix(p, "scaffold/")
		if dest == "gitignore" {
			dest = ".gitignore"
		}
		files = append(files, scaffoldFile{src: p, dest: dest})
		return nil
	})
	slices.SortFunc(files, func(x, y scaffoldFile) int { return strings.Compare(x.dest, y.dest) })
	return files, err
}

func (a *app) runInit(arg string) error {
	dir := a.path(arg)
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return a.fail("%s is not a directory", dir)
	}
	if hcl, _ := filepath.Glob(filepath.Join(dir, "*.hcl")); len(hcl) > 0 {
		return a.fail("%s already holds a herald configuration (%s); init only starts new projects",
			dir, filepath.Base(hcl[0]))
	}
	files, err := scaffoldFiles()
	if err != nil {
		return a.fail("%v", err)
	}

	// Check every file before writing any, so that a refusal leaves the
	// directory as it was.
	for _, f := range files {
		if f.dest == ".gitignore" {
			continue // added to, below
		}
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f.dest))); err == nil {
			return a.fail("%s already exists; init never overwrites a file", filepath.Join(dir, filepath.FromSlash(f.dest)))
		}
	}

	var done []string
	for _, f := range files {
		data, err := scaffold.ReadFile(f.src)
		if err != nil {
			return a.fail("%v", err)
		}
		dest := filepath.Join(dir, filepath.FromSlash(f.dest))
		if f.dest == ".gitignore" {
			added, err := addIgnores(dest, data)
			if err != nil {
				return a.fail("%v", err)
			}
			if added {
				done = append(done, f.dest)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return a.fail("%v", err)
		}
		if err := os.WriteFile(dest, data, 0o644); err != nil {
			return a.fail("%v", err)
		}
		done = append(done, f.dest)
	}

	where, next := "the current directory", "herald validate"
	if dir != "." {
		where, next = dir, "herald -chdir="+dir+" validate"
	}
	fmt.Fprintf(a.stdout, "Created a herald project in %s:\n", where)
	for _, f := range done {
		fmt.Fprintf(a.stdout, "  %s\n", f)
	}
	fmt.Fprintf(a.stdout, "\nNext: %s\n", next)
	return nil
}

// addIgnores writes the .gitignore at dest, or appends to an existing one
// the lines of want that it lacks. It reports whether it changed anything.
func addIgnores(dest string, want []byte) (bool, error) {
	have, err := os.ReadFile(dest)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return false, err
		}
		return true, os.WriteFile(dest, want, 0o644)
	}
	if err != nil {
		return false, err
	}
	present := map[string]bool{}
	for _, l := range strings.Split(string(have), "\n") {
		present[strings.TrimSpace(l)] = true
	}
	var add bytes.Buffer
	for _, l := range strings.Split(string(want), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && !present[l] {
			add.WriteString(l + "\n")
		}
	}
	if add.Len() == 0 {
		return false, nil
	}
	if len(have) > 0 && !bytes.HasSuffix(have, []byte("\n")) {
		have = append(have, '\n')
	}
	return true, os.WriteFile(dest, append(have, add.Bytes()...), 0o644)
}
