package planner

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// Stale lists why a saved plan can no longer be applied as reviewed: the
// state moved on (another apply ran) or the configuration files changed.
// An empty list means the plan is current.
func Stale(ctx context.Context, p *Plan, cfg *lang.Config, st state.Backend) ([]string, error) {
	var why []string
	meta, err := st.Meta(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the state: %w", err)
	}
	if meta.Lineage != p.Lineage {
		why = append(why, fmt.Sprintf("the state is a different one (lineage %s; the plan was made against %s)", meta.Lineage, p.Lineage))
	} else if meta.Serial != p.Serial {
		why = append(why, fmt.Sprintf("the state changed since the plan was made (serial %d, was %d): another apply ran", meta.Serial, p.Serial))
	}
	if cfg != nil {
		digest, err := ConfigDigest(cfg)
		if err != nil {
			return nil, err
		}
		if digest != p.ConfigDigest {
			why = append(why, "the configuration files changed since the plan was made")
		}
	}
	return why, nil
}
