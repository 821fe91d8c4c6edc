package ingest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

const (
	publicURL   = "https://herald.example.com"
	twilioToken = "twilio-auth-token"
	mandrillKey = "mandrill-webhook-key"
	phone       = "+15415550101"
)

// audited keeps audit records in memory as well, so that these tests do
// not depend on whether the backend's runtime has landed.
type audited struct {
	state.Backend
	mu   sync.Mutex
	recs []state.AuditRecord
}

func (a *audited) AddAudit(ctx context.Context, recs []state.AuditRecord) error {
	a.mu.Lock()
	a.recs = append(a.recs, recs...)
	a.mu.Unlock()
	if err := a.Backend.AddAudit(ctx, recs); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

func hookConfig() *lang.Config {
	return &lang.Config{
		Herald: lang.Herald{PublicURL: publicURL + "/"},
		Providers: map[string]*lang.Provider{
			"twilio.main": {Type: "twilio", Name: "main", Attributes: map[string]cty.Value{"auth_token": cty.StringVal(twilioToken)}},
			"twilio.cb": {Type: "twilio", Name: "cb", Attributes: map[string]cty.Value{
				"auth_token":      cty.StringVal(twilioToken),
				"status_callback": cty.StringVal("https://hooks.example.com/twilio"),
			}},
			"twilio.unset":  {Type: "twilio", Name: "unset", Attributes: map[string]cty.Value{"auth_token": cty.UnknownVal(cty.String)}, Unset: map[string]lang.Unset{"auth_token": {Env: []string{"TWILIO_AUTH_TOKEN"}}}},
			"mailchimp.tx":  {Type: "mailchimp", Name: "tx", Attributes: map[string]cty.Value{"webhook_key": cty.StringVal(mandrillKey)}},
			"smtp.main":     {Type: "smtp", Name: "main"},
			"mailchimp.smt": {Type: "smtp", Name: "smt"},
		},
	}
}

type hookTest struct {
	st       *audited
	h        http.Handler
	log      bytes.Buffer
	outcomes []string
}

func newHookTest(t *testing.T, lookup func(ctx context.Context, phone string) (string, error)) *hookTest {
	ht := &hookTest{st: &audited{Backend: newState(t)}}
	ht.h = Handler(HandlerOptions{
		Config:      hookConfig(),
		State:       ht.st,
		Now:         func() time.Time { return time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC) },
		LookupPhone: lookup,
		Logger:      slog.New(slog.NewTextHandler(&ht.log, nil)),
		OnRequest:   func(route, outcome string) { ht.outcomes = append(ht.outcomes, route+"|"+outcome) },
	})
	return ht
}

// post sends a form signed with secret for signedURL (no signature when
// secret is "").
func (ht *hookTest) post(path string, f url.Values, header, secret, signedURL string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.Header.Set(header, Sign(secret, signedURL, f))
	}
	w := httptest.NewRecorder()
	ht.h.ServeHTTP(w, req)
	return w
}

func (ht *hookTest) twilio(path string, f url.Values) *httptest.ResponseRecorder {
	return ht.post(path, f, TwilioHeader, twilioToken, publicURL+path)
}

func TestHandlerTwilioStatus(t *testing.T) {
	ht := newHookTest(t, nil)
	w := ht.twilio("/hooks/twilio/main", form("MessageSid", "SM1", "MessageStatus", "undelivered", "ErrorCode", "30003"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<Response></Response>") {
		t.Fatalf("status callback = %d %s", w.Code, w.Body)
	}
	if s := ledger(t, ht.st)["k1"]; s.Status != state.SendFailed || !strings.Contains(s.Error, "30003") {
		t.Errorf("k1 = %+v", s)
	}
	w = ht.twilio("/hooks/twilio/main", form("MessageSid", "SM2", "MessageStatus", "failed", "ErrorCode", "21610"))
	if w.Code != 200 {
		t.Fatalf("21610 = %d", w.Code)
	}
	if got := suppressions(t, ht.st)["c2/sms"]; got != "stop" {
		t.Errorf("c2/sms suppression = %q, want stop", got)
	}
	// Delivered: nothing to change, and nothing fails.
	if w := ht.twilio("/hooks/twilio/main", form("MessageSid", "SM3", "MessageStatus", "delivered")); w.Code != 200 {
		t.Errorf("delivered = %d", w.Code)
	}
	if s := ledger(t, ht.st)["k3"]; s.Status != state.SendSent {
		t.Errorf("k3 = %+v", s)
	}
	// The signed URL keeps its query string.
	if w := ht.twilio("/hooks/twilio/main?x=1", form("MessageSid", "SM3", "MessageStatus", "delivered")); w.Code != 200 {
		t.Errorf("with a query = %d", w.Code)
	}
}

func TestHandlerSignatures(t *testing.T) {
	ht := newHookTest(t, nil)
	f := form("MessageSid", "SM1", "MessageStatus", "undelivered")
	cases := []struct {
		name                string
		path                string
		header, key, signed string
		want                int
	}{
		{"wrong token", "/hooks/twilio/main", TwilioHeader, "not-the-token", publicURL + "/hooks/twilio/main", 403},
		{"no signature", "/hooks/twilio/main", TwilioHeader, "", "", 403},
		// Signed for the address the runner listens on, not the public
		// one the platform was given: not what Twilio signs.
		{"internal URL", "/hooks/twilio/main", TwilioHeader, twilioToken, "http://127.0.0.1:8080/hooks/twilio/main", 403},
		{"other provider's path", "/hooks/twilio/main", TwilioHeader, twilioToken, publicURL + "/hooks/twilio/cb", 403},
		{"mandrill header on twilio", "/hooks/twilio/main", MandrillHeader, twilioToken, publicURL + "/hooks/twilio/main", 403},
		{"secret not set", "/hooks/twilio/unset", TwilioHeader, twilioToken, publicURL + "/hooks/twilio/unset", 500},
		{"status_callback signed", "/hooks/twilio/cb", TwilioHeader, twilioToken, "https://hooks.example.com/twilio", 200},
		{"public URL signed with status_callback set", "/hooks/twilio/cb", TwilioHeader, twilioToken, publicURL + "/hooks/twilio/cb", 200},
		{"default port", "/hooks/twilio/main", TwilioHeader, twilioToken, "https://herald.example.com:443/hooks/twilio/main", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := ht.post(c.path, f, c.header, c.key, c.signed)
			if w.Code != c.want {
				t.Fatalf("= %d %s, want %d", w.Code, w.Body, c.want)
			}
			// k1 is provider.twilio.main's: only an accepted webhook
			// to that provider fails it.
			applied := c.want == 200 && c.path == "/hooks/twilio/main"
			if s := ledger(t, ht.st)["k1"]; (s.Status == state.SendFailed) != applied {
				t.Errorf("k1 = %s after this request", s.Status)
			}
		})
	}
	if strings.Contains(ht.log.String(), twilioToken) {
		t.Error("the log holds the secret")
	}
}

func TestHandlerNotFoundAndMalformed(t *testing.T) {
	ht := newHookTest(t, nil)
	for _, path := range []string{"/hooks/twilio/nope", "/hooks/twilio/", "/hooks/mailchimp/smt", "/hooks/smtp/main", "/hooks/mailchimp/main"} {
		if w := ht.twilio(path, form("MessageSid", "SM1", "MessageStatus", "failed")); w.Code != 404 {
			t.Errorf("POST %s = %d, want 404", path, w.Code)
		}
	}
	if w := ht.twilio("/hooks/twilio/main", form("Foo", "bar")); w.Code != 400 {
		t.Errorf("not a Twilio webhook = %d, want 400", w.Code)
	}
	if w := ht.twilio("/hooks/twilio/main", form("MessageSid", "SM1", "MessageStatus", "exploded")); w.Code != 400 {
		t.Errorf("unknown status = %d, want 400", w.Code)
	}
	f := form("mandrill_events", "{not json")
	if w := ht.post("/hooks/mailchimp/tx", f, MandrillHeader, mandrillKey, publicURL+"/hooks/mailchimp/tx"); w.Code != 400 {
		t.Errorf("bad mandrill_events = %d, want 400", w.Code)
	}
	req := httptest.NewRequest("POST", "/hooks/twilio/main", strings.NewReader(`{"MessageSid":"SM1"}`))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	ht.h.ServeHTTP(w, req)
	if w.Code != 400 {
		t.Errorf("JSON body = %d, want 400", w.Code)
	}
	if w := ht.twilio("/hooks/twilio/main", url.Values{}); w.Code != 400 {
		t.Errorf("empty body = %d, want 400", w.Code)
	}
}

func TestHandlerMandrill(t *testing.T) {
	ht := newHookTest(t, nil)
	for _, method := range []string{"HEAD", "GET"} {
		w := httptest.NewRecorder()
		ht.h.ServeHTTP(w, httptest.NewRequest(method, "/hooks/mailchimp/tx", nil))
		if w.Code != 200 {
			t.Errorf("%s = %d, want 200 (Mandrill's check of the URL)", method, w.Code)
		}
		w = httptest.NewRecorder()
		ht.h.ServeHTTP(w, httptest.NewRequest(method, "/hooks/mailchimp/nope", nil))
		if w.Code != 404 {
			t.Errorf("%s of an unknown provider = %d", method, w.Code)
		}
	}
	path := "/hooks/mailchimp/tx"
	// The test post Mandrill makes when a webhook is saved.
	if w := ht.post(path, form("mandrill_events", "[]"), MandrillHeader, mandrillKey, publicURL+path); w.Code != 200 {
		t.Fatalf("empty batch = %d %s", w.Code, w.Body)
	}
	events := `[{"event":"hard_bounce","ts":1764158400,"msg":{"_id":"md4","bounce_description":"bad_mailbox"}},{"event":"send","msg":{"_id":"md5","metadata":{"herald_key":"k5"}}}]`
	f := form("mandrill_events", events)
	if w := ht.post(path, f, MandrillHeader, "wrong", publicURL+path); w.Code != 403 {
		t.Fatalf("forged = %d", w.Code)
	}
	if w := ht.post(path, f, MandrillHeader, mandrillKey, publicURL+path); w.Code != 200 {
		t.Fatalf("events = %d %s", w.Code, w.Body)
	}
	l := ledger(t, ht.st)
	if l["k4"].Status != state.SendFailed || l["k5"].Status != state.SendSent {
		t.Errorf("k4 %+v k5 %+v", l["k4"], l["k5"])
	}
	if got := suppressions(t, ht.st)["c4/email"]; got != "bounce" {
		t.Errorf("c4/email = %q", got)
	}
	// Again, as Mandrill retries: nothing more, nothing fails.
	if w := ht.post(path, f, MandrillHeader, mandrillKey, publicURL+path); w.Code != 200 {
		t.Fatalf("repeat = %d", w.Code)
	}
	if n := len(suppressions(t, ht.st)); n != 1 {
		t.Errorf("%d suppressions after a repeat", n)
	}
}

func TestHandlerStopAndHelp(t *testing.T) {
	lookup := func(ctx context.Context, p string) (string, error) {
		if p == phone {
			return "c2", nil
		}
		return "", nil
	}
	ht := newHookTest(t, lookup)
	in := func(body string, extra ...string) url.Values {
		return form(append([]string{"MessageSid", "SMin", "From", phone, "To", "+15415550100", "Body", body}, extra...)...)
	}
	w := ht.twilio("/hooks/twilio/main", in(" stop "))
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml" {
		t.Fatalf("STOP = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if got := suppressions(t, ht.st)["c2/sms"]; got != "stop" {
		t.Errorf("c2/sms = %q, want stop", got)
	}
	if w := ht.twilio("/hooks/twilio/main", in("what is this", "OptOutType", "HELP")); w.Code != 200 {
		t.Fatalf("HELP = %d", w.Code)
	}
	if w := ht.twilio("/hooks/twilio/main", in("INFO")); w.Code != 200 {
		t.Fatalf("INFO = %d", w.Code)
	}
	if w := ht.twilio("/hooks/twilio/main", in("thanks!")); w.Code != 200 {
		t.Fatalf("a reply = %d", w.Code)
	}
	// A number no customer has.
	f := in("STOP")
	f.Set("From", "+15415550199")
	if w := ht.twilio("/hooks/twilio/main", f); w.Code != 200 {
		t.Fatalf("unknown STOP = %d", w.Code)
	}
	var got []string
	for _, a := range ht.st.recs {
		got = append(got, a.Kind+" "+a.CustomerID+" "+a.Channel+" "+a.Subject)
		if strings.Contains(a.Detail, "+1541") {
			t.Errorf("a phone number in the audit: %+v", a)
		}
	}
	want := "stop c2 sms provider.twilio.main,help c2 sms provider.twilio.main,help c2 sms provider.twilio.main,stop  sms provider.twilio.main"
	if strings.Join(got, ",") != want {
		t.Errorf("audit\n got %q\nwant %q", strings.Join(got, ","), want)
	}
	if n := len(suppressions(t, ht.st)); n != 1 {
		t.Errorf("%d suppressions; HELP and unknown numbers suppress no one", n)
	}
	if strings.Contains(ht.log.String(), "+1541") {
		t.Errorf("a phone number in the log: %s", ht.log.String())
	}
}

func TestHandlerStopWithoutLookup(t *testing.T) {
	ht := newHookTest(t, nil)
	if w := ht.twilio("/hooks/twilio/main", form("MessageSid", "SMin", "From", phone, "Body", "STOP")); w.Code != 200 {
		t.Fatalf("STOP = %d", w.Code)
	}
	if n := len(suppressions(t, ht.st)); n != 0 {
		t.Errorf("suppressed without knowing who: %v", suppressions(t, ht.st))
	}
	if len(ht.st.recs) != 1 || ht.st.recs[0].Kind != "stop" || ht.st.recs[0].CustomerID != "" {
		t.Errorf("audit = %+v", ht.st.recs)
	}
}

func TestHandlerOutcomes(t *testing.T) {
	ht := newHookTest(t, nil)
	ht.twilio("/hooks/twilio/main", form("MessageSid", "SM1", "MessageStatus", "delivered"))
	ht.post("/hooks/twilio/main", form("MessageSid", "SM1"), TwilioHeader, "bad", publicURL)
	ht.twilio("/hooks/twilio/nope", form("MessageSid", "SM1"))
	want := "twilio|ok,twilio|forbidden,twilio|not_found"
	if got := strings.Join(ht.outcomes, ","); got != want {
		t.Errorf("OnRequest = %s, want %s", got, want)
	}
}
