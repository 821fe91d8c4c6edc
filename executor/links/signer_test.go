package links

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/state"
)

var (
	testKey = []byte("test-key")
	t0      = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

// legacyToken is the unsubscribe token as herald apply made it before this
// package: links already in inboxes must keep verifying.
func legacyToken(key []byte, campaign, customer string, expires time.Time) string {
	payload := customer + "\x00" + campaign + "\x00" + strconv.FormatInt(expires.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(m.Sum(nil)[:16])
}

func TestUnsubscribeTokenFormatUnchanged(t *testing.T) {
	s := NewSigner(testKey, nil)
	exp := t0.Add(365 * 24 * time.Hour)
	got := s.Unsubscribe("campaign.x", "c1", exp)
	if want := legacyToken(testKey, "campaign.x", "c1", exp); got != want {
		t.Fatalf("token = %q, want the format already sent %q", got, want)
	}
	cust, camp, ok := s.VerifyUnsubscribe(got, t0)
	if !ok || cust != "c1" || camp != "campaign.x" {
		t.Fatalf("verify = %q %q %v", cust, camp, ok)
	}
}

func TestVerifyUnsubscribe(t *testing.T) {
	s := NewSigner(testKey, nil)
	exp := t0.Add(time.Hour)
	tok := s.Unsubscribe("campaign.x", "c1", exp)
	other := NewSigner([]byte("other-key"), nil)
	cases := []struct {
		name  string
		token string
		now   time.Time
		ok    bool
	}{
		{"valid", tok, t0, true},
		{"at expiry", tok, exp, true},
		{"expired", tok, exp.Add(time.Second), false},
		{"other key", other.Unsubscribe("campaign.x", "c1", exp), t0, false},
		{"no dot", strings.ReplaceAll(tok, ".", ""), t0, false},
		{"empty", "", t0, false},
		{"tampered payload", base64.RawURLEncoding.EncodeToString([]byte("c2\x00campaign.x\x00"+strconv.FormatInt(exp.Unix(), 10))) + tok[strings.Index(tok, "."):], t0, false},
		{"cut short", tok[:len(tok)-3], t0, false},
		{"bad base64", "!!!." + tok[strings.Index(tok, ".")+1:], t0, false},
		{"click token", s.Click("campaign.x", "c1", "https://a.example/"), t0, false},
		{"open token", s.Open("campaign.x", "c1"), t0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, ok := s.VerifyUnsubscribe(c.token, c.now)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
		})
	}
}

func TestClickAndOpenTokens(t *testing.T) {
	s := NewSigner(testKey, nil)
	target := "https://shop.example/x?a=1&utm_source=herald"
	tok := s.Click("campaign.x", "c1", target)
	camp, cust, got, ok := s.VerifyClick(tok)
	if !ok || camp != "campaign.x" || cust != "c1" || got != target {
		t.Fatalf("VerifyClick = %q %q %q %v", camp, cust, got, ok)
	}
	if strings.ContainsAny(tok, "/+=?&#%") {
		t.Errorf("token %q is not URL-safe", tok)
	}
	if _, _, _, ok := NewSigner([]byte("k2"), nil).VerifyClick(tok); ok {
		t.Error("a click token verified under another key")
	}
	if _, _, _, ok := s.VerifyClick(s.Unsubscribe("campaign.x", "c1", t0)); ok {
		t.Error("an unsubscribe token passed for a click")
	}
	if _, _, _, ok := s.VerifyClick(s.Open("campaign.x", "c1")); ok {
		t.Error("an open token passed for a click")
	}
	otok := s.Open("campaign.x", "c1")
	camp, cust, ok = s.VerifyOpen(otok)
	if !ok || camp != "campaign.x" || cust != "c1" {
		t.Fatalf("VerifyOpen = %q %q %v", camp, cust, ok)
	}
	if _, _, ok := s.VerifyOpen(tok); ok {
		t.Error("a click token passed for an open")
	}
}

// fakeRuntime keeps values; with unsupported it answers as a backend
// whose runtime is not written yet.
type fakeRuntime struct {
	state.Runtime // nil: any other method panics
	mu            sync.Mutex
	vals          map[string][]byte
	unsupported   bool
	puts          int
}

func (f *fakeRuntime) Value(ctx context.Context, key string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsupported {
		return nil, false, errors.ErrUnsupported
	}
	v, ok := f.vals[key]
	return v, ok, nil
}

func (f *fakeRuntime) PutValueIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsupported {
		return nil, errors.ErrUnsupported
	}
	f.puts++
	if v, ok := f.vals[key]; ok {
		return v, nil
	}
	if f.vals == nil {
		f.vals = map[string][]byte{}
	}
	f.vals[key] = value
	return value, nil
}

func TestKey(t *testing.T) {
	ctx := context.Background()
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	rt := &fakeRuntime{}
	k1, err := Key(ctx, env(nil), rt)
	if err != nil || len(k1) != 32 {
		t.Fatalf("Key = %x, %v; want 32 random bytes", k1, err)
	}
	k2, err := Key(ctx, env(nil), rt)
	if err != nil || string(k2) != string(k1) {
		t.Fatalf("second Key = %x, %v; want the key kept in the state %x", k2, err, k1)
	}
	if rt.puts != 1 {
		t.Errorf("PutValueIfAbsent called %d times; a kept key is read, not written again", rt.puts)
	}
	k3, err := Key(ctx, env(map[string]string{EnvKey: "from-env"}), rt)
	if err != nil || string(k3) != "from-env" {
		t.Fatalf("Key with %s = %q, %v", EnvKey, k3, err)
	}
	k4, err := Key(ctx, env(map[string]string{EnvKey: ""}), rt)
	if err != nil || string(k4) != string(k1) {
		t.Fatalf("an empty %s must not be the key: got %q, %v", EnvKey, k4, err)
	}
	if _, err := Key(ctx, env(nil), &fakeRuntime{unsupported: true}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Key on a state that keeps no values: %v, want ErrUnsupported", err)
	}
	if _, err := Key(ctx, env(nil), nil); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Fatalf("Key without state or env: %v", err)
	}
}

// TestKeyConcurrent: runners starting together agree on one key.
func TestKeyConcurrent(t *testing.T) {
	rt := &fakeRuntime{}
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := Key(context.Background(), func(string) (string, bool) { return "", false }, rt)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if string(k) != string(keys[0]) {
			t.Fatal("runners made different keys")
		}
	}
}
