package links

import (
	"context"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configure a Handler.
type Options struct {
	// Signer checks the tokens; required.
	Signer *Signer
	// Now is the clock that expires unsubscribe links; the Signer's when
	// nil.
	Now func() time.Time
	// Unsubscribe withdraws a customer's consent to what campaign sends:
	// UnsubscribeState is the standard one. It must be idempotent, since
	// a recipient may click twice and a mail client may retry. Required
	// for /u/.
	Unsubscribe func(ctx context.Context, customerID, campaign string) error
	// Engage records a click or an open ("click" | "open") of a campaign's
	// message by a customer; detail is the link's host and path for a
	// click, "" for an open. EngageState is the standard one. When nil,
	// redirects and the pixel are served and nothing is recorded.
	Engage func(ctx context.Context, kind, customerID, campaign, detail string) error
	// ChannelOf names a campaign's channel ("email", "sms") for the
	// unsubscribe page; optional.
	ChannelOf func(campaign string) string
	// Name is who the messages come from, for the unsubscribe page (the
	// sender's name); optional.
	Name string
	// Logger logs failures to record; never a token, address or phone
	// number. slog.Default() when nil.
	Logger *slog.Logger
	// OnRequest is called once per request with the route ("unsubscribe",
	// "click", "open") and the outcome ("ok", "page", "invalid", "error",
	// "method"), for metrics; optional.
	OnRequest func(route, outcome string)
}

// Handler serves the links of messages:
//
//	GET  /u/{token}      a page that asks to confirm the unsubscribe, with a form that POSTs
//	POST /u/{token}      unsubscribes at once (RFC 8058 one-click, or that form)
//	GET  /c/{token}      302 to the link the token was signed for
//	GET  /o/{token}.gif  a 1×1 transparent GIF, recording an open
//
// A GET never unsubscribes: mail scanners and link previews fetch every
// link in a message, and would unsubscribe recipients who never asked.
// Invalid or expired tokens get a 400 page; the pixel is served whatever
// its token, so that a mail client shows no broken image.
func Handler(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		if opts.Signer != nil {
			opts.Now = opts.Signer.Now
		} else {
			opts.Now = time.Now
		}
	}
	h := &handler{Options: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /u/{token}", h.unsubscribePage)
	mux.HandleFunc("POST /u/{token}", h.unsubscribe)
	mux.HandleFunc("GET /c/{token}", h.click)
	mux.HandleFunc("GET /o/{token}", h.open)
	return mux
}

type handler struct {
	Options
}

func (h *handler) done(route, outcome string) {
	if h.OnRequest != nil {
		h.OnRequest(route, outcome)
	}
}

// unsubscribeToken verifies the token of a /u/ request.
func (h *handler) unsubscribeToken(r *http.Request) (customer, campaign string, ok bool) {
	if h.Signer == nil {
		return "", "", false
	}
	return h.Signer.VerifyUnsubscribe(r.PathValue("token"), h.Now())
}

func (h *handler) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	_, campaign, ok := h.unsubscribeToken(r)
	if !ok {
		h.done("unsubscribe", "invalid")
		h.invalid(w)
		return
	}
	h.done("unsubscribe", "page")
	page(w, http.StatusOK, confirmPage, h.pageData(campaign))
}

func (h *handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	customer, campaign, ok := h.unsubscribeToken(r)
	if !ok {
		h.done("unsubscribe", "invalid")
		h.invalid(w)
		return
	}
	// RFC 8058 says the body is List-Unsubscribe=One-Click; the token is
	// what authorizes, so any body is accepted, and read only so that the
	// client sees its request through.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	if h.Unsubscribe == nil {
		h.Logger.Error("unsubscribe: no way to record it is configured", "campaign", campaign)
		h.done("unsubscribe", "error")
		page(w, http.StatusServiceUnavailable, errorPage, h.pageData(campaign))
		return
	}
	if err := h.Unsubscribe(r.Context(), customer, campaign); err != nil {
		h.Logger.Error("unsubscribe: recording it failed", "campaign", campaign, "err", err)
		h.done("unsubscribe", "error")
		page(w, http.StatusInternalServerError, errorPage, h.pageData(campaign))
		return
	}
	h.done("unsubscribe", "ok")
	page(w, http.StatusOK, donePage, h.pageData(campaign))
}

func (h *handler) click(w http.ResponseWriter, r *http.Request) {
	var (
		campaign, customer, target string
		ok                         bool
	)
	if h.Signer != nil {
		campaign, customer, target, ok = h.Signer.VerifyClick(r.PathValue("token"))
	}
	var u *url.URL
	if ok {
		var err error
		u, err = url.Parse(target)
		// Signed targets are http(s) by construction; checked again so
		// that a key leak cannot turn the redirect into javascript:.
		ok = err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	}
	if !ok {
		h.done("click", "invalid")
		h.invalid(w)
		return
	}
	// Link checkers send HEAD; only a GET is a click.
	if r.Method == http.MethodGet && h.Engage != nil {
		if err := h.Engage(r.Context(), "click", customer, campaign, u.Host+u.EscapedPath()); err != nil {
			h.Logger.Error("click: recording it failed", "campaign", campaign, "err", err)
		}
	}
	h.done("click", "ok")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}

// pixel is a 1×1 transparent GIF.
var pixel = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
	'!', 0xf9, 4, 1, 0, 0, 0, 0, ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';',
}

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	outcome := "invalid"
	if tok, isGIF := strings.CutSuffix(r.PathValue("token"), ".gif"); isGIF && h.Signer != nil {
		if campaign, customer, ok := h.Signer.VerifyOpen(tok); ok {
			outcome = "ok"
			if r.Method == http.MethodGet && h.Engage != nil {
				if err := h.Engage(r.Context(), "open", customer, campaign, ""); err != nil {
					h.Logger.Error("open: recording it failed", "campaign", campaign, "err", err)
					outcome = "error"
				}
			}
		}
	}
	h.done("open", outcome)
	// no-store: a cached pixel is an open nobody sees.
	w.Header().Set("Cache-Control", "no-store, max-age=0")
	w.Header().Set("Content-Type", "image/gif")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(pixel)
	}
}

func (h *handler) invalid(w http.ResponseWriter) {
	page(w, http.StatusBadRequest, invalidPage, pageData{Name: h.Name})
}

// pageData is what the pages show: the campaign and channel, never who
// the recipient is.
type pageData struct {
	Name     string
	Campaign string
	Channel  string
}

func (h *handler) pageData(campaign string) pageData {
	d := pageData{Name: h.Name, Campaign: strings.TrimPrefix(campaign, "campaign."), Channel: "messages"}
	if strings.HasPrefix(campaign, "trigger.") {
		d.Campaign = strings.TrimPrefix(campaign, "trigger.")
	}
	if h.ChannelOf != nil {
		switch c := h.ChannelOf(campaign); c {
		case "email":
			d.Channel = "email"
		case "sms":
			d.Channel = "text messages"
		case "":
		default:
			d.Channel = c + " messages"
		}
	}
	return d
}

func page(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The pages are the recipient's business only: not framed, not
	// indexed, no referrer carrying the token elsewhere.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Robots-Tag", "noindex")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = t.Execute(w, d)
}

const pageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ template "title" . }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style>
</head><body>
`

const pageFoot = `
</body></html>
`

func pageTemplate(title, body string) *template.Template {
	t := template.Must(template.New("page").Parse(pageHead + body + pageFoot))
	template.Must(t.New("title").Parse(title))
	return t
}

var (
	confirmPage = pageTemplate(`Unsubscribe`, `<h1>Unsubscribe{{ if .Name }} from {{ .Name }}{{ end }}?</h1>
<p>You will no longer receive marketing {{ .Channel }}{{ if .Name }} from {{ .Name }}{{ end }}. This link came with the campaign “{{ .Campaign }}”.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`)
	donePage = pageTemplate(`Unsubscribed`, `<h1>You are unsubscribed</h1>
<p>You will no longer receive marketing {{ .Channel }}{{ if .Name }} from {{ .Name }}{{ end }}. A message already on its way may still arrive.</p>`)
	errorPage = pageTemplate(`Unsubscribe failed`, `<h1>Something went wrong</h1>
<p>We could not record your unsubscribe just now. Please try the link again in a few minutes.</p>`)
	invalidPage = pageTemplate(`Link invalid or expired`, `<h1>This link is invalid or expired</h1>
<p>The link may have been cut short when it was copied, or it is too old.{{ if .Name }} To unsubscribe, use the link in a recent message from {{ .Name }}, or reply to it.{{ else }} To unsubscribe, use the link in a recent message, or reply to it.{{ end }}</p>`)
)
