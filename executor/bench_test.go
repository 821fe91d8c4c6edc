package executor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

// benchProject is smallProject with n customers, sending through the
// provider block given.
func benchProject(b *testing.B, stateBlock string, n int, block, ref string) string {
	b.Helper()
	var cust, cons strings.Builder
	cust.WriteString("id,email,first_name,ltv,timezone\n")
	cons.WriteString("customer_id,channel,status,method,recorded_at,policy_version\n")
	for i := range n {
		fmt.Fprintf(&cust, "c%07d,c%07d@example.com,Name%d,%d,UTC\n", i, i, i, 100+i%1000)
		fmt.Fprintf(&cons, "c%07d,email,granted,form,2026-01-01T00:00:00Z,1\n", i)
	}
	dir := b.TempDir()
	main := strings.NewReplacer("STATE", stateBlock, "PROVIDER", block, "REF", ref).Replace(`herald {
  STATE
  public_url = "https://herald.example.com"
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St"
  }
}
provider "files" "cdp" { dir = "data" }
PROVIDER
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "first_name" { pii = "name" }
  field "ltv" { type = double }
  field "timezone" { type = string }
}
source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}
consent {
  from = source.consents
  channel "email" {
    basis = "consent"
  }
}
segment "all" {
  from  = source.customers
  where = "customer.ltv >= 0.0"
}
template "a" {
  channel = "email"
  subject = "Hi {{ customer.first_name }}"
  html    = "<p>Hello {{ customer.first_name }}, see https://shop.example/x</p><p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a> {{ sender.postal_address }}</p>"
}
campaign "promo" {
  audience    = segment.all
  channel     = "email"
  via         = provider.REF
  legal_basis = "consent"
  template    = template.a
  utm {
    source = "herald"
  }
}
`)
	files := map[string]string{"main.hcl": main, "data/customers.csv": cust.String(), "data/consents.csv": cons.String()}
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// benchApply applies a plan of n messages b.N times, each on a new state,
// and reports messages/s, the ledger's share of the apply's time, and the
// CPU time of the process per message, which a loaded machine disturbs
// less than the wall time.
func benchApply(b *testing.B, n int, stateBlock func() string, block, ref string) {
	ctx := context.Background()
	var msgs int64
	var total, ledger, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := benchProject(b, stateBlock(), n, block, ref)
		cfg, st := load(b, dir)
		p := makePlan(b, cfg, st, planNow)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		res, err := Apply(ctx, cfg, st, p, Options{LookupEnv: env("HERALD_LINK_KEY", "k")})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		cpu += cpuTime() - cpu0
		ledger += res.LedgerTime
		if c := res.Totals(); c.Sent != int64(n) {
			b.Fatalf("sent %d of %d", c.Sent, n)
		}
		msgs += int64(n)
		st.Close()
	}
	b.ReportMetric(float64(msgs)/total.Seconds(), "msgs/s")
	b.ReportMetric(100*ledger.Seconds()/total.Seconds(), "ledger-%")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(msgs), "cpu-µs/msg")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkApplyOutboxSQLite: 100,000 messages to the outbox (jsonl), with
// the SQLite ledger.
func BenchmarkApplyOutboxSQLite(b *testing.B) {
	benchApply(b, 100_000, func() string { return "" },
		`provider "outbox" "box" {
  dir         = "outbox"
  format      = "jsonl"
  concurrency = 8
}`, "outbox.box")
}

// BenchmarkApplyWebhookPostgres: 100,000 messages to an httptest webhook
// receiver, with the PostgreSQL ledger.
func BenchmarkApplyWebhookPostgres(b *testing.B) {
	if !pgtest.Available() {
		b.Skip("PostgreSQL is not available")
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	benchApply(b, 100_000, func() string {
		os.Setenv("HERALD_STATE_URL", pgtest.Start(b))
		return "state \"postgres\" {\n    url = env(\"HERALD_STATE_URL\")\n  }\n"
	}, fmt.Sprintf(`provider "webhook" "hook" {
  url         = %q
  rate_limit  = 1000000
  concurrency = 32
}`, srv.URL), "webhook.hook")
}
