package planner

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestJSONDocumented checks that docs/plan-json.md documents every field
// of the JSON plan, in the section of the object it belongs to, and
// nothing that is not in it.
func TestJSONDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/plan-json.md")
	if err != nil {
		t.Fatal(err)
	}
	// The rows "| `field` | type | meaning |" of each "## section".
	sections := map[string]map[string]string{}
	var cur string
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\|([^|]*)\\|")
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			cur = h
			sections[cur] = map[string]string{}
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil && cur != "" {
			sections[cur][m[1]] = m[2]
		}
	}
	for _, tc := range []struct {
		section string
		v       any
	}{
		{"Top level", jsonPlan{}},
		{"summary", Summary{}},
		{"change", Change{}},
		{"campaign plan", CampaignPlan{}},
		{"step", Step{}},
		{"audience plan", AudiencePlan{}},
		{"drift", Drift{}},
		{"teardown", Teardown{}},
	} {
		rows, ok := sections[tc.section]
		if !ok {
			t.Errorf("docs/plan-json.md has no section ## %s", tc.section)
			continue
		}
		names := jsonNames(reflect.TypeOf(tc.v))
		for _, name := range names {
			if _, ok := rows[name]; !ok {
				t.Errorf("docs/plan-json.md, ## %s: `%s` is in the JSON plan but not documented", tc.section, name)
			}
		}
		for name := range rows {
			if !contains(names, name) {
				t.Errorf("docs/plan-json.md, ## %s: `%s` is documented but not in the JSON plan", tc.section, name)
			}
		}
	}
	// Small objects are documented in their parent's type column:
	// "array of `{name, count}`".
	for _, tc := range []struct {
		section, field string
		v              any
	}{
		{"change", "attrs", AttrChange{}},
		{"campaign plan", "variants", VariantCount{}},
		{"campaign plan", "sample", SampleRecipient{}},
	} {
		typ := sections[tc.section][tc.field]
		for _, name := range jsonNames(reflect.TypeOf(tc.v)) {
			if !regexp.MustCompile(`\{[^}]*\b` + name + `\b[^}]*\}`).MatchString(typ) {
				t.Errorf("docs/plan-json.md, ## %s: `%s` does not list its field %s (%q)", tc.section, tc.field, name, typ)
			}
		}
	}
}

// jsonNames lists the JSON names of t's fields that are marshalled.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !t.Field(i).IsExported() {
			continue
		}
		if name == "" {
			name = t.Field(i).Name
		}
		out = append(out, name)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
