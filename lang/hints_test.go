package lang_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang/diag"
)

// moreFields widens smallProject's schema with a field of each CEL kind.
var moreFields = []string{`  field "ltv" { type = double }`, `  field "ltv" { type = double }
  field "orders" { type = int }
  field "tags" { type = list(string) }
  field "attrs" { type = map(string) }
  field "seen_at" { type = timestamp }
  field "idle" { type = duration }`}

var exampleRe = regexp.MustCompile(`for example "([^"]+)"`)

// TestNotBoolHint: the hint for a condition that is not a bool suggests a
// comparison of the right type, and the suggestion validates.
func TestNotBoolHint(t *testing.T) {
	tests := []struct {
		where, example string
	}{
		{"customer.ltv", "customer.ltv > 0.0"},
		{"customer.ltv * 2.0", "(customer.ltv * 2.0) > 0.0"},
		{"customer.orders", "customer.orders > 0"},
		{"customer.first_name", "customer.first_name == 'value'"},
		{"customer.tags", "customer.tags.size() > 0"},
		{"customer.attrs", "customer.attrs.size() > 0"},
		{"customer.seen_at", "customer.seen_at < now"},
		{"customer.idle", "customer.idle > duration('24h')"},
		{"customer.ltv > 1.0 ? customer.first_name : 'x'", "(customer.ltv > 1.0 ? customer.first_name : 'x') == 'value'"},
		{"customer.tags[0]", "customer.tags[0] == 'value'"},
	}
	for _, tc := range tests {
		t.Run(tc.where, func(t *testing.T) {
			edits := append(append([]string{}, moreFields...), "customer.ltv > 1.0", tc.where)
			_, diags, _ := loadSmall(t, edits...)
			if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.NotBoolean {
				t.Fatalf("want one %s, got %v", diag.NotBoolean, diags)
			}
			m := exampleRe.FindStringSubmatch(diags[0].Detail)
			if m == nil || m[1] != tc.example {
				t.Fatalf("detail %q, want the example %q", diags[0].Detail, tc.example)
			}
			edits = append(append([]string{}, moreFields...), "customer.ltv > 1.0", m[1])
			if _, diags, _ := loadSmall(t, edits...); len(diags) > 0 {
				t.Errorf("the suggested %q does not validate: %v", m[1], diags)
			}
		})
	}
}

// TestMixedNumbersHint: comparing a double with an int literal says to
// write a double.
func TestMixedNumbersHint(t *testing.T) {
	for _, where := range []string{"customer.ltv > 0", "500 <= customer.ltv", "customer.ltv + 1 > 2.0", "customer.orders == 1.5"} {
		t.Run(where, func(t *testing.T) {
			edits := append(append([]string{}, moreFields...), "customer.ltv > 1.0", where)
			_, diags, _ := loadSmall(t, edits...)
			if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.CELType {
				t.Fatalf("want one %s, got %v", diag.CELType, diags)
			}
			if !strings.Contains(diags[0].Detail, "write 0.0 to compare a double with a number") {
				t.Errorf("detail %q has no hint", diags[0].Detail)
			}
		})
	}
}
