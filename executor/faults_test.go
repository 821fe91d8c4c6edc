package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/state"
)

// useProvider rewrites a smallProject to send campaign.promo through the
// provider block given, referenced as ref ("webhook.hook").
func useProvider(t *testing.T, dir, block, ref string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "main.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `provider "testmail"`, block+"\nprovider \"testmail\"", 1)
	s = strings.Replace(s, "via         = provider.testmail.", "via         = provider."+ref+" # ", 1)
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flakyReceiver is a webhook receiver that answers 20% of requests with
// 429, 503, or by hanging past the client's timeout after it has taken the
// message (so that the retry is a duplicate it must drop by key).
type flakyReceiver struct {
	mu        sync.Mutex
	delivered map[string]string // idempotency key → customer id
	posts     map[string]int    // requests per key
	faults    int
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	var body struct {
		CustomerID string `json:"customer_id"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.posts[key]++
	x := rand.IntN(100)
	if x < 20 {
		f.faults++
	}
	f.mu.Unlock()
	switch {
	case x < 7:
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case x < 14:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case x < 20:
		// Taken, but the answer comes too late.
		f.take(key, body.CustomerID)
		time.Sleep(300 * time.Millisecond)
		return
	}
	f.take(key, body.CustomerID)
	w.WriteHeader(http.StatusOK)
}

func (f *flakyReceiver) take(key, customer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.delivered[key]; !dup {
		f.delivered[key] = customer
	}
}

// TestWebhookFaults: with a receiver that fails 20% of requests, every
// pinned recipient's message is delivered exactly once by idempotency key,
// and the ledger says sent for each.
func TestWebhookFaults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		recv := &flakyReceiver{delivered: map[string]string{}, posts: map[string]int{}}
		srv := httptest.NewServer(recv)
		defer srv.Close()
		const n = 300
		dir := smallProject(t, sb, fakeName(), n, "")
		useProvider(t, dir, fmt.Sprintf(`provider "webhook" "hook" {
  url         = %q
  timeout     = "100ms"
  rate_limit  = 2000
  concurrency = 16
  max_retries = 10
}`, srv.URL), "webhook.hook")
		cfg, st := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		rec := recipients(p, "campaign.promo")
		if len(rec) != n {
			t.Fatalf("%d recipients", len(rec))
		}
		res, err := Apply(ctx, cfg, st, p, applyOpts(planNow))
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Totals(); c.Sent != n {
			t.Fatalf("counts %+v", c)
		}
		recv.mu.Lock()
		defer recv.mu.Unlock()
		if recv.faults == 0 {
			t.Fatal("no faults injected")
		}
		prefix := KeyPrefix("campaign.promo", p.ConfigDigest)
		if len(recv.delivered) != n {
			t.Fatalf("%d distinct messages delivered, want %d", len(recv.delivered), n)
		}
		rows := ledger(t, st, "campaign.promo")
		var retried int
		for i, r := range rec {
			k := Key(prefix, i)
			if recv.delivered[k] != r.CustomerID {
				t.Errorf("%s delivered to %q, want %s", k, recv.delivered[k], r.CustomerID)
			}
			if rows[k].Status != state.SendSent {
				t.Errorf("ledger %s: %s %s", k, rows[k].Status, rows[k].Error)
			}
			if recv.posts[k] > 1 {
				retried++
			}
		}
		t.Logf("%d faults; %d messages needed more than one request, each delivered once by key", recv.faults, retried)
	})
}
