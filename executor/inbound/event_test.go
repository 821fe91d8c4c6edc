package inbound

import (
	"testing"

	"github.com/heraldhq/herald/state"
)

func TestLoadProject(t *testing.T) {
	srcs := loadSources(t, "")
	for _, n := range []string{"events", "clicks"} {
		if err := CheckSource(srcs[n]); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// The state backends keep the offsets.
var _ Offsets = (state.Runtime)(nil)
