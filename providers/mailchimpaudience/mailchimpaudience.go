// Package mailchimpaudience is the "mailchimp_audience" audience provider:
// it keeps a tag of a Mailchimp Marketing audience (a list) in step with
// a segment, through the Marketing API:
//
//	GET  {endpoint}/lists/{list_id}/segments?type=static&…            (Ensure, Inspect: the tag and its member count)
//	POST {endpoint}/lists/{list_id}/segments {"name": <tag>, "static_segment": []}   (Ensure: an empty tag)
//	PUT  {endpoint}/lists/{list_id}/members/{subscriber_hash}
//	     {"email_address": ..., "status_if_new": "transactional"}
//	POST {endpoint}/lists/{list_id}/members/{subscriber_hash}/tags
//	     {"tags": [{"name": <tag>, "status": "active"|"inactive"}]}
//	DELETE {endpoint}/lists/{list_id}/segments/{tag's segment id}      (Delete: the tag, from every member)
//	Authorization: Basic <"herald":api_key>
//
// endpoint is https://{dc}.api.mailchimp.com/3.0 by default, dc being the
// data centre the api_key ends with ("…-us6"). subscriber_hash is the MD5
// hex of the lower-cased e-mail address, as Mailchimp documents.
//
// The audience's platform id is the tag's name: the herald audience's
// name. Add upserts each member and sets the tag active; Remove sets it
// inactive (a member Mailchimp no longer has is skipped).
//
// Consent: the upsert never sends "status", only "status_if_new", so a
// member Mailchimp holds as unsubscribed, cleaned or pending keeps that
// status and is never re-subscribed. A member new to the list is added
// as "transactional", not "subscribed": an ad audience is admitted on the
// ads consent channel, which is not consent to marketing e-mail. Only the
// e-mail address is sent: no merge field is declared for this provider,
// so none is written.
//
// A member Mailchimp refuses for good (an address it holds as fake, or
// forgotten at the contact's request, or in compliance state) is skipped
// rather than failing the batch; Skipped counts them.
//
// Mailchimp allows 10 simultaneous connections per account and documents
// no per-second rate: requests go 10 at a time (concurrency). 429 and 5xx
// are retried after Retry-After, up to max_retries times (4 by default);
// other errors fail the batch with Mailchimp's title and detail, scrubbed
// of the API key and of e-mail addresses.
package mailchimpaudience

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/internal/httpx"
)

func init() {
	providers.RegisterAudience("mailchimp_audience", Factory)
	providers.RegisterAudienceDeletion("mailchimp_audience", "removes the tag from every member of the Mailchimp audience; the audience (list) and its members are kept")
}

// Factory is the providers.AudienceFactory of the mailchimp_audience
// provider.
func Factory(ctx context.Context, req providers.AudienceRequest) (providers.Audience, error) {
	a, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return a, nil
}

const (
	// BatchSize is the members one Add or Remove takes: Mailchimp's batch
	// limit for list member operations.
	BatchSize = 500
	// Connections is Mailchimp's limit of simultaneous connections.
	Connections = 10
	// StatusIfNew is the status of a member new to the list.
	StatusIfNew = "transactional"
)

// Audience is a mailchimp_audience provider. It is safe for concurrent
// use.
type Audience struct {
	c       *httpx.Client
	base    string // {endpoint}/lists/{list_id}
	key     string
	conns   int
	skipped atomic.Int64
}

// Open reads the provider block of req. It does not contact Mailchimp.
func Open(ctx context.Context, req providers.AudienceRequest) (*Audience, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("mailchimp_audience: audience request without a provider")
	}
	at := &httpx.Attrs{P: p}
	key := at.Str("api_key")
	list := at.Str("list_id")
	endpointSet := at.Str("endpoint") != ""
	c := httpx.New(at, 0, Connections)
	conns := at.Integer("concurrency", Connections)
	if at.Err != nil {
		return nil, at.Err
	}
	name := "provider." + p.Address()
	if key == "" {
		return nil, fmt.Errorf("%s: api_key is required: set it with env(), e.g. api_key = env(\"MAILCHIMP_API_KEY\")", name)
	}
	if list == "" || strings.ContainsAny(list, "/?#% ") {
		return nil, fmt.Errorf("%s: list_id must be the audience id Mailchimp shows under Audience settings", name)
	}
	endpoint := ""
	if endpointSet {
		endpoint = at.Endpoint("")
	} else {
		dc := ""
		if i := strings.LastIndexByte(key, '-'); i >= 0 {
			dc = key[i+1:]
		}
		if dc == "" || strings.Trim(strings.ToLower(dc), "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return nil, fmt.Errorf("%s: api_key does not end in a data centre (\"…-us6\"): copy the whole key from Mailchimp, or set endpoint", name)
		}
		endpoint = at.Endpoint("https://" + dc + ".api.mailchimp.com/3.0")
	}
	if at.Err != nil {
		return nil, at.Err
	}
	c.Secrets = []string{key}
	return &Audience{c: c, base: endpoint + "/lists/" + url.PathEscape(list), key: key, conns: max(min(conns, Connections), 1)}, nil
}

// SubscriberHash is Mailchimp's id of a list member: the MD5 hex of the
// lower-cased e-mail address.
func SubscriberHash(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// BatchSize implements providers.Audience.
func (a *Audience) BatchSize() int { return BatchSize }

// Skipped is the number of members Mailchimp refused for good.
func (a *Audience) Skipped() int64 { return a.skipped.Load() }

// Close implements providers.Audience.
func (a *Audience) Close() error {
	a.c.Close()
	return nil
}

func (a *Audience) header() http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	r := http.Request{Header: h}
	r.SetBasicAuth("herald", a.key)
	return h
}

// problem is Mailchimp's error document.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func message(body []byte) string {
	var p problem
	if json.Unmarshal(body, &p) != nil || (p.Title == "" && p.Detail == "") {
		return ""
	}
	return strings.TrimSuffix(p.Title+": "+p.Detail, ": ")
}

// refused tells a 400 for a member Mailchimp will not take, whatever is
// sent again.
func refused(err error) bool {
	var ae *httpx.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		return false
	}
	for _, t := range []string{"Forgotten Email Not Subscribed", "Member In Compliance State", "Invalid Resource"} {
		if strings.HasPrefix(ae.Message, t) {
			return true
		}
	}
	return false
}

func notFound(err error) bool {
	var ae *httpx.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Ensure implements providers.Audience: the id of a tag is its name, so
// it returns id, or name when id is "" after making sure the tag exists
// in the list — created empty when it does not, so that Inspect finds it
// even before anyone is tagged.
func (a *Audience) Ensure(ctx context.Context, name, id string) (string, error) {
	if id != "" {
		return id, nil
	}
	s, err := a.findTag(ctx, name)
	if err != nil {
		return "", fmt.Errorf("reading the Mailchimp audience's tags: %w", err)
	}
	if s == nil {
		// A static segment created with an empty list of addresses is a
		// tag without members.
		js, _ := json.Marshal(map[string]any{"name": name, "static_segment": []string{}})
		if _, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPost, URL: a.base + "/segments", Header: a.header(), Body: js, Message: message}); err != nil {
			return "", fmt.Errorf("creating the tag %q: %w", name, err)
		}
	}
	return name, nil
}

// Member is the body of the upsert: the address and the status of a
// member new to the list, never "status".
type Member struct {
	EmailAddress string `json:"email_address"`
	StatusIfNew  string `json:"status_if_new"`
}

// Tags is the body that sets a member's tags.
type Tags struct {
	Tags []Tag `json:"tags"`
}

// Tag is one tag and whether the member has it.
type Tag struct {
	Name   string `json:"name"`
	Status string `json:"status"` // active or inactive
}

// Add implements providers.Audience.
func (a *Audience) Add(ctx context.Context, tag string, members []providers.Member) error {
	return a.each(ctx, members, func(ctx context.Context, m providers.Member) error {
		hash := SubscriberHash(m.Email)
		js, _ := json.Marshal(Member{EmailAddress: strings.TrimSpace(m.Email), StatusIfNew: StatusIfNew})
		if _, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPut, URL: a.base + "/members/" + hash, Header: a.header(), Body: js, Message: message}); err != nil {
			if refused(err) {
				a.skipped.Add(1)
				return nil
			}
			return err
		}
		return a.tag(ctx, hash, tag, "active")
	})
}

// Remove implements providers.Audience.
func (a *Audience) Remove(ctx context.Context, tag string, members []providers.Member) error {
	return a.each(ctx, members, func(ctx context.Context, m providers.Member) error {
		err := a.tag(ctx, SubscriberHash(m.Email), tag, "inactive")
		if notFound(err) {
			return nil // no longer in the list: nothing to untag
		}
		return err
	})
}

func (a *Audience) tag(ctx context.Context, hash, tag, status string) error {
	js, _ := json.Marshal(Tags{Tags: []Tag{{Name: tag, Status: status}}})
	_, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPost, URL: a.base + "/members/" + hash + "/tags", Header: a.header(), Body: js, Message: message})
	return err
}

// each runs f for the members with an e-mail address, conns at a time,
// and returns the first error.
func (a *Audience) each(ctx context.Context, members []providers.Member, f func(context.Context, providers.Member) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.conns)
	for _, m := range members {
		if !strings.Contains(m.Email, "@") {
			continue
		}
		g.Go(func() error { return f(gctx, m) })
	}
	return g.Wait()
}

// tagPage is how many tags one GET of the list's static segments reads.
const tagPage = 1000

// segment is a static segment of the list: Mailchimp keeps each tag as
// one.
type segment struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	MemberCount int64  `json:"member_count"`
}

// findTag looks the tag up among the list's static segments: one request
// unless the list has more than tagPage tags.
func (a *Audience) findTag(ctx context.Context, tag string) (*segment, error) {
	for offset := 0; ; offset += tagPage {
		u := fmt.Sprintf("%s/segments?type=static&count=%d&offset=%d&fields=segments.id,segments.name,segments.member_count,total_items",
			a.base, tagPage, offset)
		body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodGet, URL: u, Header: a.header(), Message: message})
		if notFound(err) {
			return nil, fmt.Errorf("%s: the Mailchimp audience (list) is gone: herald never creates one; set list_id to an audience that exists", a.c.Name)
		}
		if err != nil {
			return nil, err
		}
		var out struct {
			Segments   []segment `json:"segments"`
			TotalItems int       `json:"total_items"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return nil, fmt.Errorf("%s: Mailchimp's list of tags is not JSON", a.c.Name)
		}
		for i := range out.Segments {
			if out.Segments[i].Name == tag {
				return &out.Segments[i], nil
			}
		}
		if len(out.Segments) == 0 || offset+len(out.Segments) >= out.TotalItems {
			return nil, nil
		}
	}
}

// Inspect implements providers.Inspector: the tag exists when Mailchimp
// lists it among the audience's tags, with its member count.
func (a *Audience) Inspect(ctx context.Context, tag string) (bool, int64, error) {
	s, err := a.findTag(ctx, tag)
	if err != nil || s == nil {
		return false, -1, err
	}
	return true, s.MemberCount, nil
}

// Delete implements providers.Deleter: it deletes the tag, which removes
// it from every member who has it. The list and its members stay: herald
// never deletes a Mailchimp audience, which holds people's subscription
// status.
func (a *Audience) Delete(ctx context.Context, tag string) error {
	s, err := a.findTag(ctx, tag)
	if err != nil || s == nil {
		return err
	}
	_, _, err = a.c.Do(ctx, httpx.Call{Method: http.MethodDelete, URL: fmt.Sprintf("%s/segments/%d", a.base, s.ID), Header: a.header(), Message: message})
	if err != nil && !notFound(err) {
		return fmt.Errorf("removing the tag %q: %w", tag, err)
	}
	return nil
}
