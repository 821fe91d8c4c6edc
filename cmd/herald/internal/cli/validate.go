package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

func (a *app) validateCmd() *cobra.Command {
	var (
		asJSON bool
		opts   lang.Options
	)
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration",
		Long: `Validate reads every *.hcl file in the project directory and checks it:
syntax, references between blocks, CEL expressions and template holes against
the declared schemas, and the compliance rules. It reads no data and needs no
credentials.

It exits 0 when the configuration is valid (warnings allowed) and 1 when it
has errors.`,
		Example: `  herald validate
  herald -chdir=examples/quickstart validate -json
  herald validate -var region=eu -var-file=prod.vars`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, diags := lang.Load(a.dir(), opts)
			var sources map[string][]byte
			if cfg != nil {
				sources = cfg.FileText()
			}
			errs, warns := diag.Count(diags)
			if asJSON {
				out, err := diag.MarshalJSON(diags, sources)
				if err != nil {
					return a.fail("%v", err)
				}
				fmt.Fprintf(a.stdout, "%s\n", out)
			} else {
				if len(diags) > 0 {
					a.writeDiags(a.stdout, diags, sources)
					fmt.Fprintln(a.stdout)
				}
				writeSummary(a.stdout, errs, warns, a.color(a.stdout))
			}
			if errs > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the result as JSON, for machines")
	f.StringArrayVar(&opts.Vars, "var", nil, "set the variable `NAME=VALUE`; may be repeated")
	f.StringArrayVar(&opts.VarFiles, "var-file", nil, "read variables from `FILE`; may be repeated")
	return cmd
}

// writeSummary ends validate's text output with one line that says whether
// the configuration is valid.
func writeSummary(w io.Writer, errs, warns int, color bool) {
	style := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + "\x1b[0m"
	}
	const bold, boldGreen, boldRed = "\x1b[1m", "\x1b[1;32m", "\x1b[1;31m"
	switch {
	case errs > 0:
		fmt.Fprintln(w, style(boldRed, fmt.Sprintf("%s, %s.", plural(errs, "error"), plural(warns, "warning"))))
	case warns > 0:
		were := "were"
		if warns == 1 {
			were = "was"
		}
		fmt.Fprintf(w, "%s %s\n", style(boldGreen, "Success!"),
			style(bold, fmt.Sprintf("The configuration is valid, but there %s %s.", were, plural(warns, "warning"))))
	default:
		fmt.Fprintf(w, "%s %s\n", style(boldGreen, "Success!"), style(bold, "The configuration is valid."))
	}
}

// plural returns "1 error", "2 errors".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
