package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook request.
const (
	// HeaderTimestamp is the time the request was signed, in Unix seconds.
	HeaderTimestamp = "X-Herald-Timestamp"
	// HeaderSignature is "v1=" and the signature Sign computes. A receiver
	// should accept any one of several comma-separated v1 values, so that
	// a secret can be rotated.
	HeaderSignature = "X-Herald-Signature"
	// HeaderIdempotencyKey is the message's idempotency key: the same on
	// every retry of a message, so a receiver can drop a duplicate.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock before VerifyRequest refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrNoSignature = errors.New("webhook: no v1 signature in the " + HeaderSignature + " header")
	ErrSignature   = errors.New("webhook: the signature does not match the body")
	ErrTimestamp   = errors.New("webhook: the " + HeaderTimestamp + " header is missing, malformed or outside the tolerance")
)

// Sign returns the X-Herald-Signature value of a request signed at ts
// (Unix seconds) with body:
//
//	v1=hex(HMAC-SHA256(secret, "<ts>.<body>"))
//
// The scheme is Stripe's: the timestamp is signed along with the body, so
// a captured request cannot be replayed later with a fresh timestamp, and
// the receiver checks that the timestamp is recent.
func Sign(secret []byte, ts int64, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a request's signature header value and timestamp header
// value against its body. With tolerance > 0 it also refuses a timestamp
// more than tolerance away from now. It compares in constant time. The
// errors are ErrNoSignature, ErrSignature and ErrTimestamp.
func Verify(secret []byte, signature, timestamp string, body []byte, tolerance time.Duration, now time.Time) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed %v from now", ErrTimestamp, d.Truncate(time.Second))
		}
	}
	want := mac(secret, ts, body)
	found := false
	for _, part := range strings.FieldsFunc(signature, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, ok := strings.CutPrefix(part, "v1=")
		if !ok {
			continue
		}
		found = true
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	if !found {
		return ErrNoSignature
	}
	return ErrSignature
}

// VerifyRequest reads r's body (up to maxBody bytes) and verifies it
// with the X-Herald-Timestamp and X-Herald-Signature headers, against now
// and tolerance as Verify does. It returns the body, and leaves r.Body
// readable again from the start.
func VerifyRequest(r *http.Request, secret []byte, tolerance time.Duration, now time.Time) ([]byte, error) {
	const maxBody = 16 << 20
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("webhook: reading the body: %w", err)
	}
	if len(body) > maxBody {
		return nil, errors.New("webhook: the body is too large")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := Verify(secret, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, tolerance, now); err != nil {
		return nil, err
	}
	return body, nil
}
