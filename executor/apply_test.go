package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

var fakeSeq atomic.Int64

func fakeName() string { return fmt.Sprintf("f%d", fakeSeq.Add(1)) }

func applyOpts(now time.Time) Options {
	return Options{Now: func() time.Time { return now }, LookupEnv: env("HERALD_LINK_KEY", "test-key"),
		RetryBase: time.Millisecond, RetryCap: 5 * time.Millisecond}
}

func recipients(p *planner.Plan, addr string) []planner.Recipient {
	for _, c := range p.Changes {
		if c.Address == addr && c.Campaign != nil {
			return c.Campaign.Recipients
		}
	}
	return nil
}

// TestApplySendsExactlyThePlan: plan, apply: every pinned recipient gets
// one message of their planned variant, rendered, with UTM parameters and
// List-Unsubscribe headers; the ledger says sent; the campaign is sent;
// the next plan has nothing to do and sends nothing.
func TestApplySendsExactlyThePlan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		name := fakeName()
		dir := smallProject(t, sb, name, 50, "")
		cfg, st := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		rec := recipients(p, "campaign.promo")
		if len(rec) != 50 {
			t.Fatalf("%d recipients planned, want 50", len(rec))
		}
		res, err := Apply(ctx, cfg, st, p, applyOpts(planNow))
		if err != nil {
			t.Fatal(err)
		}
		msgs := fakeFor(name).messages()
		if len(msgs) != 50 {
			t.Fatalf("%d messages sent, want 50", len(msgs))
		}
		want := map[string]string{}
		for _, r := range rec {
			want[r.CustomerID] = r.Variant
		}
		for _, m := range msgs {
			if want[m.CustomerID] != m.Variant {
				t.Errorf("%s got variant %s, planned %s", m.CustomerID, m.Variant, want[m.CustomerID])
			}
			if m.To != m.CustomerID+"@example.com" {
				t.Errorf("To = %q", m.To)
			}
			if !strings.HasPrefix(m.Subject, "Hi Name") && !strings.HasPrefix(m.Subject, "Deal for Name") {
				t.Errorf("subject %q", m.Subject)
			}
			if !strings.Contains(m.HTML, "utm_source=herald") || !strings.Contains(m.HTML, "utm_campaign=promo") {
				t.Errorf("no UTM in %s", m.HTML)
			}
			if strings.Contains(m.HTML, "/u/") && strings.Contains(m.HTML, "/u/"+"?") {
				t.Errorf("UTM on the unsubscribe link: %s", m.HTML)
			}
			lu := m.Headers["List-Unsubscribe"]
			if !strings.HasPrefix(lu, "<https://herald.example.com/u/") || m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Errorf("headers %v", m.Headers)
			}
			tok := strings.TrimSuffix(strings.TrimPrefix(lu, "<https://herald.example.com/u/"), ">")
			if c, camp, ok := VerifyUnsubscribeToken([]byte("test-key"), tok, planNow); !ok || c != m.CustomerID || camp != "campaign.promo" {
				t.Errorf("token %q: %v %v %v", tok, c, camp, ok)
			}
			if !strings.Contains(m.HTML, lu[1:len(lu)-1]) {
				t.Errorf("the unsubscribe link in the body differs from the header")
			}
			if m.From != "news@acme.example" || m.FromName != "Acme" {
				t.Errorf("from %q %q", m.From, m.FromName)
			}
		}
		if a := msgs[0]; a.Variant == "a" && !strings.Contains(a.HTML, "a=1&amp;b=2&amp;utm_") {
			t.Errorf("the HTML link was not kept escaped: %s", a.HTML)
		}
		rows := ledger(t, st, "campaign.promo")
		if len(rows) != 50 {
			t.Fatalf("ledger has %d rows", len(rows))
		}
		for k, r := range rows {
			if r.Status != state.SendSent || r.ProviderMessageID != "fake-"+k {
				t.Errorf("ledger %s: %+v", k, r)
			}
		}
		if c := res.Totals(); c.Sent != 50 || c.Failed != 0 {
			t.Errorf("totals %+v", c)
		}
		o, _ := st.Object(ctx, "campaign.promo")
		if o == nil || o.Status != "sent" {
			t.Fatalf("campaign object %+v", o)
		}
		objs, _ := st.Objects(ctx)
		for _, o := range objs {
			if o.Kind == MarkerKind {
				t.Errorf("the apply marker %s is left after a complete apply", o.Address)
			}
		}

		// The same plan again is stale.
		_, err = Apply(ctx, cfg, st, p, applyOpts(planNow))
		var se *StaleError
		if !errors.As(err, &se) {
			t.Fatalf("re-applying the plan: %v, want a StaleError", err)
		}
		// A new plan has no changes and sends nothing.
		p2 := makePlan(t, cfg, st, planNow.Add(time.Hour))
		if p2.Summary.HasChanges() {
			t.Fatalf("second plan has changes: %+v", p2.Summary)
		}
		if _, err := Apply(ctx, cfg, st, p2, applyOpts(planNow.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if n := len(fakeFor(name).messages()); n != 50 {
			t.Fatalf("%d messages after the second apply", n)
		}
	})
}

// TestApplyStaleConfig: a plan whose files changed is refused, and says why.
func TestApplyStaleConfig(t *testing.T) {
	ctx := context.Background()
	name := fakeName()
	dir := smallProject(t, "", name, 5, "")
	cfg, st := load(t, dir)
	p := makePlan(t, cfg, st, planNow)
	f := filepath.Join(dir, "main.hcl")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, append(b, "# edited\n"...), 0o644)
	cfg2, _ := load(t, dir)
	_, err := Apply(ctx, cfg2, st, p, applyOpts(planNow))
	var se *StaleError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "configuration files changed") || !strings.Contains(err.Error(), "plan again") {
		t.Fatalf("got %v", err)
	}
	if n := len(fakeFor(name).messages()); n != 0 {
		t.Fatalf("a stale plan sent %d messages", n)
	}
}

// TestApplyConsentWithdrawn: a customer who withdrew consent after the plan
// is skipped, counted, and recorded as skipped.
func TestApplyConsentWithdrawn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		name := fakeName()
		dir := smallProject(t, sb, name, 10, "")
		cfg, st := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		f := filepath.Join(dir, "data/consents.csv")
		fh, _ := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintln(fh, "c0003,email,withdrawn,link,2026-11-26T12:30:00Z,1")
		fh.Close()
		res, err := Apply(ctx, cfg, st, p, applyOpts(planNow.Add(time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fakeFor(name).messages() {
			if m.CustomerID == "c0003" {
				t.Fatal("messaged a customer who withdrew consent")
			}
		}
		if n := len(fakeFor(name).messages()); n != 9 {
			t.Fatalf("%d sent, want 9", n)
		}
		c := res.Totals()
		if c.Skipped[SkipConsent] != 1 || c.Sent != 9 {
			t.Fatalf("counts %+v", c)
		}
		var skipped int
		for _, r := range ledger(t, st, "campaign.promo") {
			if r.Status == state.SendSkipped && r.CustomerID == "c0003" && r.Error == SkipConsent {
				skipped++
			}
		}
		if skipped != 1 {
			t.Fatal("the skip is not in the ledger")
		}
	})
}

// TestApplyQuietHoursDefers: recipients in quiet hours at apply time are
// deferred to the end of them, recorded with DueAt, not sent; the campaign
// is scheduled.
func TestApplyQuietHoursDefers(t *testing.T) {
	ctx := context.Background()
	name := fakeName()
	dir := smallProject(t, "", name, 4, "")
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	s := strings.Replace(string(b), `basis = "consent"`, "basis = \"consent\"\n    quiet_hours = \"21:00-08:00\"", 1)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644)
	// c0000 and c0001 live in Tokyo: 23:00 there at 14:00 UTC.
	csv, _ := os.ReadFile(filepath.Join(dir, "data/customers.csv"))
	csv2 := strings.Replace(strings.Replace(string(csv), "Name0,100,UTC", "Name0,100,Asia/Tokyo", 1), "Name1,101,UTC", "Name1,101,Asia/Tokyo", 1)
	os.WriteFile(filepath.Join(dir, "data/customers.csv"), []byte(csv2), 0o644)
	// Plan at 12:00 UTC (21:00 Tokyo is 12:00 UTC: they are deferred by the
	// plan already); apply at 14:00.
	cfg, st := load(t, dir)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) // 19:00 in Tokyo: not quiet when planned
	p := makePlan(t, cfg, st, now)
	for _, r := range recipients(p, "campaign.promo") {
		if r.SendAt != 0 {
			t.Fatalf("planned deferral %+v", r)
		}
	}
	apply := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	res, err := Apply(ctx, cfg, st, p, applyOpts(apply))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fakeFor(name).messages()); n != 2 {
		t.Fatalf("%d sent, want 2", n)
	}
	if c := res.Totals(); c.Deferred != 2 {
		t.Fatalf("counts %+v", c)
	}
	due := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC) // 08:00 Tokyo on the 27th
	for _, r := range ledger(t, st, "campaign.promo") {
		if r.CustomerID == "c0000" || r.CustomerID == "c0001" {
			if r.Status != state.SendDeferred || !r.DueAt.Equal(due) {
				t.Errorf("%s: %s due %v, want deferred due %v", r.CustomerID, r.Status, r.DueAt, due)
			}
		}
	}
	if o, _ := st.Object(ctx, "campaign.promo"); o.Status != "scheduled" {
		t.Fatalf("campaign status %q, want scheduled", o.Status)
	}
}

// TestApplyLocked: while another process holds the lock, apply fails at
// once naming it.
func TestApplyLocked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		dir := smallProject(t, sb, fakeName(), 3, "")
		cfg, st := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		other, err := state.Open(ctx, dir, cfg.Herald.State)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		unlock, err := other.Lock(ctx, state.LockInfo{Who: "ci@runner-7", Operation: "apply"})
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		start := time.Now()
		_, err = Apply(ctx, cfg, st, p, applyOpts(planNow))
		var le *state.LockedError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), "ci@runner-7") {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v to fail", d)
		}
	})
}

// TestApplyPausesFailingProvider: a provider that answers 503 every time is
// paused after 20 failures in a row; the rest stays pending, the apply
// fails with ErrPaused, and applying the same plan again (the provider
// healed) resumes and sends each message once.
func TestApplyPausesFailingProvider(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		name := fakeName()
		dir := smallProject(t, sb, name, 100, "")
		cfg, st := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		f := fakeFor(name)
		f.mu.Lock()
		f.fail = "always"
		f.mu.Unlock()
		res, err := Apply(ctx, cfg, st, p, applyOpts(planNow))
		if !errors.Is(err, ErrPaused) {
			t.Fatalf("got %v, want ErrPaused", err)
		}
		if len(res.Paused) != 1 {
			t.Fatalf("paused %v", res.Paused)
		}
		f.mu.Lock()
		calls := f.calls
		f.fail = ""
		f.mu.Unlock()
		if calls > 40 {
			t.Errorf("%d calls to a failing provider", calls)
		}
		if o, _ := st.Object(ctx, "campaign.promo"); o.Status != "sending" {
			t.Fatalf("status %q", o.Status)
		}
		// Resume with the same plan.
		res, err = Apply(ctx, cfg, st, p, applyOpts(planNow))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resumed {
			t.Fatal("not resumed")
		}
		msgs := f.messages()
		sent := map[string]int{}
		for _, m := range msgs {
			sent[m.CustomerID]++
		}
		c := res.Totals()
		// Messages that exhausted their retries are failed; every other
		// one is sent exactly once.
		if int64(len(sent))+c.Failed != 100 {
			t.Fatalf("%d sent + %d failed, want 100", len(sent), c.Failed)
		}
		for id, n := range sent {
			if n != 1 {
				t.Errorf("%s got %d messages", id, n)
			}
		}
		if o, _ := st.Object(ctx, "campaign.promo"); o.Status != "sent" {
			t.Fatalf("status %q", o.Status)
		}
	})
}

// TestConcurrentApplies: two applies of the same plan at once, on two
// connections: one sends, the other fails at once naming the holder.
func TestConcurrentApplies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		name := fakeName()
		dir := smallProject(t, sb, name, 30, "")
		cfg, st := load(t, dir)
		_, st2 := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		f := fakeFor(name)
		f.mu.Lock()
		f.hook = func(*providers.Message) providers.SendResult {
			time.Sleep(5 * time.Millisecond) // hold the lock a while
			return providers.SendResult{}
		}
		f.mu.Unlock()
		errs := make(chan error, 2)
		for _, b := range []state.Backend{st, st2} {
			go func() {
				opts := applyOpts(planNow)
				opts.Lock = state.LockInfo{Who: "apply@" + fmt.Sprint(b == st)}
				_, err := Apply(ctx, cfg, b, p, opts)
				errs <- err
			}()
		}
		var ok, locked int
		for range 2 {
			err := <-errs
			var le *state.LockedError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &le) && strings.Contains(err.Error(), "apply@"):
				locked++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		if ok != 1 || locked != 1 {
			t.Fatalf("%d succeeded, %d locked out", ok, locked)
		}
		if n := len(f.messages()); n != 30 {
			t.Fatalf("%d messages", n)
		}
	})
}
