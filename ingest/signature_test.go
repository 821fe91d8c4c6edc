package ingest

import (
	"errors"
	"net/url"
	"testing"
)

// Twilio's documented example (Webhooks security, "Validating signatures
// from Twilio"): auth token 12345, this URL and these parameters. The
// signature GvWf1cFY/Q7PnoempGyD5oXAezc= that Twilio prints is for the
// caller +14158675310; older versions of the page used +12349013030,
// whose signature is 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
func TestVerifyTwilioDocumentedExample(t *testing.T) {
	old := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if got, want := Sign("12345", u, old), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="; got != want {
		t.Fatalf("Sign(old example) = %q, want %q", got, want)
	}
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675310"},
		"Digits":  {"1234"},
		"From":    {"+14158675310"},
		"To":      {"+18005551212"},
	}
	const want = "GvWf1cFY/Q7PnoempGyD5oXAezc="
	if got := Sign("12345", u, form); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if err := VerifyTwilio("12345", u, form, want); err != nil {
		t.Fatalf("VerifyTwilio: %v", err)
	}
	// With the default port, as Twilio's libraries accept it.
	if err := VerifyTwilio("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", form, want); err != nil {
		t.Fatalf("VerifyTwilio with :443: %v", err)
	}
	for name, tc := range map[string]struct {
		token, url, sig string
		form            url.Values
		want            error
	}{
		"wrong token":   {"54321", u, want, form, ErrSignature},
		"other url":     {"12345", "https://mycompany.com/myapp.php?foo=1&bar=3", want, form, ErrSignature},
		"altered param": {"12345", u, want, url.Values{"CallSid": {"CA1234567890ABCDE"}, "Digits": {"9999"}}, ErrSignature},
		"no signature":  {"12345", u, "", form, ErrNoSignature},
	} {
		if err := VerifyTwilio(tc.token, tc.url, tc.form, tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestVerifyMandrill(t *testing.T) {
	const u = "https://herald.example.com/hooks/mandrill"
	form := url.Values{"mandrill_events": {`[{"event":"hard_bounce","_id":"abc"}]`}}
	sig := Sign("whkey", u, form)
	if err := VerifyMandrill("whkey", u, form, sig); err != nil {
		t.Fatal(err)
	}
	if err := VerifyMandrill("other", u, form, sig); !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v", err)
	}
	form.Set("mandrill_events", `[{"event":"send","_id":"abc"}]`)
	if err := VerifyMandrill("whkey", u, form, sig); !errors.Is(err, ErrSignature) {
		t.Fatalf("altered body: err = %v", err)
	}
}

func TestSignSortsRepeatedValues(t *testing.T) {
	a := Sign("k", "https://x.example/", url.Values{"A": {"2", "1"}, "B": {"x"}})
	b := Sign("k", "https://x.example/", url.Values{"B": {"x"}, "A": {"1", "2"}})
	if a != b {
		t.Fatalf("%s != %s", a, b)
	}
}
