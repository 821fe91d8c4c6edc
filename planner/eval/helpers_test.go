package eval

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/heraldhq/herald/internal/datagen"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// customerSchema is the customer schema of DESIGN.md.
const customerSchema = `
schema "customer" {
  field "id"         { type = string }
  field "email"      { pii = "email" }
  field "phone"      { pii = "phone" }
  field "first_name" { pii = "name" }
  field "country"    { type = string }
  field "timezone"   { type = string }
  field "ltv"        { type = double }
  field "last_purchase_at"  { type = timestamp }
  field "support_case_open" { type = bool }
  field "age_range" {
    type      = string
    sensitive = true
  }
}
`

// loadSegments loads a project with one segment per expression over a
// source of the named schema, and returns the checked conditions in order
// and the schema.
func loadSegments(t testing.TB, schemaHCL, schemaName string, exprs []string) ([]*cel.Ast, *lang.Schema) {
	t.Helper()
	var b strings.Builder
	b.WriteString("provider \"files\" \"cdp\" {\n  dir = \"data\"\n}\n")
	b.WriteString(schemaHCL)
	fmt.Fprintf(&b, "source \"src\" {\n  from   = provider.files.cdp\n  table  = \"t.csv\"\n  schema = schema.%s\n  key    = \"id\"\n}\n", schemaName)
	for i, e := range exprs {
		if strings.Contains(e, "${") || strings.Contains(e, "%{") {
			t.Fatalf("expression %d would be an HCL template: %s", i, e)
		}
		fmt.Fprintf(&b, "segment \"e%d\" {\n  from  = source.src\n  where = %q\n}\n", i, e)
	}
	cfg, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(b.String())}}, "test",
		lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatalf("loading the test project: %s", diags.Error())
	}
	asts := make([]*cel.Ast, len(exprs))
	for i := range exprs {
		s := cfg.Segments[fmt.Sprintf("e%d", i)]
		if s == nil || s.Where == nil {
			t.Fatalf("segment e%d (%s) has no condition", i, exprs[i])
		}
		asts[i] = s.Where.AST
	}
	return asts, cfg.Schemas[schemaName]
}

// customers generates n customers with datagen and parses them as the
// files provider would, typed by the layout; then blanks a share of the
// fields so that conditions meet absent values.
func customers(t testing.TB, n int, blank float64, layout *providers.Layout) []providers.Record {
	t.Helper()
	var buf bytes.Buffer
	if err := datagen.WriteCustomers(&buf, datagen.Options{Customers: n, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(&buf)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]int, len(header))
	for i, h := range header {
		cols[i] = layout.Index(h)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []providers.Record
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := providers.Record{Layout: layout, Values: make([]any, len(layout.Names))}
		for i, cell := range row {
			j := cols[i]
			if j < 0 || cell == "" || rng.Float64() < blank {
				continue
			}
			v, err := parseCell(cell, layout.Types[j])
			if err != nil {
				t.Fatalf("row %d, %s: %v", len(recs)+2, header[i], err)
			}
			rec.Values[j] = v
		}
		recs = append(recs, rec)
	}
	return recs
}

func parseCell(s string, t *lang.FieldType) (any, error) {
	kind := "string"
	if t != nil {
		kind = t.Kind
	}
	switch kind {
	case "int":
		return strconv.ParseInt(s, 10, 64)
	case "double":
		return strconv.ParseFloat(s, 64)
	case "bool":
		return strconv.ParseBool(s)
	case "timestamp":
		return time.Parse(time.RFC3339Nano, s)
	case "duration":
		return time.ParseDuration(s)
	}
	return s, nil
}

// edgeCustomers are records that datagen does not make: values at the edges
// of CEL's arithmetic, odd strings, and fields holding Go types other than
// their declared type's (which the specialised code leaves to cel-go).
func edgeCustomers(layout *providers.Layout) []providers.Record {
	base := map[string]any{
		"id": "x1", "email": "Ann.Lee@Example.COM", "phone": "+15415550100", "first_name": "Ann",
		"country": "US", "timezone": "America/New_York", "ltv": 750.0,
		"last_purchase_at": time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), "support_case_open": false, "age_range": "25-34",
	}
	variants := []map[string]any{
		{},
		{"ltv": math.NaN()},
		{"ltv": math.Inf(1)},
		{"ltv": math.Inf(-1)},
		{"ltv": math.Copysign(0, -1)},
		{"ltv": 1e300},
		{"ltv": -9.3e18},
		{"ltv": 9.3e18},
		{"ltv": 500.0},
		{"last_purchase_at": time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"last_purchase_at": time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"last_purchase_at": time.Date(1700, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"last_purchase_at": time.Date(2300, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"last_purchase_at": time.Date(-5, 6, 1, 0, 0, 0, 1, time.UTC)},
		{"last_purchase_at": datagen.DefaultNow.Add(-2160 * time.Hour)},
		{"last_purchase_at": datagen.DefaultNow.Add(-2160*time.Hour - 1)},
		{"last_purchase_at": datagen.DefaultNow.Add(-2160 * time.Hour).In(time.FixedZone("X", -7*3600))},
		{"last_purchase_at": datagen.DefaultNow},
		{"email": "\xff\xfeBAD@example.com", "first_name": "\xc3"},
		{"email": "", "first_name": "", "country": ""},
		{"first_name": "ÅSA", "country": "GB"},
		{"country": "CA", "support_case_open": true},
		{"phone": nil, "email": nil, "first_name": nil, "age_range": nil},
		{"ltv": nil, "last_purchase_at": nil, "support_case_open": nil, "country": nil},
		// Go types other than the declared ones: cel-go converts them.
		{"ltv": int64(600)},
		{"ltv": 600},
		{"ltv": "600"},
		{"support_case_open": "false"},
		{"country": []any{"US"}},
		{"last_purchase_at": "2025-01-01T00:00:00Z"},
		{"email": 42.0},
	}
	var recs []providers.Record
	for i, v := range variants {
		rec := providers.Record{Layout: layout, Values: make([]any, len(layout.Names))}
		for name, x := range base {
			if j := layout.Index(name); j >= 0 {
				rec.Values[j] = x
			}
		}
		for name, x := range v {
			if j := layout.Index(name); j >= 0 {
				rec.Values[j] = x
			}
		}
		rec.Values[layout.Index("id")] = fmt.Sprintf("edge%02d", i)
		recs = append(recs, rec)
	}
	return recs
}

// reference is cel-go's own evaluation of a checked AST, planned in an
// environment built like lang's (a provider reading lang.Record by name),
// without any optimisation: the truth the predicate must match.
type reference struct {
	prg cel.Program
	now time.Time
}

func newReference(t testing.TB, ast *cel.Ast, schema *lang.Schema, now time.Time) *reference {
	t.Helper()
	reg, err := types.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	p := &refProvider{Registry: reg, name: lang.SchemaTypePrefix + schema.Name, schema: schema}
	env, err := cel.NewEnv(
		cel.CustomTypeProvider(p),
		ext.Strings(),
		ext.Math(),
		cel.OptionalTypes(),
		cel.Variable("customer", cel.ObjectType(p.name)),
		cel.Variable("now", cel.TimestampType),
	)
	if err != nil {
		t.Fatal(err)
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	return &reference{prg: prg, now: now}
}

func (r *reference) match(rec *providers.Record) bool {
	out, _, err := r.prg.Eval(map[string]any{"customer": rec, "now": r.now})
	return err == nil && out == types.True
}

type refProvider struct {
	*types.Registry
	name   string
	schema *lang.Schema
}

func (p *refProvider) FindStructType(name string) (*types.Type, bool) {
	if name == p.name {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p *refProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == p.name {
		names := p.schema.FieldNames()
		sort.Strings(names)
		return names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *refProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name != p.name {
		return p.Registry.FindStructFieldType(name, field)
	}
	f := p.schema.Field(field)
	if f == nil {
		return nil, false
	}
	return &types.FieldType{
		Type: celType(f.Type),
		IsSet: func(target any) bool {
			_, set := target.(lang.Record).Field(field)
			return set
		},
		GetFrom: func(target any) (any, error) {
			if v, set := target.(lang.Record).Field(field); set {
				return v, nil
			}
			return nil, fmt.Errorf("no such key: %s", field)
		},
	}, true
}

func describe(r *providers.Record) string {
	var b strings.Builder
	for i, n := range r.Layout.Names {
		fmt.Fprintf(&b, "%s=%#v ", n, r.Values[i])
	}
	return b.String()
}
