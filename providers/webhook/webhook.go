// Package webhook is the "webhook" channel provider: it POSTs each message
// as JSON to a URL the team runs, signed so that the receiver can tell the
// request came from herald and was not replayed.
//
// A provider block takes url, secret (from env()), headers (extra request
// headers) and timeout (10s by default). Each request carries:
//
//	Content-Type: application/json
//	Idempotency-Key: <the message's idempotency key>
//	X-Herald-Timestamp: <Unix seconds>
//	X-Herald-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret>
//
// Sign and Verify (or VerifyRequest) implement the signature for
// receivers. Without a secret the request is sent unsigned.
//
// The body is the message's fields that are set (Body lists them), so
// the receiver gets only what the template used.
//
// The answer maps to an outcome: 2xx is Sent, with the "id" of a JSON
// answer as the provider's message id; 408, 425, 429 and 5xx are Retry,
// with the wait the Retry-After header asks for (seconds or an HTTP date);
// 410 Gone is Suppress ("unsubscribe": the receiver says this recipient
// is gone for good); a redirect and any other 4xx are Failed. A timeout or
// a connection error is Retry. Send makes one request: the executor
// retries, after SendResult.RetryAfter, with the same Idempotency-Key.
//
// Neither the URL (which may hold a token) nor the secret nor the header
// values appear in an error; a receiver's answer is quoted at most 200
// bytes long.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func init() { providers.RegisterChannel("webhook", Factory) }

// Factory is the providers.ChannelFactory of the webhook provider.
func Factory(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
	ch, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

const (
	defaultTimeout = 10 * time.Second
	// maxRetryAfter bounds the wait a receiver may ask for.
	maxRetryAfter = 24 * time.Hour
	// maxAnswer is how much of an answer is read for its id.
	maxAnswer = 64 << 10
)

// reserved are the request headers herald sets, which headers may not.
var reserved = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "Transfer-Encoding": true,
	HeaderIdempotencyKey: true, HeaderTimestamp: true, HeaderSignature: true,
}

// Body is the JSON a webhook receives: the fields of the message that are
// set.
type Body struct {
	Key        string            `json:"key"`
	Campaign   string            `json:"campaign,omitempty"`
	Variant    string            `json:"variant,omitempty"`
	CustomerID string            `json:"customer_id,omitempty"`
	Channel    string            `json:"channel,omitempty"`
	To         string            `json:"to,omitempty"`
	From       string            `json:"from,omitempty"`
	FromName   string            `json:"from_name,omitempty"`
	ReplyTo    string            `json:"reply_to,omitempty"`
	Subject    string            `json:"subject,omitempty"`
	HTML       string            `json:"html,omitempty"`
	Text       string            `json:"text,omitempty"`
	Payload    json.RawMessage   `json:"payload,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// Channel POSTs messages to one URL. It is safe for concurrent use.
type Channel struct {
	name    string // provider.webhook.NAME, for errors
	url     string
	secret  []byte
	headers http.Header
	client  *http.Client
	now     func() time.Time
}

// Open reads the provider block of req. It does not contact the URL.
func Open(ctx context.Context, req providers.ChannelRequest) (*Channel, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("webhook: channel request without a provider")
	}
	ch := &Channel{name: "provider." + p.Address(), now: time.Now, headers: http.Header{}}
	raw, _, err := providers.StringAttr(p, "url")
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not quoted: it may hold a token.
		return nil, fmt.Errorf("%s: url is not an http:// or https:// URL", ch.name)
	}
	ch.url = u.String()
	secret, set, err := providers.StringAttr(p, "secret")
	if err != nil {
		return nil, err
	}
	if set && secret == "" {
		return nil, fmt.Errorf("%s: secret is empty: set it to a long random string, or remove it to send unsigned requests", ch.name)
	}
	ch.secret = []byte(secret)
	if err := ch.readHeaders(p); err != nil {
		return nil, err
	}
	if ch.client, err = providers.HTTPClient(p, defaultTimeout); err != nil {
		return nil, err
	}
	return ch, nil
}

func (ch *Channel) readHeaders(p *lang.Provider) error {
	v, ok := p.Attributes["headers"]
	if !ok || v == cty.NilVal || v.IsNull() {
		return nil
	}
	if !v.IsWhollyKnown() {
		_, _, err := providers.StringAttr(p, "headers")
		return err
	}
	if !v.Type().IsMapType() && !v.Type().IsObjectType() {
		return fmt.Errorf("%s: headers must be a map of strings", ch.name)
	}
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		if val.IsNull() || val.Type() != cty.String {
			return fmt.Errorf("%s: headers: %s must be a string", ch.name, k.AsString())
		}
		name := http.CanonicalHeaderKey(k.AsString())
		if !validName(name) {
			return fmt.Errorf("%s: headers: %q is not a header name", ch.name, k.AsString())
		}
		if reserved[name] {
			return fmt.Errorf("%s: headers: herald sets %s itself", ch.name, name)
		}
		if s := val.AsString(); strings.ContainsAny(s, "\r\n\x00") {
			return fmt.Errorf("%s: headers: the value of %s holds a line break", ch.name, name)
		} else {
			ch.headers.Set(name, s)
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Send POSTs m once and maps the answer to an outcome (see the package
// documentation). It does not retry.
func (ch *Channel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	if err := ctx.Err(); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if m == nil || m.IdempotencyKey == "" {
		return providers.SendResult{Outcome: providers.Failed, Err: errors.New("webhook: a message without an idempotency key")}
	}
	body, err := encodeBody(m)
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("webhook: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.url, bytes.NewReader(body))
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("webhook: %s: building the request failed", ch.name)}
	}
	for k, v := range ch.headers {
		req.Header[k] = v
	}
	ts := ch.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "herald")
	req.Header.Set(HeaderIdempotencyKey, m.IdempotencyKey)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if len(ch.secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(ch.secret, ts, body))
	}

	resp, err := ch.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("webhook: POST to %s: %w", ch.name, err)}
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // lets the connection be reused
		resp.Body.Close()
	}()
	return ch.result(resp, m)
}

func encodeBody(m *providers.Message) ([]byte, error) {
	b := Body{
		Key: m.IdempotencyKey, Campaign: m.Campaign, Variant: m.Variant, CustomerID: m.CustomerID,
		Channel: m.Channel, To: m.To, From: m.From, FromName: m.FromName, ReplyTo: m.ReplyTo,
		Subject: m.Subject, HTML: m.HTML, Text: m.Text, Headers: m.Headers,
	}
	if len(m.Payload) > 0 {
		if !json.Valid(m.Payload) {
			return nil, errors.New("the message's payload is not JSON")
		}
		b.Payload = m.Payload
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// result maps the receiver's answer to an outcome.
func (ch *Channel) result(resp *http.Response, m *providers.Message) providers.SendResult {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: answerID(resp.Body, m.IdempotencyKey)}
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return providers.SendResult{
			Outcome:    providers.Retry,
			RetryAfter: RetryAfter(resp.Header.Get("Retry-After"), ch.now()),
			Err:        ch.statusError(resp),
		}
	case code == http.StatusGone:
		return providers.SendResult{Outcome: providers.Suppress, SuppressReason: "unsubscribe", Err: ch.statusError(resp)}
	case code >= 300 && code < 400:
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("webhook: %s answered %s, a redirect, which herald does not follow: set url to the final address", ch.name, resp.Status)}
	}
	return providers.SendResult{Outcome: providers.Failed, Err: ch.statusError(resp)}
}

// answerID is the "id" of a JSON answer, else key.
func answerID(r io.Reader, key string) string {
	var a struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(r, maxAnswer)).Decode(&a); err == nil && len(a.ID) > 0 {
		var s string
		if json.Unmarshal(a.ID, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(a.ID, &n) == nil {
			return n.String()
		}
	}
	return key
}

// StatusError is a receiver's answer that is not a success.
type StatusError struct {
	Provider string // provider.webhook.NAME
	Status   int
	Excerpt  string // the start of the answer's body, on one line
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("webhook: %s answered %d %s", e.Provider, e.Status, http.StatusText(e.Status))
	if e.Excerpt != "" {
		s += ": " + e.Excerpt
	}
	return s
}

func (ch *Channel) statusError(resp *http.Response) error {
	buf := make([]byte, 256)
	n, _ := io.ReadFull(resp.Body, buf)
	return &StatusError{Provider: ch.name, Status: resp.StatusCode, Excerpt: ch.excerpt(buf[:n])}
}

// excerpt makes the start of an answer safe to log: one line, at most 200
// bytes of valid UTF-8, with the secret and the configured header values
// blanked should a receiver echo them.
func (ch *Channel) excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(ch.secret) > 0 {
		s = strings.ReplaceAll(s, string(ch.secret), "[secret]")
	}
	for _, vs := range ch.headers {
		for _, v := range vs {
			if len(v) >= 8 {
				s = strings.ReplaceAll(s, v, "[header]")
			}
		}
	}
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// RetryAfter reads a Retry-After header value: a number of seconds or an
// HTTP date, relative to now. It returns 0 when v is empty, malformed or
// in the past, and at most 24 hours.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// Close releases the idle connections.
func (ch *Channel) Close() error {
	ch.client.CloseIdleConnections()
	return nil
}
