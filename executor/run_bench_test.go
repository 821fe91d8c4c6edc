package executor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

// benchCustomers is how many customers the events of the ingest benchmark
// spread over.
const benchCustomers = 20000

// BenchmarkIngest measures events per second through POST /v1/batch into
// a trigger with a threshold window, with each state backend; it reports
// the p50 and p99 of a batch request's latency (an event's arrival to its
// triggers' decision is at most that), and, in the Paced runs, the same
// at a steady 5,000 events/s.
func BenchmarkIngest(b *testing.B) {
	for _, be := range []struct {
		name  string
		block func(b *testing.B) string
	}{
		{"sqlite", func(*testing.B) string { return "" }},
		{"postgres", func(b *testing.B) string {
			if !pgtest.Available() {
				b.Skip("PostgreSQL is not available")
			}
			b.Setenv("HERALD_STATE_URL", pgtest.Start(b))
			return "state \"postgres\" {\n    url = env(\"HERALD_STATE_URL\")\n  }\n"
		}},
	} {
		b.Run(be.name, func(b *testing.B) {
			dir := project(b, journeyFiles(be.block(b), "bench_ingest", benchCustomers))
			cfg, st := load(b, dir)
			t0 := time.Now().UTC()
			p := makePlan(b, cfg, st, t0)
			if _, err := Apply(context.Background(), cfg, st, p, Options{}); err != nil {
				b.Fatal(err)
			}
			r := NewRunner(st, RunOptions{Dir: dir, Workers: 16, LookupEnv: lookupWith("HERALD_WRITE_KEY", "wk"), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
			if err := r.Once(context.Background()); err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(r.Handler())
			defer srv.Close()
			const batch = 500
			warm := makeBatches(1, batch, t0.Add(-time.Hour))
			post := func(body []byte) time.Duration {
				start := time.Now()
				req, _ := http.NewRequest("POST", srv.URL+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth("wk", "")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("POST /v1/batch: %s", resp.Status)
				}
				return time.Since(start)
			}
			post(warm[0]) // loads the profiles
			b.Run("Throughput", func(b *testing.B) {
				var lat []time.Duration
				var mu sync.Mutex
				bodies := makeBatches(b.N*4, batch, t0)
				next := 0
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				// Four senders at once, as a CDP's workers would.
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							mu.Lock()
							if next >= len(bodies) {
								mu.Unlock()
								return
							}
							body := bodies[next]
							next++
							mu.Unlock()
							d := post(body)
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				el := time.Since(start)
				b.ReportMetric(float64(b.N*4*batch)/el.Seconds(), "events/s")
				reportLatency(b, lat)
			})
			b.Run("Paced5k", func(b *testing.B) {
				// 5,000 events/s as 100 requests of 50 events a second.
				small := makeBatches(b.N*100, 50, t0.Add(time.Hour))
				var lat []time.Duration
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				var mu sync.Mutex
				var wg sync.WaitGroup
				b.ResetTimer()
				for i := range small {
					<-tick.C
					wg.Add(1)
					go func() {
						defer wg.Done()
						d := post(small[i])
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}()
				}
				wg.Wait()
				reportLatency(b, lat)
			})
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// makeBatches makes n /v1/batch bodies of size events each: cart views
// spread over the customers, every id new.
func makeBatches(n, size int, t0 time.Time) [][]byte {
	out := make([][]byte, n)
	seq := 0
	for i := range out {
		var b bytes.Buffer
		b.WriteString(`{"batch":[`)
		for j := range size {
			if j > 0 {
				b.WriteByte(',')
			}
			seq++
			fmt.Fprintf(&b, `{"type":"track","userId":"c%d","event":"page_view","properties":{"path":"/cart"},"timestamp":%q,"messageId":"b%d-%d"}`,
				(seq*7919)%benchCustomers, t0.Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano), t0.UnixNano(), seq)
		}
		b.WriteString(`]}`)
		out[i] = b.Bytes()
	}
	return out
}
