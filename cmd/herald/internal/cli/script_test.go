package cli_test

import (
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/heraldhq/herald/cmd/herald/internal/cli"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script from what herald printed")

// TestMain lets the test binary play herald: testscript runs it under that
// name for each "exec herald" in a script.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"herald": func() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the user stories in testdata/script, one per file: the
// files a user wrote, the commands they typed, what they saw.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}
