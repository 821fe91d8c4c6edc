package links

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is what a Handler's callbacks saw.
type recorder struct {
	mu       sync.Mutex
	unsubs   []string // customer|campaign
	engaged  []string // kind|customer|campaign|detail
	requests []string // route|outcome
	failWith error
	log      bytes.Buffer
}

func newTestHandler(t *testing.T, now time.Time) (http.Handler, *recorder, *Signer) {
	t.Helper()
	rec := &recorder{}
	s := NewSigner(testKey, nil)
	h := Handler(Options{
		Signer: s,
		Now:    func() time.Time { return now },
		Unsubscribe: func(ctx context.Context, customer, campaign string) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.failWith != nil {
				return rec.failWith
			}
			rec.unsubs = append(rec.unsubs, customer+"|"+campaign)
			return nil
		},
		Engage: func(ctx context.Context, kind, customer, campaign, detail string) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.engaged = append(rec.engaged, kind+"|"+customer+"|"+campaign+"|"+detail)
			return rec.failWith
		},
		ChannelOf: func(campaign string) string { return "email" },
		Name:      "Acme Outdoor",
		Logger:    slog.New(slog.NewTextHandler(&rec.log, nil)),
		OnRequest: func(route, outcome string) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.requests = append(rec.requests, route+"|"+outcome)
		},
	})
	return h, rec, s
}

func do(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestUnsubscribePage(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	tok := s.Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour))
	w := do(h, "GET", "/u/"+tok, "")
	if w.Code != 200 {
		t.Fatalf("GET = %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{`<form method="post">`, `name="List-Unsubscribe" value="One-Click"`, "winback", "email", "Acme Outdoor"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "c1") || strings.Contains(body, tok) {
		t.Errorf("the page shows the customer or the token:\n%s", body)
	}
	if len(rec.unsubs) != 0 {
		t.Errorf("a GET unsubscribed: %v", rec.unsubs)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
}

func TestUnsubscribeOneClick(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	tok := s.Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour))
	// RFC 8058: the mail client POSTs List-Unsubscribe=One-Click.
	w := do(h, "POST", "/u/"+tok, "List-Unsubscribe=One-Click")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "unsubscribed") {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	// Again, as a retrying client or a second click does: the same answer.
	w = do(h, "POST", "/u/"+tok, "List-Unsubscribe=One-Click")
	if w.Code != 200 {
		t.Fatalf("repeated POST = %d", w.Code)
	}
	// Without a body, as some clients send it.
	w = do(h, "POST", "/u/"+tok, "")
	if w.Code != 200 {
		t.Fatalf("POST without a body = %d", w.Code)
	}
	want := []string{"c1|campaign.winback", "c1|campaign.winback", "c1|campaign.winback"}
	if strings.Join(rec.unsubs, ",") != strings.Join(want, ",") {
		t.Errorf("unsubscribes = %v, want %v", rec.unsubs, want)
	}
	if rec.requests[0] != "unsubscribe|ok" {
		t.Errorf("OnRequest = %v", rec.requests)
	}
}

func TestUnsubscribeInvalid(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	expired := s.Unsubscribe("campaign.winback", "c1", t0.Add(-time.Second))
	forged := NewSigner([]byte("attacker"), nil).Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour))
	click := s.Click("campaign.winback", "c1", "https://shop.example/")
	for name, tok := range map[string]string{"expired": expired, "forged": forged, "garbage": "abc", "click token": click} {
		for _, method := range []string{"GET", "POST"} {
			w := do(h, method, "/u/"+tok, "List-Unsubscribe=One-Click")
			if w.Code != http.StatusBadRequest {
				t.Errorf("%s %s = %d, want 400", name, method, w.Code)
			}
			if !strings.Contains(w.Body.String(), "invalid or expired") {
				t.Errorf("%s %s: the page does not say the link is invalid or expired:\n%s", name, method, w.Body)
			}
		}
	}
	if len(rec.unsubs) != 0 {
		t.Errorf("an invalid token unsubscribed: %v", rec.unsubs)
	}
	if w := do(h, "GET", "/u/", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET /u/ = %d", w.Code)
	}
}

func TestUnsubscribeFailure(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	rec.failWith = errors.New("database is locked")
	tok := s.Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour))
	w := do(h, "POST", "/u/"+tok, "List-Unsubscribe=One-Click")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("POST with a failing store = %d, want 500 (so that the client retries)", w.Code)
	}
	if strings.Contains(rec.log.String(), tok) || strings.Contains(rec.log.String(), "c1") {
		t.Errorf("the log holds the token or the customer: %s", rec.log.String())
	}
	if !strings.Contains(rec.log.String(), "database is locked") {
		t.Errorf("the log does not say why: %s", rec.log.String())
	}
}

func TestClickRedirect(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	target := "https://shop.example/deal/1?a=1&utm_source=herald&utm_campaign=winback"
	w := do(h, "GET", "/c/"+s.Click("campaign.winback", "c1", target), "")
	if w.Code != http.StatusFound {
		t.Fatalf("GET = %d", w.Code)
	}
	if got := w.Header().Get("Location"); got != target {
		t.Errorf("Location = %q, want %q (UTM kept)", got, target)
	}
	want := "click|c1|campaign.winback|shop.example/deal/1"
	if len(rec.engaged) != 1 || rec.engaged[0] != want {
		t.Errorf("engaged = %v, want [%s] (no query string)", rec.engaged, want)
	}
	// A link checker's HEAD follows the link, and is not a click.
	w = do(h, "HEAD", "/c/"+s.Click("campaign.winback", "c1", target), "")
	if w.Code != http.StatusFound || len(rec.engaged) != 1 {
		t.Errorf("HEAD = %d, engaged %v", w.Code, rec.engaged)
	}
}

func TestClickNoOpenRedirect(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	good := s.Click("campaign.winback", "c1", "https://shop.example/")
	payload, mac, _ := strings.Cut(good, ".")
	evil := enc.EncodeToString([]byte("campaign.winback\x00c1\x00https://evil.example/")) + "." + mac
	cases := map[string]string{
		"forged target":     evil,
		"other key":         NewSigner([]byte("attacker"), nil).Click("campaign.winback", "c1", "https://evil.example/"),
		"unsubscribe token": s.Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour)),
		"no mac":            payload,
		"javascript signed": s.Click("campaign.winback", "c1", "javascript:alert(1)"),
		"query target":      good + "?to=https://evil.example/",
	}
	for name, tok := range cases {
		w := do(h, "GET", "/c/"+tok, "")
		if name == "query target" {
			// The query string is not part of the token: the signed
			// target wins.
			if loc := w.Header().Get("Location"); loc != "https://shop.example/" {
				t.Errorf("%s: Location = %q", name, loc)
			}
			continue
		}
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want 400 and no redirect", name, w.Code, w.Header().Get("Location"))
		}
		if !strings.Contains(w.Body.String(), "invalid or expired") {
			t.Errorf("%s: page %s", name, w.Body)
		}
	}
	if len(rec.engaged) != 1 {
		t.Errorf("engaged = %v, want only the one valid click", rec.engaged)
	}
}

func TestOpenPixel(t *testing.T) {
	h, rec, s := newTestHandler(t, t0)
	valid := "/o/" + s.Open("campaign.winback", "c1") + ".gif"
	for _, target := range []string{valid, "/o/forged.gif", "/o/" + s.Open("campaign.winback", "c1"), "/o/x"} {
		w := do(h, "GET", target, "")
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" || !bytes.Equal(w.Body.Bytes(), pixel) {
			t.Errorf("GET %s = %d %q %d bytes, want the GIF", target, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control = %q", cc)
		}
	}
	if want := "open|c1|campaign.winback|"; len(rec.engaged) != 1 || rec.engaged[0] != want {
		t.Errorf("engaged = %v, want one open", rec.engaged)
	}
	want := []string{"open|ok", "open|invalid", "open|invalid", "open|invalid"}
	if strings.Join(rec.requests, ",") != strings.Join(want, ",") {
		t.Errorf("OnRequest = %v, want %v", rec.requests, want)
	}
	// Recording fails: the mail client still gets its image.
	rec.failWith = errors.New("down")
	if w := do(h, "GET", valid, ""); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), pixel) {
		t.Errorf("pixel with a failing store: %d", w.Code)
	}
}

// TestPixelIsAGIF: the bytes served decode as a 1×1 GIF.
func TestPixelIsAGIF(t *testing.T) {
	if !bytes.HasPrefix(pixel, []byte("GIF89a\x01\x00\x01\x00")) || pixel[len(pixel)-1] != ';' {
		t.Fatalf("pixel is not a 1x1 GIF89a: % x", pixel)
	}
}

func TestHandlerWithoutUnsubscribe(t *testing.T) {
	s := NewSigner(testKey, nil)
	h := Handler(Options{Signer: s, Now: func() time.Time { return t0 }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tok := s.Unsubscribe("campaign.winback", "c1", t0.Add(time.Hour))
	if w := do(h, "POST", "/u/"+tok, url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()); w.Code != http.StatusServiceUnavailable {
		t.Errorf("POST without Unsubscribe = %d, want 503", w.Code)
	}
	// Without Engage, clicks still redirect.
	if w := do(h, "GET", "/c/"+s.Click("campaign.winback", "c1", "https://shop.example/"), ""); w.Code != http.StatusFound {
		t.Errorf("click without Engage = %d", w.Code)
	}
}

func TestMethods(t *testing.T) {
	h, _, s := newTestHandler(t, t0)
	if w := do(h, "POST", "/c/"+s.Click("campaign.winback", "c1", "https://shop.example/"), ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /c/ = %d", w.Code)
	}
	if w := do(h, "DELETE", "/u/x", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /u/ = %d", w.Code)
	}
}
