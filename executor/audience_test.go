package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/providers/adhash"
	"github.com/heraldhq/herald/providers/metaads"
	"github.com/heraldhq/herald/state"
)

// fakeMeta answers as Meta's Marketing API documents custom audiences and
// their users, and keeps the audience's membership by hashed e-mail.
type fakeMeta struct {
	mu      sync.Mutex
	creates int
	members map[string]bool // SHA-256 of the e-mail
	bodies  []string
	fail    bool
}

func (f *fakeMeta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, string(b))
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer meta-token" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Invalid OAuth access token","code":190}}`)
		return
	}
	form, _ := url.ParseQuery(string(b))
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v25.0/act_42/customaudiences":
		f.creates++
		io.WriteString(w, `{"id":"6001"}`)
	case r.URL.Path == "/v25.0/6001/users":
		if f.fail {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"Audience Upload Blocked","code":100,"error_subcode":1713230}}`)
			return
		}
		var p metaads.UsersPayload
		json.Unmarshal([]byte(form.Get("payload")), &p)
		for _, row := range p.Data {
			if row[0] == "" {
				continue
			}
			if r.Method == http.MethodDelete {
				delete(f.members, row[0])
			} else {
				f.members[row[0]] = true
			}
		}
		fmt.Fprintf(w, `{"audience_id":"6001","num_received":%d,"num_invalid_entries":0}`, len(p.Data))
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"Unknown path","code":803}}`)
	}
}

func audienceProject(t *testing.T, endpoint string) string {
	t.Helper()
	main := fmt.Sprintf(`provider "files" "cdp" { dir = "data" }
provider "meta_ads" "main" {
  ad_account_id = "42"
  access_token  = env("HERALD_TEST_META_TOKEN")
  endpoint      = %q
}
schema "customer" {
  field "id"    { type = string }
  field "email" { pii = "email" }
  field "phone" { pii = "phone" }
  field "ltv"   { type = double }
}
source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}
consent {
  from = source.consents
  channel "ads" {
    basis = "legitimate_interest"
  }
}
segment "vip" {
  from  = source.customers
  where = "customer.ltv >= 100.0"
}
audience "seed" {
  segment  = segment.vip
  to       = provider.meta_ads.main
  match_on = ["email", "phone"]
}
`, endpoint)
	return project(t, map[string]string{
		"main.hcl": main,
		"data/customers.csv": "id,email,phone,ltv\n" +
			"c1,Ann@Example.com,+16505551212,500\n" +
			"c2,bob@example.com,,150\n" +
			"c3,cat@example.com,+442071838750,200\n" +
			"c4,,,300\n" + // nothing to match on
			"c5,dan@example.com,,10\n", // not in the segment
		"data/consents.csv": "customer_id,channel,status,method,recorded_at,policy_version\n",
	})
}

func members(t *testing.T, st state.Backend, audience string) []string {
	t.Helper()
	var ids []string
	if err := st.AudienceMembers(context.Background(), audience, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	return ids
}

func TestApplyAudience(t *testing.T) {
	t.Setenv("HERALD_TEST_META_TOKEN", "meta-token")
	fm := &fakeMeta{members: map[string]bool{}}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	dir := audienceProject(t, srv.URL)
	cfg, st := load(t, dir)
	ctx := context.Background()

	p := makePlan(t, cfg, st, planNow)
	var events []Event
	res, err := Apply(ctx, cfg, st, p, Options{Now: func() time.Time { return planNow }, Events: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatalf("apply: %v (%+v)", err, res)
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c1,c2,c3,c4" {
		t.Errorf("members in the state %s, want c1,c2,c3,c4", got)
	}
	obj, err := st.Object(ctx, "audience.seed")
	if err != nil || obj == nil || obj.ProviderID != "6001" {
		t.Fatalf("audience object %+v, %v; want ProviderID 6001", obj, err)
	}
	if fm.creates != 1 || len(fm.members) != 3 || !fm.members[adhash.Hash("ann@example.com")] {
		t.Errorf("platform: %d creates, members %v", fm.creates, fm.members)
	}
	for _, b := range fm.bodies {
		if strings.Contains(strings.ToLower(b), "example.com") || strings.Contains(b, "6505551212") {
			t.Fatalf("a raw identifier reached the platform: %s", b)
		}
	}
	var done *Event
	for i := range events {
		if events[i].Type == "audience_done" {
			done = &events[i]
		}
	}
	if done == nil || done.Counts.Sent != 3 || done.Counts.Skipped[SkipNoIdentifier] != 1 {
		t.Errorf("audience_done event %+v", done)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "1 of the members have no email or phone") {
		t.Errorf("warnings %q", res.Warnings)
	}

	// c1 leaves the segment, c3's profile is gone, c5 joins.
	os.WriteFile(filepath.Join(dir, "data/customers.csv"), []byte("id,email,phone,ltv\n"+
		"c1,Ann@Example.com,+16505551212,5\n"+
		"c2,bob@example.com,,150\n"+
		"c4,,,300\n"+
		"c5,dan@example.com,,110\n"), 0o644)
	cfg, _ = load(t, dir)
	p = makePlan(t, cfg, st, planNow)
	res, err = Apply(ctx, cfg, st, p, Options{Now: func() time.Time { return planNow }})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	// c3 cannot be removed from the platform without their identifiers:
	// they stay a member, and the apply says so.
	if got := strings.Join(members(t, st, "seed"), ","); got != "c2,c3,c4,c5" {
		t.Errorf("members in the state %s, want c2,c3,c4,c5", got)
	}
	if fm.members[adhash.Hash("ann@example.com")] || !fm.members[adhash.Hash("dan@example.com")] || fm.creates != 1 {
		t.Errorf("platform after the second apply: %d creates, members %v", fm.creates, fm.members)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "1 members to remove are no longer in source.customers") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if obj, _ := st.Object(ctx, "audience.seed"); obj == nil || obj.ProviderID != "6001" {
		t.Errorf("ProviderID lost: %+v", obj)
	}
}

func TestApplyAudienceFailure(t *testing.T) {
	t.Setenv("HERALD_TEST_META_TOKEN", "meta-token")
	fm := &fakeMeta{members: map[string]bool{}, fail: true}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	dir := audienceProject(t, srv.URL)
	cfg, st := load(t, dir)
	ctx := context.Background()
	p := makePlan(t, cfg, st, planNow)
	res, err := Apply(ctx, cfg, st, p, Options{Now: func() time.Time { return planNow }})
	if err == nil || !strings.Contains(err.Error(), "Audience Upload Blocked") || res.Failed["audience.seed"] == "" {
		t.Fatalf("apply: %v, failed %v", err, res.Failed)
	}
	// The platform audience was made: its id is kept, so the next apply
	// does not make another. The members it refused are not recorded,
	// except the one that had nothing to send.
	if obj, _ := st.Object(ctx, "audience.seed"); obj == nil || obj.ProviderID != "6001" {
		t.Errorf("audience object %+v", obj)
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c4" {
		t.Errorf("members in the state %q, want c4", got)
	}
	fm.mu.Lock()
	fm.fail = false
	fm.mu.Unlock()
	p = makePlan(t, cfg, st, planNow)
	if _, err := Apply(ctx, cfg, st, p, Options{Now: func() time.Time { return planNow }}); err != nil {
		t.Fatal(err)
	}
	if fm.creates != 1 || len(fm.members) != 3 {
		t.Errorf("after retrying: %d creates, %d members", fm.creates, len(fm.members))
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c1,c2,c3,c4" {
		t.Errorf("members %s", got)
	}
}
