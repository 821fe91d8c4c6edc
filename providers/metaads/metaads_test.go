package metaads

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/adhash"
)

const token = "EAAB-secret-token-123"

type request struct {
	method, path, auth, ctype string
	form                      url.Values
	body                      string
}

// platform answers as the Marketing API documents, recording requests.
type platform struct {
	mu       sync.Mutex
	reqs     []request
	throttle int // answer this many 429s first
	fail     string
	deleted  bool // the audience was deleted in Ads Manager
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	p.mu.Lock()
	p.reqs = append(p.reqs, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), form, string(b)})
	throttle := p.throttle > 0
	if throttle {
		p.throttle--
	}
	fail, deleted := p.fail, p.deleted
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case throttle:
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"(#80003) There have been too many calls","code":80003}}`)
	case fail != "":
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, fail)
	case r.Method == http.MethodPost && r.URL.Path == "/v25.0/act_123/customaudiences":
		io.WriteString(w, `{"id":"23850000000000001"}`)
	case r.URL.Path == "/v25.0/23850000000000001" && deleted:
		// As Graph answers for an id it no longer has.
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"Unsupported get request. Object with ID '23850000000000001' does not exist, cannot be loaded due to missing permissions, or does not support this operation.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AbC"}}`)
	case r.Method == http.MethodGet && r.URL.Path == "/v25.0/23850000000000001":
		if r.URL.Query().Get("fields") != "id,approximate_count_lower_bound" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"(#100) Unknown fields","code":100}}`)
			return
		}
		io.WriteString(w, `{"id":"23850000000000001","approximate_count_lower_bound":1000}`)
	case r.Method == http.MethodDelete && r.URL.Path == "/v25.0/23850000000000001":
		p.mu.Lock()
		p.deleted = true
		p.mu.Unlock()
		io.WriteString(w, `{"success":true}`)
	case strings.HasSuffix(r.URL.Path, "/users"):
		var pl UsersPayload
		json.Unmarshal([]byte(form.Get("payload")), &pl)
		fmt.Fprintf(w, `{"audience_id":"23850000000000001","session_id":"1","num_received":%d,"num_invalid_entries":0,"invalid_entry_samples":{}}`, len(pl.Data))
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"Unknown path","code":803}}`)
	}
}

func open(t *testing.T, endpoint string, extra map[string]cty.Value) *Audience {
	t.Helper()
	attrs := map[string]cty.Value{
		"ad_account_id": cty.StringVal("act_123"),
		"access_token":  cty.StringVal(token),
		"endpoint":      cty.StringVal(endpoint),
	}
	for k, v := range extra {
		attrs[k] = v
	}
	a, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "meta_ads", Name: "main", Attributes: attrs, Unset: map[string]lang.Unset{"access_token": {Env: []string{"META_TOKEN"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	a.c.Sleep = func(context.Context, time.Duration) error { return nil }
	t.Cleanup(func() { a.Close() })
	return a
}

func members(n int) []providers.Member {
	out := make([]providers.Member, n)
	for i := range out {
		out[i] = providers.Member{CustomerID: fmt.Sprintf("c%d", i), Email: fmt.Sprintf(" Person.%d@Example.com ", i), Phone: "+1 650 555 1212"}
	}
	return out
}

func TestEnsureAddRemove(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, nil)
	ctx := context.Background()

	id, err := a.Ensure(ctx, "lapsed_seed", "")
	if err != nil || id != "23850000000000001" {
		t.Fatalf("Ensure = %q, %v", id, err)
	}
	if id2, err := a.Ensure(ctx, "lapsed_seed", id); err != nil || id2 != id || len(p.reqs) != 1 {
		t.Fatalf("Ensure with an id = %q, %v after %d requests, want no request", id2, err, len(p.reqs))
	}
	c := p.reqs[0]
	if c.auth != "Bearer "+token || c.ctype != "application/x-www-form-urlencoded" {
		t.Errorf("create: auth %q, content type %q", c.auth, c.ctype)
	}
	if c.form.Get("name") != "lapsed_seed" || c.form.Get("subtype") != "CUSTOM" || c.form.Get("customer_file_source") != "USER_PROVIDED_ONLY" {
		t.Errorf("create form = %v", c.form)
	}

	ms := members(25000)
	ms = append(ms, providers.Member{CustomerID: "x", Email: "", Phone: "not a phone"}) // nothing to send
	if err := a.Add(ctx, id, ms); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, id, ms[:3]); err != nil {
		t.Fatal(err)
	}
	users := p.reqs[1:]
	var sizes []int
	for _, r := range users {
		if r.path != "/v25.0/23850000000000001/users" || r.auth != "Bearer "+token {
			t.Errorf("users request %s %s auth %q", r.method, r.path, r.auth)
		}
		var pl UsersPayload
		if err := json.Unmarshal([]byte(r.form.Get("payload")), &pl); err != nil {
			t.Fatalf("payload: %v", err)
		}
		if strings.Join(pl.Schema, ",") != "EMAIL_SHA256,PHONE_SHA256" {
			t.Errorf("schema = %v", pl.Schema)
		}
		sizes = append(sizes, len(pl.Data))
		for _, row := range pl.Data {
			for _, v := range row {
				if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
					t.Fatalf("a value that is not a SHA-256 hex digest left: %q", v)
				}
			}
		}
		if strings.Contains(strings.ToLower(r.body), "example.com") || strings.Contains(r.body, "%40") || strings.Contains(r.body, "@") || strings.Contains(r.body, "16505551212") {
			t.Fatalf("a raw identifier left in a request body")
		}
	}
	if got := fmt.Sprint(sizes); got != "[10000 10000 5000 3]" {
		t.Errorf("batch sizes %s, want [10000 10000 5000 3]", got)
	}
	if users[0].method != http.MethodPost || users[3].method != http.MethodDelete {
		t.Errorf("methods %s, %s", users[0].method, users[3].method)
	}
	var first UsersPayload
	json.Unmarshal([]byte(users[0].form.Get("payload")), &first)
	ph, _ := adhash.MetaPhone("+1 650 555 1212", "")
	if want := []string{adhash.Hash("person.0@example.com"), adhash.Hash(ph)}; fmt.Sprint(first.Data[0]) != fmt.Sprint(want) {
		t.Errorf("row 0 = %v, want %v", first.Data[0], want)
	}
}

func TestMatchOnEmailOnly(t *testing.T) {
	a := &Audience{email: true}
	p, skipped := a.Payload([]providers.Member{{CustomerID: "a", Email: "A@B.example", Phone: "+16505551212"}, {CustomerID: "b", Phone: "+16505551212"}})
	if strings.Join(p.Schema, ",") != SchemaEmail || len(p.Data) != 1 || len(p.Data[0]) != 1 || skipped != 1 {
		t.Errorf("payload %+v, skipped %d", p, skipped)
	}
}

func TestRetryAfter(t *testing.T) {
	p := &platform{throttle: 2}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, nil)
	if err := a.Add(context.Background(), "1", members(2)); err != nil {
		t.Fatal(err)
	}
	if len(p.reqs) != 3 {
		t.Errorf("%d requests, want 3", len(p.reqs))
	}
	if len(a.c.Waited) != 2 || a.c.Waited[0] < 3*time.Second {
		t.Errorf("waits %v, want two of at least 3s (Retry-After)", a.c.Waited)
	}
	// A throttle that does not end gives up after max_retries.
	p.throttle = 100
	a = open(t, srv.URL, map[string]cty.Value{"max_retries": cty.NumberIntVal(1)})
	err := a.Add(context.Background(), "1", members(1))
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorScrubbed(t *testing.T) {
	p := &platform{fail: `{"error":{"message":"Invalid OAuth access token ` + token + ` for person.0@example.com","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, nil)
	err := a.Add(context.Background(), "1", members(1))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, token) || strings.Contains(msg, "person.0@example.com") {
		t.Errorf("error not scrubbed: %s", msg)
	}
	if !strings.Contains(msg, "400") || !strings.Contains(msg, "(#190)") || !strings.Contains(msg, "fbtrace_id AbC") {
		t.Errorf("error = %s", msg)
	}
	if len(p.reqs) != 1 {
		t.Errorf("a 400 was retried: %d requests", len(p.reqs))
	}
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []struct {
		attrs map[string]cty.Value
		want  string
	}{
		{map[string]cty.Value{"ad_account_id": cty.StringVal("123"), "access_token": cty.UnknownVal(cty.String)}, "access_token is not set: set the environment variable META_TOKEN"},
		{map[string]cty.Value{"ad_account_id": cty.StringVal("123")}, "access_token is required"},
		{map[string]cty.Value{"ad_account_id": cty.StringVal("12/3"), "access_token": cty.StringVal("x")}, "ad_account_id"},
		{map[string]cty.Value{"ad_account_id": cty.StringVal("123"), "access_token": cty.StringVal("x"), "endpoint": cty.StringVal("ftp://x")}, "endpoint is not an http"},
	} {
		_, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "meta_ads", Name: "m", Attributes: c.attrs, Unset: map[string]lang.Unset{"access_token": {Env: []string{"META_TOKEN"}}}}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%v) = %v, want %q", c.attrs, err, c.want)
		}
	}
}

func TestNoRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}))
	defer srv.Close()
	a := open(t, srv.URL, nil)
	if _, err := a.Ensure(context.Background(), "x", ""); err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("err = %v", err)
	}
}

func TestInspectAndDelete(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, nil)
	ctx := context.Background()
	const id = "23850000000000001"
	ok, size, err := a.Inspect(ctx, id)
	if err != nil || !ok || size != 1000 {
		t.Errorf("Inspect = %v, %d, %v; want true, 1000", ok, size, err)
	}
	if err := a.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	last := p.reqs[len(p.reqs)-1]
	if last.method != http.MethodDelete || last.path != "/v25.0/"+id || last.auth != "Bearer "+token || last.body != "" {
		t.Errorf("delete request %+v", last)
	}
	if ok, _, err := a.Inspect(ctx, id); err != nil || ok {
		t.Errorf("Inspect of a deleted audience = %v, %v; want false, nil", ok, err)
	}
	if err := a.Delete(ctx, id); err != nil {
		t.Errorf("Delete of an audience already gone: %v", err)
	}
	if err := a.Delete(ctx, "../act_123"); err == nil {
		t.Error("Delete took a path for an id")
	}
	p.deleted, p.fail = false, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"X"}}`
	if _, _, err := a.Inspect(ctx, id); err == nil || !strings.Contains(err.Error(), "(#190) Invalid OAuth access token") || strings.Contains(err.Error(), token) {
		t.Errorf("Inspect refused = %v", err)
	}
}

func TestAPIVersion(t *testing.T) {
	a := open(t, "http://127.0.0.1:9", map[string]cty.Value{"api_version": cty.StringVal("v26.0")})
	if a.base != "http://127.0.0.1:9/v26.0" {
		t.Errorf("base %q", a.base)
	}
	if a := open(t, "http://127.0.0.1:9", nil); a.base != "http://127.0.0.1:9/"+DefaultAPIVersion {
		t.Errorf("default base %q", a.base)
	}
}
