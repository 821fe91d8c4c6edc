package bench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/planner"
)

var (
	planRows    = flag.Int("plan.rows", 1_000_000, "customers in the plan benchmarks")
	planDirFlag = flag.String("plan.dir", "", "keep the plan benchmarks' project in `DIR` and reuse it on the next run (default: a temporary directory, removed afterwards)")
)

// scratch holds what the benchmarks make once per test binary: the plan
// project (unless -plan.dir names one) and the binaries BenchmarkPlanBinary
// runs. TestMain removes it.
var (
	scratchOnce sync.Once
	scratch     string
	scratchErr  error
)

func scratchDir() (string, error) {
	scratchOnce.Do(func() { scratch, scratchErr = os.MkdirTemp("", "herald-bench-") })
	return scratch, scratchErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	if scratch != "" {
		os.RemoveAll(scratch)
	}
	os.Exit(code)
}

var (
	planDirOnce sync.Once
	planDir     string
	planDirErr  error
)

// planData writes the plan project, its data and its seeded state once
// per benchmark binary, or reuses the one in -plan.dir when it was written
// for the same -plan.rows.
func planData(b *testing.B) string {
	planDirOnce.Do(func() {
		planDir, planDirErr = preparePlanDir(*planDirFlag, *planRows)
	})
	if planDirErr != nil {
		b.Fatal(planDirErr)
	}
	return planDir
}

// planStamp records, in a -plan.dir, what was written there. Bump the
// version when PlanProject, the generator's options or SeedLedger change.
const planStampVersion = 2

func preparePlanDir(dir string, rows int) (string, error) {
	if dir == "" {
		s, err := scratchDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(s, "plan")
		return dir, WritePlanProject(dir, rows)
	}
	stampFile := filepath.Join(dir, ".bench-stamp")
	stamp := fmt.Sprintf("version=%d rows=%d\n", planStampVersion, rows)
	got, err := os.ReadFile(stampFile)
	switch {
	case err == nil && string(got) == stamp:
		return dir, nil
	case err == nil:
		// Written by this benchmark for other rows or an older version.
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	default:
		// Never remove a directory this benchmark did not write.
		if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
			return "", fmt.Errorf("-plan.dir %s is not empty and was not written by this benchmark: give a new or empty directory", dir)
		}
	}
	if err := WritePlanProject(dir, rows); err != nil {
		return "", err
	}
	return dir, os.WriteFile(stampFile, []byte(stamp), 0o644)
}

// funnelStep returns a campaign's funnel step by name.
func funnelStep(p *planner.Plan, campaign, step string) (planner.Step, bool) {
	for _, ch := range p.Changes {
		if ch.Address != campaign || ch.Campaign == nil {
			continue
		}
		for _, s := range ch.Campaign.Funnel {
			if s.Name == step {
				return s, true
			}
		}
	}
	return planner.Step{}, false
}

// loadAverage is the one-minute load average, or -1 where there is none:
// the benchmarks report it, since the machine they run on is shared.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
