package pushdown

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
)

// BenchmarkSegmentQuery runs segments pushed down and as a person would
// write them by hand, over 200,000 ordinary customers with the usual
// indexes, to compare the two: go test -run '^$' -bench SegmentQuery.
func BenchmarkSegmentQuery(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.Start(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := createTable(ctx, conn, "customers", "text"); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	countries := []string{"US", "CA", "GB", "DE", "FR", "MX", "JP", "BR"}
	var rows [][]any
	for i := range 200000 {
		rows = append(rows, []any{
			fmt.Sprintf("c%07d", i), fmt.Sprintf("u%d@example.com", i), nil, "Ann",
			countries[r.IntN(len(countries))], "UTC",
			float64(r.IntN(200000)) / 100,
			planNow.Add(-time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour)))).Truncate(time.Microsecond),
			r.IntN(10) == 0, nil, int64(r.IntN(50)), nil,
		})
	}
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"customers"}, names, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	for _, c := range []string{"ltv", "last_purchase_at", "country"} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE INDEX ON customers (%s)", c)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE customers"); err != nil {
		b.Fatal(err)
	}

	segments := []struct {
		name, cel, sql string
		args           []any
	}{
		{"lapsed_high_value", "customer.ltv >= 1900.0 && now - customer.last_purchase_at > duration('2160h')",
			"ltv >= $1 AND last_purchase_at < $2", []any{1900.0, planNow.Add(-2160 * time.Hour)}},
		{"recent_buyers", "now - customer.last_purchase_at < duration('168h')",
			"last_purchase_at > $1", []any{planNow.Add(-168 * time.Hour)}},
		{"high_value", "customer.ltv >= 1990.0",
			"ltv >= $1", []any{1990.0}},
		{"most", "customer.ltv >= 5.0",
			"ltv >= $1", []any{5.0}},
		{"north_america", "customer.country in ['US', 'CA'] && customer.ltv > 1500.0 && !customer.support_case_open",
			"country IN ('US', 'CA') AND ltv > $1 AND NOT support_case_open", []any{1500.0}},
	}
	exprs := make([]string, len(segments))
	for i, s := range segments {
		exprs[i] = s.cel
	}
	asts, schema := loadExprs(b, exprs)
	run := func(b *testing.B, where string, args []any) {
		for b.Loop() {
			rows, err := conn.Query(ctx, "SELECT id FROM customers WHERE "+where, args...)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if rows.Err() != nil {
				b.Fatal(rows.Err())
			}
			b.ReportMetric(float64(n), "rows")
		}
	}
	for i, s := range segments {
		res, ok := Compile(asts[i].AST, "customer", schema, planNow, 1)
		if !ok || res.Partial {
			b.Fatalf("%s: not pushed down: %s", s.name, res.Reason)
		}
		// Twice each, interleaved, so that neither gets a cold cache.
		for range 2 {
			b.Run(s.name+"/handwritten", func(b *testing.B) { run(b, s.sql, s.args) })
			b.Run(s.name+"/pushdown", func(b *testing.B) { run(b, res.Where, res.Args) })
		}
	}
}
