package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Platform is a webhook's sender, known by its signature header.
type Platform string

// The platforms ingest knows.
const (
	Twilio   Platform = "twilio"
	Mandrill Platform = "mandrill"
)

// Signature headers.
const (
	TwilioHeader   = "X-Twilio-Signature"
	MandrillHeader = "X-Mandrill-Signature"
)

// maxRequest bounds a saved request: webhooks are small.
const maxRequest = 10 << 20

// Request is a saved webhook request.
type Request struct {
	// URL is the URL the platform signed: the url given to ReadRequest
	// when it is not empty, otherwise https:// + the Host header + the
	// request target.
	URL       string
	Form      url.Values // the POST parameters
	Platform  Platform   // from the signature header; "" when there is none
	Signature string
}

// ReadRequest reads a webhook saved as the raw HTTP request the platform
// sent: the request line, the headers, an empty line and the
// form-encoded body, as a proxy, netcat or a request bin keeps it
// ("POST /hooks/twilio HTTP/1.1", "Host: …", "X-Twilio-Signature: …",
// "Content-Type: application/x-www-form-urlencoded", …). Line ends may be
// CRLF or LF. When the file has no Content-Length, the body is the rest
// of the file, without a trailing newline.
//
// signedURL, when set, is the URL the platform was configured with and
// signed; otherwise it is https:// + Host + the request target, which is
// right when herald's webhook sits behind TLS on its public name.
func ReadRequest(r io.Reader, signedURL string) (*Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRequest+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRequest {
		return nil, fmt.Errorf("the request is larger than %d MB: not a webhook", maxRequest>>20)
	}
	head, body, ok := splitHead(data)
	if !ok {
		return nil, errors.New("not a saved HTTP request: no empty line after the headers")
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(head, "\r\n"...))))
	if err != nil {
		return nil, fmt.Errorf("not a saved HTTP request: %w", err)
	}
	if req.Method != http.MethodPost {
		return nil, fmt.Errorf("the request is a %s: webhooks are POSTs", req.Method)
	}
	if req.ContentLength >= 0 && req.Header.Get("Content-Length") != "" {
		if int64(len(body)) < req.ContentLength {
			return nil, fmt.Errorf("the body is %d bytes, shorter than its Content-Length %d: the file is cut short", len(body), req.ContentLength)
		}
		body = body[:req.ContentLength]
	} else {
		body = bytes.TrimRight(body, "\r\n")
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("the body is %s: herald ingest reads form-encoded webhooks (application/x-www-form-urlencoded)", ct)
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the body is not form-encoded: %w", err)
	}
	out := &Request{URL: signedURL, Form: form}
	if out.URL == "" {
		if req.Host == "" {
			return nil, errors.New("the request has no Host header: give the signed URL with -url")
		}
		out.URL = "https://" + req.Host + req.RequestURI
	}
	if req.Header.Get("X-Twilio-Webhooks-Signature-Settings") != "" {
		// A Twilio Webhooks Rule signs with its own shared key and
		// algorithm instead of the auth token.
		return nil, errors.New("the request is signed with a Twilio Webhooks Rule's shared key (X-Twilio-Webhooks-Signature-Settings), which herald ingest does not check yet: only webhooks signed with the auth token are read")
	}
	switch {
	case req.Header.Get(TwilioHeader) != "":
		out.Platform, out.Signature = Twilio, req.Header.Get(TwilioHeader)
	case req.Header.Get(MandrillHeader) != "":
		out.Platform, out.Signature = Mandrill, req.Header.Get(MandrillHeader)
	}
	return out, nil
}

// splitHead splits a saved request at the first empty line, and gives
// the head CRLF line ends, which http.ReadRequest wants.
func splitHead(data []byte) (head, body []byte, ok bool) {
	crlf := bytes.Index(data, []byte("\r\n\r\n"))
	lf := bytes.Index(data, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return data[:crlf+2], data[crlf+4:], true
	case lf >= 0:
		head = []byte(strings.ReplaceAll(string(data[:lf+1]), "\n", "\r\n"))
		return head, data[lf+2:], true
	}
	return nil, nil, false
}
