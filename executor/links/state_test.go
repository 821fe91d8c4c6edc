package links

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// fakeBackend keeps suppressions and audit records; any other method
// panics.
type fakeBackend struct {
	state.Backend
	mu       sync.Mutex
	supp     map[[2]string]state.Suppression
	audit    []state.AuditRecord
	auditErr error
}

func (f *fakeBackend) AddSuppressions(ctx context.Context, ss []state.Suppression) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.supp == nil {
		f.supp = map[[2]string]state.Suppression{}
	}
	for _, s := range ss {
		k := [2]string{s.CustomerID, s.Channel}
		if _, ok := f.supp[k]; !ok {
			f.supp[k] = s
		}
	}
	return nil
}

func (f *fakeBackend) AddAudit(ctx context.Context, recs []state.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.auditErr != nil {
		return f.auditErr
	}
	f.audit = append(f.audit, recs...)
	return nil
}

func TestUnsubscribeState(t *testing.T) {
	st := &fakeBackend{}
	channelOf := func(c string) string {
		if c == "campaign.winback" {
			return "email"
		}
		return ""
	}
	s := NewSigner(testKey, nil)
	h := Handler(Options{Signer: s, Now: func() time.Time { return t0 }, Unsubscribe: UnsubscribeState(st, channelOf)})
	tok := s.Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour))
	for range 2 {
		if w := do(h, "POST", "/u/"+tok, "List-Unsubscribe=One-Click"); w.Code != http.StatusOK {
			t.Fatalf("POST = %d", w.Code)
		}
	}
	if len(st.supp) != 1 {
		t.Fatalf("suppressions = %v, want one", st.supp)
	}
	got := st.supp[[2]string{"c1", "email"}]
	if got.Reason != "unsubscribe" {
		t.Errorf("suppression = %+v", got)
	}
	if len(st.audit) != 2 {
		t.Fatalf("audit = %+v, want a record per request", st.audit)
	}
	a := st.audit[0]
	if a.Kind != "unsubscribe" || a.CustomerID != "c1" || a.Subject != "campaign.winback" || a.Channel != "email" || a.At.IsZero() {
		t.Errorf("audit record = %+v", a)
	}

	// A campaign the configuration no longer has: every channel.
	if err := UnsubscribeState(st, channelOf)(context.Background(), "c2", "campaign.gone"); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.supp[[2]string{"c2", ""}]; !ok {
		t.Errorf("an unknown campaign's unsubscribe did not suppress every channel: %v", st.supp)
	}

	// The audit cannot be written: the suppression is, and the error
	// says so, so that the recipient retries.
	st.auditErr = errors.New("disk full")
	err := UnsubscribeState(st, channelOf)(context.Background(), "c3", "campaign.winback")
	if err == nil {
		t.Fatal("no error when the audit failed")
	}
	if _, ok := st.supp[[2]string{"c3", "email"}]; !ok {
		t.Error("the suppression was not written before the audit")
	}
}

func TestEngageState(t *testing.T) {
	st := &fakeBackend{}
	s := NewSigner(testKey, nil)
	h := Handler(Options{Signer: s, Engage: EngageState(st, func(string) string { return "email" })})
	do(h, "GET", "/c/"+s.Click("campaign.winback", "c1", "https://shop.example/p?utm_source=x"), "")
	do(h, "GET", "/o/"+s.Open("campaign.winback", "c1")+".gif", "")
	if len(st.audit) != 2 {
		t.Fatalf("audit = %+v", st.audit)
	}
	c, o := st.audit[0], st.audit[1]
	if c.Kind != "click" || c.CustomerID != "c1" || c.Subject != "campaign.winback" || c.Channel != "email" || c.Detail != "shop.example/p" {
		t.Errorf("click record = %+v", c)
	}
	if o.Kind != "open" || o.CustomerID != "c1" || o.Detail != "" {
		t.Errorf("open record = %+v", o)
	}
}

func TestChannelOf(t *testing.T) {
	email := &lang.Template{Channel: "email"}
	sms := &lang.Template{Channel: "sms"}
	cfg := &lang.Config{
		Campaigns: map[string]*lang.Campaign{"winback": {Channel: "email"}},
		Triggers: map[string]*lang.Trigger{
			"cart":  {Steps: []*lang.Step{{Send: &lang.Send{Template: email}}, {}, {Send: &lang.Send{Template: email}}}},
			"mixed": {Steps: []*lang.Step{{Send: &lang.Send{Template: email}}, {Send: &lang.Send{Template: sms}}}},
		},
	}
	f := ChannelOf(cfg)
	for addr, want := range map[string]string{
		"campaign.winback": "email", "trigger.cart": "email", "trigger.mixed": "",
		"campaign.gone": "", "trigger.gone": "", "segment.x": "", "": "",
	} {
		if got := f(addr); got != want {
			t.Errorf("ChannelOf(%q) = %q, want %q", addr, got, want)
		}
	}
	if got := ChannelOf(nil)("campaign.winback"); got != "" {
		t.Errorf("ChannelOf(nil) = %q", got)
	}
}
