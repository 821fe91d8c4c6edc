package linkedinads

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/adhash"
)

const token = "AQV-linkedin-secret"

type request struct {
	method, path string
	header       http.Header
	body         string
}

type platform struct {
	mu       sync.Mutex
	reqs     []request
	throttle int
	fail     string
	deleted  bool
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, request{r.Method, r.URL.Path, r.Header.Clone(), string(b)})
	throttle := p.throttle > 0
	if throttle {
		p.throttle--
	}
	fail, deleted := p.fail, p.deleted
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case throttle:
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"message":"Resource level throttle limit exceeded","status":429}`)
	case fail != "":
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, fail)
	case r.Method == http.MethodPost && r.URL.Path == "/rest/dmpSegments":
		w.Header().Set("X-Restli-Id", "987654")
		w.WriteHeader(http.StatusCreated)
	case r.URL.Path == "/rest/dmpSegments/987654" && deleted:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Not found: DmpSegment 987654","serviceErrorCode":0,"status":404}`)
	case r.Method == http.MethodGet && r.URL.Path == "/rest/dmpSegments/987654":
		io.WriteString(w, `{"id":987654,"name":"seed","account":"urn:li:sponsoredAccount:507404993","type":"USER","sourcePlatform":"LIST_UPLOAD","accessPolicy":"PRIVATE","destinations":[{"destination":"LINKEDIN","status":"READY","audienceSize":3100,"matchedCount":3400}]}`)
	case r.Method == http.MethodDelete && r.URL.Path == "/rest/dmpSegments/987654":
		p.mu.Lock()
		p.deleted = true
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/rest/dmpSegments/987654/users" && r.Header.Get("X-Restli-Method") == "BATCH_CREATE":
		var in struct{ Elements []Element }
		json.Unmarshal(b, &in)
		var st []string
		for range in.Elements {
			st = append(st, `{"status":201}`)
		}
		fmt.Fprintf(w, `{"elements":[%s]}`, strings.Join(st, ","))
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"Not found","status":404}`)
	}
}

func open(t *testing.T, endpoint string, extra ...string) *Audience {
	t.Helper()
	attrs := map[string]cty.Value{
		"ad_account_id": cty.StringVal("507404993"),
		"access_token":  cty.StringVal(token),
		"endpoint":      cty.StringVal(endpoint + "/rest"),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = cty.StringVal(extra[i+1])
	}
	a, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "linkedin_ads", Name: "main", Attributes: attrs}})
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
		out[i] = providers.Member{CustomerID: fmt.Sprintf("c%d", i), Email: fmt.Sprintf(" Person.%d@Example.COM", i), Phone: "+16505551212"}
	}
	return out
}

func TestEnsureAddRemove(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	ctx := context.Background()
	id, err := a.Ensure(ctx, "lapsed_seed", "")
	if err != nil || id != "987654" {
		t.Fatalf("Ensure = %q, %v", id, err)
	}
	if len(a.c.Waited) != 0 {
		t.Errorf("waits %v", a.c.Waited)
	}
	var seg Segment
	json.Unmarshal([]byte(p.reqs[0].body), &seg)
	if seg.Name != "lapsed_seed" || seg.Account != "urn:li:sponsoredAccount:507404993" || seg.Type != "USER" ||
		len(seg.Destinations) != 1 || seg.Destinations[0].Destination != "LINKEDIN" {
		t.Errorf("segment %+v", seg)
	}
	ms := append(members(12001), providers.Member{CustomerID: "nomail", Phone: "+16505551212"})
	if err := a.Add(ctx, id, ms); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, id, ms[:2]); err != nil {
		t.Fatal(err)
	}
	var sizes []string
	for i, r := range p.reqs {
		h := r.header
		if h.Get("Authorization") != "Bearer "+token || h.Get("Linkedin-Version") != Version || h.Get("X-Restli-Protocol-Version") != "2.0.0" {
			t.Errorf("request %d headers %v", i, h)
		}
		if strings.Contains(strings.ToLower(r.body), "example.com") || strings.Contains(r.body, "16505551212") {
			t.Fatal("a raw identifier left in a request body")
		}
		if i == 0 {
			continue
		}
		var in struct{ Elements []Element }
		if err := json.Unmarshal([]byte(r.body), &in); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fmt.Sprintf("%s:%d", in.Elements[0].Action, len(in.Elements)))
		for _, e := range in.Elements {
			if len(e.UserIDs) != 1 || e.UserIDs[0].IDType != "SHA256_EMAIL" || len(e.UserIDs[0].IDValue) != 64 {
				t.Fatalf("element %+v", e)
			}
		}
	}
	if got := strings.Join(sizes, " "); got != "ADD:5000 ADD:5000 ADD:2001 REMOVE:2" {
		t.Errorf("batches %s", got)
	}
	var first struct{ Elements []Element }
	json.Unmarshal([]byte(p.reqs[1].body), &first)
	if got, want := first.Elements[0].UserIDs[0].IDValue, adhash.Hash("person.0@example.com"); got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
}

func TestCreatedPause(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	var slept []time.Duration
	a.c.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	if _, err := a.Ensure(context.Background(), "x", ""); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] != 5*time.Second {
		t.Errorf("slept %v, want the documented 5s after creating a segment", slept)
	}
}

func TestRetryAndErrors(t *testing.T) {
	p := &platform{throttle: 1}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	if err := a.Add(context.Background(), "987654", members(1)); err != nil {
		t.Fatal(err)
	}
	if len(a.c.Waited) != 1 || a.c.Waited[0] < 2*time.Second {
		t.Errorf("waits %v", a.c.Waited)
	}
	p.fail = `{"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions for ` + token + ` person.0@example.com","status":400}`
	err := a.Add(context.Background(), "987654", members(1))
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "person.0@example.com") || !strings.Contains(err.Error(), "ACCESS_DENIED") {
		t.Errorf("err = %v", err)
	}
	if err := a.Add(context.Background(), "98/7", members(1)); err == nil {
		t.Error("a bad id was accepted")
	}
}

func TestInspectAndDelete(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL)
	ctx := context.Background()
	ok, size, err := a.Inspect(ctx, "987654")
	if err != nil || !ok || size != 3100 {
		t.Errorf("Inspect = %v, %d, %v; want true, 3100 (audienceSize, not matchedCount)", ok, size, err)
	}
	if err := a.Delete(ctx, "987654"); err != nil {
		t.Fatal(err)
	}
	last := p.reqs[len(p.reqs)-1]
	if last.method != http.MethodDelete || last.header.Get("Linkedin-Version") != Version || last.header.Get("X-Restli-Protocol-Version") != "2.0.0" ||
		last.header.Get("Authorization") != "Bearer "+token {
		t.Errorf("delete request %s %s %v", last.method, last.path, last.header)
	}
	if ok, _, err := a.Inspect(ctx, "987654"); err != nil || ok {
		t.Errorf("Inspect of a deleted segment = %v, %v; want false, nil", ok, err)
	}
	if err := a.Delete(ctx, "987654"); err != nil {
		t.Errorf("Delete of a segment already gone: %v", err)
	}
	if _, _, err := a.Inspect(ctx, "98/7654"); err == nil {
		t.Error("Inspect took a path for an id")
	}
	p.fail = `{"message":"Not enough permissions to access: dmpSegments.DELETE.20251101","serviceErrorCode":100,"status":403}`
	if err := a.Delete(ctx, "987654"); err == nil || !strings.Contains(err.Error(), "Not enough permissions") {
		t.Errorf("Delete refused = %v", err)
	}
}

func TestAPIVersion(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, "api_version", "202601")
	if _, _, err := a.Inspect(context.Background(), "987654"); err != nil {
		t.Fatal(err)
	}
	if v := p.reqs[0].header.Get("Linkedin-Version"); v != "202601" {
		t.Errorf("LinkedIn-Version %q, want 202601", v)
	}
	for _, bad := range []string{"2026-01", "v202601", "202613"} {
		_, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "linkedin_ads", Name: "main", Attributes: map[string]cty.Value{
			"ad_account_id": cty.StringVal("1"), "access_token": cty.StringVal("t"), "api_version": cty.StringVal(bad)}}})
		if err == nil || !strings.Contains(err.Error(), "is not a LinkedIn Marketing API version") {
			t.Errorf("api_version %q: %v", bad, err)
		}
	}
}

// LinkedIn's documentation has no example of an address and its digest:
// the idValue samples of the DMP Segment Users page are opaque (one is 63
// hex digits, not even a SHA-256). So the digest below was computed
// outside Go, with coreutils and Python:
//
//	printf '%s' 'jane.doe@example.com' | sha256sum
//	python3 -c "import hashlib; print(hashlib.sha256(b'jane.doe@example.com').hexdigest())"
func TestElementsHash(t *testing.T) {
	els := Elements("ADD", []providers.Member{{CustomerID: "j", Email: "  Jane.Doe@Example.COM "}, {CustomerID: "n", Phone: "+16505551212"}})
	if len(els) != 1 || els[0].UserIDs[0].IDType != "SHA256_EMAIL" ||
		els[0].UserIDs[0].IDValue != "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d" {
		t.Errorf("elements %+v", els)
	}
}
