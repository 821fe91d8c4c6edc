package googleads

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

const (
	devToken = "dev-token-XYZ"
	refresh  = "1//refresh-secret"
	secret   = "client-secret-abc"
)

type request struct {
	method, path string
	header       http.Header
	body         string
}

// platform answers as the Google Ads REST API and Google's OAuth token
// endpoint document.
type platform struct {
	mu       sync.Mutex
	reqs     []request
	tokens   int
	jobs     int
	throttle int
	fail     string
	// statuses are the job statuses successive searches answer, the last
	// one for ever after; none: SUCCESS.
	statuses []string
	polls    int
	reason   string // the failureReason of a FAILED job
	listGone bool   // the user list was removed in Google Ads
	removed  []string
	noSearch bool // searches are refused
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, request{r.Method, r.URL.Path, r.Header.Clone(), string(b)})
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/token" {
		f, _ := url.ParseQuery(string(b))
		if f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != refresh || f.Get("client_secret") != secret {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"Bad Request"}`)
			return
		}
		p.tokens++
		fmt.Fprintf(w, `{"access_token":"ya29.token%d","expires_in":3599,"token_type":"Bearer"}`, p.tokens)
		return
	}
	if p.throttle > 0 {
		p.throttle--
		w.Header().Set("Retry-After", "4")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`)
		return
	}
	if p.fail != "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, p.fail)
		return
	}
	switch {
	case r.URL.Path == "/v26/customers/1234567890/userLists:mutate":
		var in struct {
			Operations []struct {
				Remove string `json:"remove"`
			} `json:"operations"`
		}
		json.Unmarshal(b, &in)
		if rm := in.Operations[0].Remove; rm != "" {
			if p.listGone {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure","errors":[{"errorCode":{"mutateError":"RESOURCE_NOT_FOUND"},"message":"Resource was not found."}],"requestId":"req-7"}]}}`)
				return
			}
			p.removed = append(p.removed, rm)
			fmt.Fprintf(w, `{"results":[{"resourceName":%q}]}`, rm)
			return
		}
		io.WriteString(w, `{"results":[{"resourceName":"customers/1234567890/userLists/555"}]}`)
	case r.URL.Path == "/v26/customers/1234567890/googleAds:search" && p.noSearch:
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`)
	case r.URL.Path == "/v26/customers/1234567890/googleAds:search":
		var in struct{ Query string }
		json.Unmarshal(b, &in)
		switch {
		case strings.Contains(in.Query, "FROM offline_user_data_job WHERE offline_user_data_job.resource_name = 'customers/1234567890/offlineUserDataJobs/"):
			status := "SUCCESS"
			if len(p.statuses) > 0 {
				status = p.statuses[min(p.polls, len(p.statuses)-1)]
			}
			p.polls++
			reason := ""
			if status == "FAILED" {
				reason = fmt.Sprintf(`,"failureReason":%q`, p.reason)
			}
			fmt.Fprintf(w, `{"results":[{"offlineUserDataJob":{"resourceName":"x","status":%q%s}}],"fieldMask":"offlineUserDataJob.resourceName,offlineUserDataJob.status,offlineUserDataJob.failureReason"}`, status, reason)
		case strings.Contains(in.Query, "FROM user_list WHERE user_list.resource_name = 'customers/1234567890/userLists/555'"):
			if p.listGone {
				io.WriteString(w, `{"fieldMask":"userList.resourceName,userList.sizeForSearch"}`)
				return
			}
			io.WriteString(w, `{"results":[{"userList":{"resourceName":"customers/1234567890/userLists/555","sizeForSearch":"4200"}}],"fieldMask":"userList.resourceName,userList.sizeForSearch"}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"code":400,"message":"unexpected query %s","status":"INVALID_ARGUMENT"}}`, in.Query)
		}
	case r.URL.Path == "/v26/customers/1234567890/offlineUserDataJobs:create":
		p.jobs++
		fmt.Fprintf(w, `{"resourceName":"customers/1234567890/offlineUserDataJobs/%d"}`, 900+p.jobs)
	case strings.HasSuffix(r.URL.Path, ":addOperations"):
		io.WriteString(w, `{}`)
	case strings.HasSuffix(r.URL.Path, ":run"):
		io.WriteString(w, `{"name":"customers/1234567890/operations/abc"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`)
	}
}

func open(t *testing.T, endpoint string, extra map[string]cty.Value) *Audience {
	t.Helper()
	attrs := map[string]cty.Value{
		"customer_id":       cty.StringVal("123-456-7890"),
		"login_customer_id": cty.StringVal("999-000-1111"),
		"developer_token":   cty.StringVal(devToken),
		"client_id":         cty.StringVal("cid.apps.googleusercontent.com"),
		"client_secret":     cty.StringVal(secret),
		"refresh_token":     cty.StringVal(refresh),
		"endpoint":          cty.StringVal(endpoint),
	}
	for k, v := range extra {
		attrs[k] = v
	}
	a, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "google_ads", Name: "main", Attributes: attrs}})
	if err != nil {
		t.Fatal(err)
	}
	a.c.Sleep = func(context.Context, time.Duration) error { return nil }
	t.Cleanup(func() { a.Close() })
	return a
}

func TestEnsureAddRemove(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, nil)
	ctx := context.Background()
	id, err := a.Ensure(ctx, "lapsed_seed", "")
	if err != nil || id != "customers/1234567890/userLists/555" {
		t.Fatalf("Ensure = %q, %v", id, err)
	}
	ms := []providers.Member{
		{CustomerID: "a", Email: " Cloudy.SanFrancisco+shopping@gmail.com", Phone: "+1 (800) 555-0100"},
		{CustomerID: "b", Email: "user.name+NYC@Example.com"},
		{CustomerID: "c", Phone: "(800) 555-0100"}, // no country code: nothing left to send
	}
	if err := a.Add(ctx, id, ms); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, id, ms[1:2]); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range p.reqs {
		paths = append(paths, r.method+" "+r.path)
		if strings.Contains(strings.ToLower(r.body), "example.com") || strings.Contains(strings.ToLower(r.body), "gmail") || strings.Contains(r.body, "8005550100") {
			t.Fatalf("a raw identifier left in %s", r.path)
		}
		if r.path == "/token" {
			continue
		}
		h := r.header
		if h.Get("Authorization") != "Bearer ya29.token1" || h.Get("Developer-Token") != devToken || h.Get("Login-Customer-Id") != "9990001111" {
			t.Errorf("%s: headers %v", r.path, h)
		}
	}
	want := []string{
		"POST /token",
		"POST /v26/customers/1234567890/userLists:mutate",
		"POST /v26/customers/1234567890/offlineUserDataJobs:create",
		"POST /v26/customers/1234567890/offlineUserDataJobs/901:addOperations",
		"POST /v26/customers/1234567890/offlineUserDataJobs/901:run",
		"POST /v26/customers/1234567890/googleAds:search",
		"POST /v26/customers/1234567890/offlineUserDataJobs:create",
		"POST /v26/customers/1234567890/offlineUserDataJobs/902:addOperations",
		"POST /v26/customers/1234567890/offlineUserDataJobs/902:run",
		"POST /v26/customers/1234567890/googleAds:search",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	var create struct {
		Operations []struct {
			Create map[string]any `json:"create"`
		} `json:"operations"`
	}
	json.Unmarshal([]byte(p.reqs[1].body), &create)
	cr := create.Operations[0].Create
	if cr["name"] != "lapsed_seed" || fmt.Sprint(cr["crmBasedUserList"]) != "map[dataSourceType:FIRST_PARTY uploadKeyType:CONTACT_INFO]" {
		t.Errorf("user list %v", cr)
	}
	var job struct {
		Job struct {
			Type string `json:"type"`
			Meta struct {
				UserList string `json:"userList"`
			} `json:"customerMatchUserListMetadata"`
		} `json:"job"`
	}
	json.Unmarshal([]byte(p.reqs[2].body), &job)
	if job.Job.Type != "CUSTOMER_MATCH_USER_LIST" || job.Job.Meta.UserList != id {
		t.Errorf("job %+v", job)
	}
	var add struct{ Operations []Operation }
	json.Unmarshal([]byte(p.reqs[3].body), &add)
	wantOps := []Operation{
		{Create: &UserData{[]UserIdentifier{{HashedEmail: adhash.Hash("cloudysanfrancisco@gmail.com")}, {HashedPhoneNumber: adhash.Hash("+18005550100")}}}},
		{Create: &UserData{[]UserIdentifier{{HashedEmail: adhash.Hash("user.name+nyc@example.com")}}}},
	}
	got, _ := json.Marshal(add.Operations)
	exp, _ := json.Marshal(wantOps)
	if string(got) != string(exp) {
		t.Errorf("operations\n%s\nwant\n%s", got, exp)
	}
	var rm struct{ Operations []Operation }
	json.Unmarshal([]byte(p.reqs[7].body), &rm)
	if len(rm.Operations) != 1 || rm.Operations[0].Remove == nil || rm.Operations[0].Create != nil {
		t.Errorf("remove operations %+v", rm.Operations)
	}
}

func TestIdentifierLimit(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed")})
	ms := make([]providers.Member, 60000) // one e-mail each, no phone
	for i := range ms {
		ms[i] = providers.Member{CustomerID: fmt.Sprint(i), Email: fmt.Sprintf("p%d@example.com", i)}
	}
	ops := a.Operations(false, ms)
	ops = append(ops, ops...) // 120,000 identifiers: two requests
	if err := a.job(context.Background(), "customers/1/userLists/2", ops); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, r := range p.reqs {
		if r.header.Get("Authorization") != "Bearer ya29.fixed" {
			t.Fatalf("auth %q", r.header.Get("Authorization"))
		}
		if strings.HasSuffix(r.path, ":addOperations") {
			var in struct{ Operations []Operation }
			json.Unmarshal([]byte(r.body), &in)
			sizes = append(sizes, len(in.Operations))
		}
	}
	if fmt.Sprint(sizes) != "[100000 20000]" {
		t.Errorf("addOperations sizes %v, want [100000 20000]", sizes)
	}
	if p.tokens != 0 {
		t.Errorf("access_token given, yet %d token exchanges", p.tokens)
	}
	if a.BatchSize()*2 > MaxIdentifiers {
		t.Errorf("BatchSize %d: two identifiers each exceed %d", a.BatchSize(), MaxIdentifiers)
	}
}

func TestRetryAndErrors(t *testing.T) {
	p := &platform{throttle: 1}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, nil)
	if _, err := a.Ensure(context.Background(), "x", ""); err != nil {
		t.Fatal(err)
	}
	if len(a.c.Waited) != 1 || a.c.Waited[0] < 4*time.Second {
		t.Errorf("waits %v", a.c.Waited)
	}
	p.fail = `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure","errors":[{"errorCode":{"userListError":"NAME_ALREADY_USED"},"message":"Name is already being used for another user list ` + devToken + ` x@example.com"}],"requestId":"req-42"}]}}`
	_, err := a.Ensure(context.Background(), "x", "")
	if err == nil || strings.Contains(err.Error(), devToken) || strings.Contains(err.Error(), "x@example.com") ||
		!strings.Contains(err.Error(), "INVALID_ARGUMENT") || !strings.Contains(err.Error(), "request id req-42") {
		t.Errorf("err = %v", err)
	}
	if err := a.Add(context.Background(), "customers/1/userLists/x", nil); err == nil {
		t.Error("a bad list name was accepted")
	}
}

func TestOpen(t *testing.T) {
	for _, c := range []struct {
		attrs map[string]cty.Value
		want  string
	}{
		{map[string]cty.Value{"customer_id": cty.StringVal("1"), "access_token": cty.StringVal("t")}, "developer_token is required"},
		{map[string]cty.Value{"customer_id": cty.StringVal("1"), "developer_token": cty.StringVal("d")}, "no credentials"},
		{map[string]cty.Value{"customer_id": cty.StringVal("1"), "developer_token": cty.UnknownVal(cty.String), "access_token": cty.StringVal("t")}, "developer_token is not set: set the environment variable GOOGLE_ADS_DEVELOPER_TOKEN"},
		{map[string]cty.Value{"customer_id": cty.StringVal("abc"), "developer_token": cty.StringVal("d"), "access_token": cty.StringVal("t")}, "customer_id must be"},
	} {
		_, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "google_ads", Name: "g", Attributes: c.attrs, Unset: map[string]lang.Unset{"developer_token": {Env: []string{"GOOGLE_ADS_DEVELOPER_TOKEN"}}}}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open = %v, want %q", err, c.want)
		}
	}
	a, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "google_ads", Name: "g", Attributes: map[string]cty.Value{
		"customer_id": cty.StringVal("1"), "developer_token": cty.StringVal("d"), "access_token": cty.StringVal("t")}}})
	if err != nil || a.base != "https://googleads.googleapis.com/v26" || a.tokenURL != DefaultTokenURL {
		t.Errorf("defaults: %v, %q, %q", err, a.base, a.tokenURL)
	}
}

// clock is a fake time that Sleep moves on, recording each pause.
type clock struct {
	now    time.Time
	pauses []time.Duration
}

func (c *clock) use(a *Audience) {
	a.c.Now = func() time.Time { return c.now }
	a.c.Sleep = func(_ context.Context, d time.Duration) error {
		c.pauses = append(c.pauses, d)
		c.now = c.now.Add(d)
		return nil
	}
}

const list = "customers/1234567890/userLists/555"

var member = []providers.Member{{CustomerID: "a", Email: "ann@example.com"}}

func TestJobPolledUntilSuccess(t *testing.T) {
	p := &platform{statuses: []string{"PENDING", "RUNNING", "RUNNING", "SUCCESS"}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed")})
	c := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	c.use(a)
	if err := a.Add(context.Background(), list, member); err != nil {
		t.Fatal(err)
	}
	if p.polls != 4 || fmt.Sprint(c.pauses) != "[2s 4s 8s]" {
		t.Errorf("%d polls, pauses %v; want 4 polls, pauses [2s 4s 8s]", p.polls, c.pauses)
	}
	if w := a.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}

func TestJobFailed(t *testing.T) {
	p := &platform{statuses: []string{"RUNNING", "FAILED"}, reason: "INSUFFICIENT_MATCHED_TRANSACTIONS"}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed")})
	(&clock{now: time.Now()}).use(a)
	err := a.Add(context.Background(), list, member)
	if err == nil || !strings.Contains(err.Error(), "offlineUserDataJobs/901: FAILED: INSUFFICIENT_MATCHED_TRANSACTIONS") {
		t.Errorf("err = %v, want the job and Google's failure reason", err)
	}
}

func TestJobStillRunning(t *testing.T) {
	p := &platform{statuses: []string{"RUNNING"}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed"), "job_wait": cty.StringVal("1m")})
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := &clock{now: start}
	c.use(a)
	if err := a.Add(context.Background(), list, member); err != nil {
		t.Fatalf("a job Google is still running failed the sync: %v", err)
	}
	// 2+4+8+16+30 = 60s: the bound is kept, the last pause cut to fit.
	if got := c.now.Sub(start); got != time.Minute || fmt.Sprint(c.pauses) != "[2s 4s 8s 16s 30s]" {
		t.Errorf("waited %s in pauses %v", got, c.pauses)
	}
	w := a.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "customers/1234567890/offlineUserDataJobs/901 is still running after 1m0s: Google will finish it") {
		t.Errorf("warnings %q", w)
	}
	if len(a.Warnings()) != 0 {
		t.Error("Warnings did not forget what it returned")
	}
	// A status Google will not tell is not a failure of the batch.
	p.polls, p.fail = 0, ""
	p.statuses = []string{"RUNNING"}
	a2 := open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed")})
	(&clock{now: start}).use(a2)
	p.mu.Lock()
	p.noSearch = true
	p.mu.Unlock()
	if err := a2.Add(context.Background(), list, member); err != nil {
		t.Errorf("an unreadable job status failed the batch: %v", err)
	}
	if w := a2.Warnings(); len(w) != 1 || !strings.Contains(w[0], "could not read the status of customers/1234567890/offlineUserDataJobs/") || !strings.Contains(w[0], "PERMISSION_DENIED") {
		t.Errorf("warnings %q", w)
	}

	// job_wait = "0s": run and return.
	p.polls = 0
	a = open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed"), "job_wait": cty.StringVal("0s")})
	if err := a.Add(context.Background(), list, member); err != nil || p.polls != 0 {
		t.Errorf("job_wait 0s: %v, %d polls", err, p.polls)
	}
}

func TestInspectAndDelete(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	a := open(t, srv.URL, map[string]cty.Value{"access_token": cty.StringVal("ya29.fixed")})
	ctx := context.Background()
	ok, size, err := a.Inspect(ctx, list)
	if err != nil || !ok || size != 4200 {
		t.Errorf("Inspect = %v, %d, %v; want true, 4200", ok, size, err)
	}
	if err := a.Delete(ctx, list); err != nil || fmt.Sprint(p.removed) != "["+list+"]" {
		t.Errorf("Delete = %v, removed %v", err, p.removed)
	}
	p.listGone = true
	if ok, _, err := a.Inspect(ctx, list); err != nil || ok {
		t.Errorf("Inspect of a removed list = %v, %v; want false, nil", ok, err)
	}
	// Removed in Google Ads already: the delete has nothing left to do.
	if err := a.Delete(ctx, list); err != nil {
		t.Errorf("Delete of a removed list: %v", err)
	}
	if _, _, err := a.Inspect(ctx, "customers/1/userLists/2' OR 1=1"); err == nil {
		t.Error("Inspect put a bad resource name in a query")
	}
	p.listGone, p.fail = false, `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`
	if err := a.Delete(ctx, list); err == nil || !strings.Contains(err.Error(), "PERMISSION_DENIED") {
		t.Errorf("Delete refused = %v", err)
	}
}

func TestAPIVersion(t *testing.T) {
	base := map[string]cty.Value{"customer_id": cty.StringVal("1"), "developer_token": cty.StringVal("d"), "access_token": cty.StringVal("t")}
	with := func(kv ...string) map[string]cty.Value {
		m := map[string]cty.Value{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = cty.StringVal(kv[i+1])
		}
		return m
	}
	for _, c := range []struct {
		attrs     map[string]cty.Value
		base, err string
	}{
		{with("api_version", "v27"), "https://googleads.googleapis.com/v27", ""},
		{with("endpoint", "http://127.0.0.1:9/v25"), "http://127.0.0.1:9/v25", ""},
		{with("endpoint", "http://127.0.0.1:9", "api_version", "v25"), "http://127.0.0.1:9/v25", ""},
		{with("endpoint", "http://127.0.0.1:9/v25", "api_version", "v25"), "http://127.0.0.1:9/v25", ""},
		{with("endpoint", "http://127.0.0.1:9/v25", "api_version", "v26"), "", "endpoint ends in version v25 but api_version is v26"},
		{with("api_version", "26"), "", `api_version "26" is not a Google Ads API version`},
		{with("job_wait", "soon"), "", `job_wait "soon" is not a duration`},
	} {
		a, err := Open(context.Background(), providers.AudienceRequest{Provider: &lang.Provider{Type: "google_ads", Name: "g", Attributes: c.attrs}})
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: err %v, want %q", c.attrs, err, c.err)
		case c.err == "" && (err != nil || a.base != c.base):
			t.Errorf("%v: %v, base %q, want %q", c.attrs, err, a.base, c.base)
		}
	}
}
