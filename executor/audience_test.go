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

	"github.com/heraldhq/herald/planner"
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
	// id is the audience Meta has ("" when none: deleted in Ads Manager,
	// or by herald); failDelete makes DELETE fail; reqs are "METHOD path".
	id         string
	failDelete bool
	reqs       []string
}

func (f *fakeMeta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, string(b))
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
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
		f.id = fmt.Sprint(6000 + f.creates)
		f.members = map[string]bool{}
		fmt.Fprintf(w, `{"id":%q}`, f.id)
	case f.id == "" || (r.URL.Path != "/v25.0/"+f.id && r.URL.Path != "/v25.0/"+f.id+"/users"):
		// As Graph answers for an object it does not have.
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"Unsupported get request. Object with ID does not exist","type":"GraphMethodException","code":100,"error_subcode":33}}`)
	case r.Method == http.MethodGet:
		fmt.Fprintf(w, `{"id":%q,"approximate_count_lower_bound":%d}`, f.id, len(f.members))
	case r.Method == http.MethodDelete && r.URL.Path == "/v25.0/"+f.id:
		if f.failDelete {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"(#2654) Custom audience is in use by an ad set","code":2654}}`)
			return
		}
		f.id, f.members = "", map[string]bool{}
		io.WriteString(w, `{"success":true}`)
	default: // the users of f.id
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
		fmt.Fprintf(w, `{"audience_id":%q,"num_received":%d,"num_invalid_entries":0}`, f.id, len(p.Data))
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

// withoutAudience is the project of audienceProject with the audience
// block deleted.
func withoutAudience(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "main.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, `audience "seed"`)
	if i < 0 {
		t.Fatal("no audience block")
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s[:i]), 0o644); err != nil {
		t.Fatal(err)
	}
}

func change(t *testing.T, p *planner.Plan, addr string) *planner.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Address == addr {
			return c
		}
	}
	t.Fatalf("no change of %s in the plan", addr)
	return nil
}

func planText(t *testing.T, p *planner.Plan) string {
	t.Helper()
	var b strings.Builder
	if err := planner.WriteText(&b, p, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestApplyAudienceDelete(t *testing.T) {
	t.Setenv("HERALD_TEST_META_TOKEN", "meta-token")
	fm := &fakeMeta{members: map[string]bool{}}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	dir := audienceProject(t, srv.URL)
	cfg, st := load(t, dir)
	ctx := context.Background()
	now := Options{Now: func() time.Time { return planNow }}
	if _, err := Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), now); err != nil {
		t.Fatal(err)
	}

	withoutAudience(t, dir)
	cfg, _ = load(t, dir)
	p := makePlan(t, cfg, st, planNow)
	c := change(t, p, "audience.seed")
	if c.Action != planner.Delete || c.Teardown == nil || c.Teardown.Action != planner.TeardownDelete ||
		c.Teardown.ProviderID != "6001" || c.Teardown.Members != 4 {
		t.Fatalf("change %+v, teardown %+v", c, c.Teardown)
	}
	text := planText(t, p)
	if !strings.Contains(text, "- audience.seed  (delete)   deletes the Custom Audience on Meta (6001) · 4 members forgotten") {
		t.Errorf("plan:\n%s", text)
	}

	// Meta refuses: the object and its members stay, so the next plan
	// shows the delete again.
	fm.mu.Lock()
	fm.failDelete = true
	fm.mu.Unlock()
	res, err := Apply(ctx, cfg, st, p, now)
	if err == nil || !strings.Contains(err.Error(), "Custom audience is in use by an ad set") || res.Failed["audience.seed"] == "" {
		t.Fatalf("apply: %v, failed %v", err, res.Failed)
	}
	if obj, _ := st.Object(ctx, "audience.seed"); obj == nil || obj.ProviderID != "6001" {
		t.Errorf("after a failed delete the object is %+v", obj)
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c1,c2,c3,c4" {
		t.Errorf("members after a failed delete %q", got)
	}
	p = makePlan(t, cfg, st, planNow)
	if c := change(t, p, "audience.seed"); c.Action != planner.Delete || c.Teardown.Action != planner.TeardownDelete {
		t.Errorf("the next plan: %+v", c)
	}

	fm.mu.Lock()
	fm.failDelete = false
	fm.mu.Unlock()
	if _, err := Apply(ctx, cfg, st, p, now); err != nil {
		t.Fatal(err)
	}
	if fm.id != "" || fm.reqs[len(fm.reqs)-1] != "DELETE /v25.0/6001" {
		t.Errorf("platform audience %q, last request %q", fm.id, fm.reqs[len(fm.reqs)-1])
	}
	if obj, _ := st.Object(ctx, "audience.seed"); obj != nil {
		t.Errorf("object still in the state: %+v", obj)
	}
	if got := members(t, st, "seed"); len(got) != 0 {
		t.Errorf("members still in the state: %v", got)
	}
	if p := makePlan(t, cfg, st, planNow); p.Summary.HasChanges() {
		t.Errorf("a plan after the delete still has changes: %+v", p.Summary)
	}
}

func TestPlanAudienceDetachedWithoutProvider(t *testing.T) {
	t.Setenv("HERALD_TEST_META_TOKEN", "meta-token")
	fm := &fakeMeta{members: map[string]bool{}}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	dir := audienceProject(t, srv.URL)
	cfg, st := load(t, dir)
	ctx := context.Background()
	if _, err := Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), Options{Now: func() time.Time { return planNow }}); err != nil {
		t.Fatal(err)
	}
	// The provider block goes too: herald cannot reach Meta, and says so.
	withoutAudience(t, dir)
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	s := string(b)
	i, j := strings.Index(s, `provider "meta_ads"`), strings.Index(s, `schema "customer"`)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s[:i]+s[j:]), 0o644)
	cfg, _ = load(t, dir)
	p := makePlan(t, cfg, st, planNow)
	c := change(t, p, "audience.seed")
	if c.Teardown == nil || c.Teardown.Action != planner.TeardownDetach || !strings.Contains(c.Teardown.What, "provider.meta_ads.main is no longer in the configuration") {
		t.Fatalf("teardown %+v", c.Teardown)
	}
	res, err := Apply(ctx, cfg, st, p, Options{Now: func() time.Time { return planNow }})
	if err != nil {
		t.Fatal(err)
	}
	if fm.id != "6001" || !strings.Contains(strings.Join(res.Warnings, "\n"), "audience.seed: detached, not deleted") {
		t.Errorf("platform audience %q, warnings %q", fm.id, res.Warnings)
	}
	if obj, _ := st.Object(ctx, "audience.seed"); obj != nil || len(members(t, st, "seed")) != 0 {
		t.Errorf("the state still has the audience: %+v", obj)
	}
}

func TestPlanAudienceDrift(t *testing.T) {
	t.Setenv("HERALD_TEST_META_TOKEN", "meta-token")
	fm := &fakeMeta{members: map[string]bool{}}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	dir := audienceProject(t, srv.URL)
	cfg, st := load(t, dir)
	ctx := context.Background()
	now := Options{Now: func() time.Time { return planNow }}
	if _, err := Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), now); err != nil {
		t.Fatal(err)
	}

	// Nothing moved: one GET of the audience, and nothing to do.
	fm.reqs = nil
	p := makePlan(t, cfg, st, planNow)
	if c := change(t, p, "audience.seed"); c.Action != planner.NoOp || c.Audience.Drift == nil || !c.Audience.Drift.Checked ||
		!c.Audience.Drift.Exists || c.Audience.Drift.Size != 3 || c.Audience.Recreate {
		t.Errorf("change %+v, drift %+v", c, c.Audience.Drift)
	}
	if fmt.Sprint(fm.reqs) != "[GET /v25.0/6001]" {
		t.Errorf("plan made requests %v, want one GET", fm.reqs)
	}

	// Someone deletes the audience in Ads Manager.
	fm.mu.Lock()
	fm.id, fm.members = "", map[string]bool{}
	fm.mu.Unlock()
	p = makePlan(t, cfg, st, planNow)
	c := change(t, p, "audience.seed")
	if c.Action != planner.Sync || !c.Audience.Recreate || c.Audience.Add != 4 || c.Audience.Remove != 0 ||
		c.Audience.Drift.Exists || c.Audience.Drift.ProviderID != "6001" {
		t.Fatalf("change %+v, audience %+v", c, c.Audience)
	}
	if text := planText(t, p); !strings.Contains(text, "drift: 6001 no longer exists on the platform: it will be created again and all 4 members uploaded") {
		t.Errorf("plan:\n%s", text)
	}
	if _, err := Apply(ctx, cfg, st, p, now); err != nil {
		t.Fatal(err)
	}
	obj, _ := st.Object(ctx, "audience.seed")
	if obj == nil || obj.ProviderID != "6002" || fm.creates != 2 || len(fm.members) != 3 {
		t.Errorf("after re-creating: object %+v, %d creates, %d members on Meta", obj, fm.creates, len(fm.members))
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c1,c2,c3,c4" {
		t.Errorf("members %q", got)
	}
	if p := makePlan(t, cfg, st, planNow); p.Summary.HasChanges() {
		t.Errorf("after re-creating, the plan still has changes: %+v", p.Summary)
	}

	// Without credentials the plan runs, and says drift was not checked.
	os.Unsetenv("HERALD_TEST_META_TOKEN")
	cfg, _ = load(t, dir)
	fm.reqs = nil
	p = makePlan(t, cfg, st, planNow)
	if c := change(t, p, "audience.seed"); c.Audience.Drift == nil || c.Audience.Drift.Checked || c.Audience.Recreate {
		t.Errorf("drift %+v", c.Audience.Drift)
	}
	if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "audience.seed: drift not checked") || !strings.Contains(w, "HERALD_TEST_META_TOKEN") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if len(fm.reqs) != 0 {
		t.Errorf("requests without credentials: %v", fm.reqs)
	}
}

// fakeGoogle answers as the Google Ads REST API documents user lists,
// offline user data jobs and the search of a job's status.
type fakeGoogle struct {
	mu     sync.Mutex
	status string // what every search of the job answers
	reason string
	jobs   int
}

func (f *fakeGoogle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer ya29.test" || r.Header.Get("Developer-Token") != "dev-token" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"code":401,"message":"Request is missing required authentication credential.","status":"UNAUTHENTICATED"}}`)
		return
	}
	switch p := r.URL.Path; {
	case p == "/v26/customers/1234567890/userLists:mutate":
		io.WriteString(w, `{"results":[{"resourceName":"customers/1234567890/userLists/555"}]}`)
	case p == "/v26/customers/1234567890/offlineUserDataJobs:create":
		f.jobs++
		fmt.Fprintf(w, `{"resourceName":"customers/1234567890/offlineUserDataJobs/%d"}`, 900+f.jobs)
	case strings.HasSuffix(p, ":addOperations"), strings.HasSuffix(p, ":run"):
		io.WriteString(w, `{}`)
	case p == "/v26/customers/1234567890/googleAds:search" && strings.Contains(string(b), "FROM offline_user_data_job"):
		fmt.Fprintf(w, `{"results":[{"offlineUserDataJob":{"status":%q,"failureReason":%q}}]}`, f.status, f.reason)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`)
	}
}

func googleProject(t *testing.T, endpoint string) string {
	t.Helper()
	dir := audienceProject(t, endpoint)
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	s := strings.Replace(string(b), `provider "meta_ads" "main" {
  ad_account_id = "42"
  access_token  = env("HERALD_TEST_META_TOKEN")`, `provider "google_ads" "main" {
  customer_id     = "123-456-7890"
  developer_token = env("HERALD_TEST_GOOGLE_DEV")
  access_token    = env("HERALD_TEST_GOOGLE_TOKEN")
  job_wait        = "1s"`, 1)
	s = strings.Replace(s, "provider.meta_ads.main", "provider.google_ads.main", 1)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestApplyAudienceGoogleJob(t *testing.T) {
	t.Setenv("HERALD_TEST_GOOGLE_DEV", "dev-token")
	t.Setenv("HERALD_TEST_GOOGLE_TOKEN", "ya29.test")
	ctx := context.Background()
	now := Options{Now: func() time.Time { return planNow }}

	// Still running when job_wait is up: the sync is recorded, and the
	// apply says which job Google will finish.
	fg := &fakeGoogle{status: "RUNNING"}
	srv := httptest.NewServer(fg)
	defer srv.Close()
	cfg, st := load(t, googleProject(t, srv.URL))
	res, err := Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), now)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "audience.seed: provider.google_ads.main: customers/1234567890/offlineUserDataJobs/901 is still running after 1s: Google will finish it") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c1,c2,c3,c4" {
		t.Errorf("members %q", got)
	}

	// FAILED: the sync fails with Google's reason, and the members are not
	// recorded, so the next plan shows them again.
	fg2 := &fakeGoogle{status: "FAILED", reason: "INSUFFICIENT_MATCHED_TRANSACTIONS"}
	srv2 := httptest.NewServer(fg2)
	defer srv2.Close()
	cfg, st = load(t, googleProject(t, srv2.URL))
	res, err = Apply(ctx, cfg, st, makePlan(t, cfg, st, planNow), now)
	if err == nil || !strings.Contains(err.Error(), "FAILED: INSUFFICIENT_MATCHED_TRANSACTIONS") || res.Failed["audience.seed"] == "" {
		t.Fatalf("apply: %v, failed %v", err, res.Failed)
	}
	if got := strings.Join(members(t, st, "seed"), ","); got != "c4" {
		t.Errorf("members after a failed job %q, want c4 (nothing to send)", got)
	}
	if c := change(t, makePlan(t, cfg, st, planNow), "audience.seed"); c.Audience == nil || c.Audience.Add != 3 {
		t.Errorf("the next plan: %+v", c.Audience)
	}
}
