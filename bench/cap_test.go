package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/bench/barescan"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

// TestPlanProject checks, on a small copy, what the plan benchmarks rely
// on: the bare scan selects the same customers as the segment, and the
// seeded ledger makes the frequency cap remove some of them, so the cap
// step is timed rather than skipped over an empty ledger.
func TestPlanProject(t *testing.T) {
	const rows = 5000
	dir := t.TempDir()
	if err := WritePlanProject(dir, rows); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	st, err := state.Open(ctx, dir, cfg.Herald.State)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// About SeedPercent of the customers have sends in the cap's window.
	counts, err := st.SendCounts(ctx, "email", PlanNow.Add(-168*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	capped := 0
	for _, n := range counts {
		if n < 1 || n > 3 {
			t.Fatalf("a customer has %d seeded sends in the window, want 1 to 3", n)
		}
		if n >= 2 {
			capped++
		}
	}
	if len(counts) < rows*SeedPercent/100*8/10 || len(counts) > rows*SeedPercent/100*12/10 {
		t.Errorf("%d of %d customers have seeded sends, want about %d %%", len(counts), rows, SeedPercent)
	}

	p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: PlanNow})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	in, ok := funnelStep(p, "campaign.winback", "in_segment")
	if !ok {
		t.Fatal("campaign.winback has no in_segment step")
	}
	scan, err := barescan.Scan(filepath.Join(dir, "data", "customers.csv"), PlanNow)
	if err != nil {
		t.Fatal(err)
	}
	if int64(scan) != in.Remain {
		t.Errorf("the bare scan selects %d customers, the segment %d: the baseline does different work", scan, in.Remain)
	}
	capStep, ok := funnelStep(p, "campaign.winback", "frequency_cap")
	if !ok {
		t.Fatal("campaign.winback has no frequency_cap step")
	}
	if capStep.Removed == 0 {
		t.Fatalf("the frequency cap removed no one (funnel %+v)", p.Changes)
	}
	// Those capped are in the segment and consented: a share of the
	// segment near the seeded share with 2 or 3 sends (a third of
	// SeedPercent).
	if capStep.Removed > in.Remain*SeedPercent/100 {
		t.Errorf("the cap removed %d of %d in the segment, more than the %d %% with seeded sends", capStep.Removed, in.Remain, SeedPercent)
	}
	t.Logf("%d customers: %d in the segment, %d capped (%d with 2+ seeded sends overall), %d messages",
		rows, in.Remain, capStep.Removed, capped, p.Summary.Messages)
}
