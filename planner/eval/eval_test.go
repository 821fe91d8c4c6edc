package eval

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/datagen"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// designSegment is the four-clause segment of DESIGN.md.
const designSegment = "customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h') && customer.country in ['US', 'CA', 'GB'] && !customer.support_case_open"

type evalCase struct {
	expr string
	// spec says whether the whole expression should run without cel-go.
	spec bool
}

// customerCases are segment-like conditions over the DESIGN.md customer
// schema: the specialised shapes, their combinations, conditions that meet
// absent fields and CEL errors, and conditions only cel-go evaluates.
var customerCases = []evalCase{
	// DESIGN.md
	{designSegment, true},
	{"customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h')", true},
	{"now - customer.last_purchase_at < duration('168h')", true},
	// field vs literal, every operator and type
	{"customer.country == 'US'", true},
	{"customer.country != 'US'", true},
	{"customer.country < 'DE'", true},
	{"'DE' <= customer.country", true},
	{"customer.ltv > 1000.0", true},
	{"customer.ltv <= 20.5", true},
	{"200.0 > customer.ltv", true},
	{"customer.ltv == 500.0", true},
	{"customer.ltv != 500.0", true},
	{"customer.support_case_open", true},
	{"!customer.support_case_open", true},
	{"customer.support_case_open == false", true},
	{"customer.support_case_open != true", true},
	{"customer.support_case_open < true", true},
	{"customer.last_purchase_at > timestamp('2026-01-01T00:00:00Z')", true},
	{"customer.last_purchase_at <= now - duration('720h')", true},
	{"customer.last_purchase_at == timestamp('2025-01-02T03:04:05.000000006Z')", true},
	{"customer.last_purchase_at >= now", true},
	// in lists, short and long
	{"customer.country in ['US', 'CA', 'GB']", true},
	{"!(customer.country in ['US', 'CA', 'GB'])", true},
	{"customer.country in ['DE', 'FR', 'ES', 'IT', 'NL', 'BE', 'AT', 'CH', 'SE', 'NO', 'DK', 'FI', 'PL']", true},
	{"customer.ltv in [5.0, 100.0, 750.0, 500.0]", true},
	{"customer.age_range in ['18-24', '25-34']", true},
	{"customer.timezone in []", true},
	// has, strings
	{"has(customer.phone)", true},
	{"!has(customer.first_name)", true},
	{"!has(customer.phone) || customer.phone.startsWith('+1')", true},
	{"customer.email.endsWith('@example.com')", true},
	{"customer.email.contains('.')", true},
	{"customer.timezone.startsWith('Europe/') && customer.ltv > 300.0", true},
	{"customer.email.lowerAscii().endsWith('example.org')", true},
	{"customer.first_name.upperAscii() == 'ANN'", true},
	{"size(customer.first_name) > 4", true},
	{"customer.first_name.size() <= 3", true},
	{"customer.email.matches('^[a-z]+[.][a-z]+[0-9]+@')", true},
	{"customer.email.matches('(')", true}, // an invalid pattern: an error for every record
	// arithmetic and conversions
	{"customer.ltv * 2.0 > 1000.0", true},
	{"customer.ltv / 0.0 > 1.0", true},
	{"-customer.ltv < -500.0", true},
	{"customer.ltv - 100.0 >= 400.0 && customer.ltv + 1.0 < 2000.0", true},
	{"int(customer.ltv) >= 500", true},
	{"int(customer.ltv) % 7 == 3", true},
	{"int(customer.ltv) * 1000000000000 > 5", true},
	{"double(int(customer.ltv)) == customer.ltv", true},
	{"customer.ltv != customer.ltv", true},
	// timestamps and durations
	{"customer.last_purchase_at + duration('8760h') < now", true},
	{"customer.last_purchase_at - duration('1h') >= timestamp('2025-06-01T00:00:00Z')", true},
	{"now - customer.last_purchase_at + duration('1h') > duration('100h')", true},
	{"(now - customer.last_purchase_at) - duration('24h') < duration('48h')", true},
	{"now - customer.last_purchase_at == duration('0s')", true},
	{"duration('2160h') < now - customer.last_purchase_at", true},
	{"customer.last_purchase_at - customer.last_purchase_at == duration('0s')", true},
	// logic and errors: CEL absorbs an error in && and ||
	{"customer.ltv > 100.0 || customer.country == 'DE'", true},
	{"customer.phone == ''", true},
	{"customer.phone != '' || customer.ltv > 300.0", true},
	{"customer.phone.startsWith('+1') && customer.ltv < 0.0", true},
	{"customer.phone.startsWith('+1') || customer.ltv >= 0.0", true},
	{"customer.age_range == '25-34' && customer.ltv > 50.0", true},
	{"customer.ltv > 1.0 && now - customer.last_purchase_at > duration('90d')", true},
	{"customer.ltv > 1000.0 || now - customer.last_purchase_at > duration('90d')", true},
	{"1 / 0 == 1 || customer.ltv > 200.0", true},
	{"int('x') == 1 && customer.ltv > 1.0", true},
	{"!(customer.ltv < 500.0)", true},
	{"customer.ltv >= 500.0 == customer.support_case_open", true},
	{"customer.ltv > 1000.0 ? customer.country == 'US' : customer.support_case_open", true},
	{"(customer.ltv > 1000.0 ? 1 : 2) == 1", true},
	{"(has(customer.phone) ? customer.phone : 'none').size() > 5", true},
	// constants
	{"true", true},
	{"false", true},
	{"now > timestamp('2020-01-01T00:00:00Z') && customer.country == 'FR'", true},
	{"now < timestamp('2020-01-01T00:00:00Z') || customer.country == 'FR'", true},
	// cel-go only, whole or in part
	{"customer.last_purchase_at.getDayOfWeek() == 1", false},
	{"customer.ltv > 500.0 && customer.last_purchase_at.getHours('America/New_York') < 12", false},
	{"customer.timezone.split('/')[0] == 'America'", false},
	{"['US', 'CA'].exists(c, c == customer.country)", false},
	{"customer.?phone.orValue('') == ''", false},
	{"string(customer.ltv).startsWith('5')", false},
	{"customer.first_name + ' x' == 'Ann x'", false},
	{"math.greatest(customer.ltv, 100.0) > 200.0 && customer.country == 'US'", false},
	{"customer.email.lowerAscii().matches(customer.first_name.lowerAscii())", false},
	{"dyn(customer.ltv) > 500.0 || customer.support_case_open", false},
	{"type(customer.ltv) == double && customer.ltv > 500.0", false},
	{"customer.ltv > 500.0 || type(customer.first_name) == int", false},
}

// TestDifferential holds every condition to cel-go's own answer on every
// record: datagen's customers, with some fields blanked, and edge records.
func TestDifferential(t *testing.T) {
	exprs := make([]string, len(customerCases))
	for i, c := range customerCases {
		exprs[i] = c.expr
	}
	asts, schema := loadSegments(t, customerSchema, "customer", exprs)
	layout := providers.NewLayout(schema)
	n := 4000
	if testing.Short() {
		n = 500
	}
	recs := append(customers(t, n, 0.05, layout), edgeCustomers(layout)...)
	now := datagen.DefaultNow
	for i, c := range customerCases {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			p, err := Compile(asts[i], "customer", layout, now)
			if err != nil {
				t.Fatalf("%s: %v", c.expr, err)
			}
			if p.Specialised() != c.spec {
				t.Errorf("%s: Specialised() = %v, want %v", c.expr, p.Specialised(), c.spec)
			}
			ref := newReference(t, asts[i], schema, now)
			checkAgainst(t, c.expr, p, ref, recs)
		})
	}
}

func checkAgainst(t *testing.T, expr string, p *Predicate, ref *reference, recs []providers.Record) {
	t.Helper()
	bad, matched := 0, 0
	for j := range recs {
		got, want := p.Match(&recs[j]), ref.match(&recs[j])
		if got {
			matched++
		}
		if got != want {
			bad++
			if bad <= 3 {
				t.Errorf("%s: Match = %v, cel-go = %v on %s", expr, got, want, describe(&recs[j]))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d records differ", expr, bad, len(recs))
	}
	t.Logf("%s: %d of %d selected", expr, matched, len(recs))
}

// profileSchema has the field types the customer schema lacks.
const profileSchema = `
schema "profile" {
  field "id"      { type = string }
  field "visits"  { type = int }
  field "session" { type = duration }
  field "tags"    { type = list(string) }
  field "scores"  { type = list(int) }
  field "attrs"   { type = map(string) }
  field "seen"    { type = timestamp }
}
`

var profileCases = []evalCase{
	{"customer.visits > 3", true},
	{"customer.visits == 0 || customer.visits >= 9", true},
	{"customer.visits * 1000000000000000000 > 5", true},
	{"customer.visits / (customer.visits - 3) > 0", true},
	{"customer.visits % (customer.visits - 5) == 1", true},
	{"-customer.visits < -5 && customer.visits - 1 != 4", true},
	{"double(customer.visits) / 2.0 > 1.5", true},
	{"customer.visits in [1, 2, 3]", true},
	{"customer.visits in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", true},
	{"customer.session > duration('1h')", true},
	{"customer.session + duration('30m') < duration('2h')", true},
	{"customer.session - duration('9223372036s') < duration('0s')", true},
	{"customer.session in [duration('1h'), duration('2h')]", true},
	{"'vip' in customer.tags", true},
	{"!('churn' in customer.tags) && size(customer.tags) > 1", true},
	{"customer.tags.size() == 0", true},
	{"customer.tags[0] == 'vip'", true},
	{"customer.tags[customer.visits] == 'new'", true},
	{"3 in customer.scores", true},
	{"customer.scores[1] > 5", true},
	{"'plan' in customer.attrs", true},
	{"customer.attrs['plan'] == 'pro'", true},
	{"size(customer.attrs) >= 2", true},
	{"customer.seen + customer.session > now", true},
	{"customer.session + customer.seen > now - duration('24h')", true},
	{"now - customer.seen > customer.session", true},
	{"customer.scores.exists(s, s > 5)", false},
	{"customer.tags.all(t, t.startsWith('v')) && customer.visits > 1", false},
	{"customer.attrs.exists(k, k == 'plan') || customer.visits == 2", false},
}

// profiles are random records of profileSchema, including absent fields,
// values near the overflow bounds and elements of unexpected Go types.
func profiles(layout *providers.Layout, n int) []providers.Record {
	rng := rand.New(rand.NewPCG(3, 4))
	now := datagen.DefaultNow
	tagPool := []string{"vip", "new", "churn", "beta"}
	pick := func(p float64) bool { return rng.Float64() < p }
	var recs []providers.Record
	for i := range n {
		v := make([]any, len(layout.Names))
		set := func(name string, x any) { v[layout.Index(name)] = x }
		set("id", fmt.Sprintf("p%d", i))
		if !pick(0.05) {
			visits := int64(rng.IntN(12))
			if pick(0.02) {
				visits = []int64{-1 << 63, 1<<63 - 1, -1}[rng.IntN(3)]
			}
			set("visits", visits)
		}
		if !pick(0.05) {
			set("session", time.Duration(rng.Int64N(int64(3*time.Hour))))
			switch {
			case pick(0.02):
				set("session", time.Duration(-1<<63))
			case pick(0.05):
				set("session", time.Hour)
			}
		}
		if !pick(0.05) {
			var tags []any
			for range rng.IntN(4) {
				tags = append(tags, tagPool[rng.IntN(len(tagPool))])
			}
			if pick(0.03) {
				tags = append(tags, int64(1))
			}
			set("tags", tags)
		}
		if !pick(0.05) {
			var scores []any
			for range rng.IntN(4) {
				scores = append(scores, int64(rng.IntN(10)))
			}
			if pick(0.03) {
				scores = append(scores, 3.0)
			}
			set("scores", scores)
		}
		if !pick(0.05) {
			attrs := map[string]any{}
			if pick(0.5) {
				attrs["plan"] = []string{"pro", "free"}[rng.IntN(2)]
			}
			if pick(0.5) {
				attrs["region"] = "eu"
			}
			if pick(0.03) {
				attrs["plan"] = nil
			}
			set("attrs", attrs)
		}
		if !pick(0.05) {
			set("seen", now.Add(-time.Duration(rng.Int64N(int64(48*time.Hour)))))
		}
		recs = append(recs, providers.Record{Layout: layout, Values: v})
	}
	return recs
}

func TestDifferentialProfile(t *testing.T) {
	exprs := make([]string, len(profileCases))
	for i, c := range profileCases {
		exprs[i] = c.expr
	}
	asts, schema := loadSegments(t, profileSchema, "profile", exprs)
	layout := providers.NewLayout(schema)
	recs := profiles(layout, 3000)
	now := datagen.DefaultNow
	for i, c := range profileCases {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			p, err := Compile(asts[i], "customer", layout, now)
			if err != nil {
				t.Fatalf("%s: %v", c.expr, err)
			}
			if p.Specialised() != c.spec {
				t.Errorf("%s: Specialised() = %v, want %v", c.expr, p.Specialised(), c.spec)
			}
			checkAgainst(t, c.expr, p, newReference(t, asts[i], schema, now), recs)
		})
	}
}

// TestOtherLayout checks that a record of another layout of the same
// schema is evaluated by field name.
func TestOtherLayout(t *testing.T) {
	asts, schema := loadSegments(t, customerSchema, "customer", []string{designSegment})
	layout := providers.NewLayout(schema)
	p, err := Compile(asts[0], "customer", layout, datagen.DefaultNow)
	if err != nil {
		t.Fatal(err)
	}
	ref := newReference(t, asts[0], schema, datagen.DefaultNow)
	// The same fields in reverse order.
	names := append([]string(nil), layout.Names...)
	types := map[string]*lang.FieldType{}
	for i, n := range layout.Names {
		types[n] = layout.Types[i]
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	other := providers.NewLayoutOf(names, types)
	recs := customers(t, 300, 0.05, layout)
	for k := range recs {
		v := make([]any, len(names))
		for i, n := range names {
			v[i] = recs[k].Values[layout.Index(n)]
		}
		recs[k] = providers.Record{Layout: other, Values: v}
	}
	checkAgainst(t, designSegment, p, ref, recs)
}

// TestConcurrent runs one predicate from many goroutines (under -race in
// CI) and compares with a sequential run.
func TestConcurrent(t *testing.T) {
	exprs := []string{designSegment, "customer.ltv > 500.0 && customer.last_purchase_at.getDayOfWeek() == 1"}
	asts, schema := loadSegments(t, customerSchema, "customer", exprs)
	layout := providers.NewLayout(schema)
	recs := customers(t, 2000, 0.05, layout)
	for i := range exprs {
		p, err := Compile(asts[i], "customer", layout, datagen.DefaultNow)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]bool, len(recs))
		for j := range recs {
			want[j] = p.Match(&recs[j])
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for j := g; j < len(recs); j += 8 {
					if p.Match(&recs[j]) != want[j] {
						t.Errorf("%s: record %d differs between goroutines", exprs[i], j)
					}
				}
			})
		}
		wg.Wait()
	}
}

func TestCompileErrors(t *testing.T) {
	asts, schema := loadSegments(t, customerSchema, "customer", []string{designSegment})
	layout := providers.NewLayout(schema)
	if _, err := Compile(asts[0], "profile", layout, datagen.DefaultNow); err == nil {
		t.Error("Compile with the wrong variable: no error")
	}
	if _, err := Compile(nil, "customer", layout, datagen.DefaultNow); err == nil {
		t.Error("Compile(nil): no error")
	}
}
