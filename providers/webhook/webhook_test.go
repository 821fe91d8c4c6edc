package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

const secret = "whsec_0123456789abcdef"

// The token in the path stands for the secrets some receivers put in
// their URLs: it must not show up in an error.
const urlPath = "/hooks/T0KEN-in-path"

var now = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func provider(url string, attrs map[string]cty.Value) *lang.Provider {
	a := map[string]cty.Value{
		"url":     cty.StringVal(url),
		"secret":  cty.StringVal(secret),
		"timeout": cty.StringVal("2s"),
	}
	for k, v := range attrs {
		if v == cty.NilVal {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return &lang.Provider{Type: "webhook", Name: "crm", Attributes: a}
}

func open(t *testing.T, url string, attrs map[string]cty.Value) *Channel {
	t.Helper()
	ch, err := Open(context.Background(), providers.ChannelRequest{Provider: provider(url, attrs)})
	if err != nil {
		t.Fatal(err)
	}
	ch.now = func() time.Time { return now }
	t.Cleanup(func() { ch.Close() })
	return ch
}

func message() *providers.Message {
	return &providers.Message{
		IdempotencyKey: "trigger.cart_abandon/nudge/c-7/1",
		Campaign:       "trigger.cart_abandon",
		CustomerID:     "c-7",
		Channel:        "webhook",
		Payload:        json.RawMessage(`{"cart":{"items":2,"total":59.9},"note":"<b>&</b>"}`),
	}
}

type request struct {
	header http.Header
	body   []byte
	path   string
}

// server answers with handler and records the requests it got.
func server(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) (string, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		got = append(got, request{r.Header.Clone(), body, r.URL.Path})
		mu.Unlock()
		if handler != nil {
			handler(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + urlPath, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

func TestRegistered(t *testing.T) {
	ch, err := providers.OpenChannel(context.Background(), providers.ChannelRequest{Provider: provider("https://hooks.example.com/x", nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, ok := ch.(*Channel); !ok {
		t.Fatalf("OpenChannel returned a %T", ch)
	}
}

func TestSend(t *testing.T) {
	var verr error
	url, requests := server(t, func(w http.ResponseWriter, r *http.Request) {
		_, verr = VerifyRequest(r, []byte(secret), DefaultTolerance, now.Add(30*time.Second))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"evt_123","status":"queued"}`)
	})
	ch := open(t, url, map[string]cty.Value{
		"headers": cty.MapVal(map[string]cty.Value{"authorization": cty.StringVal("Bearer api-token-value")}),
	})
	m := message()
	res := ch.Send(context.Background(), m)
	if res.Outcome != providers.Sent || res.ProviderMessageID != "evt_123" || res.Err != nil {
		t.Fatalf("Send: %+v", res)
	}
	if verr != nil {
		t.Errorf("VerifyRequest: %v", verr)
	}
	r := requests()[0]
	for k, want := range map[string]string{
		"Content-Type":       "application/json",
		"Idempotency-Key":    m.IdempotencyKey,
		"X-Herald-Timestamp": strconv.FormatInt(now.Unix(), 10),
		"X-Herald-Signature": Sign([]byte(secret), now.Unix(), r.body),
		"Authorization":      "Bearer api-token-value",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if r.path != urlPath {
		t.Errorf("path %q", r.path)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"key": m.IdempotencyKey, "campaign": "trigger.cart_abandon", "customer_id": "c-7", "channel": "webhook",
		"payload": map[string]any{"cart": map[string]any{"items": 2.0, "total": 59.9}, "note": "<b>&</b>"},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body\n%v\nwant\n%v", body, want)
	}
	if strings.Contains(string(r.body), `\u003c`) {
		t.Errorf("the body escapes HTML: %s", r.body)
	}
}

func TestUnsigned(t *testing.T) {
	url, requests := server(t, nil)
	ch := open(t, url, map[string]cty.Value{"secret": cty.NilVal})
	if res := ch.Send(context.Background(), message()); res.Outcome != providers.Sent || res.ProviderMessageID != message().IdempotencyKey {
		t.Fatalf("Send: %+v", res)
	}
	if h := requests()[0].header; h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) == "" {
		t.Errorf("headers of an unsigned request: %v", h)
	}
}

func TestOutcomes(t *testing.T) {
	httpDate := now.Add(90 * time.Second).Format(http.TimeFormat)
	for _, tt := range []struct {
		status     int
		header     map[string]string
		body       string
		want       providers.Outcome
		retryAfter time.Duration
		reason     string
		id         string
		errHas     string
	}{
		{status: 200, body: `{"id":"abc"}`, want: providers.Sent, id: "abc"},
		{status: 201, body: `{"id":42}`, want: providers.Sent, id: "42"},
		{status: 202, want: providers.Sent, id: message().IdempotencyKey},
		{status: 204, want: providers.Sent, id: message().IdempotencyKey},
		{status: 200, body: `not json`, want: providers.Sent, id: message().IdempotencyKey},
		{status: 429, header: map[string]string{"Retry-After": "7"}, want: providers.Retry, retryAfter: 7 * time.Second, errHas: "429"},
		{status: 503, header: map[string]string{"Retry-After": httpDate}, want: providers.Retry, retryAfter: 90 * time.Second, errHas: "503"},
		{status: 500, body: "boom", want: providers.Retry, errHas: "500 Internal Server Error: boom"},
		{status: 408, want: providers.Retry},
		{status: 410, body: `{"error":"recipient gone"}`, want: providers.Suppress, reason: "unsubscribe", errHas: "410"},
		{status: 400, body: "bad request: field x\n" + strings.Repeat("y", 500), want: providers.Failed, errHas: "400 Bad Request: bad request: field x y"},
		{status: 401, body: "invalid signature " + secret, want: providers.Failed, errHas: "[secret]"},
		{status: 404, want: providers.Failed, errHas: "404"},
		{status: 302, header: map[string]string{"Location": "https://elsewhere.example/"}, want: providers.Failed, errHas: "redirect"},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			url, requests := server(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			ch := open(t, url, nil)
			res := ch.Send(context.Background(), message())
			if res.Outcome != tt.want || res.RetryAfter != tt.retryAfter || res.SuppressReason != tt.reason || res.ProviderMessageID != tt.id {
				t.Fatalf("%+v", res)
			}
			if tt.want == providers.Sent {
				return
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.errHas) {
				t.Errorf("error %v, want %q", res.Err, tt.errHas)
			}
			if s := res.Err.Error(); strings.Contains(s, "T0KEN") || strings.Contains(s, secret) || len(s) > 300 {
				t.Errorf("error %q", s)
			}
			if n := len(requests()); n != 1 {
				t.Errorf("%d requests: Send retried or followed a redirect", n)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	url, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ch := open(t, url, map[string]cty.Value{"timeout": cty.StringVal("100ms")})
	start := time.Now()
	res := ch.Send(context.Background(), message())
	if res.Outcome != providers.Retry || res.Err == nil {
		t.Fatalf("%+v", res)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send took %v", d)
	}
	if s := res.Err.Error(); strings.Contains(s, "T0KEN") || !strings.Contains(s, "provider.webhook.crm") {
		t.Errorf("error %q", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := ch.Send(ctx, message()); res.Outcome != providers.Retry || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("a cancelled send: %+v", res)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ch := open(t, "http://"+addr+urlPath, nil)
	res := ch.Send(context.Background(), message())
	if res.Outcome != providers.Retry || res.Err == nil || strings.Contains(res.Err.Error(), "T0KEN") {
		t.Fatalf("%+v", res)
	}
}

func TestBadMessage(t *testing.T) {
	url, requests := server(t, nil)
	ch := open(t, url, nil)
	m := message()
	m.Payload = json.RawMessage(`{"open":`)
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed {
		t.Errorf("an invalid payload: %+v", res)
	}
	m = message()
	m.IdempotencyKey = ""
	if res := ch.Send(context.Background(), m); res.Outcome != providers.Failed {
		t.Errorf("no key: %+v", res)
	}
	if len(requests()) != 0 {
		t.Errorf("a bad message was sent")
	}
}

func TestConfigErrors(t *testing.T) {
	unset := &lang.Provider{Type: "webhook", Name: "crm", Unset: map[string]lang.Unset{"secret": {Env: []string{"CRM_HOOK_SECRET"}}}, Attributes: map[string]cty.Value{
		"url": cty.StringVal("https://hooks.example.com/x"), "secret": cty.UnknownVal(cty.String),
	}}
	if _, err := Open(context.Background(), providers.ChannelRequest{Provider: unset}); err == nil ||
		!strings.Contains(err.Error(), "secret is not set: set the environment variable CRM_HOOK_SECRET") {
		t.Errorf("an unset secret: %v", err)
	}
	for _, tt := range []struct {
		attrs map[string]cty.Value
		err   string
	}{
		{map[string]cty.Value{"url": cty.StringVal("ftp://x.example/T0KEN")}, "url is not an http:// or https:// URL"},
		{map[string]cty.Value{"url": cty.StringVal("hooks.example.com/T0KEN")}, "url is not an http:// or https:// URL"},
		{map[string]cty.Value{"secret": cty.StringVal("")}, "secret is empty"},
		{map[string]cty.Value{"timeout": cty.StringVal("0s")}, "timeout"},
		{map[string]cty.Value{"headers": cty.MapVal(map[string]cty.Value{"X-Herald-Signature": cty.StringVal("v")})}, "herald sets X-Herald-Signature itself"},
		{map[string]cty.Value{"headers": cty.MapVal(map[string]cty.Value{"content-type": cty.StringVal("text/plain")})}, "herald sets Content-Type itself"},
		{map[string]cty.Value{"headers": cty.MapVal(map[string]cty.Value{"Bad Name": cty.StringVal("v")})}, "not a header name"},
		{map[string]cty.Value{"headers": cty.MapVal(map[string]cty.Value{"X-A": cty.StringVal("v\r\nX-B: w")})}, "line break"},
	} {
		_, err := Open(context.Background(), providers.ChannelRequest{Provider: provider("https://hooks.example.com/T0KEN", tt.attrs)})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: %v, want %q", tt.attrs, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "T0KEN") {
			t.Errorf("the error quotes the url: %v", err)
		}
	}
}

func TestSignVerify(t *testing.T) {
	key := []byte(secret)
	body := []byte(`{"key":"k"}`)
	ts := now.Unix()
	sig := Sign(key, ts, body)
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("Sign = %q", sig)
	}
	// A known answer, computed apart (Python's hmac), so that a receiver
	// in another language can check its implementation against it.
	if want := "v1=e27f7de12d7d40f40c9a19f97198de559bb4214f37c3fd9c27ec1374679e5dbd"; ts != 1796115600 || sig != want {
		t.Errorf("Sign(%q, %d, %s) = %q, want %q", secret, ts, body, sig, want)
	}
	ok := func(sig, tsv string, body []byte, at time.Time) error {
		return Verify(key, sig, tsv, body, DefaultTolerance, at)
	}
	tsv := strconv.FormatInt(ts, 10)
	if err := ok(sig, tsv, body, now); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := ok("v1=00ff, "+sig, tsv, body, now); err != nil {
		t.Errorf("Verify with two signatures (a rotation): %v", err)
	}
	for _, tt := range []struct {
		name     string
		sig, tsv string
		body     []byte
		at       time.Time
		want     error
	}{
		{"tampered body", sig, tsv, []byte(`{"key":"K"}`), now, ErrSignature},
		{"other timestamp", sig, strconv.FormatInt(ts+1, 10), body, now, ErrSignature},
		{"other secret", Sign([]byte("other"), ts, body), tsv, body, now, ErrSignature},
		{"no signature", "", tsv, body, now, ErrNoSignature},
		{"v0 only", "v0=" + sig[3:], tsv, body, now, ErrNoSignature},
		{"no timestamp", sig, "", body, now, ErrTimestamp},
		{"replayed", sig, tsv, body, now.Add(DefaultTolerance + time.Second), ErrTimestamp},
		{"from the future", sig, tsv, body, now.Add(-DefaultTolerance - time.Second), ErrTimestamp},
	} {
		if err := ok(tt.sig, tt.tsv, tt.body, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := Verify(key, sig, tsv, body, 0, now.Add(240*time.Hour)); err != nil {
		t.Errorf("Verify without a tolerance: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"":                  0,
		"0":                 0,
		"-5":                0,
		"120":               2 * time.Minute,
		" 3 ":               3 * time.Second,
		"1e3":               0,
		"soon":              0,
		"99999999999999999": 24 * time.Hour,
		now.Add(45 * time.Second).Format(http.TimeFormat):  45 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):        0,
		now.Add(48 * time.Hour).Format(http.TimeFormat):    24 * time.Hour,
		now.Add(10 * time.Second).Format(time.RFC850):      10 * time.Second,
		now.Add(10 * time.Second).UTC().Format(time.ANSIC): 10 * time.Second,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
