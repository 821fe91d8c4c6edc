package mailchimp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

const apiKey = "md-SECRET_0123456789abcdef"

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func provider(endpoint string, attrs map[string]cty.Value) *lang.Provider {
	a := map[string]cty.Value{
		"api_key":  cty.StringVal(apiKey),
		"endpoint": cty.StringVal(endpoint),
		"timeout":  cty.StringVal("2s"),
	}
	for k, v := range attrs {
		if v == cty.NilVal {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return &lang.Provider{Type: "mailchimp", Name: "tx", Attributes: a, Unset: map[string]lang.Unset{"api_key": {Env: []string{"MANDRILL_API_KEY"}}}}
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
		Channel:        "email",
		To:             "ada@example.com",
		From:           "news@shop.example",
		FromName:       "Shop",
		ReplyTo:        "help@shop.example",
		Subject:        "Spring sale",
		HTML:           "<p>20% off & more</p>",
		Text:           "20% off & more",
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://shop.example/u/abc>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}
}

type request struct {
	method, path, contentType string
	body                      []byte
}

func server(t *testing.T, status int, body string, header map[string]string) (string, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b})
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/1.0", func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

func TestSent(t *testing.T) {
	endpoint, requests := server(t, 200, `[{"email": "ada@example.com", "status": "sent", "reject_reason": null, "_id": "abc123abc123abc123abc123abc123"}]`, nil)
	ch := open(t, endpoint, map[string]cty.Value{"subaccount": cty.StringVal("eu-shop")})
	res := ch.Send(context.Background(), message())
	if res.Outcome != providers.Sent || res.Err != nil || res.ProviderMessageID != "abc123abc123abc123abc123abc123" {
		t.Fatalf("got %v %q %v", res.Outcome, res.ProviderMessageID, res.Err)
	}
	reqs := requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/api/1.0/messages/send" || r.contentType != "application/json" {
		t.Errorf("request %s %s %s", r.method, r.path, r.contentType)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"key": apiKey,
		"message": map[string]any{
			"html":       "<p>20% off & more</p>",
			"text":       "20% off & more",
			"subject":    "Spring sale",
			"from_email": "news@shop.example",
			"from_name":  "Shop",
			"to":         []any{map[string]any{"email": "ada@example.com", "type": "to"}},
			"headers": map[string]any{
				"List-Unsubscribe":      "<https://shop.example/u/abc>",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"Reply-To":              "help@shop.example",
			},
			"subaccount": "eu-shop",
			"metadata":   map[string]any{"herald_key": "campaign.spring/a/c-7/1"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body\n%s\nwant\n%v", r.body, want)
	}
	if strings.Contains(string(r.body), `\u0026`) {
		t.Errorf("HTML is escaped: %s", r.body)
	}
}

func result(status, reason string) string {
	return `[{"email": "ada@example.com", "status": "` + status + `", "reject_reason": "` + reason + `", "_id": "id1"}]`
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
		{"queued", 200, result("queued", ""), nil, providers.Sent, "", 0, ""},
		{"scheduled", 200, result("scheduled", ""), nil, providers.Sent, "", 0, ""},
		{"hard bounce", 200, result("rejected", "hard-bounce"), nil, providers.Suppress, "bounce", 0, "hard-bounce"},
		{"spam", 200, result("rejected", "spam"), nil, providers.Suppress, "complaint", 0, "spam"},
		{"unsub", 200, result("rejected", "unsub"), nil, providers.Suppress, "unsubscribe", 0, "unsub"},
		{"soft bounce", 200, result("rejected", "soft-bounce"), nil, providers.Retry, "", 0, "soft-bounce"},
		{"custom", 200, result("rejected", "custom"), nil, providers.Failed, "", 0, "custom"},
		{"invalid sender", 200, result("rejected", "invalid-sender"), nil, providers.Failed, "", 0, "invalid-sender"},
		{"test mode", 200, result("rejected", "test-mode-limit"), nil, providers.Failed, "", 0, "test-mode-limit"},
		{"rule", 200, result("rejected", "rule"), nil, providers.Failed, "", 0, "rule"},
		{"invalid", 200, result("invalid", ""), nil, providers.Failed, "", 0, "invalid"},
		{"empty", 200, `[]`, nil, providers.Failed, "", 0, "without a result"},
		{"invalid key", 500, `{"status": "error", "code": -1, "name": "Invalid_Key", "message": "Invalid API key ` + apiKey + `"}`, nil, providers.Failed, "", 0, "Invalid_Key"},
		{"validation", 500, `{"status": "error", "code": -2, "name": "ValidationError", "message": "You must specify a key value"}`, nil, providers.Failed, "", 0, "ValidationError"},
		{"general", 500, `{"status": "error", "code": -1, "name": "GeneralError", "message": "oops"}`, map[string]string{"Retry-After": "5"}, providers.Retry, "", 5 * time.Second, "GeneralError"},
		{"too many", 429, `Too Many Requests`, map[string]string{"Retry-After": "60"}, providers.Retry, "", time.Minute, "429"},
		{"gateway", 502, `<html>bad gateway</html>`, nil, providers.Retry, "", 0, "502"},
		{"not found", 404, `not found`, nil, providers.Failed, "", 0, "404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			endpoint, _ := server(t, c.status, c.body, c.header)
			res := open(t, endpoint, nil).Send(context.Background(), message())
			if res.Outcome != c.outcome || res.SuppressReason != c.reason || res.RetryAfter != c.retryAfter {
				t.Errorf("got %v %q %v, want %v %q %v (%v)", res.Outcome, res.SuppressReason, res.RetryAfter, c.outcome, c.reason, c.retryAfter, res.Err)
			}
			if c.errHas == "" {
				if res.Err != nil {
					t.Errorf("error %v", res.Err)
				}
				return
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), c.errHas) {
				t.Errorf("error %v, want it to hold %q", res.Err, c.errHas)
			}
			if res.Err != nil && strings.Contains(res.Err.Error(), apiKey) {
				t.Errorf("error leaks the key: %v", res.Err)
			}
		})
	}
}

func TestConnectionErrorIsRetry(t *testing.T) {
	endpoint, _ := server(t, 200, `[]`, nil)
	ch := open(t, endpoint, nil)
	ch.url = "http://127.0.0.1:1/api/1.0/messages/send"
	if res := ch.Send(context.Background(), message()); res.Outcome != providers.Retry {
		t.Errorf("outcome %v, %v", res.Outcome, res.Err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		attrs map[string]cty.Value
		want  string
	}{
		{"env not set", map[string]cty.Value{"api_key": cty.UnknownVal(cty.String)}, "api_key is not set: set the environment variable MANDRILL_API_KEY"},
		{"no key", map[string]cty.Value{"api_key": cty.NilVal}, "api_key is required"},
		{"bad endpoint", map[string]cty.Value{"endpoint": cty.StringVal("mandrillapp.com")}, "endpoint is not"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), providers.ChannelRequest{Provider: provider(DefaultEndpoint, c.attrs)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	ch, err := providers.OpenChannel(context.Background(), providers.ChannelRequest{Provider: provider(DefaultEndpoint, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ch.Close()
}
