package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Config holds the providers whose webhooks are served, with the
	// secrets that sign them; required.
	Config *lang.Config
	// State is where the events go; required.
	State state.Backend
	// PublicURL is the project's public_url. The runner sits behind a
	// proxy, so the URL the platform signed is PublicURL + the request's
	// path and query, not what the runner sees; Config.Herald.PublicURL
	// when empty.
	PublicURL string
	// Now stamps what is written; time.Now when nil.
	Now func() time.Time
	// LookupPhone maps the number an incoming STOP or HELP came from to
	// a customer id ("" when no customer has it). The state holds no
	// phone numbers, so without it an incoming STOP is audited but not
	// tied to a customer; Twilio blocks the number itself, and the next
	// send to it is suppressed on Twilio's error 21610.
	LookupPhone func(ctx context.Context, phone string) (customerID string, err error)
	// Logger logs what could not be applied; never a phone number or an
	// address. slog.Default() when nil.
	Logger *slog.Logger
	// OnRequest is called once per request with the route ("twilio",
	// "mailchimp") and the outcome ("ok", "forbidden", "bad_request",
	// "not_found", "error", "verify"), for metrics; optional.
	OnRequest func(route, outcome string)
}

// helpWords are the help keywords Twilio's Advanced Opt-Out answers by
// default.
var helpWords = map[string]bool{"HELP": true, "INFO": true}

// Handler serves the webhooks of the project's twilio and mailchimp
// providers:
//
//	POST /hooks/twilio/{name}         Twilio status callbacks and incoming messages for provider.twilio.NAME
//	POST /hooks/mailchimp/{name}      Mandrill event webhooks for provider.mailchimp.NAME
//	HEAD|GET /hooks/mailchimp/{name}  200: Mandrill checks the URL exists before it saves a webhook
//
// Each POST's signature is checked with the provider's secret (auth_token,
// webhook_key) before anything is read from it: a bad or missing
// signature is 403, a body that is not the platform's webhook is 400, an
// unknown provider is 404. Events are applied as herald ingest applies
// them (Apply); an incoming STOP or HELP is also audited, and a STOP from
// a number LookupPhone knows suppresses that customer on sms.
//
// The handler does not take the state lock, which herald apply may hold:
// what it writes — ledger statuses, suppressions, audit records — are
// single idempotent writes that apply tolerates.
func Handler(opts HandlerOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PublicURL == "" && opts.Config != nil {
		opts.PublicURL = opts.Config.Herald.PublicURL
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	h := &hooks{HandlerOptions: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/twilio/{name}", h.serve(Twilio))
	mux.HandleFunc("POST /hooks/mailchimp/{name}", h.serve(Mandrill))
	mux.HandleFunc("GET /hooks/mailchimp/{name}", h.check(Mandrill))
	return mux
}

type hooks struct {
	HandlerOptions
}

func route(pl Platform) string { return ProviderType(pl) }

func (h *hooks) done(pl Platform, outcome string) {
	if h.OnRequest != nil {
		h.OnRequest(route(pl), outcome)
	}
}

// provider is the provider a request's path names, or nil.
func (h *hooks) provider(pl Platform, r *http.Request) *lang.Provider {
	if h.Config == nil {
		return nil
	}
	p := h.Config.Providers[ProviderType(pl)+"."+r.PathValue("name")]
	if p == nil || PlatformOf(p.Type) != pl {
		return nil
	}
	return p
}

// check answers the request Mandrill makes to see that a webhook URL
// exists (GET, and HEAD, which the mux serves with GET's handler).
func (h *hooks) check(pl Platform) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.provider(pl, r) == nil {
			h.done(pl, "not_found")
			http.NotFound(w, r)
			return
		}
		h.done(pl, "verify")
		w.WriteHeader(http.StatusOK)
	}
}

func (h *hooks) serve(pl Platform) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := h.provider(pl, r)
		if p == nil {
			h.done(pl, "not_found")
			http.NotFound(w, r)
			return
		}
		addr := "provider." + p.Address()
		req, err := h.read(r, pl)
		if err != nil {
			h.done(pl, "bad_request")
			h.Logger.Warn("webhook: not a webhook", "provider", addr, "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := Verify(p, req, ""); err != nil {
			if errors.Is(err, ErrSignature) || errors.Is(err, ErrNoSignature) {
				h.done(pl, "forbidden")
				h.Logger.Warn("webhook: signature refused", "provider", addr, "err", err)
				http.Error(w, "the signature does not match", http.StatusForbidden)
				return
			}
			// The secret is not configured: herald's fault, not the
			// platform's, which retries on a 5xx.
			h.done(pl, "error")
			h.Logger.Error("webhook: cannot check the signature", "provider", addr, "err", err)
			http.Error(w, "the webhook cannot be checked", http.StatusInternalServerError)
			return
		}
		events, err := Parse(p, req, r.URL.Path)
		if err != nil {
			h.done(pl, "bad_request")
			h.Logger.Warn("webhook: unreadable", "provider", addr, "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := h.apply(r.Context(), addr, pl, req.Form, events); err != nil {
			h.done(pl, "error")
			h.Logger.Error("webhook: applying it failed", "provider", addr, "err", err)
			http.Error(w, "the webhook could not be recorded; try again", http.StatusInternalServerError)
			return
		}
		h.done(pl, "ok")
		if pl == Twilio {
			// An empty TwiML answer: Twilio's own opt-out handling
			// replies to STOP and HELP, herald adds nothing.
			w.Header().Set("Content-Type", "text/xml")
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// read reads a webhook's form as ReadRequest does a saved one.
func (h *hooks) read(r *http.Request, pl Platform) (*Request, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, errors.New("the body is " + ct + ": webhooks are form-encoded (application/x-www-form-urlencoded)")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxRequest {
		return nil, errors.New("the request is too large to be a webhook")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("the body is not form-encoded")
	}
	return &Request{
		URL:       h.PublicURL + r.URL.RequestURI(),
		Form:      form,
		Platform:  pl,
		Signature: r.Header.Get(headerOf(pl)),
	}, nil
}

// apply writes what the events say. Most webhooks say a message was
// delivered, which changes nothing; Apply searches the ledger, so it is
// called only for events that would change something.
func (h *hooks) apply(ctx context.Context, addr string, pl Platform, form url.Values, events []Event) error {
	var act []Event
	for _, e := range events {
		if e.Note == "" && (e.Status != "" || e.Suppress != "") {
			act = append(act, e)
		}
	}
	if len(act) > 0 {
		if _, err := Apply(ctx, h.State, addr, act, Options{Now: h.Now}); err != nil {
			return err
		}
	}
	if pl != Twilio {
		return nil
	}
	kind := incomingKind(form)
	if kind == "" {
		return nil
	}
	now := h.Now().UTC()
	customer := ""
	if h.LookupPhone != nil {
		c, err := h.LookupPhone(ctx, form.Get("From"))
		if err != nil {
			return err
		}
		customer = c
	}
	detail := "an incoming " + strings.ToUpper(kind) + " from a number no customer has"
	switch {
	case h.LookupPhone == nil:
		detail = "an incoming " + strings.ToUpper(kind) + "; the number was not looked up (the state holds none)"
	case customer != "":
		detail = "an incoming " + strings.ToUpper(kind)
	}
	if kind == "stop" && customer != "" {
		// Written before the audit record: a failed audit, retried by
		// Twilio, never leaves a STOP unenforced.
		err := h.State.AddSuppressions(ctx, []state.Suppression{{CustomerID: customer, Channel: "sms", Reason: "stop", CreatedAt: now}})
		if err != nil {
			return err
		}
	}
	return h.State.AddAudit(ctx, []state.AuditRecord{{At: now, Kind: kind, CustomerID: customer, Subject: addr, Channel: "sms", Detail: detail}})
}

// incomingKind is "stop" or "help" for an incoming message that opts out
// or asks for help, "" for anything else. Twilio's Advanced Opt-Out says
// so in OptOutType; without it, the body is matched against the default
// keywords.
func incomingKind(form url.Values) string {
	status := form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	incoming := status == "received" || status == "receiving" || (status == "" && (form.Has("Body") || form.Has("OptOutType")))
	if !incoming {
		return ""
	}
	switch strings.ToUpper(form.Get("OptOutType")) {
	case "STOP":
		return "stop"
	case "HELP":
		return "help"
	case "START":
		return ""
	}
	word := strings.ToUpper(strings.TrimSpace(form.Get("Body")))
	switch {
	case stopWords[word]:
		return "stop"
	case helpWords[word]:
		return "help"
	}
	return ""
}
