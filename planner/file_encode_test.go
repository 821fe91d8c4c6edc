package planner

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestPlanFileEncoding pins the streamed plan file to what encoding/json
// wrote before it, byte for byte.
func TestPlanFileEncoding(t *testing.T) {
	at := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	odd := "c<1>&\"\\\x01é\u2028"
	plans := map[string]*Plan{
		"empty": {Version: FormatVersion, Created: at, Now: at},
		"full": {Version: FormatVersion, Created: at, Now: at, Lineage: "l", Serial: 3, Changes: []*Change{
			{Address: "campaign.a", Kind: "campaign", Action: Create, Campaign: &CampaignPlan{Channel: "email",
				Recipients: []Recipient{{CustomerID: "c1", Variant: "a"}, {CustomerID: odd, Variant: "b<", SendAt: 1764576000}, {CustomerID: "", Variant: "", SendAt: -5}}}},
			{Address: "campaign.none", Kind: "campaign", Action: Create, Campaign: &CampaignPlan{Channel: "sms"}},
			{Address: "campaign.empty", Kind: "campaign", Action: Create, Campaign: &CampaignPlan{Channel: "sms", Recipients: []Recipient{}}},
			{Address: "audience.x", Kind: "audience", Action: Sync, Audience: &AudiencePlan{AddIDs: []string{"a", odd}, RemoveIDs: nil}},
			{Address: "audience.y<", Kind: "audience", Action: Sync, Audience: &AudiencePlan{AddIDs: []string{}, RemoveIDs: []string{"z"}}},
		}},
	}
	for name, p := range plans {
		var got bytes.Buffer
		if err := p.Write(&got); err != nil {
			t.Fatal(err)
		}
		back, err := Read(bytes.NewReader(got.Bytes()))
		if err != nil {
			t.Fatalf("%s: reading the plan back: %v", name, err)
		}
		if len(back.Changes) != len(p.Changes) {
			t.Fatalf("%s: read %d changes back, want %d", name, len(back.Changes), len(p.Changes))
		}
		zr, err := gzip.NewReader(&got)
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		pf := planFile{Format: fileFormat, Version: FormatVersion, Plan: p,
			Recipients: map[string][]Recipient{}, AddIDs: map[string][]string{}, RemoveIDs: map[string][]string{}}
		for _, c := range p.Changes {
			if c.Campaign != nil {
				pf.Recipients[c.Address] = c.Campaign.Recipients
			}
			if c.Audience != nil {
				pf.AddIDs[c.Address] = c.Audience.AddIDs
				pf.RemoveIDs[c.Address] = c.Audience.RemoveIDs
			}
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(pf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotJSON, want.Bytes()) {
			t.Errorf("%s: the plan file is\n%s\nwant\n%s", name, gotJSON, want.Bytes())
		}
	}
}
