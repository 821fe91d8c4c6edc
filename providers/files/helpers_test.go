package files

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func request(dir, table string, lay *providers.Layout, onError string) providers.SourceRequest {
	return providers.SourceRequest{
		Dir:      dir,
		Provider: &lang.Provider{Type: "files", Name: "cdp", Attributes: map[string]cty.Value{"dir": cty.StringVal(".")}},
		Source:   &lang.Source{Name: "t", Table: table, OnError: onError},
		Layout:   lay,
	}
}
