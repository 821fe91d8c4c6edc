package outbox

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// stringAttr is a string attribute of p, "" when it is not set.
func stringAttr(p *lang.Provider, name string) (string, error) {
	v, ok := p.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() {
		return "", nil
	}
	if !v.IsWhollyKnown() {
		hint := "it comes from a value that is not known"
		if h := p.Unset[name].Hint(); h != "" {
			hint = h
		}
		return "", fmt.Errorf("provider.%s: %s is not set: %s", p.Address(), name, hint)
	}
	if v.Type() != cty.String {
		return "", fmt.Errorf("provider.%s: %s must be a string", p.Address(), name)
	}
	return v.AsString(), nil
}
