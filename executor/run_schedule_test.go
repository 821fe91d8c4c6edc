package executor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/state"
)

// scheduleProject has customers in four zones and two campaigns sent at
// 09:00 in each recipient's zone: one on 1 December 2026, one on 29 March
// 2027, after Europe (28 March) and the United States (14 March) moved
// their clocks forward.
func scheduleProject(t *testing.T, stateBlock, fake string) string {
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
provider "testmail" %q {}
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
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
  where = "customer.id != ''"
}
template "t" {
  channel = "email"
  subject = "Good morning"
  html    = "<p>Hello.</p><p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ sender.postal_address }}</p>"
}
campaign "december" {
  audience    = segment.all
  channel     = "email"
  via         = provider.testmail.%[2]s
  legal_basis = "consent"
  template    = template.t
  schedule {
    at       = "2026-12-01T09:00"
    timezone = "recipient"
    max_late = "2h"
  }
}
campaign "spring" {
  audience    = segment.all
  channel     = "email"
  via         = provider.testmail.%[2]s
  legal_basis = "consent"
  template    = template.t
  schedule {
    at       = "2027-03-29T09:00"
    timezone = "recipient"
  }
}
`, stateBlock, fake)
	return project(t, map[string]string{
		"main.hcl": main,
		"data/customers.csv": `id,email,timezone
tokyo,tokyo@example.com,Asia/Tokyo
berlin,berlin@example.com,Europe/Berlin
newyork,newyork@example.com,America/New_York
sydney,sydney@example.com,Australia/Sydney
`,
		"data/consents.csv": `customer_id,channel,status,method,recorded_at,policy_version
tokyo,email,granted,form,2026-01-01T00:00:00Z,1
berlin,email,granted,form,2026-01-01T00:00:00Z,1
newyork,email,granted,form,2026-01-01T00:00:00Z,1
sydney,email,granted,form,2026-01-01T00:00:00Z,1
`,
	})
}

func TestRunnerSchedules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, stateBlock string) {
		ctx := context.Background()
		fake := fakeName()
		dir := scheduleProject(t, stateBlock, fake)
		t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		_, st := applyProject(t, dir, t0)
		box := fakeFor(fake)
		clock := &testClock{t: t0}
		r := NewRunner(st, RunOptions{Dir: dir, Now: clock.Now, LookupEnv: lookupWith("HERALD_LINK_KEY", "k")})
		sent := func() string {
			var s []string
			for _, m := range box.messages() {
				s = append(s, strings.TrimPrefix(m.Campaign, "campaign.")+"/"+m.CustomerID)
			}
			sortStrings(s)
			return strings.Join(s, ",")
		}
		at := func(s string) time.Time {
			tt, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatal(err)
			}
			return tt
		}
		step := func(now, want string) {
			t.Helper()
			clock.Set(at(now))
			if err := r.Once(ctx); err != nil {
				t.Fatal(err)
			}
			if got := sent(); got != want {
				t.Fatalf("at %s sent %q, want %q", now, got, want)
			}
		}
		// 09:00 in Sydney (UTC+11 in summer) is 22:00 UTC the day before;
		// Tokyo 00:00 UTC; Berlin 08:00 UTC; New York 14:00 UTC.
		step("2026-11-30T21:59:00Z", "")
		step("2026-11-30T22:00:00Z", "december/sydney")
		step("2026-12-01T00:00:00Z", "december/sydney,december/tokyo")
		step("2026-12-01T07:59:00Z", "december/sydney,december/tokyo")
		// The runner is paused before Berlin's wave: nothing goes out.
		pause(t, st, "campaign.december", "paused")
		step("2026-12-01T08:30:00Z", "december/sydney,december/tokyo")
		pause(t, st, "campaign.december", "scheduled")
		step("2026-12-01T08:31:00Z", "december/berlin,december/sydney,december/tokyo")
		// The runner is down from 09:00 until 16:30 UTC: New York's 14:00
		// send is 2h30m late, beyond max_late (2h): skipped and counted.
		step("2026-12-01T16:30:00Z", "december/berlin,december/sydney,december/tokyo")
		late := ledgerStatus(t, st, "campaign.december", "newyork")
		if late.Status != state.SendSkipped || late.Error != SkipLate {
			t.Fatalf("New York's late send is %s %q, want skipped as late", late.Status, late.Error)
		}
		// After the clocks changed: Berlin is UTC+2 and New York UTC-4,
		// Sydney back to UTC+11 until April, Tokyo has no DST.
		base := "december/berlin,december/sydney,december/tokyo"
		step("2027-03-28T21:59:00Z", base)
		step("2027-03-28T22:00:00Z", base+",spring/sydney")
		step("2027-03-29T00:00:00Z", base+",spring/sydney,spring/tokyo")
		step("2027-03-29T06:59:00Z", base+",spring/sydney,spring/tokyo")
		step("2027-03-29T07:00:00Z", base+",spring/berlin,spring/sydney,spring/tokyo")
		step("2027-03-29T12:59:00Z", base+",spring/berlin,spring/sydney,spring/tokyo")
		step("2027-03-29T13:00:00Z", base+",spring/berlin,spring/newyork,spring/sydney,spring/tokyo")
		// Cancelled: nothing left to cancel here, but the status is kept,
		// and a run changes nothing more.
		step("2027-03-30T00:00:00Z", base+",spring/berlin,spring/newyork,spring/sydney,spring/tokyo")
	})
}

// pause sets a campaign object's status, as herald campaign pause and
// resume do.
func pause(t *testing.T, st state.Backend, addr, status string) {
	t.Helper()
	ctx := context.Background()
	o, err := st.Object(ctx, addr)
	if err != nil || o == nil {
		t.Fatalf("reading %s: %v", addr, err)
	}
	o.Status = status
	if _, err := st.WriteObjects(ctx, []state.Object{*o}, nil); err != nil {
		t.Fatal(err)
	}
}

func ledgerStatus(t *testing.T, st state.Backend, campaign, customer string) state.Send {
	t.Helper()
	var out state.Send
	_ = st.Sends(context.Background(), campaign, func(s state.Send) error {
		if s.CustomerID == customer {
			out = s
		}
		return nil
	})
	return out
}

func TestRunnerCancel(t *testing.T) {
	ctx := context.Background()
	fake := fakeName()
	dir := scheduleProject(t, "", fake)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	_, st := applyProject(t, dir, t0)
	clock := &testClock{t: t0}
	r := NewRunner(st, RunOptions{Dir: dir, Now: clock.Now, LookupEnv: lookupWith("HERALD_LINK_KEY", "k")})
	pause(t, st, "campaign.december", "cancelled")
	clock.Set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(fakeFor(fake).messages()); n != 0 {
		t.Fatalf("%d messages of a cancelled campaign", n)
	}
	for _, c := range []string{"tokyo", "berlin", "newyork", "sydney"} {
		if s := ledgerStatus(t, st, "campaign.december", c); s.Status != state.SendSkipped || s.Error != SkipCancelled {
			t.Errorf("%s: %s %q, want skipped as cancelled", c, s.Status, s.Error)
		}
	}
}
