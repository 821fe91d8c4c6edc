package inbound

import (
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strings"
)

var errTooLarge = errors.New("the body is too large")

// readBody reads a request body of at most limit bytes, after gunzipping
// it when Content-Encoding says gzip (Segment's libraries may compress).
// The limit applies to the decompressed body, so a small gzip bomb cannot
// make it large.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit && !isGzip(r) {
		return nil, errTooLarge
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if isGzip(r) {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, bodyError(err)
		}
		defer zr.Close()
		body = zr
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

func isGzip(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip")
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return errors.New("the body cannot be read: it is cut short, or its gzip encoding is broken")
}

// equalKey compares write keys in constant time; hashing first makes the
// time independent of the lengths too.
func equalKey(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
