// Package lang turns a directory of herald *.hcl files into a typed, checked
// Config: it decodes every block, resolves references between blocks, builds
// the CEL environment from the declared schemas, type-checks every expression
// and template hole, and runs the policy lints. It never prints; everything a
// user did wrong comes back as hcl.Diagnostics with a source range and a rule.
package lang

import (
	"os"
)

// Options says where variable values come from and how strict Load is.
type Options struct {
	// Vars are -var NAME=VALUE assignments, in the order given.
	Vars []string
	// VarFiles are -var-file paths, relative to the project directory.
	VarFiles []string
	// LookupEnv reads the environment for env() and HERALD_VAR_<name>.
	// Nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// NeedValues makes an env() of an unset variable an error. validate
	// leaves it false, since it never needs credentials; plan and apply set it.
	NeedValues bool
}

func (o Options) lookupEnv(name string) (string, bool) {
	if o.LookupEnv != nil {
		return o.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// FileText returns the bytes of every file Load read (HCL files and file()
// templates), keyed by the file name used in diagnostic ranges, so that a
// renderer can show the offending line.
func (c *Config) FileText() map[string][]byte { return c.sources }
