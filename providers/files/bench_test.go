package files

import (
	"bufio"
	"context"
	"flag"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/datagen"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

var benchRows = flag.Int("bench.rows", 100_000, "customers in the file BenchmarkScanCSV reads")

// customerLayout is the layout of the customer schema of the design sketch.
func customerLayout() *providers.Layout {
	t := func(k string) *lang.FieldType { return &lang.FieldType{Kind: k} }
	return providers.NewLayoutOf(
		[]string{"id", "email", "phone", "first_name", "country", "timezone", "ltv", "last_purchase_at", "support_case_open", "age_range"},
		map[string]*lang.FieldType{"ltv": t("double"), "last_purchase_at": t("timestamp"), "support_case_open": t("bool")})
}

func writeCustomers(tb testing.TB, dir string, n int) string {
	tb.Helper()
	path := filepath.Join(dir, "customers.csv")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := datagen.WriteCustomers(w, datagen.Options{Customers: n, Seed: 1}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkScanCSV scans a generated customers.csv (-bench.rows customers,
// 100,000 by default) typed by the customer schema.
func BenchmarkScanCSV(b *testing.B) {
	n := *benchRows
	dir := b.TempDir()
	path := writeCustomers(b, dir, n)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	src := openTable(b, dir, "customers.csv", customerLayout(), "fail")
	src.key = "id"
	ctx := context.Background()
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		var rows int
		stats, err := src.Scan(ctx, 0, func(batch []providers.Record) error {
			rows += len(batch)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if rows != n || stats.Rows != int64(n) {
			b.Fatalf("read %d rows (stats %d), want %d", rows, stats.Rows, n)
		}
	}
	b.StopTimer()
	cpu := (cpuTime() - cpu0).Seconds() / float64(b.N)
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(cpu*1e9/float64(n), "cpu-ns/row")
	b.ReportMetric(float64(n)/sec, "rows/s")
	b.ReportMetric(sec*1e9/float64(n), "ns/row")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time the process has used, which unlike the time a
// benchmark takes does not grow when other processes share the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openTable opens table in dir as a files source.
func openTable(tb testing.TB, dir, table string, lay *providers.Layout, onError string) *Source {
	tb.Helper()
	src, err := Open(context.Background(), request(dir, table, lay, onError))
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// BenchmarkScanJSONL scans the events of -bench.rows/10 customers (about
// half as many events as BenchmarkScanCSV has customers).
func BenchmarkScanJSONL(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := datagen.WriteEvents(w, datagen.Options{Customers: *benchRows / 10, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	t := func(k string) *lang.FieldType { return &lang.FieldType{Kind: k} }
	lay := providers.NewLayoutOf([]string{"id", "customer_id", "type", "path", "at"}, map[string]*lang.FieldType{"at": t("timestamp")})
	src := openTable(b, dir, "events.jsonl", lay, "fail")
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		stats, err := src.Scan(context.Background(), 0, func([]providers.Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		rows = stats.Rows
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(int64(b.N)*rows), "ns/row")
}
