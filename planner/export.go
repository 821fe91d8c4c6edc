package planner

import (
	"context"

	"github.com/heraldhq/herald/lang"
)

// Consent is the consent of a set of customers, read from the project's
// consent source: what the executor re-checks at send time, with the same
// rules the plan applied.
type Consent struct {
	idx *consentIndex
}

// LoadConsent reads the consent source and keeps the latest record per
// channel of the customers in ids only.
func LoadConsent(ctx context.Context, cfg *lang.Config, ids []string) (*Consent, error) {
	set := newIDSet()
	for _, id := range ids {
		set.add([]byte(id))
	}
	set.freeze()
	idx, err := loadConsent(ctx, cfg.Dir, cfg, set)
	if err != nil {
		return nil, err
	}
	return &Consent{idx: idx}, nil
}

// Allowed reports whether the customer may be messaged on the channel: with
// basis consent, their latest record grants it (confirmed, for double
// opt-in); with legitimate interest, they have not objected.
func (c *Consent) Allowed(id string, ch *lang.ConsentChannel) bool {
	return c.idx.allowed(id, ch)
}
