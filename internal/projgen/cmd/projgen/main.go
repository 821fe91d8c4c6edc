// Command projgen writes a generated herald project, for timing
// `herald validate` on a project of a given size:
//
//	go run ./internal/projgen/cmd/projgen -size 1000 -out /tmp/herald-1000
//	herald -chdir /tmp/herald-1000 validate
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/heraldhq/herald/internal/projgen"
)

func main() {
	size := flag.Int("size", 1000, "N: N campaigns, N segments and N/5 templates")
	campaigns := flag.Int("campaigns", -1, "number of campaigns (overrides -size)")
	segments := flag.Int("segments", -1, "number of segments (overrides -size)")
	templates := flag.Int("templates", -1, "number of templates (overrides -size)")
	perFile := flag.Int("per-file", 100, "blocks of one kind per file")
	seed := flag.Uint64("seed", 0, "varies conditions and copy")
	out := flag.String("out", "", "directory to write the project to (required)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: projgen [-size N] -out DIR")
		flag.PrintDefaults()
		os.Exit(2)
	}
	o := projgen.Size(*size)
	if *campaigns >= 0 {
		o.Campaigns = *campaigns
	}
	if *segments >= 0 {
		o.Segments = *segments
	}
	if *templates >= 0 {
		o.Templates = *templates
	}
	o.PerFile, o.Seed = *perFile, *seed
	if err := projgen.Write(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "projgen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d campaigns, %d segments, %d templates to %s\n", o.Campaigns, o.Segments, o.Templates, *out)
}
