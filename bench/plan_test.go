package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/bench/barescan"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	_ "github.com/heraldhq/herald/providers/all"
	"github.com/heraldhq/herald/state"
)

// BenchmarkPlan times planner.Make over generated customers, in process,
// next to a bare encoding/csv scan that parses and filters the same file
// in one goroutine: the ratio (plan/scan, reported by the plan
// sub-benchmark) is the figure to watch. The ledger holds a week of
// earlier sends (SeedLedger), so the frequency cap removes customers.
// BenchmarkPlanBinary times the real binary, with its peak RSS.
func BenchmarkPlan(b *testing.B) {
	dir := planData(b)
	var scanNs float64
	b.Run("csv-scan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n, err := barescan.Scan(filepath.Join(dir, "data", "customers.csv"), PlanNow)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatal("the bare scan selected no one")
			}
		}
		scanNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(scanNs/float64(*planRows), "ns/customer")
	})
	b.Run("plan", func(b *testing.B) {
		ctx := context.Background()
		load := loadAverage()
		cfg, diags := lang.Load(dir, lang.Options{})
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		st, err := state.Open(ctx, dir, cfg.Herald.State)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		var capped int64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: PlanNow})
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			if p.Summary.Messages == 0 {
				b.Fatal("the plan sends nothing")
			}
			c, _ := funnelStep(p, "campaign.winback", "frequency_cap")
			if capped = c.Removed; capped == 0 {
				b.Fatal("the frequency cap removed no one: is the ledger seeded?")
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(ns/float64(*planRows), "ns/customer")
		if scanNs > 0 {
			b.ReportMetric(ns/scanNs, "plan/scan")
		}
		b.ReportMetric(float64(capped), "capped")
		if load >= 0 {
			b.ReportMetric(load, "load1")
		}
	})
}
