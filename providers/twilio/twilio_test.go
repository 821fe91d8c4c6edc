package twilio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/adhash"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "tok_SECRET_0123456789"
	to         = "+14155552671"
)

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func provider(endpoint string, attrs map[string]cty.Value) *lang.Provider {
	a := map[string]cty.Value{
		"account_sid": cty.StringVal(accountSID),
		"auth_token":  cty.StringVal(authToken),
		"from":        cty.StringVal("+15005550006"),
		"endpoint":    cty.StringVal(endpoint),
		"timeout":     cty.StringVal("2s"),
	}
	for k, v := range attrs {
		if v == cty.NilVal {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return &lang.Provider{Type: "twilio", Name: "main", Attributes: a, Unset: map[string]lang.Unset{"auth_token": {Env: []string{"TWILIO_AUTH_TOKEN"}}}}
}

func open(t *testing.T, endpoint string, attrs map[string]cty.Value) *Channel {
	t.Helper()
	ch, err := Open(context.Background(), providers.ChannelRequest{Provider: provider(endpoint, attrs)})
	if err != nil {
		t.Fatal(err)
	}
	ch.now = func() time.Time { return now }
	t.Cleanup(func() { ch.Close() })
	return ch
}

func message() *providers.Message {
	return &providers.Message{
		IdempotencyKey: "campaign.spring/a/c-7/1",
		Campaign:       "campaign.spring",
		CustomerID:     "c-7",
		Channel:        "sms",
		To:             to,
		Text:           "Spring sale: 20% off. Reply STOP to opt out.",
	}
}

type request struct {
	method, path, contentType string
	user, pass                string
	authOK                    bool
	form                      url.Values
}

// server answers as Twilio does with status and body, and records the
// requests.
func server(t *testing.T, status int, body string, header map[string]string) (string, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		user, pass, ok := r.BasicAuth()
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), user, pass, ok, form})
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

func twilioError(code, status int, msg string) string {
	return `{"code": ` + strconv.Itoa(code) + `, "message": "` + msg + `", "more_info": "https://www.twilio.com/docs/errors/` + strconv.Itoa(code) + `", "status": ` + strconv.Itoa(status) + `}`
}

func TestSent(t *testing.T) {
	endpoint, requests := server(t, http.StatusCreated, `{"sid": "SM1234567890abcdef1234567890abcdef", "status": "queued", "to": "+14155552671"}`, nil)
	ch := open(t, endpoint, map[string]cty.Value{"status_callback": cty.StringVal("https://hooks.example.com/twilio")})
	m := message()
	m.To = " +1 (415) 555-2671 "
	res := ch.Send(context.Background(), m)
	if res.Outcome != providers.Sent || res.Err != nil {
		t.Fatalf("outcome %v, %v", res.Outcome, res.Err)
	}
	if res.ProviderMessageID != "SM1234567890abcdef1234567890abcdef" {
		t.Errorf("provider message id %q", res.ProviderMessageID)
	}
	reqs := requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/2010-04-01/Accounts/"+accountSID+"/Messages.json" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	if r.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("content type %q", r.contentType)
	}
	if !r.authOK || r.user != accountSID || r.pass != authToken {
		t.Errorf("basic auth %q %q %v", r.user, r.pass, r.authOK)
	}
	want := url.Values{
		"To":             {to}, // normalised to E.164
		"From":           {"+15005550006"},
		"Body":           {m.Text},
		"StatusCallback": {"https://hooks.example.com/twilio"},
	}
	if r.form.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", r.form, want)
	}
}

func TestAPIKeyAndMessagingService(t *testing.T) {
	endpoint, requests := server(t, http.StatusCreated, `{"sid": "SMx", "status": "accepted"}`, nil)
	ch := open(t, endpoint, map[string]cty.Value{
		"auth_token":            cty.NilVal,
		"from":                  cty.NilVal,
		"api_key":               cty.StringVal("SK0123"),
		"api_secret":            cty.StringVal("sk_SECRET"),
		"messaging_service_sid": cty.StringVal("MG0123"),
	})
	if res := ch.Send(context.Background(), message()); res.Outcome != providers.Sent {
		t.Fatalf("outcome %v, %v", res.Outcome, res.Err)
	}
	r := requests()[0]
	if r.user != "SK0123" || r.pass != "sk_SECRET" {
		t.Errorf("basic auth %q %q", r.user, r.pass)
	}
	if r.form.Get("MessagingServiceSid") != "MG0123" || r.form.Has("From") {
		t.Errorf("form %v", r.form)
	}
}

func TestOutcomes(t *testing.T) {
	for _, c := range []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		outcome    providers.Outcome
		reason     string
		retryAfter time.Duration
		errHas     string
	}{
		{"stop", 400, twilioError(21610, 400, "Attempt to send to unsubscribed recipient"), nil, providers.Suppress, "stop", 0, "21610"},
		{"invalid to", 400, twilioError(21211, 400, "The 'To' number +14155552671 is not a valid phone number."), nil, providers.Failed, "", 0, "The 'To' number [to] is not"},
		{"not mobile", 400, twilioError(21614, 400, "'To' number is not a valid mobile number"), nil, providers.Failed, "", 0, "21614"},
		{"too many (code)", 429, twilioError(20429, 429, "Too Many Requests"), map[string]string{"Retry-After": "7"}, providers.Retry, "", 7 * time.Second, "20429"},
		{"too many (http)", 429, `{}`, map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, providers.Retry, "", 30 * time.Second, "429"},
		{"server error", 503, `<html>down</html>`, nil, providers.Retry, "", 0, "503"},
		{"auth", 401, twilioError(20003, 401, "Authenticate"), nil, providers.Failed, "", 0, "check account_sid and auth_token"},
		{"other 4xx", 400, twilioError(21602, 400, "Message body is required."), nil, providers.Failed, "", 0, "21602"},
	} {
		t.Run(c.name, func(t *testing.T) {
			endpoint, _ := server(t, c.status, c.body, c.header)
			res := open(t, endpoint, nil).Send(context.Background(), message())
			if res.Outcome != c.outcome || res.SuppressReason != c.reason || res.RetryAfter != c.retryAfter {
				t.Errorf("got %v %q %v, want %v %q %v", res.Outcome, res.SuppressReason, res.RetryAfter, c.outcome, c.reason, c.retryAfter)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), c.errHas) {
				t.Errorf("error %v, want it to hold %q", res.Err, c.errHas)
			}
			if res.Err != nil && (strings.Contains(res.Err.Error(), authToken) || strings.Contains(res.Err.Error(), to)) {
				t.Errorf("error leaks the token or the number: %v", res.Err)
			}
		})
	}
}

func TestBadNumberIsNotSent(t *testing.T) {
	endpoint, requests := server(t, http.StatusCreated, `{"sid": "SMx"}`, nil)
	ch := open(t, endpoint, nil)
	for _, n := range []string{"4155552671", "", "+1 555", "+999 1234567", "call me"} {
		m := message()
		m.To = n
		res := ch.Send(context.Background(), m)
		if res.Outcome != providers.Failed || !errors.Is(res.Err, adhash.ErrPhone) || !strings.Contains(res.Err.Error(), "not a valid phone number") {
			t.Errorf("To %q: %v %v", n, res.Outcome, res.Err)
		}
	}
	if n := len(requests()); n != 0 {
		t.Errorf("%d requests for numbers that are not valid", n)
	}
}

func TestConnectionErrorIsRetry(t *testing.T) {
	endpoint, _ := server(t, 201, `{}`, nil)
	ch := open(t, endpoint, nil)
	ch.url = "http://127.0.0.1:1/2010-04-01/Accounts/x/Messages.json"
	if res := ch.Send(context.Background(), message()); res.Outcome != providers.Retry {
		t.Errorf("outcome %v, %v", res.Outcome, res.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := ch.Send(ctx, message()); res.Outcome != providers.Retry {
		t.Errorf("cancelled: outcome %v", res.Outcome)
	}
}

func TestOpenErrors(t *testing.T) {
	unknown := cty.UnknownVal(cty.String)
	for _, c := range []struct {
		name  string
		attrs map[string]cty.Value
		want  string
	}{
		{"env not set", map[string]cty.Value{"auth_token": unknown}, "auth_token is not set: set the environment variable TWILIO_AUTH_TOKEN"},
		{"no sid", map[string]cty.Value{"account_sid": cty.NilVal}, "account_sid is required"},
		{"no credentials", map[string]cty.Value{"auth_token": cty.NilVal}, "no credentials"},
		{"half a key", map[string]cty.Value{"api_key": cty.StringVal("SK1")}, "api_key and api_secret go together"},
		{"no sender", map[string]cty.Value{"from": cty.NilVal}, "set from"},
		{"bad endpoint", map[string]cty.Value{"endpoint": cty.StringVal("ftp://x")}, "endpoint is not"},
		{"bad timeout", map[string]cty.Value{"timeout": cty.StringVal("soon")}, "timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), providers.ChannelRequest{Provider: provider("https://api.twilio.com", c.attrs)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), authToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	ch, err := providers.OpenChannel(context.Background(), providers.ChannelRequest{Provider: provider("https://api.twilio.com", nil)})
	if err != nil {
		t.Fatal(err)
	}
	ch.Close()
}

func TestMessageFromOverridesFrom(t *testing.T) {
	endpoint, requests := server(t, http.StatusCreated, `{"sid": "SMx", "status": "queued"}`, nil)
	ch := open(t, endpoint, nil)
	m := message()
	m.From = "+15005550009"
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Sent || res.ProviderMessageID != "SMx" {
		t.Fatalf("got %v %q %v", res.Outcome, res.ProviderMessageID, res.Err)
	}
	if got := requests()[0].form.Get("From"); got != "+15005550009" {
		t.Errorf("From %q", got)
	}
}
