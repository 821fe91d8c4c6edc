package ingest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// PlatformOf is the webhook platform of a provider type: Twilio for
// twilio, Mandrill for mailchimp; "" for a type whose webhooks herald does
// not read.
func PlatformOf(providerType string) Platform {
	switch providerType {
	case "twilio":
		return Twilio
	case "mailchimp":
		return Mandrill
	}
	return ""
}

// ProviderType is the provider type whose webhooks come from pl.
func ProviderType(pl Platform) string {
	switch pl {
	case Twilio:
		return "twilio"
	case Mandrill:
		return "mailchimp"
	}
	return ""
}

// headerOf is the signature header of a platform.
func headerOf(pl Platform) string {
	if pl == Mandrill {
		return MandrillHeader
	}
	return TwilioHeader
}

// secretAttr is the provider attribute that holds the secret a platform
// signs webhooks with: the twilio provider's auth_token, the mailchimp
// provider's webhook_key (not its API key).
func secretAttr(pl Platform) string {
	if pl == Mandrill {
		return "webhook_key"
	}
	return "auth_token"
}

// Secret is the secret that signs p's webhooks and the name of the
// attribute it comes from. An attribute that is not set, or an env() whose
// variable is not set, is an error that says which.
func Secret(p *lang.Provider) (secret, attr string, err error) {
	pl := PlatformOf(p.Type)
	if pl == "" {
		return "", "", fmt.Errorf("provider.%s is of type %s: herald reads the webhooks of twilio and mailchimp providers", p.Address(), p.Type)
	}
	attr = secretAttr(pl)
	secret, err = ProviderString(p, attr)
	return secret, attr, err
}

// Verify checks req's signature with p's secret. signed is the URL the
// platform was configured with, when known; otherwise req.URL, and for
// Twilio the provider's status_callback first (Twilio signs the URL it was
// given). A signature that does not match is an error that wraps
// ErrSignature or ErrNoSignature; a secret that is not configured is an
// error that wraps neither.
func Verify(p *lang.Provider, req *Request, signed string) error {
	want := PlatformOf(p.Type)
	if want == "" {
		_, _, err := Secret(p)
		return err
	}
	header := headerOf(want)
	if req.Platform != want {
		return fmt.Errorf("the request has no %s header: provider.%s takes %s webhooks: %w", header, p.Address(), want, ErrNoSignature)
	}
	secret, secretName, err := Secret(p)
	if err != nil {
		return err
	}
	urls := []string{req.URL}
	if signed == "" && want == Twilio {
		if cb, _ := ProviderString(p, "status_callback"); cb != "" && cb != req.URL {
			urls = []string{cb, req.URL}
		}
	}
	verify := VerifyTwilio
	if want == Mandrill {
		verify = VerifyMandrill
	}
	err = ErrSignature
	for _, u := range urls {
		if err = verify(secret, u, req.Form, req.Signature); err == nil {
			return nil
		}
	}
	if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrNoSignature) {
		return err
	}
	return fmt.Errorf("%s: %w for %s with provider.%s's %s; check the URL is the one configured at %s",
		header, err, strings.Join(urls, " or "), p.Address(), secretName, want)
}

// Parse reads the events of a request whose signature Verify checked.
func Parse(p *lang.Provider, req *Request, source string) ([]Event, error) {
	if PlatformOf(p.Type) == Twilio {
		return ParseTwilio(req.Form, source)
	}
	return ParseMandrill(req.Form, source)
}

// VerifyAndParse checks a request's signature with p's secret (Verify)
// and reads its events (Parse).
func VerifyAndParse(p *lang.Provider, req *Request, signed, source string) ([]Event, error) {
	if err := Verify(p, req, signed); err != nil {
		return nil, err
	}
	return Parse(p, req, source)
}

// ProviderString is a string attribute of p that must be set: an env()
// whose variable is not set is an error naming it.
func ProviderString(p *lang.Provider, name string) (string, error) {
	v, ok := p.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() {
		return "", fmt.Errorf("provider.%s has no %s, which is needed to check the signature", p.Address(), name)
	}
	if !v.IsWhollyKnown() {
		hint := "it comes from a value that is not known"
		if h := p.Unset[name].Hint(); h != "" {
			hint = h
		}
		return "", fmt.Errorf("provider.%s: %s is not set: %s", p.Address(), name, hint)
	}
	if v.Type() != cty.String {
		return "", fmt.Errorf("provider.%s: %s must be a string", p.Address(), name)
	}
	return v.AsString(), nil
}
