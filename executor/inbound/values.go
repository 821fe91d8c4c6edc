package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/heraldhq/herald/providers"
)

// decodeObject decodes one JSON object, keeping numbers as json.Number so
// that the schema decides how to read them and no int loses precision.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, errors.New("is not valid JSON")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("has text after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("is not a JSON object")
	}
	return m, nil
}

// typeFields types the members of obj that are fields of the layout into
// vals; members the schema does not declare are left out. prefix names
// the object in an error ("properties.").
func typeFields(lay *providers.Layout, obj map[string]any, vals []any, prefix string) *fieldError {
	// In the layout's order, so that the same bad object always names
	// the same field.
	for i, name := range lay.Names {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		v, err := providers.ConvertValue(lay.Types[i], raw)
		if err != nil {
			return &fieldError{prefix + name, err}
		}
		vals[i] = v
	}
	return nil
}
