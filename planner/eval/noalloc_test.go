//go:build !race

// The race detector makes sync.Pool drop items, so regexp allocates under
// it; allocations are measured without it.

package eval

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/datagen"
	"github.com/heraldhq/herald/providers"
)

// TestNoAllocs checks that the specialised path allocates nothing, except
// where CEL makes a new string (lowerAscii and upperAscii of a string that
// has letters to change).
func TestNoAllocs(t *testing.T) {
	var exprs []string
	for _, c := range customerCases {
		if c.spec && !strings.Contains(c.expr, "Ascii()") {
			exprs = append(exprs, c.expr)
		}
	}
	asts, schema := loadSegments(t, customerSchema, "customer", exprs)
	layout := providers.NewLayout(schema)
	recs := customers(t, 200, 0.05, layout)
	for i, e := range exprs {
		p, err := Compile(asts[i], "customer", layout, datagen.DefaultNow)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			for j := range recs {
				p.Match(&recs[j])
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Match allocates %v times per %d records", e, allocs, len(recs))
		}
	}
}
