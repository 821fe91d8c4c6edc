package planner

// The platform side of ad audiences: what a deleted audience block does
// on its platform (Teardown), and whether the platform audience whose id
// the state keeps still exists (Drift).
//
// Drift costs one call per audience to the provider's Inspect, all of
// them at once and while the sources are scanned, so a plan is as fast
// as before when the platform answers quickly. A plan must run where
// there are no credentials (a fork's pull request, a laptop): then, or
// when the platform does not answer, the plan says drift was not checked
// and goes on.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// inspectTimeout bounds one Inspect, retries included: a platform that
// is slow to answer must not hold the plan up for long.
const inspectTimeout = 20 * time.Second

// inspectParallel is how many platforms are asked at once.
const inspectParallel = 8

// teardown says what apply will do on the platform for the deleted
// audience object o.
func teardown(ctx context.Context, cfg *lang.Config, st state.Backend, o state.Object) (*Teardown, error) {
	name := strings.TrimPrefix(o.Address, "audience.")
	td := &Teardown{Action: TeardownDetach, ProviderID: o.ProviderID, Provider: strings.TrimPrefix(o.Attrs["to"], "provider.")}
	err := st.AudienceMembers(ctx, name, func(string) error { td.Members++; return nil })
	if err != nil {
		return nil, err
	}
	p := cfg.Providers[td.Provider]
	switch {
	case o.ProviderID == "":
		td.What = "herald never made a platform audience for it: nothing to delete there"
	case p == nil:
		td.What = fmt.Sprintf("provider.%s is no longer in the configuration, so herald cannot reach the platform: %s stays there; delete it by hand, or restore the provider block to have herald delete it",
			td.Provider, o.ProviderID)
	default:
		what := providers.AudienceDeletion(p.Type)
		if what == "" {
			td.What = fmt.Sprintf("provider type %s cannot delete a platform audience: %s stays there", p.Type, o.ProviderID)
			break
		}
		td.Action, td.What = TeardownDelete, what+" ("+o.ProviderID+")"
	}
	return td, nil
}

// driftCheck is one audience to ask its platform about.
type driftCheck struct {
	au *lang.Audience
	id string
}

// startDrift asks each platform about the audiences of changes whose id
// is in the state, in the background; wait returns the answers by
// address.
func startDrift(ctx context.Context, cfg *lang.Config, st state.Backend, changes []*Change) (wait func() map[string]*Drift, err error) {
	checks := map[string]driftCheck{}
	for _, ch := range changes {
		if ch.Kind != "audience" || ch.Action == Delete {
			continue
		}
		au := cfg.Audiences[strings.TrimPrefix(ch.Address, "audience.")]
		if au == nil || au.To == nil {
			continue
		}
		o, err := st.Object(ctx, ch.Address)
		if err != nil {
			return nil, err
		}
		if o == nil || o.ProviderID == "" {
			continue
		}
		checks[ch.Address] = driftCheck{au: au, id: o.ProviderID}
	}
	out := make(map[string]*Drift, len(checks))
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, inspectParallel)
	)
	for addr, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d := inspect(ctx, cfg, c)
			mu.Lock()
			out[addr] = d
			mu.Unlock()
		}()
	}
	return func() map[string]*Drift {
		wg.Wait()
		return out
	}, nil
}

// inspect asks the platform about one audience. It returns nil when the
// provider cannot tell.
func inspect(ctx context.Context, cfg *lang.Config, c driftCheck) *Drift {
	d := &Drift{ProviderID: c.id, Size: -1}
	p := c.au.To
	for _, an := range lang.Sorted(p.Attributes) {
		if !p.Attributes[an].IsWhollyKnown() {
			d.NotChecked = fmt.Sprintf("provider.%s.%s has no value", p.Address(), an)
			if h := p.Unset[an].Hint(); h != "" {
				d.NotChecked += " (" + h + ")"
			}
			return d
		}
	}
	a, err := providers.OpenAudience(ctx, providers.AudienceRequest{Dir: cfg.Dir, Provider: p, Audience: c.au})
	if err != nil {
		d.NotChecked = err.Error()
		return d
	}
	defer a.Close()
	in, ok := a.(providers.Inspector)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	exists, size, err := in.Inspect(ctx, c.id)
	if err != nil {
		d.NotChecked = err.Error()
		return d
	}
	d.Checked, d.Exists, d.Size = true, exists, size
	return d
}

// applyDrift puts an audience's drift into its plan: a platform audience
// that is gone is made again and every member uploaded to it, since
// whatever the state says was sent went with it.
func applyDrift(ap *AudiencePlan, d *Drift, members []string) {
	ap.Drift = d
	if d == nil || !d.Checked || d.Exists {
		return
	}
	ap.Recreate = true
	ap.AddIDs = append([]string(nil), members...)
	sort.Strings(ap.AddIDs)
	ap.RemoveIDs = nil
	ap.Add, ap.Remove = int64(len(ap.AddIDs)), 0
}

// driftWarnings are the plan's warnings for the audiences whose drift was
// not checked, in address order.
func driftWarnings(drifts map[string]*Drift) []string {
	var out []string
	for _, addr := range sortedKeys(drifts) {
		if d := drifts[addr]; d != nil && !d.Checked {
			out = append(out, fmt.Sprintf("%s: drift not checked, the platform was not asked whether %s still exists: %s", addr, d.ProviderID, d.NotChecked))
		}
	}
	return out
}
