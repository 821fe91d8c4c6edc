package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPostgresLeaderConnectionLost ends the session that holds a
// leadership, as a network failure or a database restart would: the lock
// goes with it, another runner may lead, and the old leader's next Lead
// notices and competes again instead of believing it still leads.
func TestPostgresLeaderConnectionLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openPostgres(t).(*Postgres)
	b2 := reopen(t, b)

	if ok, err := b.Lead(ctx, "scheduler", "a", time.Minute); err != nil || !ok {
		t.Fatalf("Lead(a) = %v, %v", ok, err)
	}
	// The state lock is another advisory lock: both are held at once.
	unlock, err := b.Lock(ctx, LockInfo{Operation: "run"})
	if err != nil {
		t.Fatalf("Lock while leading: %v", err)
	}
	defer unlock()

	b.leadMu.Lock()
	pid := b.leaders["scheduler"].conn.PgConn().PID()
	b.leadMu.Unlock()
	var ended bool
	if err := b.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ended); err != nil || !ended {
		t.Fatalf("ending the leader's session: %v, %v", ended, err)
	}

	if ok, err := b2.Lead(ctx, "scheduler", "b", time.Minute); err != nil || !ok {
		t.Fatalf("Lead(b) after a's session ended = %v, %v; want true", ok, err)
	}
	if ok, err := b.Lead(ctx, "scheduler", "a", time.Minute); err != nil || ok {
		t.Fatalf("Lead(a) after losing its session = %v, %v; want false", ok, err)
	}
	if err := b2.Resign(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lead(ctx, "scheduler", "a", time.Minute); err != nil || !ok {
		t.Fatalf("Lead(a) after b resigned = %v, %v; want true", ok, err)
	}
	// Within one process, another owner does not share the lock that the
	// session holds.
	if ok, err := b.Lead(ctx, "scheduler", "c", time.Minute); err != nil || ok {
		t.Fatalf("Lead(c) through the leader's own Backend = %v, %v; want false", ok, err)
	}
}

// TestPostgresWindowCountsSerialized adds distinct events for one customer
// from many goroutines on two runners at once. Each add must count every
// add before it, so the counts handed out are 1..n, each once: a
// threshold crossed by two runners together is seen by one of them.
func TestPostgresWindowCountsSerialized(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openPostgres(t)
	b2 := reopen(t, b)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const workers, each = 8, 25
	counts := make(chan int, workers*each)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			be := b
			if w%2 == 1 {
				be = b2
			}
			for i := range each {
				n, err := be.AddWindowEvent(ctx, WindowEvent{Trigger: "trigger.t", CustomerID: "c1", Key: fmt.Sprint(w, "-", i), At: t0}, t0)
				if err != nil {
					errs <- err
					return
				}
				counts <- n
			}
		})
	}
	wg.Wait()
	close(counts)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for n := range counts {
		if seen[n] {
			t.Fatalf("two adds both counted %d events: one missed the other's", n)
		}
		seen[n] = true
	}
	for n := 1; n <= workers*each; n++ {
		if !seen[n] {
			t.Fatalf("no add counted %d events", n)
		}
	}
}

// BenchmarkPostgresIngest is the runner's per-event work on a trigger:
// a dedupe key and a window event, from parallel goroutines.
func BenchmarkPostgresIngest(b *testing.B) {
	ctx := context.Background()
	be := openPostgres(b)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			key := fmt.Sprint("ev-", i)
			at := t0.Add(time.Duration(i) * time.Millisecond)
			if _, err := be.MarkSeen(ctx, "trigger.t", key, key, at); err != nil {
				b.Error(err)
				return
			}
			if _, err := be.AddWindowEvent(ctx, WindowEvent{Trigger: "trigger.t", CustomerID: fmt.Sprint("c", i%5000), Key: key, At: at}, at.Add(-time.Hour)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
