// Package mailchimp is the "mailchimp" channel provider: it sends e-mail
// through the Mailchimp Transactional API (Mandrill), one request per
// message:
//
//	POST {endpoint}/messages/send
//	Content-Type: application/json
//
//	{"key": "<api_key>", "message": {"html": ..., "text": ..., "subject": ...,
//	  "from_email": ..., "from_name": ..., "to": [{"email": ..., "type": "to"}],
//	  "headers": {...}, "subaccount": ..., "metadata": {"herald_key": ...}}}
//
// endpoint is https://mandrillapp.com/api/1.0 by default. A provider block
// takes api_key (from env()), subaccount, endpoint, timeout (10s by
// default) and concurrency; webhook_key is for checking Mandrill's event
// webhooks and is not used to send.
//
// The executor renders the content: Mandrill's merge tags are not used,
// and no profile field but the recipient's address leaves herald. The
// message's headers (List-Unsubscribe, List-Unsubscribe-Post) and its
// Reply-To go in "headers"; its idempotency key goes in metadata as
// herald_key, so that Mandrill's events can be joined to the ledger.
//
// Mandrill answers 200 with one result per recipient:
//
//   - sent, queued, scheduled: Sent, with "_id" as the provider's
//     message id;
//   - rejected: hard-bounce is Suppress ("bounce"), spam is Suppress
//     ("complaint"), unsub is Suppress ("unsubscribe"), soft-bounce is
//     Retry, any other reason (custom, invalid-sender, invalid,
//     test-mode-limit, unsigned, rule) is Failed;
//   - invalid: Failed.
//
// An error is an HTTP error with {"status": "error", "code": ..., "name":
// ..., "message": ...}: Invalid_Key, ValidationError, PaymentRequired and
// Unknown_Subaccount are Failed (nothing will change on a retry); 429,
// and any other error (GeneralError, ServiceUnavailable, a 5xx without a
// Mandrill body), are Retry, after the Retry-After header when there is
// one. A timeout or a connection error is Retry.
//
// Mandrill documents no idempotency key for messages/send: a message
// whose request was in flight when herald stopped (or whose answer was
// lost) may be sent again on resume. Delivery is at least once for those
// messages, exactly once for the others.
//
// The API key, which travels in the body, never appears in an error;
// Mandrill's message is quoted at most 200 bytes long, with the key and
// the recipient's address blanked.
package mailchimp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/internal/httpx"
	"github.com/heraldhq/herald/providers/webhook"
)

func init() { providers.RegisterChannel("mailchimp", Factory) }

// Factory is the providers.ChannelFactory of the mailchimp provider.
func Factory(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
	ch, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// DefaultEndpoint is the Mailchimp Transactional API base URL.
const DefaultEndpoint = "https://mandrillapp.com/api/1.0"

const (
	defaultTimeout = 10 * time.Second
	maxAnswer      = 64 << 10
)

// failedErrors are the Mandrill error names a retry cannot fix.
var failedErrors = map[string]bool{
	"Invalid_Key":        true,
	"ValidationError":    true,
	"PaymentRequired":    true,
	"Unknown_Subaccount": true,
}

// Channel sends e-mail through one Mandrill account. It is safe for
// concurrent use.
type Channel struct {
	name       string // provider.mailchimp.NAME, for errors
	url        string // messages/send
	key        string
	subaccount string
	client     *http.Client
	now        func() time.Time
}

// Open reads the provider block of req. It does not contact Mandrill.
func Open(ctx context.Context, req providers.ChannelRequest) (*Channel, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("mailchimp: channel request without a provider")
	}
	ch := &Channel{name: "provider." + p.Address(), now: time.Now}
	at := &httpx.Attrs{P: p}
	attr := at.Str
	ch.key = attr("api_key")
	ch.subaccount = attr("subaccount")
	endpoint := attr("endpoint")
	if at.Err != nil {
		return nil, at.Err
	}
	if ch.key == "" {
		return nil, fmt.Errorf("%s: api_key is required", ch.name)
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: endpoint is not an http:// or https:// URL", ch.name)
	}
	ch.url = strings.TrimSuffix(u.String(), "/") + "/messages/send"
	if ch.client, err = providers.HTTPClient(p, defaultTimeout); err != nil {
		return nil, err
	}
	return ch, nil
}

// Request is the body of a messages/send call.
type Request struct {
	Key     string  `json:"key"`
	Message Message `json:"message"`
}

// Message is Mandrill's message object, with the fields herald sets.
type Message struct {
	HTML       string            `json:"html,omitempty"`
	Text       string            `json:"text,omitempty"`
	Subject    string            `json:"subject"`
	FromEmail  string            `json:"from_email"`
	FromName   string            `json:"from_name,omitempty"`
	To         []Recipient       `json:"to"`
	Headers    map[string]string `json:"headers,omitempty"`
	Subaccount string            `json:"subaccount,omitempty"`
	Metadata   map[string]string `json:"metadata"`
}

// Recipient is one entry of Message.To.
type Recipient struct {
	Email string `json:"email"`
	Type  string `json:"type"`
}

// Result is Mandrill's answer for one recipient.
type Result struct {
	Email        string `json:"email"`
	Status       string `json:"status"`
	RejectReason string `json:"reject_reason"`
	ID           string `json:"_id"`
}

// apiError is Mandrill's error body.
type apiError struct {
	Status  string `json:"status"`
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Body is the request Send makes for m.
func (ch *Channel) Body(m *providers.Message) Request {
	msg := Message{
		HTML:       m.HTML,
		Text:       m.Text,
		Subject:    m.Subject,
		FromEmail:  m.From,
		FromName:   m.FromName,
		To:         []Recipient{{Email: m.To, Type: "to"}},
		Subaccount: ch.subaccount,
		Metadata:   map[string]string{"herald_key": m.IdempotencyKey},
	}
	if len(m.Headers) > 0 || m.ReplyTo != "" {
		msg.Headers = make(map[string]string, len(m.Headers)+1)
		for k, v := range m.Headers {
			msg.Headers[k] = v
		}
		if m.ReplyTo != "" {
			msg.Headers["Reply-To"] = m.ReplyTo
		}
	}
	return Request{Key: ch.key, Message: msg}
}

// Send posts m once and maps the answer to an outcome (see the package
// documentation). It does not retry.
func (ch *Channel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	if err := ctx.Err(); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if m == nil || m.IdempotencyKey == "" {
		return providers.SendResult{Outcome: providers.Failed, Err: errors.New("mailchimp: a message without an idempotency key")}
	}
	if m.To == "" || m.From == "" {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("mailchimp: %s: the message has no recipient or no sender address", ch.name)}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ch.Body(m)); err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("mailchimp: %s: encoding the message: %w", ch.name, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.url, &buf)
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("mailchimp: %s: building the request failed", ch.name)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "herald")

	resp, err := ch.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("mailchimp: POST to %s: %w", ch.name, err)}
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // lets the connection be reused
		resp.Body.Close()
	}()
	return ch.result(resp, m.To)
}

func (ch *Channel) result(resp *http.Response, to string) providers.SendResult {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	code := resp.StatusCode
	if code < 200 || code >= 300 {
		var a apiError
		_ = json.Unmarshal(body, &a)
		e := &Error{Provider: ch.name, Status: code, Name: a.Name, Code: a.Code, Message: ch.excerpt(a.Message, to)}
		if a.Name == "" && a.Message == "" {
			e.Message = ch.excerpt(string(body), to)
		}
		if a.Name == "Invalid_Key" {
			e.Hint = "Mandrill refused api_key: check it is a Mailchimp Transactional API key, not a Marketing one"
		}
		if failedErrors[a.Name] {
			return providers.SendResult{Outcome: providers.Failed, Err: e}
		}
		if code == http.StatusTooManyRequests || code >= 500 {
			return providers.SendResult{Outcome: providers.Retry, RetryAfter: webhook.RetryAfter(resp.Header.Get("Retry-After"), ch.now()), Err: e}
		}
		return providers.SendResult{Outcome: providers.Failed, Err: e}
	}
	var results []Result
	if err := json.Unmarshal(body, &results); err != nil || len(results) == 0 {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("mailchimp: %s answered %d without a result for the recipient", ch.name, code)}
	}
	r := results[0]
	for _, c := range results {
		if strings.EqualFold(c.Email, to) {
			r = c
			break
		}
	}
	return ch.mapResult(r, to)
}

func (ch *Channel) mapResult(r Result, to string) providers.SendResult {
	switch r.Status {
	case "sent", "queued", "scheduled":
		return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: r.ID}
	case "rejected":
		err := &RejectError{Provider: ch.name, Status: r.Status, Reason: r.RejectReason, ID: r.ID}
		switch r.RejectReason {
		case "hard-bounce":
			return providers.SendResult{Outcome: providers.Suppress, SuppressReason: "bounce", ProviderMessageID: r.ID, Err: err}
		case "spam":
			return providers.SendResult{Outcome: providers.Suppress, SuppressReason: "complaint", ProviderMessageID: r.ID, Err: err}
		case "unsub":
			return providers.SendResult{Outcome: providers.Suppress, SuppressReason: "unsubscribe", ProviderMessageID: r.ID, Err: err}
		case "soft-bounce":
			return providers.SendResult{Outcome: providers.Retry, ProviderMessageID: r.ID, Err: err}
		}
		return providers.SendResult{Outcome: providers.Failed, ProviderMessageID: r.ID, Err: err}
	case "invalid":
		return providers.SendResult{Outcome: providers.Failed, ProviderMessageID: r.ID, Err: &RejectError{Provider: ch.name, Status: r.Status, ID: r.ID}}
	}
	return providers.SendResult{Outcome: providers.Failed, ProviderMessageID: r.ID,
		Err: fmt.Errorf("mailchimp: %s answered an unknown status %q", ch.name, ch.excerpt(r.Status, to))}
}

// Error is an error answer of Mandrill's.
type Error struct {
	Provider string // provider.mailchimp.NAME
	Status   int    // HTTP status
	Name     string // Mandrill's error name: Invalid_Key, ValidationError, …
	Code     int
	Message  string // Mandrill's message, key and recipient blanked
	Hint     string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("mailchimp: %s answered %d %s", e.Provider, e.Status, http.StatusText(e.Status))
	if e.Name != "" {
		s += fmt.Sprintf(": %s (code %d)", e.Name, e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// RejectError is a message Mandrill accepted the request for but did not
// send: rejected, with a reason, or invalid.
type RejectError struct {
	Provider string
	Status   string // rejected or invalid
	Reason   string // reject_reason
	ID       string
}

func (e *RejectError) Error() string {
	s := fmt.Sprintf("mailchimp: %s: the message was %s", e.Provider, e.Status)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// excerpt makes Mandrill's text safe to log: one line, at most 200 bytes,
// without the API key or the recipient's address.
func (ch *Channel) excerpt(s, to string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if ch.key != "" {
		s = strings.ReplaceAll(s, ch.key, "[api_key]")
	}
	if to != "" {
		s = strings.ReplaceAll(s, to, "[to]")
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

// Close releases the idle connections.
func (ch *Channel) Close() error {
	ch.client.CloseIdleConnections()
	return nil
}
