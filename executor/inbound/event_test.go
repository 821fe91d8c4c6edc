package inbound

import "testing"

func TestLoadProject(t *testing.T) {
	srcs := loadSources(t, "")
	for _, n := range []string{"events", "clicks"} {
		if err := CheckSource(srcs[n]); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
