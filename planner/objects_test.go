package planner

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// notDiffed lists the fields of lang's Config, by "Type.Field", that the
// plan deliberately does not compare, and why. Every other field must
// change the objects desired renders when it changes: a field added to
// Config without a place in the diff fails TestEveryFieldIsDiffed.
var notDiffed = map[string]string{
	"Config.Dir":            "where the project is checked out, not what it does",
	"Config.Files":          "the files' content is what is diffed, block by block",
	"Config.Variables":      "a variable reaches the plan through the blocks that use its value; sensitive ones must not be shown",
	"Config.CustomerSchema": "one of Schemas, diffed there",
	"Herald.State":          "where the state lives: a plan is made against one state, which cannot record its own move",
	"Provider.Unset":        "derived: an attribute read with env() is shown as (from the environment)",
	"Provider.Sensitive":    "derived: hides an attribute's value as (sensitive) rather than being one",
	"Block.Name":            "the same as the block's key in Config, which makes its address",
	"ConsentChannel.Name":   "the same as its key in Consent.Channels, which is diffed",
	"TemplatePart.Name":     "the same as its key in Template.Parts, which is diffed",
	"TemplatePart.Parsed":   "derived from Source",
	"TemplatePart.Exprs":    "derived from Source",
	"Expr.AST":              "derived from Source",
	"Expr.Fields":           "derived from Source",
	"QuietHours.Start":      "derived from Source",
	"QuietHours.End":        "derived from Source",
}

// refTypes are the blocks other blocks refer to: a field of one of these
// types is a reference, diffed as the address it names.
var refTypes = map[reflect.Type]bool{
	reflect.TypeOf(lang.Provider{}): true,
	reflect.TypeOf(lang.Schema{}):   true,
	reflect.TypeOf(lang.Source{}):   true,
	reflect.TypeOf(lang.Segment{}):  true,
	reflect.TypeOf(lang.Template{}): true,
}

// fullConfig is a configuration with one block of each kind and every
// field set to something other than its zero value.
func fullConfig() *lang.Config {
	at := hcl.Range{Filename: "main.hcl"}
	block := func(name string) lang.Block {
		return lang.Block{Name: name, DeclRange: at, Description: "d", Owner: "o", Labels: []string{"l"},
			Waivers: []*lang.Waiver{{Rule: "r", Reason: "because", DeclRange: at}}}
	}
	expr := func(src string) *lang.Expr { return &lang.Expr{Source: src, Range: at} }
	prov := &lang.Provider{Type: "outbox", Name: "mail", Attributes: map[string]cty.Value{"dir": cty.StringVal("out")},
		AttrRanges: map[string]hcl.Range{"dir": at}, DeclRange: at, Unset: map[string]lang.Unset{"dir": {Env: []string{"X"}}}}
	schema := &lang.Schema{Name: "customer", DeclRange: at, Fields: []*lang.Field{{Name: "email",
		Type: &lang.FieldType{Kind: "string"}, PII: "email", Sensitive: true, Description: "d", DeclRange: at}}}
	src := &lang.Source{Name: "customers", From: prov, Table: "t.csv", Query: "q", Schema: schema, Key: "id", OnError: "skip",
		Cursor: "c", Fields: lang.EventFields{Customer: "cid", Time: "ts", Type: "kind"}, Block: block("customers")}
	seg := &lang.Segment{From: src, Where: expr("customer.ltv > 1.0"), Block: block("big")}
	tmpl := &lang.Template{Channel: "email", Block: block("t"), Parts: map[string]*lang.TemplatePart{
		"html": {Name: "html", Source: "<p>\n{{ unsubscribe_url }}\n</p>", FromFile: "t.html", Range: at}}}
	return &lang.Config{
		Dir: "/p", Files: []string{"main.hcl"},
		Herald: lang.Herald{
			State:     lang.State{Backend: "sqlite", Path: ".herald/state.db"},
			PublicURL: "https://h.example", DeclRange: at,
			Sender: lang.Sender{Name: "Acme", Email: "news@acme.example", PostalAddress: "1 Main St", ReplyTo: "help@acme.example", Range: at},
			Rules:  lang.Rules{NamePattern: "^[a-z_]+$"},
		},
		Variables:      map[string]*lang.Variable{"v": {Name: "v", Type: cty.String, Value: cty.StringVal("x")}},
		Providers:      map[string]*lang.Provider{"outbox.mail": prov},
		Schemas:        map[string]*lang.Schema{"customer": schema},
		Sources:        map[string]*lang.Source{"customers": src},
		CustomerSchema: schema,
		Consent: &lang.Consent{From: src, DeclRange: at, Channels: map[string]*lang.ConsentChannel{"email": {
			Name: "email", Basis: "consent", OptIn: "double", Block: block("email"),
			QuietHours: &lang.QuietHours{Start: 21 * time.Hour, End: 8 * time.Hour, Source: "21:00-08:00"}}}},
		Segments:  map[string]*lang.Segment{"big": seg},
		Templates: map[string]*lang.Template{"t": tmpl},
		Campaigns: map[string]*lang.Campaign{"promo": {
			Audience: seg, Exclude: []*lang.Segment{seg}, Channel: "email", Via: prov, Purpose: "marketing",
			LegalBasis: "consent", Holdout: 0.1, FrequencyCap: &lang.FrequencyCap{Limit: 2, Per: time.Hour},
			Schedule: &lang.Schedule{At: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Location: time.UTC, MaxLate: time.Hour},
			Variants: []*lang.Variant{{Name: "a", Weight: 1, Template: tmpl}},
			UTM:      map[string]string{"source": "herald"}, Block: block("promo"),
		}},
		Audiences: map[string]*lang.Audience{"seed": {Segment: seg, To: prov, MatchOn: []string{"email"}, Block: block("seed")}},
		Triggers: map[string]*lang.Trigger{"welcome": {
			From: src, On: "signup", When: expr("true"), Threshold: &lang.Threshold{Count: 2, Within: time.Hour},
			Unless: expr("false"), Dedupe: expr("event.id"), Reentry: time.Hour, Backfill: time.Hour,
			Purpose: "marketing", LegalBasis: "consent", ExitWhen: expr("event.type == 'x'"), Block: block("welcome"),
			Steps: []*lang.Step{{Name: "first", Wait: time.Hour, If: expr("true"), DeclRange: at,
				Send: &lang.Send{Template: tmpl, Via: prov}}},
		}},
	}
}

// leaf is one field of fullConfig to change: how to reach it from the
// root, and its name for the failure message.
type leaf struct {
	key  string // "Type.Field"
	path string // where, for people
	get  func(root reflect.Value) reflect.Value
}

// leaves walks v (of type t), reached from the root by get, and returns
// every field below it that is a value to change.
func leaves(get func(reflect.Value) reflect.Value, t reflect.Type, path string, t0 *testing.T) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key := t.Name() + "." + f.Name
		if _, ok := notDiffed[key]; ok {
			continue
		}
		if strings.HasSuffix(f.Name, "Range") || strings.HasSuffix(f.Name, "Ranges") {
			continue // positions in files
		}
		fget := func(root reflect.Value) reflect.Value { return get(root).Field(i) }
		fpath := path + "." + f.Name
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && !isLeafType(ft):
			out = append(out, leaves(fget, ft, fpath, t0)...)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && !refTypes[ft.Elem()] && !isLeafType(ft):
			out = append(out, leaves(func(root reflect.Value) reflect.Value { return fget(root).Elem() }, ft.Elem(), fpath, t0)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Pointer && !refTypes[ft.Elem().Elem()]:
			out = append(out, leaves(func(root reflect.Value) reflect.Value { return fget(root).Index(0).Elem() }, ft.Elem().Elem(), fpath+"[0]", t0)...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Pointer && !refTypes[ft.Elem().Elem()] || (t.Name() == "Config" && ft.Kind() == reflect.Map):
			out = append(out, leaves(func(root reflect.Value) reflect.Value {
				m := fget(root)
				keys := m.MapKeys()
				sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
				return m.MapIndex(keys[0]).Elem()
			}, ft.Elem().Elem(), fpath+"[…]", t0)...)
		default:
			out = append(out, leaf{key: key, path: fpath, get: fget})
		}
	}
	return out
}

func isLeafType(t reflect.Type) bool {
	switch t {
	case reflect.TypeOf(time.Time{}), reflect.TypeOf(&time.Location{}), reflect.TypeOf(&lang.FieldType{}), reflect.TypeOf(cty.Value{}):
		return true
	}
	return false
}

// mutate changes v to another value of its type.
func mutate(v reflect.Value) error {
	rename := func(p reflect.Value) {
		n := reflect.New(p.Type().Elem())
		n.Elem().Set(p.Elem())
		name := n.Elem().FieldByName("Name")
		name.SetString(name.String() + "x")
		p.Set(n)
	}
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		v.SetInt(v.Int() + int64(time.Second))
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
	case v.Type() == reflect.TypeOf(&time.Location{}):
		loc, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(loc))
	case v.Type() == reflect.TypeOf(&lang.FieldType{}):
		v.Set(reflect.ValueOf(&lang.FieldType{Kind: "list", Elem: &lang.FieldType{Kind: "string"}}))
	case v.Kind() == reflect.Pointer && refTypes[v.Type().Elem()]:
		rename(v)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Pointer && refTypes[v.Type().Elem().Elem()]:
		rename(v.Index(0))
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "x")
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.Kind() == reflect.Int:
		v.SetInt(v.Int() + 1)
	case v.Kind() == reflect.Float64:
		v.SetFloat(v.Float() + 0.25)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.Append(v, reflect.ValueOf("x")))
	case v.Kind() == reflect.Map && v.Type().Elem().Kind() == reflect.String:
		v.SetMapIndex(reflect.ValueOf("zz"), reflect.ValueOf("x"))
	case v.Kind() == reflect.Map && v.Type().Elem() == reflect.TypeOf(cty.Value{}):
		v.SetMapIndex(reflect.ValueOf("zz"), reflect.ValueOf(cty.StringVal("x")))
	default:
		return fmt.Errorf("the test does not know how to change a %s", v.Type())
	}
	return nil
}

// TestEveryFieldIsDiffed changes each field of a full configuration in
// turn and checks that the plan sees it: a field lang adds is either
// diffed or listed in notDiffed with the reason.
func TestEveryFieldIsDiffed(t *testing.T) {
	base := desired(fullConfig())
	all := leaves(func(root reflect.Value) reflect.Value { return root }, reflect.TypeOf(lang.Config{}), "Config", t)
	if len(all) < 50 {
		t.Fatalf("only %d fields found: the walk is broken", len(all))
	}
	for _, l := range all {
		cfg := fullConfig()
		if err := mutate(l.get(reflect.ValueOf(cfg).Elem())); err != nil {
			t.Errorf("%s: %v", l.path, err)
			continue
		}
		if reflect.DeepEqual(desired(cfg), base) {
			t.Errorf("%s (%s) changed and the plan shows no change: add it to the attributes in objects.go, or to notDiffed with the reason", l.path, l.key)
		}
	}
	// The allow-list names only fields that exist.
	for key := range notDiffed {
		typ, field, _ := strings.Cut(key, ".")
		found := false
		for _, l := range []any{lang.Config{}, lang.Block{}, lang.Herald{}, lang.Provider{}, lang.ConsentChannel{}, lang.TemplatePart{}, lang.Expr{}, lang.QuietHours{}} {
			rt := reflect.TypeOf(l)
			if _, ok := rt.FieldByName(field); ok && rt.Name() == typ {
				found = true
			}
		}
		if !found {
			t.Errorf("notDiffed names %s, which is not a field", key)
		}
	}
}
