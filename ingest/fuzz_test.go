package ingest

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzReadRequest: a saved request, whatever it holds, is read or
// refused with an error; it never panics, and what is read parses as a
// Twilio or Mandrill webhook or is refused.
func FuzzReadRequest(f *testing.F) {
	f.Add("POST /hooks/twilio HTTP/1.1\r\nHost: h.example\r\nX-Twilio-Signature: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 35\r\n\r\nMessageSid=SM1&MessageStatus=failed")
	f.Add("POST /m HTTP/1.1\nHost: h\nX-Mandrill-Signature: s\n\nmandrill_events=%5B%7B%22event%22%3A%22spam%22%2C%22msg%22%3A%7B%22_id%22%3A%22a%22%7D%7D%5D\n")
	f.Add("POST / HTTP/1.1\r\n\r\n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ReadRequest(strings.NewReader(raw), "")
		if err != nil {
			return
		}
		_, _ = ParseTwilio(r.Form, "f")
		_, _ = ParseMandrill(r.Form, "f")
		_ = VerifyTwilio("k", r.URL, r.Form, r.Signature)
	})
}

// FuzzParseMandrill: any mandrill_events value is parsed or refused.
func FuzzParseMandrill(f *testing.F) {
	f.Add(mandrillBatch)
	f.Add(`[]`)
	f.Add(`[{"event":"hard_bounce","msg":{"_id":1}}]`)
	f.Add(`[{"event":"send","ts":"x","msg":{"metadata":{"herald_key":["k"]}}}]`)
	f.Fuzz(func(t *testing.T, events string) {
		_, _ = ParseMandrill(url.Values{"mandrill_events": {events}}, "f")
	})
}
