// Package links makes and serves the links recipients click in the
// messages herald sends: signed unsubscribe links, click-tracking
// redirects and the open pixel, under the project's public_url.
//
// Every link carries an HMAC-SHA256 token that names the campaign and the
// customer by id, never by address or phone number. Only herald, holding
// the key, can make one, so a redirect goes only where a message said it
// would, and an unsubscribe cannot be forged for someone else.
package links

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/state"
)

// EnvKey is the environment variable whose value, when set, is the key
// that signs links.
const EnvKey = "HERALD_LINK_KEY"

// StateKey is the state value that holds the key made when EnvKey is not
// set.
const StateKey = "link_key"

// macLen is how much of the HMAC a token carries: 128 bits is beyond
// guessing and keeps links short.
const macLen = 16

var enc = base64.RawURLEncoding

// Signer makes and checks the tokens of links. It is safe for concurrent
// use.
type Signer struct {
	key   []byte // unsubscribe tokens: the raw key, as links already sent were made with
	click []byte // derived: a token of one kind never passes for another
	open  []byte
	now   func() time.Time
}

// NewSigner returns a Signer keyed by key. now is the clock a Handler
// uses when its Options have none; time.Now when nil.
func NewSigner(key []byte, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{
		key:   key,
		click: derive(key, "herald link click v1"),
		open:  derive(key, "herald link open v1"),
		now:   now,
	}
}

func derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Now is the Signer's clock.
func (s *Signer) Now() time.Time { return s.now() }

// sign is base64url(payload) "." base64url(HMAC(key, payload)[:16]).
func sign(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(m.Sum(nil)[:macLen])
}

// open checks a token's MAC and returns its payload split into n fields
// at NUL (the last field keeps any NUL it holds).
func verify(key []byte, token string, n int) ([]string, bool) {
	p, sig, found := strings.Cut(token, ".")
	if !found {
		return nil, false
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)[:macLen]) {
		return nil, false
	}
	parts := strings.SplitN(string(payload), "\x00", n)
	if len(parts) != n {
		return nil, false
	}
	return parts, true
}

// Unsubscribe makes the token of an unsubscribe link:
// base64url(customer NUL campaign NUL expiry-unix-seconds) "."
// base64url(HMAC-SHA256(key, that payload)[:16]). The format is the one
// herald apply has always used, so links already sent keep working.
func (s *Signer) Unsubscribe(campaign, customer string, expires time.Time) string {
	return sign(s.key, customer+"\x00"+campaign+"\x00"+strconv.FormatInt(expires.Unix(), 10))
}

// VerifyUnsubscribe checks an unsubscribe token and returns the customer
// and campaign it names; ok is false when it is forged, malformed or
// expired at now.
func (s *Signer) VerifyUnsubscribe(token string, now time.Time) (customer, campaign string, ok bool) {
	parts, ok := verify(s.key, token, 3)
	if !ok || strings.Contains(parts[2], "\x00") {
		return "", "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || now.Unix() > exp {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// Click makes the token of a tracked link to target: the same shape as an
// unsubscribe token over campaign NUL customer NUL target, with a key of
// its own. It does not expire: a link in a message kept for years should
// still lead somewhere.
func (s *Signer) Click(campaign, customer, target string) string {
	return sign(s.click, campaign+"\x00"+customer+"\x00"+target)
}

// VerifyClick checks a click token and returns what it names.
func (s *Signer) VerifyClick(token string) (campaign, customer, target string, ok bool) {
	parts, ok := verify(s.click, token, 3)
	if !ok {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// Open makes the token of an open pixel: campaign NUL customer, with a
// key of its own.
func (s *Signer) Open(campaign, customer string) string {
	return sign(s.open, campaign+"\x00"+customer)
}

// VerifyOpen checks an open token and returns what it names.
func (s *Signer) VerifyOpen(token string) (campaign, customer string, ok bool) {
	parts, ok := verify(s.open, token, 2)
	if !ok || strings.Contains(parts[1], "\x00") {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// Key is the key that signs links: HERALD_LINK_KEY when it is set, or a
// random 32-byte key made once and kept in the state under "link_key".
// PutValueIfAbsent makes the first one to ask the one that chooses, so
// every runner and every apply sharing a state sign alike, and links
// survive restarts.
func Key(ctx context.Context, lookupEnv func(string) (string, bool), st state.Runtime) ([]byte, error) {
	if lookupEnv != nil {
		if k, ok := lookupEnv(EnvKey); ok && k != "" {
			return []byte(k), nil
		}
	}
	if st == nil {
		return nil, errors.New("links need a signing key: set " + EnvKey)
	}
	if k, ok, err := st.Value(ctx, StateKey); err == nil && ok && len(k) > 0 {
		return k, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	k, err := st.PutValueIfAbsent(ctx, StateKey, fresh)
	if err != nil {
		return nil, fmt.Errorf("keeping the link signing key in the state: %w", err)
	}
	if len(k) == 0 {
		return nil, errors.New("the state holds an empty link signing key")
	}
	return k, nil
}
