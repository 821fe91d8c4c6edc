package providers

import (
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// StringAttr is a string attribute of a provider block and whether it is
// set. An unknown value is an env() whose variable is not set: the error
// names the variable, never a value.
func StringAttr(p *lang.Provider, name string) (string, bool, error) {
	v, ok := p.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() {
		return "", false, nil
	}
	if !v.IsWhollyKnown() {
		hint := "it comes from a value that is not known"
		if h := p.Unset[name].Hint(); h != "" {
			hint = h
		}
		return "", false, fmt.Errorf("provider.%s: %s is not set: %s", p.Address(), name, hint)
	}
	if v.Type() != cty.String {
		return "", false, fmt.Errorf("provider.%s: %s must be a string", p.Address(), name)
	}
	return v.AsString(), true, nil
}

// HTTPClient is the client an HTTP provider sends with: the block's
// timeout (default def), as many idle connections as its concurrency, and
// no redirects — a redirect would carry the credentials or the signed body
// somewhere the configuration does not name.
func HTTPClient(p *lang.Provider, def time.Duration) (*http.Client, error) {
	timeout := def
	s, _, err := StringAttr(p, "timeout")
	if err != nil {
		return nil, err
	}
	if s != "" {
		if timeout, err = lang.ParseDuration(s); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("provider.%s: timeout %q is not a positive duration", p.Address(), s)
		}
	}
	conns := 16
	if v, ok := p.Attributes["concurrency"]; ok && v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
		if n, acc := v.AsBigFloat().Int64(); acc == big.Exact && n > 0 && n < 10000 {
			conns = int(n)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
