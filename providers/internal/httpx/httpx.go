// Package httpx is the HTTP plumbing the ad-audience providers share:
// reading the provider block, a client that follows no redirect, a token
// bucket, bounded retries that honour Retry-After, and error messages
// scrubbed of credentials and e-mail addresses.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/webhook"
)

const (
	defaultTimeout    = 30 * time.Second
	defaultMaxRetries = 4
	// maxWait bounds one wait between attempts, Retry-After included: a
	// platform that asks for longer fails the batch with an error that
	// says when to try again.
	maxWait   = 2 * time.Minute
	maxAnswer = 4 << 20
)

// Attrs reads the attributes of a provider block, keeping the first
// error.
type Attrs struct {
	P   *lang.Provider
	Err error
}

// Str is a string attribute of the block, "" when it is not set. An
// unknown value is an env() whose variable is not set.
func (a *Attrs) Str(name string) string {
	v, _, err := providers.StringAttr(a.P, name)
	if err != nil && a.Err == nil {
		a.Err = err
	}
	return strings.TrimSpace(v)
}

// num is a positive number attribute, def when it is not set.
func (a *Attrs) Num(name string, def float64) float64 {
	v, ok := a.P.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() {
		return def
	}
	if !v.IsKnown() || v.Type() != cty.Number {
		if a.Err == nil {
			a.Err = fmt.Errorf("provider.%s: %s must be a number", a.P.Address(), name)
		}
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	if f < 0 {
		if a.Err == nil {
			a.Err = fmt.Errorf("provider.%s: %s must not be negative", a.P.Address(), name)
		}
		return def
	}
	return f
}

// integer is a whole-number attribute, def when it is not set.
func (a *Attrs) Integer(name string, def int) int {
	v, ok := a.P.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.Number {
		return int(a.Num(name, float64(def)))
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || n < 0 || n > 1_000_000 {
		if a.Err == nil {
			a.Err = fmt.Errorf("provider.%s: %s must be a whole number", a.P.Address(), name)
		}
		return def
	}
	return int(n)
}

// endpoint is the endpoint attribute, or def, checked as an http(s) URL
// and without a trailing slash.
func (a *Attrs) Endpoint(def string) string {
	s := a.Str("endpoint")
	if s == "" {
		s = def
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		if a.Err == nil {
			a.Err = fmt.Errorf("provider.%s: endpoint is not an http:// or https:// URL", a.P.Address())
		}
		return ""
	}
	return strings.TrimSuffix(u.String(), "/")
}

// Client makes the requests of one provider.
type Client struct {
	Name     string // provider.TYPE.NAME, for errors
	http     *http.Client
	limiter  *rate.Limiter // nil: no limit
	retries  int
	Base     time.Duration
	Secrets  []string
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
	jitter   func(d time.Duration) time.Duration
	waitedMu sync.Mutex
	Waited   []time.Duration // the waits between attempts, for tests
}

// New reads timeout, rate_limit, burst, concurrency and max_retries;
// defRate is the platform's documented rate in requests per second (0: no
// limit).
func New(a *Attrs, defRate float64, defConns int) *Client {
	c := &Client{Name: "provider." + a.P.Address(), Base: 500 * time.Millisecond, Now: time.Now,
		Sleep: Sleep}
	c.jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	timeout := defaultTimeout
	if s := a.Str("timeout"); s != "" {
		d, err := lang.ParseDuration(s)
		if err != nil || d <= 0 {
			if a.Err == nil {
				a.Err = fmt.Errorf("%s: timeout %q is not a positive duration", c.Name, s)
			}
		} else {
			timeout = d
		}
	}
	if r := a.Num("rate_limit", defRate); r > 0 {
		burst := int(a.Num("burst", r))
		c.limiter = rate.NewLimiter(rate.Limit(r), max(burst, 1))
	}
	c.retries = a.Integer("max_retries", defaultMaxRetries)
	conns := a.Integer("concurrency", defConns)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(conns, 1)
	c.http = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect is not followed: the credentials would go with it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Call is one request of the platform's API.
type Call struct {
	Method, URL string
	Header      http.Header
	Body        []byte
	// transient, when set, tells a failed answer that may be retried
	// though its status is not 429 or 5xx (a platform's throttling code
	// in a 400).
	Transient func(status int, body []byte) bool
	// message, when set, reads the platform's error message from an
	// answer that is not a success.
	Message func(body []byte) string
}

// APIError is an answer of the platform's that is not a success, after
// the retries.
type APIError struct {
	Provider string // provider.TYPE.NAME
	Method   string
	Path     string // the request path, without the query
	Status   int    // HTTP status; 0 for a connection error
	Message  string // the platform's message, scrubbed, at most 200 bytes
	Hint     string // what to do, when herald knows
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: %s %s", e.Provider, e.Method, e.Path)
	if e.Status != 0 {
		s += fmt.Sprintf(": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Do makes the call, retrying a connection error, a 408, 429 or 5xx (and
// what transient says) up to retries times with exponential backoff and
// jitter, never sooner than Retry-After. It returns the body of a 2xx
// answer.
func (c *Client) Do(ctx context.Context, k Call) ([]byte, int, error) {
	return c.DoHeader(ctx, k, nil)
}

// DoHeader is Do, calling onHeader with the headers of a 2xx answer.
func (c *Client) DoHeader(ctx context.Context, k Call, onHeader func(http.Header)) ([]byte, int, error) {
	path := k.URL
	if u, err := url.Parse(k.URL); err == nil {
		path = u.Path
	}
	for attempt := 0; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return nil, 0, err
			}
		}
		var body io.Reader
		if k.Body != nil {
			body = bytes.NewReader(k.Body)
		}
		req, err := http.NewRequestWithContext(ctx, k.Method, k.URL, body)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: building the request failed", c.Name)
		}
		for h, v := range k.Header {
			req.Header[h] = v
		}
		req.Header.Set("User-Agent", "herald")
		resp, err := c.http.Do(req)
		var (
			status     int
			answer     []byte
			retryAfter time.Duration
			apiErr     *APIError
		)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL is not repeated
			}
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			apiErr = &APIError{Provider: c.Name, Method: k.Method, Path: path, Message: c.Scrub(err.Error())}
		} else {
			status = resp.StatusCode
			answer, _ = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
			resp.Body.Close()
			if status >= 200 && status < 300 {
				if onHeader != nil {
					onHeader(resp.Header)
				}
				return answer, status, nil
			}
			retryAfter = webhook.RetryAfter(resp.Header.Get("Retry-After"), c.Now())
			msg := ""
			if k.Message != nil {
				msg = k.Message(answer)
			}
			if msg == "" {
				msg = string(answer)
			}
			apiErr = &APIError{Provider: c.Name, Method: k.Method, Path: path, Status: status, Message: c.Scrub(msg)}
			switch {
			case status == http.StatusUnauthorized || status == http.StatusForbidden:
				apiErr.Hint = "the platform refused the credentials or their permissions: check the access token and the account id"
			case status >= 300 && status < 400:
				apiErr.Hint = "a redirect, which herald does not follow: set endpoint to the final address"
			}
		}
		retry := status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 ||
			(k.Transient != nil && status != 0 && k.Transient(status, answer))
		if !retry || attempt >= c.retries {
			if retry && attempt >= c.retries {
				apiErr.Hint = fmt.Sprintf("gave up after %d attempts", attempt+1)
			}
			return nil, status, apiErr
		}
		wait := c.jitter(min(c.Base<<attempt, maxWait))
		if retryAfter > wait {
			wait = retryAfter
		}
		if wait > maxWait {
			apiErr.Hint = fmt.Sprintf("the platform asks to wait %s before trying again", retryAfter.Round(time.Second))
			return nil, status, apiErr
		}
		c.waitedMu.Lock()
		c.Waited = append(c.Waited, wait)
		c.waitedMu.Unlock()
		if err := c.Sleep(ctx, wait); err != nil {
			return nil, status, err
		}
	}
}

var emailRE = regexp.MustCompile(`[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[A-Za-z]{2,}`)

// Scrub makes a platform's message safe to log: one line, at most 200
// bytes, without the credentials or anything that looks like an e-mail
// address.
func (c *Client) Scrub(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	for _, sec := range c.Secrets {
		if len(sec) >= 6 {
			s = strings.ReplaceAll(s, sec, "[secret]")
		}
	}
	s = emailRE.ReplaceAllString(s, "[email]")
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// close releases the idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
