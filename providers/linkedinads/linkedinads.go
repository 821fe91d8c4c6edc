// Package linkedinads is the "linkedin_ads" audience provider: it keeps a
// LinkedIn DMP segment (Matched Audiences, user list) in step with a
// segment, through the versioned Marketing API:
//
//	POST {endpoint}/dmpSegments
//	     {"name": ..., "account": "urn:li:sponsoredAccount:{ad_account_id}",
//	      "type": "USER", "sourcePlatform": "LIST_UPLOAD", "accessPolicy": "PRIVATE",
//	      "destinations": [{"destination": "LINKEDIN"}]}
//	     → 201, the new id in the x-restli-id header
//	POST {endpoint}/dmpSegments/{id}/users       X-RestLi-Method: BATCH_CREATE
//	     {"elements": [{"action": "ADD"|"REMOVE",
//	                    "userIds": [{"idType": "SHA256_EMAIL", "idValue": <hex>}]}, ...]}
//	GET    {endpoint}/dmpSegments/{id}       (Inspect; 404: gone)
//	DELETE {endpoint}/dmpSegments/{id}       (Delete; 204 No Content)
//	Authorization: Bearer <access_token>
//	LinkedIn-Version: <api_version, 202511 by default>
//	X-Restli-Protocol-Version: 2.0.0
//
// endpoint is https://api.linkedin.com/rest by default. LinkedIn asks
// for a 5-second pause between creating a segment and streaming users to
// it; Ensure waits it out. sourcePlatform is an enum LinkedIn gives each
// approved partner; herald sends LIST_UPLOAD (SourcePlatform), and the
// provider block has no attribute to change it yet. LinkedIn matches
// users on the SHA-256 hex of the e-mail address, trimmed and lower-cased
// (adhash.LinkedInEmail); nothing else leaves herald, and a member
// without an e-mail address is not sent. A batch holds at most 5,000
// elements (BatchSize), and the users endpoint allows 600 requests a
// minute per member token, so the default rate is 10 requests a second.
//
// LinkedIn answers a batch with a status per element; an element that
// is not 2xx fails the batch. 429 and 5xx are retried after Retry-After,
// up to max_retries times (4 by default); other errors fail with
// LinkedIn's message, scrubbed of the token and of e-mail addresses.
package linkedinads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/adhash"
	"github.com/heraldhq/herald/providers/internal/httpx"
)

func init() {
	providers.RegisterAudience("linkedin_ads", Factory)
	providers.RegisterAudienceDeletion("linkedin_ads", "deletes the DMP segment on LinkedIn")
}

// Factory is the providers.AudienceFactory of the linkedin_ads provider.
func Factory(ctx context.Context, req providers.AudienceRequest) (providers.Audience, error) {
	a, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Defaults, as LinkedIn documents them.
const (
	DefaultEndpoint = "https://api.linkedin.com/rest"
	// Version is the LinkedIn-Version Header: the Marketing API version
	// (YYYYMM) this provider is written against.
	Version = "202511"
	// BatchSize is the most elements of one BATCH_CREATE of users.
	BatchSize = 5000
	// defaultRate is 600 requests a minute.
	defaultRate = 10
)

// SourcePlatform is the sourcePlatform of the segments herald creates.
const SourcePlatform = "LIST_UPLOAD"

// createdPause is how long LinkedIn asks to wait after creating a segment
// before users are added to it.
const createdPause = 5 * time.Second

// versionRE is a LinkedIn-Version: YYYYMM, or YYYYMM.RR for a revision.
var versionRE = regexp.MustCompile(`^20[0-9]{2}(0[1-9]|1[0-2])(\.[0-9]{2})?$`)

// IDType is the only identifier herald sends LinkedIn.
const IDType = "SHA256_EMAIL"

// Audience is a linkedin_ads provider. It is safe for concurrent use.
type Audience struct {
	c        *httpx.Client
	endpoint string
	account  string // the ad account's number
	token    string
	version  string // the LinkedIn-Version header
}

// Open reads the provider block of req. It does not contact LinkedIn.
func Open(ctx context.Context, req providers.AudienceRequest) (*Audience, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("linkedin_ads: audience request without a provider")
	}
	at := &httpx.Attrs{P: p}
	account := at.Str("ad_account_id")
	token := at.Str("access_token")
	endpoint := at.Endpoint(DefaultEndpoint)
	version := at.Str("api_version")
	c := httpx.New(at, defaultRate, 4)
	if at.Err != nil {
		return nil, at.Err
	}
	name := "provider." + p.Address()
	account = strings.TrimPrefix(account, "urn:li:sponsoredAccount:")
	if account == "" || strings.Trim(account, "0123456789") != "" {
		return nil, fmt.Errorf("%s: ad_account_id must be the ad account's number (or urn:li:sponsoredAccount:NUMBER)", name)
	}
	if token == "" {
		return nil, fmt.Errorf("%s: access_token is required: set it with env(), e.g. access_token = env(\"LINKEDIN_ACCESS_TOKEN\")", name)
	}
	if version == "" {
		version = Version
	}
	if !versionRE.MatchString(version) {
		return nil, fmt.Errorf("%s: api_version %q is not a LinkedIn Marketing API version (YYYYMM, such as %s)", name, version, Version)
	}
	c.Secrets = []string{token}
	return &Audience{c: c, endpoint: endpoint, account: account, token: token, version: version}, nil
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
		"Authorization":             {"Bearer " + a.token},
		"Content-Type":              {"application/json"},
		"Accept":                    {"application/json"},
		"Linkedin-Version":          {a.version},
		"X-Restli-Protocol-Version": {"2.0.0"},
	}
}

func message(body []byte) string {
	var e struct {
		Message     string `json:"message"`
		ServiceCode int    `json:"serviceErrorCode"`
		Code        string `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	if e.Code != "" {
		return e.Code + ": " + e.Message
	}
	return e.Message
}

// Segment is the body that creates a DMP segment.
type Segment struct {
	Name           string        `json:"name"`
	Account        string        `json:"account"`
	Type           string        `json:"type"`
	SourcePlatform string        `json:"sourcePlatform"`
	AccessPolicy   string        `json:"accessPolicy"`
	Destinations   []Destination `json:"destinations"`
}

// Destination is where a DMP segment's audience goes.
type Destination struct {
	Destination string `json:"destination"`
}

// Ensure implements providers.Audience: it returns id, or creates a DMP
// segment of users named name when id is "". The id kept is the number
// LinkedIn gives the segment.
func (a *Audience) Ensure(ctx context.Context, name, id string) (string, error) {
	if id != "" {
		return id, nil
	}
	js, _ := json.Marshal(Segment{Name: name, Account: "urn:li:sponsoredAccount:" + a.account, Type: "USER",
		SourcePlatform: SourcePlatform, AccessPolicy: "PRIVATE", Destinations: []Destination{{Destination: "LINKEDIN"}}})
	hdr := a.header()
	var created string
	k := httpx.Call{Method: http.MethodPost, URL: a.endpoint + "/dmpSegments", Header: hdr, Body: js, Message: message}
	body, _, err := a.c.DoHeader(ctx, k, func(h http.Header) { created = h.Get("X-Restli-Id") })
	if err != nil {
		return "", fmt.Errorf("creating the DMP segment: %w", err)
	}
	if created == "" {
		created = h2id(body)
	}
	created = strings.TrimPrefix(created, "urn:li:dmpSegment:")
	if created == "" {
		return "", fmt.Errorf("%s: creating the DMP segment: LinkedIn's answer has no id", a.c.Name)
	}
	if err := a.c.Sleep(ctx, createdPause); err != nil {
		return created, err
	}
	return created, nil
}

func h2id(body []byte) string {
	var out struct {
		ID json.Number `json:"id"`
	}
	if json.Unmarshal(body, &out) == nil {
		return out.ID.String()
	}
	return ""
}

// Element is one user of a BATCH_CREATE.
type Element struct {
	Action  string   `json:"action"`
	UserIDs []UserID `json:"userIds"`
}

// UserID is a hashed identifier of a user.
type UserID struct {
	IDType  string `json:"idType"`
	IDValue string `json:"idValue"`
}

// Elements are the batch elements of members: one per member with an
// e-mail address, its SHA-256 hex. It is exported for tests and dry runs.
func Elements(action string, members []providers.Member) []Element {
	out := make([]Element, 0, len(members))
	for _, m := range members {
		e := adhash.LinkedInEmail(m.Email)
		if e == "" || !strings.Contains(e, "@") {
			continue
		}
		out = append(out, Element{Action: action, UserIDs: []UserID{{IDType: IDType, IDValue: adhash.Hash(e)}}})
	}
	return out
}

// Add implements providers.Audience.
func (a *Audience) Add(ctx context.Context, id string, members []providers.Member) error {
	return a.users(ctx, "ADD", id, members)
}

// Remove implements providers.Audience.
func (a *Audience) Remove(ctx context.Context, id string, members []providers.Member) error {
	return a.users(ctx, "REMOVE", id, members)
}

func (a *Audience) users(ctx context.Context, action, id string, members []providers.Member) error {
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return fmt.Errorf("%s: %q is not a DMP segment id", a.c.Name, id)
	}
	for start := 0; start < len(members); start += BatchSize {
		els := Elements(action, members[start:min(start+BatchSize, len(members))])
		if len(els) == 0 {
			continue
		}
		js, err := json.Marshal(struct {
			Elements []Element `json:"elements"`
		}{els})
		if err != nil {
			return err
		}
		hdr := a.header()
		hdr.Set("X-RestLi-Method", "BATCH_CREATE")
		body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPost, URL: a.endpoint + "/dmpSegments/" + url.PathEscape(id) + "/users",
			Header: hdr, Body: js, Message: message})
		if err != nil {
			return err
		}
		var out struct {
			Elements []struct {
				Status int `json:"status"`
			} `json:"elements"`
		}
		if json.Unmarshal(body, &out) == nil {
			bad := 0
			for _, e := range out.Elements {
				if e.Status != 0 && (e.Status < 200 || e.Status >= 300) {
					bad++
				}
			}
			if bad > 0 {
				return fmt.Errorf("%s: LinkedIn refused %d of the %d users of a batch", a.c.Name, bad, len(els))
			}
		}
	}
	return nil
}

func notFound(err error) bool {
	var ae *httpx.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func validID(id string) bool {
	return id != "" && strings.Trim(id, "0123456789") == ""
}

// Inspect implements providers.Inspector: one GET of the DMP segment; a
// 404 means it is gone. size is the LINKEDIN destination's audienceSize,
// which LinkedIn documents as the audience available for targeting.
func (a *Audience) Inspect(ctx context.Context, id string) (bool, int64, error) {
	if !validID(id) {
		return false, -1, fmt.Errorf("%s: %q is not a DMP segment id", a.c.Name, id)
	}
	h := a.header()
	h.Del("Content-Type")
	body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodGet, URL: a.endpoint + "/dmpSegments/" + id, Header: h, Message: message})
	if notFound(err) {
		return false, -1, nil
	}
	if err != nil {
		return false, -1, err
	}
	var out struct {
		Destinations []struct {
			Destination  string `json:"destination"`
			AudienceSize *int64 `json:"audienceSize"`
		} `json:"destinations"`
	}
	if json.Unmarshal(body, &out) != nil {
		return false, -1, fmt.Errorf("%s: LinkedIn's answer for DMP segment %s is not JSON", a.c.Name, id)
	}
	for _, d := range out.Destinations {
		if d.Destination == "LINKEDIN" && d.AudienceSize != nil {
			return true, *d.AudienceSize, nil
		}
	}
	return true, -1, nil
}

// Delete implements providers.Deleter: DELETE of the DMP segment, which
// LinkedIn answers 204 No Content. A segment LinkedIn no longer has is not
// an error.
func (a *Audience) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("%s: %q is not a DMP segment id", a.c.Name, id)
	}
	h := a.header()
	h.Del("Content-Type")
	_, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodDelete, URL: a.endpoint + "/dmpSegments/" + id, Header: h, Message: message})
	if err != nil && !notFound(err) {
		return fmt.Errorf("deleting the DMP segment %s: %w", id, err)
	}
	return nil
}
