package eval

import (
	"fmt"
	"sort"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

const nowName = "now"

// newEnv builds a CEL environment in which a checked AST from lang can be
// planned: the same options as lang's celEnvs.env (a custom type provider
// making the schema an object type, ext.Strings, ext.Math, optional types)
// and the same variables. A checked AST carries its own types and overload
// references, so an environment that declares the same functions, variables
// and object type plans it as lang's own would.
//
// lang does not export its environment; if it ever does (for example a
// Config.CELEnv(Scope)), this can use it instead, but it would still need a
// provider whose GetFrom reads a Record by index rather than by name.
func newEnv(variable, typeName string, layout *providers.Layout) (*cel.Env, error) {
	p, err := newRecordProvider(typeName, layout)
	if err != nil {
		return nil, err
	}
	varType := cel.DynType
	if typeName != "" {
		varType = cel.ObjectType(typeName)
	}
	opts := append([]cel.EnvOption{cel.CustomTypeProvider(p)}, lang.CELLibraries()...)
	opts = append(opts, cel.Variable(variable, varType), cel.Variable(nowName, cel.TimestampType))
	return cel.NewEnv(opts...)
}

// recordProvider makes a schema a CEL object type whose values are
// *providers.Record. lang's schemaProvider does the same through the
// lang.Record interface and a field name; this one reads by index when the
// record has the layout the predicate was compiled for.
type recordProvider struct {
	*types.Registry
	typeName string
	layout   *providers.Layout
}

func newRecordProvider(typeName string, layout *providers.Layout) (*recordProvider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	return &recordProvider{Registry: reg, typeName: typeName, layout: layout}, nil
}

func (p *recordProvider) FindStructType(name string) (*types.Type, bool) {
	if name == p.typeName && name != "" {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p *recordProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == p.typeName && name != "" {
		names := append([]string(nil), p.layout.Names...)
		sort.Strings(names)
		return names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *recordProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name != p.typeName || name == "" {
		return p.Registry.FindStructFieldType(name, field)
	}
	i := p.layout.Index(field)
	if i < 0 {
		return nil, false
	}
	layout := p.layout
	get := func(target any) (any, bool) {
		switch r := target.(type) {
		case *providers.Record:
			if r.Layout == layout {
				v := r.Values[i]
				return v, v != nil
			}
			return r.Field(field)
		case lang.Record:
			return r.Field(field)
		}
		return nil, false
	}
	return &types.FieldType{
		Type: celType(p.layout.Types[i]),
		IsSet: func(target any) bool {
			_, set := get(target)
			return set
		},
		GetFrom: func(target any) (any, error) {
			if v, set := get(target); set {
				return v, nil
			}
			return nil, fmt.Errorf("no such key: %s", field)
		},
	}, true
}

// celType is the CEL type of a schema field type, as lang types it.
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

// objectTypeName returns the type the checker gave the variable, such as
// "schema.customer", or "" when the expression does not use it.
func objectTypeName(a *celast.AST, variable string) string {
	name := ""
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if name == "" && e.Kind() == celast.IdentKind && e.AsIdent() == variable {
			if t := a.GetType(e.ID()); t != nil && t.Kind() == types.StructKind {
				name = t.TypeName()
			}
		}
	}))
	return name
}

// activation binds the variable to a record and `now` to the plan's time.
type activation struct {
	variable string
	rec      *providers.Record
	now      ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case a.variable:
		return a.rec, a.rec != nil
	case nowName:
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// subActivation is the activation of a subtree that the specialised code
// hands to cel-go: it has only the record's values.
type subActivation struct {
	variable string
	rec      providers.Record
	now      ref.Val
}

func (a *subActivation) ResolveName(name string) (any, bool) {
	switch name {
	case a.variable:
		return &a.rec, true
	case nowName:
		return a.now, true
	}
	return nil, false
}

func (a *subActivation) Parent() interpreter.Activation { return nil }

// subProgram plans the subtree e of the checked AST on its own.
func (c *compiler) subProgram(e celast.Expr) (cel.Program, error) {
	sub := celast.NewCheckedAST(celast.NewAST(e, c.ast.SourceInfo()), c.ast.TypeMap(), c.ast.ReferenceMap())
	return plan(c.env, sub)
}

// plan plans a program with cel.OptOptimize. The optimiser folds constant
// subexpressions while planning and fails on one that is an error, such as
// duration('90d'): lang accepts that expression (it type-checks), and CEL
// says it is an error when evaluated, so it is planned again without
// folding and evaluates to the error.
func plan(env *cel.Env, a *celast.AST) (cel.Program, error) {
	prg, err := env.PlanProgram(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		prg, err = env.PlanProgram(a)
	}
	return prg, err
}

// freeIdents returns the variables e reads that no comprehension inside e
// binds. Identifiers the checker resolved to a type (`double` in
// `type(x) == double`) or to a constant are not variables.
func freeIdents(a *celast.AST, e celast.Expr) map[string]bool {
	free := map[string]bool{}
	var walk func(e celast.Expr, bound map[string]bool)
	walk = func(e celast.Expr, bound map[string]bool) {
		switch e.Kind() {
		case celast.IdentKind:
			if bound[e.AsIdent()] {
				return
			}
			if t := a.GetType(e.ID()); t != nil && t.Kind() == types.TypeKind {
				return
			}
			if r, ok := a.ReferenceMap()[e.ID()]; ok && r.Value != nil {
				return
			}
			free[e.AsIdent()] = true
		case celast.SelectKind:
			walk(e.AsSelect().Operand(), bound)
		case celast.CallKind:
			call := e.AsCall()
			if call.IsMemberFunction() {
				walk(call.Target(), bound)
			}
			for _, a := range call.Args() {
				walk(a, bound)
			}
		case celast.ListKind:
			for _, x := range e.AsList().Elements() {
				walk(x, bound)
			}
		case celast.MapKind:
			for _, entry := range e.AsMap().Entries() {
				m := entry.AsMapEntry()
				walk(m.Key(), bound)
				walk(m.Value(), bound)
			}
		case celast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), bound)
			}
		case celast.ComprehensionKind:
			comp := e.AsComprehension()
			walk(comp.IterRange(), bound)
			walk(comp.AccuInit(), bound)
			inner := map[string]bool{comp.IterVar(): true, comp.AccuVar(): true}
			if comp.HasIterVar2() {
				inner[comp.IterVar2()] = true
			}
			for k := range bound {
				inner[k] = true
			}
			walk(comp.LoopCondition(), inner)
			walk(comp.LoopStep(), inner)
			walk(comp.Result(), inner)
		}
	}
	walk(e, map[string]bool{})
	return free
}
