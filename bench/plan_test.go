package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	_ "github.com/heraldhq/herald/providers/all"
	"github.com/heraldhq/herald/state"
)

var planRows = flag.Int("plan.rows", 1_000_000, "customers in the plan benchmark")

// benchNow is the plan's fixed time, the generator's reference time.
var benchNow = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

var (
	planDirOnce sync.Once
	planDir     string
	planDirErr  error
)

// planData writes the project and its data once per benchmark binary.
func planData(b *testing.B) string {
	planDirOnce.Do(func() {
		planDir, planDirErr = os.MkdirTemp("", "herald-bench-plan-")
		if planDirErr != nil {
			return
		}
		planDirErr = WritePlanProject(planDir, *planRows)
	})
	if planDirErr != nil {
		b.Fatal(planDirErr)
	}
	return planDir
}

// BenchmarkPlan times herald plan over generated customers next to a bare
// encoding/csv scan that parses and filters the same file in one
// goroutine: the ratio is the figure to watch.
func BenchmarkPlan(b *testing.B) {
	dir := planData(b)
	b.Run("csv-scan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n, err := bareScan(filepath.Join(dir, "data", "customers.csv"))
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatal("the bare scan selected no one")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(*planRows), "ns/customer")
	})
	b.Run("plan", func(b *testing.B) {
		ctx := context.Background()
		cfg, diags := lang.Load(dir, lang.Options{})
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		st, err := state.OpenSQLite(ctx, filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: benchNow})
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			if p.Summary.Messages == 0 {
				b.Fatal("the plan sends nothing")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(*planRows), "ns/customer")
	})
}

// bareScan is the hand-written baseline: encoding/csv, the four clauses of
// the segment in Go, one goroutine.
func bareScan(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return 0, err
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	ltvI, lastI, countryI, caseI := col["ltv"], col["last_purchase_at"], col["country"], col["support_case_open"]
	cutoff := benchNow.Add(-2160 * time.Hour)
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		ltv, err := strconv.ParseFloat(rec[ltvI], 64)
		if err != nil || ltv < 500 {
			continue
		}
		last, err := time.Parse(time.RFC3339, rec[lastI])
		if err != nil || !last.Before(cutoff) {
			continue
		}
		switch rec[countryI] {
		case "US", "CA", "GB":
		default:
			continue
		}
		if open, err := strconv.ParseBool(rec[caseI]); err != nil || open {
			continue
		}
		n++
	}
}
