package planner_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

// applied writes audience.seed to the state as an apply would have: its
// platform id and two members.
func applied(t *testing.T, st state.Backend, providerID string) {
	t.Helper()
	ctx := context.Background()
	obj := state.Object{Address: "audience.seed", Kind: "audience", ProviderID: providerID,
		Attrs: map[string]string{"to": "provider.google_ads.main", "segment": "segment.big", "match_on": `["email"]`}}
	if _, err := st.WriteObjects(ctx, []state.Object{obj}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAudienceMembers(ctx, "seed", []string{"c1", "c8"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDriftNotCheckedWithoutCredentials(t *testing.T) {
	_, cfg, st := setup(t)
	applied(t, st, "customers/123/userLists/9")
	p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatalf("a plan without Google Ads credentials failed: %v", diags)
	}
	c := change(t, p, "audience.seed")
	if d := c.Audience.Drift; d == nil || d.Checked || d.ProviderID != "customers/123/userLists/9" || !strings.Contains(d.NotChecked, "developer_token is required") || c.Audience.Recreate {
		t.Errorf("drift %+v", c.Audience.Drift)
	}
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "audience.seed: drift not checked, the platform was not asked whether customers/123/userLists/9 still exists") {
		t.Errorf("warnings %q", p.Warnings)
	}
}

func TestTeardown(t *testing.T) {
	for _, c := range []struct {
		id, action, what, markdown string
	}{
		{"customers/123/userLists/9", planner.TeardownDelete, "removes the Customer Match user list on Google Ads (customers/123/userLists/9)", "platform audience deleted"},
		{"", planner.TeardownDetach, "herald never made a platform audience for it", "platform audience kept"},
	} {
		_, cfg, st := setup(t)
		applied(t, st, c.id)
		delete(cfg.Audiences, "seed")
		p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		ch := change(t, p, "audience.seed")
		td := ch.Teardown
		if ch.Action != planner.Delete || td == nil || td.Action != c.action || !strings.HasPrefix(td.What, c.what) ||
			td.Members != 2 || td.Provider != "google_ads.main" || td.ProviderID != c.id {
			t.Errorf("%q: change %+v, teardown %+v", c.id, ch, td)
			continue
		}
		var text, md bytes.Buffer
		planner.WriteText(&text, p, false)
		planner.WriteMarkdown(&md, p, nil)
		if !strings.Contains(text.String(), "- audience.seed  (delete)   "+c.what) || !strings.Contains(text.String(), "· 2 members forgotten") {
			t.Errorf("%q: text plan:\n%s", c.id, text.String())
		}
		if !strings.Contains(md.String(), "| `audience.seed` | - delete |  |  | "+c.markdown+", 2 members forgotten |") {
			t.Errorf("%q: markdown plan:\n%s", c.id, md.String())
		}
	}
}
