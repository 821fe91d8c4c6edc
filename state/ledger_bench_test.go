package state

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkUpdateSends records 100,000 ledger rows as pending, then times
// writing their outcomes in batches of 1,000, as the executor does after
// each batch of sends. cpu-µs/row is the process's CPU time per row, which
// load from other work disturbs less than the wall time.
func BenchmarkUpdateSends(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(testing.TB) Backend
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(bc.name, func(b *testing.B) {
			be := bc.open(b)
			ctx := context.Background()
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			const rows, batch = 100_000, 1000
			buf := make([]Send, batch)
			var total int
			var spent, cpu time.Duration
			for iter := 0; b.Loop(); iter++ {
				key := func(n int) string { return fmt.Sprintf("0a1b2c3d/%04d-%09d", iter, n) }
				b.StopTimer()
				for start := 0; start < rows; start += batch {
					for i := range buf {
						n := start + i
						buf[i] = Send{Key: key(n), Campaign: "campaign.promo", Variant: "a", CustomerID: fmt.Sprintf("cust-%07d", n),
							Channel: "email", Provider: "outbox.box", Status: SendPending, CreatedAt: at, UpdatedAt: at}
					}
					if err := be.RecordSends(ctx, buf); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				for start := 0; start < rows; start += batch {
					for i := range buf {
						buf[i] = Send{Key: key(start + i), Status: SendSent, ProviderMessageID: key(start + i)}
					}
					if err := be.UpdateSends(ctx, buf); err != nil {
						b.Fatal(err)
					}
				}
				spent += time.Since(start)
				cpu += cpuTime() - cpu0
				total += rows
			}
			b.ReportMetric(float64(total)/spent.Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(total), "cpu-µs/row")
		})
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
