package pushdown

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// planNow is the plan's time in the differential tests; the data has rows
// exactly at, and a microsecond either side of, the boundaries the
// expressions draw relative to it.
var planNow = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// differential lists expressions whose pushed-down selection must equal the
// in-memory one. Each is marked with what Compile must do with it.
var differential = []struct {
	expr string
	want outcome
}{
	// Doubles, NaN and infinities, three-valued logic.
	{"customer.ltv >= 500.0", full},
	{"customer.ltv > 500.0", full},
	{"customer.ltv < 500.0", full},
	{"customer.ltv <= 0.0", full},
	{"customer.ltv == 0.0", full},
	{"customer.ltv != 500.0", full},
	{"!(customer.ltv > 5.0)", full},
	{"!(customer.ltv < 5.0)", full},
	{"customer.ltv > 5.0 || true", full},
	{"!(customer.ltv > 5.0 || true)", full},
	{"customer.ltv > 5.0 && false", full},
	{"!(customer.ltv > 5.0 && false)", full},
	{"!(customer.ltv > 5.0 || customer.orders > 3)", full},
	{"customer.ltv > customer.ltv", full},
	{"customer.ltv == customer.ltv", full},
	{"customer.ltv != customer.ltv", full},
	{"!(customer.ltv != customer.ltv)", full},
	{"customer.ltv >= customer.ltv", full},
	{"customer.ltv <= customer.ltv", full},
	{"customer.ltv * 2.0 > 1000.0", full},
	{"customer.ltv + 1.0 == 501.0", full},
	{"-customer.ltv < -500.0", full},
	{"customer.ltv - customer.ltv == 0.0", full},
	{"!(customer.ltv - customer.ltv == 0.0)", full},
	{"double(customer.orders) > customer.ltv", full},
	{"!(customer.ltv > double(customer.orders))", full},
	{"!(double(customer.orders) < customer.ltv)", full},
	{"!(customer.ltv == customer.ltv + double(customer.orders))", full},
	{"!(customer.ltv != customer.ltv + double(customer.orders))", full},
	{"customer.ltv != customer.ltv + double(customer.orders)", full},
	{"double(customer.orders) == 9007199254740992.0", full},
	{"int(customer.ltv) == 500", full},
	{"int(customer.ltv) > 0 || !has(customer.ltv)", full},
	{"!(int(customer.ltv) < 1000)", full},
	{"customer.ltv < 1e308 * 10.0", full},
	{"customer.ltv == double('NaN')", full},
	{"customer.ltv != double('NaN')", full},
	{"!(customer.ltv == double('NaN'))", full},
	{"customer.ltv < double('Infinity')", full},
	{"customer.ltv in [0.0, 500.0, 1e300]", full},
	{"!(customer.ltv in [0.0, 500.0])", full},
	{"customer.?ltv.orValue(0.0) >= 0.0", full},
	{"customer.?ltv.hasValue()", full},
	{"customer.?ltv.value() > 1.0", full},

	// Ints.
	{"customer.orders > 5", full},
	{"customer.orders == 0", full},
	{"customer.orders != 0", full},
	{"customer.orders % 7 == 3", full},
	{"customer.orders / 2 >= 25", full},
	{"customer.orders in [1, 2, 3, 100]", full},
	{"!(customer.orders in [1, 2, 3])", full},
	{"customer.orders in []", full},
	{"!(customer.orders in [])", full},
	{"string(customer.orders) == '5'", full},
	{"string(customer.orders).startsWith('-')", full},
	{"customer.orders > 1 ? customer.ltv > 100.0 : customer.ltv < 10.0", full},
	{"!(customer.orders > 1 ? customer.ltv > 100.0 : customer.ltv < 10.0)", full},
	{"-customer.orders > 5", fallback},     // -MinInt64 overflows
	{"customer.orders + 1 > 10", fallback}, // MaxInt64 + 1 overflows
	{"customer.orders / 0 > 1", fallback},

	// Strings: collation, LIKE escapes, ASCII case mapping, code points.
	{"customer.country == 'US'", full},
	{"customer.country in ['US', 'CA', 'GB']", full},
	{"!(customer.country in ['US', 'CA'])", full},
	{"customer.country != 'US'", full},
	{"customer.country < 'M'", full},
	{"customer.first_name >= 'a'", full},
	{"customer.email > customer.first_name", full},
	{"customer.first_name == customer.email", full},
	{"customer.email.startsWith('a')", full},
	{"customer.email.startsWith('a%')", full},
	{"customer.email.endsWith('.com')", full},
	{"customer.email.contains('_')", full},
	{"customer.email.contains('%')", full},
	{`customer.email.contains('\\')`, full},
	{`customer.email.contains("'")`, full},
	{"customer.email.startsWith('')", full},
	{"!customer.email.startsWith('')", full},
	{"customer.email == ''", full},
	{"size(customer.email) == 0", full},
	{"customer.email.size() > 20", full},
	{"size(customer.first_name) == 3", full},
	{"customer.email.lowerAscii().endsWith('.com')", full},
	{"customer.email.upperAscii() == 'BOB@EXAMPLE.COM'", full},
	{"customer.first_name.lowerAscii() == 'ann'", full},
	{"customer.first_name.upperAscii().startsWith('É')", full},
	{"customer.first_name.lowerAscii() == 'émile'", full},
	{"customer.first_name + ' ' + customer.country == 'Ann US'", full},
	{"customer.email.startsWith(customer.first_name.lowerAscii())", full},
	{"customer.email.endsWith(customer.country)", full},
	{"customer.email.contains(customer.first_name)", full},
	{"customer.?email.orValue('') == ''", full},

	// Bools and presence.
	{"customer.support_case_open", full},
	{"!customer.support_case_open", full},
	{"customer.support_case_open == false", full},
	{"customer.support_case_open != true", full},
	{"customer.support_case_open || customer.ltv > 1000.0", full},
	{"!(customer.support_case_open && customer.ltv > 1000.0)", full},
	{"has(customer.email)", full},
	{"!has(customer.ltv)", full},
	{"has(customer.email) && customer.email.endsWith('.com')", full},
	{"customer.?support_case_open.orValue(false) == false", full},
	{"string(customer.support_case_open) == 'true'", full},

	// Timestamps: rewrites that keep the column bare, microsecond
	// rounding, CEL's overflow errors ±292 years from now and outside
	// 0001…9999.
	{"now - customer.last_purchase_at > duration('2160h')", full},
	{"now - customer.last_purchase_at < duration('168h')", full},
	{"!(now - customer.last_purchase_at > duration('2160h'))", full},
	{"!(now - customer.last_purchase_at < duration('168h'))", full},
	{"now - customer.last_purchase_at >= duration('2160h')", full},
	{"now - customer.last_purchase_at == duration('2160h')", full},
	{"now - customer.last_purchase_at != duration('2160h')", full},
	{"!(now - customer.last_purchase_at != duration('2160h'))", full},
	{"now - customer.last_purchase_at > duration('876000h')", full},
	{"!(now - customer.last_purchase_at > duration('876000h'))", full},
	{"now - customer.last_purchase_at > duration('1ns')", full},
	{"!(now - customer.last_purchase_at >= duration('1us'))", full},
	{"customer.last_purchase_at > now", full},
	{"customer.last_purchase_at <= now", full},
	{"customer.last_purchase_at == now", full},
	{"customer.last_purchase_at > now - duration('1ns')", full},
	{"customer.last_purchase_at + duration('24h') > now", full},
	{"!(customer.last_purchase_at + duration('24h') > now)", full},
	{"customer.last_purchase_at - duration('1h') < timestamp('2026-01-01T00:00:00Z')", full},
	{"!(customer.last_purchase_at - duration('87600h') < now)", full},
	{"customer.last_purchase_at - now > duration('1h')", full},
	{"!(customer.last_purchase_at - now > duration('1h'))", full},
	{"customer.last_purchase_at + duration('2562047h') > now", full},
	{"customer.last_purchase_at + duration('1h') + duration('1h') < now", full},
	{"(now - customer.last_purchase_at > duration('2160h')) == true", full},
	{"(now - customer.last_purchase_at > duration('2160h')) ? customer.ltv > 1.0 : customer.ltv < 1.0", full},
	{"!((now - customer.last_purchase_at > duration('2160h')) ? customer.ltv > 1.0 : customer.ltv < 1.0)", full},
	{"customer.last_purchase_at + duration('1h') > customer.last_purchase_at", full},
	{"now - customer.last_purchase_at > now - customer.last_purchase_at - duration('1h') || customer.orders > 5", none},
	{"customer.last_purchase_at < timestamp('0001-01-01T00:00:00Z') + duration('1h')", full},
	{"customer.last_purchase_at in [timestamp('2026-12-01T09:00:00Z'), now - duration('2160h')]", full},

	// Together.
	{"customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h')", full},
	{"customer.ltv >= 500.0 && customer.country in ['US', 'CA'] && !customer.support_case_open", full},
	{"(customer.ltv > 100.0 || customer.orders > 10) && !(customer.country == 'US')", full},
	{"customer.ltv > 100.0 ? customer.country == 'US' : customer.country == 'CA'", full},
	{"!(customer.ltv > 100.0 ? customer.support_case_open : !customer.support_case_open)", full},
	{"customer.email.endsWith('.com') || customer.email.endsWith('.org') || !has(customer.email)", full},

	// Partly pushed down: the rest is evaluated in memory.
	{"customer.ltv > 100.0 && customer.email.matches('^[ab]')", partial},
	{"customer.country == 'US' && customer.tags.exists(t, t == 'vip')", partial},
	{"customer.email.trim() != '' && now - customer.last_purchase_at < duration('168h')", partial},

	// Not pushed down.
	{"customer.email.matches('^a.*')", none},
	{"customer.tags.exists(t, t == 'vip')", none},
	{"'vip' in customer.tags", none},
	{"customer.email.trim() == 'a'", none},
	{"customer.ltv / 2.0 > 100.0", none},
	{"customer.email.matches('a') || customer.ltv > 1.0", none},
	{"customer.last_purchase_at - customer.last_purchase_at == duration('0s')", none},
	{"customer.last_purchase_at.getFullYear() == 2026", none},
	{"customer.orders in [1, 2.0]", none},
	{"customer.email.indexOf('@') > 3", none},
	{"size(customer.tags) > 0", none},
}

type outcome int

const (
	full     outcome = iota // pushed down completely
	partial                 // pushed down in part, Partial set
	none                    // not pushed down, ok false
	fallback                // pushed down, the query fails with a data exception for this data
)

func (o outcome) String() string { return [...]string{"full", "partial", "none", "fallback"}[o] }

// table holds the generated customers, in the database and as read back.
type table struct {
	conn     *pgx.Conn
	textType string
	schema   *lang.Schema
	layout   *providers.Layout
	records  []*providers.Record
	byID     map[string]*providers.Record
}

var columns = []struct{ name, typ string }{
	{"id", "text primary key"},
	{"email", "text"},
	{"phone", "text"},
	{"first_name", "text"},
	{"country", "text"},
	{"timezone", "text"},
	{"ltv", "double precision"},
	{"last_purchase_at", "timestamptz"},
	{"support_case_open", "boolean"},
	{"age_range", "text"},
	{"orders", "int8"},
	{"tags", "text[]"},
}

func setup(t *testing.T, rows int) *table {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	// A linguistic collation, where PostgreSQL's string order and lower()
	// differ from CEL's, unless the server has none.
	textType := "text"
	var coll string
	err = conn.QueryRow(ctx, `SELECT collname FROM pg_collation
		WHERE collname IN ('und-x-icu', 'en-x-icu', 'en_US.utf8', 'C.utf8')
		ORDER BY collprovider = 'i' DESC, collname = 'C.utf8' LIMIT 1`).Scan(&coll)
	if err == nil {
		textType = "text COLLATE " + quoteIdent(coll)
		t.Logf("text columns use collation %s", coll)
	}
	if err := createTable(ctx, conn, "customers", textType); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	data := generate(rows, planNow)
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"customers"}, names, pgx.CopyFromRows(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copying %d rows: %d, %v", len(data), n, err)
	}
	// Index the columns the expressions filter on, as a real table would be.
	for _, c := range []string{"ltv", "last_purchase_at", "country", "orders"} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE INDEX ON customers (%s)", quoteIdent(c))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "ANALYZE customers"); err != nil {
		t.Fatal(err)
	}
	return &table{conn: conn, textType: textType}
}

// createTable creates a customers table; textType is the type of its text
// columns other than id.
func createTable(ctx context.Context, conn *pgx.Conn, name, textType string) error {
	var defs []string
	for _, c := range columns {
		typ := c.typ
		if typ == "text" {
			typ = textType
		}
		defs = append(defs, quoteIdent(c.name)+" "+typ)
	}
	_, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", quoteIdent(name), strings.Join(defs, ", ")))
	return err
}

// load reads the rows back as the postgres provider would: NULL is an
// unset field, every other value (the empty string too) is set.
func (tb *table) load(t *testing.T, schema *lang.Schema, from string) []*providers.Record {
	t.Helper()
	tb.schema, tb.layout = schema, providers.NewLayout(schema)
	var cols []string
	for _, n := range tb.layout.Names {
		cols = append(cols, quoteIdent(n))
	}
	rows, err := tb.conn.Query(context.Background(), fmt.Sprintf("SELECT %s FROM %s ORDER BY id", strings.Join(cols, ", "), quoteIdent(from)))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*providers.Record
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &providers.Record{Layout: tb.layout, Values: vals})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func (tb *table) selectIDs(ctx context.Context, from string, res Result) (map[string]bool, error) {
	rows, err := tb.conn.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE %s", quoteIdent(from), res.Where), res.Args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// TestDifferential checks, for every expression in differential and for
// generated ones, that the pushed-down SQL selects exactly the customers
// that CEL selects in memory, with now on a microsecond and between two.
func TestDifferential(t *testing.T) {
	tb := setup(t, 3000)
	exprs := make([]string, len(differential))
	for i, d := range differential {
		exprs[i] = d.expr
	}
	gen := generateExprs(rand.New(rand.NewPCG(7, 11)), 400)
	all := append(slices.Clone(exprs), gen...)
	checked, schema := loadExprs(t, all)
	recs := tb.load(t, schema, "customers")
	env := evalEnv(t, schema)

	for _, now := range []time.Time{planNow, planNow.Add(123456789 * time.Nanosecond)} {
		t.Run(now.Format("15:04:05.000000000"), func(t *testing.T) {
			counts := map[outcome]int{}
			for i, e := range checked {
				want := full
				if i < len(differential) {
					want = differential[i].want
				}
				got := tb.check(t, env, recs, all[i], e.AST, now, want, i >= len(differential))
				counts[got]++
			}
			t.Logf("%d expressions (%d listed, %d generated) over %d rows: %d pushed down, %d in part, %d not, %d fell back on a data exception",
				len(all), len(exprs), len(gen), len(recs), counts[full], counts[partial], counts[none], counts[fallback])
		})
	}
}

// check compiles one expression and compares the two selections; it
// returns what happened.
func (tb *table) check(t *testing.T, env *cel.Env, recs []*providers.Record, src string, ast *cel.Ast, now time.Time, want outcome, generated bool) outcome {
	t.Helper()
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatalf("%s: program: %v", src, err)
	}
	res, ok := Compile(ast, "customer", tb.schema, now, 1)
	got := full
	switch {
	case !ok:
		got = none
		if res.Reason == "" {
			t.Errorf("%s: not pushed down, and no reason given", src)
		}
	case res.Partial:
		got = partial
		if res.Reason == "" {
			t.Errorf("%s: pushed down in part, and no reason given", src)
		}
	}
	if got == none {
		if want != none && !(generated && strings.Contains(res.Reason, "sub-microsecond")) {
			t.Errorf("%s: not pushed down (%s), want %s", src, res.Reason, want)
		}
		return got
	}
	inMemory := map[string]bool{}
	for _, r := range recs {
		if selects(prg, r, now) {
			inMemory[r.String("id")] = true
		}
	}
	ctx := context.Background()
	sel, err := tb.selectIDs(ctx, "customers", res)
	if err != nil {
		if Fallback(err) {
			if want != fallback && !generated {
				t.Errorf("%s: query failed with a data exception (%v), want %s\n  SQL: %s", src, err, want, res.Where)
			}
			return fallback
		}
		t.Errorf("%s: query failed: %v\n  SQL: %s\n  args: %v", src, err, res.Where, res.Args)
		return got
	}
	if res.Partial {
		// Where is a superset: filter it in memory, as the planner does.
		for id := range sel {
			if !selects(prg, tb.record(recs, id), now) {
				delete(sel, id)
			}
		}
	}
	if want != got && want != fallback {
		t.Errorf("%s: %s, want %s (%s)", src, got, want, res.Reason)
	}
	if diff := symmetricDiff(inMemory, sel); len(diff) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: pushdown selects %d customers, CEL %d; they differ on %d\n  SQL: %s\n  args: %v\n",
			src, len(sel), len(inMemory), len(diff), res.Where, res.Args)
		for _, id := range diff[:min(5, len(diff))] {
			fmt.Fprintf(&b, "  %s: CEL %v, SQL %v: %s\n", id, inMemory[id], sel[id], formatRecord(tb.record(recs, id)))
		}
		if small, ok := tb.shrink(t, prg, res, now, tb.record(recs, diff[0])); ok {
			fmt.Fprintf(&b, "  smallest differing row: %s\n", formatRecord(small))
		}
		t.Error(b.String())
	}
	return got
}

func (tb *table) record(recs []*providers.Record, id string) *providers.Record {
	if tb.byID == nil {
		tb.byID = map[string]*providers.Record{}
		for _, r := range recs {
			tb.byID[r.String("id")] = r
		}
	}
	return tb.byID[id]
}

func symmetricDiff(a, b map[string]bool) []string {
	var d []string
	for id := range a {
		if !b[id] {
			d = append(d, id)
		}
	}
	for id := range b {
		if !a[id] {
			d = append(d, id)
		}
	}
	sort.Strings(d)
	return d
}

func formatRecord(r *providers.Record) string {
	var parts []string
	for i, n := range r.Layout.Names {
		if v := r.Values[i]; v != nil {
			if tm, ok := v.(time.Time); ok {
				v = tm.UTC().Format(time.RFC3339Nano)
			}
			parts = append(parts, fmt.Sprintf("%s=%#v", n, v))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// shrink simplifies a row on which the two evaluations differ, one field at
// a time (unset it, or replace it with a plain value), keeping each change
// that keeps them differing, and returns the smallest such row.
func (tb *table) shrink(t *testing.T, prg cel.Program, res Result, now time.Time, r *providers.Record) (*providers.Record, bool) {
	ctx := context.Background()
	if _, err := tb.conn.Exec(ctx, "DROP TABLE IF EXISTS shrink"); err != nil {
		return nil, false
	}
	if err := createTable(ctx, tb.conn, "shrink", tb.textType); err != nil {
		return nil, false
	}
	differs := func(vals []any) bool {
		if _, err := tb.conn.Exec(ctx, "TRUNCATE shrink"); err != nil {
			return false
		}
		cols := make([]string, len(tb.layout.Names))
		for i, n := range tb.layout.Names {
			cols[i] = n
		}
		if _, err := tb.conn.CopyFrom(ctx, pgx.Identifier{"shrink"}, cols, pgx.CopyFromRows([][]any{vals})); err != nil {
			return false
		}
		sel, err := tb.selectIDs(ctx, "shrink", res)
		if err != nil {
			return false
		}
		mem := selects(prg, &providers.Record{Layout: tb.layout, Values: vals}, now)
		return mem != (len(sel) == 1)
	}
	vals := slices.Clone(r.Values)
	if !differs(vals) {
		return nil, false
	}
	simpler := func(v any) []any {
		switch v.(type) {
		case string:
			return []any{nil, "", "a"}
		case float64:
			return []any{nil, 0.0, 1.0}
		case int64:
			return []any{nil, int64(0), int64(1)}
		case bool:
			return []any{nil, false}
		case time.Time:
			return []any{nil, now.Truncate(time.Microsecond)}
		case []any:
			return []any{nil, []any{}}
		}
		return nil
	}
	for i, n := range tb.layout.Names {
		if n == "id" {
			continue
		}
		for _, s := range simpler(vals[i]) {
			old := vals[i]
			vals[i] = s
			if differs(vals) {
				break
			}
			vals[i] = old
		}
	}
	return &providers.Record{Layout: tb.layout, Values: vals}, true
}

// generate makes the customers: deterministic, with NULLs in every
// nullable column, and the edge values the expressions probe.
func generate(n int, now time.Time) [][]any {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(pool []any, pNull float64) any {
		if r.Float64() < pNull {
			return nil
		}
		return pool[r.IntN(len(pool))]
	}
	emails := []any{"", "alice@example.com", "Bob@Example.COM", "bob@example.com", "ÉMILE@exämple.fr",
		"a%b@x.com", "under_score@x.org", `back\slash@x.net`, "o'brien@x.ie", "İstanbul@x.tr",
		"ß@x.de", "emoji😀@x.io", "a", "%", "_", `\`, "ann@example.com", "annUS@example.com", "-5@x.com",
		"x@y.com.", "averyveryverylongaddress@example.com", "US", "Ann"}
	names := []any{"", "Ann", "ann", "ANN", "Zoë", "Ångström", "o'neil", "_x", "%y", "José", `a\b`,
		"émile", "Émile", "ÉMILE", "a", "Bob", "bob", "ß", "ǅ"}
	countries := []any{"", "US", "CA", "GB", "DE", "FR", "us", "Us", "MX", "ÜS", "M", "Z", "a"}
	zones := []any{"", "America/New_York", "Europe/London", "UTC", "Asia/Kolkata"}
	ltvs := []any{math.NaN(), math.Inf(1), math.Inf(-1), 0.0, math.Copysign(0, -1), 500.0,
		math.Nextafter(500, 0), math.Nextafter(500, 1000), 1e300, -1e300, 5e-324, 100.0, 5.0, 1000.0,
		501.0, 9007199254740992.0, 1e19, -1e19, 9.223372036854775807e18, -9.223372036854775808e18, 0.5, -0.5, 999.5}
	orders := []any{int64(0), int64(1), int64(-1), int64(2), int64(3), int64(5), int64(100), int64(50),
		int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64 - 1), int64(1<<53 + 1), int64(1 << 53), int64(-5)}
	us := time.Microsecond
	at := func(t time.Time) []any { return []any{t.Add(-us), t, t.Add(us)} }
	var times []any
	for _, t := range []time.Time{
		now, now.Add(-2160 * time.Hour), now.Add(-168 * time.Hour), now.Add(-24 * time.Hour),
		now.Add(time.Hour), now.Add(2 * time.Hour), now.Add(-time.Hour),
		time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 1, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1500, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(-100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		// About where now - t overflows CEL's 292-year durations.
		now.Add(-math.MaxInt64).Truncate(time.Microsecond), now.Add(math.MaxInt64).Truncate(time.Microsecond),
		now.AddDate(-292, 0, 0), now.AddDate(-293, 0, 0), now.AddDate(292, 0, 0), now.AddDate(293, 0, 0),
	} {
		times = append(times, at(t)...)
	}
	tags := []any{[]string{}, []string{"vip"}, []string{"vip", "new"}, []string{"a%"}}

	rows := make([][]any, n)
	for i := range rows {
		var ltv, order, ts any
		// Half the rows take edge values, half ordinary ones.
		if r.IntN(2) == 0 {
			ltv, order, ts = pick(ltvs, 0.1), pick(orders, 0.1), pick(times, 0.1)
		} else {
			if r.Float64() >= 0.1 {
				ltv = math.Round(r.Float64()*200000) / 100
			}
			if r.Float64() >= 0.1 {
				order = int64(r.IntN(60))
			}
			if r.Float64() >= 0.1 {
				ts = now.Add(-time.Duration(r.Int64N(int64(3*365*24*time.Hour))) + 30*24*time.Hour).Truncate(time.Microsecond)
			}
		}
		email := pick(emails, 0.1)
		if r.IntN(3) == 0 {
			email = fmt.Sprintf("user%d@domain%d.%s", i, r.IntN(5), []string{"com", "org", "net"}[r.IntN(3)])
		}
		rows[i] = []any{
			fmt.Sprintf("c%05d", i),
			email,
			pick([]any{"", "+15415550100", "+44 20 7946 0958", "555"}, 0.15),
			pick(names, 0.1),
			pick(countries, 0.1),
			pick(zones, 0.1),
			ltv,
			ts,
			pick([]any{true, false}, 0.15),
			pick([]any{"", "18-24", "25-34", "65+"}, 0.2),
			order,
			pick(tags, 0.2),
		}
	}
	return rows
}

// generateExprs makes random conditions from pushable atoms with &&, ||,
// ! and ?:, to exercise three-valued logic and the overflow guards in
// every position.
func generateExprs(r *rand.Rand, n int) []string {
	atoms := []string{
		"customer.ltv >= 500.0", "customer.ltv < 100.0", "customer.ltv == customer.ltv", "customer.ltv != 0.0",
		"customer.orders > 5", "customer.orders in [0, 1, 2]", "int(customer.ltv) >= 500",
		"customer.country == 'US'", "customer.country in ['US', 'CA']", "customer.country < 'M'",
		"customer.email.endsWith('.com')", "customer.email.contains('_')", "size(customer.first_name) <= 3",
		"customer.first_name.lowerAscii() == 'ann'",
		"customer.support_case_open", "has(customer.email)", "has(customer.last_purchase_at)",
		"now - customer.last_purchase_at > duration('2160h')", "now - customer.last_purchase_at < duration('168h')",
		"customer.last_purchase_at + duration('24h') > now", "customer.last_purchase_at - now >= duration('1h')",
		"customer.last_purchase_at < timestamp('2026-01-01T01:00:00Z')",
		"now - customer.last_purchase_at > duration('2562047h')",
		"true", "false",
	}
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth == 0 || r.IntN(4) == 0 {
			return atoms[r.IntN(len(atoms))]
		}
		switch r.IntN(5) {
		case 0:
			return "!(" + gen(depth-1) + ")"
		case 1:
			return "(" + gen(depth-1) + " || " + gen(depth-1) + ")"
		case 2:
			return "(" + gen(depth-1) + " ? " + gen(depth-1) + " : " + gen(depth-1) + ")"
		case 3:
			return "(" + gen(depth-1) + ") == (" + gen(depth-1) + ")"
		}
		return "(" + gen(depth-1) + " && " + gen(depth-1) + ")"
	}
	out := make([]string, n)
	for i := range out {
		out[i] = gen(3)
	}
	return out
}

// TestTimeLiteral checks that the timestamptz literals Compile writes mean
// the instant they were made from, BC and beyond 9999 too, whatever the
// session's time zone and date style.
func TestTimeLiteral(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'"); err != nil {
		t.Fatal(err)
	}
	for _, tm := range []time.Time{
		time.Date(-4000, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-291, 8, 22, 9, 12, 44, 1000, time.UTC),
		time.Date(0, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1734, 8, 22, 9, 12, 44, 0, time.UTC),
		planNow.Add(-time.Microsecond),
		time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("x", 3*3600+1800)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(10291, 3, 13, 8, 47, 16, 854775000, time.UTC),
		time.Date(200000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		lit, _ := render(timeLit(tm).f, 1)
		var same bool
		if err := conn.QueryRow(ctx, "SELECT "+lit+" = $1", tm).Scan(&same); err != nil || !same {
			t.Errorf("%s for %v: equal %v, %v", lit, tm, same, err)
		}
	}
}
