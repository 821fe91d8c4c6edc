package smtp

import (
	"fmt"
	"math/big"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// attrs reads the evaluated attributes of a provider block. An unknown
// value is what env() leaves for a variable that is not set, so its error
// names the variables the block reads; no error repeats a value.
type attrs struct{ p *lang.Provider }

func (a attrs) get(name string) (cty.Value, bool, error) {
	v, ok := a.p.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() {
		return cty.NilVal, false, nil
	}
	if !v.IsWhollyKnown() {
		hint := "it comes from a value that is not known"
		if h := a.p.Unset[name].Hint(); h != "" {
			hint = h
		}
		return cty.NilVal, false, fmt.Errorf("provider.%s: %s is not set: %s", a.p.Address(), name, hint)
	}
	return v, true, nil
}

func (a attrs) str(name string) (string, error) {
	v, ok, err := a.get(name)
	if err != nil || !ok {
		return "", err
	}
	if v.Type() != cty.String {
		return "", fmt.Errorf("provider.%s: %s must be a string", a.p.Address(), name)
	}
	return v.AsString(), nil
}

func (a attrs) integer(name string, def, lo, hi int) (int, error) {
	v, ok, err := a.get(name)
	if err != nil || !ok {
		return def, err
	}
	if v.Type() != cty.Number {
		return 0, fmt.Errorf("provider.%s: %s must be a number", a.p.Address(), name)
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("provider.%s: %s must be a whole number from %d to %d", a.p.Address(), name, lo, hi)
	}
	return int(n), nil
}

func (a attrs) duration(name string, def time.Duration) (time.Duration, error) {
	s, err := a.str(name)
	if err != nil || s == "" {
		return def, err
	}
	d, err := lang.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("provider.%s: %s: %w", a.p.Address(), name, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("provider.%s: %s must be positive", a.p.Address(), name)
	}
	return d, nil
}
