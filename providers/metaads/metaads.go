// Package metaads is the "meta_ads" audience provider: it keeps a Meta
// Custom Audience (customer list) in step with a segment, through the
// Marketing API:
//
//	POST   {endpoint}/{api_version}/act_{ad_account_id}/customaudiences
//	       name, description, subtype=CUSTOM, customer_file_source=USER_PROVIDED_ONLY
//	POST   {endpoint}/{api_version}/{audience_id}/users   payload={"schema":[...],"data":[[...],...]}
//	DELETE {endpoint}/{api_version}/{audience_id}/users   payload=... (the same shape)
//	GET    {endpoint}/{api_version}/{audience_id}?fields=id,approximate_count_lower_bound   (Inspect)
//	DELETE {endpoint}/{api_version}/{audience_id}          → {"success": true}              (Delete)
//	Authorization: Bearer <access_token>
//
// endpoint is https://graph.facebook.com and api_version v25.0 by default.
// The form bodies are application/x-www-form-urlencoded, as the Graph API
// documents; the token goes in the Authorization header, never in a URL.
//
// Each member is one row of the payload, with the schema
// ["EMAIL_SHA256", "PHONE_SHA256"] (or the one of them the audience
// matches on): the SHA-256 hex of the e-mail address trimmed and
// lower-cased, and of the phone number as digits with the country code
// and no "+" (adhash.MetaEmail, adhash.MetaPhone); a value a member does
// not have is "". Nothing else about a customer is sent, and no raw
// identifier. Meta takes at most 10,000 rows a request (BatchSize).
//
// A phone number must carry its country code ("+44 20 7183 8750"): one
// written without it cannot be normalised and is left out of that
// member's row (a member with no identifier left is not sent).
//
// Errors: 429, 5xx, and Graph errors Meta documents as throttling (codes
// 4, 17, 32, 613, 80003, or is_transient) are retried, after Retry-After,
// up to max_retries times (4 by default); other errors fail the batch
// with Meta's message, scrubbed of the token and of anything that looks
// like an e-mail address.
package metaads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/adhash"
	"github.com/heraldhq/herald/providers/internal/httpx"
)

func init() {
	providers.RegisterAudience("meta_ads", Factory)
	providers.RegisterAudienceDeletion("meta_ads", "deletes the Custom Audience on Meta")
}

// Factory is the providers.AudienceFactory of the meta_ads provider.
func Factory(ctx context.Context, req providers.AudienceRequest) (providers.Audience, error) {
	a, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Defaults, as Meta documents them.
const (
	DefaultEndpoint   = "https://graph.facebook.com"
	DefaultAPIVersion = "v25.0"
	// BatchSize is the most rows Meta takes in one users request.
	BatchSize = 10000
	// defaultRate is requests per second; Meta throttles by a score per ad
	// account rather than a fixed rate, so this only keeps bursts small.
	defaultRate = 5
)

// Schema keys of the users payload.
const (
	SchemaEmail = "EMAIL_SHA256"
	SchemaPhone = "PHONE_SHA256"
)

// Audience is a meta_ads provider. It is safe for concurrent use.
type Audience struct {
	c       *httpx.Client
	base    string // {endpoint}/{api_version}
	account string // act_<id>
	token   string
	email   bool   // match on e-mail
	phone   bool   // match on phone
	region  string // the default region of phone numbers: none yet
}

// Open reads the provider block of req. It does not contact Meta.
func Open(ctx context.Context, req providers.AudienceRequest) (*Audience, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("meta_ads: audience request without a provider")
	}
	at := &httpx.Attrs{P: p}
	account := at.Str("ad_account_id")
	token := at.Str("access_token")
	version := at.Str("api_version")
	endpoint := at.Endpoint(DefaultEndpoint)
	c := httpx.New(at, defaultRate, 4)
	if at.Err != nil {
		return nil, at.Err
	}
	name := "provider." + p.Address()
	account = strings.TrimPrefix(account, "act_")
	if account == "" || strings.Trim(account, "0123456789") != "" {
		return nil, fmt.Errorf("%s: ad_account_id must be the ad account's number (with or without act_)", name)
	}
	if token == "" {
		return nil, fmt.Errorf("%s: access_token is required: set it with env(), e.g. access_token = env(\"META_ACCESS_TOKEN\")", name)
	}
	if version == "" {
		version = DefaultAPIVersion
	}
	if !strings.HasPrefix(version, "v") || strings.ContainsAny(version, "/?#% ") {
		return nil, fmt.Errorf("%s: api_version %q is not a Graph API version such as %s", name, version, DefaultAPIVersion)
	}
	c.Secrets = []string{token}
	a := &Audience{c: c, base: endpoint + "/" + version, account: "act_" + account, token: token}
	a.email, a.phone = true, true
	if req.Audience != nil && len(req.Audience.MatchOn) > 0 && req.Audience.Segment != nil &&
		req.Audience.Segment.From != nil && req.Audience.Segment.From.Schema != nil {
		a.email, a.phone = false, false
		s := req.Audience.Segment.From.Schema
		for _, m := range req.Audience.MatchOn {
			if f := s.Field(m); f != nil {
				a.email = a.email || f.PII == "email"
				a.phone = a.phone || f.PII == "phone"
			}
		}
	}
	return a, nil
}

// BatchSize implements providers.Audience.
func (a *Audience) BatchSize() int { return BatchSize }

// Close implements providers.Audience.
func (a *Audience) Close() error {
	a.c.Close()
	return nil
}

func (a *Audience) header() http.Header {
	return http.Header{
		"Authorization": {"Bearer " + a.token},
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Accept":        {"application/json"},
	}
}

// graphError is the error object of a Graph API answer.
type graphError struct {
	Error struct {
		Message     string `json:"message"`
		Type        string `json:"type"`
		Code        int    `json:"code"`
		Subcode     int    `json:"error_subcode"`
		IsTransient bool   `json:"is_transient"`
		UserTitle   string `json:"error_user_title"`
		UserMessage string `json:"error_user_msg"`
		FBTraceID   string `json:"fbtrace_id"`
	} `json:"error"`
}

// throttling are the Graph error codes Meta documents as rate limiting.
var throttling = map[int]bool{4: true, 17: true, 32: true, 613: true, 80003: true}

func transient(_ int, body []byte) bool {
	var g graphError
	if json.Unmarshal(body, &g) != nil {
		return false
	}
	return g.Error.IsTransient || throttling[g.Error.Code]
}

func message(body []byte) string {
	var g graphError
	if json.Unmarshal(body, &g) != nil || g.Error.Message == "" {
		return ""
	}
	s := fmt.Sprintf("(#%d", g.Error.Code)
	if g.Error.Subcode != 0 {
		s += fmt.Sprintf("/%d", g.Error.Subcode)
	}
	s += ") " + g.Error.Message
	if g.Error.UserMessage != "" {
		s += ": " + g.Error.UserMessage
	}
	if g.Error.FBTraceID != "" {
		s += " (fbtrace_id " + g.Error.FBTraceID + ")"
	}
	return s
}

// Ensure implements providers.Audience: it returns id, or creates a
// customer-list Custom Audience named name when id is "".
func (a *Audience) Ensure(ctx context.Context, name, id string) (string, error) {
	if id != "" {
		return id, nil
	}
	form := url.Values{}
	form.Set("name", name)
	form.Set("description", "Kept in sync by herald (audience."+name+")")
	form.Set("subtype", "CUSTOM")
	form.Set("customer_file_source", "USER_PROVIDED_ONLY")
	body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPost, URL: a.base + "/" + a.account + "/customaudiences",
		Header: a.header(), Body: []byte(form.Encode()), Transient: transient, Message: message})
	if err != nil {
		return "", fmt.Errorf("creating the custom audience: %w", err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("%s: creating the custom audience: Meta's answer has no id", a.c.Name)
	}
	return out.ID, nil
}

// Payload is the users payload of members: the schema and one row of
// SHA-256 hex digests per member. Members with no identifier that can be
// normalised are left out; skipped counts them. It is exported for tests
// and dry runs.
func (a *Audience) Payload(members []providers.Member) (p UsersPayload, skipped int) {
	if a.email {
		p.Schema = append(p.Schema, SchemaEmail)
	}
	if a.phone {
		p.Schema = append(p.Schema, SchemaPhone)
	}
	for _, m := range members {
		row := make([]string, 0, 2)
		have := false
		if a.email {
			v := ""
			if e := adhash.MetaEmail(m.Email); e != "" && strings.Contains(e, "@") {
				v, have = adhash.Hash(e), true
			}
			row = append(row, v)
		}
		if a.phone {
			v := ""
			if m.Phone != "" {
				if ph, err := adhash.MetaPhone(m.Phone, a.region); err == nil {
					v, have = adhash.Hash(ph), true
				}
			}
			row = append(row, v)
		}
		if !have {
			skipped++
			continue
		}
		p.Data = append(p.Data, row)
	}
	return p, skipped
}

// UsersPayload is the payload parameter of a users request.
type UsersPayload struct {
	Schema []string   `json:"schema"`
	Data   [][]string `json:"data"`
}

// Add implements providers.Audience.
func (a *Audience) Add(ctx context.Context, id string, members []providers.Member) error {
	return a.users(ctx, http.MethodPost, id, members)
}

// Remove implements providers.Audience.
func (a *Audience) Remove(ctx context.Context, id string, members []providers.Member) error {
	return a.users(ctx, http.MethodDelete, id, members)
}

func (a *Audience) users(ctx context.Context, method, id string, members []providers.Member) error {
	if id == "" || strings.ContainsAny(id, "/?#% ") {
		return fmt.Errorf("%s: %q is not a custom audience id", a.c.Name, id)
	}
	for start := 0; start < len(members); start += BatchSize {
		p, _ := a.Payload(members[start:min(start+BatchSize, len(members))])
		if len(p.Data) == 0 {
			continue
		}
		js, err := json.Marshal(p)
		if err != nil {
			return err
		}
		form := url.Values{}
		form.Set("payload", string(js))
		body, _, err := a.c.Do(ctx, httpx.Call{Method: method, URL: a.base + "/" + url.PathEscape(id) + "/users",
			Header: a.header(), Body: []byte(form.Encode()), Transient: transient, Message: message})
		if err != nil {
			return err
		}
		// A 200 may still say that nothing was received.
		var out struct {
			NumReceived *int `json:"num_received"`
			NumInvalid  int  `json:"num_invalid_entries"`
		}
		if json.Unmarshal(body, &out) == nil && out.NumReceived != nil && *out.NumReceived == 0 && len(p.Data) > 0 {
			return fmt.Errorf("%s: Meta received none of the %d rows (%d invalid)", a.c.Name, len(p.Data), out.NumInvalid)
		}
	}
	return nil
}

// gone tells Meta's answer for an object that does not exist: Graph error
// 100 with subcode 33 ("Object with ID … does not exist, cannot be loaded
// due to missing permissions, or does not support this operation"), or a
// 404.
func gone(err error) bool {
	var ae *httpx.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusNotFound || strings.HasPrefix(ae.Message, "(#100/33)"))
}

func validID(id string) bool {
	return id != "" && strings.Trim(id, "0123456789") == ""
}

// Inspect implements providers.Inspector: one GET of the audience's id
// and approximate_count_lower_bound (Meta gives a range, not a count).
func (a *Audience) Inspect(ctx context.Context, id string) (bool, int64, error) {
	if !validID(id) {
		return false, -1, fmt.Errorf("%s: %q is not a custom audience id", a.c.Name, id)
	}
	h := a.header()
	h.Del("Content-Type")
	body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodGet, URL: a.base + "/" + id + "?fields=id,approximate_count_lower_bound",
		Header: h, Transient: transient, Message: message})
	if gone(err) {
		return false, -1, nil
	}
	if err != nil {
		return false, -1, err
	}
	var out struct {
		ID    string `json:"id"`
		Lower *int64 `json:"approximate_count_lower_bound"`
	}
	if json.Unmarshal(body, &out) != nil || out.ID == "" {
		return false, -1, fmt.Errorf("%s: Meta's answer for custom audience %s has no id", a.c.Name, id)
	}
	if out.Lower == nil || *out.Lower < 0 {
		return true, -1, nil
	}
	return true, *out.Lower, nil
}

// Delete implements providers.Deleter: DELETE /{custom-audience-id}, which
// Meta answers {"success": true}. An audience Meta no longer has is not
// an error.
func (a *Audience) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("%s: %q is not a custom audience id", a.c.Name, id)
	}
	h := a.header()
	h.Del("Content-Type")
	body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodDelete, URL: a.base + "/" + id, Header: h, Transient: transient, Message: message})
	if gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting the custom audience %s: %w", id, err)
	}
	var out struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &out) == nil && out.Success != nil && !*out.Success {
		return fmt.Errorf("%s: Meta did not delete the custom audience %s (success: false)", a.c.Name, id)
	}
	return nil
}
