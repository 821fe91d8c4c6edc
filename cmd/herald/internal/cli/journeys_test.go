package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/cmd/herald/internal/cli"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// journeysProject is a project with two triggers: cart_abandon, which the
// test writes to the state as if applied, and browse, which is only in
// the files.
const journeysProject = `
herald {
  public_url = "https://herald.example.com"
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St"
  }
}
provider "files" "cdp" { dir = "data" }
provider "outbox" "mail" { dir = ".herald/outbox" }
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
}
schema "event" {
  field "id"          { type = string }
  field "customer_id" { type = string }
  field "type"        { type = string }
  field "path"        { type = string }
  field "at"          { type = timestamp }
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
}
template "cart_email" {
  channel = "email"
  subject = "You left something behind"
  html    = "<p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ sender.postal_address }}</p>"
}
trigger "cart_abandon" {
  from        = source.events
  on          = "page_view"
  purpose     = "marketing"
  legal_basis = "consent"
  step "nudge" {
    wait = "1h"
    send {
      template = template.cart_email
      via      = provider.outbox.mail
    }
  }
  step "escalate" {
    wait = "24h"
    send {
      template = template.cart_email
      via      = provider.outbox.mail
    }
  }
}
trigger "browse" {
  from        = source.events
  on          = "page_view"
  purpose     = "marketing"
  legal_basis = "consent"
  step "look" {
    wait = "2h"
    send {
      template = template.cart_email
      via      = provider.outbox.mail
    }
  }
}
`

// herald runs the command line as the testscripts do and returns what it
// printed.
func herald(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Run(args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

// TestJourneys seeds journeys in every status straight into the state, as
// herald run would leave them, and reads them back with herald journeys
// list and show, on each backend.
func TestJourneys(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testJourneys(t, "") })
	t.Run("postgres", func(t *testing.T) {
		// This package's TestMain is testscript's, which cannot call
		// pgtest.Main; this is the package's only user of pgtest, so the
		// cluster is stopped here, after the database is dropped.
		t.Cleanup(pgtest.Stop)
		t.Setenv("HERALD_STATE_URL", pgtest.Start(t))
		testJourneys(t, "  state \"postgres\" {\n    url = env(\"HERALD_STATE_URL\")\n  }\n")
	})
}

func testJourneys(t *testing.T, stateBlock string) {
	t.Setenv("NO_COLOR", "1")
	ctx := context.Background()
	dir := t.TempDir()
	project := strings.Replace(journeysProject, "herald {\n", "herald {\n"+stateBlock, 1)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	st, err := state.Open(ctx, dir, cfg.Herald.State)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Before any journey: the applied trigger shows its steps with zeros.
	if _, err := st.WriteObjects(ctx, []state.Object{{
		Address: "trigger.cart_abandon", Kind: "trigger", Status: "active",
		Attrs: map[string]string{"on": `"page_view"`, "step.0.nudge": "wait=1h0m0s", "step.1.escalate": "wait=24h0m0s"},
	}}, nil); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := herald(t, "-chdir", dir, "journeys", "list")
	if code != 0 {
		t.Fatalf("journeys list: exit %d\n%s", code, errOut)
	}
	wantLines(t, out,
		`^TRIGGER +STEP +ACTIVE +WAITING +EXITED +COMPLETED$`,
		`^trigger.cart_abandon +nudge +0 +0 +0 +0$`,
		`^trigger.cart_abandon +escalate +0 +0 +0 +0$`,
		`^0 journeys in flight \(0 active, 0 waiting\) · 0 exited · 0 completed$`)

	now := time.Now().UTC().Truncate(time.Second)
	start := func(id, trigger, customer string, due time.Time, event string) {
		t.Helper()
		ok, err := st.StartJourney(ctx, state.Journey{
			ID: id, Trigger: trigger, CustomerID: customer, Status: state.JourneyActive,
			StartKey: "ev-" + id, Event: []byte(event), StartedAt: now.Add(-3 * time.Hour),
		}, state.Timer{JourneyID: id, Step: 0, DueAt: due}, now.Add(-72*time.Hour))
		if err != nil || !ok {
			t.Fatalf("StartJourney(%s) = %v, %v", id, ok, err)
		}
	}
	advance := func(id string, step int, next *state.Timer) {
		t.Helper()
		if ok, err := st.AdvanceJourney(ctx, id, step, next, now); err != nil || !ok {
			t.Fatalf("AdvanceJourney(%s, %d) = %v, %v", id, step, ok, err)
		}
	}
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	event := `{"id":"ev-1","customer_id":"c3","type":"page_view","path":"/cart/secret-item","email":"ann@example.com"}`
	start("a1", "trigger.cart_abandon", "c1", past, event)   // step 0 due: active
	start("a2", "trigger.cart_abandon", "c2", future, event) // step 0 waiting
	start("a3", "trigger.cart_abandon", "c3", past, event)   // on to step 1, waiting
	advance("a3", 0, &state.Timer{JourneyID: "a3", Step: 1, DueAt: future})
	start("a4", "trigger.cart_abandon", "c4", past, event) // exits at step 0
	if ok, err := st.ExitJourney(ctx, "a4", "exit_when: event.type == 'purchase'", now); err != nil || !ok {
		t.Fatalf("ExitJourney = %v, %v", ok, err)
	}
	start("a5", "trigger.cart_abandon", "c5", past, event) // completes both steps
	advance("a5", 0, &state.Timer{JourneyID: "a5", Step: 1, DueAt: past})
	advance("a5", 1, nil)
	start("b1", "trigger.browse", "c1", future, event)      // configured, not applied
	start("o1", "trigger.old_welcome", "c1", future, event) // neither: deleted from both

	// The ledger: a3's nudge went out and its escalation waits for quiet
	// hours; a30 is another journey whose key shares a3's first characters.
	if err := st.RecordSends(ctx, []state.Send{
		{Key: "ja3-000", Campaign: "trigger.cart_abandon", CustomerID: "c3", Channel: "email", Provider: "provider.outbox.mail", Status: state.SendSent},
		{Key: "ja3-001", Campaign: "trigger.cart_abandon", CustomerID: "c3", Channel: "email", Provider: "provider.outbox.mail", Status: state.SendDeferred, DueAt: future},
		{Key: "ja30-000", Campaign: "trigger.cart_abandon", CustomerID: "c9", Channel: "email", Provider: "provider.outbox.mail", Status: state.SendSent},
		{Key: "ja5-000", Campaign: "trigger.cart_abandon", CustomerID: "c5", Channel: "email", Provider: "provider.outbox.mail",
			Status: state.SendFailed, Error: "550 5.1.1 <ann@example.com>: no such user; call +1 541 555 0100"},
	}); err != nil {
		t.Fatal(err)
	}

	out, errOut, code = herald(t, "-chdir", dir, "journeys", "list")
	if code != 0 {
		t.Fatalf("journeys list: exit %d\n%s", code, errOut)
	}
	wantLines(t, out,
		`^trigger.browse +look +0 +1 +0 +0$`,
		`^trigger.cart_abandon +nudge +1 +1 +1 +0$`,
		`^trigger.cart_abandon +escalate +0 +1 +0 +0$`,
		`^trigger.cart_abandon +\(end\) +0 +0 +0 +1$`,
		`^trigger.old_welcome +0 +0 +1 +0 +0$`,
		`^5 journeys in flight \(1 active, 4 waiting\) · 1 exited · 1 completed$`)

	out, _, code = herald(t, "-chdir", dir, "journeys", "list", "-trigger", "cart_abandon", "-json")
	if code != 0 {
		t.Fatalf("journeys list -json: exit %d", code)
	}
	var got struct {
		Steps []map[string]any `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Steps) != 3 || got.Steps[0]["step_name"] != "nudge" || got.Steps[0]["active"] != 1.0 || got.Steps[2]["completed"] != 1.0 {
		t.Errorf("journeys list -trigger cart_abandon -json:\n%s", out)
	}

	_, errOut, code = herald(t, "-chdir", dir, "journeys", "list", "-trigger", "cart_abandn")
	if code != 1 || !strings.Contains(errOut, "no trigger trigger.cart_abandn. Did you mean trigger.cart_abandon?") {
		t.Errorf("journeys list -trigger cart_abandn: exit %d\n%s", code, errOut)
	}

	// Show by id: the journey, its step by name, the names of the event's
	// fields but none of their values, and its own sends only.
	out, errOut, code = herald(t, "-chdir", dir, "journeys", "show", "a3")
	if code != 0 {
		t.Fatalf("journeys show a3: exit %d\n%s", code, errOut)
	}
	wantLines(t, out,
		`^# journey a3$`,
		`^trigger += trigger.cart_abandon$`,
		`^customer_id += c3$`,
		`^status += active$`,
		`^step += 1 escalate \(of 2\)$`,
		`^started_at += `+regexp.QuoteMeta(now.Add(-3*time.Hour).Format(time.RFC3339))+`$`,
		`^exit_reason += -$`,
		`^start_event += ev-a3$`,
		`^event_fields += customer_id, email, id, path, type$`,
		`^  ja3-000 +0 nudge +sent +email +outbox.mail `,
		`^  ja3-001 +1 escalate +deferred +email +outbox.mail +due `)
	for _, leak := range []string{"ann@example.com", "secret-item", "ja30-000"} {
		if strings.Contains(out, leak) {
			t.Errorf("journeys show a3 prints %q:\n%s", leak, out)
		}
	}

	// A provider's error that names the recipient is masked.
	out, _, _ = herald(t, "-chdir", dir, "journeys", "show", "a5")
	wantLines(t, out, `^status += completed$`, `^step += 2 \(end\) \(of 2\)$`, `failed .*550 5.1.1 <.*>: no such user`)
	if strings.Contains(out, "ann@example.com") || strings.Contains(out, "555") {
		t.Errorf("journeys show a5 prints personal data:\n%s", out)
	}

	// So is an exit reason that quotes an address.
	if ok, err := st.ExitJourney(ctx, "b1", "support case opened by ann@example.com", now); err != nil || !ok {
		t.Fatalf("ExitJourney(b1) = %v, %v", ok, err)
	}
	out, _, _ = herald(t, "-chdir", dir, "journeys", "show", "b1")
	wantLines(t, out, `^exit_reason += support case opened by \S+$`, `^step += 0 look \(of 1\)$`)
	if strings.Contains(out, "ann@example.com") {
		t.Errorf("journeys show b1 prints an address:\n%s", out)
	}

	// Show by trigger and customer: every journey of theirs, here after
	// re-entry.
	ok, err := st.StartJourney(ctx, state.Journey{
		ID: "a4b", Trigger: "trigger.cart_abandon", CustomerID: "c4", Status: state.JourneyActive,
		StartKey: "ev-a4b", StartedAt: now.Add(-time.Hour),
	}, state.Timer{JourneyID: "a4b", DueAt: future}, now.Add(-2*time.Hour))
	if err != nil || !ok {
		t.Fatalf("StartJourney(a4b) = %v, %v", ok, err)
	}
	out, errOut, code = herald(t, "-chdir", dir, "journeys", "show", "trigger.cart_abandon", "c4")
	if code != 0 {
		t.Fatalf("journeys show cart_abandon c4: exit %d\n%s", code, errOut)
	}
	wantLines(t, out, `^# journey a4$`, `^status += exited$`, `^exit_reason += exit_when: event.type == 'purchase'$`,
		`^# journey a4b$`, `^sends: none$`)
	if strings.Index(out, "# journey a4\n") > strings.Index(out, "# journey a4b\n") {
		t.Errorf("journeys are not oldest first:\n%s", out)
	}

	out, _, code = herald(t, "-chdir", dir, "journeys", "show", "-json", "a3")
	var shown struct {
		Journeys []struct {
			ID          string   `json:"id"`
			StepName    string   `json:"step_name"`
			EventFields []string `json:"event_fields"`
			Sends       []struct {
				Key    string `json:"key"`
				Status string `json:"status"`
			} `json:"sends"`
		} `json:"journeys"`
	}
	if err := json.Unmarshal([]byte(out), &shown); code != 0 || err != nil {
		t.Fatalf("journeys show -json a3: exit %d, %v\n%s", code, err, out)
	}
	if j := shown.Journeys; len(j) != 1 || j[0].StepName != "escalate" || len(j[0].Sends) != 2 || len(j[0].EventFields) != 5 {
		t.Errorf("journeys show -json a3:\n%s", out)
	}

	// What is not there.
	_, errOut, code = herald(t, "-chdir", dir, "journeys", "show", "zz")
	if code != 1 || !strings.HasPrefix(errOut, "Error: no journey zz in the state.") {
		t.Errorf("journeys show zz: exit %d\n%s", code, errOut)
	}
	_, errOut, code = herald(t, "-chdir", dir, "journeys", "show", "cart_abandon", "c99")
	if code != 1 || errOut != "Error: customer c99 has no journey in trigger.cart_abandon\n" {
		t.Errorf("journeys show cart_abandon c99: exit %d\n%s", code, errOut)
	}
	_, errOut, code = herald(t, "-chdir", dir, "journeys", "show", "brwose", "c1")
	if code != 1 || !strings.Contains(errOut, "Did you mean trigger.browse?") {
		t.Errorf("journeys show brwose c1: exit %d\n%s", code, errOut)
	}
}

// TestJourneysNoState: before anything was applied there is no state, and
// the journeys commands say so without creating one.
func TestJourneysNoState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(journeysProject), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := herald(t, "-chdir", dir, "journeys", "list")
	if code != 0 || !strings.HasPrefix(out, "No journeys: there is no state yet (") || errOut != "" {
		t.Errorf("journeys list: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = herald(t, "-chdir", dir, "journeys", "list", "-json")
	if code != 0 || out != "{\"steps\":[]}\n" {
		t.Errorf("journeys list -json: exit %d\n%s", code, out)
	}
	_, errOut, code = herald(t, "-chdir", dir, "journeys", "list", "-trigger", "brows")
	if code != 1 || !strings.Contains(errOut, "Did you mean trigger.browse?") {
		t.Errorf("journeys list -trigger brows: exit %d\n%s", code, errOut)
	}
	_, errOut, code = herald(t, "-chdir", dir, "journeys", "show", "a1")
	if code != 1 || !strings.HasPrefix(errOut, "Error: no such journey: there is no state yet (") {
		t.Errorf("journeys show a1: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".herald")); !os.IsNotExist(err) {
		t.Errorf("the journeys commands created .herald: %v", err)
	}
}

// wantLines checks that out has a line matching each pattern.
func wantLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Errorf("no line matches %s in:\n%s", p, out)
		}
	}
}
