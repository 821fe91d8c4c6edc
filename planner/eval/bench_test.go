package eval

import (
	"testing"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/heraldhq/herald/internal/datagen"
	"github.com/heraldhq/herald/providers"
)

// benchRecords is the number of records each benchmark op evaluates.
const benchRecords = 100_000

// goSegment is the DESIGN.md four-clause segment written by hand in Go over
// the same Records: the floor the CEL paths are measured against.
type goSegment struct {
	ltv, last, country, open int
	now                      time.Time
}

func (g *goSegment) match(r *providers.Record) bool {
	ltv, ok := r.Values[g.ltv].(float64)
	if !ok || !(ltv >= 500.0) {
		return false
	}
	last, ok := r.Values[g.last].(time.Time)
	if !ok || !(g.now.Sub(last) > 2160*time.Hour) {
		return false
	}
	country, ok := r.Values[g.country].(string)
	if !ok || (country != "US" && country != "CA" && country != "GB") {
		return false
	}
	open, ok := r.Values[g.open].(bool)
	return ok && !open
}

// BenchmarkSegment evaluates the DESIGN.md segment over 100k datagen
// customers per op, three ways: a hand-written Go predicate, the
// specialised Predicate, and cel-go's interpreter (cel.OptOptimize, one
// reused activation). Each reports ns/record.
func BenchmarkSegment(b *testing.B) {
	asts, schema := loadSegments(b, customerSchema, "customer", []string{designSegment})
	layout := providers.NewLayout(schema)
	recs := customers(b, benchRecords, 0, layout)
	now := datagen.DefaultNow

	g := &goSegment{
		ltv: layout.Index("ltv"), last: layout.Index("last_purchase_at"),
		country: layout.Index("country"), open: layout.Index("support_case_open"), now: now,
	}
	p, err := Compile(asts[0], "customer", layout, now)
	if err != nil {
		b.Fatal(err)
	}
	if !p.Specialised() {
		b.Fatal("the DESIGN.md segment is not specialised")
	}
	env, err := newEnv("customer", "schema.customer", layout)
	if err != nil {
		b.Fatal(err)
	}
	prg, err := plan(env, asts[0].NativeRep())
	if err != nil {
		b.Fatal(err)
	}
	act := &activation{variable: "customer", now: p.now}
	celgo := func(r *providers.Record) bool {
		act.rec = r
		out, _, err := prg.Eval(act)
		return err == nil && out == types.True
	}

	// All three must select the same records.
	for i := range recs {
		if g.match(&recs[i]) != p.Match(&recs[i]) || g.match(&recs[i]) != celgo(&recs[i]) {
			b.Fatalf("record %d: the three predicates disagree", i)
		}
	}

	run := func(name string, recs []providers.Record, passes int, match func(*providers.Record) bool) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for range passes {
					for i := range recs {
						match(&recs[i])
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(passes*len(recs)), "ns/record")
		})
	}
	// ratio runs the three in turn within each op and reports the ratios
	// to the Go predicate: on a shared machine, load that comes and goes
	// moves the separate figures far more than it moves these.
	ratio := func(name string, recs []providers.Record, passes int) {
		b.Run(name, func(b *testing.B) {
			var spent [3]time.Duration
			for b.Loop() {
				for k, match := range []func(*providers.Record) bool{g.match, p.Match, celgo} {
					start := time.Now()
					for range passes {
						for i := range recs {
							match(&recs[i])
						}
					}
					spent[k] += time.Since(start)
				}
			}
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "specialised/go")
			b.ReportMetric(float64(spent[2])/float64(spent[0]), "celgo/go")
		})
	}

	run("go", recs, 1, g.match)
	run("specialised", recs, 1, p.Match)
	run("celgo", recs, 1, celgo)
	ratio("ratio", recs, 1)
	// The first 1,000 records 100 times over: they stay in the CPU's caches,
	// so these measure the evaluation itself rather than memory.
	hot := recs[:1000]
	run("hot/go", hot, 100, g.match)
	run("hot/specialised", hot, 100, p.Match)
	run("hot/celgo", hot, 100, celgo)
	ratio("hot/ratio", hot, 100)
}

// BenchmarkCompile measures Compile, environment included, for the
// DESIGN.md segment.
func BenchmarkCompile(b *testing.B) {
	asts, schema := loadSegments(b, customerSchema, "customer", []string{designSegment})
	layout := providers.NewLayout(schema)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(asts[0], "customer", layout, datagen.DefaultNow); err != nil {
			b.Fatal(err)
		}
	}
}
