package ingest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/url"
	"sort"
	"strings"
)

// ErrSignature is returned when a webhook's signature does not match its
// URL, body and the shared secret: it was not sent by the platform, was
// altered on the way, or the URL or secret is not the one it was signed
// with.
var ErrSignature = errors.New("the signature does not match")

// ErrNoSignature is returned when a webhook carries no signature at all.
var ErrNoSignature = errors.New("the request carries no signature")

// Sign computes the signature Twilio and Mandrill both put on a webhook:
// base64(HMAC-SHA1(secret, url + k1 + v1 + k2 + v2 + …)) over the POST
// parameters sorted by name (and, for a name given more than once, by
// value). The URL is used exactly as the platform requested it, query
// string included.
func Sign(secret, rawURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(rawURL)
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyTwilio checks the X-Twilio-Signature sig of a form-encoded
// webhook (a status callback or an incoming message) that Twilio posted
// to url, with the account's auth token. As Twilio's own libraries do, it
// also accepts the signature of url with the default port added or
// removed (https://host:443/… for https://host/…), since Twilio signs the
// URL as it was configured.
func VerifyTwilio(authToken, url string, form url.Values, sig string) error {
	return verify(authToken, url, form, sig)
}

// VerifyMandrill checks the X-Mandrill-Signature sig of an event webhook
// Mandrill posted to url, with the webhook's key (shown in Mandrill's
// webhook settings; not the API key). The form holds one field,
// mandrill_events.
func VerifyMandrill(webhookKey, url string, form url.Values, sig string) error {
	return verify(webhookKey, url, form, sig)
}

func verify(secret, rawURL string, form url.Values, sig string) error {
	sig = strings.TrimSpace(sig)
	if sig == "" {
		return ErrNoSignature
	}
	if secret == "" {
		return errors.New("no secret to check the signature with")
	}
	for _, u := range urlVariants(rawURL) {
		if hmac.Equal([]byte(Sign(secret, u, form)), []byte(sig)) {
			return nil
		}
	}
	return ErrSignature
}

// urlVariants is rawURL, then rawURL with its scheme's default port added
// when it has none, or removed when it has it.
func urlVariants(rawURL string) []string {
	out := []string{rawURL}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return out
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return out
	}
	v := *u
	switch u.Port() {
	case "":
		v.Host = u.Host + ":" + def
	case def:
		v.Host = u.Hostname()
	default:
		return out
	}
	return append(out, v.String())
}
