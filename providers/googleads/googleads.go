// Package googleads is the "google_ads" audience provider: it keeps a
// Google Ads Customer Match user list in step with a segment, through the
// Google Ads API's REST interface:
//
//	POST {endpoint}/customers/{customer_id}/userLists:mutate
//	     {"operations": [{"create": {"name": ..., "crmBasedUserList":
//	       {"uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"}, ...}}]}
//	POST {endpoint}/customers/{customer_id}/offlineUserDataJobs:create
//	     {"job": {"type": "CUSTOMER_MATCH_USER_LIST",
//	              "customerMatchUserListMetadata": {"userList": <list resource name>}}}
//	POST {endpoint}/{job resource name}:addOperations
//	     {"operations": [{"create"|"remove": {"userIdentifiers":
//	       [{"hashedEmail": <hex>}, {"hashedPhoneNumber": <hex>}]}}, ...]}
//	POST {endpoint}/{job resource name}:run
//	POST {endpoint}/customers/{customer_id}/googleAds:search
//	     {"query": "SELECT offline_user_data_job.status, … WHERE … = '<job>'"}   (polling)
//	     {"query": "SELECT user_list.size_for_search … WHERE … = '<list>'"}    (Inspect)
//	POST {endpoint}/customers/{customer_id}/userLists:mutate
//	     {"operations": [{"remove": <list resource name>}]}                    (Delete)
//
//	developer-token: <developer_token>
//	login-customer-id: <login_customer_id>     (when set: a manager account)
//	Authorization: Bearer <access token>
//
// endpoint is https://googleads.googleapis.com by default; an endpoint
// whose path does not end in a version (/vNN) gets api_version added (v26
// by default).
//
// The access token is access_token when it is set (from env(): a token
// made by gcloud or a service account, valid for an hour), or else one
// exchanged for refresh_token with client_id and client_secret at Google's
// OAuth 2.0 token endpoint (https://oauth2.googleapis.com/token; with a
// non-default endpoint, {scheme}://{host}/token of that endpoint, so that
// a proxy or a test server can answer both), refreshed before it expires.
//
// Each member is one operation whose userIdentifiers are the SHA-256 hex
// of the e-mail address and of the phone number, normalised as Google
// documents (adhash.GoogleEmail: whitespace removed, lower-cased, and for
// gmail.com and googlemail.com the dots and "+suffix" of the local part
// removed; adhash.GooglePhone: E.164 with the "+"). A number without a
// country code cannot be normalised and is left out; a member with no
// identifier left is not sent. Nothing else about a customer leaves
// herald. Google takes at most 100,000 identifiers in one addOperations
// request: BatchSize is 50,000 members of two identifiers each.
//
// Add and Remove each create one job, add the batch's operations to it,
// run it, and poll its status (a GoogleAdsService search: the REST
// interface has no GET of a job) with growing pauses, 2s to 30s, for at
// most job_wait (5m by default). A FAILED job fails the batch with
// Google's failure reason; a job still pending or running then is left
// to Google, which finishes it within 24 hours, and Warnings names it.
//
// Errors: 409 (concurrent modification of the list), 429
// (RESOURCE_EXHAUSTED) and 5xx are retried after Retry-After, up to
// max_retries times (4 by default); others fail with Google's message and
// request id, scrubbed of the credentials and of e-mail addresses.
package googleads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/providers/adhash"
	"github.com/heraldhq/herald/providers/internal/httpx"
)

func init() {
	providers.RegisterAudience("google_ads", Factory)
	providers.RegisterAudienceDeletion("google_ads", "removes the Customer Match user list on Google Ads")
}

// Factory is the providers.AudienceFactory of the google_ads provider.
func Factory(ctx context.Context, req providers.AudienceRequest) (providers.Audience, error) {
	a, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Defaults, as Google documents them.
const (
	DefaultEndpoint = "https://googleads.googleapis.com"
	APIVersion      = "v26"
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	// MaxIdentifiers is the most user identifiers of one addOperations
	// request.
	MaxIdentifiers = 100000
	// BatchSize is the most members of one request: two identifiers each.
	BatchSize = MaxIdentifiers / 2
	// defaultRate is requests per second; Google Ads meters operations per
	// developer token per day rather than a rate.
	defaultRate = 5
	// DefaultJobWait bounds how long Add and Remove poll the offline user
	// data job they ran. Google documents that a job may take up to 24
	// hours; most finish in minutes.
	DefaultJobWait = 5 * time.Minute
	// firstPoll and maxPoll are the first and the longest pause between
	// two polls of a job.
	firstPoll = 2 * time.Second
	maxPoll   = 30 * time.Second
)

var (
	versionRE    = regexp.MustCompile(`/v[0-9]+$`)
	apiVersionRE = regexp.MustCompile(`^v[0-9]+$`)
)

// Audience is a google_ads provider. It is safe for concurrent use.
type Audience struct {
	c          *httpx.Client
	base       string // {endpoint}/vNN
	customer   string // digits
	login      string // digits, or ""
	devToken   string
	tokenURL   string
	clientID   string
	secret     string
	refresh    string
	email      bool
	phone      bool
	tokenMu    sync.Mutex
	token      string
	fixed      bool      // access_token was given: it is used as it is
	tokenUntil time.Time // when an exchanged token expires
	jobWait    time.Duration
	warnMu     sync.Mutex
	warnings   []string
}

// Open reads the provider block of req. It does not contact Google.
func Open(ctx context.Context, req providers.AudienceRequest) (*Audience, error) {
	p := req.Provider
	if p == nil {
		return nil, errors.New("google_ads: audience request without a provider")
	}
	at := &httpx.Attrs{P: p}
	a := &Audience{
		customer: digits(at.Str("customer_id")),
		login:    digits(at.Str("login_customer_id")),
		devToken: at.Str("developer_token"),
		clientID: at.Str("client_id"),
		secret:   at.Str("client_secret"),
		refresh:  at.Str("refresh_token"),
		token:    at.Str("access_token"),
	}
	endpoint := at.Endpoint(DefaultEndpoint)
	version := at.Str("api_version")
	jobWait := at.Str("job_wait")
	a.c = httpx.New(at, defaultRate, 4)
	if at.Err != nil {
		return nil, at.Err
	}
	name := "provider." + p.Address()
	if version != "" && !apiVersionRE.MatchString(version) {
		return nil, fmt.Errorf("%s: api_version %q is not a Google Ads API version such as %s", name, version, APIVersion)
	}
	if v := versionRE.FindString(endpoint); v != "" && version != "" && v[1:] != version {
		return nil, fmt.Errorf("%s: endpoint ends in version %s but api_version is %s: give the version once", name, v[1:], version)
	}
	a.jobWait = DefaultJobWait
	if jobWait != "" {
		d, err := lang.ParseDuration(jobWait)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: job_wait %q is not a duration such as \"5m\" (\"0s\": do not wait)", name, jobWait)
		}
		a.jobWait = d
	}
	if a.customer == "" {
		return nil, fmt.Errorf("%s: customer_id must be the Google Ads customer id (1234567890 or 123-456-7890)", name)
	}
	if s := at.Str("login_customer_id"); s != "" && a.login == "" {
		return nil, fmt.Errorf("%s: login_customer_id must be a Google Ads customer id (1234567890 or 123-456-7890)", name)
	}
	if a.devToken == "" {
		return nil, fmt.Errorf("%s: developer_token is required: set it with env(), e.g. developer_token = env(\"GOOGLE_ADS_DEVELOPER_TOKEN\")", name)
	}
	if a.token == "" && (a.refresh == "" || a.clientID == "" || a.secret == "") {
		return nil, fmt.Errorf("%s: no credentials: set access_token, or refresh_token with client_id and client_secret (all from env())", name)
	}
	a.fixed = a.token != ""
	a.base = endpoint
	if !versionRE.MatchString(a.base) {
		if version == "" {
			version = APIVersion
		}
		a.base += "/" + version
	}
	a.tokenURL = DefaultTokenURL
	if endpoint != DefaultEndpoint {
		u, _ := url.Parse(endpoint)
		a.tokenURL = u.Scheme + "://" + u.Host + "/token"
	}
	a.c.Secrets = []string{a.devToken, a.secret, a.refresh, a.token}
	a.email, a.phone = matchOn(req)
	return a, nil
}

// matchOn tells whether the audience matches on e-mail and on phone: both
// when it does not say.
func matchOn(req providers.AudienceRequest) (email, phone bool) {
	au := req.Audience
	if au == nil || len(au.MatchOn) == 0 || au.Segment == nil || au.Segment.From == nil || au.Segment.From.Schema == nil {
		return true, true
	}
	for _, m := range au.MatchOn {
		if f := au.Segment.From.Schema.Field(m); f != nil {
			email = email || f.PII == "email"
			phone = phone || f.PII == "phone"
		}
	}
	return email, phone
}

// digits is s without dashes when the rest is digits, else "".
func digits(s string) string {
	s = strings.ReplaceAll(s, "-", "")
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return s
}

// BatchSize implements providers.Audience.
func (a *Audience) BatchSize() int { return BatchSize }

// Close implements providers.Audience.
func (a *Audience) Close() error {
	a.c.Close()
	return nil
}

// accessToken is access_token, or a token exchanged for refresh_token
// that is good for another minute at least.
func (a *Audience) accessToken(ctx context.Context) (string, error) {
	a.tokenMu.Lock()
	defer a.tokenMu.Unlock()
	if a.fixed || (a.token != "" && a.c.Now().Add(time.Minute).Before(a.tokenUntil)) {
		return a.token, nil
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.refresh},
		"client_id": {a.clientID}, "client_secret": {a.secret}}
	body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPost, URL: a.tokenURL,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		Body:   []byte(form.Encode()), Message: oauthMessage})
	if err != nil {
		return "", fmt.Errorf("exchanging refresh_token for an access token: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("%s: exchanging refresh_token: the answer has no access_token", a.c.Name)
	}
	if out.ExpiresIn <= 0 {
		out.ExpiresIn = 3600
	}
	a.token, a.tokenUntil = out.AccessToken, a.c.Now().Add(time.Duration(out.ExpiresIn)*time.Second)
	return a.token, nil
}

func oauthMessage(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	return strings.TrimSuffix(e.Error+": "+e.Description, ": ")
}

// message reads a Google Ads error: the status, the first GoogleAdsError's
// message and the request id.
func message(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				Errors []struct {
					ErrorCode map[string]string `json:"errorCode"`
					Message   string            `json:"message"`
				} `json:"errors"`
				RequestID string `json:"requestId"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || (e.Error.Message == "" && e.Error.Status == "") {
		return ""
	}
	s := strings.TrimSpace(e.Error.Status + " " + e.Error.Message)
	for _, d := range e.Error.Details {
		if len(d.Errors) > 0 && d.Errors[0].Message != "" {
			s += ": " + d.Errors[0].Message
			for _, code := range d.Errors[0].ErrorCode {
				s += " (" + code + ")"
			}
			if len(d.Errors) > 1 {
				s += fmt.Sprintf(" (and %d more)", len(d.Errors)-1)
			}
		}
		if d.RequestID != "" {
			s += " (request id " + d.RequestID + ")"
		}
	}
	return s
}

func transient(status int, _ []byte) bool { return status == http.StatusConflict }

// post sends one JSON request to the API.
func (a *Audience) post(ctx context.Context, path string, v any) ([]byte, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	h := http.Header{
		"Authorization":   {"Bearer " + tok},
		"Developer-Token": {a.devToken},
		"Content-Type":    {"application/json"},
		"Accept":          {"application/json"},
	}
	if a.login != "" {
		h.Set("Login-Customer-Id", a.login)
	}
	body, _, err := a.c.Do(ctx, httpx.Call{Method: http.MethodPost, URL: a.base + "/" + path, Header: h, Body: js,
		Message: message, Transient: transient})
	return body, err
}

// Ensure implements providers.Audience: it returns id, or creates a CRM
// based user list named name when id is "". The id kept is the list's
// resource name, customers/{customer_id}/userLists/{id}.
func (a *Audience) Ensure(ctx context.Context, name, id string) (string, error) {
	if id != "" {
		return id, nil
	}
	req := map[string]any{"operations": []any{map[string]any{"create": map[string]any{
		"name":               name,
		"description":        "Kept in sync by herald (audience." + name + ")",
		"membershipStatus":   "OPEN",
		"membershipLifeSpan": 10000, // no expiry
		"crmBasedUserList":   map[string]any{"uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"},
	}}}}
	body, err := a.post(ctx, "customers/"+a.customer+"/userLists:mutate", req)
	if err != nil {
		return "", fmt.Errorf("creating the Customer Match user list: %w", err)
	}
	var out struct {
		Results []struct {
			ResourceName string `json:"resourceName"`
		} `json:"results"`
	}
	if json.Unmarshal(body, &out) != nil || len(out.Results) == 0 || out.Results[0].ResourceName == "" {
		return "", fmt.Errorf("%s: creating the user list: Google's answer has no resource name", a.c.Name)
	}
	return out.Results[0].ResourceName, nil
}

// UserIdentifier is one hashed identifier of a member.
type UserIdentifier struct {
	HashedEmail       string `json:"hashedEmail,omitempty"`
	HashedPhoneNumber string `json:"hashedPhoneNumber,omitempty"`
}

// UserData is one member: up to 20 identifiers (herald sends two at
// most).
type UserData struct {
	UserIdentifiers []UserIdentifier `json:"userIdentifiers"`
}

// Operation is one create or remove of an OfflineUserDataJob.
type Operation struct {
	Create *UserData `json:"create,omitempty"`
	Remove *UserData `json:"remove,omitempty"`
}

// Operations are the job operations of members, create or remove. A
// member with no identifier that can be normalised is left out. It is
// exported for tests and dry runs.
func (a *Audience) Operations(remove bool, members []providers.Member) []Operation {
	out := make([]Operation, 0, len(members))
	for _, m := range members {
		var ud UserData
		if a.email {
			if e := adhash.GoogleEmail(m.Email); e != "" && strings.Contains(e, "@") {
				ud.UserIdentifiers = append(ud.UserIdentifiers, UserIdentifier{HashedEmail: adhash.Hash(e)})
			}
		}
		if a.phone && m.Phone != "" {
			if ph, err := adhash.GooglePhone(m.Phone, ""); err == nil {
				ud.UserIdentifiers = append(ud.UserIdentifiers, UserIdentifier{HashedPhoneNumber: adhash.Hash(ph)})
			}
		}
		if len(ud.UserIdentifiers) == 0 {
			continue
		}
		if remove {
			out = append(out, Operation{Remove: &ud})
		} else {
			out = append(out, Operation{Create: &ud})
		}
	}
	return out
}

// Add implements providers.Audience.
func (a *Audience) Add(ctx context.Context, id string, members []providers.Member) error {
	return a.job(ctx, id, a.Operations(false, members))
}

// Remove implements providers.Audience.
func (a *Audience) Remove(ctx context.Context, id string, members []providers.Member) error {
	return a.job(ctx, id, a.Operations(true, members))
}

var (
	listRE = regexp.MustCompile(`^customers/[0-9]+/userLists/[0-9]+$`)
	// jobRE is checked before a job's name goes into a query.
	jobRE = regexp.MustCompile(`^customers/[0-9]+/offlineUserDataJobs/[0-9]+$`)
)

// job creates an OfflineUserDataJob for the list, adds ops to it in
// requests of at most MaxIdentifiers identifiers, and runs it.
func (a *Audience) job(ctx context.Context, list string, ops []Operation) error {
	if !listRE.MatchString(list) {
		return fmt.Errorf("%s: %q is not a user list resource name (customers/ID/userLists/ID)", a.c.Name, list)
	}
	if len(ops) == 0 {
		return nil
	}
	body, err := a.post(ctx, "customers/"+a.customer+"/offlineUserDataJobs:create", map[string]any{"job": map[string]any{
		"type":                          "CUSTOMER_MATCH_USER_LIST",
		"customerMatchUserListMetadata": map[string]any{"userList": list},
	}})
	if err != nil {
		return fmt.Errorf("creating an offline user data job: %w", err)
	}
	var created struct {
		ResourceName string `json:"resourceName"`
	}
	if json.Unmarshal(body, &created) != nil || !jobRE.MatchString(created.ResourceName) || !strings.HasPrefix(created.ResourceName, "customers/"+a.customer+"/") {
		return fmt.Errorf("%s: creating an offline user data job: Google's answer has no job resource name", a.c.Name)
	}
	job := created.ResourceName
	for start := 0; start < len(ops); {
		end, ids := start, 0
		for end < len(ops) && ids+len(opIDs(ops[end])) <= MaxIdentifiers {
			ids += len(opIDs(ops[end]))
			end++
		}
		if _, err := a.post(ctx, job+":addOperations", map[string]any{"operations": ops[start:end]}); err != nil {
			return fmt.Errorf("adding operations to %s: %w", job, err)
		}
		start = end
	}
	if _, err := a.post(ctx, job+":run", map[string]any{}); err != nil {
		return fmt.Errorf("running %s: %w", job, err)
	}
	return a.wait(ctx, job)
}

// wait polls the job until Google says it succeeded or failed, pausing
// longer each time, for at most jobWait. A job still running then is not
// a failure: Google finishes it without herald, so the sync goes on with
// a warning that names the job.
func (a *Audience) wait(ctx context.Context, job string) error {
	if a.jobWait <= 0 {
		return nil
	}
	deadline := a.c.Now().Add(a.jobWait)
	pause := firstPoll
	for {
		status, reason, err := a.jobStatus(ctx, job)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Google took the job and runs it whether or not herald can
			// read its status: the batch stands, with a warning.
			a.warn(fmt.Sprintf("%s: could not read the status of %s, which Google runs regardless: %v", a.c.Name, job, err))
			return nil
		}
		switch status {
		case "SUCCESS":
			return nil
		case "FAILED":
			if reason == "" || reason == "UNSPECIFIED" || reason == "UNKNOWN" {
				reason = "Google gives no reason"
			}
			return fmt.Errorf("%s: Google Ads could not process %s: FAILED: %s", a.c.Name, job, reason)
		}
		left := deadline.Sub(a.c.Now())
		if left <= 0 {
			a.warn(fmt.Sprintf("%s: %s is still %s after %s: Google will finish it on its own (it may take up to 24 hours); see it in Google Ads, or raise job_wait",
				a.c.Name, job, strings.ToLower(status), a.jobWait))
			return nil
		}
		if err := a.c.Sleep(ctx, min(pause, left)); err != nil {
			return err
		}
		pause = min(pause*2, maxPoll)
	}
}

// jobStatus reads a job's status and failure reason with one
// GoogleAdsService search: the REST interface has no GET of a job.
func (a *Audience) jobStatus(ctx context.Context, job string) (status, reason string, err error) {
	var out struct {
		Results []struct {
			Job struct {
				Status        string `json:"status"`
				FailureReason string `json:"failureReason"`
			} `json:"offlineUserDataJob"`
		} `json:"results"`
	}
	q := "SELECT offline_user_data_job.resource_name, offline_user_data_job.status, offline_user_data_job.failure_reason " +
		"FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '" + job + "'"
	if err := a.search(ctx, q, &out); err != nil {
		return "", "", err
	}
	if len(out.Results) == 0 {
		return "", "", fmt.Errorf("%s: Google Ads has no job %s", a.c.Name, job)
	}
	return out.Results[0].Job.Status, out.Results[0].Job.FailureReason, nil
}

// search runs a Google Ads Query Language query of one page.
func (a *Audience) search(ctx context.Context, query string, out any) error {
	body, err := a.post(ctx, "customers/"+a.customer+"/googleAds:search", map[string]any{"query": query})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: Google's search answer is not JSON", a.c.Name)
	}
	return nil
}

func (a *Audience) warn(s string) {
	a.warnMu.Lock()
	a.warnings = append(a.warnings, s)
	a.warnMu.Unlock()
}

// Warnings implements providers.Warner: the jobs herald stopped waiting
// for.
func (a *Audience) Warnings() []string {
	a.warnMu.Lock()
	defer a.warnMu.Unlock()
	w := a.warnings
	a.warnings = nil
	return w
}

// Inspect implements providers.Inspector with one search of the user
// list: gone when Google returns no row for its resource name. size is
// the list's size for the Search network, which Google rounds.
func (a *Audience) Inspect(ctx context.Context, list string) (bool, int64, error) {
	if !listRE.MatchString(list) {
		return false, -1, fmt.Errorf("%s: %q is not a user list resource name (customers/ID/userLists/ID)", a.c.Name, list)
	}
	var out struct {
		Results []struct {
			UserList struct {
				// int64 fields are strings in Google's JSON.
				SizeForSearch json.Number `json:"sizeForSearch"`
			} `json:"userList"`
		} `json:"results"`
	}
	q := "SELECT user_list.resource_name, user_list.size_for_search FROM user_list WHERE user_list.resource_name = '" + list + "'"
	if err := a.search(ctx, q, &out); err != nil {
		return false, -1, err
	}
	if len(out.Results) == 0 {
		return false, -1, nil
	}
	size, err := out.Results[0].UserList.SizeForSearch.Int64()
	if err != nil {
		size = -1
	}
	return true, size, nil
}

// Delete implements providers.Deleter: a remove operation of
// UserListService. A list Google no longer has is not an error.
func (a *Audience) Delete(ctx context.Context, list string) error {
	if !listRE.MatchString(list) {
		return fmt.Errorf("%s: %q is not a user list resource name (customers/ID/userLists/ID)", a.c.Name, list)
	}
	_, err := a.post(ctx, "customers/"+a.customer+"/userLists:mutate", map[string]any{"operations": []any{map[string]any{"remove": list}}})
	var ae *httpx.APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || strings.Contains(ae.Message, "RESOURCE_NOT_FOUND")) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing the user list %s: %w", list, err)
	}
	return nil
}

func opIDs(o Operation) []UserIdentifier {
	if o.Create != nil {
		return o.Create.UserIdentifiers
	}
	return o.Remove.UserIdentifiers
}
