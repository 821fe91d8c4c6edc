package pushdown

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// projectHCL declares the customer schema of DESIGN.md, an int field
// (orders) and a list field (tags), over a postgres source.
const projectHCL = `
provider "postgres" "db" {
  url = env("HERALD_TEST_DB_URL")
}

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
  field "orders" { type = int }
  field "tags"   { type = list(string) }
}

source "customers" {
  from   = provider.postgres.db
  table  = "customers"
  schema = schema.customer
  key    = "id"
}
`

// loadExprs type-checks each expression as the where of a segment, through
// lang with the real CEL environment, and returns the checked expressions
// in order, and the customer schema.
func loadExprs(t testing.TB, exprs []string) ([]*lang.Expr, *lang.Schema) {
	t.Helper()
	var b strings.Builder
	b.WriteString(projectHCL)
	for i, e := range exprs {
		fmt.Fprintf(&b, "segment \"s%d\" {\n  from  = source.customers\n  where = %s\n}\n", i, hclString(e))
	}
	cfg, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(b.String())}}, ".",
		lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatalf("loading expressions: %v", diags.Errs())
	}
	out := make([]*lang.Expr, len(exprs))
	for i := range exprs {
		s := cfg.Segments[fmt.Sprintf("s%d", i)]
		if s == nil || s.Where == nil {
			t.Fatalf("segment for %q did not load", exprs[i])
		}
		out[i] = s.Where
	}
	return out, cfg.Schemas["customer"]
}

// hclString quotes s as an HCL string literal.
func hclString(s string) string {
	q := fmt.Sprintf("%q", s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// evalEnv is the CEL environment lang builds for a segment, for running
// checked expressions in memory with plain cel-go. lang does not export its
// environment, so this mirrors celenv.go: lang's libraries and a type
// provider that makes schema.customer an object type whose fields are read
// through lang.Record.
func evalEnv(t testing.TB, s *lang.Schema) *cel.Env {
	t.Helper()
	reg, err := types.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	p := &recordProvider{Registry: reg, name: lang.SchemaTypePrefix + s.Name, fields: map[string]*types.Type{}}
	for _, f := range s.Fields {
		p.fields[f.Name] = celType(f.Type)
	}
	opts := append([]cel.EnvOption{cel.CustomTypeProvider(p)}, lang.CELLibraries()...)
	env, err := cel.NewEnv(append(opts,
		cel.Variable("customer", cel.ObjectType(p.name)),
		cel.Variable("now", cel.TimestampType),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type recordProvider struct {
	*types.Registry
	name   string
	fields map[string]*types.Type
}

func celType(t *lang.FieldType) *types.Type {
	if t == nil {
		return types.StringType
	}
	switch t.Kind {
	case "int":
		return types.IntType
	case "double":
		return types.DoubleType
	case "bool":
		return types.BoolType
	case "timestamp":
		return types.TimestampType
	case "duration":
		return types.DurationType
	case "list":
		return types.NewListType(celType(t.Elem))
	case "map":
		return types.NewMapType(types.StringType, celType(t.Elem))
	}
	return types.StringType
}

func (p *recordProvider) FindStructType(name string) (*types.Type, bool) {
	if name == p.name {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p *recordProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name != p.name {
		return p.Registry.FindStructFieldNames(name)
	}
	var names []string
	for n := range p.fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, true
}

func (p *recordProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name != p.name {
		return p.Registry.FindStructFieldType(name, field)
	}
	t, ok := p.fields[field]
	if !ok {
		return nil, false
	}
	// The interpreter hands GetFrom and IsSet the activation's value as it
	// is — here the *providers.Record — so no wrapping is needed.
	return &types.FieldType{
		Type: t,
		IsSet: func(target any) bool {
			r, ok := target.(lang.Record)
			if !ok {
				return false
			}
			_, set := r.Field(field)
			return set
		},
		GetFrom: func(target any) (any, error) {
			if r, ok := target.(lang.Record); ok {
				if v, set := r.Field(field); set {
					return v, nil
				}
			}
			return nil, fmt.Errorf("no such key: %s", field)
		},
	}, true
}

// rowActivation binds customer to a record and now to the plan's time,
// without a map per row.
type rowActivation struct {
	rec *providers.Record
	now any
}

func (a *rowActivation) ResolveName(name string) (any, bool) {
	switch name {
	case "customer":
		return a.rec, true
	case "now":
		return a.now, true
	}
	return nil, false
}

func (a *rowActivation) Parent() interpreter.Activation { return nil }

// selects evaluates a program on a record: an error is "not selected".
func selects(prg cel.Program, rec *providers.Record, now time.Time) bool {
	out, _, err := prg.Eval(&rowActivation{rec: rec, now: types.Timestamp{Time: now}})
	if err != nil {
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}
