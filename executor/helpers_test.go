package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	_ "github.com/heraldhq/herald/providers/all"
	"github.com/heraldhq/herald/state"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	if dir := os.Getenv(runnerChildEnv); dir != "" {
		os.Exit(runRunnerChild(dir))
	}
	pgtest.Main(m)
}

// fakeType is a channel provider type that only tests know: it records
// every message, keyed by provider name, in fakes.
const fakeType = "testmail"

func init() {
	lang.ProviderTypes[fakeType] = &lang.ProviderType{
		Name: fakeType, Capabilities: []lang.Capability{lang.CapEmail, lang.CapSMS, lang.CapWebhook},
		Attrs: map[string]lang.ProviderAttr{
			"rate_limit":  {Type: cty.Number},
			"burst":       {Type: cty.Number},
			"concurrency": {Type: cty.Number},
			"max_retries": {Type: cty.Number},
			"fail":        {Type: cty.String, Doc: "always: every send is a Retry"},
		},
	}
	idempotentTypes[fakeType] = true
	defaultRates[fakeType] = 0
	providers.RegisterChannel(fakeType, func(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
		f := fakeFor(req.Provider.Name)
		if v, ok := req.Provider.Attributes["fail"]; ok && v.IsKnown() && !v.IsNull() {
			f.mu.Lock()
			f.fail = v.AsString()
			f.mu.Unlock()
		}
		return f, nil
	})
}

var (
	fakesMu sync.Mutex
	fakes   = map[string]*fakeChannel{}
)

// fakeFor returns the recording channel of a provider name; tests use a
// name of their own.
func fakeFor(name string) *fakeChannel {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	f := fakes[name]
	if f == nil {
		f = &fakeChannel{byKey: map[string]*providers.Message{}}
		fakes[name] = f
	}
	return f
}

type fakeChannel struct {
	mu    sync.Mutex
	msgs  []*providers.Message
	byKey map[string]*providers.Message
	calls int
	fail  string
	// hook, when set, decides the outcome of a call.
	hook func(m *providers.Message) providers.SendResult
}

func (f *fakeChannel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail == "always" {
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("503 unavailable")}
	}
	if f.hook != nil {
		if r := f.hook(m); r.Outcome != providers.Sent {
			return r
		}
	}
	if _, dup := f.byKey[m.IdempotencyKey]; !dup {
		f.msgs = append(f.msgs, m)
		f.byKey[m.IdempotencyKey] = m
	}
	return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: "fake-" + m.IdempotencyKey}
}

func (f *fakeChannel) Close() error { return nil }

func (f *fakeChannel) messages() []*providers.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]*providers.Message(nil), f.msgs...)
	sort.Slice(out, func(i, j int) bool { return out[i].CustomerID < out[j].CustomerID })
	return out
}

// project writes a project to a new directory. files maps names to
// contents; the herald block's state is filled in by backend.
func project(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// backend is a state backend under test: sqlite or postgres.
type backend struct {
	name string
	// block is the state block of the herald block.
	block func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return "" }},
	{"postgres", func(t *testing.T) string {
		// Start skips without PostgreSQL, and fails under CI.
		t.Setenv("HERALD_STATE_URL", pgtest.Start(t))
		return "state \"postgres\" {\n    url = env(\"HERALD_STATE_URL\")\n  }\n"
	}},
}

// forEachBackend runs f once per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, stateBlock string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.block(t)) })
	}
}

// load loads a project and opens its state.
func load(t testing.TB, dir string) (*lang.Config, state.Backend) {
	t.Helper()
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading: %v", diags)
	}
	st, err := state.Open(context.Background(), dir, cfg.Herald.State)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return cfg, st
}

var planNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func makePlan(t testing.TB, cfg *lang.Config, st state.Backend, now time.Time) *planner.Plan {
	t.Helper()
	p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatalf("planning: %v", diags)
	}
	return p
}

// ledger returns the ledger rows of a campaign by key.
func ledger(t *testing.T, st state.Backend, campaign string) map[string]state.Send {
	t.Helper()
	out := map[string]state.Send{}
	err := st.Sends(context.Background(), campaign, func(s state.Send) error {
		out[s.Key] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// smallProject is a project of n customers, every one with email consent,
// sending campaign.promo through provider.testmail.NAME.
func smallProject(t *testing.T, stateBlock, fakeName string, n int, extra string) string {
	var cust, cons strings.Builder
	cust.WriteString("id,email,first_name,ltv,timezone\n")
	cons.WriteString("customer_id,channel,status,method,recorded_at,policy_version\n")
	for i := range n {
		fmt.Fprintf(&cust, "c%04d,c%04d@example.com,Name%d,%d,UTC\n", i, i, i, 100+i)
		fmt.Fprintf(&cons, "c%04d,email,granted,form,2026-01-01T00:00:00Z,1\n", i)
	}
	main := fmt.Sprintf(`herald {
  %s
  public_url = "https://herald.example.com"
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St"
  }
}
provider "files" "cdp" { dir = "data" }
provider "testmail" %q {
  concurrency = 4
  %s
}
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "first_name" { pii = "name" }
  field "ltv" { type = double }
  field "timezone" { type = string }
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
  channel "email" {
    basis = "consent"
  }
}
segment "all" {
  from  = source.customers
  where = "customer.ltv >= 0.0"
}
template "a" {
  channel = "email"
  subject = "Hi {{ customer.first_name }}"
  html    = "<p>Hello {{ customer.first_name }} &amp; co, see <a href=\"https://shop.example/x?a=1&amp;b=2\">this</a>.</p><p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ sender.postal_address }}</p>"
}
template "b" {
  channel = "email"
  subject = "Deal for {{ customer.first_name }}"
  html    = "<p>{{ customer.first_name }}: https://shop.example/deal</p><p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ sender.postal_address }}</p>"
}
campaign "promo" {
  audience    = segment.all
  channel     = "email"
  via         = provider.testmail.%s
  legal_basis = "consent"
  variant "a" {
    weight   = 50
    template = template.a
  }
  variant "b" {
    weight   = 50
    template = template.b
  }
  utm {
    source = "herald"
    medium = "email"
  }
}
`, stateBlock, fakeName, extra, fakeName)
	return project(t, map[string]string{
		"main.hcl":           main,
		"data/customers.csv": cust.String(),
		"data/consents.csv":  cons.String(),
	})
}
