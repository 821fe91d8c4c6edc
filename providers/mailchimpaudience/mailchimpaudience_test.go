package mailchimpaudience

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

const key = "0123456789abcdef0123456789abcdef-us6"

type request struct {
	method, path, user, pass string
	body                     string
}

// platform is a Mailchimp list as the Marketing API documents it: members
// by subscriber hash with a status and tags.
type platform struct {
	mu       sync.Mutex
	reqs     []request
	status   map[string]string          // hash → status
	tags     map[string]map[string]bool // hash → tag → active
	empty    map[string]bool            // tags created without members
	throttle int
}

func newPlatform() *platform {
	return &platform{status: map[string]string{}, tags: map[string]map[string]bool{}, empty: map[string]bool{}}
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, request{r.Method, r.URL.Path, user, pass, string(b)})
	w.Header().Set("Content-Type", "application/problem+json")
	if p.throttle > 0 {
		p.throttle--
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"title":"Too Many Requests","status":429,"detail":"You have exceeded the limit of 10 simultaneous connections."}`)
		return
	}
	if pass != key {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"title":"API Key Invalid","status":401,"detail":"Your API key may be invalid."}`)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/3.0/lists/L1"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 1:
		io.WriteString(w, `{"id":"L1"}`)
	case r.Method == http.MethodPut && len(parts) == 3 && parts[1] == "members":
		var m map[string]any
		json.Unmarshal(b, &m)
		if _, ok := m["status"]; ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"title":"test","detail":"status sent"}`)
			return
		}
		email, _ := m["email_address"].(string)
		if SubscriberHash(email) != parts[2] {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"title":"Invalid Resource","status":400,"detail":"The resource submitted could not be validated."}`)
			return
		}
		if strings.HasPrefix(email, "fake") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"title":"Invalid Resource","status":400,"detail":"%s looks fake or invalid, please enter a real email address."}`, email)
			return
		}
		if _, ok := p.status[parts[2]]; !ok {
			p.status[parts[2]] = m["status_if_new"].(string)
		}
		fmt.Fprintf(w, `{"id":%q,"status":%q}`, parts[2], p.status[parts[2]])
	case r.Method == http.MethodGet && len(parts) == 2 && parts[1] == "segments":
		// Each tag is a static segment; ids in name order from 100.
		q := r.URL.Query()
		if q.Get("type") != "static" || q.Get("fields") == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"title":"test","detail":"want type=static and fields"}`)
			return
		}
		var segs []string
		for i, name := range p.tagNames() {
			n := 0
			for _, ts := range p.tags {
				if ts[name] {
					n++
				}
			}
			segs = append(segs, fmt.Sprintf(`{"id":%d,"name":%q,"member_count":%d}`, 100+i, name, n))
		}
		fmt.Fprintf(w, `{"segments":[%s],"total_items":%d}`, strings.Join(segs, ","), len(segs))
	case r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "segments":
		var in struct {
			Name   string   `json:"name"`
			Static []string `json:"static_segment"`
		}
		json.Unmarshal(b, &in)
		if in.Name == "" || in.Static == nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"title":"Invalid Resource","status":400,"detail":"name and static_segment are required"}`)
			return
		}
		p.empty[in.Name] = true
		fmt.Fprintf(w, `{"id":1,"name":%q,"member_count":0,"type":"static"}`, in.Name)
	case r.Method == http.MethodDelete && len(parts) == 3 && parts[1] == "segments":
		names := p.tagNames()
		var i int
		fmt.Sscan(parts[2], &i)
		if i < 100 || i-100 >= len(names) {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"title":"Resource Not Found","status":404}`)
			return
		}
		for _, ts := range p.tags {
			delete(ts, names[i-100])
		}
		delete(p.empty, names[i-100])
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[3] == "tags":
		if _, ok := p.status[parts[2]]; !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"title":"Resource Not Found","status":404,"detail":"The requested resource could not be found."}`)
			return
		}
		var in Tags
		json.Unmarshal(b, &in)
		if p.tags[parts[2]] == nil {
			p.tags[parts[2]] = map[string]bool{}
		}
		for _, t := range in.Tags {
			p.tags[parts[2]][t.Name] = t.Status == "active"
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"title":"Resource Not Found","status":404}`)
	}
}

// tagNames are the list's tags in name order.
func (p *platform) tagNames() []string {
	seen := map[string]bool{}
	var names []string
	for n := range p.empty {
		seen[n] = true
		names = append(names, n)
	}
	for _, ts := range p.tags {
		for n := range ts {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names
}

func open(t *testing.T, endpoint string) *Audience {
	t.Helper()
	a, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "mailchimp_audience", Name: "news", Attributes: map[string]cty.Value{
		"api_key":  cty.StringVal(key),
		"list_id":  cty.StringVal("L1"),
		"endpoint": cty.StringVal(endpoint + "/3.0"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	a.c.Sleep = func(context.Context, time.Duration) error { return nil }
	t.Cleanup(func() { a.Close() })
	return a
}

func TestSubscriberHash(t *testing.T) {
	// Mailchimp's documentation gives this example of the MD5 hash of the
	// lower-cased e-mail address.
	if got, want := SubscriberHash("Urist.McVankab@freddiesjokes.com"), "62eeb292278cc15f5817cb78f7790b08"; got != want {
		t.Errorf("SubscriberHash = %s, want %s", got, want)
	}
}

func TestSync(t *testing.T) {
	p := newPlatform()
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	ctx := context.Background()
	// One member already unsubscribed, one cleaned.
	p.status[SubscriberHash("gone@example.com")] = "unsubscribed"
	p.status[SubscriberHash("bounced@example.com")] = "cleaned"

	tag, err := a.Ensure(ctx, "lapsed_seed", "")
	if err != nil || tag != "lapsed_seed" {
		t.Fatalf("Ensure = %q, %v", tag, err)
	}
	ms := []providers.Member{
		{CustomerID: "a", Email: "New.Person@Example.com", Phone: "+16505551212"},
		{CustomerID: "b", Email: "gone@example.com"},
		{CustomerID: "c", Email: "bounced@example.com"},
		{CustomerID: "d", Email: "fake@example.com"},
		{CustomerID: "e", Phone: "+16505551212"},
	}
	if err := a.Add(ctx, tag, ms); err != nil {
		t.Fatal(err)
	}
	if a.Skipped() != 1 {
		t.Errorf("Skipped = %d, want 1 (the fake address)", a.Skipped())
	}
	want := map[string]string{
		SubscriberHash("new.person@example.com"): StatusIfNew,
		SubscriberHash("gone@example.com"):       "unsubscribed",
		SubscriberHash("bounced@example.com"):    "cleaned",
	}
	for h, st := range want {
		if p.status[h] != st {
			t.Errorf("member %s status %q, want %q: a member was re-subscribed", h, p.status[h], st)
		}
		if !p.tags[h][tag] {
			t.Errorf("member %s not tagged", h)
		}
	}
	for _, r := range p.reqs {
		if r.user == "" || r.pass != key {
			t.Errorf("%s %s: basic auth %q:%q", r.method, r.path, r.user, r.pass)
		}
		if strings.Contains(r.body, "6505551212") || strings.Contains(r.body, `"merge_fields"`) || strings.Contains(r.body, `"status":`) && r.method == http.MethodPut {
			t.Errorf("%s %s sent more than the address: %s", r.method, r.path, r.body)
		}
	}
	if err := a.Remove(ctx, tag, []providers.Member{ms[1], {CustomerID: "z", Email: "never@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if p.tags[SubscriberHash("gone@example.com")][tag] {
		t.Error("tag still active after Remove")
	}
	if p.status[SubscriberHash("gone@example.com")] != "unsubscribed" {
		t.Error("Remove changed the status")
	}
	var methods []string
	for _, r := range p.reqs {
		methods = append(methods, r.method)
	}
	sort.Strings(methods)
	// One GET of the tags and one POST creating the tag, then per member.
	if got := strings.Join(methods, " "); got != "GET POST POST POST POST POST POST PUT PUT PUT PUT" {
		t.Errorf("requests %s", got)
	}
}

func TestErrors(t *testing.T) {
	p := newPlatform()
	p.throttle = 1
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	if _, err := a.Ensure(context.Background(), "t", ""); err != nil {
		t.Fatal(err)
	}
	if len(a.c.Waited) != 1 || a.c.Waited[0] < time.Second {
		t.Errorf("waits %v", a.c.Waited)
	}
	a.key = "wrong-us6"
	_, err := a.Ensure(context.Background(), "t", "")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "API Key Invalid") {
		t.Errorf("err = %v", err)
	}
	for _, c := range []struct {
		attrs map[string]cty.Value
		want  string
	}{
		{map[string]cty.Value{"api_key": cty.StringVal("nodc"), "list_id": cty.StringVal("L")}, "data centre"},
		{map[string]cty.Value{"api_key": cty.UnknownVal(cty.String), "list_id": cty.StringVal("L")}, "api_key is not set: set the environment variable MAILCHIMP_API_KEY"},
		{map[string]cty.Value{"api_key": cty.StringVal("k-us6")}, "list_id"},
	} {
		_, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "mailchimp_audience", Name: "n", Attributes: c.attrs, Unset: map[string]lang.Unset{"api_key": {Env: []string{"MAILCHIMP_API_KEY"}}}}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open = %v, want %q", err, c.want)
		}
	}
	d, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "mailchimp_audience", Name: "n", Attributes: map[string]cty.Value{
		"api_key": cty.StringVal("k-us6"), "list_id": cty.StringVal("L")}}})
	if err != nil || d.base != "https://us6.api.mailchimp.com/3.0/lists/L" {
		t.Errorf("default endpoint: %v %q", err, d.base)
	}
}

func TestInspectAndDelete(t *testing.T) {
	p := newPlatform()
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	ctx := context.Background()
	ms := []providers.Member{{CustomerID: "a", Email: "ann@example.com"}, {CustomerID: "b", Email: "bob@example.com"}}
	if err := a.Add(ctx, "seed", ms); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ctx, "other", ms[:1]); err != nil {
		t.Fatal(err)
	}
	ok, size, err := a.Inspect(ctx, "seed")
	if err != nil || !ok || size != 2 {
		t.Errorf("Inspect = %v, %d, %v; want true, 2", ok, size, err)
	}
	if err := a.Delete(ctx, "seed"); err != nil {
		t.Fatal(err)
	}
	// The tag is gone from everyone; the members, their status and their
	// other tags stay, and no list was deleted.
	if ok, _, err := a.Inspect(ctx, "seed"); err != nil || ok {
		t.Errorf("Inspect after Delete = %v, %v", ok, err)
	}
	if len(p.status) != 2 || !p.tags[SubscriberHash("ann@example.com")]["other"] {
		t.Errorf("members %v, tags %v", p.status, p.tags)
	}
	for _, r := range p.reqs {
		if r.method == http.MethodDelete && !strings.HasPrefix(r.path, "/3.0/lists/L1/segments/") {
			t.Errorf("deleted %s", r.path)
		}
	}
	if err := a.Delete(ctx, "seed"); err != nil {
		t.Errorf("Delete of a tag already gone: %v", err)
	}
	p.reqs = nil
	b := open(t, srv.URL)
	b.base = srv.URL + "/3.0/lists/L2" // a list Mailchimp does not have
	if _, _, err := b.Inspect(ctx, "seed"); err == nil || !strings.Contains(err.Error(), "the Mailchimp audience (list) is gone") {
		t.Errorf("Inspect of a missing list = %v", err)
	}
}

func TestEnsureCreatesAnEmptyTag(t *testing.T) {
	p := newPlatform()
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	ctx := context.Background()
	if tag, err := a.Ensure(ctx, "seed", ""); err != nil || tag != "seed" {
		t.Fatalf("Ensure = %q, %v", tag, err)
	}
	// Before anyone is tagged, the tag exists: a later plan sees no drift.
	if ok, size, err := a.Inspect(ctx, "seed"); err != nil || !ok || size != 0 {
		t.Errorf("Inspect = %v, %d, %v; want true, 0", ok, size, err)
	}
	posts := 0
	for _, r := range p.reqs {
		if r.method == http.MethodPost && r.path == "/3.0/lists/L1/segments" {
			posts++
		}
	}
	// Ensure of a tag that exists creates nothing.
	if _, err := a.Ensure(ctx, "seed", ""); err != nil || posts != 1 {
		t.Errorf("Ensure again: %v, %d creates", err, posts)
	}
}
