package state

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// TestOpenPostgresURLUnknown: a postgres url that is not known is an error
// before any connection is tried, naming what to set.
func TestOpenPostgresURLUnknown(t *testing.T) {
	tests := []struct {
		name  string
		unset lang.Unset
		want  string
	}{
		{"env", lang.Unset{Env: []string{"HERALD_TEST_STATE_URL"}},
			"the postgres state url is not known: set the environment variable HERALD_TEST_STATE_URL"},
		{"variable", lang.Unset{Vars: []string{"state_url"}},
			"the postgres state url is not known: give variable state_url a value with -var 'state_url=…', -var-file or HERALD_VAR_state_url"},
		{"nothing recorded", lang.Unset{},
			"the postgres state url is not known: it reads an environment variable or a variable that is not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := lang.State{Backend: "postgres", URL: cty.UnknownVal(cty.String), URLUnset: tc.unset}
			_, err := Open(context.Background(), t.TempDir(), s)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Open: %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "<nil>") {
				t.Errorf("error holds <nil>: %v", err)
			}
		})
	}
}
