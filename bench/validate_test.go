// Package bench holds herald's end-to-end benchmarks. BenchmarkValidate
// times what `herald validate` does — read every file, parse, resolve,
// build the CEL environment, type-check every condition and template hole,
// run the policy lints — on generated projects of growing size, so that
// both the absolute time and the growth with project size are visible.
package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/projgen"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// sizes are the project scales: N campaigns, N segments and N/5 templates.
var sizes = []int{100, 1000, 10000}

// noEnv keeps the benchmark independent of the caller's environment.
func noEnv(string) (string, bool) { return "", false }

func BenchmarkValidate(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("size=%d", n), func(b *testing.B) {
			o := projgen.Size(n)
			dir := b.TempDir()
			if err := projgen.Write(dir, o); err != nil {
				b.Fatal(err)
			}
			bytesRead := projectBytes(b, dir)
			opts := lang.Options{LookupEnv: noEnv}

			// One untimed load to check that the project is valid: a
			// benchmark of a project that fails early would measure nothing.
			cfg, diags := lang.Load(dir, opts)
			if len(diags) > 0 {
				var buf bytes.Buffer
				_ = diag.WriteText(&buf, diags, cfg.FileText(), false)
				if buf.Len() > 8000 {
					buf.Truncate(8000)
					buf.WriteString("\n…")
				}
				b.Fatalf("size=%d: %d diagnostics:\n%s", n, len(diags), buf.String())
			}

			blocks := o.Blocks()
			b.SetBytes(bytesRead)
			b.ReportAllocs()
			iters := 0
			for b.Loop() {
				_, diags := lang.Load(dir, opts)
				if diags.HasErrors() {
					b.Fatal("diagnostics on a project that validated")
				}
				iters++
			}
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(iters)
			b.ReportMetric(float64(blocks), "blocks/op")
			b.ReportMetric(perOp/float64(blocks), "ns/block")
		})
	}
}

// projectBytes is the size of the files Load reads: the *.hcl files (the
// templates are inline).
func projectBytes(b *testing.B, dir string) int64 {
	matches, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			b.Fatal(err)
		}
		total += fi.Size()
	}
	return total
}
