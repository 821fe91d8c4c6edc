package inbound

import (
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
)

// TestMain stops the throwaway PostgreSQL the poller tests start.
func TestMain(m *testing.M) { pgtest.Main(m) }
