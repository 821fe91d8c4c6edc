// Package twilio is the "twilio" channel provider: it sends SMS through
// Twilio's Programmable Messaging REST API, one request per message:
//
//	POST {endpoint}/2010-04-01/Accounts/{account_sid}/Messages.json
//	Content-Type: application/x-www-form-urlencoded
//	Authorization: Basic <account_sid:auth_token, or api_key:api_secret>
//
//	To=+14155552671&From=+15005550006&Body=...&StatusCallback=...
//
// with MessagingServiceSid instead of, or as well as, From. endpoint is
// https://api.twilio.com by default.
//
// A provider block takes account_sid and either auth_token or api_key and
// api_secret (the secrets from env()), from or messaging_service_sid,
// status_callback, endpoint, timeout (10s by default) and concurrency.
// The message's From, when set, overrides from.
//
// The recipient's number must be in E.164: a number without a "+" and a
// country code, or one that is not a valid number of its country, is not
// sent and is Failed with "not a valid phone number". The body is the
// message's Text; no profile field but the number leaves herald.
//
// The answer maps to an outcome: 201 is Sent, with the message's "sid"
// as the provider's message id. A Twilio error ({"code": 21610,
// "message": ..., "more_info": ..., "status": 400}) maps by its code:
// 21610 (the recipient replied STOP) is Suppress with reason "stop";
// 21211 (invalid To) and 21614 (not a mobile number) are Failed; 20429
// and any HTTP 429 are Retry, after the Retry-After header; 20003
// (authentication) is Failed and says to check the credentials; any 5xx,
// a timeout or a connection error is Retry; any other error is Failed.
//
// Twilio documents no idempotency key for creating a message: a message
// whose request was in flight when herald stopped (or whose answer was
// lost) may be sent again on resume. Delivery is at least once for those
// messages, exactly once for the others.
//
// Neither the auth token nor the API secret appears in an error; Twilio's
// message is quoted with the recipient's number blanked, at most 200
// bytes long.
package twilio

import (
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
	"github.com/heraldhq/herald/providers/adhash"
	"github.com/heraldhq/herald/providers/internal/httpx"
	"github.com/heraldhq/herald/providers/webhook"
)

func init() { providers.RegisterChannel("twilio", Factory) }

// Factory is the providers.ChannelFactory of the twilio provider.
func Factory(ctx context.Context, req providers.ChannelRequest) (providers.Channel, error) {
	ch, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// DefaultEndpoint is Twilio's REST API base URL.
const DefaultEndpoint = "https://api.twilio.com"

const (
	defaultTimeout = 10 * time.Second
	maxAnswer      = 64 << 10
)

// Twilio's error codes that herald maps to an outcome.
const (
	CodeAuthentication = 20003 // the credentials were refused
	CodeTooManyReqs    = 20429 // too many requests
	CodeInvalidTo      = 21211 // the 'To' number is not a valid phone number
	CodeUnsubscribed   = 21610 // the recipient replied STOP
	CodeNotMobile      = 21614 // the 'To' number is not a mobile number
)

// Channel sends SMS through one Twilio account. It is safe for
// concurrent use.
type Channel struct {
	name           string // provider.twilio.NAME, for errors
	url            string // the Messages resource
	user, pass     string // basic auth
	from           string
	serviceSID     string
	statusCallback string
	client         *http.Client
	now            func() time.Time
}

// Open reads the provider block of req. It does not contact Twilio.
func Open(ctx context.Context, req providers.ChannelRequest) (*Channel, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("twilio: channel request without a provider")
	}
	ch := &Channel{name: "provider." + p.Address(), now: time.Now}
	at := &httpx.Attrs{P: p}
	attr := at.Str
	sid := attr("account_sid")
	token := attr("auth_token")
	apiKey := attr("api_key")
	apiSecret := attr("api_secret")
	ch.from = attr("from")
	ch.serviceSID = attr("messaging_service_sid")
	ch.statusCallback = attr("status_callback")
	endpoint := attr("endpoint")
	if at.Err != nil {
		return nil, at.Err
	}
	if sid == "" {
		return nil, fmt.Errorf("%s: account_sid is required", ch.name)
	}
	if strings.ContainsAny(sid, "/?#% ") {
		return nil, fmt.Errorf("%s: account_sid is not an account SID (AC…)", ch.name)
	}
	switch {
	case apiKey != "" || apiSecret != "":
		if apiKey == "" || apiSecret == "" {
			return nil, fmt.Errorf("%s: api_key and api_secret go together: set both, or auth_token instead", ch.name)
		}
		ch.user, ch.pass = apiKey, apiSecret
	case token != "":
		ch.user, ch.pass = sid, token
	default:
		return nil, fmt.Errorf("%s: no credentials: set auth_token, or api_key and api_secret", ch.name)
	}
	if ch.from == "" && ch.serviceSID == "" {
		return nil, fmt.Errorf("%s: set from (the sending number in E.164) or messaging_service_sid", ch.name)
	}
	if ch.statusCallback != "" {
		if u, err := url.Parse(ch.statusCallback); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s: status_callback is not an http:// or https:// URL", ch.name)
		}
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: endpoint is not an http:// or https:// URL", ch.name)
	}
	ch.url = strings.TrimSuffix(u.String(), "/") + "/2010-04-01/Accounts/" + url.PathEscape(sid) + "/Messages.json"

	if ch.client, err = providers.HTTPClient(p, defaultTimeout); err != nil {
		return nil, err
	}
	return ch, nil
}

// Form is the form Send posts for m, after the recipient's number has
// been normalised. It is exported for tests and dry runs.
func (ch *Channel) Form(m *providers.Message, to string) url.Values {
	f := url.Values{}
	f.Set("To", to)
	from := ch.from
	if m.From != "" {
		from = m.From
	}
	if from != "" {
		f.Set("From", from)
	}
	if ch.serviceSID != "" {
		f.Set("MessagingServiceSid", ch.serviceSID)
	}
	f.Set("Body", m.Text)
	if ch.statusCallback != "" {
		f.Set("StatusCallback", ch.statusCallback)
	}
	return f
}

// Send posts m once and maps the answer to an outcome (see the package
// documentation). It does not retry.
func (ch *Channel) Send(ctx context.Context, m *providers.Message) providers.SendResult {
	if err := ctx.Err(); err != nil {
		return providers.SendResult{Outcome: providers.Retry, Err: err}
	}
	if m == nil {
		return providers.SendResult{Outcome: providers.Failed, Err: errors.New("twilio: no message")}
	}
	if strings.TrimSpace(m.Text) == "" {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("twilio: %s: the message has no text", ch.name)}
	}
	raw := strings.TrimSpace(m.To)
	if !strings.HasPrefix(raw, "+") {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("twilio: %s: %w: it has no country code (write it in E.164, starting with +)", ch.name, adhash.ErrPhone)}
	}
	to, err := adhash.NormalizePhone(raw, "")
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("twilio: %s: %w", ch.name, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.url, strings.NewReader(ch.Form(m, to).Encode()))
	if err != nil {
		return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("twilio: %s: building the request failed", ch.name)}
	}
	req.SetBasicAuth(ch.user, ch.pass)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
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
		return providers.SendResult{Outcome: providers.Retry, Err: fmt.Errorf("twilio: POST to %s: %w", ch.name, err)}
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // lets the connection be reused
		resp.Body.Close()
	}()
	return ch.result(resp, to)
}

// answer is Twilio's JSON answer: a message resource on success, an
// error otherwise.
type answer struct {
	SID      string `json:"sid"`
	Status   any    `json:"status"` // a message status, or the HTTP status of an error
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

func (ch *Channel) result(resp *http.Response, to string) providers.SendResult {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var a answer
	_ = json.Unmarshal(body, &a)
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return providers.SendResult{Outcome: providers.Sent, ProviderMessageID: a.SID}
	}
	e := &Error{Provider: ch.name, Status: code, Code: a.Code, Message: ch.excerpt(a.Message, to), MoreInfo: a.MoreInfo}
	if a.Message == "" && a.Code == 0 {
		e.Message = ch.excerpt(string(body), to)
	}
	switch {
	case a.Code == CodeUnsubscribed:
		return providers.SendResult{Outcome: providers.Suppress, SuppressReason: "stop", Err: e}
	case a.Code == CodeTooManyReqs || code == http.StatusTooManyRequests:
		return providers.SendResult{Outcome: providers.Retry, RetryAfter: webhook.RetryAfter(resp.Header.Get("Retry-After"), ch.now()), Err: e}
	case a.Code == CodeAuthentication || code == http.StatusUnauthorized:
		e.Hint = "Twilio refused the credentials: check account_sid and auth_token (or api_key and api_secret)"
		return providers.SendResult{Outcome: providers.Failed, Err: e}
	case a.Code == CodeInvalidTo || a.Code == CodeNotMobile:
		return providers.SendResult{Outcome: providers.Failed, Err: e}
	case code >= 500:
		return providers.SendResult{Outcome: providers.Retry, RetryAfter: webhook.RetryAfter(resp.Header.Get("Retry-After"), ch.now()), Err: e}
	}
	return providers.SendResult{Outcome: providers.Failed, Err: e}
}

// Error is an answer of Twilio's that is not a success.
type Error struct {
	Provider string // provider.twilio.NAME
	Status   int    // HTTP status
	Code     int    // Twilio's error code, 0 if none
	Message  string // Twilio's message, recipient blanked
	MoreInfo string
	Hint     string // what to do, when herald knows
}

func (e *Error) Error() string {
	s := fmt.Sprintf("twilio: %s answered %d %s", e.Provider, e.Status, http.StatusText(e.Status))
	if e.Code != 0 {
		s += fmt.Sprintf(": error %d", e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.MoreInfo != "" {
		s += " (" + e.MoreInfo + ")"
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// excerpt makes Twilio's message safe to log: one line, at most 200 bytes,
// without the credentials or the recipient's number.
func (ch *Channel) excerpt(s, to string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if ch.pass != "" {
		s = strings.ReplaceAll(s, ch.pass, "[secret]")
	}
	if to != "" {
		s = strings.ReplaceAll(s, to, "[to]")
		s = strings.ReplaceAll(s, strings.TrimPrefix(to, "+"), "[to]")
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
