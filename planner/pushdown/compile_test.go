package pushdown

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

var update = flag.Bool("update", false, "rewrite testdata/compile.golden")

// goldenExprs are representative conditions; testdata/compile.golden holds
// what Compile makes of each, for a reviewer to read.
var goldenExprs = []string{
	// The segments of DESIGN.md.
	"customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h')",
	"now - customer.last_purchase_at < duration('168h')",
	// Comparisons.
	"customer.ltv >= 500.0 && customer.country in ['US', 'CA']",
	"customer.ltv < 500.0",
	"customer.orders >= 3",
	"customer.country == 'US'",
	"customer.country < 'M'",
	"customer.ltv == customer.ltv",
	"customer.ltv != customer.ltv",
	"double(customer.orders) > customer.ltv",
	"customer.ltv == double('NaN')",
	"customer.orders in []",
	// Logic and NULLs.
	"!(customer.ltv > 5.0)",
	"customer.ltv > 5.0 || true",
	"customer.support_case_open",
	"!customer.support_case_open",
	"has(customer.email) && !has(customer.phone)",
	"customer.ltv > 100.0 ? customer.country == 'US' : customer.country == 'CA'",
	"customer.?ltv.orValue(0.0) > 10.0",
	"true",
	// Strings.
	`customer.email.startsWith('a%_\\')`,
	"customer.email.endsWith('.com')",
	`customer.email.contains("'")`,
	"customer.email.lowerAscii().endsWith('.com')",
	"size(customer.first_name) > 3",
	"customer.first_name + ' ' + customer.country == 'Ann US'",
	"customer.email.startsWith(customer.first_name)",
	"customer.email.endsWith(customer.country)",
	"customer.email.contains(customer.first_name)",
	// Arithmetic and conversions.
	"customer.orders * 2 + 1 > 10",
	"-customer.ltv < -500.0",
	"int(customer.ltv) == 500",
	"string(customer.orders) == '5'",
	// Timestamps.
	"customer.last_purchase_at > now",
	"customer.last_purchase_at > now - duration('1ns')",
	"!(now - customer.last_purchase_at > duration('2160h'))",
	"(now - customer.last_purchase_at > duration('2160h')) == true",
	"customer.last_purchase_at + duration('24h') > now",
	"customer.last_purchase_at - now >= duration('1h')",
	"now - customer.last_purchase_at == duration('1ns')",
	"customer.last_purchase_at + duration('1h') > customer.last_purchase_at",
	"now - customer.last_purchase_at > now - customer.last_purchase_at",
	// In part, and not at all.
	"customer.ltv > 100.0 && customer.email.matches('^[ab]')",
	"customer.country == 'US' && customer.tags.exists(t, t == 'vip')",
	"customer.email.matches('^a.*')",
	"customer.tags.all(t, t != 'x')",
	"customer.tags.map(t, t + 'x').size() > 0",
	"customer.email.matches('a') || customer.ltv > 1.0",
	"customer.ltv / 2.0 > 100.0",
	"customer.orders in [1, 2.0]",
	"customer.last_purchase_at - customer.last_purchase_at == duration('0s')",
	"customer.last_purchase_at.getFullYear() == 2026",
	"'vip' in customer.tags",
	"[customer.email, 'x'].size() > 1",
	"customer.orders > 1 / 0 || customer.ltv > 1.0",
	"customer.ltv == dyn(5)",
	"customer.email.split('@')[1] == 'x.com'",
}

func TestCompileGolden(t *testing.T) {
	asts, schema := loadExprs(t, goldenExprs)
	var b strings.Builder
	for i, e := range asts {
		res, ok := Compile(e.AST, "customer", schema, planNow, 1)
		fmt.Fprintf(&b, "%s\n", goldenExprs[i])
		switch {
		case !ok:
			fmt.Fprintf(&b, "  not pushed down: %s\n", res.Reason)
		default:
			if res.Partial {
				fmt.Fprintf(&b, "  in part: %s\n", res.Reason)
			}
			fmt.Fprintf(&b, "  WHERE %s\n", res.Where)
			for j, a := range res.Args {
				fmt.Fprintf(&b, "  $%d = %s\n", j+1, formatArg(a))
			}
		}
		b.WriteString("\n")
	}
	path := filepath.Join("testdata", "compile.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("Compile output differs from %s (go test -update rewrites it):\n%s", path, lineDiff(string(want), got))
	}
}

func formatArg(a any) string {
	switch a := a.(type) {
	case time.Time:
		return a.Format(time.RFC3339Nano)
	case string:
		return fmt.Sprintf("%q", a)
	case []string:
		return fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf("%v (%T)", a, a)
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  - %s\n  + %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

func TestCompileOptions(t *testing.T) {
	asts, schema := loadExprs(t, []string{"customer.ltv >= 500.0 && customer.country in ['US']"})
	res, ok := Options{
		Schema:     schema,
		Now:        planNow,
		FirstParam: 3,
		Columns:    map[string]string{"ltv": "Lifetime \"Value\""},
	}.Compile(asts[0].AST)
	want := `"Lifetime ""Value""" >= $3 AND "Lifetime ""Value""" < 'NaN' AND "country" = ANY($4)`
	if !ok || res.Where != want || len(res.Args) != 2 {
		t.Errorf("got %q %v %v, want %q", res.Where, res.Args, ok, want)
	}
}

func TestCompileUnchecked(t *testing.T) {
	if res, ok := Compile(nil, "customer", nil, planNow, 1); ok || res.Reason == "" {
		t.Errorf("Compile(nil) = %+v, %v; want a reason and false", res, ok)
	}
}

func TestFallback(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "22003"}, true},                                      // numeric_value_out_of_range
		{fmt.Errorf("selecting segment: %w", &pgconn.PgError{Code: "22012"}), true}, // division_by_zero
		{&pgconn.PgError{Code: "42703"}, false},                                     // undefined_column
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := Fallback(c.err); got != c.want {
			t.Errorf("Fallback(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestTimeBounds(t *testing.T) {
	// The bounds are where cel-go starts to report overflow, to the
	// microsecond.
	b, ok := diffBounds(planNow, false)
	if !ok {
		t.Fatal("no bounds")
	}
	us := time.Microsecond
	if !celSubOK(planNow, *b.lo) || celSubOK(planNow, b.lo.Add(-us)) {
		t.Errorf("lower bound %v is not the first valid microsecond", b.lo)
	}
	if !celSubOK(planNow, *b.hi) || celSubOK(planNow, b.hi.Add(us)) {
		t.Errorf("upper bound %v is not the last valid microsecond", b.hi)
	}
	s, ok := shiftBounds(24*time.Hour, false)
	if !ok || !celAddOK(*s.hi, 24*time.Hour) || celAddOK(s.hi.Add(us), 24*time.Hour) ||
		!celAddOK(*s.lo, 24*time.Hour) || celAddOK(s.lo.Add(-us), 24*time.Hour) {
		t.Errorf("shift bounds %v…%v are not exact", s.lo, s.hi)
	}
	if got := ceilMicro(time.Date(-100, 1, 1, 0, 0, 0, 1, time.UTC)); got.Nanosecond() != 1000 {
		t.Errorf("ceilMicro before year 1: %v", got)
	}
}
