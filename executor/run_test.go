package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// journeyProject is the cart journey of DESIGN.md over customers c1…c5,
// sending through provider.testmail.NAME (e-mail) and .NAME_sms.
// c4 has a support case open; c5 has no SMS consent.
func journeyProject(t testing.TB, stateBlock, fake string) string {
	return project(t, journeyFiles(stateBlock, fake, 5))
}

// journeyFiles are the files of journeyProject with n customers.
func journeyFiles(stateBlock, fake string, n int) map[string]string {
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
provider "testmail" %[2]q {}
provider "testmail" "%[2]s_sms" {}
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "phone" { pii = "phone" }
  field "first_name" { pii = "name" }
  field "timezone" { type = string }
  field "support_case_open" { type = bool }
}
schema "event" {
  field "id" { type = string }
  field "customer_id" { type = string }
  field "type" { type = string }
  field "path" { type = string }
  field "at" { type = timestamp }
}
source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "events" {
  from   = provider.files.cdp
  table  = "events.jsonl"
  schema = schema.event
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
  channel "sms" {
    basis       = "consent"
    opt_in      = "double"
    quiet_hours = "21:00-08:00"
  }
}
template "cart_email" {
  channel = "email"
  subject = "You left something behind, {{ customer.first_name ?? \"friend\" }}"
  html    = "<p>Your cart ({{ event.path }}) is saved.</p><p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ sender.postal_address }}</p>"
}
template "cart_sms" {
  channel = "sms"
  body    = "{{ sender.name }}: your cart is saved. Reply STOP to opt out."
}
trigger "cart_abandon" {
  from = source.events
  on   = "page_view"
  when = "event.path.startsWith('/cart')"
  threshold {
    count  = 3
    within = "24h"
  }
  unless      = "event.type == 'purchase'"
  dedupe      = "event.id"
  reentry     = "72h"
  purpose     = "marketing"
  legal_basis = "consent"
  step "nudge" {
    wait = "1h"
    send {
      template = template.cart_email
      via      = provider.testmail.%[2]s
    }
  }
  step "escalate" {
    wait = "24h"
    send {
      template = template.cart_sms
      via      = provider.testmail.%[2]s_sms
    }
  }
  exit_when = "event.type == 'purchase' || customer.support_case_open"
}
`, stateBlock, fake)
	var cust, cons strings.Builder
	cust.WriteString("id,email,phone,first_name,timezone,support_case_open\n")
	cons.WriteString("customer_id,channel,status,method,recorded_at,policy_version\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&cust, "c%d,c%d@example.com,+1415555%04d,Name%d,UTC,%v\n", i, i, i%10000, i, i == 4)
		fmt.Fprintf(&cons, "c%d,email,granted,form,2026-01-01T00:00:00Z,1\n", i)
		if i != 5 {
			fmt.Fprintf(&cons, "c%d,sms,confirmed,reply,2026-01-01T00:00:00Z,1\n", i)
		}
	}
	return map[string]string{
		"main.hcl":           main,
		"data/customers.csv": cust.String(),
		"data/consents.csv":  cons.String(),
		"data/events.jsonl":  "",
	}
}

// applyProject plans and applies a project at now.
func applyProject(t *testing.T, dir string, now time.Time) (*lang.Config, state.Backend) {
	t.Helper()
	cfg, st := load(t, dir)
	p := makePlan(t, cfg, st, now)
	if _, err := Apply(context.Background(), cfg, st, p, Options{Now: func() time.Time { return now }}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return cfg, st
}

// cartEvent is a page view (or another type) of customer c at t.
func cartEvent(lay *providers.Layout, id, c, typ, path string, at time.Time) TriggerEvent {
	rec := &providers.Record{Layout: lay, Values: make([]any, len(lay.Names))}
	set := func(n string, v any) { rec.Values[lay.Index(n)] = v }
	set("id", id)
	set("customer_id", c)
	set("type", typ)
	set("path", path)
	set("at", at)
	return TriggerEvent{Source: "events", ID: id, Type: typ, CustomerID: c, Time: at, Record: rec}
}

func TestRunnerCartJourney(t *testing.T) {
	forEachBackend(t, func(t *testing.T, stateBlock string) {
		ctx := context.Background()
		fake := fakeName()
		dir := journeyProject(t, stateBlock, fake)
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		cfg, st := applyProject(t, dir, t0)
		lay := providers.NewLayout(cfg.Schemas["event"])
		clock := &testClock{t: t0}
		r := NewRunner(st, RunOptions{Dir: dir, Now: clock.Now})
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		at := func(m time.Duration) time.Time { return t0.Add(m * time.Minute) }
		evs := []TriggerEvent{
			// c1: three cart views: a journey.
			cartEvent(lay, "e1", "c1", "page_view", "/cart", at(1)),
			cartEvent(lay, "e2", "c1", "page_view", "/cart", at(2)),
			cartEvent(lay, "e2", "c1", "page_view", "/cart", at(2)), // duplicate id: dropped
			cartEvent(lay, "e3", "c1", "page_view", "/cart/checkout", at(3)),
			// c2: two cart views and a product page: no journey.
			cartEvent(lay, "e4", "c2", "page_view", "/cart", at(1)),
			cartEvent(lay, "e5", "c2", "page_view", "/p/boots", at(2)),
			cartEvent(lay, "e6", "c2", "page_view", "/cart", at(3)),
			// c3: a journey, then a purchase before the SMS.
			cartEvent(lay, "e7", "c3", "page_view", "/cart", at(1)),
			cartEvent(lay, "e8", "c3", "page_view", "/cart", at(2)),
			cartEvent(lay, "e9", "c3", "page_view", "/cart", at(3)),
			// c4: a journey, but a support case is open: exits at the first step.
			cartEvent(lay, "e10", "c4", "page_view", "/cart", at(1)),
			cartEvent(lay, "e11", "c4", "page_view", "/cart", at(2)),
			cartEvent(lay, "e12", "c4", "page_view", "/cart", at(3)),
			// c5: a journey; no SMS consent: the SMS step is skipped.
			cartEvent(lay, "e13", "c5", "page_view", "/cart", at(1)),
			cartEvent(lay, "e14", "c5", "page_view", "/cart", at(2)),
			cartEvent(lay, "e15", "c5", "purchase", "/cart/checkout", at(2)), // unless: the window restarts
			cartEvent(lay, "e16", "c5", "page_view", "/cart", at(3)),
			cartEvent(lay, "e17", "c5", "page_view", "/cart", at(4)),
			cartEvent(lay, "e18", "c5", "page_view", "/cart", at(5)),
		}
		clock.Set(at(6))
		if err := r.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		active := journeysByCustomer(t, st, state.JourneyActive)
		if got := strings.Join(active, ","); got != "c1,c3,c4,c5" {
			t.Fatalf("active journeys after the events: %s, want c1,c3,c4,c5", got)
		}
		email, sms := fakeFor(fake), fakeFor(fake+"_sms")
		// Nothing is due before the first step's hour.
		clock.Set(at(30))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(email.messages()); n != 0 {
			t.Fatalf("%d e-mails before the step's wait", n)
		}
		// An hour after the third view: the e-mail to c1, c3 and c5; c4 exits.
		clock.Set(at(70))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got := customers(email.messages()); got != "c1,c3,c5" {
			t.Fatalf("e-mails to %s, want c1,c3,c5", got)
		}
		for _, m := range email.messages() {
			if !strings.Contains(m.HTML, "/cart") || m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Errorf("e-mail to %s lacks the event's path or the one-click header: %q %v", m.CustomerID, m.HTML, m.Headers)
			}
		}
		if got := strings.Join(journeysByCustomer(t, st, state.JourneyExited), ","); got != "c4" {
			t.Fatalf("exited journeys: %s, want c4", got)
		}
		// c3 buys: exit_when ends the journey before the SMS.
		clock.Set(at(120))
		if err := r.Ingest(ctx, []TriggerEvent{cartEvent(lay, "e19", "c3", "purchase", "/cart/checkout", at(119))}); err != nil {
			t.Fatal(err)
		}
		// A day after the e-mail, at 11:10 UTC (not quiet hours): the SMS to c1;
		// c5 has no SMS consent.
		clock.Set(at(70 + 24*60 + 5))
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if got := customers(sms.messages()); got != "c1" {
			t.Fatalf("SMS to %s, want c1", got)
		}
		if got := strings.Join(journeysByCustomer(t, st, state.JourneyCompleted), ","); got != "c1,c5" {
			t.Fatalf("completed journeys: %s, want c1,c5", got)
		}
		// Running again sends nothing twice.
		if err := r.Once(ctx); err != nil {
			t.Fatal(err)
		}
		if len(email.messages()) != 3 || len(sms.messages()) != 1 {
			t.Fatalf("messages after a second run: %d e-mails, %d SMS", len(email.messages()), len(sms.messages()))
		}
		// Re-entry: c1 views the cart three times again within 72h: refused.
		clock.Set(at(26 * 60))
		if err := r.Ingest(ctx, []TriggerEvent{
			cartEvent(lay, "e20", "c1", "page_view", "/cart", at(26*60-3)),
			cartEvent(lay, "e21", "c1", "page_view", "/cart", at(26*60-2)),
			cartEvent(lay, "e22", "c1", "page_view", "/cart", at(26*60-1)),
		}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(journeysByCustomer(t, st, state.JourneyActive), ","); got != "" {
			t.Fatalf("active journeys after re-entry within 72h: %s, want none", got)
		}
	})
}

func journeysByCustomer(t *testing.T, st state.Backend, status string) []string {
	t.Helper()
	var out []string
	err := st.Journeys(context.Background(), state.JourneyFilter{Status: status}, func(j state.Journey) error {
		out = append(out, j.CustomerID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sortStrings(out)
	return out
}

func customers(ms []*providers.Message) string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.CustomerID)
	}
	sortStrings(ids)
	return strings.Join(ids, ",")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestRunnerPostgresEvents reads a trigger's events from a PostgreSQL
// table by its cursor column: rows inserted after the runner first looked
// start journeys; rows that were there before do not.
func TestRunnerPostgresEvents(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t) // skips without PostgreSQL, fails under CI
	t.Setenv("HERALD_EVENTS_URL", url)
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE TABLE events (seq bigserial PRIMARY KEY, id text, customer_id text, type text, path text, at timestamptz);
INSERT INTO events (id, customer_id, type, path, at) VALUES ('old', 'c1', 'page_view', '/cart', '2026-12-01T09:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	fake := fakeName()
	files := journeyFiles("", fake, 5)
	files["main.hcl"] = strings.Replace(files["main.hcl"], `source "events" {
  from   = provider.files.cdp
  table  = "events.jsonl"`, `provider "postgres" "events" {
  url = env("HERALD_EVENTS_URL")
}
source "events" {
  from   = provider.postgres.events
  table  = "events"
  cursor = "seq"`, 1)
	files["main.hcl"] = strings.Replace(files["main.hcl"], `  threshold {
    count  = 3
    within = "24h"
  }
`, "", 1)
	dir := project(t, files)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	_, st := applyProject(t, dir, t0)
	clock := &testClock{t: t0}
	r := NewRunner(st, RunOptions{Dir: dir, Now: clock.Now, LookupEnv: lookupWith("HERALD_LINK_KEY", "k")})
	defer r.Close()
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO events (id, customer_id, type, path, at) VALUES
('n1', 'c2', 'page_view', '/cart', '2026-12-01T10:01:00Z'), ('n2', 'c3', 'page_view', '/p/boots', '2026-12-01T10:01:00Z')`); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(2 * time.Minute))
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(journeysByCustomer(t, st, state.JourneyActive), ","); got != "c2" {
		t.Fatalf("active journeys %q, want c2's only (c1's row predates the runner; c3 viewed no cart)", got)
	}
	clock.Set(t0.Add(65 * time.Minute))
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if got := customers(fakeFor(fake).messages()); got != "c2" {
		t.Fatalf("e-mails to %q, want c2", got)
	}
}

// TestRunnerTriggerDeleted deletes a trigger with a journey in flight: the
// plan says how many journeys will exit, and after the apply the runner
// ends the journey at its next step instead of sending.
func TestRunnerTriggerDeleted(t *testing.T) {
	ctx := context.Background()
	fake := fakeName()
	dir := journeyProject(t, "", fake)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cfg, st := applyProject(t, dir, t0)
	lay := providers.NewLayout(cfg.Schemas["event"])
	clock := &testClock{t: t0.Add(5 * time.Minute)}
	r := NewRunner(st, RunOptions{Dir: dir, Now: clock.Now, LookupEnv: lookupWith("HERALD_LINK_KEY", "k")})
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Ingest(ctx, []TriggerEvent{
		cartEvent(lay, "e1", "c1", "page_view", "/cart", t0.Add(time.Minute)),
		cartEvent(lay, "e2", "c1", "page_view", "/cart", t0.Add(2*time.Minute)),
		cartEvent(lay, "e3", "c1", "page_view", "/cart", t0.Add(3*time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	src := string(b)
	src = src[:strings.Index(src, `template "cart_email"`)] // the trigger and its templates
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg2, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := makePlan(t, cfg2, st, t0.Add(10*time.Minute))
	var del *planner.Change
	for _, c := range p.Changes {
		if c.Address == "trigger.cart_abandon" {
			del = c
		}
	}
	if del == nil || del.Action != planner.Delete || del.JourneysInFlight != 1 {
		t.Fatalf("the plan's change of the trigger: %+v, want a delete with 1 journey in flight", del)
	}
	if _, err := Apply(ctx, cfg2, st, p, Options{Now: func() time.Time { return t0.Add(10 * time.Minute) }}); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(2 * time.Hour))
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(fakeFor(fake).messages()); n != 0 {
		t.Fatalf("%d messages from a deleted trigger", n)
	}
	if got := strings.Join(journeysByCustomer(t, st, state.JourneyExited), ","); got != "c1" {
		t.Fatalf("exited journeys %q, want c1", got)
	}
}
